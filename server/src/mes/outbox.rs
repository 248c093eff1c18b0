//! The outbox: every message for the MES is written here in the same transaction
//! as the data it reports, then delivered in order by the MES client. What to do
//! after an attempt ([`classify`]) is pure; the [`Outbox`] store is SQLite.
//!
//! A message is `pending` until the MES accepts it (`delivered`, kept for
//! `keep_delivered_days`) or refuses it for good (`dead`, kept until a person
//! retries or discards it). Its idempotency key is unique: queueing the same key
//! twice keeps the first, so a resend of the same data never becomes a second
//! message.

use std::time::Duration;

use app::mes::{OutboxEntry, OutboxList};
use sqlx::{Row, Sqlite, SqlitePool};

use super::contract::MessageKind;
use app::api::service::ServiceError;

/// Longest Retry-After honoured (a misbehaving MES cannot park us for a day).
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);
/// Longest error text kept per message.
const MAX_ERROR_CHARS: usize = 500;

/// A message to queue.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// What it reports.
    pub kind: MessageKind,
    /// Its idempotency key (unique across the outbox).
    pub key: String,
    /// What it is about (a machine, a cell, an order), for people.
    pub subject: String,
    /// The JSON body.
    pub body: String,
}

impl Message {
    /// A message with `body` serialised as JSON (the contract's plain structs
    /// always serialise; non-finite numbers become `null`).
    pub fn json(
        kind: MessageKind,
        key: String,
        subject: String,
        body: &impl serde::Serialize,
    ) -> Self {
        Self {
            kind,
            key,
            subject,
            body: serde_json::to_string(body).unwrap_or_else(|_| "{}".into()),
        }
    }
}

/// How one delivery attempt ended, as seen on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// The MES answered with this status (and Retry-After, when it sent one).
    Answered {
        /// HTTP status.
        status: u16,
        /// Its Retry-After.
        retry_after: Option<Duration>,
        /// The start of its body (for the dead-letter list).
        body: String,
    },
    /// No answer: connection refused or reset, DNS, TLS.
    Unreachable(String),
    /// No answer within the timeout.
    TimedOut,
    /// The message cannot be sent at all (say, its key is not a valid header).
    Unsendable(String),
}

/// What to do with a message after an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disposition {
    /// Accepted: mark delivered.
    Delivered,
    /// A passing fault: try again later (after `retry_after` if the MES said so).
    Retry {
        /// Why, for the UI and the log.
        reason: String,
        /// The MES's Retry-After, capped.
        retry_after: Option<Duration>,
    },
    /// The MES refuses CellGuard's token (401): keep the message, slow down, tell a
    /// person.
    Unauthorized {
        /// Why.
        reason: String,
    },
    /// The MES answered this message with a passing error (408, or 5xx without a
    /// Retry-After): hold this message's entity (its later messages wait behind
    /// it) and go on with the others.
    Hold {
        /// The status and the MES's answer.
        reason: String,
    },
    /// The MES refuses this message for good (other 4xx): dead letter.
    Refused {
        /// The status and the MES's answer.
        reason: String,
    },
}

/// Decides what an attempt means: 2xx delivered; 401 unauthorized; 408 and 5xx
/// hold the message's entity; 429, a Retry-After, timeouts and connection errors
/// retry the whole queue; a redirect (never followed; its
/// body is the Location) and every other answer (403 too: the MES forbids this
/// message, not CellGuard) refused.
pub fn classify(attempt: &Attempt) -> Disposition {
    match attempt {
        Attempt::Unsendable(e) => Disposition::Refused {
            reason: format!("cannot be sent: {e}"),
        },
        Attempt::Unreachable(e) => Disposition::Retry {
            reason: format!("MES unreachable: {e}"),
            retry_after: None,
        },
        Attempt::TimedOut => Disposition::Retry {
            reason: "MES did not answer in time".into(),
            retry_after: None,
        },
        Attempt::Answered {
            status,
            retry_after,
            body,
        } => {
            let said = if body.trim().is_empty() {
                String::new()
            } else {
                format!(": {}", clip(body.trim()))
            };
            match *status {
                200..=299 => Disposition::Delivered,
                401 => Disposition::Unauthorized {
                    reason: format!("MES refused CellGuard's token ({status}){said}"),
                },
                300..=399 => Disposition::Refused {
                    reason: format!(
                        "MES answered {status}, redirecting to {}: a redirect is not a \
                         delivery (check [mes] url)",
                        clip(body.trim())
                    ),
                },
                // The MES says when to come back, or throttles: the whole queue waits.
                429 | 500..=599 if retry_after.is_some() || *status == 429 => Disposition::Retry {
                    reason: format!("MES answered {status}{said}"),
                    retry_after: retry_after.map(|d| d.min(MAX_RETRY_AFTER)),
                },
                408 | 500..=599 => Disposition::Hold {
                    reason: format!("MES answered {status}{said}"),
                },
                _ => Disposition::Refused {
                    reason: format!("MES refused the message ({status}){said}"),
                },
            }
        }
    }
}

fn clip(s: &str) -> String {
    if s.chars().count() <= MAX_ERROR_CHARS {
        s.to_owned()
    } else {
        let mut out: String = s.chars().take(MAX_ERROR_CHARS).collect();
        out.push('…');
        out
    }
}

/// Counts of the outbox.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Depth {
    /// Waiting for delivery.
    pub pending: u64,
    /// Refused by the MES.
    pub dead: u64,
    /// When the oldest waiting message was queued (Unix ms).
    pub oldest_ms: Option<i64>,
}

/// A message due for delivery.
#[derive(Debug, Clone, PartialEq)]
pub struct Due {
    /// Sequence number.
    pub id: i64,
    /// What it reports.
    pub kind: MessageKind,
    /// Idempotency key.
    pub key: String,
    /// JSON body.
    pub body: String,
    /// Attempts before this one.
    pub attempts: u32,
    /// When it was queued.
    pub created_ms: i64,
}

type Tx<'c> = sqlx::Transaction<'c, Sqlite>;

/// The next message to send (see [`Outbox::head`]): walks the pending messages in
/// id order (`mes_outbox_state`) and looks up each one's entity for anything
/// older pending (`mes_outbox_entity`).
const HEAD: &str = "SELECT id, kind, idem_key, body, attempts, created_ms FROM mes_outbox o \
     WHERE state = 'pending' AND (hold_until_ms IS NULL OR hold_until_ms <= ?) \
     AND NOT EXISTS (SELECT 1 FROM mes_outbox e WHERE e.state = 'pending' \
       AND e.kind = o.kind AND e.subject = o.subject AND e.id < o.id) \
     ORDER BY id LIMIT 1";

/// Queues `msg` inside the caller's transaction (so it commits or rolls back with
/// the data it reports). Returns false if its key is already queued.
pub async fn enqueue(tx: &mut Tx<'_>, msg: &Message, now_ms: i64) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "INSERT OR IGNORE INTO mes_outbox (idem_key, kind, subject, body, created_ms) \
         VALUES (?, ?, ?, ?, ?)",
    )
    .bind(&msg.key)
    .bind(msg.kind.as_str())
    .bind(&msg.subject)
    .bind(&msg.body)
    .bind(now_ms)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The outbox table.
#[derive(Debug, Clone)]
pub struct Outbox {
    pool: SqlitePool,
}

/// Why the MES outbox failed.
#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    /// The database reported an error.
    #[error("MES outbox: {0}")]
    Database(#[from] sqlx::Error),
}

impl From<OutboxError> for ServiceError {
    fn from(e: OutboxError) -> Self {
        tracing::error!(error = %e, "MES outbox failed");
        ServiceError::unavailable("the MES outbox")
    }
}

fn db(e: sqlx::Error) -> OutboxError {
    OutboxError::Database(e)
}

/// Largest page of the outbox list.
pub const MAX_PAGE: u32 = 200;

impl Outbox {
    /// The outbox in the shared database.
    pub fn new(pool: SqlitePool) -> Self {
        Self { pool }
    }

    /// The pool.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Queues messages in one transaction of their own (for data that lives only
    /// in the message, such as machine-data reports). Returns how many were new.
    pub async fn push(&self, msgs: &[Message], now_ms: i64) -> Result<u64, OutboxError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await.map_err(db)?;
        let mut n = 0;
        for m in msgs {
            if enqueue(&mut tx, m, now_ms).await.map_err(db)? {
                n += 1;
            }
        }
        tx.commit().await.map_err(db)?;
        Ok(n)
    }

    /// The next message to send at `now_ms`: the oldest pending one whose entity
    /// (kind and subject) has nothing older pending and that is not held. A
    /// message of a kind this version does not know (written by another version)
    /// becomes a dead letter on the way.
    pub async fn head(&self, now_ms: i64) -> Result<Option<Due>, OutboxError> {
        loop {
            let row = sqlx::query(HEAD)
                .bind(now_ms)
                .fetch_optional(&self.pool)
                .await
                .map_err(db)?;
            let Some(r) = row else { return Ok(None) };
            let kind: String = r.get("kind");
            let id: i64 = r.get("id");
            match MessageKind::parse(&kind) {
                Some(kind) => {
                    return Ok(Some(Due {
                        id,
                        kind,
                        key: r.get("idem_key"),
                        body: r.get("body"),
                        attempts: u32::try_from(r.get::<i64, _>("attempts")).unwrap_or(u32::MAX),
                        created_ms: r.get("created_ms"),
                    }));
                }
                None => {
                    let why = format!("unknown kind {kind:?}: this version cannot send it");
                    self.dead(id, None, &why, crate::clock::now_ms()).await?;
                }
            }
        }
    }

    /// Marks a message delivered.
    pub async fn delivered(&self, id: i64, status: u16, now_ms: i64) -> Result<(), OutboxError> {
        sqlx::query(
            "UPDATE mes_outbox SET state = 'delivered', attempts = attempts + 1, \
             last_status = ?, last_error = NULL, done_ms = ? WHERE id = ? AND state = 'pending'",
        )
        .bind(i64::from(status))
        .bind(now_ms)
        .bind(id)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(())
    }

    /// Records a failed attempt; the message stays pending, held until
    /// `hold_until_ms` when the MES answered it with a passing error (its entity
    /// waits, the others go on), or not held when the link failed (the whole
    /// queue waits on the delivery loop's back-off).
    pub async fn failed(
        &self,
        id: i64,
        status: Option<u16>,
        error: &str,
        hold_until_ms: Option<i64>,
    ) -> Result<(), OutboxError> {
        sqlx::query(
            "UPDATE mes_outbox SET attempts = attempts + 1, last_status = ?, last_error = ?, \
             hold_until_ms = ? WHERE id = ? AND state = 'pending'",
        )
        .bind(status.map(i64::from))
        .bind(clip(error))
        .bind(hold_until_ms)
        .bind(id)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(())
    }

    /// When the first held message is due again (after `now_ms`), if any waits.
    pub async fn next_hold(&self, now_ms: i64) -> Result<Option<i64>, OutboxError> {
        sqlx::query_scalar(
            "SELECT min(hold_until_ms) FROM mes_outbox \
             WHERE state = 'pending' AND hold_until_ms > ?",
        )
        .bind(now_ms)
        .fetch_one(&self.pool)
        .await
        .map_err(db)
    }

    /// Moves a message to the dead letters with the MES's answer.
    pub async fn dead(
        &self,
        id: i64,
        status: Option<u16>,
        error: &str,
        now_ms: i64,
    ) -> Result<(), OutboxError> {
        sqlx::query(
            "UPDATE mes_outbox SET state = 'dead', attempts = attempts + 1, last_status = ?, \
             last_error = ?, done_ms = ? WHERE id = ? AND state = 'pending'",
        )
        .bind(status.map(i64::from))
        .bind(clip(error))
        .bind(now_ms)
        .bind(id)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(())
    }

    /// Sends dead letters again: `id`, or all of them. Each keeps its place in
    /// its entity's order by its id. A cell's result whose newer revision the MES
    /// already has is not sent again (it would overwrite the newer one): it stays
    /// a dead letter, saying so. Returns how many go again.
    pub async fn retry(&self, id: Option<i64>) -> Result<u64, OutboxError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await.map_err(db)?;
        let superseded = sqlx::query(
            "UPDATE mes_outbox SET last_error = 'not sent again: the MES already has a newer \
             revision of this cell' WHERE state = 'dead' AND (? IS NULL OR id = ?) \
             AND kind = 'quality_result' AND EXISTS (SELECT 1 FROM mes_outbox n \
               WHERE n.kind = mes_outbox.kind AND n.subject = mes_outbox.subject \
               AND n.id > mes_outbox.id AND n.state = 'delivered')",
        )
        .bind(id)
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        let again = sqlx::query(
            "UPDATE mes_outbox SET state = 'pending', attempts = 0, done_ms = NULL, \
             hold_until_ms = NULL WHERE state = 'dead' AND (? IS NULL OR id = ?) \
             AND NOT (kind = 'quality_result' AND EXISTS (SELECT 1 FROM mes_outbox n \
               WHERE n.kind = mes_outbox.kind AND n.subject = mes_outbox.subject \
               AND n.id > mes_outbox.id AND n.state = 'delivered'))",
        )
        .bind(id)
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        if superseded.rows_affected() > 0 {
            tracing::info!(
                superseded = superseded.rows_affected(),
                "dead letters not sent again: the MES has newer revisions"
            );
        }
        Ok(again.rows_affected())
    }

    /// Drops a pending or dead message for good; returns its key and kind, or
    /// `None` if there is no such message (or it was delivered already).
    pub async fn discard(&self, id: i64) -> Result<Option<(String, String)>, OutboxError> {
        let row: Option<(String, String)> = sqlx::query_as(
            "DELETE FROM mes_outbox WHERE id = ? AND state IN ('pending', 'dead') \
             RETURNING idem_key, kind",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        Ok(row)
    }

    /// Drops delivered messages older than `before_ms`; returns how many.
    pub async fn prune_delivered(&self, before_ms: i64) -> Result<u64, OutboxError> {
        let done = sqlx::query("DELETE FROM mes_outbox WHERE state = 'delivered' AND done_ms < ?")
            .bind(before_ms)
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(done.rows_affected())
    }

    /// How many wait, how many are dead, and the oldest waiting one's age.
    pub async fn depth(&self) -> Result<Depth, OutboxError> {
        let row = sqlx::query(
            "SELECT \
               (SELECT count(*) FROM mes_outbox WHERE state = 'pending') AS pending, \
               (SELECT count(*) FROM mes_outbox WHERE state = 'dead') AS dead, \
               (SELECT created_ms FROM mes_outbox WHERE state = 'pending' ORDER BY id LIMIT 1) \
                 AS oldest",
        )
        .fetch_one(&self.pool)
        .await
        .map_err(db)?;
        let n = |k: &str| u64::try_from(row.get::<i64, _>(k)).unwrap_or(0);
        Ok(Depth {
            pending: n("pending"),
            dead: n("dead"),
            oldest_ms: row.get("oldest"),
        })
    }

    /// One page of a list, with its total.
    pub async fn list(
        &self,
        list: OutboxList,
        page: u32,
        per_page: u32,
    ) -> Result<(Vec<OutboxEntry>, u64), OutboxError> {
        let per_page = per_page.clamp(1, MAX_PAGE);
        let total: i64 = sqlx::query_scalar("SELECT count(*) FROM mes_outbox WHERE state = ?")
            .bind(list.as_str())
            .fetch_one(&self.pool)
            .await
            .map_err(db)?;
        // Waiting and dead: oldest first (the order they go in); delivered: newest.
        let sql = if list == OutboxList::Delivered {
            "SELECT id, kind, subject, idem_key, created_ms, attempts, last_error, last_status, \
             done_ms FROM mes_outbox WHERE state = ? ORDER BY id DESC LIMIT ? OFFSET ?"
        } else {
            "SELECT id, kind, subject, idem_key, created_ms, attempts, last_error, last_status, \
             done_ms FROM mes_outbox WHERE state = ? ORDER BY id ASC LIMIT ? OFFSET ?"
        };
        let rows = sqlx::query(sql)
            .bind(list.as_str())
            .bind(i64::from(per_page))
            .bind(i64::from(page) * i64::from(per_page))
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        let entries = rows
            .iter()
            .map(|r| OutboxEntry {
                id: r.get("id"),
                kind: r.get("kind"),
                subject: r.get("subject"),
                key: r.get("idem_key"),
                created_ms: r.get("created_ms"),
                attempts: u32::try_from(r.get::<i64, _>("attempts")).unwrap_or(u32::MAX),
                last_error: r.get("last_error"),
                last_status: r
                    .get::<Option<i64>, _>("last_status")
                    .and_then(|s| u16::try_from(s).ok()),
                done_ms: r.get("done_ms"),
            })
            .collect();
        Ok((entries, u64::try_from(total).unwrap_or(0)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answered(status: u16) -> Attempt {
        Attempt::Answered {
            status,
            retry_after: None,
            body: String::new(),
        }
    }

    fn result(serial: &str, revision: u32) -> Message {
        Message {
            kind: MessageKind::QualityResult,
            key: format!("quality-result:{serial}:{revision}"),
            subject: serial.into(),
            body: "{}".into(),
        }
    }

    #[tokio::test]
    async fn a_held_entity_waits_with_its_later_messages_and_the_others_go_on() {
        let (_dir, o) = outbox().await;
        let now = 1_000_000;
        let msgs = [result("A", 1), result("A", 2), result("B", 1)];
        assert_eq!(o.push(&msgs, now).await.expect("queued"), 3);
        let first = o.head(now).await.expect("head").expect("one");
        assert_eq!(first.key, "quality-result:A:1");
        o.failed(first.id, Some(500), "MES answered 500", Some(now + 60_000))
            .await
            .expect("held");
        // A's second revision waits behind its first; B goes.
        let next = o.head(now).await.expect("head").expect("one");
        assert_eq!(next.key, "quality-result:B:1");
        o.delivered(next.id, 200, now).await.expect("delivered");
        assert!(o.head(now).await.expect("head").is_none(), "only A, held");
        assert_eq!(o.next_hold(now).await.expect("hold"), Some(now + 60_000));
        // Once its hold is over, A goes again, in order.
        let again = o.head(now + 60_000).await.expect("head").expect("one");
        assert_eq!(
            (again.key.as_str(), again.attempts),
            ("quality-result:A:1", 1)
        );
    }

    #[tokio::test]
    async fn the_head_query_uses_both_outbox_indexes() {
        let (_dir, o) = outbox().await;
        let rows: Vec<(i64, i64, i64, String)> =
            sqlx::query_as(sqlx::AssertSqlSafe(format!("EXPLAIN QUERY PLAN {HEAD}")))
                .bind(0i64)
                .fetch_all(o.pool())
                .await
                .expect("plan");
        let plan: Vec<&str> = rows.iter().map(|r| r.3.as_str()).collect();
        let plan = plan.join(" | ");
        assert!(plan.contains("mes_outbox_state"), "{plan}");
        assert!(plan.contains("mes_outbox_entity"), "{plan}");
        assert!(!plan.contains("SCAN e"), "{plan}");
    }

    #[tokio::test]
    async fn a_retried_dead_letter_never_overtakes_a_newer_revision_the_mes_has() {
        let (_dir, o) = outbox().await;
        let now = 1_000_000;
        o.push(&[result("A", 1), result("A", 2), result("B", 1)], now)
            .await
            .expect("queued");
        let a1 = o.head(now).await.expect("head").expect("A:1");
        o.dead(a1.id, Some(500), "gave up", now)
            .await
            .expect("dead");
        let a2 = o.head(now).await.expect("head").expect("A:2");
        assert_eq!(a2.key, "quality-result:A:2");
        o.delivered(a2.id, 200, now).await.expect("delivered");
        let b1 = o.head(now).await.expect("head").expect("B:1");
        o.dead(b1.id, Some(500), "gave up", now)
            .await
            .expect("dead");
        // B:1 goes again; A:1 would overwrite A:2 at the MES and stays dead, saying why.
        assert_eq!(o.retry(None).await.expect("retried"), 1);
        let due = o.head(now).await.expect("head").expect("B:1");
        assert_eq!(due.key, "quality-result:B:1");
        let (dead, _) = o.list(OutboxList::Dead, 0, 10).await.expect("dead");
        assert_eq!(dead.len(), 1);
        assert_eq!(dead[0].key, "quality-result:A:1");
        assert!(
            dead[0]
                .last_error
                .as_deref()
                .unwrap_or("")
                .contains("newer revision"),
            "{:?}",
            dead[0].last_error
        );
    }

    #[test]
    fn success_is_delivered_whatever_the_2xx() {
        for s in [200, 201, 202, 204] {
            assert_eq!(classify(&answered(s)), Disposition::Delivered, "{s}");
        }
    }

    #[test]
    fn passing_faults_are_retried_and_permanent_ones_refused() {
        assert!(matches!(
            classify(&answered(429)),
            Disposition::Retry { .. }
        ));
        // A passing error about this message holds its entity only.
        for s in [408, 500, 502, 503, 504] {
            assert!(
                matches!(classify(&answered(s)), Disposition::Hold { .. }),
                "{s}"
            );
        }
        // Unless the MES says when to come back: then everything waits.
        let later = Attempt::Answered {
            status: 503,
            retry_after: Some(Duration::from_secs(5)),
            body: String::new(),
        };
        assert!(matches!(classify(&later), Disposition::Retry { .. }));
        for s in [400, 403, 404, 409, 413, 422] {
            assert!(
                matches!(classify(&answered(s)), Disposition::Refused { .. }),
                "{s}"
            );
        }
        assert!(matches!(
            classify(&Attempt::TimedOut),
            Disposition::Retry { .. }
        ));
        assert!(matches!(
            classify(&Attempt::Unreachable("refused".into())),
            Disposition::Retry { .. }
        ));
    }

    #[test]
    fn a_refused_token_is_not_a_dead_letter_but_an_unsendable_message_is() {
        assert!(matches!(
            classify(&answered(401)),
            Disposition::Unauthorized { .. }
        ));
        assert!(matches!(
            classify(&Attempt::Unsendable("bad header".into())),
            Disposition::Refused { .. }
        ));
    }

    #[test]
    fn a_dead_letter_keeps_the_mes_answer() {
        let d = classify(&Attempt::Answered {
            status: 400,
            retry_after: None,
            body: r#"{"error":"unknown equipment"}"#.into(),
        });
        let Disposition::Refused { reason } = d else {
            panic!("refused expected")
        };
        assert!(reason.contains("400") && reason.contains("unknown equipment"));
    }

    #[test]
    fn retry_after_is_kept_but_capped() {
        let d = classify(&Attempt::Answered {
            status: 429,
            retry_after: Some(Duration::from_secs(86_400)),
            body: String::new(),
        });
        assert_eq!(
            d,
            Disposition::Retry {
                reason: "MES answered 429".into(),
                retry_after: Some(MAX_RETRY_AFTER)
            }
        );
    }

    async fn outbox() -> (tempfile::TempDir, Outbox) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = crate::storage::sqlite::SqliteStore::open_in(dir.path())
            .await
            .expect("db");
        (dir, Outbox::new(store.pool().clone()))
    }

    fn msg(key: &str) -> Message {
        Message {
            kind: MessageKind::OrderConfirmation,
            key: key.into(),
            subject: "98765".into(),
            body: "{}".into(),
        }
    }

    #[tokio::test]
    async fn a_key_is_queued_once_and_delivered_in_order() {
        let (_dir, o) = outbox().await;
        assert_eq!(
            o.push(&[msg("a"), msg("b"), msg("a")], 10)
                .await
                .expect("push"),
            2
        );
        assert_eq!(o.push(&[msg("b")], 11).await.expect("push"), 0);
        let d = o.depth().await.expect("depth");
        assert_eq!((d.pending, d.dead, d.oldest_ms), (2, 0, Some(10)));
        let head = o.head(100).await.expect("head").expect("a");
        assert_eq!(head.key, "a");
        o.failed(head.id, Some(503), "busy", None)
            .await
            .expect("failed");
        let again = o.head(100).await.expect("head").expect("still a");
        assert_eq!((again.key.as_str(), again.attempts), ("a", 1));
        o.delivered(again.id, 200, 20).await.expect("delivered");
        assert_eq!(o.head(100).await.expect("head").expect("b").key, "b");
        let (delivered, total) = o.list(OutboxList::Delivered, 0, 10).await.expect("list");
        assert_eq!((total, delivered[0].attempts), (1, 2));
    }

    #[tokio::test]
    async fn dead_letters_wait_for_a_person_and_keep_their_place() {
        let (_dir, o) = outbox().await;
        o.push(&[msg("a"), msg("b")], 10).await.expect("push");
        let a = o.head(100).await.expect("head").expect("a");
        o.dead(a.id, Some(400), "MES refused the message (400)", 12)
            .await
            .expect("dead");
        assert_eq!(o.head(100).await.expect("head").expect("b").key, "b");
        let (dead, n) = o.list(OutboxList::Dead, 0, 10).await.expect("dead list");
        assert_eq!(n, 1);
        assert_eq!(dead[0].last_status, Some(400));
        assert!(dead[0].last_error.as_deref().unwrap_or("").contains("400"));
        assert_eq!(o.retry(Some(a.id)).await.expect("retry"), 1);
        // Back in front of b: the queue keeps the order the data happened in.
        assert_eq!(o.head(100).await.expect("head").expect("a").key, "a");
        assert_eq!(
            o.discard(a.id).await.expect("discard").map(|k| k.0),
            Some("a".into())
        );
        assert_eq!(o.discard(a.id).await.expect("discard"), None);
        assert_eq!(o.depth().await.expect("depth").pending, 1);
    }

    #[tokio::test]
    async fn delivered_messages_cannot_be_discarded_and_are_pruned_by_age() {
        let (_dir, o) = outbox().await;
        o.push(&[msg("a")], 10).await.expect("push");
        let a = o.head(100).await.expect("head").expect("a");
        o.delivered(a.id, 200, 100).await.expect("delivered");
        assert_eq!(o.discard(a.id).await.expect("discard"), None);
        assert_eq!(o.prune_delivered(100).await.expect("prune"), 0);
        assert_eq!(o.prune_delivered(101).await.expect("prune"), 1);
    }
}
