//! The quality REST API: ingestion for stations and the MES, file imports and CSV
//! export (their OpenAPI description is in [`super::openapi`]).

use app::api::service::ServiceError;
use app::auth::{AuditAction, Caller};
use app::quality::CellFilter;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};

use super::WebState;
use crate::audit::AuditEvent;
use crate::clock::format_time;
use crate::quality::dataset::{self, Format};
use crate::quality::ingest::{FieldError, parse_body};
use crate::services::quality::IngestFailure;

/// Largest ingestion body (bytes).
pub const MAX_INGEST_BYTES: usize = 2 * 1024 * 1024;
/// Largest import file (bytes).
pub const MAX_IMPORT_BYTES: usize = 64 * 1024 * 1024;

/// The body that refuses an ingestion: each problem, by record and field.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Problems {
    /// Each problem, by record and field.
    pub errors: Vec<FieldError>,
}

fn problem(status: StatusCode, errors: Vec<FieldError>) -> Response {
    (status, Json(Problems { errors })).into_response()
}

fn body_error(message: String) -> Response {
    problem(
        StatusCode::BAD_REQUEST,
        vec![FieldError {
            record: 0,
            key: None,
            field: "(body)".into(),
            message,
        }],
    )
}

/// Record one inspection or a batch (all or nothing, idempotent by key)
///
/// A resend with the same `key` and the same content changes nothing and is answered
/// `duplicate`. The same key with different content is a 409 and nothing in the batch
/// is written. Any validation problem refuses the whole batch with 422 naming each
/// record and field. At most 1000 inspections and 2 MiB per request (413 beyond).
///
/// Needs an `ingest` token, or a quality engineer or admin session.
#[utoipa::path(
    post,
    path = "/api/v1/inspections",
    tag = "quality",
    request_body(
        content = inline(crate::quality::ingest::Body),
        content_type = "application/json",
        example = json!({
            "key": "EOL_01:HC2611-000123:FQC",
            "serial": "HC2611-000123",
            "order": "98765",
            "lot": "L2611-01",
            "product": "HC",
            "stage": "FQC",
            "station": "EOL_01",
            "ts": "2026-11-25T10:00:00Z",
            "measurements": [
                {"name": "capacity", "value": 5.08, "unit": "Ah"},
                {"name": "k_value", "value": 0.7, "unit": "mV/day"}
            ],
            "context": [
                {"machine": "FORM_01", "tag": "current", "value": 3.5, "unit": "A"}
            ]
        }),
    ),
    responses(
        (status = 201, description = "At least one inspection was written", body = crate::quality::store::IngestOutcome),
        (status = 200, description = "Every inspection was already present (a resend)", body = crate::quality::store::IngestOutcome),
        (status = 400, description = "The body is not JSON or not an object/array", body = Problems),
        (status = 409, description = "A key was reused for different content, or a cell's lot/order differs from the stored one; nothing written", body = Problems),
        (status = 413, description = "Body larger than 2 MiB", body = String, content_type = "text/plain"),
        (status = 422, description = "Validation failed; nothing written", body = Problems),
        (status = 503, description = "Storage unavailable; retry later", body = Problems),
    ),
    security(("token" = []), ("session" = [])),
)]
pub async fn post_inspections(State(state): State<WebState>, body: Bytes) -> Response {
    let batch = match parse_body(&body) {
        Ok(b) => b,
        Err(errors) if errors.len() == 1 && errors[0].field == "(body)" => {
            return problem(StatusCode::BAD_REQUEST, errors);
        }
        Err(errors) => return problem(StatusCode::UNPROCESSABLE_ENTITY, errors),
    };
    match state.quality.ingest(batch).await {
        Ok(outcome) => {
            let status = if outcome.created > 0 {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            (status, Json(outcome)).into_response()
        }
        Err(IngestFailure::Invalid(errors)) => problem(StatusCode::UNPROCESSABLE_ENTITY, errors),
        Err(IngestFailure::Conflict { record, message }) => problem(
            StatusCode::CONFLICT,
            vec![FieldError {
                record,
                key: None,
                field: format!("[{record}]"),
                message,
            }],
        ),
        Err(IngestFailure::Store(e)) => {
            tracing::error!(error = %e, "ingestion failed in storage");
            problem(
                StatusCode::SERVICE_UNAVAILABLE,
                vec![FieldError {
                    record: 0,
                    key: None,
                    field: "(server)".into(),
                    message: "storage is not available; retry later".into(),
                }],
            )
        }
    }
}

/// Query of `POST /api/v1/imports`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ImportQuery {
    /// File name; `.xlsx` selects Excel, anything else CSV.
    #[serde(default)]
    name: String,
    /// Only check and preview; write nothing.
    #[serde(default)]
    dry_run: bool,
}

/// Import a dataset file (CSV or .xlsx): preview with dry_run, then all rows or none
///
/// The file is the body. Needs a quality engineer or admin session.
#[utoipa::path(
    post,
    path = "/api/v1/imports",
    tag = "quality",
    params(ImportQuery),
    request_body(content = inline(super::openapi::FileBytes), content_type = "application/octet-stream", description = "The file"),
    responses(
        (status = 200, description = "Checked (dry run) or imported", body = app::quality::ImportReport),
        (status = 400, description = "The file could not be read", body = Problems),
        (status = 409, description = "Conflicts with stored data; nothing written", body = dataset::DatasetErrors),
        (status = 413, description = "File larger than 64 MiB", body = String, content_type = "text/plain"),
        (status = 422, description = "Problems by row and column; nothing written", body = dataset::DatasetErrors),
        (status = 503, description = "Storage unavailable; retry later", body = String, content_type = "text/plain"),
    ),
    security(("session" = [])),
)]
pub async fn post_import(
    State(state): State<WebState>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<ImportQuery>,
    body: Bytes,
) -> Response {
    let cfg = state.quality.config().clone();
    let format = Format::of_name(&q.name);
    let parsed =
        tokio::task::spawn_blocking(move || dataset::read_bytes(format, &body, &cfg)).await;
    let records = match parsed {
        Ok(Ok(r)) => r,
        Ok(Err(errs)) => return (StatusCode::UNPROCESSABLE_ENTITY, Json(errs)).into_response(),
        Err(_) => return body_error("the file could not be read".into()),
    };
    match state
        .quality
        .import(&records, q.dry_run, &|_, _, _| {})
        .await
    {
        Ok(report) => {
            if report.committed {
                let recorded = state
                    .access
                    .audit
                    .record(AuditEvent::by(
                        &caller.principal,
                        &caller.source,
                        AuditAction::DataImported,
                        q.name.clone(),
                        format!(
                            "{} cells ({} new), {} inspections",
                            report.rows, report.new_cells, report.inspections
                        ),
                    ))
                    .await;
                if recorded.is_err() {
                    // The data is in; say so, but flag the missing audit line.
                    tracing::error!(file = %q.name, by = %caller.principal.actor(), "import committed but not audited");
                }
            }
            Json(report).into_response()
        }
        Err(IngestFailure::Invalid(errors)) => {
            // Map record-level problems back to the file: one row per cell.
            let errors: Vec<_> = errors
                .iter()
                .map(|e| dataset::RowError {
                    row: 0,
                    column: Some(e.field.clone()),
                    message: format!("cell {}: {}", e.key.as_deref().unwrap_or("?"), e.message),
                })
                .collect();
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                Json(dataset::DatasetErrors {
                    errors,
                    truncated: false,
                }),
            )
                .into_response()
        }
        Err(IngestFailure::Conflict { message, .. }) => (
            StatusCode::CONFLICT,
            Json(dataset::DatasetErrors {
                errors: vec![dataset::RowError {
                    row: 0,
                    column: None,
                    message,
                }],
                truncated: false,
            }),
        )
            .into_response(),
        Err(IngestFailure::Store(e)) => {
            tracing::error!(error = %e, "import failed in storage");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "storage is not available; retry later",
            )
                .into_response()
        }
    }
}

/// Cells with every measurement, the short-term test label and the score, as CSV (RFC 3339 UTC times)
///
/// The cells table's filter. Needs any signed-in person.
#[utoipa::path(
    get,
    path = "/api/v1/export/cells.csv",
    tag = "quality",
    params(
        ("lot" = Option<String>, Query, description = "Exact lot"),
        ("order" = Option<String>, Query, description = "Exact production order"),
        ("band" = Option<String>, Query, description = "Band (`high`, `low`) or `incomplete`"),
        ("from_ms" = Option<i64>, Query, description = "Created at or after (Unix ms)"),
        ("to_ms" = Option<i64>, Query, description = "Created before (Unix ms)"),
    ),
    responses(
        (status = 200, description = "CSV: the dataset columns, then score, band, model, scored_at", body = String, content_type = "text/csv"),
        (status = 500, description = "The export could not be written", body = app::error::Problem),
        (status = 503, description = "Storage unavailable; retry later", body = app::error::Problem),
    ),
    security(("session" = [])),
)]
pub async fn export_cells(State(state): State<WebState>, Query(f): Query<CellFilter>) -> Response {
    let rows = match state.quality.export_rows(&f).await {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut header: Vec<&str> = crate::quality::dataset_header();
    header.extend(["score", "band", "model", "scored_at"]);
    let mut ok = w.write_record(&header).is_ok();
    for r in &rows {
        let mut line = dataset::record_row(&r.record);
        line.push(r.score.map(|s| format!("{s:.4}")).unwrap_or_default());
        line.push(r.band.clone().unwrap_or_else(|| "incomplete".into()));
        line.push(r.model.clone().unwrap_or_default());
        line.push(r.scored_ms.map(format_time).unwrap_or_default());
        ok &= w.write_record(&line).is_ok();
    }
    let bytes = match (ok, w.into_inner()) {
        (true, Ok(b)) => b,
        _ => return ServiceError::Internal("export failed".into()).into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"cells.csv\"",
            ),
        ],
        bytes,
    )
        .into_response()
}
