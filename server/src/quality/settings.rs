//! `[quality]` of the plant file: products and their spec limits, lot tiers, the
//! risk models and how the operating threshold is chosen.

use std::collections::HashSet;
use std::path::PathBuf;

use app::quality::TierBounds;
use serde::{Deserialize, Serialize};

use super::Product;
use crate::problems::{Problem, Seg, key, path};

/// How the operating threshold is chosen on the validation lots.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ThresholdPolicy {
    /// The highest threshold that reaches `recall`, provided it flags at most
    /// `max_flag_rate`; otherwise the threshold at `max_flag_rate`.
    RecallWithinFlagRate {
        /// Share of defective cells to catch.
        recall: f64,
        /// Largest share of cells that may go to short-term testing.
        max_flag_rate: f64,
    },
    /// The threshold with the lowest expected cost, a miss costing `miss_cost` false alarms.
    CostRatio {
        /// Cost of a missed defective cell relative to a needless test.
        miss_cost: f64,
    },
}

/// Products, spec limits, lot tiers and the risk models.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QualityConfig {
    /// Product of cells that name none.
    pub default_product: String,
    /// Products and their spec limits (overrides of the catalogue defaults).
    pub products: Vec<Product>,
    /// Lot tiers by high-risk share.
    pub tiers: TierBounds,
    /// Folder of model artifacts (relative paths are relative to the working directory).
    pub models_dir: PathBuf,
    /// Model that scores cells until another is promoted.
    pub active_model: String,
    /// How `cellguard train` chooses the threshold on the validation lots.
    pub threshold: ThresholdConfig,
    /// How far in the future a station's timestamp may be (its clock ahead of
    /// CellGuard's) before the record is refused.
    pub max_clock_skew_s: u64,
    /// Newest cells whose measurements are compared with the active model's
    /// training data (drift).
    pub drift_cells: u32,
    /// Newest cells with a short-term result the active model's live figures are
    /// measured on.
    pub performance_cells: u32,
}

/// Threshold policy: either a recall target within a flag-rate cap, or a cost ratio.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ThresholdConfig {
    /// Share of defective cells to catch.
    pub recall: Option<f64>,
    /// Largest share of cells sent to short-term testing.
    pub max_flag_rate: Option<f64>,
    /// Cost of a miss relative to a needless test (instead of recall/max_flag_rate).
    pub miss_cost: Option<f64>,
}

impl Default for ThresholdConfig {
    fn default() -> Self {
        Self {
            recall: Some(0.8),
            max_flag_rate: Some(0.25),
            miss_cost: None,
        }
    }
}

impl ThresholdConfig {
    /// The policy (validated at load).
    pub fn policy(self) -> ThresholdPolicy {
        match (self.miss_cost, self.recall, self.max_flag_rate) {
            (Some(miss_cost), _, _) => ThresholdPolicy::CostRatio { miss_cost },
            (None, recall, max) => ThresholdPolicy::RecallWithinFlagRate {
                recall: recall.unwrap_or(0.8),
                max_flag_rate: max.unwrap_or(0.25),
            },
        }
    }
}

impl Default for QualityConfig {
    fn default() -> Self {
        let product = |id: &str, name: &str| Product {
            id: id.into(),
            name: name.into(),
            limits: Default::default(),
        };
        Self {
            default_product: "HC".into(),
            products: vec![
                product("HC", "High Capacity Cell"),
                product("SC", "Standard Capacity Cell"),
            ],
            tiers: TierBounds::default(),
            models_dir: PathBuf::from("model-artifacts"),
            active_model: "default-logistic".into(),
            max_clock_skew_s: 300,
            threshold: ThresholdConfig::default(),
            drift_cells: 500,
            performance_cells: 500,
        }
    }
}

impl QualityConfig {
    /// The product `id`, or the default product for an empty id.
    pub fn product(&self, id: &str) -> Option<&Product> {
        let id = if id.is_empty() {
            self.default_product.as_str()
        } else {
            id
        };
        self.products.iter().find(|p| p.id == id)
    }
}

/// Fewest cells a drift or live-performance window may hold.
pub const MIN_WINDOW: u32 = 50;
/// Most cells a drift or live-performance window may hold.
pub const MAX_WINDOW: u32 = 100_000;

/// Everything serde cannot check in `[quality]`.
pub fn validate(q: &QualityConfig, out: &mut Vec<Problem>) {
    let qp = |rest: &[Seg]| path(&[key("quality")], rest);
    if q.max_clock_skew_s > 86_400 {
        out.push((
            qp(&[key("max_clock_skew_s")]),
            "must be between 0 and 86400".into(),
        ));
    }
    let share = |v: f64| v.is_finite() && v > 0.0 && v <= 1.0;
    if !share(q.tiers.high) {
        out.push((
            qp(&[key("tiers"), key("high")]),
            "must be a share in (0, 1]".into(),
        ));
    }
    if !share(q.tiers.moderate) || q.tiers.moderate >= q.tiers.high {
        out.push((
            qp(&[key("tiers"), key("moderate")]),
            "must be a share in (0, 1] below tiers.high".into(),
        ));
    }
    let t = q.threshold;
    for (name, v) in [("recall", t.recall), ("max_flag_rate", t.max_flag_rate)] {
        if v.is_some_and(|v| !share(v)) {
            out.push((
                qp(&[key("threshold"), key(name)]),
                "must be a share in (0, 1]".into(),
            ));
        }
    }
    if t.miss_cost.is_some_and(|c| !c.is_finite() || c <= 0.0) {
        out.push((
            qp(&[key("threshold"), key("miss_cost")]),
            "must be a positive number".into(),
        ));
    }
    for (name, v) in [
        ("drift_cells", q.drift_cells),
        ("performance_cells", q.performance_cells),
    ] {
        if !(MIN_WINDOW..=MAX_WINDOW).contains(&v) {
            out.push((
                qp(&[key(name)]),
                format!("must be between {MIN_WINDOW} and {MAX_WINDOW} cells"),
            ));
        }
    }
    if q.active_model.trim().is_empty() {
        out.push((qp(&[key("active_model")]), "must name a model".into()));
    }
    let mut ids = HashSet::new();
    for (pi, p) in q.products.iter().enumerate() {
        let pp = |rest: &[Seg]| path(&[key("quality"), key("products"), Seg::Index(pi)], rest);
        if p.id.trim().is_empty() {
            out.push((pp(&[key("id")]), "must not be empty".into()));
        } else if !ids.insert(p.id.as_str()) {
            out.push((
                pp(&[key("id")]),
                format!("product {:?} is defined twice", p.id),
            ));
        }
        for (name, lim) in &p.limits {
            let lp = pp(&[key("limits"), key(name)]);
            let Some(d) = super::def(name) else {
                out.push((lp, format!("{name:?} is not a known measurement")));
                continue;
            };
            let (lsl, usl) = p.limits_of(d);
            if lim.lsl.is_some_and(|v| !v.is_finite()) || lim.usl.is_some_and(|v| !v.is_finite()) {
                out.push((lp, "limits must be finite numbers".into()));
            } else if let (Some(l), Some(u)) = (lsl, usl)
                && l > u
            {
                out.push((lp, format!("lower limit {l} is above upper limit {u}")));
            }
        }
    }
    if q.product(&q.default_product).is_none() {
        out.push((
            qp(&[key("default_product")]),
            format!("{:?} is not among quality.products", q.default_product),
        ));
    }
}

/// Products, spec limits, lot tiers and the risk models, resolved.
#[derive(Debug, Clone)]
pub struct QualitySettings {
    /// Product of cells that name none.
    pub default_product: String,
    /// Products and their spec limits.
    pub products: Vec<Product>,
    /// Lot tiers by high-risk share.
    pub tiers: TierBounds,
    /// Folder of model artifacts.
    pub models_dir: PathBuf,
    /// Model that scores cells until another is promoted.
    pub active_model: String,
    /// How `cellguard train` chooses the threshold on the validation lots.
    pub threshold: ThresholdPolicy,
    /// Largest time a station's timestamp may be ahead of CellGuard's clock (ms).
    pub max_clock_skew_ms: i64,
    /// Newest cells compared with the training data.
    pub drift_cells: u32,
    /// Newest labelled cells of the live figures.
    pub performance_cells: u32,
}

impl QualityConfig {
    /// The settings of a validated `[quality]`.
    pub fn resolve(&self) -> QualitySettings {
        QualitySettings {
            default_product: self.default_product.clone(),
            products: self.products.clone(),
            tiers: self.tiers,
            models_dir: self.models_dir.clone(),
            active_model: self.active_model.clone(),
            threshold: self.threshold.policy(),
            max_clock_skew_ms: i64::try_from(self.max_clock_skew_s.saturating_mul(1000))
                .unwrap_or(i64::MAX),
            drift_cells: self.drift_cells,
            performance_cells: self.performance_cells,
        }
    }
}

impl Default for QualitySettings {
    fn default() -> Self {
        QualityConfig::default().resolve()
    }
}

impl QualitySettings {
    /// The product `id`, or the default product for an empty id.
    pub fn product(&self, id: &str) -> Option<&Product> {
        let id = if id.is_empty() {
            self.default_product.as_str()
        } else {
            id
        };
        self.products.iter().find(|p| p.id == id)
    }
}
