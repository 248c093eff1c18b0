//! People who sign in: Argon2id password hashes in the database, roles, disabling.
//! Hashing runs on the blocking pool: it is deliberately slow.

use app::auth::{Role, UserView, valid_password, valid_username};
use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use sqlx::{Row, SqlitePool};

use super::AccessError;
use crate::clock::now_ms;

/// The condition (in `UPDATE users … WHERE id = ? AND (… OR <this>)`) that keeps an
/// enabled admin: the row is not one, or another one remains. Checked by the
/// statement that changes the row, so no second writer can slip in between.
macro_rules! keeps_an_admin {
    () => {
        "role <> 'admin' OR disabled = 1 OR EXISTS (SELECT 1 FROM users o \
         WHERE o.role = 'admin' AND o.disabled = 0 AND o.id <> users.id)"
    };
}

/// A user as the session layer needs them.
#[derive(Clone, PartialEq, Eq)]
pub struct User {
    /// Id.
    pub id: i64,
    /// Sign-in name.
    pub username: String,
    /// Role.
    pub role: Role,
    /// The stored hash: a session is valid only while it is unchanged, so a new
    /// password signs the user out everywhere.
    pub password_hash: String,
    /// Disabled users cannot sign in and lose their sessions.
    pub disabled: bool,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("username", &self.username)
            .field("role", &self.role)
            .field("disabled", &self.disabled)
            .finish_non_exhaustive()
    }
}

/// The users table.
#[derive(Debug, Clone)]
pub struct Users {
    pool: SqlitePool,
}

/// Hashes a password with Argon2id (default parameters) and a random salt.
pub fn hash_password(password: &str) -> Result<String, AccessError> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| AccessError::Internal(format!("hashing: {e}")))
}

/// Whether `password` matches the PHC string `hash`.
pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// A hash of a password nobody has, verified when the name is unknown so that a
/// wrong name takes as long as a wrong password.
fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash_password("decoy password that matches nothing").unwrap_or_default())
}

/// Hashes run one per core at most: each takes 19 MiB and tens of milliseconds,
/// and a burst of sign-ins must not take the whole machine.
static HASHING: std::sync::LazyLock<tokio::sync::Semaphore> = std::sync::LazyLock::new(|| {
    tokio::sync::Semaphore::new(std::thread::available_parallelism().map_or(1, usize::from))
});

/// Longest a hash waits for its turn before the request is turned away.
const HASHING_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, AccessError> {
    let _turn = tokio::time::timeout(HASHING_WAIT, HASHING.acquire())
        .await
        .map_err(|_| AccessError::Busy)?
        .map_err(|_| AccessError::Busy)?;
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| AccessError::Internal(format!("hashing task: {e}")))
}

/// A new password's hash, once its length is acceptable.
async fn checked_hash(password: &str) -> Result<String, AccessError> {
    valid_password(password).map_err(|reason| AccessError::Invalid {
        field: "password",
        reason,
    })?;
    let pw = password.to_owned();
    blocking(move || hash_password(&pw)).await?
}

fn row_to_user(r: &sqlx::sqlite::SqliteRow) -> Result<User, AccessError> {
    let role: String = r.try_get("role")?;
    Ok(User {
        id: r.try_get("id")?,
        username: r.try_get("username")?,
        role: Role::parse(&role).ok_or_else(|| {
            AccessError::Internal(format!("unknown role {role:?} in the database"))
        })?,
        password_hash: r.try_get("password_hash")?,
        disabled: r.try_get::<i64, _>("disabled")? != 0,
    })
}

impl Users {
    /// Users in the shared database.
    pub fn new(pool: SqlitePool) -> Self {
        Self { pool }
    }

    /// How many users exist.
    pub async fn count(&self) -> Result<u64, AccessError> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users")
            .fetch_one(&self.pool)
            .await?;
        Ok(n.max(0) as u64)
    }

    /// Adds a user. The name and password are checked first.
    pub async fn add(
        &self,
        username: &str,
        role: Role,
        password: &str,
    ) -> Result<User, AccessError> {
        valid_username(username).map_err(|why| AccessError::Invalid {
            field: "username",
            reason: why.to_owned(),
        })?;
        let hash = checked_hash(password).await?;
        let id = sqlx::query(
            "INSERT INTO users (username, password_hash, role, created_ms) VALUES (?, ?, ?, ?)
             ON CONFLICT (username) DO NOTHING",
        )
        .bind(username)
        .bind(&hash)
        .bind(role.as_str())
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        if id.rows_affected() == 0 {
            return Err(AccessError::Exists(username.to_owned()));
        }
        Ok(User {
            id: id.last_insert_rowid(),
            username: username.to_owned(),
            role,
            password_hash: hash,
            disabled: false,
        })
    }

    /// The user with `id`.
    pub async fn get(&self, id: i64) -> Result<Option<User>, AccessError> {
        sqlx::query("SELECT * FROM users WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .map(|r| row_to_user(&r))
            .transpose()
    }

    /// The user named `username`.
    pub async fn by_name(&self, username: &str) -> Result<Option<User>, AccessError> {
        sqlx::query("SELECT * FROM users WHERE username = ?")
            .bind(username)
            .fetch_optional(&self.pool)
            .await?
            .map(|r| row_to_user(&r))
            .transpose()
    }

    /// The enabled user whose name and password match, or `None`. Takes about as
    /// long whether the name exists or not.
    pub async fn verify(
        &self,
        username: &str,
        password: &str,
    ) -> Result<Option<User>, AccessError> {
        if password.len() > app::auth::MAX_PASSWORD_BYTES {
            return Ok(None);
        }
        let user = self.by_name(username).await?;
        let hash = user
            .as_ref()
            .map(|u| u.password_hash.clone())
            .unwrap_or_else(|| decoy_hash().to_owned());
        let pw = password.to_owned();
        let ok = blocking(move || verify_password(&pw, &hash)).await?;
        Ok(user.filter(|u| ok && !u.disabled))
    }

    /// Records a successful sign-in.
    pub async fn touch_sign_in(&self, id: i64) -> Result<(), AccessError> {
        sqlx::query("UPDATE users SET last_sign_in_ms = ? WHERE id = ?")
            .bind(now_ms())
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Every user, by name.
    pub async fn list(&self) -> Result<Vec<UserView>, AccessError> {
        let rows = sqlx::query(
            "SELECT username, role, created_ms, last_sign_in_ms, disabled FROM users ORDER BY username",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let role: String = r.try_get("role")?;
                Ok(UserView {
                    username: r.try_get("username")?,
                    role: Role::parse(&role).ok_or_else(|| {
                        AccessError::Internal(format!("unknown role {role:?} in the database"))
                    })?,
                    created_ms: r.try_get("created_ms")?,
                    last_sign_in_ms: r.try_get("last_sign_in_ms")?,
                    disabled: r.try_get::<i64, _>("disabled")? != 0,
                })
            })
            .collect()
    }

    /// Changes a role; returns the old one. Demoting the last enabled admin is
    /// refused, in the same statement that demotes (two admins demoting each other
    /// at once cannot leave none).
    pub async fn set_role(&self, username: &str, role: Role) -> Result<Role, AccessError> {
        let user = self
            .by_name(username)
            .await?
            .ok_or_else(|| AccessError::UnknownUser(username.to_owned()))?;
        let done = sqlx::query(concat!(
            "UPDATE users SET role = ? WHERE id = ? AND (? = 'admin' OR ",
            keeps_an_admin!(),
            ")"
        ))
        .bind(role.as_str())
        .bind(user.id)
        .bind(role.as_str())
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(AccessError::LastAdmin);
        }
        Ok(user.role)
    }

    /// Disables or enables a user (never the last enabled admin, checked in the
    /// same statement).
    pub async fn set_disabled(&self, username: &str, disabled: bool) -> Result<(), AccessError> {
        let user = self
            .by_name(username)
            .await?
            .ok_or_else(|| AccessError::UnknownUser(username.to_owned()))?;
        let done = sqlx::query(concat!(
            "UPDATE users SET disabled = ? WHERE id = ? AND (? = 0 OR ",
            keeps_an_admin!(),
            ")"
        ))
        .bind(i64::from(disabled))
        .bind(user.id)
        .bind(i64::from(disabled))
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(AccessError::LastAdmin);
        }
        Ok(())
    }

    /// Sets a new password (signs the user out of every session).
    pub async fn set_password(&self, username: &str, password: &str) -> Result<(), AccessError> {
        let hash = checked_hash(password).await?;
        let done = sqlx::query("UPDATE users SET password_hash = ? WHERE username = ?")
            .bind(hash)
            .bind(username)
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(AccessError::UnknownUser(username.to_owned()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_verifies_its_password_only() {
        let h = hash_password("correct horse battery").expect("hash");
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(verify_password("correct horse battery", &h));
        assert!(!verify_password("correct horse batterz", &h));
        assert!(!verify_password("anything", "not a hash"));
    }

    #[test]
    fn the_same_password_hashes_differently_each_time() {
        let a = hash_password("same password!").expect("hash");
        let b = hash_password("same password!").expect("hash");
        assert_ne!(a, b, "salts must differ");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_admins_demoting_each_other_at_once_leave_one_admin() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = crate::storage::sqlite::SqliteStore::open_in(dir.path())
            .await
            .expect("database");
        let users = Users::new(store.pool().clone());
        for round in 0..40 {
            let (a, b) = (format!("anna{round}"), format!("bert{round}"));
            for n in [&a, &b] {
                users
                    .add(n, Role::Admin, "correct horse battery")
                    .await
                    .expect("added");
            }
            // Everyone else stops being an admin: these two are the last.
            for u in users.list().await.expect("list") {
                if u.username != a && u.username != b && u.role == Role::Admin {
                    users
                        .set_disabled(&u.username, true)
                        .await
                        .expect("disabled");
                }
            }
            let (ra, rb) = if round % 2 == 0 {
                tokio::join!(
                    users.set_role(&a, Role::Viewer),
                    users.set_role(&b, Role::Viewer)
                )
            } else {
                let (x, y) =
                    tokio::join!(users.set_disabled(&a, true), users.set_disabled(&b, true));
                (x.map(|()| Role::Admin), y.map(|()| Role::Admin))
            };
            let refused = [&ra, &rb]
                .iter()
                .filter(|r| matches!(r, Err(AccessError::LastAdmin)))
                .count();
            assert_eq!(refused, 1, "round {round}: {ra:?} {rb:?}");
            let admins = users
                .list()
                .await
                .expect("list")
                .into_iter()
                .filter(|u| u.role == Role::Admin && !u.disabled)
                .count();
            assert_eq!(admins, 1, "round {round}");
        }
    }

    #[test]
    fn debug_output_never_shows_the_hash() {
        let u = User {
            id: 1,
            username: "anna".into(),
            role: Role::Viewer,
            password_hash: "$argon2id$secret".into(),
            disabled: false,
        };
        assert!(!format!("{u:?}").contains("secret"));
    }
}
