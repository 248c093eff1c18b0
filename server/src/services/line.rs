//! The line service: builds the views the UI asks for from the bus and history.

use std::sync::Arc;

use app::api::service::{LineService, ServiceError};
use app::line::{HistoryRange, LineView, Link, MachineView, Quality, Series, TagView};
use async_trait::async_trait;
use tracing::warn;

use crate::bus::Bus;
use crate::clock::millis;
use crate::clock::now_ms;
use crate::plant::{Plant, Tag};
use crate::storage::HistoryStore;

/// Points a history chart gets at most per tag.
const CHART_BUCKETS: u32 = 600;
/// Window and resolution of the recent history sent with the line view.
const RECENT_WINDOW_MS: i64 = 2 * 60_000;
const RECENT_BUCKETS: u32 = 120;

/// Views of the running line.
pub struct Line {
    plant: Arc<Plant>,
    bus: Arc<Bus>,
    store: Arc<dyn HistoryStore>,
}

impl Line {
    /// A service over the given plant, bus and store.
    pub fn new(plant: Arc<Plant>, bus: Arc<Bus>, store: Arc<dyn HistoryStore>) -> Self {
        Self { plant, bus, store }
    }

    /// The line now; `with_recent` adds recent history of key numeric tags.
    pub async fn view(&self, with_recent: bool) -> LineView {
        let now = now_ms();
        let mut machines = Vec::with_capacity(self.plant.devices.len());
        for d in &self.plant.devices {
            let (link, latest) = self.bus.latest(d.id).unwrap_or_else(|| {
                (
                    Link {
                        state: app::line::LinkState::Connecting,
                        since_ms: now,
                        error: None,
                    },
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
                let keys: Vec<String> = tags
                    .iter()
                    .filter(|t| t.key && t.numeric)
                    .map(|t| t.name.clone())
                    .collect();
                match self
                    .store
                    .series(
                        &d.machine,
                        &keys,
                        now - RECENT_WINDOW_MS,
                        now,
                        RECENT_BUCKETS,
                    )
                    .await
                {
                    Ok(series) => {
                        for (name, points) in series {
                            if let Some(t) = tags.iter_mut().find(|t| t.name == name) {
                                t.recent = points;
                            }
                        }
                    }
                    Err(e) => {
                        warn!(error = %e, machine_id = %d.machine, "recent history unavailable")
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
        Ok(self.view(true).await)
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
        let names: Vec<String> = tags.iter().map(|t| t.name.clone()).collect();
        let now = now_ms();
        let series = self
            .store
            .series(
                &d.machine,
                &names,
                now - range.window_ms(),
                now,
                CHART_BUCKETS,
            )
            .await
            .map_err(|e| {
                warn!(machine_id = %d.machine, "history query failed");
                ServiceError::from(e)
            })?;
        Ok(tags
            .iter()
            .zip(series)
            .map(|(t, (_, points))| Series {
                tag: t.name.clone(),
                label: t.label.clone(),
                unit: t.unit.clone(),
                points,
            })
            .collect())
    }
}
