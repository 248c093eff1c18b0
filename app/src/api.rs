//! Server functions. Each body asks the line service for one thing and maps the
//! result; the service (implemented by the server crate) owns all I/O.

use leptos::prelude::*;

use crate::model::{HistoryRange, LineView, Series};
use crate::quality::{CellDetail, CellFilter, CellPage, ModelsView, QualityOverview};

#[cfg(feature = "ssr")]
pub mod service {
    //! The interface the server crate implements and hands to server functions
    //! through Leptos context.
    use std::sync::Arc;

    use crate::model::{HistoryRange, LineView, Series};
    use crate::quality::{CellDetail, CellFilter, CellPage, ModelsView, QualityOverview};

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
        /// Makes `name` the active model and re-scores the cells.
        async fn promote(&self, name: &str, by: &str) -> Result<(), ServiceError>;
    }

    /// A shared quality service handle, as provided in context.
    pub type SharedQualityService = Arc<dyn QualityService>;

    /// The quality service from context.
    pub fn quality_service() -> Result<SharedQualityService, leptos::prelude::ServerFnError> {
        leptos::prelude::use_context::<SharedQualityService>().ok_or_else(|| {
            leptos::prelude::ServerFnError::new("quality service missing from context")
        })
    }

    /// Errors the UI may see. The message is safe to show; internals are logged.
    #[derive(Debug, thiserror::Error)]
    pub enum ServiceError {
        /// No such machine.
        #[error("unknown machine {0}")]
        UnknownMachine(String),
        /// Storage is not available right now.
        #[error("history is not available right now")]
        Unavailable,
        /// No such model.
        #[error("unknown model {0}")]
        UnknownModel(String),
        /// A model could not be used.
        #[error("model {name}: {reason}")]
        BadModel {
            /// The model.
            name: String,
            /// Why.
            reason: String,
        },
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

#[cfg(feature = "ssr")]
fn service_error(e: impl std::fmt::Display) -> ServerFnError {
    ServerFnError::new(e.to_string())
}

/// The quality overview.
#[server(prefix = "/api/fn", endpoint = "quality")]
pub async fn get_quality() -> Result<QualityOverview, ServerFnError> {
    service::quality_service()?
        .overview()
        .await
        .map_err(service_error)
}

/// A page of cells.
#[server(prefix = "/api/fn", endpoint = "cells")]
pub async fn get_cells(filter: CellFilter) -> Result<CellPage, ServerFnError> {
    service::quality_service()?
        .cells(filter)
        .await
        .map_err(service_error)
}

/// One cell.
#[server(prefix = "/api/fn", endpoint = "cell")]
pub async fn get_cell(serial: String) -> Result<Option<CellDetail>, ServerFnError> {
    service::quality_service()?
        .cell(&serial)
        .await
        .map_err(service_error)
}

/// The models.
#[server(prefix = "/api/fn", endpoint = "models")]
pub async fn get_models() -> Result<ModelsView, ServerFnError> {
    service::quality_service()?
        .models()
        .await
        .map_err(service_error)
}

/// Makes a model the active one.
#[server(prefix = "/api/fn", endpoint = "promote")]
pub async fn promote_model(name: String) -> Result<(), ServerFnError> {
    service::quality_service()?
        .promote(&name, "web")
        .await
        .map_err(service_error)
}
