//! The actions journal and the machines' write modes in SQLite.

use app::actions::{ActionFilter, ActionState, ActionView, RecentCell, WriteMode};
use sqlx::{QueryBuilder, Row, Sqlite, SqlitePool};

use app::api::service::ServiceError;

/// Rows per journal page.
pub const PAGE: u32 = 50;
/// Rows one export returns at most.
pub const MAX_EXPORT: i64 = 100_000;

/// Why the actions journal (actions, write modes, rule state) failed.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// The database reported an error.
    #[error("actions journal: {0}")]
    Database(#[from] sqlx::Error),
}

impl From<JournalError> for ServiceError {
    fn from(e: JournalError) -> Self {
        tracing::error!(error = %e, "actions journal failed");
        ServiceError::unavailable("the actions journal")
    }
}

fn db(e: sqlx::Error) -> JournalError {
    JournalError::Database(e)
}

/// A new action for the journal.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAction {
    /// When proposed.
    pub created_ms: i64,
    /// Machine id.
    pub machine: String,
    /// Tag name.
    pub tag: String,
    /// Rule name, or `undo of #n`.
    pub rule: String,
    /// Why.
    pub rationale: String,
    /// What was seen.
    pub observed: String,
    /// Value when proposed.
    pub from: f64,
    /// Value to write.
    pub to: f64,
    /// First state.
    pub state: ActionState,
    /// `rule:<name>` or a person.
    pub proposed_by: String,
    /// Set when it is decided at once (refused by the envelope, automatic, undo).
    pub detail: Option<String>,
}

/// The journal and the modes.
#[derive(Debug, Clone)]
pub struct ActionStore {
    pool: SqlitePool,
}

/// A journal row as the page shows it, before labels (tag label, unit) and
/// the effect are added.
fn row_to_view(r: &sqlx::sqlite::SqliteRow) -> ActionView {
    let state: String = r.get("state");
    ActionView {
        id: r.get("id"),
        created_ms: r.get("created_ms"),
        machine: r.get("machine"),
        tag: r.get("tag"),
        tag_label: String::new(),
        unit: String::new(),
        rule: r.get("rule"),
        rationale: r.get("rationale"),
        observed: r.get("observed"),
        from: r.get("from_value"),
        to: r.get("to_value"),
        state: ActionState::parse(&state).unwrap_or(ActionState::Failed),
        decided_by: r.get("decided_by"),
        decided_ms: r.get("decided_ms"),
        detail: r.get("detail"),
        read_back: r.get("read_back"),
        effect: None,
        proposed_by: r.get("proposed_by"),
    }
}

/// `SELECT <every column> FROM actions` followed by `$rest`, as one static string.
macro_rules! select_actions {
    ($rest:literal) => {
        concat!(
            "SELECT id, created_ms, machine, tag, rule, rationale, observed, from_value, \
             to_value, state, proposed_by, decided_by, decided_ms, detail, read_back FROM actions",
            $rest
        )
    };
}

impl ActionStore {
    /// The journal in the shared database.
    pub fn new(pool: SqlitePool) -> Self {
        Self { pool }
    }

    /// Modes switched by supervisors (machines not listed keep the configured one).
    pub async fn modes(&self) -> Result<Vec<(String, WriteMode)>, JournalError> {
        let rows: Vec<(String, String)> =
            sqlx::query_as("SELECT machine, mode FROM writeback_modes")
                .fetch_all(&self.pool)
                .await
                .map_err(db)?;
        Ok(rows
            .into_iter()
            .filter_map(|(m, mode)| WriteMode::parse(&mode).map(|mode| (m, mode)))
            .collect())
    }

    /// Records a machine's new mode.
    pub async fn set_mode(
        &self,
        machine: &str,
        mode: WriteMode,
        by: &str,
        now_ms: i64,
    ) -> Result<(), JournalError> {
        sqlx::query(
            "INSERT OR REPLACE INTO writeback_modes (machine, mode, by_whom, at_ms) VALUES (?, ?, ?, ?)",
        )
        .bind(machine)
        .bind(mode.as_str())
        .bind(by)
        .bind(now_ms)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(())
    }

    /// Adds an action; returns its id.
    pub async fn insert(&self, a: &NewAction) -> Result<i64, JournalError> {
        let decided = a.state != ActionState::Pending;
        sqlx::query_scalar(
            "INSERT INTO actions (created_ms, machine, tag, rule, rationale, observed, from_value, \
             to_value, state, proposed_by, decided_by, decided_ms, detail) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(a.created_ms)
        .bind(&a.machine)
        .bind(&a.tag)
        .bind(&a.rule)
        .bind(&a.rationale)
        .bind(&a.observed)
        .bind(a.from)
        .bind(a.to)
        .bind(a.state.as_str())
        .bind(&a.proposed_by)
        .bind(decided.then_some(a.proposed_by.as_str()))
        .bind(decided.then_some(a.created_ms))
        .bind(&a.detail)
        .fetch_one(&self.pool)
        .await
        .map_err(db)
    }

    /// One action.
    pub async fn get(&self, id: i64) -> Result<Option<ActionView>, JournalError> {
        let row = sqlx::query(select_actions!(" WHERE id = ?"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?;
        Ok(row.as_ref().map(row_to_view))
    }

    /// Moves a pending action to `to` (once: false if it was no longer pending).
    pub async fn decide(
        &self,
        id: i64,
        to: ActionState,
        by: &str,
        detail: Option<&str>,
        now_ms: i64,
    ) -> Result<bool, JournalError> {
        let done = sqlx::query(
            "UPDATE actions SET state = ?, decided_by = ?, decided_ms = ?, detail = ? \
             WHERE id = ? AND state = 'pending'",
        )
        .bind(to.as_str())
        .bind(by)
        .bind(now_ms)
        .bind(detail)
        .bind(id)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(done.rows_affected() == 1)
    }

    /// Moves action `id` from state `from` to `to` with `detail` (once: false if
    /// it was no longer in `from`).
    pub async fn advance(
        &self,
        id: i64,
        from: ActionState,
        to: ActionState,
        detail: &str,
    ) -> Result<bool, JournalError> {
        let done =
            sqlx::query("UPDATE actions SET state = ?, detail = ? WHERE id = ? AND state = ?")
                .bind(to.as_str())
                .bind(detail)
                .bind(id)
                .bind(from.as_str())
                .execute(&self.pool)
                .await
                .map_err(db)?;
        Ok(done.rows_affected() == 1)
    }

    /// Writes approved or under way when CellGuard stopped, oldest first.
    pub async fn interrupted(&self) -> Result<Vec<ActionView>, JournalError> {
        let rows = sqlx::query(select_actions!(
            " WHERE state IN ('approved', 'writing') ORDER BY id"
        ))
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        Ok(rows.iter().map(row_to_view).collect())
    }

    /// Records how a write ended (the action was decided already).
    pub async fn finish(
        &self,
        id: i64,
        to: ActionState,
        detail: Option<&str>,
        read_back: Option<f64>,
    ) -> Result<(), JournalError> {
        sqlx::query("UPDATE actions SET state = ?, detail = ?, read_back = ? WHERE id = ?")
            .bind(to.as_str())
            .bind(detail)
            .bind(read_back)
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(())
    }

    /// Pending actions proposed before `before_ms` become expired; returns them.
    pub async fn expire(&self, before_ms: i64, now_ms: i64) -> Result<Vec<i64>, JournalError> {
        sqlx::query_scalar(
            "UPDATE actions SET state = 'expired', decided_by = 'system', decided_ms = ?, \
             detail = 'not approved in time' WHERE state = 'pending' AND created_ms < ? RETURNING id",
        )
        .bind(now_ms)
        .bind(before_ms)
        .fetch_all(&self.pool)
        .await
        .map_err(db)
    }

    /// When a write to the tag was last attempted (under way, written, verified
    /// or failed).
    pub async fn last_write_ms(
        &self,
        machine: &str,
        tag: &str,
    ) -> Result<Option<i64>, JournalError> {
        sqlx::query_scalar(
            "SELECT max(decided_ms) FROM actions WHERE machine = ? AND tag = ? \
             AND state IN ('writing', 'verified', 'written', 'failed')",
        )
        .bind(machine)
        .bind(tag)
        .fetch_one(&self.pool)
        .await
        .map_err(db)
    }

    /// Whether the rule has an action waiting, and when it last proposed one.
    pub async fn rule_state(&self, rule: &str) -> Result<(bool, Option<i64>), JournalError> {
        let row = sqlx::query(
            "SELECT (SELECT count(*) FROM actions WHERE rule = ? AND state = 'pending') AS pending, \
             (SELECT max(created_ms) FROM actions WHERE rule = ?) AS last",
        )
        .bind(rule)
        .bind(rule)
        .fetch_one(&self.pool)
        .await
        .map_err(db)?;
        Ok((row.get::<i64, _>("pending") > 0, row.get("last")))
    }

    /// Pending actions and unacknowledged failed writes.
    pub async fn counts(&self) -> Result<(u32, u32), JournalError> {
        let (p, a): (i64, i64) = sqlx::query_as(
            "SELECT (SELECT count(*) FROM actions WHERE state = 'pending'), \
             (SELECT count(*) FROM actions WHERE state = 'failed' AND ack_ms IS NULL)",
        )
        .fetch_one(&self.pool)
        .await
        .map_err(db)?;
        let c = |n: i64| u32::try_from(n).unwrap_or(u32::MAX);
        Ok((c(p), c(a)))
    }

    /// Failed writes nobody acknowledged yet, newest first.
    pub async fn alarms(&self) -> Result<Vec<ActionView>, JournalError> {
        let rows = sqlx::query(select_actions!(
            " WHERE state = 'failed' AND ack_ms IS NULL ORDER BY id DESC LIMIT 50"
        ))
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        Ok(rows.iter().map(row_to_view).collect())
    }

    /// Acknowledges failed write `id` (false if it is not an open alarm).
    pub async fn acknowledge(&self, id: i64, by: &str, now_ms: i64) -> Result<bool, JournalError> {
        let done = sqlx::query(
            "UPDATE actions SET ack_by = ?, ack_ms = ? \
             WHERE id = ? AND state = 'failed' AND ack_ms IS NULL",
        )
        .bind(by)
        .bind(now_ms)
        .bind(id)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(done.rows_affected() == 1)
    }

    /// Withdraws the machine's pending proposals (its write-back was switched off).
    pub async fn expire_machine(
        &self,
        machine: &str,
        by: &str,
        now_ms: i64,
    ) -> Result<u64, JournalError> {
        let done = sqlx::query(
            "UPDATE actions SET state = 'expired', decided_by = ?, decided_ms = ?, \
             detail = 'write-back switched off' WHERE machine = ? AND state = 'pending'",
        )
        .bind(by)
        .bind(now_ms)
        .bind(machine)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(done.rows_affected())
    }

    /// Pending actions, oldest first.
    pub async fn pending(&self) -> Result<Vec<ActionView>, JournalError> {
        let rows = sqlx::query(select_actions!(" WHERE state = 'pending' ORDER BY id"))
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        Ok(rows.iter().map(row_to_view).collect())
    }

    fn filtered(qb: &mut QueryBuilder<Sqlite>, f: &ActionFilter) {
        qb.push(" WHERE 1 = 1");
        if let Some(m) = f.machine.as_deref().filter(|m| !m.is_empty()) {
            qb.push(" AND machine = ").push_bind(m.to_owned());
        }
        if let Some(s) = f.state {
            qb.push(" AND state = ").push_bind(s.as_str());
        }
    }

    /// A page of the journal, newest first, with the total.
    pub async fn page(&self, f: &ActionFilter) -> Result<(Vec<ActionView>, u64), JournalError> {
        let mut count = QueryBuilder::<Sqlite>::new("SELECT count(*) FROM actions");
        Self::filtered(&mut count, f);
        let total: i64 = count
            .build_query_scalar()
            .fetch_one(&self.pool)
            .await
            .map_err(db)?;
        let mut qb = QueryBuilder::<Sqlite>::new(select_actions!(""));
        Self::filtered(&mut qb, f);
        qb.push(" ORDER BY id DESC LIMIT ")
            .push_bind(i64::from(PAGE))
            .push(" OFFSET ")
            .push_bind(i64::from(f.page) * i64::from(PAGE));
        let rows = qb.build().fetch_all(&self.pool).await.map_err(db)?;
        Ok((
            rows.iter().map(row_to_view).collect(),
            u64::try_from(total).unwrap_or(0),
        ))
    }

    /// Every action of the filter, oldest first, for the CSV export.
    pub async fn export(&self, f: &ActionFilter) -> Result<Vec<ActionView>, JournalError> {
        let mut qb = QueryBuilder::<Sqlite>::new(select_actions!(""));
        Self::filtered(&mut qb, f);
        qb.push(" ORDER BY id LIMIT ").push_bind(MAX_EXPORT);
        let rows = qb.build().fetch_all(&self.pool).await.map_err(db)?;
        Ok(rows.iter().map(row_to_view).collect())
    }

    /// Verified writes per hour since `since_ms`.
    pub async fn per_hour(&self, since_ms: i64) -> Result<Vec<(i64, u32)>, JournalError> {
        let rows: Vec<(i64, i64)> = sqlx::query_as(
            "SELECT (decided_ms / 3600000) * 3600000 AS hour, count(*) FROM actions \
             WHERE state IN ('verified', 'written') AND decided_ms >= ? \
             GROUP BY hour ORDER BY hour",
        )
        .bind(since_ms)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        Ok(rows
            .into_iter()
            .map(|(h, n)| (h, u32::try_from(n).unwrap_or(u32::MAX)))
            .collect())
    }

    /// The last `n` scored cells of this line's production built at or after
    /// `since_ms` (newest last), with `measurement`'s value when asked for.
    pub async fn recent_cells(
        &self,
        n: usize,
        measurement: Option<&str>,
        since_ms: Option<i64>,
    ) -> Result<Vec<RecentCell>, JournalError> {
        let rows = sqlx::query(
            "SELECT s.band AS band, \
               (SELECT m.value FROM inspections i JOIN measurements m ON m.inspection_id = i.id \
                  WHERE i.serial = c.serial AND m.name = ? LIMIT 1) AS value \
             FROM cells c JOIN scores s ON s.serial = c.serial \
             WHERE s.band IS NOT NULL AND c.created_ms >= ? \
               AND EXISTS (SELECT 1 FROM inspections i WHERE i.serial = c.serial \
                           AND i.station <> 'import') \
             ORDER BY c.created_ms DESC, c.serial DESC LIMIT ?",
        )
        .bind(measurement.unwrap_or(""))
        .bind(since_ms.unwrap_or(i64::MIN))
        .bind(i64::try_from(n).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        let mut out: Vec<RecentCell> = rows
            .iter()
            .map(|r| RecentCell {
                high: r.get::<String, _>("band") == "high",
                value: r.get("value"),
            })
            .collect();
        out.reverse();
        Ok(out)
    }

    /// High-risk share of the `n` scored cells of this line built before `at_ms`
    /// and of the `n` built after it (imported history is not this line's;
    /// `None` until at least a fifth of them exist after).
    pub async fn effect(&self, at_ms: i64, n: u32) -> Result<Option<(f64, f64)>, JournalError> {
        let share = |rows: Vec<String>| {
            (!rows.is_empty())
                .then(|| rows.iter().filter(|b| *b == "high").count() as f64 / rows.len() as f64)
        };
        let before: Vec<String> = sqlx::query_scalar(
            "SELECT s.band FROM cells c JOIN scores s ON s.serial = c.serial \
             WHERE s.band IS NOT NULL AND c.created_ms < ? AND EXISTS (SELECT 1 FROM \
             inspections i WHERE i.serial = c.serial AND i.station <> 'import') \
             ORDER BY c.created_ms DESC LIMIT ?",
        )
        .bind(at_ms)
        .bind(i64::from(n))
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        let after: Vec<String> = sqlx::query_scalar(
            "SELECT s.band FROM cells c JOIN scores s ON s.serial = c.serial \
             WHERE s.band IS NOT NULL AND c.created_ms >= ? AND EXISTS (SELECT 1 FROM \
             inspections i WHERE i.serial = c.serial AND i.station <> 'import') \
             ORDER BY c.created_ms LIMIT ?",
        )
        .bind(at_ms)
        .bind(i64::from(n))
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        if (after.len() as u32) < n.div_ceil(5) {
            return Ok(None);
        }
        Ok(share(before).zip(share(after)))
    }
}
