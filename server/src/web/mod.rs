//! The HTTP edge: Leptos pages and server functions, the live event stream,
//! health endpoints and the response layers around them.

pub mod assets;
pub mod health;
pub mod live;
pub mod quality;

use std::sync::Arc;

use app::api::service::{SharedLineService, SharedQualityService};
use app::{App, shell};
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, HeaderValue, header};
use axum::routing::{get, post};
use leptos::prelude::*;
use leptos_axum::{LeptosRoutes, generate_route_list};
use tower_http::compression::CompressionLayer;
use tower_http::services::ServeDir;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

use crate::quality::service::Quality;
use crate::services::Line;

/// Everything the HTTP handlers need.
#[derive(Clone)]
pub struct WebState {
    /// The line service.
    pub line: Arc<Line>,
    /// Cells, scores and models.
    pub quality: Arc<Quality>,
    /// Stops long-lived responses (the live stream) at shutdown.
    pub shutdown: tokio_util::sync::CancellationToken,
}

/// Builds the whole router.
pub fn router(options: LeptosOptions, state: WebState) -> Router {
    let routes = generate_route_list(App);
    let service: SharedLineService = state.line.clone();
    let quality_service: SharedQualityService = state.quality.clone();
    let api: Router<LeptosOptions> = Router::new()
        .route("/api/v1/live", get(live::stream))
        .route(
            "/api/v1/inspections",
            post(quality::post_inspections).layer(DefaultBodyLimit::max(quality::MAX_INGEST_BYTES)),
        )
        .route(
            "/api/v1/imports",
            post(quality::post_import).layer(DefaultBodyLimit::max(quality::MAX_IMPORT_BYTES)),
        )
        .route("/api/v1/export/cells.csv", get(quality::export_cells))
        .route("/api/v1/openapi.json", get(quality::openapi))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .with_state(state);
    let pkg = std::path::Path::new(&*options.site_root).join(&*options.site_pkg_dir);
    let pkg_route = format!("/{}", options.site_pkg_dir);
    // Precompressed copies only in production: under `cargo leptos watch` the bundle
    // changes while the server runs, and a copy would go stale.
    let bundle = if options.env == leptos::config::Env::PROD {
        ServeDir::new(pkg).precompressed_br().precompressed_gzip()
    } else {
        ServeDir::new(pkg)
    };
    Router::new()
        .nest_service(&pkg_route, bundle)
        .leptos_routes_with_context(
            &options,
            routes,
            move || {
                provide_context(service.clone());
                provide_context(quality_service.clone());
            },
            {
                let options = options.clone();
                move || shell(options.clone())
            },
        )
        .merge(api)
        .fallback(leptos_axum::file_and_error_handler(shell))
        .with_state(options)
        .layer(CompressionLayer::new())
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            HeaderName::from_static("referrer-policy"),
            HeaderValue::from_static("same-origin"),
        ))
        .layer(TraceLayer::new_for_http())
}
