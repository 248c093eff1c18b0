//! The ingestion contract: inspections as stations and the MES send them, their
//! validation (pure), and the checked form storage writes.
//!
//! A body is one inspection or an array of them. Every problem is reported with the
//! path of the field (`[3].measurements[1].value`) and the record's key; a batch with
//! any problem is refused whole.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::dataset::{check_id, parse_time};
use super::settings::QualitySettings;
use super::{CellRecord, Stage, Verdict, def};

/// Most inspections in one request.
pub const MAX_BATCH: usize = 1000;
/// Most measurements in one inspection.
pub const MAX_MEASUREMENTS: usize = 100;
/// Most context values in one inspection.
pub const MAX_CONTEXT: usize = 100;
/// Largest magnitude of a measured value (no cell measurement comes near it; larger
/// values are typing or unit errors and would swamp a model).
pub const MAX_MAGNITUDE: f64 = 1e9;
/// Longest idempotency key.
pub const MAX_KEY_LEN: usize = 128;

/// One body: a single inspection or a batch.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Body {
    /// A batch.
    Many(Vec<InspectionIn>),
    /// One inspection.
    One(Box<InspectionIn>),
}

impl Body {
    /// The inspections, in order.
    pub fn into_vec(self) -> Vec<InspectionIn> {
        match self {
            Body::Many(v) => v,
            Body::One(one) => vec![*one],
        }
    }
}

/// An inspection as sent. Fields are loose on purpose (strings, options) so that
/// validation, not deserialisation, reports what is wrong and where; the schema
/// states what validation requires.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = Inspection)]
pub struct InspectionIn {
    /// Idempotency key, unique per inspection (e.g. station:serial:stage): a resend
    /// with the same key changes nothing.
    #[schema(value_type = String, required = true, max_length = 128)]
    pub key: Option<String>,
    /// Cell serial number.
    #[schema(value_type = String, required = true, max_length = 64, pattern = "^[A-Za-z0-9._/-]+$")]
    pub serial: Option<String>,
    /// Production order.
    #[schema(value_type = String, required = true, max_length = 64, pattern = "^[A-Za-z0-9._/-]+$")]
    pub order: Option<String>,
    /// Lot.
    #[schema(value_type = String, required = true, max_length = 64, pattern = "^[A-Za-z0-9._/-]+$")]
    pub lot: Option<String>,
    /// Product id (default: the plant's default product).
    pub product: Option<String>,
    /// `IPQC`, `FQC` or `OQC`.
    #[schema(value_type = Stage, required = true)]
    pub stage: Option<String>,
    /// Station (machine or bench) id.
    #[schema(value_type = String, required = true, max_length = 64, pattern = "^[A-Za-z0-9._/-]+$")]
    pub station: Option<String>,
    /// When measured: RFC 3339 text or Unix milliseconds.
    #[schema(schema_with = timestamp_schema, required = true)]
    pub ts: Option<serde_json::Value>,
    /// Measurements.
    #[serde(default)]
    #[schema(max_items = 100)]
    pub measurements: Vec<MeasurementIn>,
    /// Machine values when the cell passed the station.
    #[serde(default)]
    #[schema(max_items = 100)]
    pub context: Vec<ContextIn>,
    /// Short-term test outcome, when this record reports one (`true` = failed).
    pub short_term_failed: Option<bool>,
}

/// A measurement as sent.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = Measurement)]
pub struct MeasurementIn {
    /// A catalogue measurement; it must belong to the inspection's stage.
    #[schema(schema_with = catalogue_name_schema, required = true)]
    pub name: Option<String>,
    /// Value.
    #[schema(value_type = f64, required = true)]
    pub value: Option<f64>,
    /// Unit; if given it must be the catalogue's.
    pub unit: Option<String>,
}

/// A machine value as sent.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = Context)]
pub struct ContextIn {
    /// Machine id.
    #[schema(value_type = String, required = true)]
    pub machine: Option<String>,
    /// Tag name.
    #[schema(value_type = String, required = true)]
    pub tag: Option<String>,
    /// Value.
    #[schema(value_type = f64, required = true)]
    pub value: Option<f64>,
    /// Unit.
    #[serde(default)]
    pub unit: String,
    /// When read (Unix ms; default: the inspection's time).
    pub ts_ms: Option<i64>,
}

/// A checked measurement with its limits and verdict.
#[derive(Debug, Clone, PartialEq)]
pub struct Measurement {
    /// Catalogue name.
    pub name: String,
    /// Unit.
    pub unit: String,
    /// Value.
    pub value: f64,
    /// Lower limit for the cell's product.
    pub lsl: Option<f64>,
    /// Upper limit for the cell's product.
    pub usl: Option<f64>,
    /// Verdict.
    pub verdict: Verdict,
}

/// A checked machine value.
#[derive(Debug, Clone, PartialEq)]
pub struct Context {
    /// Machine id.
    pub machine: String,
    /// Tag.
    pub tag: String,
    /// Unit.
    pub unit: String,
    /// Value.
    pub value: f64,
    /// When read.
    pub ts_ms: i64,
}

/// A checked inspection, ready to store.
#[derive(Debug, Clone, PartialEq)]
pub struct Inspection {
    /// Idempotency key.
    pub key: String,
    /// Digest of the content, to tell a resend from a conflicting reuse of a key.
    pub digest: String,
    /// Serial.
    pub serial: String,
    /// Order.
    pub order: String,
    /// Lot.
    pub lot: String,
    /// Product id (resolved).
    pub product: String,
    /// Stage.
    pub stage: Stage,
    /// Station.
    pub station: String,
    /// When measured (Unix ms).
    pub ts_ms: i64,
    /// Measurements.
    pub measurements: Vec<Measurement>,
    /// Machine context.
    pub context: Vec<Context>,
    /// Short-term test outcome reported with it.
    pub short_term_failed: Option<bool>,
}

/// One problem in a request body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FieldError {
    /// Index of the record in the batch (0 for a single object).
    pub record: usize,
    /// The record's idempotency key, if it had one.
    pub key: Option<String>,
    /// Path of the field, e.g. `[1].measurements[0].value`.
    #[schema(example = "[1].measurements[0].value")]
    pub field: String,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// Refuses a request body with more than [`MAX_BATCH`] inspections (imports of
/// files are not capped: they are checked and written as one batch).
pub fn check_batch_size(len: usize) -> Result<(), Vec<FieldError>> {
    if len > MAX_BATCH {
        return Err(vec![FieldError {
            record: 0,
            key: None,
            field: "(body)".into(),
            message: format!("{len} inspections; at most {MAX_BATCH} per request"),
        }]);
    }
    Ok(())
}

/// Validates a batch against the catalogue and products. `now_ms` bounds times from
/// the future (`[quality] max_clock_skew_s` of clock skew is tolerated).
pub fn validate(
    batch: Vec<InspectionIn>,
    quality: &QualitySettings,
    now_ms: i64,
) -> Result<Vec<Inspection>, Vec<FieldError>> {
    let mut errors = Vec::new();
    if batch.is_empty() {
        errors.push(FieldError {
            record: 0,
            key: None,
            field: "(body)".into(),
            message: "no inspections".into(),
        });
        return Err(errors);
    }
    let mut out = Vec::with_capacity(batch.len());
    let mut keys: HashMap<String, usize> = HashMap::new();
    let mut cells: HashMap<String, (String, String)> = HashMap::new();
    for (i, rec) in batch.into_iter().enumerate() {
        let before = errors.len();
        let key = rec.key.clone();
        let mut err = |field: &str, message: String| {
            errors.push(FieldError {
                record: i,
                key: key.clone(),
                field: format!("[{i}].{field}"),
                message,
            })
        };
        let id = |field: &str, v: &Option<String>, err: &mut dyn FnMut(&str, String)| match v
            .as_deref()
            .map(str::trim)
        {
            None => {
                err(field, "is required".into());
                String::new()
            }
            Some(s) => {
                if let Err(m) = check_id(s) {
                    err(field, m);
                }
                s.to_owned()
            }
        };
        let key_s = match rec.key.as_deref().map(str::trim) {
            None | Some("") => {
                err("key", "is required (an idempotency key)".into());
                String::new()
            }
            Some(k) if k.len() > MAX_KEY_LEN => {
                err("key", format!("longer than {MAX_KEY_LEN} bytes"));
                String::new()
            }
            Some(k) => k.to_owned(),
        };
        let serial = id("serial", &rec.serial, &mut err);
        let order = id("order", &rec.order, &mut err);
        let lot = id("lot", &rec.lot, &mut err);
        let station = id("station", &rec.station, &mut err);
        let product = match rec.product.as_deref().map(str::trim) {
            None | Some("") => quality.default_product.clone(),
            Some(p) => p.to_owned(),
        };
        let prod = quality.product(&product);
        if prod.is_none() {
            err("product", format!("unknown product {product:?}"));
        }
        let stage = match rec.stage.as_deref() {
            None => {
                err("stage", "is required (IPQC, FQC or OQC)".into());
                None
            }
            Some(s) => {
                let st = Stage::parse(s);
                if st.is_none() {
                    err("stage", format!("{s:?} is not IPQC, FQC or OQC"));
                }
                st
            }
        };
        let ts_ms = match &rec.ts {
            None => {
                err("ts", "is required (RFC 3339 or Unix ms)".into());
                0
            }
            Some(serde_json::Value::Number(n)) => match n.as_i64().filter(|v| *v >= 0) {
                Some(v) => v,
                None => {
                    err("ts", format!("{n} is not a Unix time in ms"));
                    0
                }
            },
            Some(serde_json::Value::String(s)) => match parse_time(s) {
                Some(v) => v,
                None => {
                    err(
                        "ts",
                        format!("{s:?} is not a time (use 2026-06-01T08:00:00Z)"),
                    );
                    0
                }
            },
            Some(other) => {
                err("ts", format!("{other} is not a time"));
                0
            }
        };
        let ahead = ts_ms.saturating_sub(now_ms);
        if ahead > quality.max_clock_skew_ms {
            err(
                "ts",
                format!(
                    "is {} s in the future, more than the {} s of clock skew allowed \
                     (check the station's clock)",
                    ahead / 1000,
                    quality.max_clock_skew_ms / 1000
                ),
            );
        }
        if rec.measurements.is_empty() && rec.short_term_failed.is_none() {
            err("measurements", "must hold at least one measurement".into());
        }
        if rec.measurements.len() > MAX_MEASUREMENTS {
            err(
                "measurements",
                format!("at most {MAX_MEASUREMENTS} measurements per inspection"),
            );
        }
        if rec.context.len() > MAX_CONTEXT {
            err(
                "context",
                format!("at most {MAX_CONTEXT} values per inspection"),
            );
        }
        let mut measurements = Vec::with_capacity(rec.measurements.len());
        let mut names = HashSet::new();
        for (mi, m) in rec.measurements.iter().enumerate() {
            let f = |leaf: &str| format!("measurements[{mi}].{leaf}");
            let Some(name) = m.name.as_deref() else {
                err(&f("name"), "is required".into());
                continue;
            };
            let Some(d) = def(name) else {
                err(&f("name"), format!("{name:?} is not a known measurement"));
                continue;
            };
            if let Some(st) = stage
                && d.stage != st
            {
                err(
                    &f("name"),
                    format!(
                        "{name} is measured at {}, not {}",
                        d.stage.as_str(),
                        st.as_str()
                    ),
                );
            }
            if !names.insert(name) {
                err(&f("name"), format!("{name} appears twice"));
            }
            if let Some(u) = m.unit.as_deref()
                && u != d.unit
            {
                err(
                    &f("unit"),
                    format!("{u:?} is not {name}'s unit {:?}", d.unit),
                );
            }
            let Some(value) = m
                .value
                .filter(|v| v.is_finite() && v.abs() <= MAX_MAGNITUDE)
            else {
                err(
                    &f("value"),
                    format!("is required and must be a number within ±{MAX_MAGNITUDE:e}"),
                );
                continue;
            };
            let (lsl, usl) = prod.map_or((d.lsl, d.usl), |p| p.limits_of(d));
            measurements.push(Measurement {
                name: name.to_owned(),
                unit: d.unit.to_owned(),
                value,
                lsl,
                usl,
                verdict: Verdict::judge(value, lsl, usl),
            });
        }
        let mut context = Vec::with_capacity(rec.context.len());
        for (ci, c) in rec.context.iter().enumerate() {
            let f = |leaf: &str| format!("context[{ci}].{leaf}");
            let machine = id(&f("machine"), &c.machine, &mut err);
            let tag = id(&f("tag"), &c.tag, &mut err);
            let Some(value) = c
                .value
                .filter(|v| v.is_finite() && v.abs() <= MAX_MAGNITUDE)
            else {
                err(
                    &f("value"),
                    "is required and must be a finite number".into(),
                );
                continue;
            };
            context.push(Context {
                machine,
                tag,
                unit: c.unit.chars().take(16).collect(),
                value,
                ts_ms: c.ts_ms.unwrap_or(ts_ms),
            });
        }
        if !key_s.is_empty()
            && let Some(first) = keys.insert(key_s.clone(), i)
        {
            err("key", format!("key also used by record {first}"));
        }
        if !serial.is_empty() {
            match cells.get(&serial) {
                Some((l, o)) if *l != lot || *o != order => err(
                    "serial",
                    format!("cell {serial} is given lot {l} and order {o} by another record"),
                ),
                Some(_) => {}
                None => {
                    cells.insert(serial.clone(), (lot.clone(), order.clone()));
                }
            }
        }
        if errors.len() > before {
            continue;
        }
        let Some(stage) = stage else { continue };
        let mut insp = Inspection {
            key: key_s,
            digest: String::new(),
            serial,
            order,
            lot,
            product,
            stage,
            station,
            ts_ms,
            measurements,
            context,
            short_term_failed: rec.short_term_failed,
        };
        insp.digest = digest(&insp);
        out.push(insp);
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// A digest of everything an inspection says (not its key).
fn digest(i: &Inspection) -> String {
    let mut h = Sha256::new();
    let mut put = |s: &str| {
        h.update(s.as_bytes());
        h.update([0u8]);
    };
    put(&i.serial);
    put(&i.order);
    put(&i.lot);
    put(&i.product);
    put(i.stage.as_str());
    put(&i.station);
    put(&i.ts_ms.to_string());
    for m in &i.measurements {
        put(&m.name);
        put(&m.value.to_bits().to_string());
    }
    for c in &i.context {
        put(&c.machine);
        put(&c.tag);
        put(&c.value.to_bits().to_string());
        put(&c.ts_ms.to_string());
    }
    put(&format!("{:?}", i.short_term_failed));
    let out = h.finalize();
    out.iter().take(16).map(|b| format!("{b:02x}")).collect()
}

/// Splits a flat dataset row into its stage inspections (the path `import` takes),
/// keyed `import:<serial>:<stage>` so a re-import changes nothing.
pub fn from_record(r: &CellRecord, station: &str, default_ts_ms: i64) -> Vec<InspectionIn> {
    let ts = r.produced_ms.unwrap_or(default_ts_ms);
    let mut out: Vec<InspectionIn> = Stage::ALL
        .into_iter()
        .filter_map(|stage| stage_inspection(r, stage, station, ts))
        .collect();
    // The short-term test follows the final inspection; its outcome rides on the
    // last stage present.
    if let (Some(label), Some(last)) = (r.label, out.last_mut()) {
        last.short_term_failed = Some(label);
    }
    out
}

/// The inspection `station` reports for `stage` of a cell: the record's measurements
/// of that stage, keyed `<station>:<serial>:<stage>`; `None` when it has none.
pub fn stage_inspection(
    r: &CellRecord,
    stage: Stage,
    station: &str,
    ts_ms: i64,
) -> Option<InspectionIn> {
    let measurements: Vec<MeasurementIn> = super::CATALOGUE
        .iter()
        .zip(&r.values)
        .filter(|(d, v)| d.stage == stage && v.is_some())
        .map(|(d, v)| MeasurementIn {
            name: Some(d.name.to_owned()),
            value: *v,
            unit: Some(d.unit.to_owned()),
        })
        .collect();
    (!measurements.is_empty()).then(|| InspectionIn {
        key: Some(format!("{station}:{}:{}", r.serial, stage.as_str())),
        serial: Some(r.serial.clone()),
        order: Some(r.order.clone()),
        lot: Some(r.lot.clone()),
        product: (!r.product.is_empty()).then(|| r.product.clone()),
        stage: Some(stage.as_str().to_owned()),
        station: Some(station.to_owned()),
        ts: Some(serde_json::Value::from(ts_ms)),
        measurements,
        context: Vec::new(),
        short_term_failed: None,
    })
}

// The schema's limits are literals (the derive takes no constants); the OpenAPI
// tests check them against MAX_KEY_LEN, MAX_ID_LEN, MAX_MEASUREMENTS and MAX_CONTEXT,
// and the id pattern against `check_id`.

impl utoipa::PartialSchema for Body {
    /// One inspection, or an array of at most [`MAX_BATCH`].
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::ToSchema;
        use utoipa::openapi::schema::{ArrayBuilder, OneOfBuilder, Ref};
        let one = Ref::from_schema_name(<InspectionIn as ToSchema>::name());
        OneOfBuilder::new()
            .item(one.clone())
            .item(ArrayBuilder::new().items(one).max_items(Some(MAX_BATCH)))
            .into()
    }
}

impl utoipa::ToSchema for Body {
    fn schemas(
        schemas: &mut Vec<(
            String,
            utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
        )>,
    ) {
        use utoipa::PartialSchema;
        schemas.push((
            <InspectionIn as utoipa::ToSchema>::name().into(),
            InspectionIn::schema(),
        ));
        <InspectionIn as utoipa::ToSchema>::schemas(schemas);
    }
}

/// The schema of `ts`: RFC 3339 text or Unix milliseconds.
fn timestamp_schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, OneOfBuilder, SchemaFormat, Type};
    OneOfBuilder::new()
        .description(Some("When measured: RFC 3339 text or Unix milliseconds."))
        .item(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime))),
        )
        .item(
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .description(Some("Unix ms")),
        )
        .into()
}

/// The schema of a measurement's name: the catalogue's names, in line order.
fn catalogue_name_schema() -> utoipa::openapi::schema::Object {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(super::CATALOGUE.iter().map(|d| d.name)))
        .description(Some(
            "A catalogue measurement; it must belong to the inspection's stage.",
        ))
        .build()
}

/// Parses the body record by record, so a malformed record is named.
pub fn parse_body(bytes: &[u8]) -> Result<Vec<InspectionIn>, Vec<FieldError>> {
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| {
        vec![FieldError {
            record: 0,
            key: None,
            field: "(body)".into(),
            message: format!("not valid JSON: {e}"),
        }]
    })?;
    let items = match value {
        serde_json::Value::Array(items) => items,
        one @ serde_json::Value::Object(_) => vec![one],
        _ => {
            return Err(vec![FieldError {
                record: 0,
                key: None,
                field: "(body)".into(),
                message: "expected an inspection object or an array of them".into(),
            }]);
        }
    };
    let mut out = Vec::with_capacity(items.len());
    let mut errors = Vec::new();
    for (i, item) in items.into_iter().enumerate() {
        let key = item.get("key").and_then(|k| k.as_str()).map(str::to_owned);
        match serde_json::from_value::<InspectionIn>(item) {
            Ok(rec) => out.push(rec),
            Err(e) => errors.push(FieldError {
                record: i,
                key,
                field: format!("[{i}]"),
                message: e.to_string(),
            }),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q() -> QualitySettings {
        QualitySettings::default()
    }

    fn good(key: &str, serial: &str) -> serde_json::Value {
        serde_json::json!({
            "key": key, "serial": serial, "order": "98765", "lot": "L1",
            "stage": "FQC", "station": "EOL_01", "ts": "2026-11-25T10:00:00Z",
            "measurements": [
                {"name": "capacity", "value": 5.1, "unit": "Ah"},
                {"name": "k_value", "value": 2.5}
            ]
        })
    }

    fn parse(v: serde_json::Value) -> Vec<InspectionIn> {
        serde_json::from_value::<Body>(v).expect("body").into_vec()
    }

    #[test]
    fn a_good_record_gets_limits_and_verdicts() {
        let out = validate(parse(good("k1", "S1")), &q(), 1_800_000_000_000).expect("valid");
        assert_eq!(out.len(), 1);
        let m = &out[0].measurements;
        assert_eq!(m[0].verdict, Verdict::Pass);
        assert_eq!((m[1].lsl, m[1].usl), (None, Some(2.0)));
        assert_eq!(m[1].verdict, Verdict::Fail);
        assert_eq!(out[0].product, "HC");
        assert_eq!(out[0].digest.len(), 32);
    }

    #[test]
    fn errors_name_record_and_field() {
        let mut bad = good("k2", "S2");
        bad["measurements"][1]["name"] = "k-value".into();
        bad["measurements"][0]["unit"] = "mAh".into();
        bad["stage"] = "EOL".into();
        let body = serde_json::json!([good("k1", "S1"), bad]);
        let errs = validate(parse(body), &q(), 1_800_000_000_000).expect_err("invalid");
        let fields: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            vec![
                "[1].stage",
                "[1].measurements[0].unit",
                "[1].measurements[1].name"
            ]
        );
        assert!(
            errs.iter()
                .all(|e| e.record == 1 && e.key.as_deref() == Some("k2"))
        );
    }

    #[test]
    fn wrong_stage_duplicate_keys_and_conflicting_cells_are_refused() {
        let mut wrong = good("k1", "S1");
        wrong["stage"] = "IPQC".into();
        let errs = validate(parse(wrong), &q(), 1_800_000_000_000).expect_err("stage");
        assert!(errs[0].message.contains("measured at FQC"), "{errs:?}");
        let mut other_lot = good("k2", "S1");
        other_lot["lot"] = "L2".into();
        let errs = validate(
            parse(serde_json::json!([
                good("k1", "S1"),
                good("k1", "S3"),
                other_lot
            ])),
            &q(),
            1_800_000_000_000,
        )
        .expect_err("dupes");
        let fields: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, vec!["[1].key", "[2].serial"]);
    }

    #[test]
    fn the_future_and_empty_bodies_are_refused() {
        let mut future = good("k1", "S1");
        future["ts"] = serde_json::json!(1_900_000_000_000i64);
        assert!(validate(parse(future), &q(), 1_800_000_000_000).is_err());
        // Six minutes ahead is past the five allowed; four minutes is not.
        let now = 1_800_000_000_000i64;
        let mut ahead = good("k1", "S1");
        ahead["ts"] = serde_json::json!(now + 360_000);
        let e = validate(parse(ahead), &q(), now).expect_err("refused");
        assert_eq!(e[0].field, "[0].ts");
        assert!(
            e[0].message.contains("360 s in the future"),
            "{}",
            e[0].message
        );
        let mut near = good("k1", "S1");
        near["ts"] = serde_json::json!(now + 240_000);
        assert!(validate(parse(near), &q(), now).is_ok());
        assert!(validate(Vec::new(), &q(), 0).is_err());
    }

    #[test]
    fn a_record_splits_into_stage_inspections_with_stable_keys() {
        let mut r = CellRecord::new("S9", "L1", "98765");
        r.set("moisture", 120.0);
        r.set("k_value", 0.5);
        r.label = Some(true);
        let ins = from_record(&r, "import", 5);
        assert_eq!(ins.len(), 2);
        assert_eq!(ins[0].key.as_deref(), Some("import:S9:IPQC"));
        assert_eq!(ins[1].short_term_failed, Some(true));
        let checked = validate(ins, &q(), 10).expect("valid");
        assert_eq!(checked[1].stage, Stage::Fqc);
        // Same content, same digest: a re-import is a no-op.
        let again = validate(from_record(&r, "import", 5), &q(), 10).expect("valid");
        assert_eq!(checked[0].digest, again[0].digest);
    }
}
