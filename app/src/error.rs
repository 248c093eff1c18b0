//! The one boundary error: what a server function or a REST endpoint answers when
//! it cannot do what was asked.
//!
//! [`ServiceError`] is shared by browser and server. Its message is safe to show;
//! internals are logged where they happen and never put into it. Its
//! [`status`](ServiceError::status) is the one status mapping of the HTTP edge:
//! server functions set it on their response (see [`FromServerFnError::ser`]), REST
//! handlers answer with it through `IntoResponse`.
//!
//! On the wire an error is a JSON object: `{"error": message, "status": code,
//! "kind": the variant}` (see [`ProblemJson`]); the browser decodes `kind` back into
//! the same variant.

use std::borrow::Cow;

use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
use leptos::server_fn::{Bytes, ContentType, Format, FormatType};
use leptos::server_fn::{Decodes, Encodes};
use serde::{Deserialize, Serialize};

/// Errors the UI and API clients may see. The message is safe to show.
///
/// In an error body this is the `kind`: the variant's name, with its data when it
/// has some (`"Forbidden"`, `{"Invalid": {"field": "value", "reason": "…"}}`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub enum ServiceError {
    /// Nobody is signed in (401).
    #[error("sign in first")]
    Unauthenticated,
    /// The caller's role or scope does not allow this (403).
    #[error("your role does not allow this")]
    Forbidden,
    /// The request could not be read at all (400).
    #[error("{0}")]
    Malformed(String),
    /// No such machine (404).
    #[error("unknown machine {0}")]
    UnknownMachine(String),
    /// No such model (404).
    #[error("unknown model {0}")]
    UnknownModel(String),
    /// No such thing (404).
    #[error("{0}")]
    NotFound(String),
    /// The request conflicts with what exists (409).
    #[error("{0}")]
    Conflict(String),
    /// The request body is larger than allowed (413).
    #[error("the request is larger than {limit_bytes} bytes")]
    TooLarge {
        /// The limit.
        limit_bytes: u64,
    },
    /// A field (or argument) is not acceptable (422).
    #[error("{field} {reason}")]
    Invalid {
        /// Which field.
        field: String,
        /// Why.
        reason: String,
    },
    /// A model could not be used (422).
    #[error("model {name}: {reason}")]
    BadModel {
        /// The model.
        name: String,
        /// Why.
        reason: String,
    },
    /// Too many attempts; try again later (429).
    #[error("too many attempts; try again in {retry_after_s} s")]
    TooMany {
        /// Seconds to wait.
        retry_after_s: u64,
    },
    /// Something the request needs is not available right now (503); names
    /// what: "the user store", "the MES link", "the history store".
    #[error("{0} is not available right now")]
    Unavailable(Cow<'static, str>),
    /// The browser could not reach the server (never sent by the server).
    #[error("the server could not be reached; check the connection and try again")]
    Unreachable(String),
    /// The server-function transport failed (500); the text is the framework's.
    #[error("{0}")]
    Internal(String),
}

impl ServiceError {
    /// The HTTP status of this error: the one mapping used by server functions
    /// and REST handlers alike.
    pub fn status(&self) -> u16 {
        match self {
            ServiceError::Malformed(_) => 400,
            ServiceError::Unauthenticated => 401,
            ServiceError::Forbidden => 403,
            ServiceError::UnknownMachine(_)
            | ServiceError::UnknownModel(_)
            | ServiceError::NotFound(_) => 404,
            ServiceError::Conflict(_) => 409,
            ServiceError::TooLarge { .. } => 413,
            ServiceError::Invalid { .. } | ServiceError::BadModel { .. } => 422,
            ServiceError::TooMany { .. } => 429,
            ServiceError::Unavailable(_) | ServiceError::Unreachable(_) => 503,
            ServiceError::Internal(_) => 500,
        }
    }

    /// `what` is not available right now.
    pub fn unavailable(what: &'static str) -> Self {
        ServiceError::Unavailable(Cow::Borrowed(what))
    }

    /// A server function's arguments could not be read: a 422 naming the field.
    /// `message` is the deserialiser's (`missing field `id``, `invalid digit
    /// found in string`); `field` is the argument's path when it is known
    /// otherwise (see `service::argument_field`).
    pub fn bad_argument(message: &str, field: Option<String>) -> Self {
        let missing = message
            .strip_prefix("missing field `")
            .and_then(|rest| rest.split_once('`'))
            .map(|(name, _)| name.to_owned());
        match (missing, field) {
            (Some(name), _) => ServiceError::Invalid {
                field: name,
                reason: "is missing".into(),
            },
            (None, Some(field)) => ServiceError::Invalid {
                field,
                reason: format!("is not valid: {}", first_line(message)),
            },
            (None, None) => ServiceError::Invalid {
                field: "(arguments)".into(),
                reason: format!("are not valid: {}", first_line(message)),
            },
        }
    }
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or_default()
}

/// The wire form of [`ServiceError`]: a JSON object with the message, the
/// status and the variant.
pub struct ProblemJson;

impl ContentType for ProblemJson {
    const CONTENT_TYPE: &'static str = "application/json";
}

impl FormatType for ProblemJson {
    const FORMAT_TYPE: Format = Format::Text;
}

/// The JSON body of an error: its message, its status and which error it is.
#[derive(Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct Problem {
    /// What went wrong, written for people (the error's message).
    pub error: String,
    /// The HTTP status of the answer.
    #[cfg_attr(feature = "ssr", schema(example = 422))]
    pub status: u16,
    /// Which error, for programs.
    pub kind: ServiceError,
}

impl ServiceError {
    /// The JSON body this error is sent as.
    pub fn to_json(&self) -> String {
        serde_json::to_string(&Problem {
            error: self.to_string(),
            status: self.status(),
            kind: self.clone(),
        })
        .unwrap_or_else(|_| {
            r#"{"error":"internal error","status":500,"kind":{"Internal":"internal error"}}"#.into()
        })
    }
}

impl Encodes<ServiceError> for ProblemJson {
    type Error = serde_json::Error;

    fn encode(output: &ServiceError) -> Result<Bytes, Self::Error> {
        Ok(Bytes::from(output.to_json()))
    }
}

impl Decodes<ServiceError> for ProblemJson {
    type Error = serde_json::Error;

    fn decode(bytes: Bytes) -> Result<ServiceError, Self::Error> {
        serde_json::from_slice::<Problem>(&bytes).map(|p| p.kind)
    }
}

impl FromServerFnError for ServiceError {
    type Encoder = ProblemJson;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        match value {
            ServerFnErrorErr::Args(message) => {
                #[cfg(feature = "ssr")]
                let field =
                    leptos::prelude::use_context::<ArgumentField>().and_then(|find| (find.0)());
                #[cfg(not(feature = "ssr"))]
                let field = None;
                ServiceError::bad_argument(&message, field)
            }
            ServerFnErrorErr::MissingArg(name) => ServiceError::Invalid {
                field: name,
                reason: "is missing".into(),
            },
            ServerFnErrorErr::Request(detail) => ServiceError::Unreachable(detail),
            other => ServiceError::Internal(other.to_string()),
        }
    }

    /// Encodes the error; on the server this is where a server function's
    /// response gets the error's status.
    fn ser(&self) -> Bytes {
        #[cfg(feature = "ssr")]
        set_status_of(self);
        Bytes::from(self.to_json())
    }
}

/// Names the malformed argument of the server-function request being answered
/// (`value`, `filter.page`). The API module knows every server function's
/// arguments (`api::service::argument_field`); the server provides it to each
/// request, so this module needs nothing of the API's.
#[cfg(feature = "ssr")]
#[derive(Clone, Copy)]
pub struct ArgumentField(pub fn() -> Option<String>);

/// Sets this response's status.
#[cfg(feature = "ssr")]
pub fn set_status(code: http::StatusCode) {
    if let Some(r) = leptos::prelude::use_context::<leptos_axum::ResponseOptions>() {
        r.set_status(code);
    }
}

/// Sets this response's status to the error's ([`ServiceError::status`]).
#[cfg(feature = "ssr")]
pub fn set_status_of(e: &ServiceError) {
    set_status(
        http::StatusCode::from_u16(e.status()).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR),
    );
}

#[cfg(feature = "ssr")]
impl server_fn_axum::response::IntoResponse for ServiceError {
    fn into_response(self) -> server_fn_axum::response::Response {
        use server_fn_axum::http::{HeaderValue, StatusCode, header};
        let status =
            StatusCode::from_u16(self.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut r = (
            status,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            self.to_json(),
        )
            .into_response();
        if let ServiceError::TooMany { retry_after_s } = self
            && let Ok(v) = HeaderValue::from_str(&retry_after_s.max(1).to_string())
        {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
        r
    }
}

#[cfg(feature = "ssr")]
use leptos::server_fn::axum_export as server_fn_axum;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_round_trips_through_the_wire_form() {
        let all = [
            ServiceError::Unauthenticated,
            ServiceError::Forbidden,
            ServiceError::Malformed("not JSON".into()),
            ServiceError::UnknownMachine("X".into()),
            ServiceError::UnknownModel("m".into()),
            ServiceError::NotFound("no action #3".into()),
            ServiceError::Conflict("taken".into()),
            ServiceError::TooLarge { limit_bytes: 10 },
            ServiceError::Invalid {
                field: "value".into(),
                reason: "is not a number".into(),
            },
            ServiceError::BadModel {
                name: "m".into(),
                reason: "broken".into(),
            },
            ServiceError::TooMany { retry_after_s: 3 },
            ServiceError::unavailable("the user store"),
            ServiceError::Internal("boom".into()),
        ];
        let mut statuses = Vec::new();
        for e in all {
            let back =
                ProblemJson::decode(ProblemJson::encode(&e).expect("encode")).expect("decode");
            assert_eq!(back, e);
            statuses.push(e.status());
        }
        assert_eq!(
            statuses,
            [
                401, 403, 400, 404, 404, 404, 409, 413, 422, 422, 429, 503, 500
            ]
        );
    }

    #[test]
    fn argument_errors_name_the_field() {
        let e = ServiceError::bad_argument("missing field `id`", None);
        assert_eq!(e.to_string(), "id is missing");
        assert_eq!(e.status(), 422);
        let e = ServiceError::bad_argument("invalid float literal", Some("value".into()));
        assert_eq!(e.to_string(), "value is not valid: invalid float literal");
        let e = ServiceError::bad_argument("odd\nmore", None);
        assert_eq!(e.to_string(), "(arguments) are not valid: odd");
    }

    #[test]
    fn unavailable_says_what() {
        assert_eq!(
            ServiceError::unavailable("the MES link").to_string(),
            "the MES link is not available right now"
        );
    }
}
