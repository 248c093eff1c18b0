//! Limit-alarm benchmark, beside the acquisition bench: N PLCs × 50 tags scanned at
//! 10 Hz, every tag with a Hi and a Lo limit (100 checks per PLC), evaluated by the
//! alarm task's [`LimitEvaluator`] on every scan batch.
//!
//! Run with `cargo bench -p server --bench alarms` (N defaults to 10, 100, 1000; set
//! `CELLGUARD_BENCH_DEVICES=1000` to change). Replays 10 s of the line (100 scans of
//! every PLC, values moving around their nominal, a few crossing a limit) five times
//! and reports the median CPU time per second of line time as a share of one core,
//! and the nanoseconds per reading.

use std::time::{Duration, Instant};

use app::line::{Quality, Value};
use cellguard::alarms::evaluate::{Change, LimitEvaluator};
use cellguard::bus::{Reading, ScanBatch};
use cellguard::config::parse;
use cellguard::plant::Plant;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

const TAGS: usize = 50;
const SCANS_PER_SECOND: usize = 10;
const SECONDS: usize = 10;
const RUNS: usize = 5;

fn plant(devices: usize) -> Plant {
    let mut toml = String::new();
    for d in 0..devices {
        toml.push_str(&format!(
            "[[devices]]\nid = \"D{d}\"\nhost = \"127.0.0.1\"\nport = 1\nscan_groups = [{{ name = \"fast\", period_ms = 100 }}]\n"
        ));
        for t in 0..TAGS {
            toml.push_str(&format!(
                "[[devices.tags]]\nname = \"t{t}\"\ntable = \"holding\"\naddress = {}\ntype = \"f32\"\nscan_group = \"fast\"\nalarms = {{ hi = 60.0, lo = 40.0, deadband = 0.5, on_delay_ms = 300 }}\n",
                t * 2
            ));
        }
    }
    parse(std::path::Path::new("bench.toml"), &toml, &|_| None)
        .expect("bench plant")
        .plant
}

/// Every scan of every device over the replayed seconds, in time order.
fn batches(plant: &Plant) -> Vec<ScanBatch> {
    let mut rng = SmallRng::seed_from_u64(7);
    let mut out = Vec::with_capacity(plant.devices.len() * SCANS_PER_SECOND * SECONDS);
    for s in 0..SCANS_PER_SECOND * SECONDS {
        for d in &plant.devices {
            out.push(ScanBatch {
                device: d.id,
                ts_ms: (s * 100) as i64,
                readings: d
                    .tags
                    .iter()
                    .map(|t| Reading {
                        tag: t.id,
                        // Around 50, one reading in a thousand past a limit.
                        value: Some(Value::Number(if rng.random_bool(0.001) {
                            65.0
                        } else {
                            50.0 + rng.random_range(-5.0..5.0)
                        })),
                        quality: Quality::Good,
                    })
                    .collect(),
            });
        }
    }
    out
}

fn main() {
    let counts: Vec<usize> = std::env::var("CELLGUARD_BENCH_DEVICES")
        .ok()
        .map(|v| v.split(',').filter_map(|s| s.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![10, 100, 1000]);
    println!(
        "devices  tags  checks  readings/s  ns/reading  share of one core (median of {RUNS})  changes"
    );
    for n in counts {
        let plant = plant(n);
        let input = batches(&plant);
        let readings = (n * TAGS * SCANS_PER_SECOND * SECONDS) as f64;
        let mut times: Vec<Duration> = Vec::with_capacity(RUNS);
        let mut changes = 0;
        for _ in 0..RUNS {
            let mut e = LimitEvaluator::new(&plant);
            let mut out: Vec<Change> = Vec::new();
            let started = Instant::now();
            for b in &input {
                out.clear();
                e.scan(b, &mut out);
                changes += out.len();
            }
            times.push(started.elapsed());
        }
        times.sort();
        let median = times[RUNS / 2];
        let share = median.as_secs_f64() / SECONDS as f64;
        println!(
            "{n:>7}  {TAGS:>4}  {:>6}  {:>10.0}  {:>10.1}  {:>34.3} %  {:>7}",
            n * TAGS * 2,
            readings / SECONDS as f64,
            median.as_nanos() as f64 / readings,
            share * 100.0,
            changes / RUNS
        );
    }
}
