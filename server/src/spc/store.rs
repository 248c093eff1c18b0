//! SPC in SQLite: a measurement's newest values (read through the inspections'
//! time index, so the cost follows the values shown, not the history kept) and the
//! frozen limit versions.

use app::spc::view::{ChartQuery, LimitsVersion};
use app::spc::{Limits, RuleSet};
use sqlx::{Row, SqlitePool};

use super::analysis::Value;

/// Why the SPC store failed.
#[derive(Debug, thiserror::Error)]
pub enum SpcStoreError {
    /// The database reported an error.
    #[error("spc store: {0}")]
    Database(#[from] sqlx::Error),
    /// A stored version does not read back (a hand-edited row).
    #[error("spc store: limits version {id} is unreadable: {error}")]
    Corrupt {
        /// The row.
        id: i64,
        /// What failed.
        error: serde_json::Error,
    },
}

/// The measurement values query: inspections newest first within the window (the
/// `inspections_ts` index), each one's measurement by its primary key, the cell by its
/// own; it stops after `limit` values. `CROSS JOIN` keeps that join order.
pub const VALUES_SQL: &str = "SELECT i.ts_ms, c.serial, c.lot, c.order_id, m.value, m.pass
       FROM inspections i
      CROSS JOIN measurements m
      CROSS JOIN cells c
      WHERE i.ts_ms BETWEEN ?1 AND ?2
        AND m.inspection_id = i.id AND m.name = ?3
        AND c.serial = i.serial AND c.product = ?4
      ORDER BY i.ts_ms DESC, i.id DESC
      LIMIT ?5";

/// The SPC tables.
#[derive(Debug, Clone)]
pub struct SpcStore {
    pool: SqlitePool,
}

impl SpcStore {
    /// The store on the shared database.
    pub fn new(pool: SqlitePool) -> Self {
        Self { pool }
    }

    /// The newest `limit` values of measurement `name` of `product`'s cells in
    /// `[from_ms, to_ms]`, oldest first.
    pub async fn values(
        &self,
        product: &str,
        name: &str,
        from_ms: i64,
        to_ms: i64,
        limit: u32,
    ) -> Result<Vec<Value>, SpcStoreError> {
        let rows = sqlx::query(VALUES_SQL)
            .bind(from_ms)
            .bind(to_ms)
            .bind(name)
            .bind(product)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        let mut out: Vec<Value> = rows
            .into_iter()
            .map(|r| Value {
                ts_ms: r.get(0),
                serial: r.get(1),
                lot: r.get(2),
                order: r.get(3),
                value: r.get(4),
                pass: r.get::<i64, _>(5) != 0,
            })
            .collect();
        out.reverse();
        Ok(out)
    }

    /// Every version of `chart`, newest first.
    pub async fn versions(&self, chart: &str) -> Result<Vec<LimitsVersion>, SpcStoreError> {
        let rows = sqlx::query(
            "SELECT id, chart, version, limits, rules, baseline, note, by_whom, frozen_ms
               FROM spc_limits WHERE chart = ? ORDER BY version DESC",
        )
        .bind(chart)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(version_of).collect()
    }

    /// The newest version of every chart with frozen limits, with the query that
    /// draws it as watched.
    pub async fn watched(&self) -> Result<Vec<(ChartQuery, LimitsVersion)>, SpcStoreError> {
        let rows = sqlx::query(
            "SELECT l.id, l.chart, l.version, l.limits, l.rules, l.baseline, l.note, l.by_whom,
                    l.frozen_ms, l.query
               FROM spc_limits l
              WHERE l.version = (SELECT MAX(version) FROM spc_limits WHERE chart = l.chart)
              ORDER BY l.chart",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let id: i64 = r.get(0);
                let q: String = r.get(9);
                let query = serde_json::from_str(&q)
                    .map_err(|error| SpcStoreError::Corrupt { id, error })?;
                Ok((query, version_of(r)?))
            })
            .collect()
    }

    /// Stores `v` as the next version of its chart (its `version` is set here) and
    /// returns it.
    pub async fn freeze(
        &self,
        query: &ChartQuery,
        mut v: LimitsVersion,
    ) -> Result<LimitsVersion, SpcStoreError> {
        // IMMEDIATE: the version read and the insert are one write, never a read
        // upgraded to a write after another writer committed (SQLITE_BUSY).
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let next: i64 = sqlx::query_scalar(
            "SELECT COALESCE(MAX(version), 0) + 1 FROM spc_limits WHERE chart = ?",
        )
        .bind(&v.chart)
        .fetch_one(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO spc_limits
                (chart, version, query, limits, rules, baseline, note, by_whom, frozen_ms)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&v.chart)
        .bind(next)
        .bind(json(query))
        .bind(json(&v.limits))
        .bind(json(&v.rules))
        .bind(&v.baseline)
        .bind(&v.note)
        .bind(&v.by)
        .bind(v.frozen_ms)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        v.version = u32::try_from(next).unwrap_or(u32::MAX);
        Ok(v)
    }
}

/// A stored value as JSON. The types stored (limits, rules, queries) are plain
/// data with finite numbers: serialising them cannot fail.
fn json<T: serde::Serialize>(x: &T) -> String {
    serde_json::to_string(x).unwrap_or_default()
}

fn version_of(r: &sqlx::sqlite::SqliteRow) -> Result<LimitsVersion, SpcStoreError> {
    let id: i64 = r.get(0);
    let limits: Limits = serde_json::from_str(r.get::<&str, _>(3))
        .map_err(|error| SpcStoreError::Corrupt { id, error })?;
    let rules: RuleSet = serde_json::from_str(r.get::<&str, _>(4))
        .map_err(|error| SpcStoreError::Corrupt { id, error })?;
    Ok(LimitsVersion {
        chart: r.get(1),
        version: u32::try_from(r.get::<i64, _>(2)).unwrap_or(0),
        limits,
        rules,
        baseline: r.get(5),
        note: r.get(6),
        by: r.get(7),
        frozen_ms: r.get(8),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::sqlite::SqliteStore;

    #[tokio::test]
    async fn versions_number_themselves_per_chart_and_the_newest_is_watched() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = SqliteStore::open(&dir.path().join("t.db"))
            .await
            .expect("migrated");
        let store = SpcStore::new(db.pool().clone());
        let limits = app::spc::individuals(&[1.0, 2.0, 1.5]).expect("limits");
        let q = ChartQuery {
            measurement: Some("ocv".into()),
            ..ChartQuery::default()
        };
        let v = |chart: &str, note: &str| LimitsVersion {
            chart: chart.into(),
            version: 0,
            limits: limits.clone(),
            rules: RuleSet::nelson(),
            baseline: "the first 3 points".into(),
            note: note.into(),
            by: "qe".into(),
            frozen_ms: 7,
        };
        let a1 = store.freeze(&q, v("a", "first")).await.expect("freeze");
        let a2 = store.freeze(&q, v("a", "second")).await.expect("freeze");
        let b1 = store.freeze(&q, v("b", "other")).await.expect("freeze");
        assert_eq!((a1.version, a2.version, b1.version), (1, 2, 1));
        let a = store.versions("a").await.expect("versions");
        assert_eq!(a.iter().map(|x| x.version).collect::<Vec<_>>(), [2, 1]);
        assert_eq!(a[0], a2);
        let watched = store.watched().await.expect("watched");
        assert_eq!(watched.len(), 2);
        assert_eq!(watched[0].0, q);
        assert_eq!(watched[0].1.note, "second");
        assert!(
            store
                .values("HC", "ocv", 0, i64::MAX, 10)
                .await
                .expect("values")
                .is_empty()
        );
    }
}
