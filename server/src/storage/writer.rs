//! The history writer: takes scans off the bus, keeps at most one sample per tag per
//! `min_interval` (a change of quality always counts), and writes them in batches.
//! On shutdown it drains what the bus still holds and flushes the last batch.

use std::sync::Arc;
use std::time::Duration;

use app::line::{Quality, Value};
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use super::settings::HistorySettings;
use super::{HistoryRow, HistoryStore};
use crate::bus::{Bus, BusEvent, ScanBatch};
use crate::clock::millis;
use crate::clock::now_ms;
use crate::plant::Plant;

/// Decides which readings become history rows (pure, no I/O).
pub struct Sampler {
    min_interval_ms: i64,
    names: Vec<(Arc<str>, Vec<Arc<str>>)>,
    last: Vec<Vec<Option<(i64, Quality)>>>,
}

impl Sampler {
    /// A sampler for the plant's tags, keeping one sample per `min_interval`.
    pub fn new(plant: &Plant, min_interval: Duration) -> Self {
        Self {
            min_interval_ms: millis(min_interval),
            names: plant
                .devices
                .iter()
                .map(|d| {
                    (
                        Arc::from(d.machine.as_str()),
                        d.tags.iter().map(|t| Arc::from(t.name.as_str())).collect(),
                    )
                })
                .collect(),
            last: plant
                .devices
                .iter()
                .map(|d| vec![None; d.tags.len()])
                .collect(),
        }
    }

    /// Appends the rows `batch` contributes to `out`.
    pub fn take(&mut self, batch: &ScanBatch, out: &mut Vec<HistoryRow>) {
        let d = batch.device.index();
        let (Some((device, tags)), Some(last)) = (self.names.get(d), self.last.get_mut(d)) else {
            return;
        };
        for r in &batch.readings {
            let i = r.tag.index();
            let (Some(name), Some(slot)) = (tags.get(i), last.get_mut(i)) else {
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
            out.push(HistoryRow {
                device: Arc::clone(device),
                tag: Arc::clone(name),
                ts_ms: batch.ts_ms,
                value,
                text,
                quality: r.quality,
            });
        }
    }
}

/// Runs the writer until `shutdown`, then flushes.
pub async fn run(
    plant: Arc<Plant>,
    cfg: HistorySettings,
    bus: Arc<Bus>,
    store: Arc<dyn HistoryStore>,
    shutdown: CancellationToken,
) {
    let mut sampler = Sampler::new(&plant, cfg.min_interval);
    let mut rx = bus.subscribe();
    let mut pending: Vec<HistoryRow> = Vec::with_capacity(cfg.batch_size);
    let mut flush = tokio::time::interval(cfg.flush_interval);
    flush.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            () = shutdown.cancelled() => break,
            ev = rx.recv() => match ev {
                Ok(BusEvent::Scan(batch)) => {
                    sampler.take(&batch, &mut pending);
                    if pending.len() >= cfg.batch_size {
                        write(&*store, &mut pending).await;
                    }
                }
                Ok(BusEvent::Link { .. }) => {}
                Err(RecvError::Lagged(n)) => warn!(skipped = n, "history writer fell behind the bus"),
                Err(RecvError::Closed) => break,
            },
            _ = flush.tick() => write(&*store, &mut pending).await,
        }
    }
    // Whatever is already on the bus belongs to the last batch.
    loop {
        match rx.try_recv() {
            Ok(BusEvent::Scan(batch)) => sampler.take(&batch, &mut pending),
            Ok(BusEvent::Link { .. }) => {}
            Err(TryRecvError::Lagged(n)) => {
                warn!(skipped = n, "history writer fell behind the bus")
            }
            Err(TryRecvError::Empty | TryRecvError::Closed) => break,
        }
    }
    let n = pending.len();
    write(&*store, &mut pending).await;
    info!(rows = n, "history writer flushed and stopped");
}

/// Deletes history older than the retention, hourly, until `shutdown`. A task of its
/// own: a large first prune must not keep the writer from the bus.
pub async fn run_retention(
    retention: Duration,
    store: Arc<dyn HistoryStore>,
    shutdown: CancellationToken,
) {
    let retention_ms = millis(retention);
    let mut prune = tokio::time::interval(Duration::from_secs(3600));
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = prune.tick() => {}
        }
        let pruned = tokio::select! {
            () = shutdown.cancelled() => return,
            r = store.prune(now_ms() - retention_ms) => r,
        };
        match pruned {
            Ok(n) if n > 0 => info!(deleted = n, "pruned history"),
            Ok(_) => {}
            Err(e) => error!(error = %e, "pruning history failed"),
        }
    }
}

async fn write(store: &dyn HistoryStore, pending: &mut Vec<HistoryRow>) {
    if pending.is_empty() {
        return;
    }
    match store.append(pending).await {
        Ok(()) => pending.clear(),
        Err(e) => {
            // Keep the rows for the next attempt, but never grow without bound.
            error!(error = %e, rows = pending.len(), "writing history failed; will retry");
            if pending.len() > 100_000 {
                let drop = pending.len() - 100_000;
                pending.drain(..drop);
                warn!(
                    dropped = drop,
                    "history backlog too large; oldest rows dropped"
                );
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
        assert_eq!(&*out[3].tag, "a");
        assert_eq!(out[3].quality, Quality::CommLost);
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
