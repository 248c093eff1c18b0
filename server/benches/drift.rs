//! Model health benchmark: what the models page, the quality overview and the drift
//! alarm measure at most every 15 s — the newest 500 cells' records (for drift: PSI
//! per feature against the training baseline) and the newest 500 labelled cells'
//! scores (live PR AUC, recall, flag rate) — on databases holding 20 000 and 200 000
//! cells (IPQC, FQC and OQC inspections with three measurements, a score each, every
//! fifth cell with a short-term result). Both queries read only the newest cells
//! through their indexes, so the cost should not grow with the history kept.
//!
//! Run with `cargo bench -p server --bench drift` (`CELLGUARD_BENCH_CELLS=20000,2000000`
//! to change the sizes). Reports the median of 30 runs per size, and the ratio.

use std::time::{Duration, Instant};

use cellguard::quality::store::QualityStore;
use cellguard::risk::drift::{Baseline, performance};
use cellguard::storage::sqlite::SqliteStore;

const RUNS: usize = 30;
const WINDOW: u32 = 500;
const FEATURES: [&str; 3] = ["capacity", "ocv", "k_value"];

/// Fills the database with `cells` cells: three inspections each a second apart,
/// `capacity` and `ocv` at FQC and `k_value` at OQC (deterministic wiggles), a score
/// by `bench-model`, and a short-term result on every fifth cell.
async fn fill(pool: &sqlx::SqlitePool, cells: i64) {
    let mut tx = pool.begin().await.expect("tx");
    sqlx::query(
        "WITH RECURSIVE seq(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM seq WHERE i < ?1 - 1)
         INSERT INTO cells (serial, lot, order_id, product, created_ms, updated_ms, short_term_failed)
         SELECT printf('C%08d', i), printf('L%05d', i / 300), 'O1', 'HC', i * 3000, i * 3000,
                CASE WHEN i % 5 = 0 THEN (i % 35 = 0) ELSE NULL END FROM seq",
    )
    .bind(cells)
    .execute(&mut *tx)
    .await
    .expect("cells");
    sqlx::query(
        "WITH RECURSIVE seq(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM seq WHERE i < ?1 * 3 - 1)
         INSERT INTO inspections (id, idem_key, digest, serial, stage, station, ts_ms, received_ms)
         SELECT i + 1, 'k' || i, 'd', printf('C%08d', i / 3),
                CASE i % 3 WHEN 0 THEN 'IPQC' WHEN 1 THEN 'FQC' ELSE 'OQC' END,
                'S1', i * 1000, i * 1000 FROM seq",
    )
    .bind(cells)
    .execute(&mut *tx)
    .await
    .expect("inspections");
    for (name, stage, base, unit) in [
        ("capacity", "FQC", 5.2, "Ah"),
        ("ocv", "FQC", 3.64, "V"),
        ("k_value", "OQC", 0.5, "mV/day"),
    ] {
        sqlx::query(
            "INSERT INTO measurements (inspection_id, name, unit, value, lsl, usl, pass)
             SELECT id, ?1, ?2, ?3 + ((id * 7919) % 1000) / 10000.0, NULL, NULL, 1
               FROM inspections WHERE stage = ?4",
        )
        .bind(name)
        .bind(unit)
        .bind(base)
        .bind(stage)
        .execute(&mut *tx)
        .await
        .expect("measurements");
    }
    sqlx::query(
        "INSERT INTO scores (serial, model, model_version, score, band, threshold, scored_ms)
         SELECT serial, 'bench-model', 'v1', ((created_ms / 3000) * 7919 % 1000) / 1000.0,
                'low', 0.5, created_ms FROM cells",
    )
    .execute(&mut *tx)
    .await
    .expect("scores");
    tx.commit().await.expect("commit");
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let sizes: Vec<i64> = std::env::var("CELLGUARD_BENCH_CELLS")
        .ok()
        .map(|s| s.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![20_000, 200_000]);
    let names: Vec<String> = FEATURES.iter().map(|f| (*f).to_owned()).collect();
    let mut medians = Vec::new();
    for cells in sizes {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = SqliteStore::open(&dir.path().join("bench.db"))
            .await
            .expect("database");
        let t = Instant::now();
        fill(db.pool(), cells).await;
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(db.pool())
            .await
            .expect("checkpoint");
        let store = QualityStore::new(db.pool().clone());
        // The baseline: the newest 5 000 cells stand for the training data.
        let training: Vec<Vec<Option<f64>>> = store
            .recent_records(5_000)
            .await
            .expect("records")
            .iter()
            .map(|r| FEATURES.iter().map(|f| r.get(f)).collect())
            .collect();
        let baseline = Baseline::of(&names, &training);
        let (mut records, mut whole) = (Vec::new(), Vec::new());
        for _ in 0..RUNS {
            let t0 = Instant::now();
            let recent = store.recent_records(WINDOW).await.expect("records");
            let t1 = Instant::now();
            let rows: Vec<Vec<Option<f64>>> = recent
                .iter()
                .map(|r| FEATURES.iter().map(|f| r.get(f)).collect())
                .collect();
            let drift = baseline.drift(&rows);
            let labelled = store
                .labelled_scores("bench-model", WINDOW)
                .await
                .expect("labelled");
            let p = performance(&labelled, 0.5);
            let t2 = Instant::now();
            assert_eq!(recent.len(), WINDOW as usize);
            assert_eq!(drift.len(), FEATURES.len());
            assert_eq!(p.labelled, u64::from(WINDOW));
            records.push(t1 - t0);
            whole.push(t2 - t0);
        }
        let (r, w) = (median(records), median(whole));
        println!(
            "{cells:>9} cells (filled in {:.1} s): newest {WINDOW} records {:>7.2} ms, \
             + drift + {WINDOW} labelled scores + live figures {:>7.2} ms (median of {RUNS})",
            t.elapsed().as_secs_f64(),
            r.as_secs_f64() * 1e3,
            w.as_secs_f64() * 1e3
        );
        medians.push(w);
    }
    if let (Some(first), Some(last)) = (medians.first(), medians.last()) {
        println!(
            "largest / smallest: {:.2}",
            last.as_secs_f64() / first.as_secs_f64()
        );
    }
}
