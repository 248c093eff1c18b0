//! The MES contract on the wire (`docs/mes-openapi.json`), in ISA-95 words: the
//! production orders CellGuard fetches and the three messages it sends. Both the
//! client and the MES simulator speak through these types, so the simulator
//! cannot drift from what the client sends.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use app::mes::{Order, OrderState};

/// Where the orders are fetched.
pub const ORDERS_PATH: &str = "/api/v1/production-orders";
/// The header that carries each message's idempotency key.
pub const IDEMPOTENCY_HEADER: &str = "Idempotency-Key";

/// What an outbox message reports; each kind has its own endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageKind {
    /// A machine's tag statistics and state durations over one interval.
    MachineData,
    /// A cell's inspections and risk decision.
    QualityResult,
    /// An order's produced, high-risk and scrapped quantities.
    OrderConfirmation,
}

impl MessageKind {
    /// Every kind.
    pub const ALL: [MessageKind; 3] = [
        MessageKind::MachineData,
        MessageKind::QualityResult,
        MessageKind::OrderConfirmation,
    ];

    /// The stable name stored in the outbox.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageKind::MachineData => "machine_data",
            MessageKind::QualityResult => "quality_result",
            MessageKind::OrderConfirmation => "order_confirmation",
        }
    }

    /// Parses [`MessageKind::as_str`].
    pub fn parse(s: &str) -> Option<MessageKind> {
        MessageKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The MES endpoint (relative to its base URL).
    pub fn path(self) -> &'static str {
        match self {
            MessageKind::MachineData => "/api/v1/machine-data",
            MessageKind::QualityResult => "/api/v1/quality-results",
            MessageKind::OrderConfirmation => "/api/v1/order-confirmations",
        }
    }
}

/// A production order (ISA-95 production request) as the MES sends it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProductionOrder {
    /// The order id.
    pub id: String,
    /// Product (material definition) id.
    pub product_id: String,
    /// Product name.
    #[serde(default)]
    pub product_name: String,
    /// Cells to produce.
    pub planned_quantity: u64,
    /// Cells the MES has confirmed so far.
    #[serde(default)]
    pub produced_quantity: u64,
    /// Planned start (RFC 3339).
    #[serde(default)]
    pub planned_start: Option<jiff::Timestamp>,
    /// Planned end (RFC 3339).
    #[serde(default)]
    pub planned_end: Option<jiff::Timestamp>,
    /// Higher runs first.
    #[serde(default)]
    pub priority: i64,
    /// `planned`, `released`, `running`, `held`, `completed` or `aborted`.
    pub state: OrderState,
}

impl ProductionOrder {
    /// The order as CellGuard keeps it.
    pub fn to_order(&self) -> Order {
        Order {
            id: self.id.clone(),
            product: self.product_id.clone(),
            product_name: self.product_name.clone(),
            planned_quantity: self.planned_quantity,
            confirmed_quantity: self.produced_quantity,
            planned_start_ms: self.planned_start.map(|t| t.as_millisecond()),
            planned_end_ms: self.planned_end.map(|t| t.as_millisecond()),
            priority: self.priority,
            state: self.state,
        }
    }

    /// Checks what serde cannot: a usable id and product.
    pub fn check(&self) -> Result<(), String> {
        let ok = |s: &str| {
            !s.is_empty()
                && s.len() <= 64
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'))
        };
        if !ok(&self.id) {
            return Err(format!("order id {:?} is not a usable id", self.id));
        }
        if !ok(&self.product_id) {
            return Err(format!(
                "order {}: product_id {:?} is not a usable id",
                self.id, self.product_id
            ));
        }
        Ok(())
    }
}

/// The answer of `GET /api/v1/production-orders`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProductionSchedule {
    /// Every order the MES dispatches to this line.
    pub production_orders: Vec<ProductionOrder>,
}

/// Statistics of one tag over an interval (good values only).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TagStatistics {
    /// Tag name.
    pub tag: String,
    /// Engineering unit.
    pub unit: String,
    /// Good samples in the interval.
    pub samples: u64,
    /// Smallest value.
    pub min: f64,
    /// Mean value.
    pub avg: f64,
    /// Largest value.
    pub max: f64,
    /// Last value.
    pub last: f64,
}

/// Time spent in one machine state within an interval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StateDuration {
    /// PackML state name.
    pub state: String,
    /// Seconds in it.
    pub seconds: f64,
}

/// `POST /api/v1/machine-data`: one machine (ISA-95 equipment), one interval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MachineData {
    /// Equipment id (e.g. `CAS_01`).
    pub equipment_id: String,
    /// Interval start (RFC 3339).
    pub interval_start: jiff::Timestamp,
    /// Interval end (RFC 3339).
    pub interval_end: jiff::Timestamp,
    /// Per numeric tag.
    pub tags: Vec<TagStatistics>,
    /// Time in each machine state.
    pub state_durations: Vec<StateDuration>,
}

/// One measurement against its spec (ISA-95 test result).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MeasurementResult {
    /// Measurement name (catalogue).
    pub name: String,
    /// Unit.
    pub unit: String,
    /// Value.
    pub value: f64,
    /// Lower spec limit.
    pub lower_limit: Option<f64>,
    /// Upper spec limit.
    pub upper_limit: Option<f64>,
    /// `pass` or `fail`.
    pub result: String,
}

/// One inspection of a cell (a stage's material test).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TestResult {
    /// `IPQC`, `FQC` or `OQC`.
    pub stage: String,
    /// Station (equipment) that tested.
    pub station: String,
    /// When (RFC 3339).
    pub tested_at: jiff::Timestamp,
    /// Its measurements.
    pub measurements: Vec<MeasurementResult>,
}

/// The risk decision on a cell.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RiskDecision {
    /// Probability of a latent defect, 0–1.
    pub score: f64,
    /// `high` or `low`.
    pub band: String,
    /// What to do with the cell.
    pub decision: String,
    /// Threshold between the bands.
    pub threshold: f64,
    /// Model name.
    pub model: String,
    /// Model version.
    pub model_version: String,
    /// When scored (RFC 3339).
    pub scored_at: jiff::Timestamp,
    /// The measurements that drove the score, strongest first.
    pub reasons: Vec<String>,
}

/// `POST /api/v1/quality-results`: one cell (ISA-95 material sub-lot).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QualityResult {
    /// Cell serial.
    pub material_sub_lot: String,
    /// Cell lot.
    pub material_lot: String,
    /// Production order.
    pub production_order: String,
    /// Product id.
    pub product_id: String,
    /// Inspections so far.
    pub test_results: Vec<TestResult>,
    /// The risk decision.
    pub risk: RiskDecision,
}

/// `POST /api/v1/order-confirmations`: an order's counts on this line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderConfirmation {
    /// Production order.
    pub production_order: String,
    /// Cells produced.
    pub produced_quantity: u64,
    /// Of those, high-risk (short-term testing recommended).
    pub high_risk_quantity: u64,
    /// Of those, with a measurement outside its spec limits.
    pub scrapped_quantity: u64,
    /// When counted (RFC 3339).
    pub confirmed_at: jiff::Timestamp,
}

/// What the MES answers to a message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Receipt {
    /// `accepted`, or `duplicate` for a key it already has.
    pub status: String,
}

/// What the MES answers when it refuses something.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MesErrorBody {
    /// Why.
    pub error: String,
}

/// Most orders taken from one answer (a schedule, not a history).
pub const MAX_ORDERS: usize = 10_000;

/// Reads the MES's answer to the orders request: the orders CellGuard can use, and
/// why each other one was skipped. A body that is not the contract's schedule is
/// refused as a whole.
pub fn parse_schedule(body: &[u8]) -> Result<(Vec<Order>, Vec<String>), String> {
    /// The schedule with each order still unread: one order CellGuard cannot read
    /// (a state it does not know) is skipped, not the whole schedule.
    #[derive(serde::Deserialize)]
    struct Loose {
        production_orders: Vec<serde_json::Value>,
    }
    let schedule: Loose = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    if schedule.production_orders.len() > MAX_ORDERS {
        return Err(format!(
            "{} orders in one answer (at most {MAX_ORDERS})",
            schedule.production_orders.len()
        ));
    }
    let mut orders: Vec<Order> = Vec::with_capacity(schedule.production_orders.len());
    let mut skipped = Vec::new();
    for (i, value) in schedule.production_orders.into_iter().enumerate() {
        let o: ProductionOrder = match serde_json::from_value(value) {
            Ok(o) => o,
            Err(e) => {
                skipped.push(format!("order [{i}] cannot be read: {e}"));
                continue;
            }
        };
        match o.check() {
            Ok(()) if orders.iter().any(|k| k.id == o.id) => {
                skipped.push(format!("order {} is listed twice; the first is kept", o.id));
            }
            Ok(()) => orders.push(o.to_order()),
            Err(e) => skipped.push(e),
        }
    }
    Ok((orders, skipped))
}

/// Parses a Retry-After header: delay-seconds or an HTTP date (relative to `now`).
pub fn parse_retry_after(value: &str, now: jiff::Timestamp) -> Option<Duration> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = jiff::fmt::rfc2822::parse(v).ok()?.timestamp();
    let ms = when.as_millisecond() - now.as_millisecond();
    Some(Duration::from_millis(u64::try_from(ms).unwrap_or(0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_and_have_distinct_endpoints() {
        let mut paths = Vec::new();
        for k in MessageKind::ALL {
            assert_eq!(MessageKind::parse(k.as_str()), Some(k));
            paths.push(k.path());
        }
        paths.sort_unstable();
        paths.dedup();
        assert_eq!(paths.len(), MessageKind::ALL.len());
    }

    #[test]
    fn an_order_reads_with_rfc3339_times_and_checks_its_ids() {
        let o: ProductionOrder = serde_json::from_str(
            r#"{"id":"98765","product_id":"HC","product_name":"High Capacity Cell",
                "planned_quantity":2000,"planned_start":"2026-12-01T06:00:00Z",
                "priority":5,"state":"running"}"#,
        )
        .expect("order");
        let order = o.to_order();
        assert_eq!(order.planned_start_ms, Some(1_796_104_800_000));
        assert_eq!(order.state, OrderState::Running);
        assert!(o.check().is_ok());
        let bad = ProductionOrder {
            id: "a b".into(),
            ..o.clone()
        };
        assert!(bad.check().is_err());
        let unknown_state =
            r#"{"id":"1","product_id":"HC","planned_quantity":1,"state":"dancing"}"#;
        assert!(serde_json::from_str::<ProductionOrder>(unknown_state).is_err());
    }

    /// The OpenAPI document in `docs/` names exactly the fields these types send.
    #[test]
    fn the_published_contract_matches_the_types() {
        let doc: serde_json::Value =
            serde_json::from_str(include_str!("../../../docs/mes-openapi.json")).expect("json");
        let t = jiff::Timestamp::UNIX_EPOCH;
        let examples: Vec<(&str, serde_json::Result<serde_json::Value>)> = vec![
            (
                "ProductionOrder",
                serde_json::to_value(ProductionOrder {
                    id: "1".into(),
                    product_id: "HC".into(),
                    product_name: String::new(),
                    planned_quantity: 1,
                    produced_quantity: 0,
                    planned_start: Some(t),
                    planned_end: Some(t),
                    priority: 0,
                    state: OrderState::Running,
                }),
            ),
            (
                "MachineData",
                serde_json::to_value(MachineData {
                    equipment_id: "M".into(),
                    interval_start: t,
                    interval_end: t,
                    tags: vec![],
                    state_durations: vec![],
                }),
            ),
            (
                "TagStatistics",
                serde_json::to_value(TagStatistics {
                    tag: "t".into(),
                    unit: String::new(),
                    samples: 1,
                    min: 0.0,
                    avg: 0.0,
                    max: 0.0,
                    last: 0.0,
                }),
            ),
            (
                "StateDuration",
                serde_json::to_value(StateDuration {
                    state: "Execute".into(),
                    seconds: 1.0,
                }),
            ),
            (
                "QualityResult",
                serde_json::to_value(QualityResult {
                    material_sub_lot: "s".into(),
                    material_lot: "l".into(),
                    production_order: "o".into(),
                    product_id: "HC".into(),
                    test_results: vec![],
                    risk: RiskDecision {
                        score: 0.1,
                        band: "low".into(),
                        decision: "safe for all usage".into(),
                        threshold: 0.5,
                        model: "m".into(),
                        model_version: "v".into(),
                        scored_at: t,
                        reasons: vec![],
                    },
                }),
            ),
            (
                "TestResult",
                serde_json::to_value(TestResult {
                    stage: "FQC".into(),
                    station: "FORM_01".into(),
                    tested_at: t,
                    measurements: vec![],
                }),
            ),
            (
                "MeasurementResult",
                serde_json::to_value(MeasurementResult {
                    name: "ocv".into(),
                    unit: "V".into(),
                    value: 3.6,
                    lower_limit: None,
                    upper_limit: None,
                    result: "pass".into(),
                }),
            ),
            (
                "OrderConfirmation",
                serde_json::to_value(OrderConfirmation {
                    production_order: "o".into(),
                    produced_quantity: 1,
                    high_risk_quantity: 0,
                    scrapped_quantity: 0,
                    confirmed_at: t,
                }),
            ),
        ];
        for (name, value) in examples {
            let value = value.expect("serialises");
            let mut sent: Vec<&String> = value.as_object().expect("object").keys().collect();
            sent.sort();
            let schema = &doc["components"]["schemas"][name];
            let mut documented: Vec<&String> = schema["properties"]
                .as_object()
                .unwrap_or_else(|| panic!("{name} is not documented"))
                .keys()
                .collect();
            documented.sort();
            assert_eq!(sent, documented, "{name}");
        }
        for k in MessageKind::ALL {
            assert!(doc["paths"][k.path()]["post"].is_object(), "{}", k.path());
        }
        assert!(doc["paths"][ORDERS_PATH]["get"].is_object());
    }

    #[test]
    fn a_schedule_keeps_usable_orders_and_says_why_others_were_skipped() {
        let body = br#"{"production_orders":[
            {"id":"98765","product_id":"HC","planned_quantity":2000,"state":"running"},
            {"id":"bad id","product_id":"HC","planned_quantity":1,"state":"planned"},
            {"id":"98765","product_id":"SC","planned_quantity":5,"state":"planned"}]}"#;
        let (orders, skipped) = parse_schedule(body).expect("schedule");
        assert_eq!(orders.len(), 1);
        assert_eq!(orders[0].product, "HC");
        assert_eq!(skipped.len(), 2, "{skipped:?}");
        assert!(parse_schedule(b"{\"orders\":[]}").is_err());
        assert!(parse_schedule(b"not json").is_err());
    }

    #[test]
    fn one_unreadable_order_is_skipped_not_the_schedule() {
        let body = br#"{"production_orders":[
            {"id":"1","product_id":"HC","planned_quantity":5,"state":"dancing"},
            {"id":"2","product_id":"SC","planned_quantity":5,"state":"released"}]}"#;
        let (orders, skipped) = parse_schedule(body).expect("schedule");
        assert_eq!(orders.len(), 1);
        assert_eq!(orders[0].id, "2");
        assert!(skipped[0].contains("[0]"), "{skipped:?}");
    }

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let now: jiff::Timestamp = "2026-12-01T10:00:00Z".parse().expect("ts");
        assert_eq!(parse_retry_after("7", now), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after("Tue, 01 Dec 2026 10:00:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after("Tue, 01 Dec 2026 09:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }
}
