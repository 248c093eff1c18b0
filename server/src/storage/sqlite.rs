//! The SQLite history store (a single file under the data directory, WAL mode).

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use app::line::Point;
use async_trait::async_trait;
use sqlx::Row;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use super::{HistoryRow, HistoryStore, StoreError};

/// History in a SQLite file.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if needed) `cellguard.db` in `data_dir` and migrates it.
    pub async fn open_in(data_dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(data_dir).map_err(|source| StoreError::DataDir {
            path: data_dir.display().to_string(),
            source,
        })?;
        Self::open(&data_dir.join("cellguard.db")).await
    }

    /// Opens (creating if needed) the database file and migrates it.
    pub async fn open(file: &Path) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str("sqlite://")?
            .filename(file)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await?;
        sqlx::migrate!("./migrations").run(&pool).await?;
        Ok(Self { pool })
    }

    /// The pool, for other stores sharing the file.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }
}

#[async_trait]
impl HistoryStore for SqliteStore {
    async fn append(&self, rows: &[HistoryRow]) -> Result<(), StoreError> {
        if rows.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool.begin().await?;
        // Multi-row inserts keep the statement count low; 6 binds a row stays far
        // below SQLite's variable limit at 100 rows a statement.
        for chunk in rows.chunks(100) {
            let mut qb = sqlx::QueryBuilder::new(
                "INSERT INTO samples (device, tag, ts_ms, value, text, quality) ",
            );
            qb.push_values(chunk, |mut b, r| {
                b.push_bind(r.device.as_ref())
                    .push_bind(r.tag.as_ref())
                    .push_bind(r.ts_ms)
                    .push_bind(r.value)
                    .push_bind(r.text.as_deref())
                    .push_bind(i64::from(r.quality.code()));
            });
            qb.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn series(
        &self,
        device: &str,
        tags: &[String],
        from_ms: i64,
        to_ms: i64,
        buckets: u32,
    ) -> Result<Vec<(String, Vec<Point>)>, StoreError> {
        let span = (to_ms - from_ms + 1).max(1);
        let n = i64::from(buckets.max(1));
        let width = ((span + n - 1) / n).max(1);
        let rows = sqlx::query(
            "SELECT tag, (ts_ms - ?1) / ?2 AS bucket, AVG(value) AS v, MAX(ts_ms) AS t
               FROM samples
              WHERE device = ?3 AND ts_ms >= ?1 AND ts_ms <= ?4 AND value IS NOT NULL AND quality IN (0, 1)
              GROUP BY tag, bucket
              ORDER BY tag, bucket",
        )
        .bind(from_ms)
        .bind(width)
        .bind(device)
        .bind(to_ms)
        .fetch_all(&self.pool)
        .await?;
        let mut out: Vec<(String, Vec<Point>)> =
            tags.iter().map(|t| (t.clone(), Vec::new())).collect();
        for r in rows {
            let tag: String = r.try_get("tag")?;
            let v: Option<f64> = r.try_get("v")?;
            let t: i64 = r.try_get("t")?;
            if let (Some(slot), Some(v)) = (out.iter_mut().find(|(n, _)| *n == tag), v) {
                slot.1.push((t, v));
            }
        }
        Ok(out)
    }

    async fn prune(&self, before_ms: i64) -> Result<u64, StoreError> {
        // In chunks, so the history writer gets the write lock in between.
        let mut total = 0;
        loop {
            let r = sqlx::query(
                "DELETE FROM samples WHERE rowid IN (SELECT rowid FROM samples WHERE ts_ms < ?1 LIMIT 5000)",
            )
            .bind(before_ms)
            .execute(&self.pool)
            .await?;
            total += r.rows_affected();
            if r.rows_affected() == 0 {
                return Ok(total);
            }
        }
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use app::line::Quality;
    use std::sync::Arc;

    fn row(tag: &str, ts: i64, v: f64, q: Quality) -> HistoryRow {
        HistoryRow {
            device: Arc::from("M"),
            tag: Arc::from(tag),
            ts_ms: ts,
            value: Some(v),
            text: None,
            quality: q,
        }
    }

    #[tokio::test]
    async fn history_round_trips_through_a_real_file_and_is_bucketed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SqliteStore::open_in(dir.path()).await.expect("open");
        let mut rows: Vec<HistoryRow> = (0..100)
            .map(|i| row("speed", i * 10, i as f64, Quality::Good))
            .collect();
        rows.push(row("speed", 50, 1e9, Quality::Bad));
        rows.push(row("temp", 5, 45.0, Quality::Good));
        store.append(&rows).await.expect("append");
        let s = store
            .series(
                "M",
                &["speed".into(), "temp".into(), "none".into()],
                0,
                999,
                10,
            )
            .await
            .expect("series");
        assert_eq!(s[0].1.len(), 10, "{:?}", s[0]);
        // the first bucket averages 0..=9, the bad sample is left out
        assert!((s[0].1[0].1 - 4.5).abs() < 1e-9);
        assert_eq!(s[1].1, vec![(5, 45.0)]);
        assert!(s[2].1.is_empty());
        // reopening the same file keeps the data
        drop(store);
        let store = SqliteStore::open_in(dir.path()).await.expect("reopen");
        assert_eq!(
            store.prune(500).await.expect("prune"),
            52,
            "50 good, 1 bad and 1 other-tag row are older"
        );
        store.ping().await.expect("ping");
    }
}
