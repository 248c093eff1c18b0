//! The plant file's `[[devices]]`: how a PLC's register map is written, what is
//! checked beyond serde, and its resolution into the typed [`super::Device`].

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::limits::{TagAlarmsFile, validate_tag};
use super::{
    Access, Device, DeviceId, PACKML_STATES, Plant, ScanGroup, SimBehaviour, StateMap, Tag, TagId,
    WriteLimits, packml_state,
};
use crate::modbus::codec::{DataType, WordOrder};
use crate::modbus::{MAX_READ_BITS, MAX_READ_REGISTERS};
use crate::problems::{Problem, Seg, key, path};

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
pub struct DeviceFile {
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
    /// Longest wait between two connection attempts while the PLC is unreachable
    /// (the wait doubles from 200 ms up to this).
    #[serde(default = "default_reconnect_max")]
    pub reconnect_max_ms: u64,
    /// Unused registers a merged block read may span between two tags.
    #[serde(default = "default_max_gap")]
    pub max_gap: u16,
    /// Polling rates.
    pub scan_groups: Vec<ScanGroupFile>,
    /// The register map.
    pub tags: Vec<TagFile>,
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
fn default_reconnect_max() -> u64 {
    5000
}
fn default_max_gap() -> u16 {
    8
}

/// A polling rate shared by some tags of a device.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScanGroupFile {
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
    /// How a person names `address` (0-based) of this table: "holding register
    /// 100 (40101)", the Modicon number in brackets.
    pub fn describe(self, address: u16) -> String {
        let name = match self {
            Table::Coil => "coil",
            Table::Discrete => "discrete input",
            Table::Input => "input register",
            Table::Holding => "holding register",
        };
        let a = u32::from(address);
        let p = self.modicon_prefix();
        let modicon = if a < 9_999 {
            p * 10_000 + a + 1
        } else {
            p * 100_000 + a + 1
        };
        format!(
            "{name} {address} ({modicon:0width$})",
            width = if a < 9_999 { 5 } else { 6 }
        )
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
pub enum FileAccess {
    /// Read only.
    #[default]
    Read,
    /// Read and write (needs limits).
    ReadWrite,
}

/// One value in a PLC.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TagFile {
    /// Name, unique within the device (e.g. `speed`).
    pub name: String,
    /// Label shown in the UI.
    #[serde(default)]
    pub label: String,
    /// Which table.
    pub table: Table,
    /// Address as written in the file (see the device's `address_base`).
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
    pub access: FileAccess,
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
    /// Limit alarms (HiHi, Hi, Lo, LoLo) on the tag's value.
    #[serde(default)]
    pub alarms: Option<TagAlarmsFile>,
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

impl TagFile {
    /// Registers (or bits) the tag occupies.
    pub fn width(&self) -> u16 {
        if self.table.is_bits() {
            1
        } else {
            self.data_type.register_count(self.length)
        }
    }
}

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

/// Everything serde cannot check in the devices: names, groups, types, addresses,
/// overlaps, limits of writable tags and state maps. Each problem with its path.
pub fn validate(devices: &[DeviceFile], out: &mut Vec<Problem>) {
    let mut ids = HashSet::new();
    for (di, d) in devices.iter().enumerate() {
        let dp = |rest: &[Seg]| path(&[key("devices"), Seg::Index(di)], rest);
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
        if !(200..=600_000).contains(&d.reconnect_max_ms) {
            out.push((
                dp(&[key("reconnect_max_ms")]),
                "must be between 200 and 600000".into(),
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
            if t.access == FileAccess::ReadWrite {
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
            if let Some(a) = &t.alarms {
                let numeric =
                    t.states.is_none() && !matches!(t.data_type, DataType::String | DataType::Bit);
                validate_tag(
                    a,
                    numeric,
                    &dp(&[key("tags"), Seg::Index(ti), key("alarms")]),
                    out,
                );
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
}

/// Builds the typed plant from validated devices: 0-based addresses, labels,
/// scan groups by index, write limits, state maps and simulator links resolved.
/// Call only on devices [`validate`] found no problem in.
pub fn resolve(name: String, devices: Vec<DeviceFile>) -> Plant {
    let devices = devices
        .into_iter()
        .enumerate()
        .map(|(di, d)| {
            let id = DeviceId(u32::try_from(di).unwrap_or(u32::MAX));
            let index_of = |name: &str| d.tags.iter().position(|t| t.name == name);
            let tags = d
                .tags
                .iter()
                .enumerate()
                .map(|(ti, t)| Tag {
                    id: TagId {
                        device: id,
                        tag: u16::try_from(ti).unwrap_or(u16::MAX),
                    },
                    name: t.name.clone(),
                    label: if t.label.is_empty() {
                        t.name.clone()
                    } else {
                        t.label.clone()
                    },
                    table: t.table,
                    address: protocol_address(d.address_base, t.table, t.address)
                        .ok()
                        .and_then(|a| u16::try_from(a).ok())
                        .unwrap_or(0),
                    data_type: t.data_type,
                    length: t.length,
                    bit: t.bit,
                    word_order: t.word_order.unwrap_or(d.word_order),
                    scale: t.scale,
                    offset: t.offset,
                    unit: t.unit.clone(),
                    scan_group: d
                        .scan_groups
                        .iter()
                        .position(|g| g.name == t.scan_group)
                        .unwrap_or(0),
                    access: match (t.access, t.min, t.max, t.max_step) {
                        (FileAccess::ReadWrite, Some(min), Some(max), Some(max_step)) => {
                            Access::ReadWrite(WriteLimits {
                                min,
                                max,
                                max_step,
                                verify: t.verify,
                            })
                        }
                        _ => Access::Read,
                    },
                    key: t.key,
                    states: t.states.as_ref().map(|m| {
                        StateMap::new(m.iter().filter_map(|(k, v)| {
                            Some((k.trim().parse::<i64>().ok()?, packml_state(v)?))
                        }))
                    }),
                    alarms: t
                        .alarms
                        .as_ref()
                        .map(TagAlarmsFile::resolve)
                        .unwrap_or_default(),
                    sim: t.sim.as_ref().map(|s| SimBehaviour {
                        nominal: s.nominal,
                        noise: s.noise,
                        drift: s.drift,
                        idle: s.idle,
                        follows: s.follows.as_deref().and_then(index_of),
                        tau: s.tau_s.map(Duration::from_secs_f64),
                        sensitivity: s
                            .sensitivity
                            .iter()
                            .filter_map(|(o, k)| Some((index_of(o)?, *k)))
                            .collect(),
                    }),
                })
                .collect();
            Device {
                id,
                name: if d.name.is_empty() {
                    d.id.clone()
                } else {
                    d.name.clone()
                },
                machine: d.id,
                host: d.host,
                port: d.port,
                unit_id: d.unit_id,
                timeout: Duration::from_millis(d.timeout_ms),
                connect_timeout: Duration::from_millis(d.connect_timeout_ms),
                reconnect_max: Duration::from_millis(d.reconnect_max_ms),
                max_gap: d.max_gap,
                scan_groups: d
                    .scan_groups
                    .into_iter()
                    .map(|g| ScanGroup {
                        name: g.name,
                        period: Duration::from_millis(g.period_ms),
                    })
                    .collect(),
                tags,
            }
        })
        .collect();
    Plant { name, devices }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::parse;
    use crate::config::tests::{MINIMAL, errors, no_env, one_error, with_tag};

    #[derive(Deserialize)]
    struct Devices {
        devices: Vec<DeviceFile>,
    }

    /// The typed plant of a text holding only `[[devices]]`, which must be valid.
    pub(crate) fn resolve_text(text: &str) -> Plant {
        let d: Devices = toml::from_str(text).expect("devices parse");
        let mut problems = Vec::new();
        validate(&d.devices, &mut problems);
        assert!(problems.is_empty(), "{problems:?}");
        resolve("test".into(), d.devices)
    }

    #[test]
    fn modicon_addresses_resolve_to_protocol_addresses() {
        let p = resolve_text(
            r#"
[[devices]]
id = "A"
host = "h"
address_base = "modicon"
scan_groups = [{ name = "g", period_ms = 100 }]
tags = [
  { name = "hr", table = "holding", address = 40101, type = "u16", scan_group = "g" },
  { name = "ir", table = "input", address = 300001, type = "u16", scan_group = "g" },
  { name = "co", table = "coil", address = 3, type = "bit", scan_group = "g", label = "Coil" },
]
"#,
        );
        let d = &p.devices[0];
        assert_eq!(d.tags[0].address, 100);
        assert_eq!(d.tags[1].address, 0);
        assert_eq!(d.tags[2].address, 2);
        assert_eq!(d.tags[0].label, "hr");
        assert_eq!(d.tags[2].label, "Coil");
        assert_eq!(d.name, "A");
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
    fn modicon_addresses_become_zero_based() {
        let text = MINIMAL
            .replace("port = 1502", "port = 1502\naddress_base = \"modicon\"")
            .replace("address = 0", "address = 40001");
        let p = parse(Path::new("plant.toml"), &text, &no_env).expect("valid");
        assert_eq!(p.plant.devices[0].tags[0].address, 0);
        let text = text.replace("address = 40001", "address = 400010");
        let p = parse(Path::new("plant.toml"), &text, &no_env).expect("valid");
        assert_eq!(p.plant.devices[0].tags[0].address, 9);
    }
}
