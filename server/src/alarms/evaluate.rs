//! Limit alarms on every scan: each tag's HiHi/Hi/Lo/LoLo checks, their runtime
//! conditions, indexed by tag so a scan batch costs one lookup per reading. No I/O:
//! the alarm task feeds it batches and persists what changes.

use app::alarm::limit::Condition;
use app::line::Quality;

use crate::bus::ScanBatch;
use crate::plant::{Plant, TagId};

/// One alarm's condition changing: raised (`active`) or cleared.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Change {
    /// Position of the alarm in [`LimitEvaluator::alarms`].
    pub alarm: usize,
    /// Raised (true) or cleared.
    pub active: bool,
    /// The value that made it change.
    pub value: f64,
    /// When it was read.
    pub ts_ms: i64,
}

/// Every tag limit of a plant, with the runtime condition of each.
#[derive(Debug)]
pub struct LimitEvaluator {
    /// `(tag, check index in the tag's alarms)` of each alarm, in plant order.
    alarms: Vec<(TagId, usize)>,
    /// Per device, per tag: the range of `alarms` (and `conditions`) that are its.
    ranges: Vec<Vec<(u32, u32)>>,
    conditions: Vec<Condition>,
    checks: Vec<app::alarm::limit::LimitCheck>,
}

impl LimitEvaluator {
    /// The limits of every tag of `plant`, all normal.
    pub fn new(plant: &Plant) -> Self {
        let mut alarms = Vec::new();
        let mut checks = Vec::new();
        let ranges = plant
            .devices
            .iter()
            .map(|d| {
                d.tags
                    .iter()
                    .map(|t| {
                        let start = alarms.len() as u32;
                        for (i, a) in t.alarms.iter().enumerate() {
                            alarms.push((t.id, i));
                            checks.push(a.check);
                        }
                        (start, alarms.len() as u32)
                    })
                    .collect()
            })
            .collect();
        Self {
            conditions: vec![Condition::default(); alarms.len()],
            alarms,
            ranges,
            checks,
        }
    }

    /// `(tag, index in the tag's alarms)` of every alarm, in the order changes name them.
    pub fn alarms(&self) -> &[(TagId, usize)] {
        &self.alarms
    }

    /// Marks alarm `i` active (as stored at the last stop), so it clears only when
    /// its value comes back inside the deadband.
    pub fn restore(&mut self, i: usize, active: bool) {
        if let Some(c) = self.conditions.get_mut(i) {
            *c = Condition::restored(active);
        }
    }

    /// Evaluates one scan batch; pushes each alarm that is raised or cleared to
    /// `out`. Bad-quality readings change nothing (the device's comm alarm speaks
    /// for them).
    pub fn scan(&mut self, batch: &ScanBatch, out: &mut Vec<Change>) {
        let Some(tags) = self.ranges.get(batch.device.index()) else {
            return;
        };
        for r in &batch.readings {
            let Some(&(start, end)) = tags.get(r.tag.index()) else {
                continue;
            };
            if start == end || r.quality != Quality::Good {
                continue;
            }
            let Some(v) = r.value.as_ref().and_then(|v| v.as_f64()) else {
                continue;
            };
            for i in start as usize..end as usize {
                if let Some(active) = self.checks[i].update(&mut self.conditions[i], v, batch.ts_ms)
                {
                    out.push(Change {
                        alarm: i,
                        active,
                        value: v,
                        ts_ms: batch.ts_ms,
                    });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bus::Reading;
    use crate::plant::file::tests::resolve_text;
    use app::line::Value;

    const PLANT: &str = r#"
[[devices]]
id = "M"
host = "h"
scan_groups = [{ name = "g", period_ms = 100 }]
tags = [
  { name = "plain", table = "holding", address = 0, type = "u16", scan_group = "g" },
  { name = "t", table = "holding", address = 1, type = "u16", scan_group = "g", alarms = { hi = 50.0, hihi = 60.0, deadband = 2.0 } },
]
"#;

    fn batch(plant: &Plant, v: f64, quality: Quality, ts_ms: i64) -> ScanBatch {
        let d = &plant.devices[0];
        ScanBatch {
            device: d.id,
            ts_ms,
            readings: d
                .tags
                .iter()
                .map(|t| Reading {
                    tag: t.id,
                    value: Some(Value::Number(v)),
                    quality,
                })
                .collect(),
        }
    }

    #[test]
    fn each_limit_of_a_tag_changes_on_its_own_and_bad_readings_change_nothing() {
        let plant = resolve_text(PLANT);
        let mut e = LimitEvaluator::new(&plant);
        assert_eq!(e.alarms().len(), 2, "HiHi and Hi of `t`; `plain` has none");
        let mut out = Vec::new();
        e.scan(&batch(&plant, 65.0, Quality::Good, 1), &mut out);
        assert_eq!(out.len(), 2, "{out:?}");
        assert!(
            out.iter()
                .all(|c| c.active && c.value == 65.0 && c.ts_ms == 1)
        );
        out.clear();
        e.scan(&batch(&plant, 10.0, Quality::Bad, 2), &mut out);
        assert!(out.is_empty(), "a bad reading clears nothing");
        e.scan(&batch(&plant, 55.0, Quality::Good, 3), &mut out);
        assert_eq!(out.len(), 1, "HiHi clears, Hi stays: {out:?}");
        assert!(!out[0].active);
        assert_eq!(
            e.alarms()[out[0].alarm].1,
            0,
            "the tag's first alarm is HiHi"
        );
    }

    #[test]
    fn a_restored_alarm_clears_only_through_its_deadband() {
        let plant = resolve_text(PLANT);
        let mut e = LimitEvaluator::new(&plant);
        e.restore(1, true);
        let mut out = Vec::new();
        e.scan(&batch(&plant, 49.0, Quality::Good, 1), &mut out);
        assert!(out.is_empty(), "49 is inside Hi's 2-unit deadband");
        e.scan(&batch(&plant, 47.5, Quality::Good, 2), &mut out);
        assert_eq!(out.len(), 1);
        assert!(!out[0].active);
    }
}
