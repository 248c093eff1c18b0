//! Who may do what: roles, their permissions, the principal behind a request
//! (a signed-in person or an API token), and the audit trail's vocabulary.
//!
//! Pure and shared: the server enforces these rules on every server function,
//! REST endpoint and stream; the browser uses the same rules only to hide what a
//! role cannot do.

use serde::{Deserialize, Serialize};

/// A person's role. Each role's rights are listed in [`Role::allows`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub enum Role {
    /// Reads everything, changes nothing.
    Viewer,
    /// A viewer who may acknowledge alarms and notices.
    Operator,
    /// An operator who approves or rejects corrective actions and switches a
    /// machine's write-back mode.
    Supervisor,
    /// Imports data, trains and promotes models, dispositions cells.
    QualityEngineer,
    /// Users, configuration and the MES outbox; may do everything.
    Admin,
}

impl Role {
    /// Every role, least to most powerful.
    pub const ALL: [Role; 5] = [
        Role::Viewer,
        Role::Operator,
        Role::Supervisor,
        Role::QualityEngineer,
        Role::Admin,
    ];

    /// The stable name used in the database, the CLI and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Supervisor => "supervisor",
            Role::QualityEngineer => "quality_engineer",
            Role::Admin => "admin",
        }
    }

    /// How the UI names it.
    pub fn label(self) -> &'static str {
        match self {
            Role::Viewer => "Viewer",
            Role::Operator => "Operator",
            Role::Supervisor => "Supervisor",
            Role::QualityEngineer => "Quality engineer",
            Role::Admin => "Admin",
        }
    }

    /// Parses [`Role::as_str`] (also accepts `quality-engineer`).
    pub fn parse(s: &str) -> Option<Role> {
        let s = s.trim().to_ascii_lowercase().replace('-', "_");
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// Whether this role may do `p`.
    pub fn allows(self, p: Permission) -> bool {
        use Permission as P;
        match p {
            P::View | P::ReadMetrics => true,
            P::Acknowledge => self != Role::Viewer,
            P::ApproveActions | P::SwitchWriteMode => {
                matches!(self, Role::Supervisor | Role::Admin)
            }
            P::ImportData
            | P::IngestInspections
            | P::TrainModels
            | P::PromoteModels
            | P::DispositionCells => matches!(self, Role::QualityEngineer | Role::Admin),
            P::ViewAudit => matches!(self, Role::Supervisor | Role::QualityEngineer | Role::Admin),
            P::ShelveAlarms => matches!(self, Role::Supervisor | Role::Admin),
            P::ManageSpcLimits => matches!(self, Role::QualityEngineer | Role::Admin),
            P::ManageUsers | P::ManageOutbox | P::RemoveAlarmsFromService => self == Role::Admin,
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Something a request may want to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Permission {
    /// Read the line, cells, lots and models.
    View,
    /// Acknowledge alarms and notices.
    Acknowledge,
    /// Approve or reject corrective actions.
    ApproveActions,
    /// Switch a machine's write-back mode.
    SwitchWriteMode,
    /// Import datasets.
    ImportData,
    /// Post inspections (stations, with an ingestion token).
    IngestInspections,
    /// Train models.
    TrainModels,
    /// Make a model the active one.
    PromoteModels,
    /// Set a cell's disposition.
    DispositionCells,
    /// Read the audit trail.
    ViewAudit,
    /// Add users, change roles, issue tokens.
    ManageUsers,
    /// Retry or discard MES outbox messages.
    ManageOutbox,
    /// Read the operational metrics (`/metrics`).
    ReadMetrics,
    /// Shelve an alarm for a while, with a reason.
    ShelveAlarms,
    /// Take an alarm out of service (by design), or return it.
    RemoveAlarmsFromService,
    /// Freeze control limits of an SPC chart.
    ManageSpcLimits,
}

impl Permission {
    /// Every permission.
    pub const ALL: [Permission; 16] = [
        Permission::View,
        Permission::Acknowledge,
        Permission::ApproveActions,
        Permission::SwitchWriteMode,
        Permission::ImportData,
        Permission::IngestInspections,
        Permission::TrainModels,
        Permission::PromoteModels,
        Permission::DispositionCells,
        Permission::ViewAudit,
        Permission::ManageUsers,
        Permission::ManageOutbox,
        Permission::ReadMetrics,
        Permission::ShelveAlarms,
        Permission::RemoveAlarmsFromService,
        Permission::ManageSpcLimits,
    ];
}

/// What an API token is for. A token can do its scope's one thing and nothing else.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// Posting inspections (`POST /api/v1/inspections`).
    Ingest,
    /// Reading the operational metrics (`GET /metrics`), for a scraper.
    Metrics,
}

impl Scope {
    /// Every scope.
    pub const ALL: [Scope; 2] = [Scope::Ingest, Scope::Metrics];

    /// The stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Ingest => "ingest",
            Scope::Metrics => "metrics",
        }
    }

    /// Parses [`Scope::as_str`].
    pub fn parse(s: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|x| x.as_str() == s.trim())
    }

    /// Whether this scope covers `p`.
    pub fn allows(self, p: Permission) -> bool {
        match self {
            Scope::Ingest => p == Permission::IngestInspections,
            Scope::Metrics => p == Permission::ReadMetrics,
        }
    }
}

/// Who is behind a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// A signed-in person.
    User {
        /// User id.
        id: i64,
        /// Sign-in name.
        username: String,
        /// Role.
        role: Role,
    },
    /// A station or system with an API token.
    Token {
        /// Token id.
        id: i64,
        /// The token's name (e.g. the station it was issued to).
        name: String,
        /// What it may do.
        scope: Scope,
    },
}

impl Principal {
    /// Whether this principal may do `p`.
    pub fn allows(&self, p: Permission) -> bool {
        match self {
            Principal::User { role, .. } => role.allows(p),
            Principal::Token { scope, .. } => scope.allows(p),
        }
    }

    /// The name recorded in the audit trail (`token:<name>` for tokens).
    pub fn actor(&self) -> String {
        match self {
            Principal::User { username, .. } => username.clone(),
            Principal::Token { name, .. } => format!("token:{name}"),
        }
    }

    /// The role or scope recorded in the audit trail.
    pub fn role_name(&self) -> &'static str {
        match self {
            Principal::User { role, .. } => role.as_str(),
            Principal::Token { scope, .. } => scope.as_str(),
        }
    }

    /// The signed-in person, for the UI (`None` for tokens).
    pub fn me(&self) -> Option<Me> {
        match self {
            Principal::User { username, role, .. } => Some(Me {
                username: username.clone(),
                role: *role,
            }),
            Principal::Token { .. } => None,
        }
    }
}

/// A principal and where its request came from: what every check and audit
/// entry on the server works with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// Who.
    pub principal: Principal,
    /// The client's address.
    pub source: String,
}

/// The signed-in person as the UI sees them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Me {
    /// Sign-in name.
    pub username: String,
    /// Role.
    pub role: Role,
}

impl Me {
    /// Whether the UI should offer `p`.
    pub fn can(&self, p: Permission) -> bool {
        self.role.allows(p)
    }
}

/// Names the system uses for itself in the audit trail.
pub const RESERVED_NAMES: [&str; 2] = ["system", "local"];

/// Checks a sign-in name: 1–64 ASCII letters, digits, `.`, `_`, `-` and `@`
/// (ASCII only, so no two names look alike; names are unique ignoring case).
pub fn valid_username(s: &str) -> Result<(), &'static str> {
    if s.is_empty() {
        return Err("is empty");
    }
    if s.len() > 64 {
        return Err("is longer than 64 characters");
    }
    if !s
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'))
    {
        return Err("may hold only ASCII letters, digits, '.', '_', '-' and '@'");
    }
    if RESERVED_NAMES.iter().any(|r| r.eq_ignore_ascii_case(s)) {
        return Err("is reserved");
    }
    Ok(())
}

/// The shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 10;
/// The longest password accepted (hashing cost is bounded).
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// Checks a new password's length.
pub fn valid_password(s: &str) -> Result<(), String> {
    if s.chars().count() < MIN_PASSWORD_CHARS {
        return Err(format!("needs at least {MIN_PASSWORD_CHARS} characters"));
    }
    if s.len() > MAX_PASSWORD_BYTES {
        return Err(format!("is longer than {MAX_PASSWORD_BYTES} bytes"));
    }
    Ok(())
}

/// What an audit entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub enum AuditAction {
    /// A successful sign-in.
    SignIn,
    /// A sign-in with a wrong name or password.
    SignInFailed,
    /// A sign-in refused because of too many failures.
    SignInThrottled,
    /// A sign-out.
    SignOut,
    /// A user added.
    UserAdded,
    /// A user's role changed.
    RoleChanged,
    /// A user's password changed.
    PasswordChanged,
    /// A user disabled or enabled.
    UserDisabled,
    /// An API token issued.
    TokenIssued,
    /// An API token revoked.
    TokenRevoked,
    /// A model made active.
    ModelPromoted,
    /// A dataset imported.
    DataImported,
    /// A request refused for lack of rights.
    Denied,
    /// MES dead letters sent again.
    OutboxRetried,
    /// An MES message dropped for good.
    OutboxDiscarded,
    /// A setpoint change proposed by a person.
    ActionProposed,
    /// A corrective action approved (and queued for writing).
    ActionApproved,
    /// How a setpoint write ended (written and verified, written, refused on the
    /// values read just before it, failed).
    SetpointWritten,
    /// A corrective action rejected.
    ActionRejected,
    /// A written corrective action undone.
    ActionUndone,
    /// A failed write acknowledged.
    ActionAcknowledged,
    /// A machine's write-back mode switched.
    WriteModeChanged,
    /// An alarm acknowledged.
    AlarmAcknowledged,
    /// An alarm shelved for a while.
    AlarmShelved,
    /// A shelved alarm returned before its shelf expired.
    AlarmUnshelved,
    /// An alarm taken out of service.
    AlarmRemovedFromService,
    /// An alarm returned to service.
    AlarmReturnedToService,
    /// Control limits of an SPC chart frozen (a new version).
    SpcLimitsFrozen,
}

impl AuditAction {
    /// Every action.
    pub const ALL: [AuditAction; 28] = [
        AuditAction::SignIn,
        AuditAction::SignInFailed,
        AuditAction::SignInThrottled,
        AuditAction::SignOut,
        AuditAction::UserAdded,
        AuditAction::RoleChanged,
        AuditAction::PasswordChanged,
        AuditAction::UserDisabled,
        AuditAction::TokenIssued,
        AuditAction::TokenRevoked,
        AuditAction::ModelPromoted,
        AuditAction::DataImported,
        AuditAction::Denied,
        AuditAction::OutboxRetried,
        AuditAction::OutboxDiscarded,
        AuditAction::ActionProposed,
        AuditAction::ActionApproved,
        AuditAction::SetpointWritten,
        AuditAction::ActionRejected,
        AuditAction::ActionUndone,
        AuditAction::ActionAcknowledged,
        AuditAction::WriteModeChanged,
        AuditAction::AlarmAcknowledged,
        AuditAction::AlarmShelved,
        AuditAction::AlarmUnshelved,
        AuditAction::AlarmRemovedFromService,
        AuditAction::AlarmReturnedToService,
        AuditAction::SpcLimitsFrozen,
    ];

    /// The stable name stored and exported.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditAction::SignIn => "sign_in",
            AuditAction::SignInFailed => "sign_in_failed",
            AuditAction::SignInThrottled => "sign_in_throttled",
            AuditAction::SignOut => "sign_out",
            AuditAction::UserAdded => "user_added",
            AuditAction::RoleChanged => "role_changed",
            AuditAction::PasswordChanged => "password_changed",
            AuditAction::UserDisabled => "user_disabled",
            AuditAction::TokenIssued => "token_issued",
            AuditAction::TokenRevoked => "token_revoked",
            AuditAction::ModelPromoted => "model_promoted",
            AuditAction::DataImported => "data_imported",
            AuditAction::Denied => "denied",
            AuditAction::OutboxRetried => "outbox_retried",
            AuditAction::OutboxDiscarded => "outbox_discarded",
            AuditAction::ActionProposed => "action_proposed",
            AuditAction::ActionApproved => "action_approved",
            AuditAction::SetpointWritten => "setpoint_written",
            AuditAction::ActionRejected => "action_rejected",
            AuditAction::ActionUndone => "action_undone",
            AuditAction::ActionAcknowledged => "action_acknowledged",
            AuditAction::WriteModeChanged => "write_mode_changed",
            AuditAction::AlarmAcknowledged => "alarm_acknowledged",
            AuditAction::AlarmShelved => "alarm_shelved",
            AuditAction::AlarmUnshelved => "alarm_unshelved",
            AuditAction::AlarmRemovedFromService => "alarm_removed_from_service",
            AuditAction::AlarmReturnedToService => "alarm_returned_to_service",
            AuditAction::SpcLimitsFrozen => "spc_limits_frozen",
        }
    }

    /// How the UI names it.
    pub fn label(self) -> &'static str {
        match self {
            AuditAction::SignIn => "Signed in",
            AuditAction::SignInFailed => "Sign-in failed",
            AuditAction::SignInThrottled => "Sign-in throttled",
            AuditAction::SignOut => "Signed out",
            AuditAction::UserAdded => "User added",
            AuditAction::RoleChanged => "Role changed",
            AuditAction::PasswordChanged => "Password changed",
            AuditAction::UserDisabled => "User disabled/enabled",
            AuditAction::TokenIssued => "Token issued",
            AuditAction::TokenRevoked => "Token revoked",
            AuditAction::ModelPromoted => "Model promoted",
            AuditAction::DataImported => "Data imported",
            AuditAction::Denied => "Refused",
            AuditAction::OutboxRetried => "MES message retried",
            AuditAction::OutboxDiscarded => "MES message discarded",
            AuditAction::ActionProposed => "Action proposed",
            AuditAction::ActionApproved => "Action approved",
            AuditAction::SetpointWritten => "Setpoint write ended",
            AuditAction::ActionRejected => "Action rejected",
            AuditAction::ActionUndone => "Action undone",
            AuditAction::ActionAcknowledged => "Failed write acknowledged",
            AuditAction::WriteModeChanged => "Write mode switched",
            AuditAction::AlarmAcknowledged => "Alarm acknowledged",
            AuditAction::AlarmShelved => "Alarm shelved",
            AuditAction::AlarmUnshelved => "Alarm unshelved",
            AuditAction::AlarmRemovedFromService => "Alarm out of service",
            AuditAction::AlarmReturnedToService => "Alarm back in service",
            AuditAction::SpcLimitsFrozen => "SPC limits frozen",
        }
    }

    /// Parses [`AuditAction::as_str`].
    pub fn parse(s: &str) -> Option<AuditAction> {
        AuditAction::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

/// One line of the audit trail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntryView {
    /// Sequence number.
    pub id: i64,
    /// When (Unix ms).
    pub at_ms: i64,
    /// Who (`token:<name>` for tokens, the typed name for failed sign-ins).
    pub actor: String,
    /// Their role or token scope, when known.
    pub role: Option<String>,
    /// What.
    pub action: AuditAction,
    /// On what (a user, a model, a file…).
    pub target: String,
    /// Details (old → new, counts, reasons).
    pub detail: String,
    /// From where (the client's address).
    pub source: String,
}

/// Filter and page of the audit trail.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AuditFilter {
    /// Exact actor.
    pub actor: Option<String>,
    /// Exact action.
    pub action: Option<AuditAction>,
    /// At or after (Unix ms).
    pub from_ms: Option<i64>,
    /// Before (Unix ms).
    pub to_ms: Option<i64>,
    /// 0-based page.
    pub page: u32,
    /// Rows per page (capped by the server).
    pub page_size: u32,
}

/// One page of the audit trail, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditPage {
    /// The entries.
    pub entries: Vec<AuditEntryView>,
    /// Entries matching the filter.
    pub total: u64,
    /// This page (0-based).
    pub page: u32,
    /// Rows per page.
    pub page_size: u32,
}

/// A user as the admin page lists them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserView {
    /// Sign-in name.
    pub username: String,
    /// Role.
    pub role: Role,
    /// Created (Unix ms).
    pub created_ms: i64,
    /// Last successful sign-in (Unix ms).
    pub last_sign_in_ms: Option<i64>,
    /// Disabled users cannot sign in.
    pub disabled: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_role_may_view_and_only_admins_manage_users() {
        for r in Role::ALL {
            assert!(r.allows(Permission::View), "{r}");
            assert_eq!(r.allows(Permission::ManageUsers), r == Role::Admin, "{r}");
            assert_eq!(r.allows(Permission::ManageOutbox), r == Role::Admin, "{r}");
        }
    }

    #[test]
    fn the_role_matrix_matches_the_plant_roles() {
        use Permission as P;
        let viewer: Vec<P> = P::ALL
            .into_iter()
            .filter(|p| Role::Viewer.allows(*p))
            .collect();
        assert_eq!(viewer, vec![P::View, P::ReadMetrics]);
        assert!(Role::Operator.allows(P::Acknowledge));
        assert!(!Role::Operator.allows(P::ApproveActions));
        assert!(Role::Supervisor.allows(P::ApproveActions));
        assert!(Role::Supervisor.allows(P::SwitchWriteMode));
        assert!(!Role::Supervisor.allows(P::ImportData));
        assert!(!Role::Supervisor.allows(P::PromoteModels));
        for p in [
            P::ImportData,
            P::TrainModels,
            P::PromoteModels,
            P::DispositionCells,
        ] {
            assert!(Role::QualityEngineer.allows(p), "{p:?}");
        }
        assert!(!Role::QualityEngineer.allows(P::ApproveActions));
        assert!(!Role::QualityEngineer.allows(P::ManageUsers));
        assert!(Role::Supervisor.allows(P::ShelveAlarms));
        assert!(!Role::Operator.allows(P::ShelveAlarms));
        assert!(!Role::Supervisor.allows(P::RemoveAlarmsFromService));
        assert!(Role::QualityEngineer.allows(P::ManageSpcLimits));
        assert!(!Role::Supervisor.allows(P::ManageSpcLimits));
        for p in P::ALL {
            assert!(Role::Admin.allows(p), "{p:?}");
        }
    }

    #[test]
    fn an_ingestion_token_may_only_ingest() {
        let t = Principal::Token {
            id: 1,
            name: "station-1".into(),
            scope: Scope::Ingest,
        };
        for p in Permission::ALL {
            assert_eq!(t.allows(p), p == Permission::IngestInspections, "{p:?}");
        }
        assert_eq!(t.actor(), "token:station-1");
        assert!(t.me().is_none());
    }

    #[test]
    fn a_metrics_token_may_only_read_metrics() {
        let t = Principal::Token {
            id: 2,
            name: "prometheus".into(),
            scope: Scope::Metrics,
        };
        for p in Permission::ALL {
            assert_eq!(t.allows(p), p == Permission::ReadMetrics, "{p:?}");
        }
    }

    #[test]
    fn names_round_trip() {
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
        assert_eq!(Role::parse("Quality-Engineer"), Some(Role::QualityEngineer));
        assert_eq!(Role::parse("root"), None);
        for a in AuditAction::ALL {
            assert_eq!(AuditAction::parse(a.as_str()), Some(a));
        }
        for s in Scope::ALL {
            assert_eq!(Scope::parse(s.as_str()), Some(s));
        }
    }

    #[test]
    fn usernames_and_passwords_are_checked() {
        assert!(valid_username("anna.berg@plant-1").is_ok());
        assert!(valid_username("").is_err());
        assert!(valid_username("a b").is_err());
        assert!(valid_username(&"x".repeat(65)).is_err());
        assert!(valid_username("\u{0430}dmin").is_err(), "Cyrillic a");
        assert!(valid_username("System").is_err());
        assert!(valid_password("short").is_err());
        assert!(valid_password("long enough!").is_ok());
        assert!(valid_password(&"x".repeat(2000)).is_err());
    }
}
