//! SPC chart benchmark: reading a measurement's newest 1 000 values and assembling
//! its I-MR chart (limits, rules, capability), on databases holding 20 000 and
//! 200 000 cells (three inspections each, capacity measured at FQC). The values query
//! walks the inspections' time index newest first and stops at the values shown, so
//! the cost should not grow with the history kept.
//!
//! Run with `cargo bench -p server --bench spc` (`CELLGUARD_BENCH_CELLS=20000,2000000`
//! to change the sizes). Reports the median of 30 runs per size, and the ratio.

use std::time::{Duration, Instant};

use app::spc::view::ChartQuery;
use cellguard::spc::analysis::analyse;
use cellguard::spc::store::SpcStore;
use cellguard::storage::sqlite::SqliteStore;

const RUNS: usize = 30;
const VALUES: u32 = 1_000;

/// Fills the database with `cells` cells, each with IPQC, FQC and OQC inspections a
/// second apart and a capacity at FQC (a deterministic wiggle around 5.3 Ah).
async fn fill(pool: &sqlx::SqlitePool, cells: i64) {
    let mut tx = pool.begin().await.expect("tx");
    sqlx::query(
        "WITH RECURSIVE seq(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM seq WHERE i < ?1 - 1)
         INSERT INTO cells (serial, lot, order_id, product, created_ms, updated_ms)
         SELECT printf('C%08d', i), printf('L%05d', i / 300), 'O1', 'HC', i * 3000, i * 3000 FROM seq",
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
    sqlx::query(
        "INSERT INTO measurements (inspection_id, name, unit, value, lsl, usl, pass)
         SELECT id, 'capacity', 'Ah', 5.3 + ((id * 7919) % 1000) / 10000.0, 5.0, NULL, 1
           FROM inspections WHERE stage = 'FQC'",
    )
    .execute(&mut *tx)
    .await
    .expect("measurements");
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
    let spec = ChartQuery {
        measurement: Some("capacity".into()),
        ..ChartQuery::default()
    }
    .spec("HC")
    .expect("query");
    let mut medians = Vec::new();
    for cells in sizes {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = SqliteStore::open(&dir.path().join("bench.db"))
            .await
            .expect("database");
        let t = Instant::now();
        fill(db.pool(), cells).await;
        // No ANALYZE: CellGuard never runs it, and with its statistics SQLite builds a
        // Bloom filter over `measurements` and `cells` for this join, a scan of both
        // tables per query (measured 4.6x slower at 200 000 cells than at 20 000).
        // One fill transaction leaves the whole file in the WAL; a running line
        // checkpoints as it goes, so the bench reads a checkpointed file too.
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(db.pool())
            .await
            .expect("checkpoint");
        let plan: Vec<String> = sqlx::query(sqlx::AssertSqlSafe(format!(
            "EXPLAIN QUERY PLAN {}",
            cellguard::spc::store::VALUES_SQL
        )))
        .bind(i64::MIN)
        .bind(i64::MAX)
        .bind("capacity")
        .bind("HC")
        .bind(i64::from(VALUES))
        .fetch_all(db.pool())
        .await
        .expect("plan")
        .iter()
        .map(|r| sqlx::Row::get::<String, _>(r, 3))
        .collect();
        println!("plan: {}", plan.join(" | "));
        let store = SpcStore::new(db.pool().clone());
        let (mut read, mut whole) = (Vec::new(), Vec::new());
        for _ in 0..RUNS {
            let t0 = Instant::now();
            let values = store
                .values("HC", "capacity", i64::MIN, i64::MAX, VALUES)
                .await
                .expect("values");
            let t1 = Instant::now();
            let a = analyse(
                &spec,
                &values,
                None,
                Some(app::spc::SpecLimits {
                    lsl: Some(5.0),
                    usl: None,
                }),
            );
            let t2 = Instant::now();
            assert_eq!(values.len(), VALUES as usize);
            assert!(a.chart.is_ok());
            read.push(t1 - t0);
            whole.push(t2 - t0);
        }
        let (r, w) = (median(read), median(whole));
        println!(
            "{cells:>9} cells (filled in {:.1} s): read {VALUES} values {:>7.2} ms, read + chart {:>7.2} ms (median of {RUNS})",
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
