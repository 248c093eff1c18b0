//! ISA-18.2's alarm performance figures: alarms per hour and per 10 minutes for one
//! operator position, and how that load compares with the standard's targets.
//!
//! The numbers follow ISA-18.2 (2016) §16.5 and EEMUA 191: about 1 alarm per 10
//! minutes is very likely acceptable, up to 2 is manageable, more is over target,
//! and more than 10 alarms in 10 minutes is an alarm flood.

use serde::{Deserialize, Serialize};

/// Ten minutes in ms.
pub const TEN_MINUTES_MS: i64 = 600_000;

/// How an alarm rate compares with ISA-18.2's targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Load {
    /// At most 1 per 10 minutes.
    Acceptable,
    /// At most 2 per 10 minutes.
    Manageable,
    /// More than 2, at most 10 per 10 minutes.
    OverTarget,
    /// More than 10 per 10 minutes.
    Flood,
}

impl Load {
    /// The load of `per_ten_minutes` alarms per 10 minutes.
    pub fn of(per_ten_minutes: f64) -> Load {
        if per_ten_minutes <= 1.0 {
            Load::Acceptable
        } else if per_ten_minutes <= 2.0 {
            Load::Manageable
        } else if per_ten_minutes <= 10.0 {
            Load::OverTarget
        } else {
            Load::Flood
        }
    }
}

/// Alarms per hour over the `window_ms` before `now_ms` (times in any order).
pub fn per_hour(times: &[i64], now_ms: i64, window_ms: i64) -> f64 {
    if window_ms <= 0 {
        return 0.0;
    }
    let from = now_ms.saturating_sub(window_ms);
    let n = times.iter().filter(|t| **t > from && **t <= now_ms).count();
    n as f64 * 3_600_000.0 / window_ms as f64
}

/// At most this many buckets (a leap year of 10-minute buckets); a longer range is
/// cut at `from_ms` plus that many buckets.
pub const MAX_BUCKETS: usize = 366 * 24 * 6;

/// Alarms in each 10-minute bucket from `from_ms` (inclusive) to `to_ms`
/// (exclusive): `(bucket start, count)`, every bucket present, at most
/// [`MAX_BUCKETS`] of them.
pub fn ten_minute_counts(times: &[i64], from_ms: i64, to_ms: i64) -> Vec<(i64, u32)> {
    if to_ms <= from_ms {
        return Vec::new();
    }
    // i128: no overflow whatever the bounds.
    let span = i128::from(to_ms) - i128::from(from_ms);
    let step = i128::from(TEN_MINUTES_MS);
    let buckets = ((span + step - 1) / step).min(MAX_BUCKETS as i128) as usize;
    let mut counts = vec![0u32; buckets];
    for &t in times {
        if t >= from_ms && t < to_ms {
            let i = (i128::from(t) - i128::from(from_ms)) / step;
            if let Some(c) = usize::try_from(i).ok().and_then(|i| counts.get_mut(i)) {
                *c = c.saturating_add(1);
            }
        }
    }
    counts
        .into_iter()
        .enumerate()
        .map(|(i, c)| (from_ms.saturating_add(i as i64 * TEN_MINUTES_MS), c))
        .collect()
}

/// The busiest 10 minutes (fixed buckets from `from_ms`).
pub fn peak_ten_minutes(times: &[i64], from_ms: i64, to_ms: i64) -> u32 {
    ten_minute_counts(times, from_ms, to_ms)
        .into_iter()
        .map(|(_, c)| c)
        .max()
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_count_the_window_only() {
        let h = 3_600_000;
        let times = [h / 2, h + 1, 2 * h, 3 * h + 5];
        assert_eq!(per_hour(&times, 2 * h, 2 * h), 1.5);
        assert_eq!(per_hour(&times, 2 * h, 0), 0.0);
        assert_eq!(per_hour(&[], 2 * h, h), 0.0);
    }

    #[test]
    fn ten_minute_buckets_and_their_peak() {
        let t = TEN_MINUTES_MS;
        let times = [0, 1, t - 1, t, 3 * t - 1, 5 * t];
        let c = ten_minute_counts(&times, 0, 3 * t);
        assert_eq!(c, vec![(0, 3), (t, 1), (2 * t, 1)]);
        assert_eq!(peak_ten_minutes(&times, 0, 3 * t), 3);
        assert_eq!(ten_minute_counts(&times, 5, 5), Vec::new());
        assert_eq!(ten_minute_counts(&[], 0, t + 1).len(), 2);
    }

    #[test]
    fn extreme_bounds_neither_panic_nor_allocate_without_end() {
        let c = ten_minute_counts(&[i64::MIN, 0, i64::MAX], i64::MIN, i64::MAX);
        assert_eq!(c.len(), MAX_BUCKETS);
        assert_eq!(c[0], (i64::MIN, 1));
        assert_eq!(peak_ten_minutes(&[i64::MAX - 1], i64::MAX - 5, i64::MAX), 1);
        assert_eq!(per_hour(&[0], i64::MIN, i64::MAX), 0.0);
    }

    #[test]
    fn loads_follow_the_standard() {
        assert_eq!(Load::of(0.0), Load::Acceptable);
        assert_eq!(Load::of(1.0), Load::Acceptable);
        assert_eq!(Load::of(1.5), Load::Manageable);
        assert_eq!(Load::of(5.0), Load::OverTarget);
        assert_eq!(Load::of(10.5), Load::Flood);
    }
}
