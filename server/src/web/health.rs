//! `/healthz` (the process answers) and `/readyz` (database open, each PLC's link).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;

use super::WebState;

/// Liveness: the process is up and serving.
pub async fn healthz() -> &'static str {
    "ok"
}

/// One PLC in the readiness report.
#[derive(Debug, Serialize)]
pub struct PlcReport {
    /// Machine id.
    pub id: String,
    /// Link state.
    pub link: app::model::LinkState,
    /// Last link error.
    pub error: Option<String>,
}

/// The readiness report.
#[derive(Debug, Serialize)]
pub struct Readiness {
    /// True when the database answers.
    pub database: bool,
    /// Each PLC's link; a PLC that is down degrades the line but not readiness.
    pub plcs: Vec<PlcReport>,
}

/// Readiness: 200 when the database answers, 503 otherwise; PLC links reported.
pub async fn readyz(State(state): State<WebState>) -> (StatusCode, Json<Readiness>) {
    let database = state.line.store().ping().await.is_ok();
    let plcs = state
        .line
        .plant()
        .devices
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let link = state.line.bus().link(u32::try_from(i).unwrap_or(u32::MAX));
            PlcReport {
                id: d.id.clone(),
                link: link
                    .as_ref()
                    .map_or(app::model::LinkState::Connecting, |l| l.state),
                error: link.and_then(|l| l.error),
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
