//! The alarm service behind the server functions, and the alarm journal as CSV.

use app::alarm::view::{AlarmBoard, AlarmView, JournalFilter, JournalPage};
use app::api::service::{AlarmService, ServiceError};
use app::auth::Caller;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};

use crate::alarms::Alarms;

#[async_trait::async_trait]
impl AlarmService for Alarms {
    async fn board(&self) -> Result<AlarmBoard, ServiceError> {
        Alarms::board(self).await
    }
    async fn journal(&self, filter: JournalFilter) -> Result<JournalPage, ServiceError> {
        Alarms::journal(self, &filter).await
    }
    async fn acknowledge(
        &self,
        by: &Caller,
        id: i64,
        comment: Option<String>,
    ) -> Result<AlarmView, ServiceError> {
        Alarms::acknowledge(self, by, id, comment).await
    }
    async fn shelve(
        &self,
        by: &Caller,
        id: i64,
        hours: f64,
        reason: String,
    ) -> Result<AlarmView, ServiceError> {
        Alarms::shelve(self, by, id, hours, reason).await
    }
    async fn unshelve(&self, by: &Caller, id: i64) -> Result<AlarmView, ServiceError> {
        Alarms::unshelve(self, by, id).await
    }
    async fn remove_from_service(
        &self,
        by: &Caller,
        id: i64,
        reason: String,
    ) -> Result<AlarmView, ServiceError> {
        Alarms::remove_from_service(self, by, id, reason).await
    }
    async fn return_to_service(&self, by: &Caller, id: i64) -> Result<AlarmView, ServiceError> {
        Alarms::return_to_service(self, by, id).await
    }
}

/// The alarm journal as CSV, newest first
///
/// Every transition of the journal's filter (at most 100 000 lines). Needs any
/// signed-in person.
#[utoipa::path(
    get,
    path = "/api/v1/export/alarms.csv",
    tag = "alarms",
    params(
        ("source" = Option<app::alarm::Source>, Query, description = "Only this source"),
        ("priority" = Option<app::alarm::Priority>, Query, description = "Only this priority"),
        ("machine" = Option<String>, Query, description = "Only this machine"),
        ("kind" = Option<String>, Query, description = "Only this transition (raised, cleared, acknowledged, shelved, …)"),
        ("from_ms" = Option<i64>, Query, description = "At or after (Unix ms)"),
        ("to_ms" = Option<i64>, Query, description = "Before (Unix ms)"),
    ),
    responses(
        (status = 200, description = "id,at,ts_ms,kind,alarm,source,priority,machine,user,value,comment", body = String, content_type = "text/csv"),
        (status = 400, description = "A filter field is not understood", body = app::error::Problem),
        (status = 500, description = "The export could not be written", body = app::error::Problem),
        (status = 503, description = "Storage unavailable; retry later", body = app::error::Problem),
    ),
    security(("session" = [])),
)]
pub async fn export_alarms(
    State(state): State<super::WebState>,
    Query(f): Query<JournalFilter>,
) -> Response {
    let rows = match state.alarms.export(&f).await {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    super::csv_attachment("alarms.csv", "alarm", crate::alarms::store::to_csv(&rows))
}
