//! Server functions' request bodies, kept for their errors.
//!
//! The framework reads a server function's arguments from the body and, when
//! they do not parse, only says how (`invalid digit found in string`), not where.
//! [`keep_body`] reads the body first, within the body limit, and leaves a copy
//! in the request's extensions; the boundary error then names the field that
//! fails (`app::api::service::argument_field`) and answers 422.

use app::api::service::{ArgsBody, ServiceError};
use axum::body::Body;
use axum::extract::Request;
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::MAX_BODY_BYTES;

/// Where the server functions live.
const PREFIX: &str = "/api/fn/";

/// Keeps a copy of a server function's body (see the module doc); a body over
/// the limit is refused with 413.
pub async fn keep_body(req: Request, next: Next) -> Response {
    if req.method() != Method::POST || !req.uri().path().starts_with(PREFIX) {
        return next.run(req).await;
    }
    let (mut parts, body) = req.into_parts();
    let bytes = match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
        Ok(b) => b,
        Err(_) => {
            return ServiceError::TooLarge {
                limit_bytes: u64::try_from(MAX_BODY_BYTES).unwrap_or(u64::MAX),
            }
            .into_response();
        }
    };
    parts.extensions.insert(ArgsBody(bytes.clone()));
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}
