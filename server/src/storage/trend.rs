//! How a trend query is answered: which tier serves which part of the range, and
//! how rows fold into the chart's buckets. Pure, no I/O.
//!
//! A range is read from the coarsest tier whose rows are no wider than a bucket
//! needs, so a query returns at most the chart's width in buckets whatever the range:
//! a year of hour rows, a day of minute rows, minutes of raw samples. The interval
//! still open at the end of the range (its rollup row is not written yet) is read
//! from the next finer tier.

use super::history::{Bucket, Tier};
use super::rollup::{Agg, Rollup};

/// Rollups coarsest first, each with the narrowest bucket it serves: a bucket
/// spans at least a quarter of a row, so a chart of 600 buckets reads at most
/// 2 400 rows a tag.
const SERVES: [(Rollup, i64); 3] = [
    (Rollup::Day, 6 * 3_600_000),
    (Rollup::Hour, 15 * 60_000),
    (Rollup::Minute, 15_000),
];

/// One tier's share of a trend: rows (of a rollup, by interval start; of raw, by
/// sample time) in `[from_ms, to_ms]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    /// Where the rows come from.
    pub tier: Tier,
    /// First time included.
    pub from_ms: i64,
    /// Last time included.
    pub to_ms: i64,
}

/// A trend query's plan: the bucket width and the segments to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Width of one bucket (ms).
    pub width_ms: i64,
    /// How many buckets at most.
    pub buckets: i64,
    /// What to read, coarsest first.
    pub segments: Vec<Segment>,
}

/// The plan for `[from_ms, to_ms]` in at most `buckets` buckets.
pub fn plan(from_ms: i64, to_ms: i64, buckets: u32) -> Plan {
    let span = (to_ms - from_ms + 1).max(1);
    let n = i64::from(buckets.max(1));
    let width_ms = ((span + n - 1) / n).max(1);
    // The coarsest rollup the buckets allow, then each finer one for the interval
    // the coarser one still has open.
    let coarsest = SERVES
        .iter()
        .find(|(_, from)| width_ms >= *from)
        .map(|(r, _)| *r);
    let mut segments = Vec::new();
    let mut from = from_ms;
    for (rollup, _) in SERVES {
        if coarsest.is_none_or(|c| rollup.width_ms() > c.width_ms()) {
            continue;
        }
        let open = rollup.start_of(to_ms);
        if open > from {
            segments.push(Segment {
                tier: Tier::Rollup(rollup),
                from_ms: from,
                to_ms: open - 1,
            });
            from = open;
        }
    }
    if from <= to_ms {
        segments.push(Segment {
            tier: Tier::Raw,
            from_ms: from,
            to_ms,
        });
    }
    Plan {
        width_ms,
        buckets: n,
        segments,
    }
}

/// Folds grouped rows (bucket index and what it holds) into time-ordered buckets;
/// indexes outside `0..buckets` go to the nearest end.
pub fn fold(plan: &Plan, rows: impl IntoIterator<Item = (i64, Agg)>) -> Vec<Bucket> {
    let mut acc: Vec<(i64, Agg)> = Vec::new();
    for (i, agg) in rows {
        let i = i.clamp(0, plan.buckets - 1);
        match acc.binary_search_by_key(&i, |(j, _)| *j) {
            Ok(k) => acc[k].1.merge(&agg),
            Err(k) => acc.insert(k, (i, agg)),
        }
    }
    acc.into_iter()
        .map(|(_, a)| Bucket {
            t: a.last_ms,
            mean: a.mean(),
            min: a.min,
            max: a.max,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3_600_000;
    const D: i64 = 24 * H;

    #[test]
    fn short_ranges_read_raw_samples() {
        let p = plan(1_000, 1_000 + 2 * 60_000, 120);
        assert_eq!(p.segments.len(), 1);
        assert_eq!(p.segments[0].tier, Tier::Raw);
        assert_eq!(p.width_ms, 1_001);
    }

    #[test]
    fn a_day_reads_minutes_then_the_open_minute_raw() {
        let to = 100 * D + 5 * H + 30 * 60_000 + 12_345;
        let p = plan(to - D, to, 600);
        assert_eq!(
            p.segments,
            vec![
                Segment {
                    tier: Tier::Rollup(Rollup::Minute),
                    from_ms: to - D,
                    to_ms: to - 12_346,
                },
                Segment {
                    tier: Tier::Raw,
                    from_ms: to - 12_345,
                    to_ms: to,
                },
            ]
        );
    }

    #[test]
    fn a_week_and_a_month_read_hours_a_year_days_then_the_finer_tiers() {
        let to = 400 * D + 7 * H + 42 * 60_000 + 5_000;
        let (day, hour, minute) = (
            Tier::Rollup(Rollup::Day),
            Tier::Rollup(Rollup::Hour),
            Tier::Rollup(Rollup::Minute),
        );
        for (span, expected) in [
            (7 * D, vec![hour, minute, Tier::Raw]),
            (30 * D, vec![hour, minute, Tier::Raw]),
            (365 * D, vec![day, hour, minute, Tier::Raw]),
        ] {
            let p = plan(to - span, to, 600);
            let tiers: Vec<Tier> = p.segments.iter().map(|s| s.tier).collect();
            assert_eq!(tiers, expected);
            let n = p.segments.len();
            assert_eq!(p.segments[n - 3].to_ms, 400 * D + 7 * H - 1);
            assert_eq!(p.segments[n - 2].from_ms, 400 * D + 7 * H);
            assert_eq!(p.segments[n - 1].from_ms, to - 5_000);
            if span == 365 * D {
                assert_eq!(p.segments[0].to_ms, 400 * D - 1);
            }
            // Segments touch and never overlap.
            for w in p.segments.windows(2) {
                assert_eq!(w[0].to_ms + 1, w[1].from_ms);
            }
            assert!(span / p.width_ms <= 600);
        }
    }

    #[test]
    fn a_range_inside_the_open_interval_reads_only_finer_tiers() {
        // Hour-wide buckets, but the range lies inside the open hour.
        let to = 10 * D + 50 * 60_000;
        let p = plan(to - 40 * 60_000, to, 2);
        let tiers: Vec<Tier> = p.segments.iter().map(|s| s.tier).collect();
        assert_eq!(tiers, [Tier::Rollup(Rollup::Minute), Tier::Raw], "{p:?}");
    }

    #[test]
    fn rows_fold_into_ordered_buckets_and_strays_go_to_the_ends() {
        let p = plan(0, 999, 10);
        let b = fold(
            &p,
            [
                (3, Agg::one(350, 2.0)),
                (0, Agg::one(10, 1.0)),
                (3, Agg::one(390, 4.0)),
                (-2, Agg::one(0, 0.0)),
                (42, Agg::one(999, 9.0)),
            ],
        );
        assert_eq!(b.len(), 3);
        assert_eq!((b[0].t, b[0].min, b[0].max), (10, 0.0, 1.0));
        assert_eq!(
            (b[1].t, b[1].mean, b[1].min, b[1].max),
            (390, 3.0, 2.0, 4.0)
        );
        assert_eq!(b[2].t, 999);
    }
}
