//! `cellguard simulate history`: a synthetic history for the plant's numeric tags,
//! written straight into the historian's tables by SQLite itself (a recursive
//! query a tag), so 30 days of a plant take a minute, not hours.
//!
//! Each tag gets an hourly sawtooth around a level of its own with noise and a
//! spike every 5 000 samples; raw samples cover the last `days`, rollups the last
//! `rollup_days` (minutes from the raw samples where there are some, hours from
//! minutes, days from hours: the historian's own repair queries).

use std::path::Path;
use std::time::Instant;

use anyhow::Context;

use crate::clock::now_ms;
use crate::plant::Plant;
use crate::storage::rollup::Rollup;
use crate::storage::sqlite::{SqliteStore, sql};

const DAY_MS: i64 = 86_400_000;

/// Raw samples of one tag: ?1 tag id, ?2 first time, ?3 count, ?4 level, ?5 amplitude.
const RAW: &str = "INSERT OR REPLACE INTO history (tag_id, ts_ms, value, text, quality)
    WITH RECURSIVE s(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM s WHERE i + 1 < ?3)
    SELECT ?1, ?2 + i * 1000,
           ?4 + ?5 * ((i % 3600) - 1800) / 1800.0 + ?5 * 0.2 * (abs(random()) % 1000) / 1000.0
              + CASE WHEN i % 5000 = 0 THEN 4 * ?5 ELSE 0 END,
           NULL, 0
      FROM s";

/// Minute rows of one tag without raw samples: ?1 tag id, ?2 first minute, ?3 count,
/// ?4 level, ?5 amplitude.
const MINUTES: &str =
    "INSERT OR REPLACE INTO rollup_1m (tag_id, start_ms, min, max, sum, count, last_ms, last)
    WITH RECURSIVE s(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM s WHERE i + 1 < ?3)
    SELECT ?1, ?2 + i * 60000, ?4 - ?5, ?4 + ?5 + CASE WHEN i % 83 = 0 THEN 4 * ?5 ELSE 0 END,
           ?4 * 60, 60, ?2 + i * 60000 + 59000, ?4
      FROM s";

/// Writes the history; prints what it wrote.
pub async fn run(
    plant: &Plant,
    days: u32,
    rollup_days: u32,
    data_dir: &Path,
) -> anyhow::Result<()> {
    anyhow::ensure!(days >= 1, "--days must be at least 1");
    anyhow::ensure!(
        rollup_days >= days,
        "--rollup-days must be at least --days ({days})"
    );
    let db = SqliteStore::open_in(data_dir)
        .await
        .with_context(|| format!("opening the database in {}", data_dir.display()))?;
    db.history(plant).await.context("registering the tags")?;
    let started = Instant::now();
    let now = Rollup::Minute.start_of(now_ms());
    let raw_from = now - i64::from(days) * DAY_MS;
    let rollup_from = Rollup::Day.start_of(now - i64::from(rollup_days) * DAY_MS);
    let mut tags = 0;
    for d in &plant.devices {
        for (i, t) in d.tags.iter().enumerate().filter(|(_, t)| t.is_numeric()) {
            let id: i64 = sqlx::query_scalar("SELECT id FROM tags WHERE device = ?1 AND tag = ?2")
                .bind(&d.machine)
                .bind(&t.name)
                .fetch_one(db.pool())
                .await?;
            let level = 50.0 + 10.0 * i as f64;
            let amp = 5.0;
            let mut tx = db.pool().begin().await?;
            sqlx::query(MINUTES)
                .bind(id)
                .bind(rollup_from)
                .bind((raw_from - rollup_from) / 60_000)
                .bind(level)
                .bind(amp)
                .execute(&mut *tx)
                .await?;
            sqlx::query(RAW)
                .bind(id)
                .bind(raw_from)
                .bind((now - raw_from) / 1000)
                .bind(level)
                .bind(amp)
                .execute(&mut *tx)
                .await?;
            sqlx::query(sql::REBUILD_MINUTES)
                .bind(id)
                .bind(raw_from)
                .execute(&mut *tx)
                .await?;
            sqlx::query(sql::REBUILD_HOURS)
                .bind(id)
                .bind(rollup_from)
                .execute(&mut *tx)
                .await?;
            sqlx::query(sql::REBUILD_DAYS)
                .bind(id)
                .bind(rollup_from)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            tags += 1;
            println!(
                "{}.{}: done ({:.0} s)",
                d.machine,
                t.name,
                started.elapsed().as_secs_f64()
            );
        }
    }
    println!(
        "wrote {days} days of raw samples at 1 s and {rollup_days} days of rollups for {tags} tags in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
