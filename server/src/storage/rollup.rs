//! Rollups: per tag, one row a minute, an hour and a (UTC) day with the lowest, highest, sum,
//! count and last of its good and stale numeric values, accumulated in memory as the
//! bus delivers them and written when the minute (hour) is over. Pure, no I/O.
//!
//! Every value read counts, not only the samples kept as raw history, so a spike
//! between two stored samples still reaches the minute's `max`.

use crate::plant::{Plant, TagId};

/// A rollup's resolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rollup {
    /// One row per tag and minute.
    Minute,
    /// One row per tag and hour.
    Hour,
    /// One row per tag and UTC day.
    Day,
}

impl Rollup {
    /// Both, finest first.
    pub const ALL: [Rollup; 3] = [Rollup::Minute, Rollup::Hour, Rollup::Day];

    /// Length of one row's interval.
    pub const fn width_ms(self) -> i64 {
        match self {
            Rollup::Minute => 60_000,
            Rollup::Hour => 3_600_000,
            Rollup::Day => 86_400_000,
        }
    }

    /// Start of the interval `ts_ms` falls in.
    pub const fn start_of(self, ts_ms: i64) -> i64 {
        ts_ms.div_euclid(self.width_ms()) * self.width_ms()
    }

    const fn slot(self) -> usize {
        match self {
            Rollup::Minute => 0,
            Rollup::Hour => 1,
            Rollup::Day => 2,
        }
    }
}

/// Lowest, highest, sum, count and last of some values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Agg {
    /// Lowest value.
    pub min: f64,
    /// Highest value.
    pub max: f64,
    /// Sum of the values.
    pub sum: f64,
    /// How many.
    pub count: u64,
    /// When the last one was read (unix ms).
    pub last_ms: i64,
    /// The last one.
    pub last: f64,
}

impl Agg {
    /// One value.
    pub fn one(ts_ms: i64, v: f64) -> Self {
        Self {
            min: v,
            max: v,
            sum: v,
            count: 1,
            last_ms: ts_ms,
            last: v,
        }
    }

    /// Adds one value.
    pub fn add(&mut self, ts_ms: i64, v: f64) {
        self.merge(&Self::one(ts_ms, v));
    }

    /// Adds what `other` holds.
    pub fn merge(&mut self, other: &Agg) {
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        self.sum += other.sum;
        self.count += other.count;
        if other.last_ms >= self.last_ms {
            self.last_ms = other.last_ms;
            self.last = other.last;
        }
    }

    /// The mean.
    pub fn mean(&self) -> f64 {
        self.sum / self.count.max(1) as f64
    }
}

/// One finished (or, at shutdown, partial) rollup row. Rows for the same tag and
/// interval merge when stored.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RollupRow {
    /// Which rollup.
    pub rollup: Rollup,
    /// The tag.
    pub tag: TagId,
    /// Start of the interval (unix ms).
    pub start_ms: i64,
    /// What the interval holds.
    pub agg: Agg,
}

/// The open minute, hour and day of every tag of a plant.
pub struct Rollups {
    offsets: Vec<usize>,
    tags: Vec<TagId>,
    open: Vec<[Option<(i64, Agg)>; 3]>,
}

impl Rollups {
    /// Nothing open yet, for every tag of `plant`.
    pub fn new(plant: &Plant) -> Self {
        let mut offsets = Vec::with_capacity(plant.devices.len());
        let mut tags = Vec::new();
        for d in &plant.devices {
            offsets.push(tags.len());
            tags.extend(d.tags.iter().map(|t| t.id));
        }
        Self {
            offsets,
            open: vec![[None; 3]; tags.len()],
            tags,
        }
    }

    fn slot(&self, tag: TagId) -> Option<usize> {
        let base = *self.offsets.get(tag.device().index())?;
        let i = base + tag.index();
        (self.tags.get(i) == Some(&tag)).then_some(i)
    }

    /// Counts value `v` of `tag` read at `ts_ms`; rows of intervals it closes go to
    /// `out`. A value from before the open interval (the clock went back) becomes a
    /// row of its own, merged with its interval when stored.
    pub fn add(&mut self, tag: TagId, ts_ms: i64, v: f64, out: &mut Vec<RollupRow>) {
        if !v.is_finite() {
            return;
        }
        let Some(i) = self.slot(tag) else {
            return;
        };
        for rollup in Rollup::ALL {
            let start = rollup.start_of(ts_ms);
            let open = &mut self.open[i][rollup.slot()];
            match open {
                Some((s, agg)) if *s == start => agg.add(ts_ms, v),
                Some((s, _)) if start < *s => out.push(RollupRow {
                    rollup,
                    tag,
                    start_ms: start,
                    agg: Agg::one(ts_ms, v),
                }),
                Some((s, agg)) => {
                    out.push(RollupRow {
                        rollup,
                        tag,
                        start_ms: *s,
                        agg: *agg,
                    });
                    *open = Some((start, Agg::one(ts_ms, v)));
                }
                None => *open = Some((start, Agg::one(ts_ms, v))),
            }
        }
    }

    /// Closes every interval that ended at or before `now_ms` (a tag that stopped
    /// reporting still gets its row).
    pub fn close_before(&mut self, now_ms: i64, out: &mut Vec<RollupRow>) {
        self.take(out, |rollup, start| start + rollup.width_ms() <= now_ms);
    }

    /// Everything still open, as partial rows (at shutdown).
    pub fn drain(&mut self, out: &mut Vec<RollupRow>) {
        self.take(out, |_, _| true);
    }

    fn take(&mut self, out: &mut Vec<RollupRow>, done: impl Fn(Rollup, i64) -> bool) {
        for (open, &tag) in self.open.iter_mut().zip(&self.tags) {
            for rollup in Rollup::ALL {
                let slot = &mut open[rollup.slot()];
                if let Some((start, agg)) = *slot
                    && done(rollup, start)
                {
                    out.push(RollupRow {
                        rollup,
                        tag,
                        start_ms: start,
                        agg,
                    });
                    *slot = None;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plant::DeviceId;

    fn plant() -> Plant {
        crate::config::tests::minimal().plant
    }

    #[test]
    fn values_roll_up_into_minutes_and_hours() {
        let plant = plant();
        let tag = plant.devices[0].tags[0].id;
        let mut r = Rollups::new(&plant);
        let mut out = Vec::new();
        // 0..=59 s: minute 0; 60 s starts minute 1 and closes minute 0.
        for s in 0..=60 {
            r.add(tag, s * 1000, s as f64, &mut out);
        }
        assert_eq!(out.len(), 1, "{out:?}");
        let m0 = out[0];
        assert_eq!((m0.rollup, m0.start_ms), (Rollup::Minute, 0));
        assert_eq!(
            (m0.agg.min, m0.agg.max, m0.agg.count, m0.agg.last),
            (0.0, 59.0, 60, 59.0)
        );
        assert!((m0.agg.mean() - 29.5).abs() < 1e-9);
        // Nothing more is due at 61 s; at 120 s minute 1 is; the hour at 3600 s.
        out.clear();
        r.close_before(61_000, &mut out);
        assert!(out.is_empty());
        r.close_before(120_000, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!((out[0].start_ms, out[0].agg.count), (60_000, 1));
        out.clear();
        r.close_before(3_600_000, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].rollup, Rollup::Hour);
        assert_eq!(out[0].agg.count, 61);
        assert_eq!(out[0].agg.max, 60.0);
    }

    #[test]
    fn a_late_value_gets_a_row_of_its_own_and_non_numbers_are_ignored() {
        let plant = plant();
        let tag = plant.devices[0].tags[0].id;
        let mut r = Rollups::new(&plant);
        let mut out = Vec::new();
        r.add(tag, 120_000, 1.0, &mut out);
        r.add(tag, 5_000, 7.0, &mut out);
        r.add(tag, 121_000, f64::NAN, &mut out);
        assert_eq!(out.len(), 1, "only the minute: the hour is the same");
        assert_eq!((out[0].start_ms, out[0].agg.max), (0, 7.0));
        out.clear();
        r.drain(&mut out);
        assert_eq!(out.len(), 3, "minute, hour and day");
        assert!(
            out.iter()
                .all(|row| row.agg.count == 2 || row.agg.count == 1)
        );
        let hour = out
            .iter()
            .find(|row| row.rollup == Rollup::Hour)
            .expect("hour");
        assert_eq!((hour.agg.count, hour.agg.last), (2, 1.0), "last is by time");
    }

    #[test]
    fn tags_the_plant_does_not_have_are_ignored() {
        let plant = plant();
        let mut r = Rollups::new(&plant);
        let mut out = Vec::new();
        r.add(TagId::new(DeviceId::new(9), 0), 0, 1.0, &mut out);
        r.add(TagId::new(DeviceId::new(0), 99), 0, 1.0, &mut out);
        r.drain(&mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn merging_keeps_the_extremes_and_the_latest() {
        let mut a = Agg::one(10, 5.0);
        a.merge(&Agg::one(5, -1.0));
        a.merge(&Agg::one(20, 3.0));
        assert_eq!((a.min, a.max, a.sum, a.count), (-1.0, 5.0, 7.0, 3));
        assert_eq!((a.last_ms, a.last), (20, 3.0));
        assert_eq!(Rollup::Minute.start_of(-1), -60_000);
    }
}
