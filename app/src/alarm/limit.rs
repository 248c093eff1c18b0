//! A tag's limit conditions: each limit (HiHi, Hi, Lo, LoLo) is its own check with a
//! setpoint, a deadband (hysteresis: the value must come back that far inside before
//! the alarm clears) and an on-delay (the value must stay beyond the setpoint that
//! long before the alarm is raised, so a single spike raises nothing).
//!
//! This runs on every reading of every tag with limits (50 000 tags at 10 Hz on a
//! large line): [`LimitCheck::update`] does not allocate and takes a few compares.

use super::Limit;

/// One limit of one tag.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LimitCheck {
    /// Which limit.
    pub limit: Limit,
    /// Where the alarm starts (engineering units).
    pub setpoint: f64,
    /// How far back inside the value must come to clear it (≥ 0).
    pub deadband: f64,
    /// How long the value must stay beyond the setpoint (ms, ≥ 0).
    pub on_delay_ms: i64,
}

/// The runtime state of one check.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Condition {
    /// The alarm is active.
    pub active: bool,
    /// Since when the value has been beyond the setpoint (while not yet active).
    pub pending_since: Option<i64>,
}

impl Condition {
    /// A condition known to be `active` (e.g. as stored at the last stop).
    pub fn restored(active: bool) -> Self {
        Self {
            active,
            pending_since: None,
        }
    }
}

impl LimitCheck {
    /// A check, refused with a reason when a number is not usable.
    pub fn new(
        limit: Limit,
        setpoint: f64,
        deadband: f64,
        on_delay_ms: i64,
    ) -> Result<Self, String> {
        let c = Self {
            limit,
            setpoint,
            deadband,
            on_delay_ms,
        };
        c.validate()?;
        Ok(c)
    }

    /// Why the check is not usable, if it is not.
    pub fn validate(&self) -> Result<(), String> {
        if !self.setpoint.is_finite() {
            return Err(format!("{} must be a finite number", self.limit.as_str()));
        }
        if !(self.deadband.is_finite() && self.deadband >= 0.0) {
            return Err("deadband must be a finite number ≥ 0".into());
        }
        if self.on_delay_ms < 0 {
            return Err("on_delay_ms must be ≥ 0".into());
        }
        Ok(())
    }

    /// Takes a reading: `Some(true)` when the alarm is raised by it, `Some(false)`
    /// when it clears, `None` when nothing changes. A value that is not finite
    /// changes nothing.
    #[inline]
    pub fn update(&self, c: &mut Condition, value: f64, ts_ms: i64) -> Option<bool> {
        if !value.is_finite() {
            return None;
        }
        let high = self.limit.is_high();
        if c.active {
            let back = if high {
                value <= self.setpoint - self.deadband
            } else {
                value >= self.setpoint + self.deadband
            };
            if back {
                c.active = false;
                c.pending_since = None;
                return Some(false);
            }
            return None;
        }
        let beyond = if high {
            value > self.setpoint
        } else {
            value < self.setpoint
        };
        if !beyond {
            c.pending_since = None;
            return None;
        }
        let since = *c.pending_since.get_or_insert(ts_ms);
        if ts_ms.saturating_sub(since) >= self.on_delay_ms {
            c.active = true;
            c.pending_since = None;
            return Some(true);
        }
        None
    }
}

/// The checks of one tag's limits, in order HiHi, Hi, Lo, LoLo (absent ones left
/// out), sharing a deadband and an on-delay; refused with a message naming the
/// limits at fault when they are not in order (lolo < lo < hi < hihi) or a number is
/// not usable.
pub fn limit_checks(
    hihi: Option<f64>,
    hi: Option<f64>,
    lo: Option<f64>,
    lolo: Option<f64>,
    deadband: f64,
    on_delay_ms: i64,
) -> Result<Vec<LimitCheck>, String> {
    let given: Vec<(Limit, f64)> = [
        (Limit::HiHi, hihi),
        (Limit::Hi, hi),
        (Limit::Lo, lo),
        (Limit::LoLo, lolo),
    ]
    .into_iter()
    .filter_map(|(l, v)| v.map(|v| (l, v)))
    .collect();
    let checks = given
        .iter()
        .map(|&(l, v)| LimitCheck::new(l, v, deadband, on_delay_ms))
        .collect::<Result<Vec<_>, _>>()?;
    // Highest first: each must be above the next one given.
    for w in given.windows(2) {
        let ((a, av), (b, bv)) = (w[0], w[1]);
        if av <= bv {
            return Err(format!(
                "{} ({bv}) must be below {} ({av})",
                b.as_str(),
                a.as_str()
            ));
        }
    }
    Ok(checks)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn hi(setpoint: f64, deadband: f64, delay: i64) -> LimitCheck {
        LimitCheck::new(Limit::Hi, setpoint, deadband, delay).unwrap()
    }

    #[test]
    fn a_high_limit_raises_above_and_clears_below_its_deadband() {
        let h = hi(50.0, 1.0, 0);
        let mut c = Condition::default();
        assert_eq!(
            h.update(&mut c, 50.0, 0),
            None,
            "at the setpoint is not beyond"
        );
        assert_eq!(h.update(&mut c, 50.1, 1), Some(true));
        assert_eq!(h.update(&mut c, 51.0, 2), None);
        assert_eq!(
            h.update(&mut c, 49.5, 3),
            None,
            "inside the deadband stays active"
        );
        assert_eq!(h.update(&mut c, 49.0, 4), Some(false));
        assert!(!c.active);
    }

    #[test]
    fn a_low_limit_mirrors_it() {
        let l = LimitCheck::new(Limit::LoLo, 10.0, 0.5, 0).unwrap();
        let mut c = Condition::default();
        assert_eq!(l.update(&mut c, 9.9, 0), Some(true));
        assert_eq!(l.update(&mut c, 10.4, 1), None);
        assert_eq!(l.update(&mut c, 10.5, 2), Some(false));
    }

    #[test]
    fn the_on_delay_needs_the_value_beyond_all_along() {
        let h = hi(50.0, 0.0, 1_000);
        let mut c = Condition::default();
        assert_eq!(h.update(&mut c, 60.0, 0), None);
        assert_eq!(h.update(&mut c, 60.0, 999), None);
        assert_eq!(h.update(&mut c, 60.0, 1_000), Some(true));
        // A chattering value that never stays a second raises nothing.
        let mut c = Condition::default();
        for t in 0..20 {
            let v = if t % 2 == 0 { 60.0 } else { 40.0 };
            assert_eq!(h.update(&mut c, v, t * 600), None, "at {t}");
        }
    }

    #[test]
    fn values_that_are_not_numbers_change_nothing() {
        let h = hi(50.0, 0.0, 0);
        let mut c = Condition::default();
        assert_eq!(h.update(&mut c, f64::NAN, 0), None);
        assert_eq!(h.update(&mut c, f64::INFINITY, 0), None);
        assert_eq!(h.update(&mut c, 60.0, 1), Some(true));
        assert_eq!(h.update(&mut c, f64::NAN, 2), None);
        assert!(c.active);
    }

    #[test]
    fn limits_must_be_in_order_and_usable() {
        let ok = limit_checks(Some(60.0), Some(55.0), Some(20.0), None, 0.5, 0).unwrap();
        assert_eq!(
            ok.iter().map(|c| c.limit).collect::<Vec<_>>(),
            vec![Limit::HiHi, Limit::Hi, Limit::Lo]
        );
        assert_eq!(
            limit_checks(Some(75.0), Some(80.0), None, None, 0.0, 0).unwrap_err(),
            "hi (80) must be below hihi (75)"
        );
        assert!(
            limit_checks(None, Some(1.0), None, None, -1.0, 0)
                .unwrap_err()
                .starts_with("deadband")
        );
        assert!(limit_checks(None, Some(f64::NAN), None, None, 0.0, 0).is_err());
        assert!(
            limit_checks(None, None, None, None, 0.0, 0)
                .unwrap()
                .is_empty()
        );
    }
}
