//! The actions journal as CSV.

use app::actions::ActionFilter;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};

/// The corrective actions journal as CSV, oldest first
///
/// Every action of the journal's filter. Needs any signed-in person.
#[utoipa::path(
    get,
    path = "/api/v1/export/actions.csv",
    tag = "actions",
    params(
        ("machine" = Option<String>, Query, description = "Only this machine"),
        ("state" = Option<app::actions::ActionState>, Query, description = "Only this state"),
    ),
    responses(
        (status = 200, description = "id,proposed_at,machine,tag,rule,rationale,observed,from,to,state,proposed_by,decided_by,decided_at,detail,read_back", body = String, content_type = "text/csv"),
        (status = 500, description = "The export could not be written", body = app::error::Problem),
        (status = 503, description = "Storage unavailable; retry later", body = app::error::Problem),
    ),
    security(("session" = [])),
)]
pub async fn export_actions(
    State(state): State<super::WebState>,
    Query(f): Query<ActionFilter>,
) -> Response {
    let rows = match state.actions.export(&f).await {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    super::csv_attachment("actions.csv", "actions", crate::actions::to_csv(&rows))
}
