//! A tag's limit alarms as the plant file writes them: `alarms = { hi = 47.0,
//! hihi = 49.0, deadband = 0.5, on_delay_ms = 1000 }` (ISA-18.2 treats HiHi and Hi as
//! two alarms, each with its priority), checked and resolved with the tag.

use app::alarm::limit::{LimitCheck, limit_checks};
use app::alarm::{Limit, Priority};
use serde::{Deserialize, Serialize};

use crate::problems::{Problem, Seg, key, path};
/// A tag's limit alarms as written: `alarms = { hi = 47.0, hihi = 49.0, deadband = 0.5 }`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TagAlarmsFile {
    /// High-high limit (engineering units).
    pub hihi: Option<f64>,
    /// High limit.
    pub hi: Option<f64>,
    /// Low limit.
    pub lo: Option<f64>,
    /// Low-low limit.
    pub lolo: Option<f64>,
    /// How far back inside a limit the value must come before the alarm clears.
    pub deadband: f64,
    /// How long a value must stay beyond a limit before the alarm is raised.
    pub on_delay_ms: u64,
    /// Priority per limit (defaults: HiHi and LoLo high, Hi and Lo medium).
    pub priority: LimitPriorities,
    /// What the operator should do, shown with the alarm.
    pub action: String,
}

/// Priority of each limit of a tag.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitPriorities {
    /// HiHi's priority.
    pub hihi: Option<Priority>,
    /// Hi's priority.
    pub hi: Option<Priority>,
    /// Lo's priority.
    pub lo: Option<Priority>,
    /// LoLo's priority.
    pub lolo: Option<Priority>,
}

impl LimitPriorities {
    fn of(&self, limit: Limit) -> Priority {
        match limit {
            Limit::HiHi => self.hihi.unwrap_or(Priority::High),
            Limit::Hi => self.hi.unwrap_or(Priority::Medium),
            Limit::Lo => self.lo.unwrap_or(Priority::Medium),
            Limit::LoLo => self.lolo.unwrap_or(Priority::High),
        }
    }
}

/// One limit alarm of a tag, resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct LimitAlarm {
    /// The limit, its setpoint, deadband and on-delay.
    pub check: LimitCheck,
    /// Its priority.
    pub priority: Priority,
    /// What the operator should do.
    pub action: String,
}

impl TagAlarmsFile {
    fn checks(&self) -> Result<Vec<LimitCheck>, String> {
        limit_checks(
            self.hihi,
            self.hi,
            self.lo,
            self.lolo,
            self.deadband,
            i64::try_from(self.on_delay_ms).unwrap_or(i64::MAX),
        )
    }

    /// The tag's limit alarms (call only on a file [`validate_tag`] accepted).
    pub fn resolve(&self) -> Vec<LimitAlarm> {
        self.checks()
            .unwrap_or_default()
            .into_iter()
            .map(|check| LimitAlarm {
                priority: self.priority.of(check.limit),
                action: self.action.trim().to_owned(),
                check,
            })
            .collect()
    }
}

/// Checks a tag's `alarms`: a numeric tag, at least one limit, limits in order.
pub fn validate_tag(a: &TagAlarmsFile, numeric: bool, at: &[Seg], out: &mut Vec<Problem>) {
    let p = |f: &str| path(at, &[key(f)]);
    if !numeric {
        out.push((
            path(at, &[]),
            "limit alarms need a numeric tag (not a state, string or bit)".into(),
        ));
    }
    if a.hihi.is_none() && a.hi.is_none() && a.lo.is_none() && a.lolo.is_none() {
        out.push((
            path(at, &[]),
            "give at least one of hihi, hi, lo, lolo".into(),
        ));
        return;
    }
    if a.on_delay_ms > 3_600_000 {
        out.push((
            p("on_delay_ms"),
            "must be at most 3600000 (one hour)".into(),
        ));
    }
    if let Err(m) = a.checks() {
        // The message names the limits at fault ("hi (80) must be below hihi (75)");
        // point at the first one it names.
        let field = ["deadband", "hihi", "lolo", "hi", "lo"]
            .into_iter()
            .find(|f| m.starts_with(f))
            .unwrap_or("hi");
        out.push((p(field), m));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_out_of_order_are_refused_with_the_field() {
        let a = TagAlarmsFile {
            hi: Some(80.0),
            hihi: Some(75.0),
            ..TagAlarmsFile::default()
        };
        let mut out = Vec::new();
        validate_tag(&a, true, &[key("t")], &mut out);
        assert_eq!(out.len(), 1, "{out:?}");
        assert!(out[0].1.contains("hihi"), "{out:?}");
    }

    #[test]
    fn a_tag_needs_a_limit_and_a_number() {
        let mut out = Vec::new();
        validate_tag(&TagAlarmsFile::default(), false, &[key("t")], &mut out);
        assert_eq!(out.len(), 2, "{out:?}");
    }

    #[test]
    fn priorities_default_by_limit() {
        let a = TagAlarmsFile {
            hi: Some(1.0),
            hihi: Some(2.0),
            priority: LimitPriorities {
                hi: Some(Priority::Low),
                ..LimitPriorities::default()
            },
            ..TagAlarmsFile::default()
        };
        let r = a.resolve();
        let of = |l: Limit| r.iter().find(|x| x.check.limit == l).map(|x| x.priority);
        assert_eq!(of(Limit::Hi), Some(Priority::Low));
        assert_eq!(of(Limit::HiHi), Some(Priority::High));
    }
}
