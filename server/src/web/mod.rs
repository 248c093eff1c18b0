//! The HTTP edge: Leptos pages and server functions, the live event stream,
//! health endpoints and the response layers around them.

pub mod access;
pub mod actions;
pub mod alarms;
pub mod args;
pub mod assets;
pub mod health;
pub mod live;
pub mod metrics;
pub mod openapi;
pub mod quality;
pub mod spc;

use std::sync::Arc;

use std::time::Duration;

use app::api::service::{
    SharedAccessService, SharedActionsService, SharedAlarmService, SharedLineService,
    SharedMesService, SharedQualityService, SharedSpcService,
};
use app::auth::Permission;
use app::{App, shell};
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::from_fn_with_state;
use axum::routing::{get, post};
use axum_login::AuthManagerLayerBuilder;
use axum_login::tower_sessions::cookie::SameSite;
use axum_login::tower_sessions::{Expiry, SessionManagerLayer};
use leptos::prelude::*;
use leptos_axum::{LeptosRoutes, generate_route_list};
use tower_http::compression::CompressionLayer;
use tower_http::services::ServeDir;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::auth::Access;
use crate::auth::settings::AccessSettings;
use crate::mes::Mes;
use crate::services::Line;
use crate::services::quality::Quality;

/// Everything the HTTP handlers need.
#[derive(Clone)]
pub struct WebState {
    /// The line service.
    pub line: Arc<Line>,
    /// Cells, scores and models.
    pub quality: Arc<Quality>,
    /// Users, tokens, sessions and the audit trail.
    pub access: Access,
    /// Orders, the MES outbox and the MES link.
    pub mes: Mes,
    /// Corrective actions and write modes.
    pub actions: crate::actions::Actions,
    /// Alarms.
    pub alarms: crate::alarms::Alarms,
    /// Control charts and capability.
    pub spc: crate::spc::Spc,
    /// Each PLC's acquisition counters, in plant order (for `/metrics`).
    pub plc_stats: Vec<Arc<crate::acquisition::DeviceStats>>,
    /// Session and cookie settings.
    pub access_config: AccessSettings,
    /// Stops long-lived responses (the live stream) at shutdown.
    pub shutdown: tokio_util::sync::CancellationToken,
}

/// Longest a request may take to produce its response (streams then run on).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// Largest request body, except where a route says otherwise.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// A CSV download named `name`, or a 500 saying the export failed (logged as `what`).
pub fn csv_attachment(
    name: &str,
    what: &str,
    bytes: Result<Vec<u8>, csv::Error>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    match bytes {
        Ok(bytes) => (
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"{name}\""),
                ),
            ],
            bytes,
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "{what} export failed");
            app::error::ServiceError::Internal("export failed".into()).into_response()
        }
    }
}

/// Builds the whole router.
pub fn router(options: LeptosOptions, state: WebState) -> Router {
    let routes = generate_route_list(App);
    let service: SharedLineService = state.line.clone();
    let quality_service: SharedQualityService = state.quality.clone();
    let access_service: SharedAccessService = Arc::new(state.access.clone());
    let mes_service: SharedMesService = Arc::new(state.mes.clone());
    let actions_service: SharedActionsService = Arc::new(state.actions.clone());
    let alarm_service: SharedAlarmService = Arc::new(state.alarms.clone());
    let spc_service: SharedSpcService = Arc::new(state.spc.clone());
    let access = state.access.clone();
    let door = access::Door {
        access: access.clone(),
        public_files: Arc::new(access::public_files(
            std::path::Path::new(&*options.site_root),
            &options.site_pkg_dir,
        )),
        pkg_prefix: format!("/{}", options.site_pkg_dir),
    };
    let needs = |p: Permission| from_fn_with_state((access.clone(), p), access::guard);
    let sessions = SessionManagerLayer::new(access.sessions.clone())
        .with_name(access::SESSION_COOKIE)
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_secure(state.access_config.secure_cookies)
        // Saved on every request, so the idle limit counts from the last request.
        .with_always_save(true)
        .with_expiry(Expiry::OnInactivity(
            axum_login::tower_sessions::cookie::time::Duration::seconds_f64(
                state.access_config.session_idle.as_secs_f64(),
            ),
        ));
    let auth_layer = AuthManagerLayerBuilder::new(access.clone(), sessions).build();
    let secure = state.access_config.secure_cookies;
    let trusted = Arc::new(state.access_config.trusted_proxies.clone());
    let dev = options.env == leptos::config::Env::DEV;
    let door_routes: Router<LeptosOptions> = Router::new()
        .route(
            "/api/v1/session",
            post(access::sign_in).delete(access::sign_out),
        )
        .route("/signout", post(access::sign_out_form))
        .with_state(door.clone());
    let api: Router<LeptosOptions> = Router::new()
        .route(
            "/api/v1/live",
            get(live::stream).route_layer(needs(Permission::View)),
        )
        .route(
            "/api/v1/inspections",
            post(quality::post_inspections)
                .layer(DefaultBodyLimit::max(quality::MAX_INGEST_BYTES))
                .route_layer(needs(Permission::IngestInspections)),
        )
        .route(
            "/api/v1/imports",
            post(quality::post_import)
                .layer(DefaultBodyLimit::max(quality::MAX_IMPORT_BYTES))
                .route_layer(needs(Permission::ImportData)),
        )
        .route(
            "/api/v1/export/cells.csv",
            get(quality::export_cells).route_layer(needs(Permission::View)),
        )
        .route(
            "/api/v1/export/actions.csv",
            get(actions::export_actions).route_layer(needs(Permission::View)),
        )
        .route(
            "/api/v1/export/alarms.csv",
            get(alarms::export_alarms).route_layer(needs(Permission::View)),
        )
        .route(
            "/api/v1/export/spc-capability.csv",
            get(spc::export_capability).route_layer(needs(Permission::View)),
        )
        .route(
            "/api/v1/export/spc-chart.csv",
            get(spc::export_chart).route_layer(needs(Permission::View)),
        )
        .route(
            "/api/v1/export/audit.csv",
            get(access::export_audit).route_layer(needs(Permission::ViewAudit)),
        )
        .route(
            "/api/v1/openapi.json",
            get(openapi::serve).route_layer(needs(Permission::View)),
        )
        .route(
            "/metrics",
            get(metrics::metrics).route_layer(needs(Permission::ReadMetrics)),
        )
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
                provide_context(access_service.clone());
                provide_context(mes_service.clone());
                provide_context(actions_service.clone());
                provide_context(alarm_service.clone());
                provide_context(spc_service.clone());
                provide_context(app::error::ArgumentField(app::api::service::argument_field));
            },
            {
                let options = options.clone();
                move || shell(options.clone())
            },
        )
        .merge(api)
        .merge(door_routes)
        .fallback(leptos_axum::file_and_error_handler(shell))
        .with_state(options)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn(args::keep_body))
        .layer(from_fn_with_state(door, access::attach_caller))
        .layer(auth_layer)
        .layer(from_fn_with_state(trusted, access::resolve_client))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ))
        .layer(CompressionLayer::new())
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            content_security_policy(dev),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            HeaderName::from_static("permissions-policy"),
            HeaderValue::from_static("camera=(), microphone=(), geolocation=(), payment=()"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::STRICT_TRANSPORT_SECURITY,
            if secure {
                Some(HeaderValue::from_static("max-age=31536000"))
            } else {
                None
            },
        ))
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

/// What the pages may load: only this site, plus inline scripts and styles (the
/// hydration bootstrap and chart styles are inline) and WebAssembly. Under
/// `cargo leptos watch` the auto-reload socket is allowed too.
fn content_security_policy(dev: bool) -> HeaderValue {
    let connect = if dev {
        "connect-src 'self' ws://127.0.0.1:* ws://localhost:*"
    } else {
        "connect-src 'self'"
    };
    let policy = format!(
        "default-src 'self'; script-src 'self' 'unsafe-inline' 'wasm-unsafe-eval'; \
         style-src 'self' 'unsafe-inline'; img-src 'self' data:; {connect}; \
         frame-ancestors 'none'; base-uri 'self'; form-action 'self'; object-src 'none'"
    );
    HeaderValue::from_str(&policy)
        .unwrap_or_else(|_| HeaderValue::from_static("default-src 'self'"))
}
