//! The line service: builds the views the UI asks for from the bus and history.

use std::sync::Arc;

use app::api::service::{LineService, ServiceError};
use app::line::{HistoryRange, LineView, Link, MachineView, Quality, Series, TagView};
use async_trait::async_trait;
use tracing::warn;

use crate::bus::{Bus, now_ms};
use crate::config::{Access, DataType, Device, Plant, Tag};
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

fn numeric(tag: &Tag) -> bool {
    tag.states.is_none() && !matches!(tag.data_type, DataType::String | DataType::Bit)
}

fn stale_after_ms(device: &Device, tag: &Tag) -> i64 {
    let period = device
        .scan_groups
        .iter()
        .find(|g| g.name == tag.scan_group)
        .map_or(1000, |g| g.period_ms);
    i64::try_from(3 * period + device.timeout_ms).unwrap_or(i64::MAX)
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
        for (i, d) in self.plant.devices.iter().enumerate() {
            let (link, latest) = self
                .bus
                .latest(u32::try_from(i).unwrap_or(u32::MAX))
                .unwrap_or_else(|| {
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
                        label: t.display_label().to_owned(),
                        unit: t.unit.clone(),
                        key: t.key,
                        numeric: numeric(t),
                        writable: t.access == Access::ReadWrite,
                        stale_after_ms: stale_after_ms(d, t),
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
                    .series(&d.id, &keys, now - RECENT_WINDOW_MS, now, RECENT_BUCKETS)
                    .await
                {
                    Ok(series) => {
                        for (name, points) in series {
                            if let Some(t) = tags.iter_mut().find(|t| t.name == name) {
                                t.recent = points;
                            }
                        }
                    }
                    Err(e) => warn!(error = %e, machine_id = %d.id, "recent history unavailable"),
                }
            }
            machines.push(MachineView {
                id: d.id.clone(),
                name: d.name.clone(),
                state_tag: d.state_tag().map(|i| d.tags[i].name.clone()),
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
            .devices
            .iter()
            .find(|d| d.id == machine)
            .ok_or_else(|| ServiceError::UnknownMachine(machine.to_owned()))?;
        let tags: Vec<&Tag> = d.tags.iter().filter(|t| numeric(t)).collect();
        let names: Vec<String> = tags.iter().map(|t| t.name.clone()).collect();
        let now = now_ms();
        let series = self
            .store
            .series(&d.id, &names, now - range.window_ms(), now, CHART_BUCKETS)
            .await
            .map_err(|e| {
                warn!(machine_id = %d.id, "history query failed");
                ServiceError::from(e)
            })?;
        Ok(tags
            .iter()
            .zip(series)
            .map(|(t, (_, points))| Series {
                tag: t.name.clone(),
                label: t.display_label().to_owned(),
                unit: t.unit.clone(),
                points,
            })
            .collect())
    }
}
