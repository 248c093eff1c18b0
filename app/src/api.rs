//! Server functions. Each body asks the line service for one thing and maps the
//! result; the service (implemented by the server crate) owns all I/O.

use leptos::prelude::*;

use crate::model::{HistoryRange, LineView, Series};

#[cfg(feature = "ssr")]
pub mod service {
    //! The interface the server crate implements and hands to server functions
    //! through Leptos context.
    use std::sync::Arc;

    use crate::model::{HistoryRange, LineView, Series};

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

    /// Errors the UI may see. The message is safe to show; internals are logged.
    #[derive(Debug, thiserror::Error)]
    pub enum ServiceError {
        /// No such machine.
        #[error("unknown machine {0}")]
        UnknownMachine(String),
        /// Storage is not available right now.
        #[error("history is not available right now")]
        Unavailable,
    }

    /// The service from context, or an error if the server forgot to provide it.
    pub fn line_service() -> Result<SharedLineService, leptos::prelude::ServerFnError> {
        leptos::prelude::use_context::<SharedLineService>()
            .ok_or_else(|| leptos::prelude::ServerFnError::new("line service missing from context"))
    }
}

/// The whole line, for the first render (live updates follow over the stream).
#[server(prefix = "/api/fn", endpoint = "line")]
pub async fn get_line() -> Result<LineView, ServerFnError> {
    let svc = service::line_service()?;
    svc.line().await.map_err(|e| {
        tracing::warn!(error = %e, "line view failed");
        ServerFnError::new(e.to_string())
    })
}

/// One machine's trends over a range.
#[server(prefix = "/api/fn", endpoint = "history")]
pub async fn get_history(
    machine: String,
    range: HistoryRange,
) -> Result<Vec<Series>, ServerFnError> {
    let svc = service::line_service()?;
    svc.history(&machine, range).await.map_err(|e| {
        tracing::warn!(error = %e, machine, "history failed");
        ServerFnError::new(e.to_string())
    })
}
