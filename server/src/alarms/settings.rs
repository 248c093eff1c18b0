//! `[alarms]` of the plant file: the priorities of the alarms that do not come from
//! a tag's limits, how long a shelf may last, how often the slower sources are read.

use std::time::Duration;

use app::alarm::{Priority, Source};
use serde::{Deserialize, Serialize};

use crate::problems::{Problem, key};

/// The `[alarms]` section.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlarmsConfig {
    /// Priority of the alarms each source other than tag limits raises.
    pub priority: SourcePriorities,
    /// The longest a supervisor may shelve an alarm for.
    pub max_shelve_hours: f64,
    /// How often SPC charts, lots, the MES and failed writes are looked at.
    pub check_every_s: f64,
}

impl Default for AlarmsConfig {
    fn default() -> Self {
        Self {
            priority: SourcePriorities::default(),
            max_shelve_hours: 12.0,
            check_every_s: 5.0,
        }
    }
}

/// Priority per source.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SourcePriorities {
    /// A PLC that does not answer, or answers with bad quality.
    pub comm: Priority,
    /// A failed PLC write.
    pub write: Priority,
    /// An SPC rule violation.
    pub spc: Priority,
    /// A lot entering the highest risk tier.
    pub lot_tier: Priority,
    /// A model drift warning.
    pub drift: Priority,
    /// MES messages given up on (dead letters).
    pub mes: Priority,
}

impl Default for SourcePriorities {
    fn default() -> Self {
        Self {
            comm: Priority::High,
            write: Priority::High,
            spc: Priority::Medium,
            lot_tier: Priority::High,
            drift: Priority::Low,
            mes: Priority::Medium,
        }
    }
}

impl SourcePriorities {
    /// The priority of `source`'s alarms (tag limits carry their own).
    pub fn of(&self, source: Source) -> Priority {
        match source {
            Source::Limit => Priority::Medium,
            Source::Comm => self.comm,
            Source::Write => self.write,
            Source::Spc => self.spc,
            Source::LotTier => self.lot_tier,
            Source::Drift => self.drift,
            Source::Mes => self.mes,
        }
    }
}

/// `[alarms]`, resolved.
#[derive(Debug, Clone)]
pub struct AlarmSettings {
    /// Priority per source.
    pub priority: SourcePriorities,
    /// Longest shelf.
    pub max_shelve: Duration,
    /// How often the slower sources are looked at.
    pub check_every: Duration,
}

impl AlarmsConfig {
    /// Resolves a section [`validate`] accepted.
    pub fn resolve(&self) -> AlarmSettings {
        AlarmSettings {
            priority: self.priority.clone(),
            max_shelve: Duration::from_secs_f64(self.max_shelve_hours * 3600.0),
            check_every: Duration::from_secs_f64(self.check_every_s),
        }
    }
}

impl Default for AlarmSettings {
    fn default() -> Self {
        AlarmsConfig::default().resolve()
    }
}

/// Checks `[alarms]`.
pub fn validate(a: &AlarmsConfig, out: &mut Vec<Problem>) {
    let p = |f: &str| vec![key("alarms"), key(f)];
    if !(a.max_shelve_hours.is_finite() && a.max_shelve_hours > 0.0 && a.max_shelve_hours <= 168.0)
    {
        out.push((
            p("max_shelve_hours"),
            "must be more than 0 and at most 168 (a week)".into(),
        ));
    }
    if !(a.check_every_s.is_finite() && (0.1..=3600.0).contains(&a.check_every_s)) {
        out.push((p("check_every_s"), "must be between 0.1 and 3600".into()));
    }
}
