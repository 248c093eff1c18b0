//! Alarms and their journal in SQLite: the row of each alarm (condition and state)
//! and one journal line per transition, written together in one transaction.

use app::alarm::state::Alarm;
use app::alarm::view::{AlarmEventView, JournalFilter, JournalPage};
use app::alarm::{Limit, Priority, Source};
use app::api::service::ServiceError;
use sqlx::{QueryBuilder, Row, Sqlite, SqlitePool};

/// Lines per journal page.
pub const PAGE: u32 = 100;
/// Lines one export returns at most.
pub const MAX_EXPORT: i64 = 100_000;

/// Why the alarm store failed.
#[derive(Debug, thiserror::Error)]
pub enum AlarmStoreError {
    /// The database reported an error.
    #[error("alarm store: {0}")]
    Database(#[from] sqlx::Error),
}

impl From<AlarmStoreError> for ServiceError {
    fn from(e: AlarmStoreError) -> Self {
        tracing::error!(error = %e, "alarm store failed");
        ServiceError::unavailable("the alarm journal")
    }
}

/// What an alarm is: fixed by its source, refreshed from the plant file at start.
#[derive(Debug, Clone, PartialEq)]
pub struct AlarmDef {
    /// Source.
    pub source: Source,
    /// Stable key of the condition.
    pub key: String,
    /// The machine, if any.
    pub machine: Option<String>,
    /// What it is.
    pub label: String,
    /// The limit, for tag limits.
    pub limit: Option<Limit>,
    /// Priority.
    pub priority: Priority,
    /// What to do.
    pub message: String,
    /// Unit of its value.
    pub unit: String,
}

/// An alarm as stored: its definition, its state and the details of its last
/// transitions.
#[derive(Debug, Clone, PartialEq)]
pub struct Stored {
    /// Row id.
    pub id: i64,
    /// What it is.
    pub def: AlarmDef,
    /// Its state.
    pub alarm: Alarm,
    /// The shelf's reason.
    pub shelve_reason: Option<String>,
    /// Why it is out of service.
    pub oos_reason: Option<String>,
    /// Value at the last condition change.
    pub value: Option<f64>,
    /// When last raised.
    pub raised_ms: Option<i64>,
    /// When its state last changed.
    pub changed_ms: i64,
    /// Last acknowledgement: who, when, comment.
    pub acked_by: Option<String>,
    /// See `acked_by`.
    pub acked_ms: Option<i64>,
    /// See `acked_by`.
    pub comment: Option<String>,
}

/// One journal line to write.
#[derive(Debug, Clone, PartialEq)]
pub struct Line<'a> {
    /// When.
    pub ts_ms: i64,
    /// The event's `as_str`.
    pub kind: &'a str,
    /// Who, absent for the system.
    pub user: Option<&'a str>,
    /// The value then.
    pub value: Option<f64>,
    /// Comment or reason.
    pub comment: Option<&'a str>,
}

fn db(e: sqlx::Error) -> AlarmStoreError {
    AlarmStoreError::Database(e)
}

/// The alarm tables.
#[derive(Debug, Clone)]
pub struct AlarmStore {
    pool: SqlitePool,
}

fn stored_of(r: &sqlx::sqlite::SqliteRow) -> Stored {
    let source: String = r.get("source");
    let priority: String = r.get("priority");
    let limit: Option<String> = r.get("limit_kind");
    Stored {
        id: r.get("id"),
        def: AlarmDef {
            source: Source::parse(&source).unwrap_or(Source::Limit),
            key: r.get("key"),
            machine: r.get("machine"),
            label: r.get("label"),
            limit: limit.as_deref().and_then(Limit::parse),
            priority: Priority::parse(&priority).unwrap_or(Priority::Medium),
            message: r.get("message"),
            unit: r.get("unit"),
        },
        alarm: Alarm {
            active: r.get::<i64, _>("active") != 0,
            acked: r.get::<i64, _>("acked") != 0,
            shelved_until: r.get("shelved_until_ms"),
            out_of_service: r.get::<i64, _>("out_of_service") != 0,
        },
        shelve_reason: r.get("shelve_reason"),
        oos_reason: r.get("oos_reason"),
        value: r.get("value"),
        raised_ms: r.get("raised_ms"),
        changed_ms: r.get("changed_ms"),
        acked_by: r.get("acked_by"),
        acked_ms: r.get("acked_ms"),
        comment: r.get("comment"),
    }
}

impl AlarmStore {
    /// The tables in the shared database.
    pub fn new(pool: SqlitePool) -> Self {
        Self { pool }
    }

    /// Every alarm ever defined.
    pub async fn all(&self) -> Result<Vec<Stored>, AlarmStoreError> {
        let rows = sqlx::query("SELECT * FROM alarms ORDER BY id")
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        Ok(rows.iter().map(stored_of).collect())
    }

    /// The alarm of `def.key`, created (normal) if new; its label, priority and
    /// message are refreshed from `def` (the plant file may have changed).
    pub async fn define(&self, def: &AlarmDef, now_ms: i64) -> Result<Stored, AlarmStoreError> {
        let row = sqlx::query(
            "INSERT INTO alarms (source, key, machine, label, limit_kind, priority, message, unit, \
             active, acked, changed_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, 1, ?) \
             ON CONFLICT (key) DO UPDATE SET label = excluded.label, priority = excluded.priority, \
             message = excluded.message, unit = excluded.unit, machine = excluded.machine \
             RETURNING *",
        )
        .bind(def.source.as_str())
        .bind(&def.key)
        .bind(&def.machine)
        .bind(&def.label)
        .bind(def.limit.map(Limit::as_str))
        .bind(def.priority.as_str())
        .bind(&def.message)
        .bind(&def.unit)
        .bind(now_ms)
        .fetch_one(&self.pool)
        .await
        .map_err(db)?;
        Ok(stored_of(&row))
    }

    /// Saves `s`'s state and journals `line`, in one transaction.
    pub async fn save(&self, s: &Stored, line: &Line<'_>) -> Result<i64, AlarmStoreError> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        sqlx::query(
            "UPDATE alarms SET active = ?, acked = ?, shelved_until_ms = ?, shelve_reason = ?, \
             out_of_service = ?, oos_reason = ?, value = ?, raised_ms = ?, changed_ms = ?, \
             acked_by = ?, acked_ms = ?, comment = ? WHERE id = ?",
        )
        .bind(i64::from(s.alarm.active))
        .bind(i64::from(s.alarm.acked))
        .bind(s.alarm.shelved_until)
        .bind(&s.shelve_reason)
        .bind(i64::from(s.alarm.out_of_service))
        .bind(&s.oos_reason)
        .bind(s.value)
        .bind(s.raised_ms)
        .bind(s.changed_ms)
        .bind(&s.acked_by)
        .bind(s.acked_ms)
        .bind(&s.comment)
        .bind(s.id)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO alarm_events (alarm_id, ts_ms, kind, priority, user, value, comment) \
             VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(s.id)
        .bind(line.ts_ms)
        .bind(line.kind)
        .bind(s.def.priority.as_str())
        .bind(line.user)
        .bind(line.value)
        .bind(line.comment)
        .fetch_one(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(id)
    }

    fn filtered(f: &JournalFilter, select: &str) -> QueryBuilder<Sqlite> {
        let mut q = QueryBuilder::new(select);
        q.push(" FROM alarm_events e JOIN alarms a ON a.id = e.alarm_id WHERE 1 = 1");
        if let Some(s) = f.source {
            q.push(" AND a.source = ").push_bind(s.as_str());
        }
        if let Some(p) = f.priority {
            q.push(" AND e.priority = ").push_bind(p.as_str());
        }
        if let Some(m) = &f.machine {
            q.push(" AND a.machine = ").push_bind(m);
        }
        if let Some(k) = &f.kind {
            q.push(" AND e.kind = ").push_bind(k);
        }
        if let Some(t) = f.from_ms {
            q.push(" AND e.ts_ms >= ").push_bind(t);
        }
        if let Some(t) = f.to_ms {
            q.push(" AND e.ts_ms < ").push_bind(t);
        }
        if let Some(b) = f.before {
            q.push(" AND e.id < ").push_bind(b);
        }
        q
    }

    const COLUMNS: &str = "SELECT e.id, e.alarm_id, e.ts_ms, e.kind, e.priority, e.user, \
                           e.value, e.comment, a.label, a.source, a.machine";

    fn event_of(r: &sqlx::sqlite::SqliteRow) -> AlarmEventView {
        let source: String = r.get("source");
        let priority: String = r.get("priority");
        AlarmEventView {
            id: r.get("id"),
            alarm_id: r.get("alarm_id"),
            ts_ms: r.get("ts_ms"),
            kind: r.get("kind"),
            label: r.get("label"),
            source: Source::parse(&source).unwrap_or(Source::Limit),
            priority: Priority::parse(&priority).unwrap_or(Priority::Medium),
            machine: r.get("machine"),
            user: r.get("user"),
            value: r.get("value"),
            comment: r.get("comment"),
        }
    }

    /// A page of the journal, newest first (keyset by id: a page costs the same
    /// however long the journal is).
    pub async fn journal(&self, f: &JournalFilter) -> Result<JournalPage, AlarmStoreError> {
        let mut q = Self::filtered(f, Self::COLUMNS);
        q.push(" ORDER BY e.id DESC LIMIT ")
            .push_bind(i64::from(PAGE) + 1);
        let rows = q.build().fetch_all(&self.pool).await.map_err(db)?;
        let mut events: Vec<AlarmEventView> = rows.iter().map(Self::event_of).collect();
        let more = events.len() > PAGE as usize;
        events.truncate(PAGE as usize);
        Ok(JournalPage {
            next_before: if more {
                events.last().map(|e| e.id)
            } else {
                None
            },
            events,
        })
    }

    /// Every journal line of the filter (at most [`MAX_EXPORT`]), newest first.
    pub async fn export(&self, f: &JournalFilter) -> Result<Vec<AlarmEventView>, AlarmStoreError> {
        let mut q = Self::filtered(f, Self::COLUMNS);
        q.push(" ORDER BY e.id DESC LIMIT ").push_bind(MAX_EXPORT);
        let rows = q.build().fetch_all(&self.pool).await.map_err(db)?;
        Ok(rows.iter().map(Self::event_of).collect())
    }

    /// When alarms were raised since `from_ms` (for the rates).
    pub async fn raise_times(&self, from_ms: i64) -> Result<Vec<i64>, AlarmStoreError> {
        sqlx::query_scalar(
            "SELECT ts_ms FROM alarm_events WHERE kind = 'raised' AND ts_ms >= ? ORDER BY ts_ms",
        )
        .bind(from_ms)
        .fetch_all(&self.pool)
        .await
        .map_err(db)
    }
}

/// The journal lines as CSV (values that a spreadsheet would run as formulas are
/// made inert).
pub fn to_csv(events: &[AlarmEventView]) -> Result<Vec<u8>, csv::Error> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record([
        "id", "at", "ts_ms", "kind", "alarm", "source", "priority", "machine", "user", "value",
        "comment",
    ])?;
    for e in events {
        w.write_record([
            e.id.to_string(),
            crate::clock::format_time(e.ts_ms),
            e.ts_ms.to_string(),
            e.kind.clone(),
            crate::audit::inert(&e.label),
            e.source.as_str().to_owned(),
            e.priority.as_str().to_owned(),
            crate::audit::inert(e.machine.as_deref().unwrap_or("")),
            crate::audit::inert(e.user.as_deref().unwrap_or("")),
            e.value.map(|v| v.to_string()).unwrap_or_default(),
            crate::audit::inert(e.comment.as_deref().unwrap_or("")),
        ])?;
    }
    w.into_inner().map_err(|e| csv::Error::from(e.into_error()))
}
