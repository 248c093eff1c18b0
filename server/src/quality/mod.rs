//! Cell quality data: the measurement catalogue, products and their spec limits,
//! and the flat per-cell record that datasets, imports and training share.
//!
//! Pure: no I/O here. Storage, the ingestion API and the importers sit at the edges
//! and speak these types.

use std::collections::BTreeMap;

pub mod dataset;
pub mod ingest;
pub mod settings;
#[cfg(feature = "service")]
pub mod store;

pub use app::quality::{Stage, Verdict};
use serde::{Deserialize, Serialize};

/// One kind of measurement a cell can get.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MeasurementDef {
    /// Column and API name, e.g. `k_value`.
    pub name: &'static str,
    /// Human label.
    pub label: &'static str,
    /// Stage that measures it.
    pub stage: Stage,
    /// Unit.
    pub unit: &'static str,
    /// Default lower spec limit.
    pub lsl: Option<f64>,
    /// Default upper spec limit.
    pub usl: Option<f64>,
}

impl MeasurementDef {
    /// Whether a risk model may require it: in-process and final data arrive before a
    /// cell is released; outgoing data only refines a score.
    pub fn required_for_scoring(&self) -> bool {
        self.stage != Stage::Oqc
    }
}

const fn m(
    name: &'static str,
    label: &'static str,
    stage: Stage,
    unit: &'static str,
    lsl: Option<f64>,
    usl: Option<f64>,
) -> MeasurementDef {
    MeasurementDef {
        name,
        label,
        stage,
        unit,
        lsl,
        usl,
    }
}

/// The measurement catalogue, in line order. Default limits follow the plant's
/// defaults for the high-capacity cell; products override them in the plant file.
pub const CATALOGUE: &[MeasurementDef] = &[
    m(
        "slurry_viscosity",
        "Slurry viscosity",
        Stage::Ipqc,
        "mPa·s",
        Some(3000.0),
        Some(8000.0),
    ),
    m(
        "coating_weight",
        "Coating weight (areal)",
        Stage::Ipqc,
        "mg/cm²",
        Some(19.6),
        Some(20.4),
    ),
    m(
        "electrode_thickness",
        "Electrode thickness",
        Stage::Ipqc,
        "µm",
        Some(98.0),
        Some(102.0),
    ),
    m(
        "alignment_overhang",
        "Electrode alignment (anode overhang)",
        Stage::Ipqc,
        "mm",
        Some(0.5),
        None,
    ),
    m(
        "weld_bead_size",
        "Tab weld bead size",
        Stage::Ipqc,
        "mm",
        Some(1.8),
        Some(2.6),
    ),
    m(
        "lug_width",
        "Lug (tab) width",
        Stage::Ipqc,
        "mm",
        Some(9.8),
        Some(10.2),
    ),
    m(
        "moisture",
        "Moisture after baking",
        Stage::Ipqc,
        "ppm",
        None,
        Some(300.0),
    ),
    m(
        "leakage_current",
        "Hi-pot leakage before filling",
        Stage::Ipqc,
        "µA",
        None,
        Some(10.0),
    ),
    m(
        "electrolyte_weight",
        "Electrolyte weight",
        Stage::Ipqc,
        "g",
        Some(49.5),
        Some(50.5),
    ),
    m(
        "pressure",
        "Chamber pressure during filling",
        Stage::Ipqc,
        "kPa",
        Some(90.0),
        Some(110.0),
    ),
    m(
        "ambient_temperature",
        "Ambient temperature",
        Stage::Ipqc,
        "°C",
        Some(18.0),
        Some(28.0),
    ),
    m(
        "formation_energy",
        "Formation energy",
        Stage::Fqc,
        "Wh",
        Some(17.5),
        None,
    ),
    m(
        "first_cycle_efficiency",
        "First-cycle efficiency",
        Stage::Fqc,
        "%",
        Some(92.0),
        Some(98.0),
    ),
    m(
        "aging_time",
        "Aging time",
        Stage::Fqc,
        "h",
        Some(72.0),
        None,
    ),
    m("capacity", "Capacity", Stage::Fqc, "Ah", Some(5.0), None),
    m(
        "ocv",
        "Open-circuit voltage",
        Stage::Fqc,
        "V",
        Some(3.60),
        Some(3.70),
    ),
    m(
        "acir",
        "AC internal resistance (1 kHz)",
        Stage::Fqc,
        "mΩ",
        None,
        Some(25.0),
    ),
    m(
        "k_value",
        "K-value (self-discharge)",
        Stage::Fqc,
        "mV/day",
        None,
        Some(2.0),
    ),
    m(
        "ocv_recheck",
        "OCV re-check",
        Stage::Oqc,
        "V",
        Some(3.60),
        Some(3.70),
    ),
    m("weight", "Weight", Stage::Oqc, "g", Some(69.0), Some(71.0)),
    m(
        "thickness",
        "Thickness",
        Stage::Oqc,
        "mm",
        Some(10.8),
        Some(11.2),
    ),
];

/// The catalogue entry named `name`.
pub fn def(name: &str) -> Option<&'static MeasurementDef> {
    CATALOGUE.iter().find(|d| d.name == name)
}

/// Index of `name` in [`CATALOGUE`].
pub fn index_of(name: &str) -> Option<usize> {
    CATALOGUE.iter().position(|d| d.name == name)
}

/// Optional override of one measurement's limits for a product.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitOverride {
    /// Lower spec limit (absent: the catalogue default).
    pub lsl: Option<f64>,
    /// Upper spec limit (absent: the catalogue default).
    pub usl: Option<f64>,
}

/// A product and its spec limits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Product {
    /// Short id used in files and the API, e.g. `HC`.
    pub id: String,
    /// Name shown to people, e.g. `High Capacity Cell`.
    pub name: String,
    /// Limits that differ from the catalogue defaults, by measurement name.
    #[serde(default)]
    pub limits: BTreeMap<String, LimitOverride>,
}

impl Product {
    /// The limits of measurement `d` for this product.
    pub fn limits_of(&self, d: &MeasurementDef) -> (Option<f64>, Option<f64>) {
        match self.limits.get(d.name) {
            Some(o) => (o.lsl.or(d.lsl), o.usl.or(d.usl)),
            None => (d.lsl, d.usl),
        }
    }
}

/// One cell as a flat row: the shape of datasets, imports, exports and training.
#[derive(Debug, Clone, PartialEq)]
pub struct CellRecord {
    /// Serial number.
    pub serial: String,
    /// Lot.
    pub lot: String,
    /// Production order.
    pub order: String,
    /// Product id (empty: the plant's default product).
    pub product: String,
    /// When produced (Unix ms), if known.
    pub produced_ms: Option<i64>,
    /// One slot per [`CATALOGUE`] entry.
    pub values: Vec<Option<f64>>,
    /// Short-term test outcome: `true` = failed (defective), if known.
    pub label: Option<bool>,
}

impl CellRecord {
    /// A record with no values yet.
    pub fn new(serial: &str, lot: &str, order: &str) -> Self {
        Self {
            serial: serial.to_owned(),
            lot: lot.to_owned(),
            order: order.to_owned(),
            product: String::new(),
            produced_ms: None,
            values: vec![None; CATALOGUE.len()],
            label: None,
        }
    }

    /// The value of measurement `name`.
    pub fn get(&self, name: &str) -> Option<f64> {
        index_of(name).and_then(|i| self.values.get(i).copied().flatten())
    }

    /// Sets measurement `name`; returns false for a name not in the catalogue.
    pub fn set(&mut self, name: &str, value: f64) -> bool {
        match index_of(name) {
            Some(i) => {
                self.values[i] = Some(value);
                true
            }
            None => false,
        }
    }
}

/// Columns of a dataset file before the measurements.
pub const ID_COLUMNS: [&str; 5] = ["serial", "lot", "order", "product", "produced_at"];
/// The last column: the short-term test outcome (`1` failed, `0` passed, empty unknown).
pub const LABEL_COLUMN: &str = "label";

/// The full header of a dataset file: ids, one column per measurement, label.
pub fn dataset_header() -> Vec<&'static str> {
    let mut h: Vec<&'static str> = ID_COLUMNS.to_vec();
    h.extend(CATALOGUE.iter().map(|d| d.name));
    h.push(LABEL_COLUMN);
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogue_names_are_unique_and_limits_ordered() {
        let mut names: Vec<&str> = CATALOGUE.iter().map(|d| d.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), CATALOGUE.len());
        for d in CATALOGUE {
            if let (Some(l), Some(u)) = (d.lsl, d.usl) {
                assert!(l < u, "{}", d.name);
            }
        }
        // Line order: stages never go back.
        assert!(CATALOGUE.windows(2).all(|w| w[0].stage <= w[1].stage));
    }

    #[test]
    fn product_overrides_one_side_only() {
        let mut p = Product {
            id: "SC".into(),
            name: "Standard Capacity Cell".into(),
            limits: BTreeMap::new(),
        };
        p.limits.insert(
            "capacity".into(),
            LimitOverride {
                lsl: Some(3.0),
                usl: None,
            },
        );
        let cap = def("capacity").expect("in catalogue");
        assert_eq!(p.limits_of(cap), (Some(3.0), None));
        let ocv = def("ocv").expect("in catalogue");
        assert_eq!(p.limits_of(ocv), (Some(3.60), Some(3.70)));
    }

    #[test]
    fn records_set_only_known_measurements() {
        let mut r = CellRecord::new("S1", "L1", "98765");
        assert!(r.set("k_value", 0.7));
        assert!(!r.set("k-value", 0.7));
        assert_eq!(r.get("k_value"), Some(0.7));
        assert_eq!(r.get("acir"), None);
        assert_eq!(
            dataset_header().len(),
            ID_COLUMNS.len() + CATALOGUE.len() + 1
        );
    }
}
