//! The last minutes of every numeric tag in memory: a ring per tag, fed by the
//! history writer with the samples it keeps, so the overview, a stream's first
//! snapshot and short trends never read the database. Pure (std only).
//!
//! One lock per device: the writer takes it once per scan batch, readers once per
//! machine they show.

use std::collections::VecDeque;
use std::sync::{PoisonError, RwLock};
use std::time::Duration;

use app::line::Point;

use crate::clock::millis;
use crate::plant::{DeviceId, Plant, TagId};

/// Recent values of every tag.
pub struct Recent {
    window_ms: i64,
    devices: Vec<RwLock<Vec<VecDeque<Point>>>>,
}

impl Recent {
    /// Empty rings for every tag of `plant`, each keeping `window` of values.
    pub fn new(plant: &Plant, window: Duration) -> Self {
        Self {
            window_ms: millis(window),
            devices: plant
                .devices
                .iter()
                .map(|d| RwLock::new(vec![VecDeque::new(); d.tags.len()]))
                .collect(),
        }
    }

    /// How far back the rings reach.
    pub fn window_ms(&self) -> i64 {
        self.window_ms
    }

    /// Adds `(tag index, time, value)` points of one device's batch; points older than
    /// the window behind each tag's newest are dropped, as is a point older than the
    /// tag's newest (the clock went back).
    pub fn push(&self, device: DeviceId, points: impl IntoIterator<Item = (usize, i64, f64)>) {
        let Some(lock) = self.devices.get(device.index()) else {
            return;
        };
        let mut rings = lock.write().unwrap_or_else(PoisonError::into_inner);
        for (i, t, v) in points {
            let Some(ring) = rings.get_mut(i) else {
                continue;
            };
            if ring.back().is_some_and(|last| last.0 > t) {
                continue;
            }
            ring.push_back((t, v));
            while ring
                .front()
                .is_some_and(|first| first.0 < t - self.window_ms)
            {
                ring.pop_front();
            }
        }
    }

    /// The points of `tag` at or after `from_ms`, oldest first.
    pub fn points(&self, tag: TagId, from_ms: i64) -> Vec<Point> {
        let Some(lock) = self.devices.get(tag.device().index()) else {
            return Vec::new();
        };
        let rings = lock.read().unwrap_or_else(PoisonError::into_inner);
        let Some(ring) = rings.get(tag.index()) else {
            return Vec::new();
        };
        let start = ring.partition_point(|p| p.0 < from_ms);
        ring.range(start..).copied().collect()
    }

    /// Whether a range starting at `from_ms` is in memory at `now_ms`.
    pub fn covers(&self, from_ms: i64, now_ms: i64) -> bool {
        from_ms >= now_ms - self.window_ms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ring_keeps_its_window_and_time_order() {
        let plant = crate::config::tests::minimal().plant;
        let tag = plant.devices[0].tags[0].id;
        let r = Recent::new(&plant, Duration::from_secs(10));
        r.push(tag.device(), (0..30).map(|s| (0, s * 1000, s as f64)));
        let p = r.points(tag, 0);
        assert_eq!(p.len(), 11, "29 s back to 19 s");
        assert_eq!(p.first(), Some(&(19_000, 19.0)));
        r.push(tag.device(), [(0, 5_000, -1.0), (7, 30_000, 1.0)]);
        assert_eq!(
            r.points(tag, 0).len(),
            11,
            "late and unknown points are left out"
        );
        assert_eq!(r.points(tag, 25_000).len(), 5);
        assert!(r.covers(25_000, 30_000));
        assert!(!r.covers(19_999, 30_000));
        let other = TagId::new(DeviceId::new(3), 0);
        assert!(r.points(other, 0).is_empty());
        r.push(DeviceId::new(3), [(0, 1, 1.0)]);
    }
}
