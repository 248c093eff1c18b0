//! API tokens for stations and systems: a random secret shown once at issue,
//! stored only as its SHA-256, with one scope each.

use app::auth::{Principal, Scope, valid_username};
use sha2::{Digest, Sha256};
use sqlx::{Row, SqlitePool};

use super::AccessError;
use crate::clock::now_ms;
use crate::util::hex;

/// The prefix of every token, so a leaked one is easy to recognise.
pub const PREFIX: &str = "cgt_";

/// A token as listed (never the secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenInfo {
    /// Name (who it was issued to).
    pub name: String,
    /// Scope.
    pub scope: Scope,
    /// Issued (Unix ms).
    pub created_ms: i64,
    /// Revoked (Unix ms).
    pub revoked_ms: Option<i64>,
}

/// The api_tokens table.
#[derive(Debug, Clone)]
pub struct Tokens {
    pool: SqlitePool,
}

fn digest(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

impl Tokens {
    /// Tokens in the shared database.
    pub fn new(pool: SqlitePool) -> Self {
        Self { pool }
    }

    /// Issues a token named `name`; returns the secret, which is not stored.
    pub async fn issue(&self, name: &str, scope: Scope) -> Result<String, AccessError> {
        valid_username(name).map_err(|why| AccessError::Invalid {
            field: "name",
            reason: why.to_owned(),
        })?;
        let secret = format!("{PREFIX}{}", hex(&rand::random::<[u8; 32]>()));
        sqlx::query(
            "INSERT INTO api_tokens (name, scope, token_hash, created_ms) VALUES (?, ?, ?, ?)",
        )
        .bind(name)
        .bind(scope.as_str())
        .bind(digest(&secret))
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(secret)
    }

    /// The principal behind a presented token, if it is known and not revoked.
    pub async fn principal(&self, presented: &str) -> Result<Option<Principal>, AccessError> {
        if !presented.starts_with(PREFIX) || presented.len() > 128 {
            return Ok(None);
        }
        let row = sqlx::query(
            "SELECT id, name, scope FROM api_tokens WHERE token_hash = ? AND revoked_ms IS NULL",
        )
        .bind(digest(presented))
        .fetch_optional(&self.pool)
        .await?;
        let Some(r) = row else { return Ok(None) };
        let scope: String = r.try_get("scope")?;
        let Some(scope) = Scope::parse(&scope) else {
            return Ok(None);
        };
        Ok(Some(Principal::Token {
            id: r.try_get("id")?,
            name: r.try_get("name")?,
            scope,
        }))
    }

    /// Revokes every live token named `name`; returns how many.
    pub async fn revoke(&self, name: &str) -> Result<u64, AccessError> {
        let done = sqlx::query(
            "UPDATE api_tokens SET revoked_ms = ? WHERE name = ? AND revoked_ms IS NULL",
        )
        .bind(now_ms())
        .bind(name)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    /// Every token, newest first.
    pub async fn list(&self) -> Result<Vec<TokenInfo>, AccessError> {
        let rows = sqlx::query(
            "SELECT name, scope, created_ms, revoked_ms FROM api_tokens ORDER BY created_ms DESC, id DESC",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let scope: String = r.try_get("scope")?;
                Ok(TokenInfo {
                    name: r.try_get("name")?,
                    scope: Scope::parse(&scope).ok_or_else(|| {
                        AccessError::Internal(format!("unknown scope {scope:?} in the database"))
                    })?,
                    created_ms: r.try_get("created_ms")?,
                    revoked_ms: r.try_get("revoked_ms")?,
                })
            })
            .collect()
    }
}
