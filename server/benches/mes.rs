//! MES store-and-forward benchmark: the backlog of a 10-minute MES outage at 50
//! cells/min and a 1 s machine-data interval, drained into the MES simulator over
//! loopback HTTP while the simulated line keeps being polled.
//!
//! Run with `cargo bench -p server --bench mes` (3 runs; `CELLGUARD_BENCH_RUNS=5`
//! for more). Each run starts CellGuard (the default plant on its embedded PLC
//! simulators, no simulated stations) against an MES simulator that is down,
//! queues the backlog in the outbox (500 cells × 2 quality results, 600 s × 3
//! machines of machine data, one order confirmation a minute), brings the MES up
//! and times until the MES holds every message. Meanwhile every scan of the line
//! is timed: the gap between two scans of one scan group against its period,
//! before and during the drain.

use std::sync::Arc;
use std::time::{Duration, Instant};

use cellguard::bus::BusEvent;
use cellguard::clock::{millis, now_ms};
use cellguard::config::{Settings, load};
use cellguard::mes::contract::{
    MachineData, MeasurementResult, MessageKind, OrderConfirmation, QualityResult, RiskDecision,
    StateDuration, TagStatistics, TestResult,
};
use cellguard::mes::outbox::Message;
use cellguard::mes::settings::Secret;
use cellguard::mes::sim::{Fault, MesSim};
use cellguard::plant::{DeviceId, Plant};
use leptos::prelude::LeptosOptions;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

const OUTAGE_S: u64 = 600;
const CELLS_PER_MIN: u64 = 50;
const MACHINES: [&str; 3] = ["CAS_01", "FORM_01", "EOL_01"];

fn ts(ms: i64) -> jiff::Timestamp {
    jiff::Timestamp::from_millisecond(ms).unwrap_or(jiff::Timestamp::UNIX_EPOCH)
}

/// The messages a 10-minute outage leaves in the outbox, shaped as the real ones.
fn backlog(t0: i64) -> Vec<Message> {
    let mut out = Vec::new();
    let cells = OUTAGE_S * CELLS_PER_MIN / 60;
    for c in 0..cells {
        let serial = format!("L-BENCH-{c:04}");
        let at = t0 + (c * 1200) as i64;
        let test = |stage: &str, n: usize| TestResult {
            stage: stage.into(),
            station: "CAS_01".into(),
            tested_at: ts(at),
            measurements: (0..n)
                .map(|i| MeasurementResult {
                    name: format!("measurement_{i}"),
                    unit: "mV/day".into(),
                    value: 1.234 + i as f64,
                    lower_limit: Some(0.0),
                    upper_limit: Some(50.0),
                    result: "pass".into(),
                })
                .collect(),
        };
        for (stages, n) in [
            (vec![test("IPQC", 11), test("FQC", 7)], 2),
            (vec![test("IPQC", 11), test("FQC", 7), test("OQC", 3)], 3),
        ] {
            let body = QualityResult {
                material_sub_lot: serial.clone(),
                material_lot: "L-BENCH".into(),
                production_order: "98765".into(),
                product_id: "HC".into(),
                test_results: stages,
                risk: RiskDecision {
                    score: 0.031,
                    band: "low".into(),
                    decision: "safe for all usage".into(),
                    threshold: 0.12,
                    model: "default-logistic".into(),
                    model_version: "0123456789abcdef".into(),
                    scored_at: ts(at),
                    reasons: vec!["k_value".into(), "ocv".into(), "leakage_current".into()],
                },
            };
            out.push(Message::json(
                MessageKind::QualityResult,
                format!("quality-result:{serial}:{n}:v:low"),
                serial.clone(),
                &body,
            ));
        }
    }
    for s in 0..OUTAGE_S as i64 {
        for m in MACHINES {
            let body = MachineData {
                equipment_id: m.into(),
                interval_start: ts(t0 + s * 1000),
                interval_end: ts(t0 + (s + 1) * 1000),
                tags: (0..5)
                    .map(|i| TagStatistics {
                        tag: format!("tag_{i}"),
                        unit: "°C".into(),
                        samples: 2,
                        min: 44.9,
                        avg: 45.0,
                        max: 45.1,
                        last: 45.05,
                    })
                    .collect(),
                state_durations: vec![StateDuration {
                    state: "Execute".into(),
                    seconds: 1.0,
                }],
            };
            out.push(Message::json(
                MessageKind::MachineData,
                format!("machine-data:{m}:{}", t0 + s * 1000),
                m.into(),
                &body,
            ));
        }
        if s % 60 == 59 {
            let body = OrderConfirmation {
                production_order: "98765".into(),
                produced_quantity: (s as u64 + 1) * CELLS_PER_MIN / 60,
                high_risk_quantity: 1,
                scrapped_quantity: 0,
                confirmed_at: ts(t0 + s * 1000),
            };
            out.push(Message::json(
                MessageKind::OrderConfirmation,
                format!("confirmation:98765:{s}"),
                "98765".into(),
                &body,
            ));
        }
    }
    out
}

fn plant(mes: &MesSim) -> Settings {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut plant = load(&root.join("config/plant.toml"), &|_| None).expect("default plant");
    plant.quality.models_dir = root.join("model-artifacts");
    plant.simulator.cells_per_minute = 0.0;
    plant.mes.embedded = false;
    plant.mes.url = Some(mes.url().parse().expect("the simulator's URL"));
    plant.mes.token = Secret::new("bench-token");
    plant.mes.orders_interval = Duration::from_millis(500);
    plant.mes.retry_min = Duration::from_millis(100);
    plant.mes.retry_max = Duration::from_secs(1);
    plant
}

/// Lateness of scans: (gap − period) for every pair of consecutive scans of one
/// scan group, in ms, from scan events gathered between `from` and `to`.
fn lateness(plant: &Plant, scans: &[(DeviceId, usize, i64)], from: i64, to: i64) -> Vec<f64> {
    let mut last: std::collections::HashMap<(DeviceId, usize), i64> = Default::default();
    let mut out = Vec::new();
    for &(d, first_tag, ts) in scans.iter().filter(|s| s.2 >= from && s.2 < to) {
        let dev = plant.device(d);
        let period = dev
            .tags
            .get(first_tag)
            .map_or(1000, |t| millis(dev.group_of(t).period));
        if let Some(prev) = last.insert((d, first_tag), ts) {
            out.push((ts - prev - period) as f64);
        }
    }
    out
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * p).round() as usize]
}

async fn run_once(i: usize) -> (usize, f64) {
    let (tasks, shutdown) = (TaskTracker::new(), CancellationToken::new());
    let any = ([127, 0, 0, 1], 0).into();
    let mes = MesSim::start(
        any,
        any,
        "bench-token".into(),
        1,
        Fault::Down,
        &tasks,
        &shutdown,
    )
    .await
    .expect("MES simulator");
    let dir = tempfile::tempdir().expect("tempdir");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let options = LeptosOptions::builder()
        .output_name("cellguard")
        .site_root("target/site")
        .site_addr(addr)
        .build();
    let plant = plant(&mes);
    let topology = plant.plant.clone();
    let app = cellguard::runtime::start(plant.clone(), dir.path(), options, listener, None)
        .await
        .expect("CellGuard");
    // Every scan: (device, its first tag, time).
    let scans = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut rx = app.bus.subscribe();
    let gather = {
        let scans = Arc::clone(&scans);
        tokio::spawn(async move {
            while let Ok(ev) = rx.recv().await {
                if let BusEvent::Scan(b) = ev
                    && let Some(r) = b.readings.first()
                {
                    let mut s = scans
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    s.push((b.device, r.tag.index(), b.ts_ms));
                }
            }
        })
    };
    let msgs = backlog(now_ms() - OUTAGE_S as i64 * 1000);
    let n = msgs.len();
    app.mes
        .outbox
        .push(&msgs, now_ms())
        .await
        .expect("backlog queued");
    // Idle line first: the baseline of scan lateness.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let base_from = now_ms() - 5_000;
    let up = now_ms();
    let start = Instant::now();
    mes.set_fault(Fault::None);
    let received_all = || {
        let s = mes.summary();
        (s.machine_data + s.quality_results + s.order_confirmations) as usize >= n
    };
    while !received_all() {
        tokio::time::sleep(Duration::from_millis(5)).await;
        assert!(
            start.elapsed() < Duration::from_secs(300),
            "drain took over 5 minutes"
        );
    }
    let drain = start.elapsed().as_secs_f64();
    let done = now_ms();
    let dupes = mes.summary().duplicates;
    let (mut idle, mut draining) = {
        let s = scans
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        (
            lateness(&topology, &s, base_from, up),
            lateness(&topology, &s, up, done.max(up + 1)),
        )
    };
    println!(
        "run {i}: {n} messages drained in {drain:.2} s = {:.0} msg/s; backlog accumulated over {OUTAGE_S} s → {:.0}× faster; \
         duplicates {dupes}; scan lateness idle p50 {:.1} ms p99 {:.1} ms ({} scans), while draining p50 {:.1} ms p99 {:.1} ms max {:.1} ms ({} scans)",
        n as f64 / drain,
        OUTAGE_S as f64 / drain,
        pct(&mut idle, 0.5),
        pct(&mut idle, 0.99),
        idle.len(),
        pct(&mut draining, 0.5),
        pct(&mut draining, 0.99),
        pct(&mut draining, 1.0),
        draining.len(),
    );
    gather.abort();
    app.stop().await;
    shutdown.cancel();
    tasks.close();
    tasks.wait().await;
    (n, drain)
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let runs: usize = std::env::var("CELLGUARD_BENCH_RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    let mut rates = Vec::new();
    let mut drains = Vec::new();
    for i in 1..=runs {
        let (n, drain) = runtime.block_on(run_once(i));
        rates.push(n as f64 / drain);
        drains.push(drain);
    }
    println!(
        "median over {runs} runs: {:.0} msg/s, drain {:.2} s ({:.0}× faster than the backlog accumulated)",
        pct(&mut rates, 0.5),
        pct(&mut drains, 0.5),
        OUTAGE_S as f64 / pct(&mut drains.clone(), 0.5)
    );
}
