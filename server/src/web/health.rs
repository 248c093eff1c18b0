//! `/healthz` (the process answers) and `/readyz` (database open, each PLC's link;
//! the links' error texts, which name hosts, only to signed-in callers).

use app::auth::Caller;
use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::Serialize;

use super::WebState;

/// Liveness: the process is up and serving
///
/// Public.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "operations",
    responses((status = 200, description = "`ok`", body = String, content_type = "text/plain")),
)]
pub async fn healthz() -> &'static str {
    "ok"
}

/// One PLC in the readiness report.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PlcReport {
    /// Machine id.
    pub id: String,
    /// Link state.
    pub link: app::line::LinkState,
    /// Last link error (signed-in callers only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The readiness report.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Readiness {
    /// True when the database answers.
    pub database: bool,
    /// Each PLC's link; a PLC that is down degrades the line but not readiness.
    pub plcs: Vec<PlcReport>,
}

/// Readiness: 200 when the database answers, 503 otherwise; PLC links reported
///
/// Public; the links' last errors (which name hosts) only to signed-in callers.
/// A PLC that is down degrades the line but not readiness.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    responses(
        (status = 200, description = "The database answers", body = Readiness),
        (status = 503, description = "The database does not answer", body = Readiness),
    ),
)]
pub async fn readyz(
    State(state): State<WebState>,
    caller: Option<Extension<Caller>>,
) -> (StatusCode, Json<Readiness>) {
    let detailed = caller.is_some();
    let database = state.line.store().ping().await.is_ok();
    let plcs = state
        .line
        .plant()
        .devices
        .iter()
        .map(|d| {
            let link = state.line.bus().link(d.id);
            PlcReport {
                id: d.machine.clone(),
                link: link
                    .as_ref()
                    .map_or(app::line::LinkState::Connecting, |l| l.state),
                error: link.and_then(|l| l.error).filter(|_| detailed),
            }
        })
        .collect();
    let status = if database {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(Readiness { database, plcs }))
}
