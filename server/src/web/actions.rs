//! The actions journal as CSV.

use app::actions::ActionFilter;
use app::api::service::ServiceError;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};

/// `GET /api/v1/export/actions.csv?machine=&state=`: every action of the filter,
/// oldest first.
pub async fn export_actions(
    State(state): State<super::WebState>,
    Query(f): Query<ActionFilter>,
) -> Response {
    let rows = match state.actions.export(&f).await {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    match crate::actions::to_csv(&rows) {
        Ok(bytes) => (
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                (
                    header::CONTENT_DISPOSITION,
                    "attachment; filename=\"actions.csv\"",
                ),
            ],
            bytes,
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "actions export failed");
            ServiceError::Internal("export failed".into()).into_response()
        }
    }
}
