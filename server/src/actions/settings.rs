//! `[writeback]` of the plant file: the modes machines start in, the envelope's
//! timing and states, the rules that propose corrective actions; and their
//! resolution against the typed plant.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use app::actions::{Change, Condition, WriteMode};
use serde::{Deserialize, Serialize};

use crate::plant::file::{DeviceFile, FileAccess};
use crate::plant::{DeviceId, PACKML_STATES, Plant, TagId};
use crate::problems::{Problem, Seg, key, path};

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
    /// Machines whose changes need a second person: the proposer cannot approve
    /// their own (and the machine cannot run in automatic mode).
    pub four_eyes: Vec<String>,
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
            four_eyes: Vec::new(),
            rules: Vec::new(),
        }
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

/// Everything serde cannot check in `[writeback]`: machines and tags must exist
/// in `devices`, and a rule's tag must be writable.
pub fn validate(w: &WritebackConfig, devices: &[DeviceFile], out: &mut Vec<Problem>) {
    let wp = |rest: &[Seg]| path(&[key("writeback")], rest);
    for machine in w.modes.keys() {
        if !devices.iter().any(|d| &d.id == machine) {
            out.push((
                wp(&[key("modes"), key(machine)]),
                format!("{machine:?} is not a device of this plant"),
            ));
        }
    }
    for (i, machine) in w.four_eyes.iter().enumerate() {
        let at = || wp(&[key("four_eyes"), Seg::Index(i)]);
        if !devices.iter().any(|d| &d.id == machine) {
            out.push((at(), format!("{machine:?} is not a device of this plant")));
        } else if w.modes.get(machine).copied().unwrap_or(w.default_mode) == WriteMode::Automatic {
            out.push((
                at(),
                format!(
                    "{machine} starts in automatic mode, where nobody approves: four-eyes \
                     needs a person to approve every change"
                ),
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
        let rp = |rest: &[Seg]| path(&[key("writeback"), key("rules"), Seg::Index(ri)], rest);
        if r.name.trim().is_empty() || !names.insert(r.name.as_str()) {
            out.push((
                rp(&[key("name")]),
                "must be a name not used by another rule".into(),
            ));
        }
        match devices.iter().find(|d| d.id == r.machine) {
            None => out.push((
                rp(&[key("machine")]),
                format!("{:?} is not a device of this plant", r.machine),
            )),
            Some(d) => match d.tags.iter().find(|t| t.name == r.tag) {
                Some(t) if t.access == FileAccess::ReadWrite => {}
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

/// A rule, resolved: its tag by id, its cooldown as a duration.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Name (shown and recorded with each action).
    pub name: String,
    /// The writable tag it changes.
    pub tag: TagId,
    /// The condition over recent cells.
    pub when: Condition,
    /// The change.
    pub change: Change,
    /// Why, in words for the person who approves.
    pub rationale: String,
    /// Time after an action of this rule before it proposes again.
    pub cooldown: Duration,
}

/// Corrective actions, resolved against the plant.
#[derive(Debug, Clone)]
pub struct WritebackSettings {
    /// Mode per machine until a supervisor switches it.
    pub modes: HashMap<DeviceId, WriteMode>,
    /// Mode of machines not named in `modes`.
    pub default_mode: WriteMode,
    /// PackML states in which writes are allowed.
    pub allowed_states: Vec<String>,
    /// Shortest time between two writes to one tag.
    pub min_interval: Duration,
    /// A proposal not approved within this long expires.
    pub expire_after: Duration,
    /// How often the rules look at the recent cells.
    pub evaluate_every: Duration,
    /// Cells before and after a write compared for its effect.
    pub effect_cells: u32,
    /// Machines whose changes a second person must approve.
    pub four_eyes: HashSet<DeviceId>,
    /// The rules.
    pub rules: Vec<Rule>,
}

impl WritebackSettings {
    /// The configured mode of `device`.
    pub fn mode_of(&self, device: DeviceId) -> WriteMode {
        self.modes
            .get(&device)
            .copied()
            .unwrap_or(self.default_mode)
    }
}

impl WritebackConfig {
    /// The settings of a validated `[writeback]` over the plant it was checked
    /// against (unknown machines and tags cannot remain after validation).
    pub fn resolve(&self, plant: &Plant) -> WritebackSettings {
        WritebackSettings {
            modes: self
                .modes
                .iter()
                .filter_map(|(m, mode)| Some((plant.device_named(m)?.id, *mode)))
                .collect(),
            default_mode: self.default_mode,
            allowed_states: self.allowed_states.clone(),
            min_interval: Duration::from_secs_f64(self.min_interval_s.max(0.0)),
            expire_after: Duration::from_secs_f64(self.expire_after_s.max(0.0)),
            evaluate_every: Duration::from_secs_f64(self.evaluate_every_s.max(0.1)),
            effect_cells: self.effect_cells,
            four_eyes: self
                .four_eyes
                .iter()
                .filter_map(|m| Some(plant.device_named(m)?.id))
                .collect(),
            rules: self
                .rules
                .iter()
                .filter_map(|r| {
                    Some(Rule {
                        name: r.name.clone(),
                        tag: plant.tag_named(&r.machine, &r.tag)?.id,
                        when: r.when.clone(),
                        change: r.change,
                        rationale: r.rationale.clone(),
                        cooldown: Duration::from_secs_f64(r.cooldown_s.max(0.0)),
                    })
                })
                .collect(),
        }
    }
}
