//! The access service: users, tokens, sessions, sign-in and its throttle.

use std::net::IpAddr;
use std::sync::Arc;

use app::api::service::{AccessService, ServiceError};
use app::auth::{
    AuditAction, AuditFilter, AuditPage, Caller, Permission, Principal, Role, UserView,
};
use axum_login::{AuthUser, AuthnBackend};
use sqlx::SqlitePool;

use super::sessions::SqliteSessions;
use super::throttle::SignInThrottle;
use super::tokens::Tokens;
use super::users::{User, Users};
use crate::audit::{AuditEvent, AuditLog};

/// What can go wrong with users, tokens and sessions.
#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    /// The database failed.
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    /// A field is not acceptable.
    #[error("{field} {reason}")]
    Invalid {
        /// Which field.
        field: &'static str,
        /// Why.
        reason: String,
    },
    /// The name is taken.
    #[error("a user named {0} already exists")]
    Exists(String),
    /// No such user.
    #[error("no user named {0}")]
    UnknownUser(String),
    /// The change would leave nobody able to administer CellGuard.
    #[error("the last enabled admin cannot be demoted or disabled")]
    LastAdmin,
    /// Too many password checks at once.
    #[error("too many sign-ins at once; try again shortly")]
    Busy,
    /// Something that should not happen.
    #[error("{0}")]
    Internal(String),
}

impl From<AccessError> for ServiceError {
    fn from(e: AccessError) -> Self {
        match e {
            AccessError::Invalid { field, reason } => ServiceError::Invalid {
                field: field.to_owned(),
                reason,
            },
            AccessError::Exists(_) | AccessError::LastAdmin => {
                ServiceError::Conflict(e.to_string())
            }
            AccessError::UnknownUser(_) => ServiceError::NotFound(e.to_string()),
            AccessError::Busy => ServiceError::unavailable("sign-in"),
            AccessError::Db(_) | AccessError::Internal(_) => {
                tracing::error!(error = %e, "user store failed");
                ServiceError::unavailable("the user store")
            }
        }
    }
}

/// A name and password typed at the sign-in page.
#[derive(Clone, serde::Deserialize)]
pub struct Credentials {
    /// Sign-in name.
    pub username: String,
    /// Password.
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

impl AuthUser for User {
    type Id = i64;

    fn id(&self) -> i64 {
        self.id
    }

    fn session_auth_hash(&self) -> &[u8] {
        self.password_hash.as_bytes()
    }
}

/// Users, tokens, sessions, the sign-in throttle and the audit trail.
#[derive(Debug, Clone)]
pub struct Access {
    /// People.
    pub users: Users,
    /// API tokens.
    pub tokens: Tokens,
    /// Sign-in sessions.
    pub sessions: SqliteSessions,
    /// The audit trail.
    pub audit: AuditLog,
    /// Slows down guessing.
    pub throttle: Arc<SignInThrottle>,
}

/// Who holds a long-lived response (the live stream) open, to check they still may.
#[derive(Debug, Clone)]
pub enum Holder {
    /// An API token, as presented.
    Token(String),
    /// A signed-in person's session.
    Session {
        /// The session.
        id: axum_login::tower_sessions::session::Id,
        /// The user.
        user: i64,
        /// Their password hash when the stream opened (a new password ends every
        /// session).
        hash: String,
    },
}

impl Access {
    /// Whether `holder` may still hold a stream open: the token is not revoked;
    /// the session has not ended (signed out, expired) and its user is neither
    /// disabled nor given a new password. A store that does not answer keeps the
    /// stream (the next check decides).
    pub async fn holds(&self, holder: &Holder) -> bool {
        match holder {
            Holder::Token(t) => !matches!(self.tokens.principal(t).await, Ok(None)),
            Holder::Session { id, user, hash } => {
                use axum_login::tower_sessions::SessionStore;
                let session = match self.sessions.load(id).await {
                    Ok(s) => s.is_some(),
                    Err(_) => true,
                };
                let user = match self.users.get(*user).await {
                    Ok(u) => u.is_some_and(|u| !u.disabled && &u.password_hash == hash),
                    Err(_) => true,
                };
                session && user
            }
        }
    }

    /// Access control over the shared database.
    pub fn new(pool: SqlitePool) -> Self {
        Self {
            users: Users::new(pool.clone()),
            tokens: Tokens::new(pool.clone()),
            sessions: SqliteSessions::new(pool.clone()),
            audit: AuditLog::new(pool),
            throttle: Arc::new(SignInThrottle::default()),
        }
    }

    /// The audit trail of the filter, for the CSV export.
    pub async fn export_audit(
        &self,
        f: &AuditFilter,
    ) -> Result<Vec<app::auth::AuditEntryView>, ServiceError> {
        Ok(self.audit.export(f).await?)
    }

    /// Creates the first admin from `password` when there are no users yet.
    /// Returns whether one was created.
    pub async fn bootstrap_admin(
        &self,
        username: &str,
        password: &str,
    ) -> Result<bool, AccessError> {
        if self.users.count().await? > 0 {
            return Ok(false);
        }
        self.users.add(username, Role::Admin, password).await?;
        let _ = self
            .audit
            .record(AuditEvent {
                actor: "system".into(),
                role: None,
                action: AuditAction::UserAdded,
                target: username.to_owned(),
                detail: "first admin, from the environment".into(),
                source: "startup".into(),
            })
            .await;
        Ok(true)
    }

    /// Checks a sign-in: the address's throttle first (a throttled address costs
    /// nothing more), then the name's shape and its throttle, then the password.
    /// Failures are audited; throttling at most once a minute per address.
    pub async fn sign_in(&self, c: &Credentials, addr: IpAddr) -> SignIn {
        let source = addr.to_string();
        let typed = c.username.trim();
        // Something that is not a user name (too long, odd characters, perhaps a
        // password typed in the wrong box) is never stored or logged as typed.
        let well_formed = app::auth::valid_username(typed).is_ok();
        let actor = if well_formed {
            typed.to_owned()
        } else {
            "(not a user name)".to_owned()
        };
        let throttled = self.throttle.attempt_from(addr).and_then(|()| {
            if well_formed {
                self.throttle.attempt_name(typed, addr)
            } else {
                Ok(())
            }
        });
        if let Err(wait) = throttled {
            if self.throttle.note_episode(addr) {
                let _ = self
                    .audit
                    .record(AuditEvent {
                        actor,
                        role: None,
                        action: AuditAction::SignInThrottled,
                        target: String::new(),
                        detail: format!("retry in {} s", wait.as_secs().max(1)),
                        source,
                    })
                    .await;
            }
            return SignIn::Throttled(wait);
        }
        if !well_formed {
            let _ = self
                .audit
                .record(AuditEvent {
                    actor,
                    role: None,
                    action: AuditAction::SignInFailed,
                    target: String::new(),
                    detail: "not a user name".into(),
                    source,
                })
                .await;
            return SignIn::Refused;
        }
        match self.users.verify(typed, &c.password).await {
            Ok(Some(user)) => {
                if let Err(e) = self.users.touch_sign_in(user.id).await {
                    tracing::warn!(error = %e, "cannot record the sign-in time");
                }
                let _ = self
                    .audit
                    .record(AuditEvent {
                        actor: user.username.clone(),
                        role: Some(user.role.as_str().to_owned()),
                        action: AuditAction::SignIn,
                        target: String::new(),
                        detail: String::new(),
                        source,
                    })
                    .await;
                SignIn::Ok(user)
            }
            Ok(None) => {
                let _ = self
                    .audit
                    .record(AuditEvent {
                        actor: typed.to_owned(),
                        role: None,
                        action: AuditAction::SignInFailed,
                        target: String::new(),
                        detail: "wrong name or password, or disabled".into(),
                        source,
                    })
                    .await;
                SignIn::Refused
            }
            Err(e) => {
                tracing::error!(error = %e, "sign-in check failed");
                SignIn::Unavailable
            }
        }
    }

    /// Every `every` until `shutdown`: deletes expired sessions and forgets idle
    /// sign-in buckets.
    pub async fn run_housekeeping(
        self,
        every: std::time::Duration,
        shutdown: tokio_util::sync::CancellationToken,
    ) {
        let mut tick = tokio::time::interval(every);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tick.tick() => {
                    if let Err(e) = self.sessions.delete_expired().await {
                        tracing::warn!(error = %e, "cannot delete expired sessions");
                    }
                    self.throttle.forget_idle();
                }
            }
        }
    }

    async fn audited(&self, e: AuditEvent) -> Result<(), ServiceError> {
        Ok(self.audit.record(e).await?)
    }
}

/// How a sign-in went.
#[derive(Debug)]
pub enum SignIn {
    /// Welcome.
    Ok(User),
    /// Wrong name or password (which one is not said), or a disabled user.
    Refused,
    /// Too many attempts: wait this long.
    Throttled(std::time::Duration),
    /// The database is not answering.
    Unavailable,
}

impl AuthnBackend for Access {
    type User = User;
    type Credentials = Credentials;
    type Error = AccessError;

    async fn authenticate(&self, c: Credentials) -> Result<Option<User>, AccessError> {
        self.users.verify(c.username.trim(), &c.password).await
    }

    async fn get_user(&self, id: &i64) -> Result<Option<User>, AccessError> {
        // A disabled user's sessions stop working at their next request.
        Ok(self.users.get(*id).await?.filter(|u| !u.disabled))
    }
}

#[async_trait::async_trait]
impl AccessService for Access {
    async fn audit(&self, filter: AuditFilter) -> Result<AuditPage, ServiceError> {
        Ok(self.audit.page(&filter).await?)
    }

    async fn users(&self) -> Result<Vec<UserView>, ServiceError> {
        Ok(self.users.list().await?)
    }

    async fn add_user(
        &self,
        by: &Caller,
        username: &str,
        role: Role,
        password: &str,
    ) -> Result<(), ServiceError> {
        self.users.add(username.trim(), role, password).await?;
        self.audited(AuditEvent::by(
            &by.principal,
            &by.source,
            AuditAction::UserAdded,
            username.trim(),
            format!("role {role}"),
        ))
        .await
    }

    async fn set_role(&self, by: &Caller, username: &str, role: Role) -> Result<(), ServiceError> {
        let old = self.users.set_role(username, role).await?;
        self.audited(AuditEvent::by(
            &by.principal,
            &by.source,
            AuditAction::RoleChanged,
            username,
            format!("{old} → {role}"),
        ))
        .await
    }

    async fn set_disabled(
        &self,
        by: &Caller,
        username: &str,
        disabled: bool,
    ) -> Result<(), ServiceError> {
        self.users.set_disabled(username, disabled).await?;
        self.audited(AuditEvent::by(
            &by.principal,
            &by.source,
            AuditAction::UserDisabled,
            username,
            if disabled { "disabled" } else { "enabled" },
        ))
        .await
    }

    async fn denied(&self, by: &Caller, what: Permission) {
        let _ = self
            .audit
            .record(AuditEvent::by(
                &by.principal,
                &by.source,
                AuditAction::Denied,
                format!("{what:?}"),
                String::new(),
            ))
            .await;
    }
}

/// The principal of a signed-in user.
pub fn principal_of(u: &User) -> Principal {
    Principal::User {
        id: u.id,
        username: u.username.clone(),
        role: u.role,
    }
}
