//! The door: who is behind each request, and whether they may have it.
//!
//! [`attach_caller`] runs on every request. A bearer token names a station; else
//! the session cookie names a person. Without either, pages redirect to the
//! sign-in page and the API answers 401, except for the few public paths. Each
//! REST route then states its permission with [`guard`]; each server function
//! checks its own (`app::api::service::require`). Sign-in and sign-out live
//! here too.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use app::api::service::{AccessService, ServiceError};
use app::auth::{AuditAction, Caller, Permission, Principal};
use axum::Json;
use axum::extract::{ConnectInfo, FromRequest, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum_login::AuthSession;
use serde::{Deserialize, Serialize};

use crate::audit::AuditEvent;
use crate::auth::{Access, Credentials, SignIn, principal_of};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "cellguard_session";

/// What the door needs.
#[derive(Debug, Clone)]
pub struct Door {
    /// Users, tokens and the audit trail.
    pub access: Access,
    /// Static files anyone may fetch (the site root's files, e.g. the icon).
    pub public_files: Arc<HashSet<String>>,
    /// The bundle's folder (`/pkg`).
    pub pkg_prefix: String,
}

impl Door {
    fn is_public(&self, method: &Method, path: &str) -> bool {
        matches!(path, "/signin" | "/healthz" | "/readyz" | "/api/fn/me")
            || (path == "/api/v1/session" && method == Method::POST)
            || path
                .strip_prefix(self.pkg_prefix.as_str())
                .is_some_and(|rest| rest.starts_with('/'))
            || self.public_files.contains(path)
    }
}

/// The client's address as resolved by [`resolve_client`] (through trusted
/// proxies), else the connection's peer when the server has connection info.
pub fn client_ip(req_ext: &axum::http::Extensions) -> Option<IpAddr> {
    req_ext.get::<ClientAddr>().map(|c| c.0).or_else(|| {
        req_ext
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(a)| a.ip())
    })
}

/// The client's address, behind any trusted proxies.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub IpAddr);

/// Records who the client is: the connection's peer, or, when the peer is a
/// trusted proxy, the address its `Forwarded` (or `X-Forwarded-For`) header
/// names: the nearest one that is not itself a trusted proxy. Sign-in throttling
/// and the audit trail use it.
pub async fn resolve_client(
    State(trusted): State<Arc<Vec<ipnet::IpNet>>>,
    mut req: Request,
    next: Next,
) -> Response {
    if let Some(ConnectInfo(peer)) = req.extensions().get::<ConnectInfo<SocketAddr>>().copied() {
        let ip = forwarded_client(peer.ip(), req.headers(), &trusted);
        req.extensions_mut().insert(ClientAddr(ip));
    }
    next.run(req).await
}

/// The client behind `peer` (pure): `peer` itself unless it is trusted; then the
/// chain of addresses the forwarding headers list, walked back from the nearest
/// hop past every trusted proxy. Unparsable entries end the walk there.
pub fn forwarded_client(peer: IpAddr, headers: &HeaderMap, trusted: &[ipnet::IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|n| n.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let mut chain: Vec<Option<IpAddr>> = Vec::new();
    let forwarded: Vec<&str> = headers
        .get_all(header::FORWARDED)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    if forwarded.is_empty() {
        for v in headers.get_all("x-forwarded-for") {
            let Ok(v) = v.to_str() else { continue };
            chain.extend(v.split(',').map(|a| parse_hop(a.trim())));
        }
    } else {
        for v in forwarded {
            for element in v.split(',') {
                let hop = element.split(';').find_map(|pair| {
                    let (k, v) = pair.trim().split_once('=')?;
                    k.eq_ignore_ascii_case("for").then_some(v)
                });
                chain.push(hop.and_then(parse_hop));
            }
        }
    }
    let mut client = peer;
    for hop in chain.iter().rev() {
        match hop {
            Some(ip) => {
                client = *ip;
                if !is_trusted(ip) {
                    break;
                }
            }
            None => break,
        }
    }
    client
}

/// One hop of a forwarding header: `10.0.0.5`, `"[2001:db8::1]:4711"`,
/// `192.0.2.60:8080` (ports dropped; `unknown` and obfuscated names are `None`).
fn parse_hop(s: &str) -> Option<IpAddr> {
    let s = s.trim().trim_matches('"');
    if let Ok(ip) = s.parse() {
        return Some(ip);
    }
    if let Some(rest) = s.strip_prefix('[') {
        return rest.split_once(']').and_then(|(ip, _)| ip.parse().ok());
    }
    s.rsplit_once(':').and_then(|(ip, _)| ip.parse().ok())
}

/// The client's address as the audit trail records it.
fn source_of(req_ext: &axum::http::Extensions) -> String {
    client_ip(req_ext).map_or_else(|| "unknown".into(), |ip| ip.to_string())
}

/// The bearer token of a request, if it presents one.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// The body of the door's and the sign-in's own refusals (an unknown token, a
/// cross-site request, a wrong password, a malformed sign-in body, sign-in not
/// available): only a message, unlike the body of a `ServiceError`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DoorError {
    /// What went wrong, written for people.
    pub error: String,
}

fn error(status: StatusCode, message: &str) -> Response {
    (
        status,
        Json(DoorError {
            error: message.to_owned(),
        }),
    )
        .into_response()
}

/// The answer to a JSON sign-in.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SignedIn {
    /// Sign-in name.
    pub username: String,
    /// The user's role.
    pub role: app::auth::Role,
}

/// A path and query safe to send a person back to after signing in: only paths
/// on this site.
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && !n.starts_with("/\\")
                && n.bytes().all(|b| b.is_ascii_graphic())
                && n != "/signin" =>
        {
            n.to_owned()
        }
        _ => "/".to_owned(),
    }
}

fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Whether a browser says this request comes from another site (or subdomain,
/// or port). SameSite=Lax cookies already stay home on cross-site requests;
/// this also refuses same-site neighbours (another tool on the same host) and
/// sign-in forms planted elsewhere. Clients that send neither header (scripts,
/// stations) are not browsers and are judged by their credentials alone.
pub fn cross_site(headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site") {
        return !matches!(site.as_bytes(), b"same-origin" | b"none");
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        return false;
    };
    let host = headers.get(header::HOST).map(|h| h.as_bytes());
    let origin_host = origin
        .to_str()
        .ok()
        .and_then(|o| o.split_once("://"))
        .map(|(_, rest)| rest.as_bytes());
    origin_host.is_none() || origin_host != host
}

/// Finds the caller, attaches it to the request, and turns away anonymous
/// requests for anything but public paths.
pub async fn attach_caller(State(door): State<Door>, mut req: Request, next: Next) -> Response {
    let source = source_of(req.extensions());
    let principal = if let Some(token) = bearer(req.headers()) {
        match door.access.tokens.principal(token).await {
            Ok(Some(p)) => Some(p),
            Ok(None) => {
                return error(
                    StatusCode::UNAUTHORIZED,
                    "the API token is unknown or revoked",
                );
            }
            Err(e) => {
                tracing::error!(error = %e, "token check failed");
                return error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "sign-in is not available right now",
                );
            }
        }
    } else {
        req.extensions()
            .get::<AuthSession<Access>>()
            .and_then(|s| s.user.as_ref())
            .map(principal_of)
    };
    let by_token = matches!(principal, Some(Principal::Token { .. }));
    if !by_token
        && !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS)
        && cross_site(req.headers())
    {
        return error(StatusCode::FORBIDDEN, "cross-site request refused");
    }
    match principal {
        Some(principal) => {
            req.extensions_mut().insert(Caller { principal, source });
        }
        None if door.is_public(req.method(), req.uri().path()) => {}
        None => {
            let path = req.uri().path();
            // Machines (the API, a metrics scraper) get a status, people a sign-in page.
            if path.starts_with("/api/")
                || path == "/metrics"
                || !matches!(*req.method(), Method::GET | Method::HEAD)
            {
                return ServiceError::Unauthenticated.into_response();
            }
            let here = req.uri().path_and_query().map_or("/", |p| p.as_str());
            let target = if here == "/" {
                "/signin".to_owned()
            } else {
                format!("/signin?next={}", encode(here))
            };
            return Redirect::to(&target).into_response();
        }
    }
    next.run(req).await
}

/// The permission a REST route needs (use with `from_fn_with_state`).
pub async fn guard(
    State((access, needed)): State<(Access, Permission)>,
    req: Request,
    next: Next,
) -> Response {
    match req.extensions().get::<Caller>() {
        None => ServiceError::Unauthenticated.into_response(),
        Some(c) if !c.principal.allows(needed) => {
            access.denied(c, needed).await;
            ServiceError::Forbidden.into_response()
        }
        Some(_) => next.run(req).await,
    }
}

/// The sign-in form or JSON body.
#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = Credentials)]
pub struct SignInBody {
    /// Sign-in name.
    pub username: String,
    /// Password.
    #[schema(format = Password)]
    pub password: String,
    /// (forms) A path on this site to go to afterwards.
    #[serde(default)]
    pub next: Option<String>,
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
}

fn back_to_signin(error: &str, next: &str, retry: Option<Duration>) -> Response {
    let mut target = format!("/signin?error={error}");
    if let Some(w) = retry {
        target.push_str(&format!("&retry={}", w.as_secs().max(1)));
    }
    if next != "/" {
        target.push_str(&format!("&next={}", encode(next)));
    }
    Redirect::to(&target).into_response()
}

/// Sign in
///
/// A form (`application/x-www-form-urlencoded`, with an optional `next` path) is
/// answered with a 303 redirect: to `next` on success, else back to
/// `/signin?error=refused|throttled|unavailable`. JSON is answered with a status.
/// Every attempt is throttled per name and per address, and audited.
#[utoipa::path(
    post,
    path = "/api/v1/session",
    tag = "access",
    request_body(content(
        (SignInBody = "application/json"),
        (SignInBody = "application/x-www-form-urlencoded"),
    )),
    responses(
        (status = 200, description = "Signed in; the session cookie is set", body = SignedIn),
        (status = 303, description = "(forms) where to go next"),
        (status = 400, description = "The body is malformed", body = DoorError),
        (status = 401, description = "Wrong name or password (which one is not said), or a disabled user", body = DoorError),
        (status = 403, description = "A browser's cross-site request", body = DoorError),
        (status = 429, description = "Too many attempts; wait the `Retry-After` seconds", body = app::error::Problem,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 503, description = "The user store is not answering", body = DoorError),
    ),
)]
pub async fn sign_in(
    State(door): State<Door>,
    mut auth: AuthSession<Access>,
    req: Request,
) -> Response {
    let addr = client_ip(req.extensions()).unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    let json = is_json(req.headers());
    let body: SignInBody = if json {
        match Json::<SignInBody>::from_request(req, &()).await {
            Ok(Json(b)) => b,
            Err(e) => return error(StatusCode::BAD_REQUEST, &e.body_text()),
        }
    } else {
        match axum::Form::<SignInBody>::from_request(req, &()).await {
            Ok(axum::Form(b)) => b,
            Err(e) => return error(StatusCode::BAD_REQUEST, &e.body_text()),
        }
    };
    let next = safe_next(body.next.as_deref());
    let creds = Credentials {
        username: body.username,
        password: body.password,
    };
    match door.access.sign_in(&creds, addr).await {
        SignIn::Ok(user) => {
            // A new session id at every sign-in, even over a session that was
            // already signed in (a cookie planted by someone else must not
            // become this user's session).
            let cycled = auth.session.cycle_id().await;
            if let Err(e) = cycled
                .map_err(|e| e.to_string())
                .and(auth.login(&user).await.map_err(|e| e.to_string()))
            {
                tracing::error!(error = %e, "cannot start a session");
                return if json {
                    error(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "sign-in is not available right now",
                    )
                } else {
                    back_to_signin("unavailable", &next, None)
                };
            }
            if json {
                Json(SignedIn {
                    username: user.username,
                    role: user.role,
                })
                .into_response()
            } else {
                Redirect::to(&next).into_response()
            }
        }
        SignIn::Refused if json => error(StatusCode::UNAUTHORIZED, "wrong name or password"),
        SignIn::Refused => back_to_signin("refused", &next, None),
        SignIn::Throttled(wait) if json => ServiceError::TooMany {
            retry_after_s: wait.as_secs().max(1),
        }
        .into_response(),
        SignIn::Throttled(wait) => back_to_signin("throttled", &next, Some(wait)),
        SignIn::Unavailable if json => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "sign-in is not available right now",
        ),
        SignIn::Unavailable => back_to_signin("unavailable", &next, None),
    }
}

async fn end_session(door: &Door, auth: &mut AuthSession<Access>, source: String) {
    match auth.logout().await {
        Ok(Some(user)) => {
            let _ = door
                .access
                .audit
                .record(AuditEvent::by(
                    &principal_of(&user),
                    &source,
                    AuditAction::SignOut,
                    "",
                    "",
                ))
                .await;
        }
        Ok(None) => {}
        Err(e) => tracing::warn!(error = %e, "sign-out failed"),
    }
}

/// Sign out (the page header's form)
///
/// Ends the session, if any, and redirects to the sign-in page.
#[utoipa::path(
    post,
    path = "/signout",
    tag = "access",
    responses((status = 303, description = "Signed out; to `/signin`")),
    security(("session" = [])),
)]
pub async fn sign_out_form(
    State(door): State<Door>,
    mut auth: AuthSession<Access>,
    req: Request,
) -> Response {
    end_session(&door, &mut auth, source_of(req.extensions())).await;
    Redirect::to("/signin").into_response()
}

/// Sign out
#[utoipa::path(
    delete,
    path = "/api/v1/session",
    tag = "access",
    responses((status = 204, description = "Signed out (also when nobody was signed in)")),
    security(("session" = [])),
)]
pub async fn sign_out(
    State(door): State<Door>,
    mut auth: AuthSession<Access>,
    req: Request,
) -> Response {
    end_session(&door, &mut auth, source_of(req.extensions())).await;
    StatusCode::NO_CONTENT.into_response()
}

/// The audit trail as CSV, oldest first (at most 100 000 rows)
///
/// The audit page's filter. Needs a supervisor, quality engineer or admin session.
#[utoipa::path(
    get,
    path = "/api/v1/export/audit.csv",
    tag = "access",
    params(
        ("actor" = Option<String>, Query, description = "Exact actor"),
        ("action" = Option<AuditAction>, Query, description = "Exact action, e.g. sign_in, role_changed, model_promoted"),
        ("from_ms" = Option<i64>, Query, description = "At or after (Unix ms)"),
        ("to_ms" = Option<i64>, Query, description = "Before (Unix ms)"),
    ),
    responses(
        (status = 200, description = "id,at,actor,role,action,target,detail,source", body = String, content_type = "text/csv"),
        (status = 500, description = "The export could not be written", body = app::error::Problem),
        (status = 503, description = "Storage is not available", body = app::error::Problem),
    ),
    security(("session" = [])),
)]
pub async fn export_audit(
    State(state): State<super::WebState>,
    axum::extract::Query(f): axum::extract::Query<app::auth::AuditFilter>,
) -> Response {
    let entries = match state.access.export_audit(&f).await {
        Ok(e) => e,
        Err(e) => return e.into_response(),
    };
    super::csv_attachment("audit.csv", "audit", crate::audit::to_csv(&entries))
}

/// The files directly under the site root (not the bundle), as public paths.
pub fn public_files(site_root: &std::path::Path, pkg_dir: &str) -> HashSet<String> {
    let Ok(dir) = std::fs::read_dir(site_root) else {
        return HashSet::new();
    };
    dir.filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| n != pkg_dir)
        .map(|n| format!("/{n}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_followed_after_sign_in() {
        assert_eq!(safe_next(Some("/cells?band=high")), "/cells?band=high");
        assert_eq!(safe_next(Some("//evil.example/")), "/");
        assert_eq!(safe_next(Some("/\\evil.example")), "/");
        assert_eq!(safe_next(Some("https://evil.example/")), "/");
        assert_eq!(safe_next(Some("/a\r\nSet-Cookie: x")), "/");
        assert_eq!(safe_next(Some("/signin")), "/");
        // Browsers drop tabs from URLs: "/\t/evil" would become "//evil".
        assert_eq!(safe_next(Some("/\t/evil.example")), "/");
        assert_eq!(safe_next(Some("/cells?lot=L 1")), "/");
        assert_eq!(safe_next(None), "/");
    }

    #[test]
    fn requests_from_other_sites_are_told_apart() {
        let with = |pairs: &[(&'static str, &'static str)]| {
            let mut h = HeaderMap::new();
            for (k, v) in pairs {
                h.insert(*k, v.parse().expect("value"));
            }
            cross_site(&h)
        };
        assert!(!with(&[]), "no browser headers: not a browser");
        assert!(!with(&[("sec-fetch-site", "same-origin")]));
        assert!(with(&[("sec-fetch-site", "same-site")]));
        assert!(with(&[("sec-fetch-site", "cross-site")]));
        assert!(!with(&[
            ("origin", "http://10.0.0.5:3000"),
            ("host", "10.0.0.5:3000")
        ]));
        assert!(with(&[
            ("origin", "http://10.0.0.5:8080"),
            ("host", "10.0.0.5:3000")
        ]));
        assert!(with(&[("origin", "null"), ("host", "10.0.0.5:3000")]));
    }

    #[test]
    fn bearer_tokens_are_read_from_the_header() {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, "Bearer cgt_abc".parse().expect("v"));
        assert_eq!(bearer(&h), Some("cgt_abc"));
        h.insert(header::AUTHORIZATION, "Basic xyz".parse().expect("v"));
        assert_eq!(bearer(&h), None);
    }

    #[test]
    fn next_is_percent_encoded() {
        assert_eq!(
            encode("/cells?band=high&lot=L 1"),
            "/cells%3Fband%3Dhigh%26lot%3DL%201"
        );
    }
}
