//! The SQLite history store (a single file under the data directory, WAL mode).

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::Row;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use super::rollup::{Agg, Rollup, RollupRow};
use super::{Bucket, HistoryStore, Sample, StoreError, Tier, trend};
use crate::plant::{Plant, TagId};

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
            // Every commit is on disk before it is acknowledged: a delivery marked
            // done, a PLC write journalled, a cell accepted survive a power loss.
            // (NORMAL could lose the last commits; in WAL mode FULL costs one sync
            // of the log per commit.)
            .synchronous(SqliteSynchronous::Full)
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

    /// The historian of `plant` in this file: every tag gets its id in the `tags`
    /// table (kept across restarts and plant file changes, by machine and tag name).
    pub async fn history(&self, plant: &Plant) -> Result<SqliteHistory, StoreError> {
        let mut tx = self.pool.begin().await?;
        let mut ids = Vec::with_capacity(plant.devices.len());
        for d in &plant.devices {
            let mut of_device = Vec::with_capacity(d.tags.len());
            for t in &d.tags {
                sqlx::query(
                    "INSERT INTO tags (device, tag) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
                )
                .bind(&d.machine)
                .bind(&t.name)
                .execute(&mut *tx)
                .await?;
                let id: i64 =
                    sqlx::query_scalar("SELECT id FROM tags WHERE device = ?1 AND tag = ?2")
                        .bind(&d.machine)
                        .bind(&t.name)
                        .fetch_one(&mut *tx)
                        .await?;
                of_device.push(id);
            }
            ids.push(of_device);
        }
        tx.commit().await?;
        Ok(SqliteHistory {
            pool: self.pool.clone(),
            ids,
        })
    }
}

/// The historian in a SQLite file: `history` keyed by `(tag_id, ts_ms)` and the
/// `rollup_1m` / `rollup_1h` tables keyed by `(tag_id, start_ms)`, all `WITHOUT
/// ROWID`, so every query is a range of one tag's primary key, whatever is stored.
#[derive(Debug, Clone)]
pub struct SqliteHistory {
    pool: SqlitePool,
    ids: Vec<Vec<i64>>,
}

/// The history queries, each a primary-key range of one tag (see the query-plan test).
pub mod sql {
    /// Raw samples of one tag in a time range, grouped into buckets.
    /// (`?3`: the tag ids as a JSON array; each is a primary-key range of its own.)
    pub const RAW_TREND: &str = "SELECT tag_id, (ts_ms - ?1) / ?2 AS b, MIN(value), MAX(value), SUM(value), COUNT(*), MAX(ts_ms)
           FROM history
          WHERE tag_id IN (SELECT value FROM json_each(?3)) AND ts_ms >= ?4 AND ts_ms <= ?5
            AND value IS NOT NULL AND quality IN (0, 1)
          GROUP BY tag_id, b";
    /// Rollup rows of one tag by start, grouped into buckets.
    macro_rules! rollup_trend {
        ($t:literal) => {
            concat!(
                "SELECT tag_id, (last_ms - ?1) / ?2 AS b, MIN(min), MAX(max), SUM(sum), SUM(count), MAX(last_ms)
                   FROM ", $t, "
                  WHERE tag_id IN (SELECT value FROM json_each(?3)) AND start_ms >= ?4 AND start_ms <= ?5
                  GROUP BY tag_id, b"
            )
        };
    }
    /// Old rows of one tag.
    macro_rules! prune {
        ($t:literal, $c:literal) => {
            concat!("DELETE FROM ", $t, " WHERE tag_id = ?1 AND ", $c, " < ?2")
        };
    }

    /// The trend query of a tier.
    pub fn trend(tier: super::Tier) -> &'static str {
        match tier {
            super::Tier::Raw => RAW_TREND,
            super::Tier::Rollup(super::Rollup::Minute) => rollup_trend!("rollup_1m"),
            super::Tier::Rollup(super::Rollup::Hour) => rollup_trend!("rollup_1h"),
            super::Tier::Rollup(super::Rollup::Day) => rollup_trend!("rollup_1d"),
        }
    }

    /// The pruning statement of a tier.
    pub fn prune(tier: super::Tier) -> &'static str {
        match tier {
            super::Tier::Raw => prune!("history", "ts_ms"),
            super::Tier::Rollup(super::Rollup::Minute) => prune!("rollup_1m", "start_ms"),
            super::Tier::Rollup(super::Rollup::Hour) => prune!("rollup_1h", "start_ms"),
            super::Tier::Rollup(super::Rollup::Day) => prune!("rollup_1d", "start_ms"),
        }
    }

    /// The head of the insert of a rollup's rows.
    pub fn rollup_insert(rollup: super::Rollup) -> &'static str {
        match rollup {
            super::Rollup::Minute => {
                "INSERT INTO rollup_1m (tag_id, start_ms, min, max, sum, count, last_ms, last) "
            }
            super::Rollup::Hour => {
                "INSERT INTO rollup_1h (tag_id, start_ms, min, max, sum, count, last_ms, last) "
            }
            super::Rollup::Day => {
                "INSERT INTO rollup_1d (tag_id, start_ms, min, max, sum, count, last_ms, last) "
            }
        }
    }

    /// What a rollup row does when its interval is stored already: merge.
    pub const ROLLUP_MERGE: &str = " ON CONFLICT (tag_id, start_ms) DO UPDATE SET
            min = MIN(min, excluded.min), max = MAX(max, excluded.max),
            sum = sum + excluded.sum, count = count + excluded.count,
            last = CASE WHEN excluded.last_ms >= last_ms THEN excluded.last ELSE last END,
            last_ms = MAX(last_ms, excluded.last_ms)";
    /// Minute rows of tag ?1 missing from ?2 on, from its raw samples (rows already
    /// stored are kept).
    pub const REBUILD_MINUTES: &str = "INSERT OR IGNORE INTO rollup_1m (tag_id, start_ms, min, max, sum, count, last_ms, last)
         SELECT g.tag_id, g.start_ms, g.lo, g.hi, g.total, g.n, g.last_ms,
                (SELECT h.value FROM history h WHERE h.tag_id = g.tag_id AND h.ts_ms = g.last_ms)
           FROM (SELECT tag_id, (ts_ms / 60000) * 60000 AS start_ms, MIN(value) AS lo, MAX(value) AS hi,
                        SUM(value) AS total, COUNT(*) AS n, MAX(ts_ms) AS last_ms
                   FROM history
                  WHERE tag_id = ?1 AND ts_ms >= ?2 AND value IS NOT NULL AND quality IN (0, 1)
                  GROUP BY start_ms) g";
    /// Hour rows of tag ?1 missing from ?2 on, from its minute rows.
    pub const REBUILD_HOURS: &str = "INSERT OR IGNORE INTO rollup_1h (tag_id, start_ms, min, max, sum, count, last_ms, last)
         SELECT g.tag_id, g.hour_ms, g.lo, g.hi, g.total, g.n, g.last_ms,
                (SELECT m.last FROM rollup_1m m WHERE m.tag_id = g.tag_id AND m.start_ms = (g.last_ms / 60000) * 60000)
           FROM (SELECT tag_id, (start_ms / 3600000) * 3600000 AS hour_ms, MIN(min) AS lo, MAX(max) AS hi,
                        SUM(sum) AS total, SUM(count) AS n, MAX(last_ms) AS last_ms
                   FROM rollup_1m
                  WHERE tag_id = ?1 AND start_ms >= ?2
                  GROUP BY hour_ms) g";
    /// Day rows of tag ?1 missing from ?2 on, from its hour rows.
    pub const REBUILD_DAYS: &str = "INSERT OR IGNORE INTO rollup_1d (tag_id, start_ms, min, max, sum, count, last_ms, last)
         SELECT g.tag_id, g.day_ms, g.lo, g.hi, g.total, g.n, g.last_ms,
                (SELECT m.last FROM rollup_1h m WHERE m.tag_id = g.tag_id AND m.start_ms = (g.last_ms / 3600000) * 3600000)
           FROM (SELECT tag_id, (start_ms / 86400000) * 86400000 AS day_ms, MIN(min) AS lo, MAX(max) AS hi,
                        SUM(sum) AS total, SUM(count) AS n, MAX(last_ms) AS last_ms
                   FROM rollup_1h
                  WHERE tag_id = ?1 AND start_ms >= ?2
                  GROUP BY day_ms) g";
    /// A tag's last sample.
    pub const LAST_SAMPLE: &str = "SELECT MAX(ts_ms) FROM history WHERE tag_id = ?1";
    /// Every tag id stored (also of tags no longer in the plant file).
    pub const TAG_IDS: &str = "SELECT id FROM tags";
}

impl SqliteHistory {
    fn id(&self, tag: TagId) -> Option<i64> {
        self.ids
            .get(tag.device().index())?
            .get(tag.index())
            .copied()
    }
}

#[async_trait]
impl HistoryStore for SqliteHistory {
    async fn append(&self, samples: &[Sample], rollups: &[RollupRow]) -> Result<(), StoreError> {
        if samples.is_empty() && rollups.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool.begin().await?;
        // Multi-row statements keep the statement count low; 5 (8) binds a row stays
        // far below SQLite's variable limit at 100 rows a statement.
        let known: Vec<(i64, &Sample)> = samples
            .iter()
            .filter_map(|s| Some((self.id(s.tag)?, s)))
            .collect();
        for chunk in known.chunks(100) {
            let mut qb = sqlx::QueryBuilder::new(
                "INSERT OR REPLACE INTO history (tag_id, ts_ms, value, text, quality) ",
            );
            qb.push_values(chunk, |mut b, (id, s)| {
                b.push_bind(*id)
                    .push_bind(s.ts_ms)
                    .push_bind(s.value)
                    .push_bind(s.text.as_deref())
                    .push_bind(i64::from(s.quality.code()));
            });
            qb.build().execute(&mut *tx).await?;
        }
        for rollup in Rollup::ALL {
            let rows: Vec<(i64, &RollupRow)> = rollups
                .iter()
                .filter(|r| r.rollup == rollup)
                .filter_map(|r| Some((self.id(r.tag)?, r)))
                .collect();
            // One statement may not hold two rows for one key: sort by key and merge
            // neighbours (a flush at a minute boundary holds a row for every tag).
            let mut rows: Vec<(i64, i64, Agg)> = rows
                .into_iter()
                .map(|(id, r)| (id, r.start_ms, r.agg))
                .collect();
            rows.sort_unstable_by_key(|(id, start, _)| (*id, *start));
            let mut merged: Vec<(i64, i64, Agg)> = Vec::with_capacity(rows.len());
            for (id, start, agg) in rows {
                match merged.last_mut() {
                    Some((i, s, held)) if *i == id && *s == start => held.merge(&agg),
                    _ => merged.push((id, start, agg)),
                }
            }
            for chunk in merged.chunks(100) {
                let mut qb = sqlx::QueryBuilder::new(sql::rollup_insert(rollup));
                qb.push_values(chunk, |mut b, (id, start, a)| {
                    b.push_bind(*id)
                        .push_bind(*start)
                        .push_bind(a.min)
                        .push_bind(a.max)
                        .push_bind(a.sum)
                        .push_bind(i64::try_from(a.count).unwrap_or(i64::MAX))
                        .push_bind(a.last_ms)
                        .push_bind(a.last);
                });
                qb.push(sql::ROLLUP_MERGE);
                qb.build().execute(&mut *tx).await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    async fn trend(
        &self,
        tags: &[TagId],
        from_ms: i64,
        to_ms: i64,
        buckets: u32,
    ) -> Result<Vec<Vec<Bucket>>, StoreError> {
        let plan = trend::plan(from_ms, to_ms, buckets);
        let ids: Vec<Option<i64>> = tags.iter().map(|&t| self.id(t)).collect();
        let known: Vec<i64> = ids.iter().flatten().copied().collect();
        let mut rows: Vec<Vec<(i64, Agg)>> = vec![Vec::new(); tags.len()];
        if !known.is_empty() {
            let list = serde_json::to_string(&known).unwrap_or_else(|_| "[]".into());
            let mut conn = self.pool.acquire().await?;
            for seg in &plan.segments {
                let got = sqlx::query(sql::trend(seg.tier))
                    .bind(from_ms)
                    .bind(plan.width_ms)
                    .bind(&list)
                    .bind(seg.from_ms)
                    .bind(seg.to_ms)
                    .fetch_all(&mut *conn)
                    .await?;
                for r in got {
                    let id: i64 = r.try_get(0)?;
                    let (Some(min), Some(max), Some(sum)) = (
                        r.try_get::<Option<f64>, _>(2)?,
                        r.try_get::<Option<f64>, _>(3)?,
                        r.try_get::<Option<f64>, _>(4)?,
                    ) else {
                        continue;
                    };
                    let count: i64 = r.try_get(5)?;
                    let agg = Agg {
                        min,
                        max,
                        sum,
                        count: u64::try_from(count).unwrap_or(0),
                        last_ms: r.try_get(6)?,
                        last: f64::NAN,
                    };
                    let b: i64 = r.try_get(1)?;
                    for (slot, _) in ids.iter().enumerate().filter(|(_, i)| **i == Some(id)) {
                        rows[slot].push((b, agg));
                    }
                }
            }
        }
        Ok(rows.into_iter().map(|r| trend::fold(&plan, r)).collect())
    }

    async fn rebuild_rollups(&self) -> Result<(), StoreError> {
        let mut conn = self.pool.acquire().await?;
        let ids: Vec<i64> = self.ids.iter().flatten().copied().collect();
        for id in ids {
            let last: Option<i64> = sqlx::query_scalar(sql::LAST_SAMPLE)
                .bind(id)
                .fetch_one(&mut *conn)
                .await?;
            let Some(last) = last else { continue };
            let from = Rollup::Hour.start_of(last);
            sqlx::query(sql::REBUILD_MINUTES)
                .bind(id)
                .bind(from)
                .execute(&mut *conn)
                .await?;
            sqlx::query(sql::REBUILD_HOURS)
                .bind(id)
                .bind(from)
                .execute(&mut *conn)
                .await?;
            sqlx::query(sql::REBUILD_DAYS)
                .bind(id)
                .bind(Rollup::Day.start_of(last))
                .execute(&mut *conn)
                .await?;
        }
        Ok(())
    }

    async fn prune(&self, tier: Tier, before_ms: i64) -> Result<u64, StoreError> {
        let ids: Vec<i64> = sqlx::query_scalar(sql::TAG_IDS)
            .fetch_all(&self.pool)
            .await?;
        // One tag at a time, so the history writer gets the write lock in between.
        let mut total = 0;
        for id in ids {
            let r = sqlx::query(sql::prune(tier))
                .bind(id)
                .bind(before_ms)
                .execute(&self.pool)
                .await?;
            total += r.rows_affected();
        }
        Ok(total)
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
    use std::borrow::Cow;

    const MIN: i64 = 60_000;

    fn plant() -> Plant {
        crate::config::parse(
            Path::new("p.toml"),
            &crate::config::tests::with_tag(
                "name = \"temp\"\ntable = \"holding\"\naddress = 4\ntype = \"f32\"\nscan_group = \"fast\"",
            ),
            &crate::config::tests::no_env,
        )
        .expect("valid")
        .plant
    }

    fn sample(tag: TagId, ts: i64, v: f64, q: Quality) -> Sample {
        Sample {
            tag,
            ts_ms: ts,
            value: Some(v),
            text: None,
            quality: q,
        }
    }

    #[tokio::test]
    async fn history_round_trips_through_a_real_file_and_is_bucketed_with_its_spread() {
        let dir = tempfile::tempdir().expect("tempdir");
        let plant = plant();
        let (speed, temp) = (plant.devices[0].tags[0].id, plant.devices[0].tags[1].id);
        let db = SqliteStore::open_in(dir.path()).await.expect("open");
        let store = db.history(&plant).await.expect("tags");
        let mut rows: Vec<Sample> = (0..100)
            .map(|i| sample(speed, i * 10, i as f64, Quality::Good))
            .collect();
        rows.push(sample(speed, 55, 1e9, Quality::Bad));
        rows.push(sample(temp, 5, 45.0, Quality::Good));
        store.append(&rows, &[]).await.expect("append");
        let s = store
            .trend(&[speed, temp], 0, 999, 10)
            .await
            .expect("trend");
        assert_eq!(s[0].len(), 10, "{:?}", s[0]);
        // the first bucket holds 0..=9; the bad sample is left out
        let b = s[0][0];
        assert!((b.mean - 4.5).abs() < 1e-9);
        assert_eq!((b.t, b.min, b.max), (90, 0.0, 9.0));
        assert_eq!(
            s[1],
            vec![Bucket {
                t: 5,
                mean: 45.0,
                min: 45.0,
                max: 45.0
            }]
        );
        // reopening the same file keeps the data and the ids
        drop((store, db));
        let db = SqliteStore::open_in(dir.path()).await.expect("reopen");
        let store = db.history(&plant).await.expect("tags");
        assert_eq!(
            store.trend(&[temp], 0, 999, 10).await.expect("trend")[0].len(),
            1
        );
        assert_eq!(
            store.prune(Tier::Raw, 500).await.expect("prune"),
            52,
            "50 good, 1 bad and 1 other-tag row are older"
        );
        store.ping().await.expect("ping");
    }

    #[tokio::test]
    async fn long_ranges_read_rollups_and_rows_of_one_interval_merge() {
        let dir = tempfile::tempdir().expect("tempdir");
        let plant = plant();
        let speed = plant.devices[0].tags[0].id;
        let db = SqliteStore::open_in(dir.path()).await.expect("open");
        let store = db.history(&plant).await.expect("tags");
        let day = 24 * 60 * MIN;
        let t0 = 1_000 * day;
        // A day of minute rows; minute 100 holds a spike.
        let rows: Vec<RollupRow> = (0..1440)
            .map(|m| {
                let v = if m == 100 { 500.0 } else { 10.0 };
                RollupRow {
                    rollup: Rollup::Minute,
                    tag: speed,
                    start_ms: t0 + m * MIN,
                    agg: Agg::one(t0 + m * MIN + 30_000, v),
                }
            })
            .collect();
        store.append(&[], &rows).await.expect("append");
        // A second part of minute 0 (e.g. after a restart) merges into its row.
        let part = RollupRow {
            rollup: Rollup::Minute,
            tag: speed,
            start_ms: t0,
            agg: Agg::one(t0 + 40_000, -5.0),
        };
        store.append(&[], &[part, part]).await.expect("merge");
        let s = store
            .trend(&[speed], t0, t0 + day - 1, 600)
            .await
            .expect("trend");
        assert!(s[0].len() <= 600 && s[0].len() > 400, "{}", s[0].len());
        assert_eq!(s[0][0].min, -5.0, "the merged part is in the first bucket");
        let spike = s[0]
            .iter()
            .find(|b| b.max == 500.0)
            .expect("the spike shows");
        assert!(
            spike.mean < 500.0,
            "a bucket holds more than the spike's minute"
        );
        let (count,): (i64,) = sqlx::query_as("SELECT count FROM rollup_1m WHERE start_ms = ?1")
            .bind(t0)
            .fetch_one(db.pool())
            .await
            .expect("row");
        assert_eq!(count, 3);
        assert_eq!(
            store
                .prune(Tier::Rollup(Rollup::Minute), t0 + MIN)
                .await
                .expect("prune"),
            1
        );
    }

    #[tokio::test]
    async fn rollups_lost_in_a_crash_are_rebuilt_from_raw_and_stored_ones_are_kept() {
        let dir = tempfile::tempdir().expect("tempdir");
        let plant = plant();
        let speed = plant.devices[0].tags[0].id;
        let db = SqliteStore::open_in(dir.path()).await.expect("open");
        let store = db.history(&plant).await.expect("tags");
        let h0 = 500 * 60 * MIN;
        // Minute 0 was closed and written; minutes 1 and 2 were open at the crash.
        let raw: Vec<Sample> = (0..180)
            .map(|s| sample(speed, h0 + s * 1000, s as f64, Quality::Good))
            .collect();
        let closed = RollupRow {
            rollup: Rollup::Minute,
            tag: speed,
            start_ms: h0,
            agg: Agg {
                min: -1.0,
                max: 99.0,
                sum: 600.0,
                count: 600,
                last_ms: h0 + 59_900,
                last: 59.0,
            },
        };
        store.append(&raw, &[closed]).await.expect("append");
        store.rebuild_rollups().await.expect("rebuild");
        let minutes: Vec<(i64, f64, i64)> =
            sqlx::query_as("SELECT start_ms, max, count FROM rollup_1m ORDER BY start_ms")
                .fetch_all(db.pool())
                .await
                .expect("rows");
        assert_eq!(
            minutes,
            vec![
                (h0, 99.0, 600),
                (h0 + MIN, 119.0, 60),
                (h0 + 2 * MIN, 179.0, 60)
            ]
        );
        let hour: (f64, i64, f64) = sqlx::query_as("SELECT max, count, last FROM rollup_1h")
            .fetch_one(db.pool())
            .await
            .expect("hour");
        assert_eq!(hour, (179.0, 720, 179.0));
    }

    /// Every history query reads a range of one tag's primary key: none scans a table.
    #[tokio::test]
    async fn every_history_query_uses_its_index() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = SqliteStore::open_in(dir.path()).await.expect("open");
        let mut queries: Vec<&str> = vec![
            sql::REBUILD_MINUTES,
            sql::REBUILD_HOURS,
            sql::REBUILD_DAYS,
            sql::LAST_SAMPLE,
            "SELECT id FROM tags WHERE device = ?1 AND tag = ?2",
        ];
        for tier in [
            Tier::Raw,
            Tier::Rollup(Rollup::Minute),
            Tier::Rollup(Rollup::Hour),
        ] {
            queries.push(sql::trend(tier));
            queries.push(sql::prune(tier));
        }
        for q in queries {
            let plan: Vec<(i64, i64, i64, String)> =
                sqlx::query_as(sqlx::AssertSqlSafe(format!("EXPLAIN QUERY PLAN {q}")))
                    .fetch_all(db.pool())
                    .await
                    .expect("plan");
            let details: Vec<&str> = plan.iter().map(|p| p.3.as_str()).collect();
            assert!(
                details.iter().any(|d| d.starts_with("SEARCH")),
                "{q}\n{details:?}"
            );
            for table in ["history", "rollup_1m", "rollup_1h", "rollup_1d", "tags"] {
                assert!(
                    !details
                        .iter()
                        .any(|d| d.starts_with(&format!("SCAN {table}"))),
                    "{q} scans {table}: {details:?}"
                );
            }
        }
    }

    /// A file made by the schema before the historian keeps every sample.
    #[tokio::test]
    async fn history_of_the_old_schema_is_carried_over() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("cellguard.db");
        {
            let options = SqliteConnectOptions::from_str("sqlite://")
                .expect("options")
                .filename(&file)
                .create_if_missing(true);
            let pool = SqlitePool::connect_with(options).await.expect("pool");
            let mut before = sqlx::migrate!("./migrations");
            before.migrations = Cow::Owned(
                before
                    .migrations
                    .iter()
                    .filter(|m| m.version <= 5)
                    .cloned()
                    .collect(),
            );
            before.run(&pool).await.expect("old schema");
            for (device, tag, ts, value, text, quality) in [
                ("M1", "speed", 0, Some(1.0), None, 0),
                ("M1", "speed", 30_000, Some(3.0), None, 0),
                ("M1", "speed", 61_000, Some(9.0), None, 2),
                ("M1", "state", 0, None, Some("Execute"), 0),
                ("GONE", "x", 5, Some(7.0), None, 0),
            ] {
                sqlx::query("INSERT INTO samples (device, tag, ts_ms, value, text, quality) VALUES (?1, ?2, ?3, ?4, ?5, ?6)")
                    .bind(device)
                    .bind(tag)
                    .bind(ts)
                    .bind(value)
                    .bind(text)
                    .bind(quality)
                    .execute(&pool)
                    .await
                    .expect("old row");
            }
            pool.close().await;
        }
        let db = SqliteStore::open(&file).await.expect("migrated");
        type Row = (String, String, i64, Option<f64>, Option<String>, i64);
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT t.device, t.tag, h.ts_ms, h.value, h.text, h.quality
               FROM history h JOIN tags t ON t.id = h.tag_id ORDER BY t.device, t.tag, h.ts_ms",
        )
        .fetch_all(db.pool())
        .await
        .expect("history");
        assert_eq!(rows.len(), 5, "{rows:?}");
        assert_eq!(rows[0], ("GONE".into(), "x".into(), 5, Some(7.0), None, 0));
        assert_eq!(
            rows[4].4.as_deref(),
            Some("Execute"),
            "M1 state comes after M1 speed"
        );
        let minutes: Vec<(i64, f64, f64, i64, f64)> = sqlx::query_as(
            "SELECT r.start_ms, r.min, r.max, r.count, r.last FROM rollup_1m r JOIN tags t ON t.id = r.tag_id
              WHERE t.tag = 'speed'",
        )
        .fetch_all(db.pool())
        .await
        .expect("minutes");
        assert_eq!(
            minutes,
            vec![(0, 1.0, 3.0, 2, 3.0)],
            "the bad sample is not rolled up"
        );
        // The plant's tags keep the ids the migration gave them.
        let plant = plant();
        let store = db.history(&plant).await.expect("tags");
        let s = store
            .trend(&[plant.devices[0].tags[0].id], 0, 59_999, 1)
            .await
            .expect("trend");
        assert_eq!(s[0].len(), 1);
        assert!((s[0][0].mean - 2.0).abs() < 1e-9);
    }
}
