//! The simulated line's test stations: cells flow CAS_01 → FORM_01 → EOL_01 and each
//! stage's inspection is posted to CellGuard's public ingestion API over HTTP, exactly
//! as a real station would. The cells' measurements come from [`super::cells`]'s
//! latent-defect process, driven by the machine values acquisition reads at that
//! moment, so a change of setpoint shows up in the cells that follow.
//!
//! The ground truth (did the cell fail its short-term test) stays here, for
//! evaluation; a random share of the cells (`short_term_share`) is "tested" and
//! its outcome posted with the outgoing inspection, as a line's short-term test
//! station would report it.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use app::line::Quality as TagQuality;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use tokio_util::sync::CancellationToken;

use super::cells::{CellSim, Conditions, SimCell};
use crate::bus::Bus;
use crate::clock::now_ms;
use crate::mes::orders::OrderStore;
use crate::plant::Plant;
use crate::quality::Stage;
use crate::quality::ingest::{ContextIn, InspectionIn, stage_inspection};
use crate::quality::settings::QualitySettings;
use crate::sim::settings::SimulatorConfig;
use app::mes::Order;

/// Ticks a cell spends between stages.
const STAGE_GAP: usize = 2;
/// Ground-truth entries kept.
const TRUTH_KEPT: usize = 100_000;

/// Which machine measures which stage, and the tags recorded as the cell's context.
const STATIONS: [(Stage, &str, &[&str]); 3] = [
    (
        Stage::Ipqc,
        "CAS_01",
        &["speed", "vibration", "temperature", "force", "pressure"],
    ),
    (
        Stage::Fqc,
        "FORM_01",
        &["temperature", "current", "voltage"],
    ),
    (Stage::Oqc, "EOL_01", &["temperature", "voltage", "soc"]),
];

/// Ground truth of the simulated cells: serial → failed the short-term test.
#[derive(Debug, Default)]
pub struct Truth {
    map: Mutex<(HashMap<String, bool>, VecDeque<String>)>,
}

impl Truth {
    fn insert(&self, serial: &str, defective: bool) {
        let mut g = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        let (map, order) = &mut *g;
        map.insert(serial.to_owned(), defective);
        order.push_back(serial.to_owned());
        while order.len() > TRUTH_KEPT {
            if let Some(old) = order.pop_front() {
                map.remove(&old);
            }
        }
    }

    /// Whether `serial` is (secretly) defective.
    pub fn get(&self, serial: &str) -> Option<bool> {
        self.map
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .0
            .get(serial)
            .copied()
    }

    /// Cells produced so far (up to the kept window).
    pub fn len(&self) -> usize {
        self.map
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .0
            .len()
    }

    /// Whether no cell was produced yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Reads the current conditions from the bus (good values only; nominal otherwise).
pub fn conditions(plant: &Plant, bus: &Bus) -> Conditions {
    let mut c = Conditions::nominal();
    let read = |machine: &str, tag: &str| -> Option<f64> {
        let l = bus.tag(plant.tag_named(machine, tag)?.id)?;
        (l.quality == TagQuality::Good)
            .then(|| l.value.as_ref().and_then(|v| v.as_f64()))
            .flatten()
    };
    if let Some(v) = read("CAS_01", "speed") {
        c.cas_speed = v;
    }
    if let Some(v) = read("CAS_01", "vibration") {
        c.cas_vibration = v;
    }
    if let Some(v) = read("CAS_01", "temperature") {
        c.cas_temperature = v;
    }
    if let Some(v) = read("FORM_01", "temperature") {
        c.form_temperature = v;
    }
    if let Some(v) = read("FORM_01", "current") {
        c.form_current = v;
    }
    // The dry room follows the clock as it does in the training data.
    let hour = now_ms().rem_euclid(86_400_000) as f64 / 3_600_000.0;
    c.ambient_temperature = super::cells::ambient_at(hour);
    c.sanitized()
}

fn context(plant: &Plant, bus: &Bus, machine: &str, tags: &[&str]) -> Vec<ContextIn> {
    let Some(dev) = plant.device_named(machine) else {
        return Vec::new();
    };
    let Some((_, latest)) = bus.latest(dev.id) else {
        return Vec::new();
    };
    tags.iter()
        .filter_map(|name| {
            let ti = dev.tags.iter().position(|t| t.name == *name)?;
            let l = latest.get(ti)?;
            let v = l.value.as_ref().and_then(|v| v.as_f64())?;
            (l.quality == TagQuality::Good).then(|| ContextIn {
                machine: Some(machine.to_owned()),
                tag: Some((*name).to_owned()),
                value: Some(v),
                unit: dev.tags[ti].unit.clone(),
                ts_ms: Some(l.ts_ms),
            })
        })
        .collect()
}

/// The body one station posts for one stage of a cell (the import path builds the
/// same with [`stage_inspection`]), with the machine values as context.
pub fn inspection(
    cell: &SimCell,
    stage: Stage,
    station: &str,
    ts_ms: i64,
    context: Vec<ContextIn>,
) -> Option<InspectionIn> {
    let mut body = stage_inspection(&cell.record, stage, station, ts_ms)?;
    body.context = context;
    Some(body)
}

/// Where the stations post and how they prove who they are.
#[derive(Clone)]
pub struct IngestTarget {
    /// CellGuard's `/api/v1/inspections`.
    pub url: String,
    /// An API token with the `ingest` scope.
    pub token: String,
}

/// The order and product the next lot belongs to: the MES's active order when
/// there is one the plant knows the product of; otherwise the user's two orders
/// take turns by lot (as a line without an MES would be told by hand).
fn lot_order(active: Option<&Order>, quality: &QualitySettings, lot_no: u64) -> (String, String) {
    if let Some(o) = active
        && quality.product(&o.product).is_some()
    {
        return (o.id.clone(), o.product.clone());
    }
    if lot_no.is_multiple_of(2) {
        ("98766".into(), "SC".into())
    } else {
        ("98765".into(), "HC".into())
    }
}

/// Runs the stations until shutdown: one new cell every `60 / cells_per_minute`
/// seconds, each stage posted to the ingestion API. With `orders`, each cell
/// belongs to the MES's active order: a new lot starts when it changes.
#[allow(clippy::too_many_arguments)]
pub async fn run(
    plant: Arc<Plant>,
    quality: Arc<QualitySettings>,
    sim: SimulatorConfig,
    bus: Arc<Bus>,
    orders: Option<OrderStore>,
    target: IngestTarget,
    seed: u64,
    truth: Arc<Truth>,
    shutdown: CancellationToken,
) {
    let cells_per_minute = sim.cells_per_minute;
    if !(cells_per_minute.is_finite() && cells_per_minute > 0.0) {
        return;
    }
    let client = match reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "simulated stations cannot build an HTTP client");
            return;
        }
    };
    let period = Duration::from_secs_f64((60.0 / cells_per_minute).max(0.01));
    let cells_per_lot = sim.cells_per_lot;
    let shift = sim.shift.clone();
    let short_term_share = sim.short_term_share.clamp(0.0, 1.0);
    // Its own stream: sampling cells for the test leaves the cells themselves as
    // the same seed makes them.
    let mut audit = SmallRng::seed_from_u64(seed ^ 0x5348_4f52_5454_4553);
    let mut made: u64 = 0;
    let mut sim = CellSim::new(seed);
    let start = jiff::Timestamp::from_millisecond(now_ms()).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    let stamp = start.strftime("%y%m%d-%H%M").to_string();
    let active = async || match &orders {
        Some(store) => store.active().await.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "simulated stations cannot read the active order");
            None
        }),
        None => None,
    };
    let mut lot_no: u64 = 1;
    let (order, product) = lot_order(active().await.as_ref(), &quality, lot_no);
    let mut lot = sim.draw_lot(&format!("L{stamp}-{lot_no:02}"), &order, &product);
    // The last few cells, newest last: each tick a station inspects the cell that
    // left the previous station `STAGE_GAP` ticks earlier.
    let mut pipeline: VecDeque<SimCell> = VecDeque::new();
    // Posts that failed, retried first (same key: a resend is harmless).
    let mut retry: VecDeque<InspectionIn> = VecDeque::new();
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut warned = false;
    let mut in_lot: u64 = 0;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        let now_active = active().await;
        let order_changed = now_active
            .as_ref()
            .is_some_and(|o| o.id != lot.order && quality.product(&o.product).is_some());
        if in_lot >= cells_per_lot || order_changed {
            lot_no += 1;
            in_lot = 0;
            let (order, product) = lot_order(now_active.as_ref(), &quality, lot_no);
            lot = sim.draw_lot(&format!("L{stamp}-{lot_no:02}"), &order, &product);
        }
        in_lot += 1;
        let serial = format!("{}-{:04}", lot.id, in_lot);
        let mut cell = sim.next_cell(&serial, &lot, &conditions(&plant, &bus));
        made += 1;
        if let Some(s) = &shift
            && made > s.after_cells
            && let Some(v) = cell.record.get(&s.measurement)
        {
            cell.record.set(&s.measurement, v + s.by);
        }
        truth.insert(&serial, cell.defective);
        pipeline.push_back(cell);
        let now = now_ms();
        let mut posts: Vec<InspectionIn> = retry.drain(..).collect();
        for (k, (stage, station, tags)) in STATIONS.iter().enumerate() {
            let back = k * STAGE_GAP;
            if let Some(idx) = pipeline.len().checked_sub(back + 1)
                && let Some(cell) = pipeline.get(idx)
            {
                let ctx = context(&plant, &bus, station, tags);
                let mut body = inspection(cell, *stage, station, now, ctx);
                // The short-term test follows the outgoing inspection.
                if *stage == Stage::Oqc
                    && let Some(b) = body.as_mut()
                    && audit.random_bool(short_term_share)
                {
                    b.short_term_failed = Some(cell.defective);
                }
                posts.extend(body);
            }
        }
        while pipeline.len() > (STATIONS.len() - 1) * STAGE_GAP + 1 {
            pipeline.pop_front();
        }
        for body in posts {
            let sent = client
                .post(&target.url)
                .bearer_auth(&target.token)
                .json(&body)
                .send()
                .await;
            let ok = match sent {
                Ok(r) if r.status().is_success() => true,
                Ok(r) if r.status().is_client_error() => {
                    // A station's bug, not a fault to retry: log what the API said.
                    let status = r.status();
                    let text = r.text().await.unwrap_or_default();
                    tracing::warn!(%status, answer = %text, "simulated station's inspection refused");
                    true
                }
                Ok(r) => {
                    if !warned {
                        tracing::warn!(status = %r.status(), "simulated station cannot post; retrying");
                    }
                    false
                }
                Err(e) => {
                    if !warned {
                        tracing::warn!(error = %e, "simulated station cannot post; retrying");
                    }
                    false
                }
            };
            warned = !ok;
            if !ok && retry.len() < 1000 {
                retry.push_back(body);
            }
            if shutdown.is_cancelled() {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_stage_posts_only_its_measurements_with_a_stable_key() {
        let mut sim = CellSim::new(1);
        let lot = sim.draw_lot("L1", "98765", "HC");
        let cell = sim.next_cell("L1-0001", &lot, &Conditions::nominal());
        let body = serde_json::to_value(inspection(&cell, Stage::Fqc, "FORM_01", 5, Vec::new()))
            .expect("serialises");
        assert_eq!(body["key"], "FORM_01:L1-0001:FQC");
        let names: Vec<&str> = body["measurements"]
            .as_array()
            .map(|a| a.iter().filter_map(|m| m["name"].as_str()).collect())
            .unwrap_or_default();
        assert!(names.contains(&"k_value"));
        assert!(!names.contains(&"moisture"));
        // The posted body passes the API's own validation.
        let batch = vec![serde_json::from_value(body).expect("inspection")];
        let cfg = QualitySettings::default();
        assert!(crate::quality::ingest::validate(batch, &cfg, 10).is_ok());
    }
}
