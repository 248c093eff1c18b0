//! What CellGuard reports to the MES, built from its own data: machine data per
//! interval (a pure accumulator fed from the bus, and the task that queues its
//! reports) and a cell's quality result (built inside the transaction that stores
//! the cell's score, so the two commit together).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use app::line::{Quality, Value};
use app::quality::{Band, ScoreView};
use sqlx::{Row, Sqlite};
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;

use super::contract::{
    MachineData, MeasurementResult, MessageKind, QualityResult, RiskDecision, StateDuration,
    TagStatistics, TestResult,
};
use super::outbox::{Message, Outbox, enqueue};
use crate::bus::{Bus, BusEvent};
use crate::clock::now_ms;
use crate::plant::{Device, Plant};

fn ts(ms: i64) -> jiff::Timestamp {
    jiff::Timestamp::from_millisecond(ms).unwrap_or(jiff::Timestamp::UNIX_EPOCH)
}

/// Running statistics of one tag.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Stats {
    n: u64,
    min: f64,
    max: f64,
    sum: f64,
    last: f64,
}

impl Stats {
    fn new(v: f64) -> Self {
        Self {
            n: 1,
            min: v,
            max: v,
            sum: v,
            last: v,
        }
    }

    fn add(&mut self, v: f64) {
        self.n += 1;
        self.min = self.min.min(v);
        self.max = self.max.max(v);
        self.sum += v;
        self.last = v;
    }
}

/// One machine's data over one interval: min/avg/max/last of each numeric tag
/// (good readings only) and the time spent in each machine state.
#[derive(Debug, Clone, PartialEq)]
pub struct MachineWindow {
    start_ms: i64,
    tags: Vec<Option<Stats>>,
    /// The state and since when (within this window).
    state: Option<(String, i64)>,
    durations: BTreeMap<String, i64>,
}

impl MachineWindow {
    /// A window from `start_ms` for a device with `tags` tags; `state` is the
    /// state the machine was in at the start, if known.
    pub fn new(start_ms: i64, tags: usize, state: Option<String>) -> Self {
        Self {
            start_ms,
            tags: vec![None; tags],
            state: state.map(|s| (s, start_ms)),
            durations: BTreeMap::new(),
        }
    }

    /// Adds one reading of tag `tag` taken at `ts_ms`; `is_state` marks the
    /// machine-state tag. Bad, stale and lost readings are not counted.
    pub fn observe(
        &mut self,
        tag: usize,
        is_state: bool,
        value: Option<&Value>,
        quality: Quality,
        ts_ms: i64,
    ) {
        let ts_ms = ts_ms.max(self.start_ms);
        if quality != Quality::Good {
            // A machine whose state cannot be read is in no known state: its time
            // is not counted as the last state seen.
            if is_state {
                self.close_state(ts_ms);
                self.state = None;
            }
            return;
        }
        let Some(value) = value else {
            return;
        };
        if is_state {
            if let Value::Text(name) = value {
                match &self.state {
                    Some((s, _)) if s == name => {}
                    _ => {
                        self.close_state(ts_ms);
                        self.state = Some((name.clone(), ts_ms));
                    }
                }
            }
            return;
        }
        let Some(v) = value.as_f64().filter(|v| v.is_finite()) else {
            return;
        };
        if let Some(slot) = self.tags.get_mut(tag) {
            match slot {
                Some(s) => s.add(v),
                None => *slot = Some(Stats::new(v)),
            }
        }
    }

    fn close_state(&mut self, at_ms: i64) {
        if let Some((s, since)) = &self.state {
            *self.durations.entry(s.clone()).or_default() += (at_ms - since).max(0);
        }
    }

    /// Whether any good reading arrived.
    pub fn is_empty(&self) -> bool {
        self.tags.iter().all(Option::is_none) && self.durations.is_empty() && self.state.is_none()
    }

    /// Ends the window at `end_ms`: the report for `device`, and the window that
    /// follows (carrying the current state).
    pub fn close(mut self, end_ms: i64, device: &Device) -> (MachineData, MachineWindow) {
        self.close_state(end_ms);
        let state_tag = device.state_tag().map(|t| t.id.index());
        let tags = self
            .tags
            .iter()
            .enumerate()
            .filter(|(i, _)| Some(*i) != state_tag)
            .filter_map(|(i, s)| {
                let s = (*s)?;
                let t = device.tags.get(i)?;
                Some(TagStatistics {
                    tag: t.name.clone(),
                    unit: t.unit.clone(),
                    samples: s.n,
                    min: s.min,
                    avg: s.sum / s.n as f64,
                    max: s.max,
                    last: s.last,
                })
            })
            .collect();
        let state_durations = self
            .durations
            .iter()
            .filter(|(_, ms)| **ms > 0)
            .map(|(state, ms)| StateDuration {
                state: state.clone(),
                seconds: *ms as f64 / 1000.0,
            })
            .collect();
        let report = MachineData {
            equipment_id: device.machine.clone(),
            interval_start: ts(self.start_ms),
            interval_end: ts(end_ms),
            tags,
            state_durations,
        };
        let next = MachineWindow::new(end_ms, self.tags.len(), self.state.map(|(s, _)| s));
        (report, next)
    }
}

/// The outbox message of one machine-data report (keyed by machine and interval
/// start, so a report is never queued twice).
pub fn machine_data_message(report: &MachineData) -> Message {
    Message::json(
        MessageKind::MachineData,
        format!(
            "machine-data:{}:{}",
            report.equipment_id,
            report.interval_start.as_millisecond()
        ),
        report.equipment_id.clone(),
        report,
    )
}

/// Intervals reported one after the other when reporting fell behind, at most.
const MAX_CATCH_UP: i64 = 100;

/// Where interval `i` starts: intervals are aligned to multiples of their length,
/// so restarts and several instances cut the same intervals.
pub fn interval_start(ts_ms: i64, interval_ms: i64) -> i64 {
    ts_ms.div_euclid(interval_ms.max(1)) * interval_ms.max(1)
}

/// Reports every machine's data once per interval into the outbox, until
/// shutdown. A reader that falls behind the bus loses those readings from the
/// statistics (their sample counts show it), never the reports.
pub async fn run_machine_data(
    plant: Arc<Plant>,
    bus: Arc<Bus>,
    outbox: Outbox,
    interval: Duration,
    wake: Arc<tokio::sync::Notify>,
    shutdown: CancellationToken,
) {
    let interval_ms = i64::try_from(interval.as_millis())
        .unwrap_or(i64::MAX)
        .max(1);
    let mut rx = bus.subscribe();
    let start = interval_start(now_ms(), interval_ms);
    let mut windows: Vec<MachineWindow> = plant
        .devices
        .iter()
        .map(|d| MachineWindow::new(start, d.tags.len(), None))
        .collect();
    let mut end = start + interval_ms;
    loop {
        let wait = Duration::from_millis(u64::try_from(end - now_ms()).unwrap_or(0));
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(wait) => {
                let mut msgs = Vec::new();
                for (d, slot) in plant.devices.iter().zip(windows.iter_mut()) {
                    let w = std::mem::replace(slot, MachineWindow::new(end, 0, None));
                    let had_data = !w.is_empty();
                    let (report, next) = w.close(end, d);
                    *slot = next;
                    if had_data && (!report.tags.is_empty() || !report.state_durations.is_empty()) {
                        msgs.push(machine_data_message(&report));
                    }
                }
                if !msgs.is_empty() {
                    match outbox.push(&msgs, now_ms()).await {
                        Ok(_) => wake.notify_one(),
                        Err(e) => tracing::error!(error = %e, "cannot queue machine data for the MES"),
                    }
                }
                end += interval_ms;
                // Late (a busy machine): the intervals missed are reported one after
                // the other, so none is missing. After a long stall (a suspended
                // computer), skip to the current interval instead.
                let now = now_ms();
                if end + MAX_CATCH_UP * interval_ms <= now {
                    tracing::warn!(missed_ms = now - end, "machine-data reporting skipped a stall");
                    end = interval_start(now, interval_ms) + interval_ms;
                }
            }
            got = rx.recv() => match got {
                Ok(BusEvent::Scan(batch)) => {
                    let di = batch.device.index();
                    if let (Some(w), Some(d)) = (windows.get_mut(di), plant.devices.get(di)) {
                        let state_tag = d.state_tag().map(|t| t.id);
                        for r in &batch.readings {
                            w.observe(r.tag.index(), Some(r.tag) == state_tag, r.value.as_ref(), r.quality, batch.ts_ms);
                        }
                    }
                }
                Ok(BusEvent::Link { .. }) => {}
                Err(RecvError::Lagged(n)) => {
                    tracing::warn!(missed = n, "machine-data reporting fell behind the bus");
                }
                Err(RecvError::Closed) => return,
            },
        }
    }
}

/// The quality result of a cell, read inside the caller's transaction, with the
/// number of inspections it holds. `None` if the cell is unknown.
pub async fn quality_result(
    tx: &mut sqlx::Transaction<'_, Sqlite>,
    serial: &str,
    score: &ScoreView,
) -> Result<Option<(QualityResult, i64)>, sqlx::Error> {
    let cell: Option<(String, String, String)> =
        sqlx::query_as("SELECT lot, order_id, product FROM cells WHERE serial = ?")
            .bind(serial)
            .fetch_optional(&mut **tx)
            .await?;
    let Some((lot, order, product)) = cell else {
        return Ok(None);
    };
    let rows = sqlx::query(
        "SELECT i.id AS id, i.stage AS stage, i.station AS station, i.ts_ms AS ts_ms, \
         m.name AS name, m.unit AS unit, m.value AS value, m.lsl AS lsl, m.usl AS usl, \
         m.pass AS pass FROM inspections i LEFT JOIN measurements m ON m.inspection_id = i.id \
         WHERE i.serial = ? ORDER BY i.ts_ms, i.id, m.name",
    )
    .bind(serial)
    .fetch_all(&mut **tx)
    .await?;
    let mut tests: Vec<(i64, TestResult)> = Vec::new();
    for r in &rows {
        let id: i64 = r.get("id");
        if tests.last().is_none_or(|(last, _)| *last != id) {
            tests.push((
                id,
                TestResult {
                    stage: r.get("stage"),
                    station: r.get("station"),
                    tested_at: ts(r.get("ts_ms")),
                    measurements: Vec::new(),
                },
            ));
        }
        if let (Some(name), Some((_, t))) = (r.get::<Option<String>, _>("name"), tests.last_mut()) {
            t.measurements.push(MeasurementResult {
                name,
                unit: r.get::<Option<String>, _>("unit").unwrap_or_default(),
                value: r.get::<Option<f64>, _>("value").unwrap_or(f64::NAN),
                lower_limit: r.get("lsl"),
                upper_limit: r.get("usl"),
                result: if r.get::<Option<bool>, _>("pass").unwrap_or(false) {
                    "pass"
                } else {
                    "fail"
                }
                .into(),
            });
        }
    }
    let inspections = i64::try_from(tests.len()).unwrap_or(i64::MAX);
    let body = QualityResult {
        material_sub_lot: serial.to_owned(),
        material_lot: lot,
        production_order: order,
        product_id: product,
        test_results: tests.into_iter().map(|(_, t)| t).collect(),
        risk: RiskDecision {
            score: score.score,
            band: score.band.as_str().into(),
            decision: score.band.recommendation().into(),
            threshold: score.threshold,
            model: score.model.clone(),
            model_version: score.model_version.clone(),
            scored_at: ts(score.scored_ms),
            reasons: score.reasons.iter().map(|r| r.feature.clone()).collect(),
        },
    };
    Ok(Some((body, inspections)))
}

/// Queues a cell's quality result, inside the transaction that stores its score,
/// when there is something new to tell: the cell came through this line's
/// stations (imported history is not reported) and was never reported, or has
/// more inspections or another band than its last report. A re-score that changes
/// neither (a resend, a new model with the same verdict) queues nothing. Returns
/// whether it queued.
pub async fn report_cell(
    tx: &mut sqlx::Transaction<'_, Sqlite>,
    serial: &str,
    score: &ScoreView,
    now_ms: i64,
) -> Result<bool, sqlx::Error> {
    let here: Option<i64> = sqlx::query_scalar(
        "SELECT 1 FROM inspections WHERE serial = ? AND station <> 'import' LIMIT 1",
    )
    .bind(serial)
    .fetch_optional(&mut **tx)
    .await?;
    if here.is_none() {
        return Ok(false);
    }
    let Some((body, inspections)) = quality_result(tx, serial, score).await? else {
        return Ok(false);
    };
    let last: Option<(i64, i64, String)> =
        sqlx::query_as("SELECT revision, inspections, band FROM mes_reported WHERE serial = ?")
            .bind(serial)
            .fetch_optional(&mut **tx)
            .await?;
    if last
        .as_ref()
        .is_some_and(|(_, n, band)| *n == inspections && band == score.band.as_str())
    {
        return Ok(false);
    }
    // Numbered per cell, so a band that changes back is a new result, not a resend.
    let revision = last.map_or(1, |l| l.0 + 1);
    let msg = Message::json(
        MessageKind::QualityResult,
        format!("quality-result:{serial}:{revision}"),
        serial.to_owned(),
        &body,
    );
    let queued = enqueue(tx, &msg, now_ms).await?;
    sqlx::query(
        "INSERT OR REPLACE INTO mes_reported (serial, revision, inspections, band, \
         model_version, at_ms) VALUES (?, ?, ?, ?, ?, ?)",
    )
    .bind(serial)
    .bind(revision)
    .bind(inspections)
    .bind(score.band.as_str())
    .bind(&score.model_version)
    .bind(now_ms)
    .execute(&mut **tx)
    .await?;
    Ok(queued)
}

/// Cells looked at per sweep at most.
const SWEEP_BATCH: i64 = 500;

/// Queues the quality results that were not queued with their scores (the
/// process stopped between storing a cell's inspections and its score, or
/// scoring failed): every scored cell of this line's production whose last report
/// is missing or out of date. Returns how many were queued.
pub async fn sweep_unreported(pool: &sqlx::SqlitePool, now_ms: i64) -> Result<u64, sqlx::Error> {
    let serials: Vec<String> = sqlx::query_scalar(
        "SELECT s.serial FROM scores s WHERE s.band IS NOT NULL \
         AND EXISTS (SELECT 1 FROM inspections i WHERE i.serial = s.serial \
                     AND i.station <> 'import') \
         AND NOT EXISTS (SELECT 1 FROM mes_reported r WHERE r.serial = s.serial \
                         AND r.band = s.band \
                         AND r.inspections = (SELECT count(*) FROM inspections i \
                                              WHERE i.serial = s.serial)) \
         LIMIT ?",
    )
    .bind(SWEEP_BATCH)
    .fetch_all(pool)
    .await?;
    let mut queued = 0;
    for serial in serials {
        let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
        let row = sqlx::query(
            "SELECT score, band, threshold, model, model_version, reasons, scored_ms \
             FROM scores WHERE serial = ? AND band IS NOT NULL",
        )
        .bind(&serial)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else { continue };
        let band: String = row.get("band");
        let Some(band) = Band::parse(&band) else {
            continue;
        };
        let score = ScoreView {
            score: row.get::<Option<f64>, _>("score").unwrap_or(f64::NAN),
            band,
            threshold: row.get::<Option<f64>, _>("threshold").unwrap_or(f64::NAN),
            model: row.get("model"),
            model_version: row.get("model_version"),
            scored_ms: row.get("scored_ms"),
            reasons: serde_json::from_str(&row.get::<String, _>("reasons")).unwrap_or_default(),
            base: None,
        };
        if report_cell(&mut tx, &serial, &score, now_ms).await? {
            queued += 1;
        }
        tx.commit().await?;
    }
    Ok(queued)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device() -> Device {
        let plant = crate::config::parse(
            std::path::Path::new("t.toml"),
            r#"
[[devices]]
id = "M1"
host = "127.0.0.1"
scan_groups = [{ name = "fast", period_ms = 100 }]

[[devices.tags]]
name = "speed"
table = "holding"
address = 0
type = "f32"
unit = "rpm"
scan_group = "fast"

[[devices.tags]]
name = "state"
table = "holding"
address = 2
type = "u16"
scan_group = "fast"
states = { "6" = "Execute", "5" = "Held" }
"#,
            &|_| None,
        )
        .expect("plant");
        plant.plant.devices[0].clone()
    }

    fn n(v: f64) -> Value {
        Value::Number(v)
    }

    #[test]
    fn a_window_reports_min_avg_max_last_of_good_readings_only() {
        let d = device();
        let mut w = MachineWindow::new(1_000, 2, None);
        w.observe(0, false, Some(&n(10.0)), Quality::Good, 1_100);
        w.observe(0, false, Some(&n(30.0)), Quality::Good, 1_200);
        w.observe(0, false, Some(&n(999.0)), Quality::Bad, 1_300);
        w.observe(0, false, Some(&n(f64::NAN)), Quality::Good, 1_350);
        w.observe(0, false, Some(&n(20.0)), Quality::Good, 1_400);
        let (r, _) = w.close(2_000, &d);
        assert_eq!(r.equipment_id, "M1");
        assert_eq!(r.tags.len(), 1);
        let s = &r.tags[0];
        assert_eq!(
            (
                s.tag.as_str(),
                s.unit.as_str(),
                s.samples,
                s.min,
                s.avg,
                s.max,
                s.last
            ),
            ("speed", "rpm", 3, 10.0, 20.0, 30.0, 20.0)
        );
        assert_eq!(r.interval_start.as_millisecond(), 1_000);
        assert_eq!(r.interval_end.as_millisecond(), 2_000);
    }

    #[test]
    fn state_durations_add_up_and_carry_into_the_next_window() {
        let d = device();
        let mut w = MachineWindow::new(0, 2, None);
        let state = |s: &str| Value::Text(s.into());
        w.observe(1, true, Some(&state("Execute")), Quality::Good, 200);
        w.observe(1, true, Some(&state("Execute")), Quality::Good, 400);
        w.observe(1, true, Some(&state("Held")), Quality::Good, 700);
        let (r, next) = w.close(1_000, &d);
        let got: Vec<(&str, f64)> = r
            .state_durations
            .iter()
            .map(|s| (s.state.as_str(), s.seconds))
            .collect();
        // The time before the first reading is unknown and not counted.
        assert_eq!(got, [("Execute", 0.5), ("Held", 0.3)]);
        assert!(r.tags.is_empty(), "the state tag is not a statistic");
        let (r2, _) = next.close(2_000, &d);
        assert_eq!(r2.state_durations[0].state, "Held");
        assert_eq!(r2.state_durations[0].seconds, 1.0);
    }

    #[test]
    fn a_machine_whose_state_cannot_be_read_is_in_no_state() {
        let d = device();
        let mut w = MachineWindow::new(0, 2, Some("Execute".into()));
        w.observe(1, true, None, Quality::CommLost, 400);
        let (r, next) = w.close(1_000, &d);
        assert_eq!(r.state_durations.len(), 1);
        assert_eq!(r.state_durations[0].seconds, 0.4);
        let (r2, _) = next.close(2_000, &d);
        assert!(r2.state_durations.is_empty(), "{r2:?}");
    }

    #[test]
    fn an_empty_window_says_so_and_old_readings_count_from_its_start() {
        assert!(MachineWindow::new(0, 3, None).is_empty());
        let mut w = MachineWindow::new(1_000, 2, None);
        w.observe(
            1,
            true,
            Some(&Value::Text("Execute".into())),
            Quality::Good,
            500,
        );
        let (r, _) = w.close(1_500, &device());
        assert_eq!(r.state_durations[0].seconds, 0.5);
    }

    #[test]
    fn intervals_are_aligned_and_keys_name_machine_and_start() {
        assert_eq!(interval_start(61_234, 60_000), 60_000);
        assert_eq!(interval_start(-1, 60_000), -60_000);
        let (r, _) = MachineWindow::new(60_000, 2, None).close(120_000, &device());
        let m = machine_data_message(&r);
        assert_eq!(m.key, "machine-data:M1:60000");
        assert_eq!(m.kind, MessageKind::MachineData);
        let back: MachineData = serde_json::from_str(&m.body).expect("json");
        assert_eq!(back, r);
    }
}
