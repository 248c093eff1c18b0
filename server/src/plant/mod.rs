//! The plant as CellGuard runs it: devices, their register maps and scan groups,
//! resolved once at start-up from the plant file ([`file`]).
//!
//! Everything here is typed and proven by construction: tags are named by
//! [`TagId`]s (cheap, `Copy`, index-backed), a writable tag carries its
//! [`WriteLimits`], a state tag its parsed [`StateMap`], addresses are 0-based
//! protocol addresses and times are [`Duration`]s. Nothing after start-up parses a
//! string from the plant file again.

pub mod file;
pub mod limits;

pub use limits::LimitAlarm;

use std::collections::BTreeMap;
use std::time::Duration;

use crate::modbus::codec::{DataType, WordOrder};

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

/// The PackML state called `name`, as the `'static` name the state maps use.
pub fn packml_state(name: &str) -> Option<&'static str> {
    PACKML_STATES.iter().copied().find(|s| *s == name)
}

/// A device of the plant: its position in [`Plant::devices`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DeviceId(u32);

impl DeviceId {
    /// The device at `index` of its plant's devices (tests build ids by hand).
    #[cfg(test)]
    pub(crate) fn new(index: u32) -> Self {
        Self(index)
    }
    /// Position in [`Plant::devices`].
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// A tag of the plant: its device and its position in [`Device::tags`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TagId {
    device: DeviceId,
    tag: u16,
}

impl TagId {
    /// The tag at `index` of `device`'s tags (tests build ids by hand).
    #[cfg(test)]
    pub(crate) fn new(device: DeviceId, index: u16) -> Self {
        Self { device, tag: index }
    }
    /// The device the tag belongs to.
    pub fn device(self) -> DeviceId {
        self.device
    }
    /// Position in [`Device::tags`].
    pub fn index(self) -> usize {
        usize::from(self.tag)
    }
}

/// The Modbus table a tag lives in.
pub use file::Table;

/// What CellGuard may write to a tag, proven at start-up.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WriteLimits {
    /// Lowest value CellGuard may write.
    pub min: f64,
    /// Highest value CellGuard may write.
    pub max: f64,
    /// Largest change one write may make.
    pub max_step: f64,
    /// Read the value back after a write and compare.
    pub verify: bool,
}

/// Whether CellGuard may write a tag, with the limits a write must keep.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Access {
    /// Read only.
    Read,
    /// Read and write within the limits.
    ReadWrite(WriteLimits),
}

impl Access {
    /// The write limits, `None` for a read-only tag.
    pub fn limits(&self) -> Option<&WriteLimits> {
        match self {
            Access::Read => None,
            Access::ReadWrite(l) => Some(l),
        }
    }
    /// Whether CellGuard may write the tag.
    pub fn is_writable(&self) -> bool {
        matches!(self, Access::ReadWrite(_))
    }
}

/// A machine-state tag's map: raw register value → PackML state.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StateMap(BTreeMap<i64, &'static str>);

impl StateMap {
    /// A map from pairs (validated names only).
    pub fn new(pairs: impl IntoIterator<Item = (i64, &'static str)>) -> Self {
        Self(pairs.into_iter().collect())
    }
    /// The state a raw value stands for.
    pub fn name_of(&self, raw: i64) -> Option<&'static str> {
        self.0.get(&raw).copied()
    }
    /// The first raw value that stands for `state`.
    pub fn raw_of(&self, state: &str) -> Option<i64> {
        self.0.iter().find(|(_, n)| **n == state).map(|(k, _)| *k)
    }
    /// Raw values and their states, by raw value.
    pub fn iter(&self) -> impl Iterator<Item = (i64, &'static str)> + '_ {
        self.0.iter().map(|(k, v)| (*k, *v))
    }
}

/// A polling rate shared by some tags of a device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanGroup {
    /// Name (shown, and used by the plant file).
    pub name: String,
    /// Time between two reads.
    pub period: Duration,
}

/// How the simulator drives a tag (engineering units), with other tags resolved.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SimBehaviour {
    /// Value around which the tag moves while the machine executes.
    pub nominal: f64,
    /// Standard deviation of the white noise added to each update.
    pub noise: f64,
    /// Standard deviation of the slow random walk (per second).
    pub drift: f64,
    /// Value the tag approaches when the machine is not executing.
    pub idle: Option<f64>,
    /// Writable tag (index in the device) whose value this tag follows.
    pub follows: Option<usize>,
    /// Time constant of the approach to the target.
    pub tau: Option<Duration>,
    /// Other tags (index in the device) that push this one:
    /// target += k × (other − other's nominal).
    pub sensitivity: Vec<(usize, f64)>,
}

/// One value in a PLC.
#[derive(Debug, Clone, PartialEq)]
pub struct Tag {
    /// This tag.
    pub id: TagId,
    /// Name, unique within the device (e.g. `speed`).
    pub name: String,
    /// Label shown in the UI (the name when the file gives none).
    pub label: String,
    /// Which table.
    pub table: Table,
    /// 0-based protocol address.
    pub address: u16,
    /// Encoded type.
    pub data_type: DataType,
    /// Registers of a string.
    pub length: u16,
    /// Bit of a register, for `type = "bit"` on a register table.
    pub bit: Option<u8>,
    /// Word order of multi-register values (the device's unless overridden).
    pub word_order: WordOrder,
    /// Engineering value = raw × scale + offset.
    pub scale: f64,
    /// See `scale`.
    pub offset: f64,
    /// Engineering unit.
    pub unit: String,
    /// Position of its scan group in [`Device::scan_groups`].
    pub scan_group: usize,
    /// Read only, or writable within limits.
    pub access: Access,
    /// Shown on the machine's overview card.
    pub key: bool,
    /// The machine-state tag's map.
    pub states: Option<StateMap>,
    /// Limit alarms on the tag's value.
    pub alarms: Vec<LimitAlarm>,
    /// Simulator behaviour of this tag.
    pub sim: Option<SimBehaviour>,
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
    /// Whether the tag holds a number a chart can draw.
    pub fn is_numeric(&self) -> bool {
        self.states.is_none() && !matches!(self.data_type, DataType::String | DataType::Bit)
    }
}

/// One PLC.
#[derive(Debug, Clone, PartialEq)]
pub struct Device {
    /// This device.
    pub id: DeviceId,
    /// Machine id, e.g. `CAS_01`.
    pub machine: String,
    /// Human name, e.g. "Cell Assembly Station" (the machine id when none is set).
    pub name: String,
    /// Host name or address of the PLC.
    pub host: String,
    /// Modbus TCP port.
    pub port: u16,
    /// Unit id (slave id) the PLC answers to.
    pub unit_id: u8,
    /// Time allowed for one request.
    pub timeout: Duration,
    /// Time allowed to open the TCP connection.
    pub connect_timeout: Duration,
    /// Longest wait between two connection attempts.
    pub reconnect_max: Duration,
    /// Unused registers a merged block read may span between two tags.
    pub max_gap: u16,
    /// Polling rates.
    pub scan_groups: Vec<ScanGroup>,
    /// The register map.
    pub tags: Vec<Tag>,
}

impl Device {
    /// The machine-state tag, if the device has one.
    pub fn state_tag(&self) -> Option<&Tag> {
        self.tags.iter().find(|t| t.states.is_some())
    }
    /// The tag called `name`.
    pub fn tag(&self, name: &str) -> Option<&Tag> {
        self.tags.iter().find(|t| t.name == name)
    }
    /// The scan group of `tag`.
    pub fn group_of(&self, tag: &Tag) -> &ScanGroup {
        &self.scan_groups[tag.scan_group]
    }
    /// How long a value of `tag` stays fresh: three scans and a timeout.
    pub fn stale_after(&self, tag: &Tag) -> Duration {
        3 * self.group_of(tag).period + self.timeout
    }
}

/// The plant's devices, resolved and typed.
#[derive(Debug, Clone, PartialEq)]
pub struct Plant {
    /// What the plant is called in the UI.
    pub name: String,
    /// Devices in plant-file order; [`DeviceId`] indexes them.
    pub devices: Vec<Device>,
}

impl Plant {
    /// The device `id` names (ids come from this plant).
    pub fn device(&self, id: DeviceId) -> &Device {
        &self.devices[id.index()]
    }
    /// The tag `id` names (ids come from this plant).
    pub fn tag(&self, id: TagId) -> &Tag {
        &self.device(id.device).tags[id.index()]
    }
    /// The device whose machine id is `machine`.
    pub fn device_named(&self, machine: &str) -> Option<&Device> {
        self.devices.iter().find(|d| d.machine == machine)
    }
    /// The tag `tag` of machine `machine`.
    pub fn tag_named(&self, machine: &str, tag: &str) -> Option<&Tag> {
        self.device_named(machine)?.tag(tag)
    }
    /// Every tag of every device.
    pub fn tags(&self) -> impl Iterator<Item = &Tag> {
        self.devices.iter().flat_map(|d| d.tags.iter())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plant() -> Plant {
        file::tests::resolve_text(
            r#"
[[devices]]
id = "A"
host = "h"
scan_groups = [{ name = "g", period_ms = 100 }]
tags = [
  { name = "x", table = "holding", address = 0, type = "u16", scan_group = "g" },
  { name = "state", table = "holding", address = 1, type = "u16", scan_group = "g", states = { "6" = "Execute", "2" = "Stopped" } },
]
[[devices]]
id = "B"
host = "h"
timeout_ms = 250
scan_groups = [{ name = "g", period_ms = 1000 }]
tags = [
  { name = "y", table = "holding", address = 0, type = "u16", scan_group = "g", access = "read_write", min = 0.0, max = 10.0, max_step = 1.0 },
]
"#,
        )
    }

    #[test]
    fn ids_name_devices_and_tags_both_ways() {
        let p = plant();
        let y = p.tag_named("B", "y").expect("y");
        assert_eq!(p.tag(y.id).name, "y");
        assert_eq!(p.device(y.id.device()).machine, "B");
        assert_eq!(y.id.index(), 0);
        assert_eq!(y.id.device().index(), 1);
        assert!(p.tag_named("B", "x").is_none());
        assert_eq!(p.tags().count(), 3);
    }

    #[test]
    fn a_writable_tag_carries_its_limits() {
        let p = plant();
        let y = p.tag_named("B", "y").expect("y");
        let l = y.access.limits().expect("writable");
        assert_eq!((l.min, l.max, l.max_step, l.verify), (0.0, 10.0, 1.0, true));
        assert!(!p.tag_named("A", "x").expect("x").access.is_writable());
    }

    #[test]
    fn state_maps_are_parsed_once() {
        let p = plant();
        let d = p.device_named("A").expect("A");
        let s = d.state_tag().expect("state").states.as_ref().expect("map");
        assert_eq!(s.name_of(6), Some("Execute"));
        assert_eq!(s.name_of(7), None);
        assert_eq!(s.raw_of("Stopped"), Some(2));
    }

    #[test]
    fn staleness_is_three_scans_and_a_timeout() {
        let p = plant();
        let d = p.device_named("B").expect("B");
        let y = d.tag("y").expect("y");
        assert_eq!(d.stale_after(y), Duration::from_millis(3250));
    }
}
