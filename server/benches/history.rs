//! Historian benchmark: trend queries on a month of raw history and a year of
//! rollups, the overview snapshot on an empty and on that file, database size per
//! tag-day and tag-year, and ingest (1 000 PLCs × 50 tags at 10 Hz through the
//! writer's intake into SQLite) on one thread.
//!
//! Run with `cargo bench -p server --bench history` (`CELLGUARD_BENCH_DAYS=30`,
//! `CELLGUARD_BENCH_INGEST_SECONDS=10` to change). Prints medians and p99s.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use app::line::{Quality, Value};
use cellguard::bus::{Bus, Reading, ScanBatch};
use cellguard::clock::now_ms;
use cellguard::config::{Settings, load, parse};
use cellguard::services::Line;
use cellguard::storage::HistoryStore;
use cellguard::storage::recent::Recent;
use cellguard::storage::sqlite::{SqliteHistory, SqliteStore};
use cellguard::storage::writer::Intake;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn default_settings() -> Settings {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/plant.toml");
    load(&path, &|_| None).expect("the default plant")
}

fn quantiles(mut v: Vec<Duration>) -> (Duration, Duration) {
    v.sort_unstable();
    let at = |q: f64| v[((v.len() as f64 - 1.0) * q).round() as usize];
    (at(0.5), at(0.99))
}

fn us(d: Duration) -> String {
    format!("{:.1} µs", d.as_secs_f64() * 1e6)
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

/// CPU time (user + system) of this process so far.
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks: u64 = f.get(11).and_then(|v| v.parse().ok()).unwrap_or(0)
        + f.get(12).and_then(|v| v.parse().ok()).unwrap_or(0);
    Duration::from_millis(ticks * 10)
}

/// A line service over `store` with 15 minutes of every numeric tag in its rings.
fn line_over(settings: &Settings, store: Arc<dyn HistoryStore>) -> Line {
    let plant = Arc::new(settings.plant.clone());
    let recent = Arc::new(Recent::new(&plant, settings.history.memory_window));
    let now = now_ms();
    for d in &plant.devices {
        recent.push(
            d.id,
            (0..900).flat_map(|s| {
                d.tags
                    .iter()
                    .enumerate()
                    .filter(|(_, t)| t.is_numeric())
                    .map(move |(i, _)| (i, now - (900 - s) * 1000, s as f64))
            }),
        );
    }
    let bus = Arc::new(Bus::new(&plant, 1024));
    Line::new(plant, bus, store, recent)
}

fn snapshot_cost(line: &Line) -> (Duration, Duration) {
    let mut t = Vec::with_capacity(2000);
    for _ in 0..2000 {
        let start = Instant::now();
        let v = line.view(true);
        std::hint::black_box(&v);
        t.push(start.elapsed());
    }
    quantiles(t)
}

async fn size_of(db: &SqliteStore, table: &str) -> Option<i64> {
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT SUM(pgsize) FROM dbstat WHERE name = '{table}'"
    )))
    .fetch_one(db.pool())
    .await
    .ok()
}

async fn queries(settings: &Settings, days: u32) {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = SqliteStore::open_in(dir.path()).await.expect("open");
    let store: Arc<SqliteHistory> = Arc::new(db.history(&settings.plant).await.expect("tags"));

    let empty = line_over(settings, store.clone());
    let (p50, p99) = snapshot_cost(&empty);
    println!(
        "overview snapshot, empty file: p50 {} p99 {}",
        us(p50),
        us(p99)
    );

    let started = Instant::now();
    cellguard::cli::history::run(&settings.plant, days, 365, dir.path())
        .await
        .expect("synthetic history");
    println!(
        "generated {days} d raw + 365 d rollups in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    let numeric = settings.plant.tags().filter(|t| t.is_numeric()).count() as f64;
    let file = std::fs::metadata(dir.path().join("cellguard.db"))
        .map(|m| m.len())
        .unwrap_or(0);
    println!(
        "file: {:.1} MB for {numeric} numeric tags",
        file as f64 / 1e6
    );
    for (table, per, unit) in [
        ("history", numeric * f64::from(days), "tag-day raw"),
        ("rollup_1m", numeric, "tag-year of minute rollups"),
        ("rollup_1h", numeric, "tag-year of hour rollups"),
    ] {
        match size_of(&db, table).await {
            Some(bytes) => println!(
                "{table}: {:.1} MB, {:.0} KB per {unit}",
                bytes as f64 / 1e6,
                bytes as f64 / per / 1e3
            ),
            None => println!("{table}: dbstat not available"),
        }
    }
    let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM history")
        .fetch_one(db.pool())
        .await
        .expect("count");
    println!("raw rows: {rows}");

    let full = line_over(settings, store.clone());
    let (p50, p99) = snapshot_cost(&full);
    println!(
        "overview snapshot, {days}-day file: p50 {} p99 {}",
        us(p50),
        us(p99)
    );

    let d = settings.plant.device_named("FORM_01").expect("FORM_01");
    let tags: Vec<_> = d
        .tags
        .iter()
        .filter(|t| t.is_numeric())
        .map(|t| t.id)
        .collect();
    for (name, span) in [
        ("24 h", 86_400_000_i64),
        ("30 d", 30 * 86_400_000),
        ("1 y", 365 * 86_400_000),
    ] {
        let mut t = Vec::new();
        let mut points = 0;
        for _ in 0..200 {
            let now = now_ms();
            let start = Instant::now();
            let s = store
                .trend(&tags, now - span, now, 600)
                .await
                .expect("trend");
            t.push(start.elapsed());
            points = s.iter().map(Vec::len).max().unwrap_or(0);
        }
        let (p50, p99) = quantiles(t);
        println!(
            "trend {name}, FORM_01 ({} tags): p50 {} p99 {} ({points} buckets per tag)",
            tags.len(),
            ms(p50),
            ms(p99)
        );
    }
}

fn big_plant(devices: usize, tags: usize) -> Settings {
    let mut toml =
        String::from("[history]\nmin_interval_ms = 1000\nmemory_minutes = 2\nbatch_size = 5000\n");
    for d in 0..devices {
        toml.push_str(&format!(
            "[[devices]]\nid = \"D{d}\"\nhost = \"127.0.0.1\"\nport = 1\nscan_groups = [{{ name = \"fast\", period_ms = 100 }}]\n"
        ));
        for t in 0..tags {
            toml.push_str(&format!(
                "[[devices.tags]]\nname = \"t{t}\"\ntable = \"holding\"\naddress = {}\ntype = \"f32\"\nscan_group = \"fast\"\n",
                t * 2
            ));
        }
    }
    parse(Path::new("bench.toml"), &toml, &|_| None).expect("bench plant")
}

async fn ingest(seconds: u64) {
    let settings = big_plant(1000, 50);
    let plant = &settings.plant;
    let dir = tempfile::tempdir().expect("tempdir");
    let db = SqliteStore::open_in(dir.path()).await.expect("open");
    let store = db.history(plant).await.expect("tags");
    let recent = Arc::new(Recent::new(plant, settings.history.memory_window));
    let mut intake = Intake::new(plant, &settings.history, recent);
    let t0 = now_ms();
    let cpu0 = cpu_time();
    let wall = Instant::now();
    let mut values = 0u64;
    let mut written = 0usize;
    let mut rolled = 0usize;
    for step in 0..(seconds * 10) as i64 {
        let ts = t0 + step * 100;
        for d in &plant.devices {
            let batch = ScanBatch {
                device: d.id,
                ts_ms: ts,
                readings: d
                    .tags
                    .iter()
                    .enumerate()
                    .map(|(i, t)| Reading {
                        tag: t.id,
                        value: Some(Value::Number((step as f64 + i as f64).sin())),
                        quality: Quality::Good,
                    })
                    .collect(),
            };
            values += batch.readings.len() as u64;
            intake.take(&batch);
        }
        // The writer's flush tick, every 500 ms.
        if step % 5 == 4 {
            intake.tick(ts);
            written += intake.samples.len();
            rolled += intake.rolled.len();
            store
                .append(&intake.samples, &intake.rolled)
                .await
                .expect("append");
            intake.samples.clear();
            intake.rolled.clear();
        }
    }
    intake.finish();
    written += intake.samples.len();
    rolled += intake.rolled.len();
    store
        .append(&intake.samples, &intake.rolled)
        .await
        .expect("append");
    let cpu = cpu_time() - cpu0;
    let elapsed = wall.elapsed();
    let stored: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM history")
        .fetch_one(db.pool())
        .await
        .expect("count");
    println!(
        "ingest: {values} values ({seconds} s of 1000 × 50 at 10 Hz) in {:.2} s wall, {:.2} s CPU: {:.0} values/s per core; {written} samples kept, {stored} stored, {rolled} rollup rows, {} dropped",
        elapsed.as_secs_f64(),
        cpu.as_secs_f64(),
        values as f64 / cpu.as_secs_f64().max(1e-9),
        intake.dropped
    );
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let days = u32::try_from(env_or("CELLGUARD_BENCH_DAYS", 30)).unwrap_or(30);
    rt.block_on(async {
        queries(&default_settings(), days).await;
        ingest(env_or("CELLGUARD_BENCH_INGEST_SECONDS", 10)).await;
    });
}
