//! The audit trail: who did what, when, from where. Append-only; read a page at
//! a time by the audit page and whole (filtered) by the CSV export.

use app::api::service::ServiceError;
use app::auth::{AuditAction, AuditEntryView, AuditFilter, AuditPage, Principal};
use sqlx::{QueryBuilder, Row, Sqlite, SqlitePool};

use crate::clock::now_ms;

/// Why the audit trail could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The database reported an error.
    #[error("audit trail: {0}")]
    Database(#[from] sqlx::Error),
}

impl From<AuditError> for ServiceError {
    fn from(e: AuditError) -> Self {
        tracing::error!(error = %e, "audit trail failed");
        ServiceError::unavailable("the audit trail")
    }
}

/// Largest page.
pub const MAX_PAGE: u32 = 200;
/// Most rows one export returns.
pub const MAX_EXPORT: i64 = 100_000;

/// Something to record.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEvent {
    /// Who (a user's name, `token:<name>`, or the name typed at a failed sign-in).
    pub actor: String,
    /// Their role or token scope, when known.
    pub role: Option<String>,
    /// What.
    pub action: AuditAction,
    /// On what.
    pub target: String,
    /// Details.
    pub detail: String,
    /// From where.
    pub source: String,
}

impl AuditEvent {
    /// An event by a known principal.
    pub fn by(
        who: &Principal,
        source: &str,
        action: AuditAction,
        target: impl Into<String>,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            actor: who.actor(),
            role: Some(who.role_name().to_owned()),
            action,
            target: target.into(),
            detail: detail.into(),
            source: source.to_owned(),
        }
    }
}

/// The audit table.
#[derive(Debug, Clone)]
pub struct AuditLog {
    pool: SqlitePool,
}

impl AuditLog {
    /// The trail in the shared database.
    pub fn new(pool: SqlitePool) -> Self {
        Self { pool }
    }

    /// Appends one event. A failure is logged and returned: callers decide whether
    /// an unrecorded action may stand (sign-ins may; nothing that changes the plant).
    pub async fn record(&self, e: AuditEvent) -> Result<(), AuditError> {
        let done = sqlx::query(
            "INSERT INTO audit (at_ms, actor, role, action, target, detail, source)
             VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(now_ms())
        .bind(&e.actor)
        .bind(&e.role)
        .bind(e.action.as_str())
        .bind(&e.target)
        .bind(&e.detail)
        .bind(&e.source)
        .execute(&self.pool)
        .await;
        if let Err(err) = &done {
            tracing::error!(error = %err, action = e.action.as_str(), actor = %e.actor, "cannot write the audit trail");
        }
        done.map(|_| ()).map_err(AuditError::from)
    }

    fn filtered(qb: &mut QueryBuilder<Sqlite>, f: &AuditFilter) {
        qb.push(" WHERE 1 = 1");
        if let Some(a) = f.actor.as_deref().filter(|a| !a.is_empty()) {
            qb.push(" AND actor = ").push_bind(a.to_owned());
        }
        if let Some(a) = f.action {
            qb.push(" AND action = ").push_bind(a.as_str());
        }
        if let Some(t) = f.from_ms {
            qb.push(" AND at_ms >= ").push_bind(t);
        }
        if let Some(t) = f.to_ms {
            qb.push(" AND at_ms < ").push_bind(t);
        }
    }

    fn entry(r: &sqlx::sqlite::SqliteRow) -> Result<AuditEntryView, sqlx::Error> {
        let action: String = r.try_get("action")?;
        Ok(AuditEntryView {
            id: r.try_get("id")?,
            at_ms: r.try_get("at_ms")?,
            actor: r.try_get("actor")?,
            role: r.try_get("role")?,
            action: AuditAction::parse(&action).unwrap_or(AuditAction::Denied),
            target: r.try_get("target")?,
            detail: r.try_get("detail")?,
            source: r.try_get("source")?,
        })
    }

    /// One page, newest first.
    pub async fn page(&self, f: &AuditFilter) -> Result<AuditPage, AuditError> {
        let size = f.page_size.clamp(1, MAX_PAGE);
        let mut count: QueryBuilder<Sqlite> = QueryBuilder::new("SELECT count(*) FROM audit");
        Self::filtered(&mut count, f);
        let total: i64 = count.build_query_scalar().fetch_one(&self.pool).await?;
        let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new("SELECT * FROM audit");
        Self::filtered(&mut qb, f);
        qb.push(" ORDER BY id DESC LIMIT ")
            .push_bind(i64::from(size))
            .push(" OFFSET ")
            .push_bind(i64::from(f.page) * i64::from(size));
        let rows = qb.build().fetch_all(&self.pool).await?;
        Ok(AuditPage {
            entries: rows.iter().map(Self::entry).collect::<Result<_, _>>()?,
            total: total.max(0) as u64,
            page: f.page,
            page_size: size,
        })
    }

    /// Every matching entry, oldest first; past [`MAX_EXPORT`], the newest ones
    /// (narrow the filter for older ones).
    pub async fn export(&self, f: &AuditFilter) -> Result<Vec<AuditEntryView>, AuditError> {
        let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new("SELECT * FROM audit");
        Self::filtered(&mut qb, f);
        qb.push(" ORDER BY id DESC LIMIT ").push_bind(MAX_EXPORT);
        let rows = qb.build().fetch_all(&self.pool).await?;
        let mut out: Vec<AuditEntryView> =
            rows.iter().map(Self::entry).collect::<Result<_, _>>()?;
        out.reverse();
        Ok(out)
    }
}

/// A field a spreadsheet would not run as a formula: text starting with `=`,
/// `+`, `-`, `@`, a tab or a carriage return gets a leading apostrophe.
pub fn inert(s: &str) -> String {
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_owned()
    }
}

/// The CSV the audit export serves: one header, one line per entry, RFC 3339
/// times, every free-text field made inert for spreadsheets.
pub fn to_csv(entries: &[AuditEntryView]) -> Result<Vec<u8>, csv::Error> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record([
        "id", "at", "actor", "role", "action", "target", "detail", "source",
    ])?;
    for e in entries {
        w.write_record([
            e.id.to_string(),
            crate::clock::format_time(e.at_ms),
            inert(&e.actor),
            e.role.clone().unwrap_or_default(),
            e.action.as_str().to_owned(),
            inert(&e.target),
            inert(&e.detail),
            inert(&e.source),
        ])?;
    }
    w.into_inner().map_err(|e| csv::Error::from(e.into_error()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_not_exported_as_formulas() {
        assert_eq!(inert("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(inert("+1"), "'+1");
        assert_eq!(inert("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(inert("anna"), "anna");
    }

    #[test]
    fn csv_quotes_what_needs_quoting() {
        let e = AuditEntryView {
            id: 7,
            at_ms: 0,
            actor: "anna".into(),
            role: Some("admin".into()),
            action: AuditAction::RoleChanged,
            target: "bert".into(),
            detail: "viewer → supervisor, \"night shift\"".into(),
            source: "10.0.0.7".into(),
        };
        let text = String::from_utf8(to_csv(&[e]).expect("csv")).expect("utf8");
        let mut lines = text.lines();
        assert_eq!(
            lines.next(),
            Some("id,at,actor,role,action,target,detail,source")
        );
        assert_eq!(
            lines.next(),
            Some(
                "7,1970-01-01T00:00:00Z,anna,admin,role_changed,bert,\"viewer → supervisor, \"\"night shift\"\"\",10.0.0.7"
            )
        );
    }
}
