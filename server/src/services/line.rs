//! The line service: builds the views the UI asks for from the bus and history.

use std::sync::Arc;

use app::api::service::{LineService, ServiceError};
use app::line::{HistoryRange, LineView, Link, MachineView, Quality, Series, TagView};
use async_trait::async_trait;
use tracing::warn;

use crate::bus::Bus;
use crate::clock::millis;
use crate::clock::now_ms;
use crate::plant::{Plant, Tag, TagId};
use crate::storage::recent::Recent;
use crate::storage::rollup::Agg;
use crate::storage::{Bucket, HistoryStore, trend};

/// Points a history chart gets at most per tag.
const CHART_BUCKETS: u32 = 600;
/// Window of the recent history sent with the line view.
const RECENT_WINDOW_MS: i64 = 2 * 60_000;

/// Views of the running line.
pub struct Line {
    plant: Arc<Plant>,
    bus: Arc<Bus>,
    store: Arc<dyn HistoryStore>,
    recent: Arc<Recent>,
}

impl Line {
    /// A service over the given plant, bus, store and in-memory rings.
    pub fn new(
        plant: Arc<Plant>,
        bus: Arc<Bus>,
        store: Arc<dyn HistoryStore>,
        recent: Arc<Recent>,
    ) -> Self {
        Self {
            plant,
            bus,
            store,
            recent,
        }
    }

    /// The line now, from memory; `with_recent` adds the last two minutes of key
    /// numeric tags.
    pub fn view(&self, with_recent: bool) -> LineView {
        let now = now_ms();
        let mut machines = Vec::with_capacity(self.plant.devices.len());
        for d in &self.plant.devices {
            let (link, latest) = self.bus.latest(d.id).unwrap_or_else(|| {
                (
                    Link::new(app::line::LinkState::Connecting, now, None),
                    Vec::new(),
                )
            });
            let mut tags: Vec<TagView> = d
                .tags
                .iter()
                .enumerate()
                .map(|(ti, t)| {
                    let l = latest.get(ti);
                    TagView {
                        name: t.name.clone(),
                        label: t.label.clone(),
                        unit: t.unit.clone(),
                        key: t.key,
                        numeric: t.is_numeric(),
                        writable: t.access.is_writable(),
                        stale_after_ms: millis(d.stale_after(t)),
                        value: l.and_then(|l| l.value.clone()),
                        quality: l.map_or(Quality::CommLost, |l| l.quality),
                        ts_ms: l.map_or(0, |l| l.ts_ms),
                        recent: Vec::new(),
                    }
                })
                .collect();
            if with_recent {
                for (t, tag) in tags.iter_mut().zip(&d.tags) {
                    if t.key && t.numeric {
                        t.recent = self.recent.points(tag.id, now - RECENT_WINDOW_MS);
                    }
                }
            }
            machines.push(MachineView {
                id: d.machine.clone(),
                name: d.name.clone(),
                state_tag: d.state_tag().map(|t| t.name.clone()),
                link,
                tags,
            });
        }
        LineView {
            plant: self.plant.name.clone(),
            now_ms: now,
            machines,
        }
    }

    /// The plant served.
    pub fn plant(&self) -> &Plant {
        &self.plant
    }

    /// The bus.
    pub fn bus(&self) -> &Arc<Bus> {
        &self.bus
    }

    /// The history store.
    pub fn store(&self) -> &Arc<dyn HistoryStore> {
        &self.store
    }
}

#[async_trait]
impl LineService for Line {
    async fn line(&self) -> Result<LineView, ServiceError> {
        Ok(self.view(true))
    }

    async fn history(
        &self,
        machine: &str,
        range: HistoryRange,
    ) -> Result<Vec<Series>, ServiceError> {
        let d = self
            .plant
            .device_named(machine)
            .ok_or_else(|| ServiceError::UnknownMachine(machine.to_owned()))?;
        let tags: Vec<&Tag> = d.tags.iter().filter(|t| t.is_numeric()).collect();
        let ids: Vec<TagId> = tags.iter().map(|t| t.id).collect();
        let now = now_ms();
        let from = now - range.window_ms();
        let series = if self.recent.covers(from, now) {
            // In memory: no database read for the live ranges.
            let plan = trend::plan(from, now, CHART_BUCKETS);
            ids.iter()
                .map(|&id| {
                    let points = self.recent.points(id, from);
                    trend::fold(
                        &plan,
                        points
                            .into_iter()
                            .map(|(t, v)| ((t - from) / plan.width_ms, Agg::one(t, v))),
                    )
                })
                .collect()
        } else {
            self.store
                .trend(&ids, from, now, CHART_BUCKETS)
                .await
                .map_err(|e| {
                    warn!(machine_id = %d.machine, "history query failed");
                    ServiceError::from(e)
                })?
        };
        Ok(tags
            .iter()
            .zip(series)
            .map(|(t, buckets)| series_of(t, &buckets))
            .collect())
    }
}

fn series_of(t: &Tag, buckets: &[Bucket]) -> Series {
    Series {
        tag: t.name.clone(),
        label: t.label.clone(),
        unit: t.unit.clone(),
        points: buckets.iter().map(|b| (b.t, b.mean)).collect(),
        band: buckets.iter().map(|b| (b.t, b.min, b.max)).collect(),
    }
}
