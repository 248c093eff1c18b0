//! The history writer: takes scans off the bus, keeps at most one sample per tag per
//! `min_interval` (a change of quality always counts), counts every good value into
//! the minute and hour rollups, feeds the in-memory rings, and hands batches to a
//! task of its own that writes them, so a slow commit never keeps this one from the
//! bus. On shutdown it drains what the bus still holds, writes the open rollup
//! intervals as partial rows and flushes the last batch.

use std::sync::Arc;
use std::time::Duration;

use app::line::{Quality, Value};
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use super::recent::Recent;
use super::rollup::{RollupRow, Rollups};
use super::settings::HistorySettings;
use super::{HistoryStore, Sample, Tier};
use crate::bus::{Bus, BusEvent, ScanBatch};
use crate::clock::{millis, now_ms};
use crate::plant::Plant;
use crate::storage::rollup::Rollup;

/// Rows waiting to be written at most; beyond this (the database has been failing
/// for a long time) the oldest are dropped, counted and logged.
const MAX_BACKLOG: usize = 200_000;

/// The number a value counts as in trends and rollups, if it is a good or stale
/// number (or bit).
fn number(value: Option<&Value>, quality: Quality) -> Option<f64> {
    if !matches!(quality, Quality::Good | Quality::Stale) {
        return None;
    }
    match value? {
        Value::Number(n) => Some(*n),
        Value::Bool(b) => Some(f64::from(u8::from(*b))),
        Value::Text(_) => None,
    }
}

/// Decides which readings become history rows (pure, no I/O).
pub struct Sampler {
    min_interval_ms: i64,
    last: Vec<Vec<Option<(i64, Quality)>>>,
}

impl Sampler {
    /// A sampler for the plant's tags, keeping one sample per `min_interval`.
    pub fn new(plant: &Plant, min_interval: Duration) -> Self {
        Self {
            min_interval_ms: millis(min_interval),
            last: plant
                .devices
                .iter()
                .map(|d| vec![None; d.tags.len()])
                .collect(),
        }
    }

    /// Appends the samples `batch` contributes to `out`.
    pub fn take(&mut self, batch: &ScanBatch, out: &mut Vec<Sample>) {
        let Some(last) = self.last.get_mut(batch.device.index()) else {
            return;
        };
        for r in &batch.readings {
            let Some(slot) = last.get_mut(r.tag.index()) else {
                continue;
            };
            let due = match *slot {
                None => true,
                Some((ts, q)) => q != r.quality || batch.ts_ms - ts >= self.min_interval_ms,
            };
            if !due {
                continue;
            }
            *slot = Some((batch.ts_ms, r.quality));
            let (value, text) = match &r.value {
                Some(Value::Number(n)) => (Some(*n), None),
                Some(Value::Bool(b)) => (Some(f64::from(u8::from(*b))), None),
                Some(Value::Text(t)) => (None, Some(t.clone())),
                None => (None, None),
            };
            out.push(Sample {
                tag: r.tag,
                ts_ms: batch.ts_ms,
                value,
                text,
                quality: r.quality,
            });
        }
    }
}

/// What the writer keeps per scan: samples, rollups, the rings (pure, no I/O).
pub struct Intake {
    sampler: Sampler,
    rollups: Rollups,
    recent: Arc<Recent>,
    /// Samples waiting to be written.
    pub samples: Vec<Sample>,
    /// Finished rollup rows waiting to be written.
    pub rolled: Vec<RollupRow>,
    /// Samples dropped because the backlog was full.
    pub dropped: u64,
}

impl Intake {
    /// An intake for `plant` feeding `recent`.
    pub fn new(plant: &Plant, cfg: &HistorySettings, recent: Arc<Recent>) -> Self {
        Self {
            sampler: Sampler::new(plant, cfg.min_interval),
            rollups: Rollups::new(plant),
            recent,
            samples: Vec::with_capacity(cfg.batch_size),
            rolled: Vec::new(),
            dropped: 0,
        }
    }

    /// Takes one scan.
    pub fn take(&mut self, batch: &ScanBatch) {
        let first = self.samples.len();
        self.sampler.take(batch, &mut self.samples);
        self.recent.push(
            batch.device,
            self.samples[first..].iter().filter_map(|s| {
                let v = s
                    .value
                    .filter(|_| matches!(s.quality, Quality::Good | Quality::Stale))?;
                Some((s.tag.index(), s.ts_ms, v))
            }),
        );
        for r in &batch.readings {
            if let Some(v) = number(r.value.as_ref(), r.quality) {
                self.rollups.add(r.tag, batch.ts_ms, v, &mut self.rolled);
            }
        }
        if self.samples.len() > MAX_BACKLOG {
            let n = self.samples.len() - MAX_BACKLOG;
            self.samples.drain(..n);
            self.dropped += n as u64;
        }
    }

    /// Closes the rollup intervals over by `now_ms`.
    pub fn tick(&mut self, now_ms: i64) {
        self.rollups.close_before(now_ms, &mut self.rolled);
    }

    /// Everything still open, at shutdown.
    pub fn finish(&mut self) {
        self.rollups.drain(&mut self.rolled);
    }

    fn batch(&mut self) -> Option<Batch> {
        if self.samples.is_empty() && self.rolled.is_empty() {
            return None;
        }
        Some(Batch {
            samples: std::mem::take(&mut self.samples),
            rolled: std::mem::take(&mut self.rolled),
        })
    }

    fn put_back(&mut self, mut b: Batch) {
        b.samples.append(&mut self.samples);
        b.rolled.append(&mut self.rolled);
        self.samples = b.samples;
        self.rolled = b.rolled;
    }
}

struct Batch {
    samples: Vec<Sample>,
    rolled: Vec<RollupRow>,
}

/// Runs the writer until `shutdown`, then flushes.
pub async fn run(
    plant: Arc<Plant>,
    cfg: HistorySettings,
    bus: Arc<Bus>,
    store: Arc<dyn HistoryStore>,
    recent: Arc<Recent>,
    shutdown: CancellationToken,
) {
    // Subscribe first: nothing scanned while the rollups are repaired is lost.
    let mut rx = bus.subscribe();
    if let Err(e) = store.rebuild_rollups().await {
        error!(error = %e, "repairing the rollups of the last hour failed");
    }
    let mut intake = Intake::new(&plant, &cfg, recent);
    let (tx, to_write) = mpsc::channel::<Batch>(2);
    let sink = tokio::spawn(write_batches(
        Arc::clone(&store),
        to_write,
        shutdown.clone(),
    ));
    let mut flush = tokio::time::interval(cfg.flush_interval);
    flush.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut lost: u64 = 0;
    let mut reported_drops = 0;
    loop {
        let due = tokio::select! {
            biased;
            () = shutdown.cancelled() => break,
            ev = rx.recv() => match ev {
                Ok(BusEvent::Scan(batch)) => {
                    intake.take(&batch);
                    intake.samples.len() >= cfg.batch_size
                }
                Ok(BusEvent::Link { .. }) => false,
                Err(RecvError::Lagged(n)) => {
                    lost += n;
                    error!(skipped = n, total = lost, "history writer fell behind the bus: scans lost");
                    false
                }
                Err(RecvError::Closed) => break,
            },
            _ = flush.tick() => {
                intake.tick(now_ms());
                true
            }
        };
        if intake.dropped > reported_drops {
            warn!(
                dropped = intake.dropped,
                "history backlog full (the database is not keeping up); oldest samples dropped"
            );
            reported_drops = intake.dropped;
        }
        if due && let Some(b) = intake.batch() {
            match tx.try_send(b) {
                Ok(()) => {}
                // The writer is still busy: keep collecting, send it all next time.
                Err(mpsc::error::TrySendError::Full(b) | mpsc::error::TrySendError::Closed(b)) => {
                    intake.put_back(b)
                }
            }
        }
    }
    // Whatever is already on the bus belongs to the last batch.
    loop {
        match rx.try_recv() {
            Ok(BusEvent::Scan(batch)) => intake.take(&batch),
            Ok(BusEvent::Link { .. }) => {}
            Err(TryRecvError::Lagged(n)) => {
                error!(
                    skipped = n,
                    "history writer fell behind the bus: scans lost"
                )
            }
            Err(TryRecvError::Empty | TryRecvError::Closed) => break,
        }
    }
    intake.finish();
    let n = intake.samples.len();
    if let Some(b) = intake.batch() {
        let _ = tx.send(b).await;
    }
    drop(tx);
    let _ = sink.await;
    info!(rows = n, "history writer flushed and stopped");
}

/// Fills the rings with what the database holds of their window, so a restart does
/// not blank the live pages' recent trends.
pub async fn seed_recent(plant: &Plant, store: &dyn HistoryStore, recent: &Recent) {
    let now = now_ms();
    let from = now - recent.window_ms();
    let buckets = u32::try_from(recent.window_ms() / 1000).unwrap_or(u32::MAX);
    for d in &plant.devices {
        let tags: Vec<_> = d
            .tags
            .iter()
            .filter(|t| t.is_numeric())
            .map(|t| t.id)
            .collect();
        match store.trend(&tags, from, now, buckets).await {
            Ok(series) => {
                for (tag, points) in tags.iter().zip(series) {
                    recent.push(d.id, points.iter().map(|b| (tag.index(), b.t, b.mean)));
                }
            }
            Err(e) => warn!(error = %e, machine_id = %d.machine, "recent history not loaded"),
        }
    }
}

/// Writes what the intake hands over, retrying a failed batch every second until it
/// is written or shutdown; after shutdown each batch gets one more try.
async fn write_batches(
    store: Arc<dyn HistoryStore>,
    mut batches: mpsc::Receiver<Batch>,
    shutdown: CancellationToken,
) {
    while let Some(b) = batches.recv().await {
        loop {
            match store.append(&b.samples, &b.rolled).await {
                Ok(()) => break,
                Err(e) => {
                    error!(error = %e, rows = b.samples.len(), "writing history failed; will retry");
                    if shutdown.is_cancelled() {
                        break;
                    }
                    tokio::select! {
                        () = shutdown.cancelled() => {}
                        () = tokio::time::sleep(Duration::from_secs(1)) => {}
                    }
                }
            }
        }
    }
}

/// Deletes raw samples and rollup rows older than their retention, hourly, until
/// `shutdown`. A task of its own: a large first prune must not keep the writer from
/// the bus.
pub async fn run_retention(
    cfg: HistorySettings,
    store: Arc<dyn HistoryStore>,
    shutdown: CancellationToken,
) {
    let tiers = [
        (Tier::Raw, cfg.retention),
        (Tier::Rollup(Rollup::Minute), cfg.minute_retention),
        (Tier::Rollup(Rollup::Hour), cfg.hour_retention),
        (Tier::Rollup(Rollup::Day), cfg.hour_retention),
    ];
    let mut prune = tokio::time::interval(Duration::from_secs(3600));
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = prune.tick() => {}
        }
        for (tier, keep) in tiers {
            let pruned = tokio::select! {
                () = shutdown.cancelled() => return,
                r = store.prune(tier, now_ms() - millis(keep)) => r,
            };
            match pruned {
                Ok(n) if n > 0 => info!(deleted = n, tier = ?tier, "pruned history"),
                Ok(_) => {}
                Err(e) => error!(error = %e, tier = ?tier, "pruning history failed"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bus::Reading;
    use crate::config::parse;
    use crate::plant::{DeviceId, TagId};
    use std::path::Path;

    const PLANT: &str = r#"
[history]
min_interval_ms = 1000
[[devices]]
id = "M"
host = "h"
scan_groups = [{ name = "g", period_ms = 100 }]
[[devices.tags]]
name = "a"
table = "holding"
address = 0
type = "u16"
scan_group = "g"
"#;

    fn batch(ts: i64, q: Quality) -> ScanBatch {
        ScanBatch {
            device: DeviceId::new(0),
            ts_ms: ts,
            readings: vec![Reading {
                tag: TagId::new(DeviceId::new(0), 0),
                value: Some(Value::Number(1.0)),
                quality: q,
            }],
        }
    }

    #[test]
    fn one_sample_per_interval_is_kept_but_quality_changes_always_are() {
        let s = parse(Path::new("p"), PLANT, &|_| None).expect("valid");
        let mut s = Sampler::new(&s.plant, s.history.min_interval);
        let mut out = Vec::new();
        for ts in (0..3000).step_by(100) {
            s.take(&batch(ts, Quality::Good), &mut out);
        }
        assert_eq!(
            out.iter().map(|r| r.ts_ms).collect::<Vec<_>>(),
            [0, 1000, 2000]
        );
        s.take(&batch(2100, Quality::CommLost), &mut out);
        s.take(&batch(2200, Quality::Good), &mut out);
        assert_eq!(out.len(), 5);
        assert_eq!(out[3].tag, TagId::new(DeviceId::new(0), 0));
        assert_eq!(out[3].quality, Quality::CommLost);
    }

    #[test]
    fn every_scan_counts_into_the_rollups_and_kept_samples_into_the_ring() {
        let s = parse(Path::new("p"), PLANT, &|_| None).expect("valid");
        let recent = Arc::new(Recent::new(&s.plant, Duration::from_secs(60)));
        let mut intake = Intake::new(&s.plant, &s.history, Arc::clone(&recent));
        // 10 scans a second for 61 s; one of them reads 50 instead of 1.
        for ts in (0..61_000).step_by(100) {
            let mut b = batch(ts, Quality::Good);
            if ts == 30_500 {
                b.readings[0].value = Some(Value::Number(50.0));
            }
            intake.take(&b);
        }
        intake.take(&batch(61_100, Quality::CommLost));
        assert_eq!(
            intake.samples.len(),
            62,
            "one a second, plus the quality change"
        );
        let minute = intake
            .rolled
            .iter()
            .find(|r| r.start_ms == 0)
            .expect("minute 0 closed");
        assert_eq!(minute.agg.count, 600, "every good scan counts");
        assert_eq!(
            minute.agg.max, 50.0,
            "the spike between two samples is kept"
        );
        intake.tick(3_600_000);
        assert_eq!(intake.rolled.len(), 3, "minute 0, minute 1 and hour 0");
        let tag = TagId::new(DeviceId::new(0), 0);
        assert_eq!(
            recent.points(tag, 0).len(),
            61,
            "the ring has the good samples only"
        );
        let b = intake.batch().expect("something to write");
        assert_eq!((b.samples.len(), b.rolled.len()), (62, 3));
        assert!(intake.batch().is_none());
    }

    #[test]
    fn unknown_devices_and_tags_are_ignored() {
        let s = parse(Path::new("p"), PLANT, &|_| None).expect("valid");
        let mut s = Sampler::new(&s.plant, s.history.min_interval);
        let mut out = Vec::new();
        s.take(
            &ScanBatch {
                device: DeviceId::new(7),
                ts_ms: 0,
                readings: vec![],
            },
            &mut out,
        );
        s.take(
            &ScanBatch {
                device: DeviceId::new(0),
                ts_ms: 0,
                readings: vec![Reading {
                    tag: TagId::new(DeviceId::new(0), 9),
                    value: None,
                    quality: Quality::Bad,
                }],
            },
            &mut out,
        );
        assert!(out.is_empty());
    }
}
