//! The plant file: devices, their register maps and the settings around them.
//!
//! Loading is three steps: parse the TOML into typed structs (serde, unknown fields
//! refused), validate what serde cannot (overlaps, ranges, limits, names), then apply
//! environment overrides. Every error names the file, the line and the field.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};

use app::actions::{Change, Condition, WriteMode};
use app::quality::TierBounds;
use serde::{Deserialize, Serialize};
use toml::de::{DeTable, DeValue};

use crate::quality::Product;
use crate::risk::metrics::ThresholdPolicy;

pub use crate::modbus::codec::{DataType, WordOrder};

/// PackML state names a state map may use.
pub const PACKML_STATES: [&str; 18] = [
    "Undefined",
    "Clearing",
    "Stopped",
    "Starting",
    "Idle",
    "Suspended",
    "Execute",
    "Stopping",
    "Aborting",
    "Aborted",
    "Holding",
    "Held",
    "Unholding",
    "Suspending",
    "Unsuspending",
    "Resetting",
    "Completing",
    "Complete",
];

/// Registers one read may cover (Modbus limit for function codes 3 and 4).
pub const MAX_READ_REGISTERS: u16 = 125;
/// Bits one read may cover (function codes 1 and 2).
pub const MAX_READ_BITS: u16 = 2000;
/// Registers one multi-register write may cover (function code 16).
pub const MAX_WRITE_REGISTERS: u16 = 123;
/// Bits one multi-coil write may cover (function code 15).
pub const MAX_WRITE_BITS: u16 = 1968;

/// The whole plant file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plant {
    /// What the plant is called in the UI.
    #[serde(default = "default_plant_name")]
    pub name: String,
    /// History settings.
    #[serde(default)]
    pub history: HistoryConfig,
    /// The built-in line simulator.
    #[serde(default)]
    pub simulator: SimulatorConfig,
    /// One entry per PLC.
    #[serde(default)]
    pub devices: Vec<Device>,
    /// Products, spec limits, risk tiers and models.
    #[serde(default)]
    pub quality: QualityConfig,
    /// Sign-in sessions and cookies.
    #[serde(default)]
    pub access: AccessConfig,
    /// The plant's MES.
    #[serde(default)]
    pub mes: MesConfig,
    /// Corrective actions written back to the PLCs.
    #[serde(default)]
    pub writeback: WritebackConfig,
}

/// Corrective actions: the modes machines start in, the envelope's timing and
/// states, and the rules that propose actions.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WritebackConfig {
    /// Mode per machine until a supervisor switches it (machines not named:
    /// `default_mode`).
    pub modes: BTreeMap<String, WriteMode>,
    /// Mode of machines not named in `modes`.
    pub default_mode: WriteMode,
    /// PackML states in which writes are allowed.
    pub allowed_states: Vec<String>,
    /// Shortest time between two writes to one tag.
    pub min_interval_s: f64,
    /// A proposal not approved within this long expires.
    pub expire_after_s: f64,
    /// How often the rules look at the recent cells.
    pub evaluate_every_s: f64,
    /// Cells before and after a write compared for its effect.
    pub effect_cells: u32,
    /// The rules.
    pub rules: Vec<RuleConfig>,
}

impl Default for WritebackConfig {
    fn default() -> Self {
        Self {
            modes: BTreeMap::new(),
            default_mode: WriteMode::Advisory,
            allowed_states: ["Execute", "Idle", "Held", "Suspended"]
                .map(String::from)
                .to_vec(),
            min_interval_s: 30.0,
            expire_after_s: 900.0,
            evaluate_every_s: 5.0,
            effect_cells: 50,
            rules: Vec::new(),
        }
    }
}

impl WritebackConfig {
    /// The configured mode of `machine`.
    pub fn mode_of(&self, machine: &str) -> WriteMode {
        self.modes
            .get(machine)
            .copied()
            .unwrap_or(self.default_mode)
    }
}

/// A rule: when `when` holds over the recent cells, change `tag` of `machine`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    /// Name (shown and recorded with each action).
    pub name: String,
    /// Machine whose tag changes.
    pub machine: String,
    /// The writable tag.
    pub tag: String,
    /// The condition over recent cells.
    pub when: Condition,
    /// The change.
    pub change: Change,
    /// Why, in words for the person who approves.
    pub rationale: String,
    /// Seconds after an action of this rule before it proposes again.
    #[serde(default = "default_cooldown")]
    pub cooldown_s: f64,
}

fn default_cooldown() -> f64 {
    300.0
}

fn validate_writeback(plant: &Plant, out: &mut Vec<Problem>) {
    let w = &plant.writeback;
    let wp = |rest: &[Seg]| {
        let mut p = vec![key("writeback")];
        p.extend_from_slice(rest);
        p
    };
    for machine in w.modes.keys() {
        if !plant.devices.iter().any(|d| &d.id == machine) {
            out.push((
                wp(&[key("modes"), key(machine)]),
                format!("{machine:?} is not a device of this plant"),
            ));
        }
    }
    for (i, s) in w.allowed_states.iter().enumerate() {
        if !PACKML_STATES.contains(&s.as_str()) {
            out.push((
                wp(&[key("allowed_states"), Seg::Index(i)]),
                format!("{s:?} is not a PackML state"),
            ));
        }
    }
    for (name, v, min, max) in [
        ("min_interval_s", w.min_interval_s, 0.0, 86_400.0),
        ("expire_after_s", w.expire_after_s, 1.0, 604_800.0),
        ("evaluate_every_s", w.evaluate_every_s, 0.1, 3_600.0),
    ] {
        if !v.is_finite() || !(min..=max).contains(&v) {
            out.push((wp(&[key(name)]), format!("must be between {min} and {max}")));
        }
    }
    if !(1..=10_000).contains(&w.effect_cells) {
        out.push((
            wp(&[key("effect_cells")]),
            "must be between 1 and 10000".into(),
        ));
    }
    let mut names = HashSet::new();
    for (ri, r) in w.rules.iter().enumerate() {
        let rp = |rest: &[Seg]| {
            let mut p = vec![key("writeback"), key("rules"), Seg::Index(ri)];
            p.extend_from_slice(rest);
            p
        };
        if r.name.trim().is_empty() || !names.insert(r.name.as_str()) {
            out.push((
                rp(&[key("name")]),
                "must be a name not used by another rule".into(),
            ));
        }
        match plant.devices.iter().find(|d| d.id == r.machine) {
            None => out.push((
                rp(&[key("machine")]),
                format!("{:?} is not a device of this plant", r.machine),
            )),
            Some(d) => match d.tags.iter().find(|t| t.name == r.tag) {
                Some(t) if t.access == Access::ReadWrite => {}
                Some(_) => out.push((
                    rp(&[key("tag")]),
                    format!("{} of {} is not writable", r.tag, r.machine),
                )),
                None => out.push((
                    rp(&[key("tag")]),
                    format!("{:?} is not a tag of {}", r.tag, r.machine),
                )),
            },
        }
        let n = r.when.window();
        if !(1..=10_000).contains(&n) {
            out.push((
                rp(&[key("when")]),
                "`last` must be between 1 and 10000".into(),
            ));
        }
        match &r.when {
            Condition::HighRiskShare { above, .. } => {
                if !above.is_finite() || !(0.0..1.0).contains(above) {
                    out.push((
                        rp(&[key("when")]),
                        "`above` must be a share in [0, 1)".into(),
                    ));
                }
            }
            Condition::MeasurementMean {
                measurement,
                above,
                below,
                ..
            } => {
                if crate::quality::def(measurement).is_none() {
                    out.push((
                        rp(&[key("when")]),
                        format!("{measurement:?} is not a known measurement"),
                    ));
                }
                if above.is_none() && below.is_none()
                    || above.is_some_and(|v| !v.is_finite())
                    || below.is_some_and(|v| !v.is_finite())
                {
                    out.push((
                        rp(&[key("when")]),
                        "needs a finite `above` or `below`".into(),
                    ));
                }
            }
        }
        let finite = match r.change {
            Change::Set(v) | Change::Step(v) | Change::StepPercent(v) => v.is_finite(),
        };
        if !finite {
            out.push((rp(&[key("change")]), "must be a finite number".into()));
        }
        if r.rationale.trim().is_empty() {
            out.push((
                rp(&[key("rationale")]),
                "must say why, for the person who approves".into(),
            ));
        }
        if !r.cooldown_s.is_finite() || !(0.0..=604_800.0).contains(&r.cooldown_s) {
            out.push((
                rp(&[key("cooldown_s")]),
                "must be between 0 and 604800".into(),
            ));
        }
    }
}

/// A secret from the plant file or the environment: never printed, never logged.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }
    /// The secret itself, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() {
            "\"\""
        } else {
            "\"(secret)\""
        })
    }
}

impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(if self.0.is_empty() { "" } else { "(secret)" })
    }
}

/// The MES (REST): where it is, how CellGuard proves who it is, how often it
/// talks to it and how it retries.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MesConfig {
    /// Start the MES simulator inside `cellguard serve` on a free loopback port
    /// and talk to it instead of `url`.
    pub embedded: bool,
    /// The MES's base URL (`CELLGUARD_MES_URL`); empty and not embedded: no MES.
    pub url: String,
    /// Bearer token (`CELLGUARD_MES_TOKEN`; the embedded MES makes its own).
    pub token: Secret,
    /// Seconds between fetches of the production orders.
    pub orders_interval_s: f64,
    /// Seconds per machine-data report (min/avg/max/last per tag).
    pub machine_data_interval_s: f64,
    /// Seconds between checks for changed order counts (confirmations).
    pub confirmation_interval_s: f64,
    /// Longest wait for one MES answer.
    pub timeout_ms: u64,
    /// First retry delay after a failure; doubles up to `retry_max_ms`.
    pub retry_min_ms: u64,
    /// Longest retry delay.
    pub retry_max_ms: u64,
    /// Days delivered messages are kept (for the MES page and audits).
    pub keep_delivered_days: u32,
}

impl Default for MesConfig {
    fn default() -> Self {
        Self {
            embedded: false,
            url: String::new(),
            token: Secret::default(),
            orders_interval_s: 30.0,
            machine_data_interval_s: 60.0,
            confirmation_interval_s: 60.0,
            timeout_ms: 5_000,
            retry_min_ms: 500,
            retry_max_ms: 60_000,
            keep_delivered_days: 7,
        }
    }
}

impl MesConfig {
    /// Whether CellGuard talks to an MES at all.
    pub fn enabled(&self) -> bool {
        self.embedded || !self.url.trim().is_empty()
    }
}

fn validate_mes(m: &MesConfig, out: &mut Vec<Problem>) {
    let mp = |name: &str| vec![key("mes"), key(name)];
    if !m.embedded && !m.url.trim().is_empty() {
        match reqwest::Url::parse(m.url.trim()) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {}
            Ok(_) => out.push((mp("url"), "must be an http:// or https:// URL".into())),
            Err(e) => out.push((mp("url"), format!("is not a URL: {e}"))),
        }
    }
    for (name, v, max) in [
        ("orders_interval_s", m.orders_interval_s, 86_400.0),
        (
            "machine_data_interval_s",
            m.machine_data_interval_s,
            86_400.0,
        ),
        (
            "confirmation_interval_s",
            m.confirmation_interval_s,
            86_400.0,
        ),
    ] {
        if !v.is_finite() || !(0.1..=max).contains(&v) {
            out.push((mp(name), format!("must be between 0.1 and {max} seconds")));
        }
    }
    if !(100..=300_000).contains(&m.timeout_ms) {
        out.push((mp("timeout_ms"), "must be between 100 and 300000".into()));
    }
    if m.retry_min_ms == 0 {
        out.push((mp("retry_min_ms"), "must be at least 1".into()));
    }
    if m.retry_max_ms < m.retry_min_ms || m.retry_max_ms > 3_600_000 {
        out.push((
            mp("retry_max_ms"),
            "must be at least retry_min_ms and at most 3600000 (an hour)".into(),
        ));
    }
    if m.keep_delivered_days == 0 {
        out.push((mp("keep_delivered_days"), "must be at least 1".into()));
    }
}

/// Sign-in sessions and cookies.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AccessConfig {
    /// A session ends after this many minutes without a request (default: a
    /// 12-hour shift).
    pub session_idle_minutes: f64,
    /// Mark cookies `Secure` and send HSTS: set when CellGuard is served over
    /// TLS (directly or behind a TLS-terminating proxy).
    pub secure_cookies: bool,
}

impl Default for AccessConfig {
    fn default() -> Self {
        Self {
            session_idle_minutes: 720.0,
            secure_cookies: false,
        }
    }
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
            threshold: ThresholdConfig::default(),
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

fn default_plant_name() -> String {
    "CellGuard line".into()
}

/// How acquired values are kept.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HistoryConfig {
    /// Days of history kept; older samples are pruned hourly.
    pub retention_days: u32,
    /// At most one stored sample per tag in this interval (a change of quality is always stored).
    pub min_interval_ms: u64,
    /// Rows written per transaction at most.
    pub batch_size: usize,
    /// Longest time a sample waits before it is written.
    pub flush_interval_ms: u64,
}

impl Default for HistoryConfig {
    fn default() -> Self {
        Self {
            retention_days: 30,
            min_interval_ms: 1000,
            batch_size: 1000,
            flush_interval_ms: 500,
        }
    }
}

/// The built-in line simulator.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SimulatorConfig {
    /// Start a simulated PLC per device inside `cellguard serve`, on free loopback
    /// ports, and point acquisition at them instead of the configured hosts.
    pub embedded: bool,
    /// Seed for the simulator's randomness (a fixed seed repeats a run).
    pub seed: Option<u64>,
    /// Cells the simulated stations produce per minute when embedded (0: none).
    pub cells_per_minute: f64,
    /// Cells per simulated lot (each lot draws its own materials).
    pub cells_per_lot: u64,
}

impl Default for SimulatorConfig {
    fn default() -> Self {
        Self {
            embedded: false,
            seed: None,
            cells_per_minute: 30.0,
            cells_per_lot: 300,
        }
    }
}

/// How addresses in the file are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum AddressBase {
    /// Protocol addresses, 0-based (holding register 0 is the first).
    #[default]
    Zero,
    /// Modicon notation: 40001 is holding register 0, 30001 input register 0,
    /// 10001 discrete input 0, 1 coil 0 (six-digit 400001 style too).
    Modicon,
}

/// One PLC.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Device {
    /// Machine id, e.g. `CAS_01`.
    pub id: String,
    /// Human name, e.g. "Cell Assembly Station".
    #[serde(default)]
    pub name: String,
    /// Host name or address of the PLC.
    pub host: String,
    /// Modbus TCP port.
    #[serde(default = "default_port")]
    pub port: u16,
    /// Unit id (slave id) the PLC answers to.
    #[serde(default = "default_unit")]
    pub unit_id: u8,
    /// Default word order of multi-register values.
    #[serde(default)]
    pub word_order: WordOrder,
    /// How the tags' addresses are written.
    #[serde(default)]
    pub address_base: AddressBase,
    /// Time allowed for one request.
    #[serde(default = "default_timeout")]
    pub timeout_ms: u64,
    /// Time allowed to open the TCP connection.
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout_ms: u64,
    /// Unused registers a merged block read may span between two tags.
    #[serde(default = "default_max_gap")]
    pub max_gap: u16,
    /// Polling rates.
    pub scan_groups: Vec<ScanGroup>,
    /// The register map.
    pub tags: Vec<Tag>,
}

fn default_port() -> u16 {
    502
}
fn default_unit() -> u8 {
    1
}
fn default_timeout() -> u64 {
    500
}
fn default_connect_timeout() -> u64 {
    1000
}
fn default_max_gap() -> u16 {
    8
}

/// A polling rate shared by some tags of a device.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScanGroup {
    /// Name tags refer to.
    pub name: String,
    /// Time between two reads.
    pub period_ms: u64,
}

/// The Modbus table a tag lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Table {
    /// Read/write registers (function codes 3, 6, 16).
    Holding,
    /// Read-only registers (function code 4).
    Input,
    /// Read/write bits (function codes 1, 5, 15).
    Coil,
    /// Read-only bits (function code 2).
    Discrete,
}

impl Table {
    /// True for the two bit tables.
    pub fn is_bits(self) -> bool {
        matches!(self, Table::Coil | Table::Discrete)
    }
    fn modicon_prefix(self) -> u32 {
        match self {
            Table::Coil => 0,
            Table::Discrete => 1,
            Table::Input => 3,
            Table::Holding => 4,
        }
    }
}

/// Whether CellGuard may write a tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Access {
    /// Read only.
    #[default]
    Read,
    /// Read and write (needs limits).
    ReadWrite,
}

/// One value in a PLC.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tag {
    /// Name, unique within the device (e.g. `speed`).
    pub name: String,
    /// Label shown in the UI.
    #[serde(default)]
    pub label: String,
    /// Which table.
    pub table: Table,
    /// Address as written in the file (see the device's `address_base`);
    /// 0-based once the plant is loaded.
    pub address: u32,
    /// Encoded type.
    #[serde(rename = "type")]
    pub data_type: DataType,
    /// Registers of a string.
    #[serde(default)]
    pub length: u16,
    /// Bit of a register, for `type = "bit"` on a register table.
    #[serde(default)]
    pub bit: Option<u8>,
    /// Overrides the device's word order.
    #[serde(default)]
    pub word_order: Option<WordOrder>,
    /// Engineering value = raw × scale + offset.
    #[serde(default = "one")]
    pub scale: f64,
    /// See `scale`.
    #[serde(default)]
    pub offset: f64,
    /// Engineering unit.
    #[serde(default)]
    pub unit: String,
    /// Scan group name.
    pub scan_group: String,
    /// Read or read-write.
    #[serde(default)]
    pub access: Access,
    /// Lowest value CellGuard may write.
    #[serde(default)]
    pub min: Option<f64>,
    /// Highest value CellGuard may write.
    #[serde(default)]
    pub max: Option<f64>,
    /// Largest change one write may make.
    #[serde(default)]
    pub max_step: Option<f64>,
    /// Read the value back after a write and compare.
    #[serde(default = "yes")]
    pub verify: bool,
    /// Shown on the machine's overview card.
    #[serde(default)]
    pub key: bool,
    /// Marks the machine-state tag: raw value → PackML state name.
    #[serde(default)]
    pub states: Option<BTreeMap<String, String>>,
    /// Simulator behaviour of this tag.
    #[serde(default)]
    pub sim: Option<SimSpec>,
}

fn one() -> f64 {
    1.0
}
fn yes() -> bool {
    true
}

/// How the simulator drives a tag (engineering units).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SimSpec {
    /// Value around which the tag moves while the machine executes.
    pub nominal: f64,
    /// Standard deviation of the white noise added to each update.
    pub noise: f64,
    /// Standard deviation of the slow random walk (per second).
    pub drift: f64,
    /// Value the tag approaches when the machine is not executing.
    pub idle: Option<f64>,
    /// Writable tag whose value this tag follows (instead of `nominal`).
    pub follows: Option<String>,
    /// Time constant in seconds of the approach to the target.
    pub tau_s: Option<f64>,
    /// Other tags that push this one: target += k × (other − other's nominal).
    pub sensitivity: BTreeMap<String, f64>,
}

impl Tag {
    /// Registers (or bits) the tag occupies.
    pub fn width(&self) -> u16 {
        if self.table.is_bits() {
            1
        } else {
            self.data_type.register_count(self.length)
        }
    }
    /// The tag's word order, after the device default.
    pub fn order(&self, device: &Device) -> WordOrder {
        self.word_order.unwrap_or(device.word_order)
    }
    /// The label, or the name when none is set.
    pub fn display_label(&self) -> &str {
        if self.label.is_empty() {
            &self.name
        } else {
            &self.label
        }
    }
    /// Parsed state map (raw value → name), if this is a state tag.
    pub fn state_map(&self) -> Option<HashMap<i64, String>> {
        self.states.as_ref().map(|m| {
            m.iter()
                .filter_map(|(k, v)| k.trim().parse::<i64>().ok().map(|k| (k, v.clone())))
                .collect()
        })
    }
}

impl Device {
    /// The index of the state tag, if the device has one.
    pub fn state_tag(&self) -> Option<usize> {
        self.tags.iter().position(|t| t.states.is_some())
    }
}

/// One step of a path into the TOML document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    /// A table key.
    Key(String),
    /// An array index.
    Index(usize),
}

fn key(k: &str) -> Seg {
    Seg::Key(k.to_owned())
}

/// A problem in the plant file, located by file, line and field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file.
    pub file: PathBuf,
    /// 1-based line (0 when the error is not in the file, e.g. an environment variable).
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// Dotted path of the field, e.g. `devices[0].tags[2].address`.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(
                f,
                "{}: {}: {}",
                self.file.display(),
                self.field,
                self.message
            )
        } else {
            write!(
                f,
                "{}:{}:{}: {}: {}",
                self.file.display(),
                self.line,
                self.column,
                self.field,
                self.message
            )
        }
    }
}

/// Every problem found in one plant file.
#[derive(Debug, Clone, thiserror::Error)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

/// Reads, validates and resolves a plant file; `env` supplies overrides
/// (`CELLGUARD_DEVICE_<ID>_HOST`, `CELLGUARD_DEVICE_<ID>_PORT`).
pub fn load(path: &Path, env: &dyn Fn(&str) -> Option<String>) -> Result<Plant, ConfigErrors> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        ConfigErrors(vec![ConfigError {
            file: path.to_owned(),
            line: 0,
            column: 0,
            field: "(file)".into(),
            message: format!("cannot read the plant file: {e}"),
        }])
    })?;
    parse(path, &text, env)
}

/// [`load`] on text already read.
pub fn parse(
    path: &Path,
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Plant, ConfigErrors> {
    let locator = Locator::new(path, text);
    let mut plant: Plant =
        toml::from_str(text).map_err(|e| ConfigErrors(vec![locator.parse_error(&e)]))?;
    let problems = validate(&plant);
    if !problems.is_empty() {
        let mut errors: Vec<ConfigError> = problems
            .into_iter()
            .map(|(p, m)| locator.at(&p, m))
            .collect();
        errors.sort_by_key(|e| (e.line, e.column));
        return Err(ConfigErrors(errors));
    }
    normalise(&mut plant);
    apply_env(&mut plant, env).map_err(|errs| {
        ConfigErrors(
            errs.into_iter()
                .map(|(var, message)| ConfigError {
                    file: path.to_owned(),
                    line: 0,
                    column: 0,
                    field: var,
                    message,
                })
                .collect(),
        )
    })?;
    Ok(plant)
}

/// Maps document paths and byte offsets to lines and field names.
struct Locator<'a> {
    file: PathBuf,
    text: &'a str,
    doc: Option<toml::Spanned<DeTable<'a>>>,
}

impl<'a> Locator<'a> {
    fn new(file: &Path, text: &'a str) -> Self {
        Self {
            file: file.to_owned(),
            text,
            doc: DeTable::parse(text).ok(),
        }
    }

    fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let before = &self.text[..offset];
        let line = before.matches('\n').count() + 1;
        let column = before.rfind('\n').map_or(offset, |i| offset - i - 1) + 1;
        (line, column)
    }

    /// A validation problem at `path`: the deepest part of the path present in the
    /// file gives the line (a missing key points at its table).
    fn at(&self, path: &[Seg], message: String) -> ConfigError {
        let span = self.doc.as_ref().and_then(|d| span_of(d, path));
        let (line, column) = span.map_or((0, 0), |s| self.line_col(s));
        ConfigError {
            file: self.file.clone(),
            line,
            column,
            field: render_path(path),
            message,
        }
    }

    fn parse_error(&self, e: &toml::de::Error) -> ConfigError {
        let start = e.span().map(|s| s.start);
        let path = match (&self.doc, start) {
            (Some(d), Some(pos)) => path_at(d, pos),
            _ => Vec::new(),
        };
        let (line, column) = start.map_or((0, 0), |s| self.line_col(s));
        ConfigError {
            file: self.file.clone(),
            line,
            column,
            field: if path.is_empty() {
                "(document)".into()
            } else {
                render_path(&path)
            },
            message: e.message().trim().to_owned(),
        }
    }
}

fn render_path(path: &[Seg]) -> String {
    let mut out = String::new();
    for seg in path {
        match seg {
            Seg::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            Seg::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

fn table_get<'t, 'a>(
    t: &'t DeTable<'a>,
    k: &str,
) -> Option<(
    &'t toml::Spanned<std::borrow::Cow<'a, str>>,
    &'t toml::Spanned<DeValue<'a>>,
)> {
    t.iter().find(|(key, _)| key.get_ref().as_ref() == k)
}

/// Start offset of the deepest node on `path` that exists in the document.
fn span_of(doc: &toml::Spanned<DeTable<'_>>, path: &[Seg]) -> Option<usize> {
    let mut best = Some(doc.span().start);
    let mut cur: Option<&DeValue<'_>> = None;
    let mut root = Some(doc.get_ref());
    for seg in path {
        let next = match (seg, root.take(), cur) {
            (Seg::Key(k), Some(t), _) => table_get(t, k).map(|(key, v)| (key.span().start, v)),
            (Seg::Key(k), None, Some(DeValue::Table(t))) => {
                table_get(t, k).map(|(key, v)| (key.span().start, v))
            }
            (Seg::Index(i), None, Some(DeValue::Array(a))) => {
                a.get(*i).map(|v| (v.span().start, v))
            }
            _ => None,
        };
        match next {
            Some((start, v)) => {
                best = Some(start);
                cur = Some(v.get_ref());
            }
            None => break,
        }
    }
    best
}

/// The path of the smallest key or value whose span holds `pos` (array-of-tables
/// elements only span their header, so every node is searched).
fn path_at(doc: &toml::Spanned<DeTable<'_>>, pos: usize) -> Vec<Seg> {
    fn consider(
        span: std::ops::Range<usize>,
        pos: usize,
        path: &[Seg],
        best: &mut Option<(usize, Vec<Seg>)>,
    ) {
        let end = span.end.max(span.start + 1);
        if (span.start..end).contains(&pos) {
            let len = end - span.start;
            if best.as_ref().is_none_or(|(l, _)| len <= *l) {
                *best = Some((len, path.to_vec()));
            }
        }
    }
    fn walk_table(
        t: &DeTable<'_>,
        pos: usize,
        path: &mut Vec<Seg>,
        best: &mut Option<(usize, Vec<Seg>)>,
    ) {
        for (k, v) in t.iter() {
            path.push(Seg::Key(k.get_ref().to_string()));
            consider(k.span(), pos, path, best);
            consider(v.span(), pos, path, best);
            walk_value(v.get_ref(), pos, path, best);
            path.pop();
        }
    }
    fn walk_value(
        v: &DeValue<'_>,
        pos: usize,
        path: &mut Vec<Seg>,
        best: &mut Option<(usize, Vec<Seg>)>,
    ) {
        match v {
            DeValue::Table(t) => walk_table(t, pos, path, best),
            DeValue::Array(a) => {
                for (i, e) in a.iter().enumerate() {
                    path.push(Seg::Index(i));
                    if !matches!(e.get_ref(), DeValue::Table(_)) {
                        consider(e.span(), pos, path, best);
                    }
                    walk_value(e.get_ref(), pos, path, best);
                    path.pop();
                }
            }
            _ => {}
        }
    }
    let mut best = None;
    walk_table(doc.get_ref(), pos, &mut Vec::new(), &mut best);
    best.map(|(_, p)| p).unwrap_or_default()
}

type Problem = (Vec<Seg>, String);

/// Converts an address as written into a 0-based protocol address.
fn protocol_address(base: AddressBase, table: Table, written: u32) -> Result<u32, String> {
    match base {
        AddressBase::Zero => Ok(written),
        AddressBase::Modicon => {
            let p = table.modicon_prefix();
            let five = p * 10_000 + 1..=p * 10_000 + 9_999;
            let six = p * 100_000 + 1..=p * 100_000 + 65_536;
            if five.contains(&written) {
                Ok(written - p * 10_000 - 1)
            } else if six.contains(&written) {
                Ok(written - p * 100_000 - 1)
            } else {
                Err(format!(
                    "{written} is not a {table:?} address in Modicon notation (expected {}..={} or {}..={})",
                    five.start(),
                    five.end(),
                    six.start(),
                    six.end()
                )
                .to_lowercase())
            }
        }
    }
}

/// Everything serde cannot check. Returns each problem with its path.
fn validate_quality(q: &QualityConfig, out: &mut Vec<Problem>) {
    let qp = |rest: &[Seg]| {
        let mut p = vec![key("quality")];
        p.extend_from_slice(rest);
        p
    };
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
    if q.active_model.trim().is_empty() {
        out.push((qp(&[key("active_model")]), "must name a model".into()));
    }
    let mut ids = HashSet::new();
    for (pi, p) in q.products.iter().enumerate() {
        let pp = |rest: &[Seg]| {
            let mut v = vec![key("quality"), key("products"), Seg::Index(pi)];
            v.extend_from_slice(rest);
            v
        };
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
            let Some(d) = crate::quality::def(name) else {
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

fn validate(plant: &Plant) -> Vec<Problem> {
    let mut out: Vec<Problem> = Vec::new();
    let mut ids = HashSet::new();
    if plant.history.batch_size == 0 {
        out.push((
            vec![key("history"), key("batch_size")],
            "must be at least 1".into(),
        ));
    }
    if plant.history.flush_interval_ms == 0 {
        out.push((
            vec![key("history"), key("flush_interval_ms")],
            "must be at least 1".into(),
        ));
    }
    validate_quality(&plant.quality, &mut out);
    validate_mes(&plant.mes, &mut out);
    validate_writeback(plant, &mut out);
    let idle = plant.access.session_idle_minutes;
    if !idle.is_finite() || !(0.01..=10_080.0).contains(&idle) {
        out.push((
            vec![key("access"), key("session_idle_minutes")],
            "must be between 0.01 and 10080 (a week)".into(),
        ));
    }
    let cpm = plant.simulator.cells_per_minute;
    if !cpm.is_finite() || !(0.0..=6000.0).contains(&cpm) {
        out.push((
            vec![key("simulator"), key("cells_per_minute")],
            "must be between 0 and 6000".into(),
        ));
    }
    if !(1..=10_000_000).contains(&plant.simulator.cells_per_lot) {
        out.push((
            vec![key("simulator"), key("cells_per_lot")],
            "must be between 1 and 10000000".into(),
        ));
    }
    for (di, d) in plant.devices.iter().enumerate() {
        let dp = |rest: &[Seg]| {
            let mut p = vec![key("devices"), Seg::Index(di)];
            p.extend_from_slice(rest);
            p
        };
        if d.id.trim().is_empty()
            || !d
                .id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            out.push((
                dp(&[key("id")]),
                format!("device id {:?} must be letters, digits, '_' or '-'", d.id),
            ));
        }
        if !ids.insert(d.id.as_str()) {
            out.push((dp(&[key("id")]), format!("duplicate device id {:?}", d.id)));
        }
        if d.host.trim().is_empty() {
            out.push((dp(&[key("host")]), "host must not be empty".into()));
        }
        if d.port == 0 {
            out.push((dp(&[key("port")]), "port must be 1..=65535".into()));
        }
        if d.timeout_ms == 0 {
            out.push((dp(&[key("timeout_ms")]), "must be at least 1".into()));
        }
        if d.connect_timeout_ms == 0 {
            out.push((
                dp(&[key("connect_timeout_ms")]),
                "must be at least 1".into(),
            ));
        }
        if d.scan_groups.is_empty() {
            out.push((
                dp(&[key("scan_groups")]),
                "a device needs at least one scan group".into(),
            ));
        }
        let mut groups = HashSet::new();
        for (gi, g) in d.scan_groups.iter().enumerate() {
            if !groups.insert(g.name.as_str()) {
                out.push((
                    dp(&[key("scan_groups"), Seg::Index(gi), key("name")]),
                    format!("duplicate scan group {:?}", g.name),
                ));
            }
            if g.period_ms == 0 {
                out.push((
                    dp(&[key("scan_groups"), Seg::Index(gi), key("period_ms")]),
                    "must be at least 1".into(),
                ));
            }
        }
        let mut names = HashSet::new();
        let mut state_tags = 0;
        // (table, start, end exclusive, bit, tag index) for the overlap check
        let mut spans: Vec<(Table, u32, u32, Option<u8>, usize)> = Vec::new();
        for (ti, t) in d.tags.iter().enumerate() {
            let tp = |f: &str| dp(&[key("tags"), Seg::Index(ti), key(f)]);
            if t.name.trim().is_empty() {
                out.push((tp("name"), "tag name must not be empty".into()));
            }
            if !names.insert(t.name.as_str()) {
                out.push((
                    tp("name"),
                    format!("duplicate tag name {:?} in device {}", t.name, d.id),
                ));
            }
            if !groups.contains(t.scan_group.as_str()) {
                out.push((
                    tp("scan_group"),
                    format!("unknown scan group {:?}", t.scan_group),
                ));
            }
            if t.table.is_bits() && t.data_type != DataType::Bit {
                out.push((
                    tp("type"),
                    format!("{:?} tables hold bits: type must be \"bit\"", t.table).to_lowercase(),
                ));
            }
            if !t.table.is_bits() && t.data_type == DataType::Bit && t.bit.is_none() {
                out.push((tp("bit"), "a bit in a register needs `bit` (0..=15)".into()));
            }
            if let Some(b) = t.bit
                && b > 15
            {
                out.push((tp("bit"), format!("bit {b} is outside 0..=15")));
            }
            if t.data_type == DataType::String && t.length == 0 {
                out.push((tp("length"), "a string needs `length` (registers)".into()));
            }
            if !t.offset.is_finite() {
                out.push((tp("offset"), "offset must be a finite number".into()));
            }
            if !t.scale.is_finite() || t.scale == 0.0 {
                out.push((
                    tp("scale"),
                    "scale must be a finite, non-zero number".into(),
                ));
            }
            let width = t.width();
            if t.table.is_bits() && width > MAX_READ_BITS
                || !t.table.is_bits() && width > MAX_READ_REGISTERS
            {
                out.push((
                    tp("length"),
                    format!(
                        "{width} registers cannot be read at once (at most {MAX_READ_REGISTERS})"
                    ),
                ));
            }
            match protocol_address(d.address_base, t.table, t.address) {
                Err(m) => out.push((tp("address"), m)),
                Ok(a) => {
                    let end = a + u32::from(width);
                    if end > 65_536 {
                        out.push((
                            tp("address"),
                            format!("address {a} + {width} registers runs past 65535"),
                        ));
                    } else {
                        spans.push((
                            t.table,
                            a,
                            end,
                            if t.data_type == DataType::Bit {
                                t.bit
                            } else {
                                None
                            },
                            ti,
                        ));
                    }
                }
            }
            if t.access == Access::ReadWrite {
                if matches!(t.table, Table::Input | Table::Discrete) {
                    out.push((
                        tp("access"),
                        format!("{:?} tables are read-only", t.table).to_lowercase(),
                    ));
                }
                if matches!(t.data_type, DataType::String) {
                    out.push((tp("access"), "strings cannot be written".into()));
                }
                for (f, v) in [("min", t.min), ("max", t.max), ("max_step", t.max_step)] {
                    match v {
                        None => out.push((tp(f), format!("a writable tag needs `{f}`"))),
                        Some(x) if !x.is_finite() => {
                            out.push((tp(f), "must be a finite number".into()))
                        }
                        _ => {}
                    }
                }
                if let (Some(lo), Some(hi)) = (t.min, t.max)
                    && lo > hi
                {
                    out.push((tp("max"), format!("max {hi} is below min {lo}")));
                }
                if let Some(s) = t.max_step
                    && s <= 0.0
                {
                    out.push((tp("max_step"), "must be greater than 0".into()));
                }
            }
            if let Some(states) = &t.states {
                state_tags += 1;
                if t.table.is_bits()
                    || matches!(
                        t.data_type,
                        DataType::String | DataType::F32 | DataType::F64
                    )
                {
                    out.push((tp("type"), "a state tag must be an integer register".into()));
                }
                if states.is_empty() {
                    out.push((tp("states"), "the state map is empty".into()));
                }
                for (raw, name) in states {
                    let sp = dp(&[key("tags"), Seg::Index(ti), key("states"), key(raw)]);
                    if raw.trim().parse::<i64>().is_err() {
                        out.push((sp.clone(), format!("state key {raw:?} is not an integer")));
                    }
                    if !PACKML_STATES.contains(&name.as_str()) {
                        out.push((
                            sp,
                            format!(
                                "{name:?} is not a PackML state ({})",
                                PACKML_STATES.join(", ")
                            ),
                        ));
                    }
                }
            }
            if let Some(sim) = &t.sim {
                if let Some(f) = &sim.follows
                    && !d.tags.iter().any(|o| &o.name == f)
                {
                    out.push((
                        dp(&[key("tags"), Seg::Index(ti), key("sim"), key("follows")]),
                        format!("unknown tag {f:?}"),
                    ));
                }
                for other in sim.sensitivity.keys() {
                    if !d.tags.iter().any(|o| &o.name == other) {
                        out.push((
                            dp(&[
                                key("tags"),
                                Seg::Index(ti),
                                key("sim"),
                                key("sensitivity"),
                                key(other),
                            ]),
                            format!("unknown tag {other:?}"),
                        ));
                    }
                }
            }
        }
        if state_tags > 1 {
            out.push((
                dp(&[key("tags")]),
                "more than one tag has a state map".into(),
            ));
        }
        spans.sort_by_key(|s| (s.0, s.1));
        for w in spans.windows(2) {
            let (a, b) = (&w[0], &w[1]);
            let same_register_bits =
                a.3.is_some() && b.3.is_some() && a.3 != b.3 && a.1 == b.1 && a.2 == b.2;
            if a.0 == b.0 && b.1 < a.2 && !same_register_bits {
                out.push((
                    dp(&[key("tags"), Seg::Index(b.4), key("address")]),
                    format!(
                        "tag {:?} overlaps tag {:?} ({:?} {}..{})",
                        d.tags[b.4].name, d.tags[a.4].name, a.0, a.1, a.2
                    )
                    .replace("Holding", "holding")
                    .replace("Input", "input")
                    .replace("Coil", "coil")
                    .replace("Discrete", "discrete"),
                ));
            }
        }
    }
    out
}

/// Rewrites addresses to 0-based and fills labels (after validation).
fn normalise(plant: &mut Plant) {
    for d in &mut plant.devices {
        for t in &mut d.tags {
            if let Ok(a) = protocol_address(d.address_base, t.table, t.address) {
                t.address = a;
            }
        }
        d.address_base = AddressBase::Zero;
        if d.name.is_empty() {
            d.name = d.id.clone();
        }
    }
}

/// Environment variable prefix for a device's overrides.
pub fn env_prefix(device_id: &str) -> String {
    format!(
        "CELLGUARD_DEVICE_{}_",
        device_id.to_ascii_uppercase().replace('-', "_")
    )
}

fn apply_env(
    plant: &mut Plant,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(), Vec<(String, String)>> {
    let mut errs = Vec::new();
    if let Some(url) = env("CELLGUARD_MES_URL") {
        match reqwest::Url::parse(url.trim()) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {
                plant.mes.url = url.trim().to_owned();
                plant.mes.embedded = false;
            }
            _ => errs.push((
                "CELLGUARD_MES_URL".to_owned(),
                "must be an http:// or https:// URL".to_owned(),
            )),
        }
    }
    if let Some(token) = env("CELLGUARD_MES_TOKEN") {
        plant.mes.token = Secret::new(token.trim());
    }
    for d in &mut plant.devices {
        let prefix = env_prefix(&d.id);
        if let Some(h) = env(&format!("{prefix}HOST")) {
            if h.trim().is_empty() {
                errs.push((format!("{prefix}HOST"), "must not be empty".into()));
            } else {
                d.host = h.trim().to_owned();
            }
        }
        if let Some(p) = env(&format!("{prefix}PORT")) {
            match p.trim().parse::<u16>() {
                Ok(p) if p > 0 => d.port = p,
                _ => errs.push((
                    format!("{prefix}PORT"),
                    format!("{p:?} is not a port (1..=65535)"),
                )),
            }
        }
    }
    if errs.is_empty() { Ok(()) } else { Err(errs) }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
[[devices]]
id = "M1"
host = "127.0.0.1"
port = 1502
scan_groups = [{ name = "fast", period_ms = 100 }]

[[devices.tags]]
name = "speed"
table = "holding"
address = 0
type = "f32"
scan_group = "fast"
"#;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn errors(text: &str) -> Vec<ConfigError> {
        match parse(Path::new("plant.toml"), text, &no_env) {
            Ok(_) => panic!("expected errors for:\n{text}"),
            Err(e) => e.0,
        }
    }

    fn one_error(text: &str) -> ConfigError {
        let e = errors(text);
        assert_eq!(e.len(), 1, "{e:?}");
        e.into_iter().next().expect("one error")
    }

    fn with_tag(extra: &str) -> String {
        format!("{MINIMAL}\n[[devices.tags]]\n{extra}\n")
    }

    #[test]
    fn the_minimal_plant_loads() {
        let p = parse(Path::new("plant.toml"), MINIMAL, &no_env).expect("valid");
        assert_eq!(p.devices[0].tags[0].width(), 2);
        assert_eq!(p.devices[0].name, "M1");
    }

    #[test]
    fn the_shipped_default_plant_is_valid() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/plant.toml");
        let p = load(&path, &no_env).unwrap_or_else(|e| panic!("{e}"));
        let ids: Vec<_> = p.devices.iter().map(|d| d.id.as_str()).collect();
        assert_eq!(ids, ["CAS_01", "FORM_01", "EOL_01"]);
        for d in &p.devices {
            assert!(d.state_tag().is_some(), "{} has a state tag", d.id);
        }
        let rules: Vec<_> = p.writeback.rules.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(
            rules,
            ["cas-speed-on-high-risk", "form-current-on-low-efficiency"]
        );
        assert_eq!(p.writeback.mode_of("CAS_01"), WriteMode::Advisory);
    }

    #[test]
    fn modicon_addresses_become_zero_based() {
        let text = MINIMAL
            .replace("port = 1502", "port = 1502\naddress_base = \"modicon\"")
            .replace("address = 0", "address = 40001");
        let p = parse(Path::new("plant.toml"), &text, &no_env).expect("valid");
        assert_eq!(p.devices[0].tags[0].address, 0);
        let text = text.replace("address = 40001", "address = 400010");
        let p = parse(Path::new("plant.toml"), &text, &no_env).expect("valid");
        assert_eq!(p.devices[0].tags[0].address, 9);
    }

    #[test]
    fn a_holding_address_in_input_notation_is_rejected_with_its_line() {
        let text = MINIMAL
            .replace("port = 1502", "port = 1502\naddress_base = \"modicon\"")
            .replace("address = 0", "address = 30001");
        let e = one_error(&text);
        assert_eq!(e.field, "devices[0].tags[0].address");
        assert_eq!(e.line, 12);
        assert!(e.message.contains("not a holding address"), "{}", e.message);
    }

    #[test]
    fn an_unknown_type_names_the_field_and_line() {
        let e = one_error(&MINIMAL.replace("type = \"f32\"", "type = \"f33\""));
        assert_eq!(e.field, "devices[0].tags[0].type");
        assert_eq!(e.line, 12);
        assert!(e.message.contains("f33"), "{}", e.message);
        assert!(e.to_string().starts_with("plant.toml:12:"), "{e}");
    }

    #[test]
    fn an_unknown_field_is_refused() {
        let e = one_error(
            &MINIMAL.replace("scan_group = \"fast\"", "scan_group = \"fast\"\nscal = 2.0"),
        );
        assert!(e.message.contains("scal"), "{}", e.message);
        assert_eq!(e.line, 14);
    }

    #[test]
    fn a_toml_syntax_error_has_a_line() {
        let e = one_error("[[devices]\nid = 1");
        assert_eq!(e.line, 1);
    }

    #[test]
    fn duplicate_tag_names_are_rejected() {
        let e = one_error(&with_tag(
            "name = \"speed\"\ntable = \"holding\"\naddress = 10\ntype = \"u16\"\nscan_group = \"fast\"",
        ));
        assert_eq!(e.field, "devices[0].tags[1].name");
        assert!(e.message.contains("duplicate tag name"));
        assert_eq!(e.line, 16);
    }

    #[test]
    fn duplicate_device_ids_are_rejected() {
        let text = format!("{MINIMAL}\n{}", MINIMAL.trim_start());
        let e = one_error(&text);
        assert_eq!(e.field, "devices[1].id");
        assert!(e.message.contains("duplicate device id"));
    }

    #[test]
    fn overlapping_multi_word_tags_are_rejected() {
        let e = one_error(&with_tag(
            "name = \"temp\"\ntable = \"holding\"\naddress = 1\ntype = \"u16\"\nscan_group = \"fast\"",
        ));
        assert_eq!(e.field, "devices[0].tags[1].address");
        assert!(
            e.message.contains("overlaps tag \"speed\""),
            "{}",
            e.message
        );
        // the same address in another table is fine
        let ok = with_tag(
            "name = \"temp\"\ntable = \"input\"\naddress = 1\ntype = \"u16\"\nscan_group = \"fast\"",
        );
        assert!(parse(Path::new("p"), &ok, &no_env).is_ok());
    }

    #[test]
    fn two_bits_of_one_register_do_not_overlap() {
        let text = with_tag(
            "name = \"a\"\ntable = \"holding\"\naddress = 5\ntype = \"bit\"\nbit = 0\nscan_group = \"fast\"",
        ) + "[[devices.tags]]\nname = \"b\"\ntable = \"holding\"\naddress = 5\ntype = \"bit\"\nbit = 1\nscan_group = \"fast\"\n";
        assert!(parse(Path::new("p"), &text, &no_env).is_ok());
    }

    #[test]
    fn an_address_past_65535_is_rejected() {
        let e = one_error(&MINIMAL.replace("address = 0", "address = 65535"));
        assert!(e.message.contains("past 65535"), "{}", e.message);
        assert_eq!(e.field, "devices[0].tags[0].address");
    }

    #[test]
    fn a_string_longer_than_one_read_is_rejected() {
        let e = one_error(&with_tag(
            "name = \"serial\"\ntable = \"holding\"\naddress = 100\ntype = \"string\"\nlength = 126\nscan_group = \"fast\"",
        ));
        assert!(
            e.message.contains("cannot be read at once"),
            "{}",
            e.message
        );
        assert_eq!(e.field, "devices[0].tags[1].length");
    }

    #[test]
    fn a_writable_tag_without_limits_is_rejected_per_missing_limit() {
        let e = errors(&MINIMAL.replace(
            "scan_group = \"fast\"",
            "scan_group = \"fast\"\naccess = \"read_write\"\nmin = 0.0",
        ));
        let fields: Vec<_> = e.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            ["devices[0].tags[0].max", "devices[0].tags[0].max_step"]
        );
        assert!(e[0].message.contains("needs `max`"));
    }

    #[test]
    fn an_unknown_scan_group_is_rejected() {
        let e = one_error(&MINIMAL.replace("scan_group = \"fast\"", "scan_group = \"slow\""));
        assert_eq!(e.field, "devices[0].tags[0].scan_group");
    }

    #[test]
    fn a_state_map_must_use_packml_names() {
        let e = one_error(&with_tag(
            "name = \"state\"\ntable = \"holding\"\naddress = 10\ntype = \"u16\"\nscan_group = \"fast\"\nstates = { \"1\" = \"Execute\", \"2\" = \"Running\" }",
        ));
        assert_eq!(e.field, "devices[0].tags[1].states.2");
        assert!(e.message.contains("not a PackML state"));
    }

    #[test]
    fn bit_types_are_required_in_bit_tables() {
        let e = one_error(&MINIMAL.replace("table = \"holding\"", "table = \"coil\""));
        assert_eq!(e.field, "devices[0].tags[0].type");
    }

    /// Each remaining validation rule: (edit of MINIMAL, field named, words in the message).
    #[test]
    fn every_other_validation_error_names_its_field() {
        let w = |extra: &str| {
            MINIMAL.replace(
                "scan_group = \"fast\"",
                &format!("scan_group = \"fast\"\n{extra}"),
            )
        };
        let cases: Vec<(String, &str, &str)> = vec![
            (
                MINIMAL.replace("id = \"M1\"", "id = \"M 1\""),
                "devices[0].id",
                "must be letters",
            ),
            (
                MINIMAL.replace("host = \"127.0.0.1\"", "host = \" \""),
                "devices[0].host",
                "must not be empty",
            ),
            (
                MINIMAL.replace("port = 1502", "port = 0"),
                "devices[0].port",
                "1..=65535",
            ),
            (
                MINIMAL.replace("port = 1502", "port = 1502\ntimeout_ms = 0"),
                "devices[0].timeout_ms",
                "at least 1",
            ),
            (
                MINIMAL.replace("port = 1502", "port = 1502\nconnect_timeout_ms = 0"),
                "devices[0].connect_timeout_ms",
                "at least 1",
            ),
            (
                MINIMAL.replace("period_ms = 100", "period_ms = 0"),
                "devices[0].scan_groups[0].period_ms",
                "at least 1",
            ),
            (
                MINIMAL.replace(
                    "[{ name = \"fast\", period_ms = 100 }]",
                    "[{ name = \"fast\", period_ms = 100 }, { name = \"fast\", period_ms = 5 }]",
                ),
                "devices[0].scan_groups[1].name",
                "duplicate scan group",
            ),
            (
                MINIMAL.replace("type = \"f32\"", "type = \"bit\""),
                "devices[0].tags[0].bit",
                "needs `bit`",
            ),
            (
                MINIMAL.replace("type = \"f32\"", "type = \"bit\"\nbit = 16"),
                "devices[0].tags[0].bit",
                "outside 0..=15",
            ),
            (
                MINIMAL.replace("type = \"f32\"", "type = \"string\""),
                "devices[0].tags[0].length",
                "needs `length`",
            ),
            (w("scale = 0.0"), "devices[0].tags[0].scale", "non-zero"),
            (w("offset = inf"), "devices[0].tags[0].offset", "finite"),
            (
                MINIMAL.replace("table = \"holding\"", "table = \"input\"")
                    + "access = \"read_write\"\nmin = 0.0\nmax = 1.0\nmax_step = 1.0\n",
                "devices[0].tags[0].access",
                "read-only",
            ),
            (
                w("access = \"read_write\"\nmin = 5.0\nmax = 1.0\nmax_step = 1.0"),
                "devices[0].tags[0].max",
                "below min",
            ),
            (
                w("access = \"read_write\"\nmin = 0.0\nmax = 1.0\nmax_step = 0.0"),
                "devices[0].tags[0].max_step",
                "greater than 0",
            ),
            (
                w("states = {}"),
                "devices[0].tags[0].type",
                "integer register",
            ),
            (
                MINIMAL.replace("type = \"f32\"", "type = \"u16\"")
                    + "states = { \"x\" = \"Execute\" }\n",
                "devices[0].tags[0].states.x",
                "not an integer",
            ),
            (
                w("sim = { follows = \"nope\" }"),
                "devices[0].tags[0].sim.follows",
                "unknown tag",
            ),
            (
                w("sim = { sensitivity = { nope = 1.0 } }"),
                "devices[0].tags[0].sim.sensitivity.nope",
                "unknown tag",
            ),
            (
                format!("[history]\nbatch_size = 0\n{MINIMAL}"),
                "history.batch_size",
                "at least 1",
            ),
            (
                format!("[history]\nflush_interval_ms = 0\n{MINIMAL}"),
                "history.flush_interval_ms",
                "at least 1",
            ),
            (
                format!("[quality]\ntiers = {{ high = 0.1, moderate = 0.2 }}\n{MINIMAL}"),
                "quality.tiers.moderate",
                "below tiers.high",
            ),
            (
                format!("[quality]\ndefault_product = \"XX\"\n{MINIMAL}"),
                "quality.default_product",
                "not among",
            ),
            (
                format!(
                    "[[quality.products]]\nid = \"HC\"\nname = \"H\"\nlimits.kvalue = {{ usl = 1 }}\n{MINIMAL}"
                ),
                "quality.products[0].limits.kvalue",
                "not a known measurement",
            ),
            (
                format!(
                    "[[quality.products]]\nid = \"HC\"\nname = \"H\"\nlimits.ocv = {{ lsl = 4.0 }}\n{MINIMAL}"
                ),
                "quality.products[0].limits.ocv",
                "above upper limit",
            ),
            (
                format!("[quality]\nthreshold = {{ recall = 1.5 }}\n{MINIMAL}"),
                "quality.threshold.recall",
                "share",
            ),
            (
                format!("[simulator]\ncells_per_minute = -1\n{MINIMAL}"),
                "simulator.cells_per_minute",
                "between 0",
            ),
            (
                format!("[simulator]\ncells_per_lot = 0\n{MINIMAL}"),
                "simulator.cells_per_lot",
                "between 1",
            ),
            (
                format!("[access]\nsession_idle_minutes = 0\n{MINIMAL}"),
                "access.session_idle_minutes",
                "between 0.01",
            ),
            (
                format!("[writeback]\nmin_interval_s = -1\n{MINIMAL}"),
                "writeback.min_interval_s",
                "between 0",
            ),
            (
                format!("[writeback]\nallowed_states = [\"Running\"]\n{MINIMAL}"),
                "writeback.allowed_states[0]",
                "not a PackML state",
            ),
            (
                format!("[writeback]\nmodes = {{ M9 = \"automatic\" }}\n{MINIMAL}"),
                "writeback.modes.M9",
                "not a device",
            ),
            (
                format!(
                    "[[writeback.rules]]\nname = \"r\"\nmachine = \"M1\"\ntag = \"speed\"\nwhen = {{ high_risk_share = {{ last = 20, above = 0.2 }} }}\nchange = {{ step = -5.0 }}\nrationale = \"why\"\n{MINIMAL}"
                ),
                "writeback.rules[0].tag",
                "not writable",
            ),
            (
                format!(
                    "[[writeback.rules]]\nname = \"r\"\nmachine = \"M9\"\ntag = \"speed\"\nwhen = {{ high_risk_share = {{ last = 20, above = 0.2 }} }}\nchange = {{ step = -5.0 }}\nrationale = \"why\"\n{MINIMAL}"
                ),
                "writeback.rules[0].machine",
                "not a device",
            ),
            (
                format!(
                    "[[writeback.rules]]\nname = \"r\"\nmachine = \"M1\"\ntag = \"speed\"\nwhen = {{ high_risk_share = {{ last = 20, above = 1.5 }} }}\nchange = {{ step = -5.0 }}\nrationale = \"why\"\n{MINIMAL}"
                ),
                "writeback.rules[0].when",
                "share",
            ),
            (
                format!(
                    "[[writeback.rules]]\nname = \"r\"\nmachine = \"M1\"\ntag = \"speed\"\nwhen = {{ high_risk_share = {{ last = 20, above = 0.2 }} }}\nchange = {{ step = -5.0 }}\nrationale = \" \"\n{MINIMAL}"
                ),
                "writeback.rules[0].rationale",
                "must say why",
            ),
        ];
        for (text, field, words) in cases {
            let e = errors(&text);
            assert!(
                e.iter()
                    .any(|e| e.field == field && e.message.contains(words) && e.line > 0),
                "expected {field} ({words}) in {e:#?}\nfor:\n{text}"
            );
        }
    }

    #[test]
    fn two_state_tags_and_an_empty_state_map_are_rejected() {
        let text = MINIMAL.replace("type = \"f32\"", "type = \"u16\"\nstates = {}")
            + "[[devices.tags]]\nname = \"s2\"\ntable = \"holding\"\naddress = 9\ntype = \"u16\"\nscan_group = \"fast\"\nstates = { \"1\" = \"Idle\" }\n";
        let e = errors(&text);
        assert!(
            e.iter()
                .any(|e| e.field == "devices[0].tags[0].states" && e.message.contains("empty")),
            "{e:#?}"
        );
        assert!(
            e.iter()
                .any(|e| e.field == "devices[0].tags" && e.message.contains("more than one")),
            "{e:#?}"
        );
    }

    #[test]
    fn environment_overrides_host_and_port() {
        let env = |k: &str| match k {
            "CELLGUARD_DEVICE_M1_HOST" => Some("10.1.2.3".to_owned()),
            "CELLGUARD_DEVICE_M1_PORT" => Some("5020".to_owned()),
            _ => None,
        };
        let p = parse(Path::new("p"), MINIMAL, &env).expect("valid");
        assert_eq!(
            (p.devices[0].host.as_str(), p.devices[0].port),
            ("10.1.2.3", 5020)
        );
    }

    #[test]
    fn the_mes_url_and_token_come_from_the_environment_and_the_token_never_prints() {
        let env = |k: &str| match k {
            "CELLGUARD_MES_URL" => Some("https://mes.plant.local:8443/".to_owned()),
            "CELLGUARD_MES_TOKEN" => Some("s3cr3t-token".to_owned()),
            _ => None,
        };
        let text = format!("{MINIMAL}\n[mes]\nembedded = true\n");
        let p = parse(Path::new("p"), &text, &env).expect("valid");
        assert!(!p.mes.embedded, "an MES URL in the environment wins");
        assert_eq!(p.mes.url, "https://mes.plant.local:8443/");
        assert_eq!(p.mes.token.expose(), "s3cr3t-token");
        let shown = format!("{:?} {}", p.mes, toml::to_string(&p.mes).expect("toml"));
        assert!(!shown.contains("s3cr3t"), "{shown}");
        assert!(p.mes.enabled());
    }

    #[test]
    fn mes_settings_are_checked_with_their_line() {
        let text = format!(
            "{MINIMAL}\n[mes]\nurl = \"ftp://mes\"\norders_interval_s = 0\nretry_min_ms = 10\nretry_max_ms = 5\n"
        );
        let e = errors(&text);
        let fields: Vec<&str> = e.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            ["mes.url", "mes.orders_interval_s", "mes.retry_max_ms"],
            "{e:?}"
        );
        let url = &e[0];
        assert_eq!(url.line, MINIMAL.lines().count() + 3, "{url}");
        let bad_env = |k: &str| (k == "CELLGUARD_MES_URL").then(|| "not a url".to_owned());
        let err = parse(Path::new("p"), MINIMAL, &bad_env).expect_err("refused");
        assert_eq!(err.0[0].field, "CELLGUARD_MES_URL");
    }

    #[test]
    fn without_a_url_or_the_embedded_simulator_there_is_no_mes() {
        let p = parse(Path::new("p"), MINIMAL, &no_env).expect("valid");
        assert!(!p.mes.enabled());
    }

    #[test]
    fn a_bad_port_in_the_environment_names_the_variable() {
        let env = |k: &str| (k == "CELLGUARD_DEVICE_M1_PORT").then(|| "http".to_owned());
        let e = match parse(Path::new("p"), MINIMAL, &env) {
            Err(e) => e.0,
            Ok(_) => panic!("expected an error"),
        };
        assert_eq!(e[0].field, "CELLGUARD_DEVICE_M1_PORT");
    }

    #[test]
    fn a_missing_file_is_a_clear_error() {
        let e = load(Path::new("/nonexistent/plant.toml"), &no_env).expect_err("error");
        assert!(e.to_string().contains("cannot read the plant file"));
    }
}
