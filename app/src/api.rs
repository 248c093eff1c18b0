//! Server functions. Each body asks the line service for one thing and maps the
//! result; the service (implemented by the server crate) owns all I/O.

use leptos::prelude::*;

use crate::actions::{ActionFilter, ActionView, ActionsView, WriteMode};
use crate::alarm::view::{AlarmBoard, AlarmView, JournalFilter, JournalPage};
#[cfg(feature = "ssr")]
use crate::auth::Permission;
use crate::auth::{AuditFilter, AuditPage, Me, Role, UserView};
use crate::error::ServiceError;
use crate::line::{HistoryRange, LineView, Series};
use crate::mes::{OrdersView, OutboxList, OutboxPage};
use crate::quality::{CellDetail, CellFilter, CellPage, ModelsView, QualityOverview};
use crate::spc::view::{CapabilityTable, ChartQuery, LimitsVersion, SpcChartView};

#[cfg(feature = "ssr")]
pub mod service {
    //! The interface the server crate implements and hands to server functions
    //! through Leptos context.
    use std::sync::Arc;

    use crate::actions::{ActionFilter, ActionView, ActionsView, WriteMode};
    use crate::alarm::view::{AlarmBoard, AlarmView, JournalFilter, JournalPage};
    use crate::auth::{AuditFilter, AuditPage, Caller, Permission, Role, UserView};
    use crate::line::{HistoryRange, LineView, Series};
    use crate::mes::{OrdersView, OutboxList, OutboxPage};
    use crate::quality::{CellDetail, CellFilter, CellPage, ModelsView, QualityOverview};
    use crate::spc::view::{CapabilityTable, ChartQuery, LimitsVersion, SpcChartView};

    /// What the UI may ask of the running line.
    #[async_trait::async_trait]
    pub trait LineService: Send + Sync + 'static {
        /// The whole line now, with recent history of key tags.
        async fn line(&self) -> Result<LineView, ServiceError>;
        /// One machine's numeric tags over `range`.
        async fn history(
            &self,
            machine: &str,
            range: HistoryRange,
        ) -> Result<Vec<Series>, ServiceError>;
    }

    /// A shared service handle, as provided in context.
    pub type SharedLineService = Arc<dyn LineService>;

    /// What the UI may ask about cells, lots and models.
    #[async_trait::async_trait]
    pub trait QualityService: Send + Sync + 'static {
        /// Distribution, high-risk cells waiting, lot cards.
        async fn overview(&self) -> Result<QualityOverview, ServiceError>;
        /// One page of the cells table.
        async fn cells(&self, filter: CellFilter) -> Result<CellPage, ServiceError>;
        /// One cell, or `None` if unknown.
        async fn cell(&self, serial: &str) -> Result<Option<CellDetail>, ServiceError>;
        /// Every model, the active one marked, and the switch history.
        async fn models(&self) -> Result<ModelsView, ServiceError>;
        /// Makes `name` the active model and re-scores the cells; audited.
        async fn promote(&self, name: &str, by: &Caller) -> Result<(), ServiceError>;
    }

    /// Users and the audit trail.
    #[async_trait::async_trait]
    pub trait AccessService: Send + Sync + 'static {
        /// A page of the audit trail.
        async fn audit(&self, filter: AuditFilter) -> Result<AuditPage, ServiceError>;
        /// Every user.
        async fn users(&self) -> Result<Vec<UserView>, ServiceError>;
        /// Adds a user; audited.
        async fn add_user(
            &self,
            by: &Caller,
            username: &str,
            role: Role,
            password: &str,
        ) -> Result<(), ServiceError>;
        /// Changes a user's role; audited.
        async fn set_role(
            &self,
            by: &Caller,
            username: &str,
            role: Role,
        ) -> Result<(), ServiceError>;
        /// Disables or enables a user; audited.
        async fn set_disabled(
            &self,
            by: &Caller,
            username: &str,
            disabled: bool,
        ) -> Result<(), ServiceError>;
        /// Records a refused request.
        async fn denied(&self, by: &Caller, what: Permission);
    }

    /// A shared access service handle, as provided in context.
    pub type SharedAccessService = Arc<dyn AccessService>;

    /// Production orders and the MES outbox.
    #[async_trait::async_trait]
    pub trait MesService: Send + Sync + 'static {
        /// Open and recently completed orders with their progress, and the link.
        async fn orders(&self) -> Result<OrdersView, ServiceError>;
        /// Asks the MES client to fetch the orders now (it coalesces requests).
        async fn refresh_orders(&self) -> Result<(), ServiceError>;
        /// A page of the outbox's `list`.
        async fn outbox(&self, list: OutboxList, page: u32) -> Result<OutboxPage, ServiceError>;
        /// Sends a dead letter again (`id`), or every dead letter (`None`);
        /// returns how many; audited.
        async fn retry(&self, by: &Caller, id: Option<i64>) -> Result<u64, ServiceError>;
        /// Drops a waiting or dead message for good; audited.
        async fn discard(&self, by: &Caller, id: i64) -> Result<(), ServiceError>;
    }

    /// A shared MES service handle, as provided in context.
    pub type SharedMesService = Arc<dyn MesService>;

    /// Corrective actions and the machines' write modes.
    #[async_trait::async_trait]
    pub trait ActionsService: Send + Sync + 'static {
        /// Modes, pending approvals, alarms and a page of the journal.
        async fn actions(&self, filter: ActionFilter) -> Result<ActionsView, ServiceError>;
        /// Proposes, on behalf of `by`, to write `value` to a writable tag, for
        /// `reason`: checked against the envelope now (and again when approved);
        /// it waits for approval whatever the machine's mode; audited.
        async fn propose(
            &self,
            by: &Caller,
            machine: &str,
            tag: &str,
            value: f64,
            reason: &str,
        ) -> Result<ActionView, ServiceError>;
        /// Approves pending action `id`: it is written, read back and verified
        /// (or refused by the envelope, or failed); audited.
        async fn approve(&self, by: &Caller, id: i64) -> Result<ActionView, ServiceError>;
        /// Rejects pending action `id` with a reason; audited.
        async fn reject(&self, by: &Caller, id: i64, reason: &str) -> Result<(), ServiceError>;
        /// Writes the value before verified action `id` back, as a new action;
        /// audited.
        async fn undo(&self, by: &Caller, id: i64) -> Result<ActionView, ServiceError>;
        /// Acknowledges failed write `id`; audited.
        async fn acknowledge(&self, by: &Caller, id: i64) -> Result<(), ServiceError>;
        /// Switches a machine's write mode; audited.
        async fn set_mode(
            &self,
            by: &Caller,
            machine: &str,
            mode: WriteMode,
        ) -> Result<(), ServiceError>;
    }

    /// A shared actions service handle, as provided in context.
    pub type SharedActionsService = Arc<dyn ActionsService>;

    /// Alarms: the board, the journal, and what people do with an alarm.
    #[async_trait::async_trait]
    pub trait AlarmService: Send + Sync + 'static {
        /// Standing and suppressed alarms, counts and rates.
        async fn board(&self) -> Result<AlarmBoard, ServiceError>;
        /// A page of the journal.
        async fn journal(&self, filter: JournalFilter) -> Result<JournalPage, ServiceError>;
        /// Acknowledges alarm `id`, with an optional comment; journaled and audited.
        async fn acknowledge(
            &self,
            by: &Caller,
            id: i64,
            comment: Option<String>,
        ) -> Result<AlarmView, ServiceError>;
        /// Shelves alarm `id` for `hours`, for `reason`; journaled and audited.
        async fn shelve(
            &self,
            by: &Caller,
            id: i64,
            hours: f64,
            reason: String,
        ) -> Result<AlarmView, ServiceError>;
        /// Ends alarm `id`'s shelf; journaled and audited.
        async fn unshelve(&self, by: &Caller, id: i64) -> Result<AlarmView, ServiceError>;
        /// Takes alarm `id` out of service, for `reason`; journaled and audited.
        async fn remove_from_service(
            &self,
            by: &Caller,
            id: i64,
            reason: String,
        ) -> Result<AlarmView, ServiceError>;
        /// Returns alarm `id` to service; journaled and audited.
        async fn return_to_service(&self, by: &Caller, id: i64) -> Result<AlarmView, ServiceError>;
    }

    /// A shared alarm service handle, as provided in context.
    pub type SharedAlarmService = Arc<dyn AlarmService>;

    /// The alarm service from context.
    pub fn alarm_service() -> Result<SharedAlarmService, ServiceError> {
        from_context("alarm service")
    }

    /// Control charts, their frozen limits and the capability table.
    #[async_trait::async_trait]
    pub trait SpcService: Send + Sync + 'static {
        /// The chart `query` asks for.
        async fn chart(&self, query: ChartQuery) -> Result<SpcChartView, ServiceError>;
        /// Freezes the chart's limits from its baseline as its next version; audited.
        async fn freeze(
            &self,
            by: &Caller,
            query: ChartQuery,
            note: String,
        ) -> Result<LimitsVersion, ServiceError>;
        /// Every measurement's capability for a product, worst Cpk first.
        async fn capability(
            &self,
            product: Option<String>,
        ) -> Result<CapabilityTable, ServiceError>;
    }

    /// A shared SPC service handle, as provided in context.
    pub type SharedSpcService = Arc<dyn SpcService>;

    /// The SPC service from context.
    pub fn spc_service() -> Result<SharedSpcService, ServiceError> {
        from_context("SPC service")
    }

    /// The one boundary error (re-exported where the services name it).
    pub use crate::error::ServiceError;

    fn from_context<T: Clone + Send + Sync + 'static>(what: &str) -> Result<T, ServiceError> {
        leptos::prelude::use_context::<T>().ok_or_else(|| {
            tracing::error!("{what} missing from context");
            ServiceError::Internal(format!("{what} missing from context"))
        })
    }

    /// The actions service from context.
    pub fn actions_service() -> Result<SharedActionsService, ServiceError> {
        from_context("actions service")
    }

    /// The MES service from context.
    pub fn mes_service() -> Result<SharedMesService, ServiceError> {
        from_context("MES service")
    }

    /// The access service from context.
    pub fn access_service() -> Result<SharedAccessService, ServiceError> {
        from_context("access service")
    }

    /// A shared quality service handle, as provided in context.
    pub type SharedQualityService = Arc<dyn QualityService>;

    /// The quality service from context.
    pub fn quality_service() -> Result<SharedQualityService, ServiceError> {
        from_context("quality service")
    }

    /// The line service from context.
    pub fn line_service() -> Result<SharedLineService, ServiceError> {
        from_context("line service")
    }

    /// The caller the server's access layer attached to this request.
    pub fn caller() -> Option<Caller> {
        leptos::prelude::use_context::<http::request::Parts>()
            .and_then(|parts| parts.extensions.get::<Caller>().cloned())
    }

    pub use crate::error::{set_status, set_status_of};

    /// The caller, if they may do `p`; otherwise a 401 (not signed in) or 403
    /// (signed in, not allowed; recorded in the audit trail).
    pub async fn require(p: Permission) -> Result<Caller, ServiceError> {
        let Some(c) = caller() else {
            return Err(ServiceError::Unauthenticated);
        };
        if c.principal.allows(p) {
            return Ok(c);
        }
        if let Ok(access) = access_service() {
            access.denied(&c, p).await;
        }
        Err(ServiceError::Forbidden)
    }

    /// A server function's request body, kept by the server's HTTP edge so an
    /// argument error can name its field (the framework consumes the body).
    #[derive(Debug, Clone)]
    pub struct ArgsBody(pub leptos::server_fn::Bytes);

    /// The path of the argument that made this request's arguments unreadable
    /// (`value`, `filter.page`), when the server kept the body.
    pub fn argument_field() -> Option<String> {
        let parts = leptos::prelude::use_context::<http::request::Parts>()?;
        let body = parts.extensions.get::<ArgsBody>()?;
        let check = super::ARGUMENT_CHECKS
            .iter()
            .find(|(path, _)| *path == parts.uri.path())?
            .1;
        check(&body.0)
    }

    /// Reads `body` as the server function's arguments `T`, the way the
    /// framework does, and returns the path of the field that fails.
    pub fn failing_field<T: serde::de::DeserializeOwned>(body: &[u8]) -> Option<String> {
        let config = serde_qs::Config::new(5, false);
        let de = serde_qs::Deserializer::with_config(&config, body).ok()?;
        match serde_path_to_error::deserialize::<_, T>(de) {
            Ok(_) => None,
            Err(e) => {
                let path = e.path().to_string();
                (path != "." && !path.is_empty()).then_some(path)
            }
        }
    }
}

/// The whole line, for the first render (live updates follow over the stream).
#[server(prefix = "/api/fn", endpoint = "line")]
pub async fn get_line() -> Result<LineView, ServiceError> {
    service::require(Permission::View).await?;
    let svc = service::line_service()?;
    svc.line()
        .await
        .inspect_err(|e| tracing::warn!(error = %e, "line view failed"))
}

/// One machine's trends over a range.
#[server(prefix = "/api/fn", endpoint = "history")]
pub async fn get_history(
    machine: String,
    range: HistoryRange,
) -> Result<Vec<Series>, ServiceError> {
    service::require(Permission::View).await?;
    let svc = service::line_service()?;
    svc.history(&machine, range)
        .await
        .inspect_err(|e| tracing::warn!(error = %e, machine, "history failed"))
}

/// The quality overview.
#[server(prefix = "/api/fn", endpoint = "quality")]
pub async fn get_quality() -> Result<QualityOverview, ServiceError> {
    service::require(Permission::View).await?;
    service::quality_service()?.overview().await
}

/// A page of cells.
#[server(prefix = "/api/fn", endpoint = "cells")]
pub async fn get_cells(filter: CellFilter) -> Result<CellPage, ServiceError> {
    service::require(Permission::View).await?;
    service::quality_service()?.cells(filter).await
}

/// One cell.
#[server(prefix = "/api/fn", endpoint = "cell")]
pub async fn get_cell(serial: String) -> Result<Option<CellDetail>, ServiceError> {
    service::require(Permission::View).await?;
    service::quality_service()?.cell(&serial).await
}

/// The models.
#[server(prefix = "/api/fn", endpoint = "models")]
pub async fn get_models() -> Result<ModelsView, ServiceError> {
    service::require(Permission::View).await?;
    service::quality_service()?.models().await
}

/// Makes a model the active one.
#[server(prefix = "/api/fn", endpoint = "promote")]
pub async fn promote_model(name: String) -> Result<(), ServiceError> {
    let caller = service::require(Permission::PromoteModels).await?;
    service::quality_service()?.promote(&name, &caller).await
}

/// Who is signed in (`None` when nobody is).
#[server(prefix = "/api/fn", endpoint = "me")]
pub async fn get_me() -> Result<Option<Me>, ServiceError> {
    Ok(service::caller().and_then(|c| c.principal.me()))
}

/// A page of the audit trail.
#[server(prefix = "/api/fn", endpoint = "audit")]
pub async fn get_audit(filter: AuditFilter) -> Result<AuditPage, ServiceError> {
    service::require(Permission::ViewAudit).await?;
    service::access_service()?.audit(filter).await
}

/// Every user.
#[server(prefix = "/api/fn", endpoint = "users")]
pub async fn get_users() -> Result<Vec<UserView>, ServiceError> {
    service::require(Permission::ManageUsers).await?;
    service::access_service()?.users().await
}

/// Adds a user.
#[server(prefix = "/api/fn", endpoint = "add_user")]
pub async fn add_user(username: String, role: Role, password: String) -> Result<(), ServiceError> {
    let caller = service::require(Permission::ManageUsers).await?;
    service::access_service()?
        .add_user(&caller, &username, role, &password)
        .await
}

/// Changes a user's role.
#[server(prefix = "/api/fn", endpoint = "set_role")]
pub async fn set_role(username: String, role: Role) -> Result<(), ServiceError> {
    let caller = service::require(Permission::ManageUsers).await?;
    service::access_service()?
        .set_role(&caller, &username, role)
        .await
}

/// Disables or enables a user.
#[server(prefix = "/api/fn", endpoint = "set_disabled")]
pub async fn set_disabled(username: String, disabled: bool) -> Result<(), ServiceError> {
    let caller = service::require(Permission::ManageUsers).await?;
    service::access_service()?
        .set_disabled(&caller, &username, disabled)
        .await
}

/// Production orders with their progress.
#[server(prefix = "/api/fn", endpoint = "orders")]
pub async fn get_orders() -> Result<OrdersView, ServiceError> {
    service::require(Permission::View).await?;
    service::mes_service()?.orders().await
}

/// Fetch the orders from the MES now.
#[server(prefix = "/api/fn", endpoint = "refresh_orders")]
pub async fn refresh_orders() -> Result<(), ServiceError> {
    service::require(Permission::View).await?;
    service::mes_service()?.refresh_orders().await
}

/// A page of the MES outbox.
#[server(prefix = "/api/fn", endpoint = "outbox")]
pub async fn get_outbox(list: OutboxList, page: u32) -> Result<OutboxPage, ServiceError> {
    service::require(Permission::View).await?;
    service::mes_service()?.outbox(list, page).await
}

/// Sends a dead letter again (or all of them when `id` is empty).
#[server(prefix = "/api/fn", endpoint = "retry_message")]
pub async fn retry_message(id: Option<i64>) -> Result<u64, ServiceError> {
    let caller = service::require(Permission::ManageOutbox).await?;
    service::mes_service()?.retry(&caller, id).await
}

/// Drops a message from the outbox for good.
#[server(prefix = "/api/fn", endpoint = "discard_message")]
pub async fn discard_message(id: i64) -> Result<(), ServiceError> {
    let caller = service::require(Permission::ManageOutbox).await?;
    service::mes_service()?.discard(&caller, id).await
}

/// Modes, pending approvals, alarms and a page of the actions journal.
#[server(prefix = "/api/fn", endpoint = "actions")]
pub async fn get_actions(filter: ActionFilter) -> Result<ActionsView, ServiceError> {
    service::require(Permission::View).await?;
    service::actions_service()?.actions(filter).await
}

/// Proposes a setpoint change; it waits for approval.
#[server(prefix = "/api/fn", endpoint = "propose_action")]
pub async fn propose_action(
    machine: String,
    tag: String,
    value: f64,
    reason: String,
) -> Result<ActionView, ServiceError> {
    let caller = service::require(Permission::ApproveActions).await?;
    service::actions_service()?
        .propose(&caller, &machine, &tag, value, &reason)
        .await
}

/// Approves a pending corrective action: it is written and verified.
#[server(prefix = "/api/fn", endpoint = "approve_action")]
pub async fn approve_action(id: i64) -> Result<ActionView, ServiceError> {
    let caller = service::require(Permission::ApproveActions).await?;
    service::actions_service()?.approve(&caller, id).await
}

/// Rejects a pending corrective action, saying why.
#[server(prefix = "/api/fn", endpoint = "reject_action")]
pub async fn reject_action(id: i64, reason: String) -> Result<(), ServiceError> {
    let caller = service::require(Permission::ApproveActions).await?;
    service::actions_service()?
        .reject(&caller, id, &reason)
        .await
}

/// Writes the value before a verified action back, as a new action.
#[server(prefix = "/api/fn", endpoint = "undo_action")]
pub async fn undo_action(id: i64) -> Result<ActionView, ServiceError> {
    let caller = service::require(Permission::ApproveActions).await?;
    service::actions_service()?.undo(&caller, id).await
}

/// Acknowledges a failed write.
#[server(prefix = "/api/fn", endpoint = "acknowledge_action")]
pub async fn acknowledge_action(id: i64) -> Result<(), ServiceError> {
    let caller = service::require(Permission::Acknowledge).await?;
    service::actions_service()?.acknowledge(&caller, id).await
}

/// Switches a machine's write-back mode.
#[server(prefix = "/api/fn", endpoint = "set_write_mode")]
pub async fn set_write_mode(machine: String, mode: WriteMode) -> Result<(), ServiceError> {
    let caller = service::require(Permission::SwitchWriteMode).await?;
    service::actions_service()?
        .set_mode(&caller, &machine, mode)
        .await
}

/// Standing and suppressed alarms, their counts and the alarm rates.
#[server(prefix = "/api/fn", endpoint = "alarms")]
pub async fn get_alarm_board() -> Result<AlarmBoard, ServiceError> {
    service::require(Permission::View).await?;
    service::alarm_service()?.board().await
}

/// A page of the alarm journal.
#[server(prefix = "/api/fn", endpoint = "alarm_journal")]
pub async fn get_alarm_journal(filter: JournalFilter) -> Result<JournalPage, ServiceError> {
    service::require(Permission::View).await?;
    service::alarm_service()?.journal(filter).await
}

/// Acknowledges an alarm, with an optional comment.
#[server(prefix = "/api/fn", endpoint = "acknowledge_alarm")]
pub async fn acknowledge_alarm(
    id: i64,
    comment: Option<String>,
) -> Result<AlarmView, ServiceError> {
    let caller = service::require(Permission::Acknowledge).await?;
    service::alarm_service()?
        .acknowledge(&caller, id, comment)
        .await
}

/// Shelves an alarm for some hours, saying why.
#[server(prefix = "/api/fn", endpoint = "shelve_alarm")]
pub async fn shelve_alarm(id: i64, hours: f64, reason: String) -> Result<AlarmView, ServiceError> {
    let caller = service::require(Permission::ShelveAlarms).await?;
    service::alarm_service()?
        .shelve(&caller, id, hours, reason)
        .await
}

/// Ends an alarm's shelf now.
#[server(prefix = "/api/fn", endpoint = "unshelve_alarm")]
pub async fn unshelve_alarm(id: i64) -> Result<AlarmView, ServiceError> {
    let caller = service::require(Permission::ShelveAlarms).await?;
    service::alarm_service()?.unshelve(&caller, id).await
}

/// Takes an alarm out of service, saying why.
#[server(prefix = "/api/fn", endpoint = "remove_alarm_from_service")]
pub async fn remove_alarm_from_service(id: i64, reason: String) -> Result<AlarmView, ServiceError> {
    let caller = service::require(Permission::RemoveAlarmsFromService).await?;
    service::alarm_service()?
        .remove_from_service(&caller, id, reason)
        .await
}

/// Returns an alarm to service.
#[server(prefix = "/api/fn", endpoint = "return_alarm_to_service")]
pub async fn return_alarm_to_service(id: i64) -> Result<AlarmView, ServiceError> {
    let caller = service::require(Permission::RemoveAlarmsFromService).await?;
    service::alarm_service()?
        .return_to_service(&caller, id)
        .await
}

/// For each server function with arguments, how to find the argument that
/// makes a request unreadable (see `service::argument_field`). Functions
/// without arguments read any body as nothing and are not listed.
#[cfg(feature = "ssr")]
type ArgumentCheck = fn(&[u8]) -> Option<String>;

#[cfg(feature = "ssr")]
macro_rules! argument_checks {
    ($($f:ty),* $(,)?) => {
        &[$((<$f as leptos::server_fn::ServerFn>::PATH, service::failing_field::<$f> as ArgumentCheck)),*]
    };
}

#[cfg(feature = "ssr")]
static ARGUMENT_CHECKS: &[(&str, ArgumentCheck)] = argument_checks![
    GetHistory,
    GetCells,
    GetCell,
    PromoteModel,
    GetAudit,
    AddUser,
    SetRole,
    SetDisabled,
    GetOutbox,
    RetryMessage,
    DiscardMessage,
    GetActions,
    ProposeAction,
    ApproveAction,
    RejectAction,
    UndoAction,
    AcknowledgeAction,
    SetWriteMode,
    GetAlarmJournal,
    AcknowledgeAlarm,
    ShelveAlarm,
    UnshelveAlarm,
    RemoveAlarmFromService,
    ReturnAlarmToService,
    GetSpcChart,
    FreezeSpcLimits,
    GetSpcCapability,
];

/// One SPC control chart: points, limits, violations, capability, frozen versions.
#[server(prefix = "/api/fn", endpoint = "spc_chart")]
pub async fn get_spc_chart(query: ChartQuery) -> Result<SpcChartView, ServiceError> {
    service::require(Permission::View).await?;
    service::spc_service()?.chart(query).await
}

/// Freezes a chart's limits (computed from its baseline) as a new version, saying why.
#[server(prefix = "/api/fn", endpoint = "freeze_spc_limits")]
pub async fn freeze_spc_limits(
    query: ChartQuery,
    note: String,
) -> Result<LimitsVersion, ServiceError> {
    let caller = service::require(Permission::ManageSpcLimits).await?;
    service::spc_service()?.freeze(&caller, query, note).await
}

/// The capability of every catalogue measurement of a product, worst Cpk first.
#[server(prefix = "/api/fn", endpoint = "spc_capability")]
pub async fn get_spc_capability(product: Option<String>) -> Result<CapabilityTable, ServiceError> {
    service::require(Permission::View).await?;
    service::spc_service()?.capability(product).await
}
