//! Risk scoring benchmark: single-cell latency and batch throughput of both models,
//! side by side with scikit-learn and xgboost on the same CSV and lot split.
//!
//! Run with `cargo bench -p server --bench scoring`. The data is the CSV named by
//! `CELLGUARD_BENCH_DATA`; without it the default training dataset (`cellguard simulate
//! dataset --cells 20000 --seed 7`) is generated into a temporary file. Both models are trained on it
//! with the defaults of `cellguard train` (seed `CELLGUARD_BENCH_SEED`, default 7),
//! saved, and loaded back, so the loaded artifacts are what is measured.
//!
//! Single-cell latency: batches of `score_with` calls (reused buffers, the hot path:
//! the probability and every feature's contribution) timed with `Instant`, median and
//! p99 of the per-call time over 200 batches of up to 1000 calls (fewer when a call is
//! slow, so a batch takes about 2 ms); the allocating `score` is shown beside it. Batch: `score_batch` on 10 000 rows.
//! When `python3` with scikit-learn, xgboost and numpy is available,
//! `tools/compare_models.py` runs on the same CSV and `split.json` and its figures are
//! printed in the same table. Nothing here asserts on timings.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use cellguard::quality::dataset::{read_file, write_csv};
use cellguard::quality::settings::QualitySettings;
use cellguard::risk::artifacts::write_artifacts;
use cellguard::risk::model::{MODEL_FILE, Model};
use cellguard::risk::train::{TrainOptions, train};
use cellguard::sim::cells::dataset;

const CALLS_PER_BATCH: usize = 1000;
const BATCHES: usize = 200;
const BATCH_ROWS: usize = 10_000;

/// Per-call time of a closure, from batches of calls.
struct Timing {
    median_ns: f64,
    p99_ns: f64,
    /// Calls per batch.
    calls: usize,
}

fn time_calls(mut f: impl FnMut(usize)) -> Timing {
    // Warm up caches and branch predictors first, and size the batches: up to
    // CALLS_PER_BATCH calls, fewer when one call is slow (a forest explaining its
    // score walks every node), so that a batch takes about 2 ms.
    let t = Instant::now();
    let mut warm = 0;
    while warm < CALLS_PER_BATCH && (warm < 3 || t.elapsed().as_millis() < 50) {
        f(warm);
        warm += 1;
    }
    let per_call_ns = t.elapsed().as_nanos() as f64 / warm as f64;
    let calls = ((2e6 / per_call_ns) as usize).clamp(1, CALLS_PER_BATCH);
    let mut per_call: Vec<f64> = (0..BATCHES)
        .map(|b| {
            let t = Instant::now();
            for i in 0..calls {
                f(b * calls + i);
            }
            t.elapsed().as_nanos() as f64 / calls as f64
        })
        .collect();
    per_call.sort_by(f64::total_cmp);
    let at = |q: f64| per_call[((per_call.len() - 1) as f64 * q).round() as usize];
    Timing {
        median_ns: at(0.5),
        p99_ns: at(0.99),
        calls,
    }
}

/// One of our models' figures.
struct RustRow {
    name: String,
    pr_auc: Option<f64>,
    roc_auc: Option<f64>,
    base_rate: Option<f64>,
    threshold: f64,
    train_s: f64,
    hot: Timing,
    alloc_median_ns: f64,
    batch_rows_per_s: f64,
    size: u64,
}

const PYTHON_MODULES: &str = "import sklearn, xgboost, numpy";

fn python_available() -> bool {
    Command::new("python3")
        .args(["-c", PYTHON_MODULES])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Runs the reference models on the same CSV and split; their JSON report.
fn run_python(data: &Path, split: &Path) -> Option<serde_json::Value> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tools/compare_models.py");
    let out = Command::new("python3")
        .arg(&script)
        .arg("--data")
        .arg(data)
        .arg("--split")
        .arg(split)
        .output();
    match out {
        Ok(o) if o.status.success() => serde_json::from_slice(&o.stdout).ok(),
        Ok(o) => {
            println!(
                "note: the reference models failed: {}",
                String::from_utf8_lossy(&o.stderr)
            );
            None
        }
        Err(e) => {
            println!("note: cannot run python3: {e}");
            None
        }
    }
}

fn fmt(v: Option<f64>) -> String {
    v.map_or_else(|| "n/a".into(), |v| format!("{v:.3}"))
}

fn main() {
    let temp = tempfile::tempdir().expect("temp dir");
    let data: PathBuf = match std::env::var_os("CELLGUARD_BENCH_DATA") {
        Some(p) => PathBuf::from(p),
        None => {
            let p = temp.path().join("cells.csv");
            let f = std::fs::File::create(&p).expect("creates the CSV");
            // The default dataset: what `cellguard simulate dataset --cells 20000 --seed 7` writes.
            write_csv(std::io::BufWriter::new(f), &dataset(20_000, 7)).expect("writes the CSV");
            println!(
                "data: simulated, 20 000 cells, seed 7 (set CELLGUARD_BENCH_DATA=FILE.csv for another)"
            );
            p
        }
    };
    let seed = std::env::var("CELLGUARD_BENCH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(7);
    let records = read_file(&data, &QualitySettings::default())
        .unwrap_or_else(|e| panic!("reading {}: {e}", data.display()));
    println!(
        "data: {} ({} cells), seed {seed}",
        data.display(),
        records.len()
    );

    let policy = QualitySettings::default().threshold;
    let opts = TrainOptions::new(seed, policy);
    let t = Instant::now();
    let outcome = train(&records, &opts, &|_, _, _| {}).expect("trains");
    println!("trained both models in {:.1} s", t.elapsed().as_secs_f64());
    let artifacts = temp.path().join("models");
    let dirs = write_artifacts(&outcome, &artifacts, "bench").expect("writes artifacts");

    // Inputs: every usable row, as scoring sees it.
    let mut rows_out = Vec::new();
    for (trained, dir) in outcome.models().into_iter().zip(&dirs) {
        let model = Model::load(dir).expect("loads");
        let inputs: Vec<Vec<Option<f64>>> = records
            .iter()
            .map(|r| model.features_from_record(r))
            .filter(|x| model.score(x).is_ok())
            .collect();
        assert!(!inputs.is_empty(), "no scorable rows");
        let mut scratch = model.scratch();
        let hot = time_calls(|i| {
            let x = &inputs[i % inputs.len()];
            black_box(
                model
                    .score_with(black_box(x), &mut scratch)
                    .map(|s| s.p)
                    .ok(),
            );
        });
        let alloc = time_calls(|i| {
            let x = &inputs[i % inputs.len()];
            black_box(model.score(black_box(x)).ok());
        });
        let complete: Vec<Vec<f64>> = (0..BATCH_ROWS)
            .map(|i| {
                inputs[i % inputs.len()]
                    .iter()
                    .zip(model.features())
                    .map(|(v, f)| v.unwrap_or(f.mean))
                    .collect()
            })
            .collect();
        let mut rates: Vec<f64> = (0..7)
            .map(|_| {
                let t = Instant::now();
                black_box(model.score_batch(black_box(&complete)));
                BATCH_ROWS as f64 / t.elapsed().as_secs_f64()
            })
            .collect();
        rates.sort_by(f64::total_cmp);
        let m = &trained.metrics;
        rows_out.push(RustRow {
            name: format!("cellguard-{}", model.kind()),
            pr_auc: m.pr_auc,
            roc_auc: m.roc_auc,
            base_rate: m.base_rate,
            threshold: m.threshold,
            train_s: m.training_seconds,
            hot,
            alloc_median_ns: alloc.median_ns,
            batch_rows_per_s: rates[rates.len() / 2],
            size: std::fs::metadata(dir.join(MODEL_FILE)).map_or(0, |m| m.len()),
        });
    }

    println!(
        "\nsingle cell with its reasons ({BATCHES} batches of up to {CALLS_PER_BATCH} calls) and batch, probabilities only ({BATCH_ROWS} rows)"
    );
    println!(
        "{:<20} {:>12} {:>14} {:>14} {:>14} {:>16} {:>12}",
        "model",
        "calls/batch",
        "hot median ns",
        "hot p99 ns",
        "score() ns",
        "batch rows/s",
        "model.json"
    );
    for r in &rows_out {
        println!(
            "{:<20} {:>12} {:>14.0} {:>14.0} {:>14.0} {:>16.0} {:>10.2}MB",
            r.name,
            r.hot.calls,
            r.hot.median_ns,
            r.hot.p99_ns,
            r.alloc_median_ns,
            r.batch_rows_per_s,
            r.size as f64 / 1e6
        );
    }

    let python = if python_available() {
        run_python(&data, &dirs[0].join("split.json"))
    } else {
        println!(
            "\nnote: python3 with scikit-learn, xgboost and numpy not found; comparison skipped"
        );
        None
    };
    println!("\nheld-out test lots (same CSV, same lot split)");
    println!(
        "{:<20} {:>8} {:>8} {:>10} {:>10} {:>9} {:>16}",
        "model", "PR AUC", "ROC AUC", "base rate", "threshold", "train s", "1 row µs (med)"
    );
    for r in &rows_out {
        println!(
            "{:<20} {:>8} {:>8} {:>10} {:>10.4} {:>9.2} {:>16.3}",
            r.name,
            fmt(r.pr_auc),
            fmt(r.roc_auc),
            fmt(r.base_rate),
            r.threshold,
            r.train_s,
            r.hot.median_ns / 1000.0
        );
    }
    if let Some(py) = python {
        let base = py["base_rate"].as_f64();
        for m in py["models"].as_array().into_iter().flatten() {
            println!(
                "{:<20} {:>8} {:>8} {:>10} {:>10} {:>9.2} {:>16.3}",
                m["model"].as_str().unwrap_or("?"),
                fmt(m["pr_auc"].as_f64()),
                fmt(m["roc_auc"].as_f64()),
                fmt(base),
                "-",
                m["training_seconds"].as_f64().unwrap_or(f64::NAN),
                m["single_row_us_median"].as_f64().unwrap_or(f64::NAN)
            );
        }
        println!("(python: one thread; single-row time is one predict/predict_proba call)");
    }
}
