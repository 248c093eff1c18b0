//! Where sign-in sessions live between requests: the `sessions` table of the
//! shared SQLite file, so a restart does not sign everybody out. The cookie,
//! ids, expiry and data are tower-sessions'; this is only its storage.

use axum_login::tower_sessions::cookie::time::OffsetDateTime;
use axum_login::tower_sessions::session::{Id, Record};
use axum_login::tower_sessions::session_store::{self, SessionStore};
use sqlx::{Row, SqlitePool};

use crate::clock::now_ms;

/// Sessions in SQLite.
#[derive(Debug, Clone)]
pub struct SqliteSessions {
    pool: SqlitePool,
}

fn backend(e: sqlx::Error) -> session_store::Error {
    session_store::Error::Backend(e.to_string())
}

fn expiry_ms(r: &Record) -> i64 {
    (r.expiry_date.unix_timestamp_nanos() / 1_000_000) as i64
}

impl SqliteSessions {
    /// Sessions in the shared database.
    pub fn new(pool: SqlitePool) -> Self {
        Self { pool }
    }

    /// Deletes expired sessions; returns how many.
    pub async fn delete_expired(&self) -> Result<u64, sqlx::Error> {
        let done = sqlx::query("DELETE FROM sessions WHERE expiry_ms < ?")
            .bind(now_ms())
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    fn encode(r: &Record) -> session_store::Result<String> {
        serde_json::to_string(&r.data).map_err(|e| session_store::Error::Encode(e.to_string()))
    }
}

#[async_trait::async_trait]
impl SessionStore for SqliteSessions {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        let data = Self::encode(record)?;
        // Ids are 128 random bits; on the rare collision, draw another.
        loop {
            let done = sqlx::query(
                "INSERT INTO sessions (id, data, expiry_ms) VALUES (?, ?, ?) ON CONFLICT (id) DO NOTHING",
            )
            .bind(record.id.to_string())
            .bind(&data)
            .bind(expiry_ms(record))
            .execute(&self.pool)
            .await
            .map_err(backend)?;
            if done.rows_affected() == 1 {
                return Ok(());
            }
            record.id = Id::default();
        }
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        sqlx::query(
            "INSERT INTO sessions (id, data, expiry_ms) VALUES (?, ?, ?)
             ON CONFLICT (id) DO UPDATE SET data = excluded.data, expiry_ms = excluded.expiry_ms",
        )
        .bind(record.id.to_string())
        .bind(Self::encode(record)?)
        .bind(expiry_ms(record))
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        let row =
            sqlx::query("SELECT data, expiry_ms FROM sessions WHERE id = ? AND expiry_ms > ?")
                .bind(id.to_string())
                .bind(now_ms())
                .fetch_optional(&self.pool)
                .await
                .map_err(backend)?;
        let Some(row) = row else { return Ok(None) };
        let data: String = row.try_get("data").map_err(backend)?;
        let expiry: i64 = row.try_get("expiry_ms").map_err(backend)?;
        let expiry_date = OffsetDateTime::from_unix_timestamp_nanos(i128::from(expiry) * 1_000_000)
            .map_err(|e| session_store::Error::Decode(e.to_string()))?;
        Ok(Some(Record {
            id: *id,
            data: serde_json::from_str(&data)
                .map_err(|e| session_store::Error::Decode(e.to_string()))?,
            expiry_date,
        }))
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        sqlx::query("DELETE FROM sessions WHERE id = ?")
            .bind(id.to_string())
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(())
    }
}
