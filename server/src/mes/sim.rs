//! The MES simulator (`cellguard simulate mes`, embedded in the default start): an
//! HTTP server that implements the contract in [`super::contract`], keeps every
//! message it receives by idempotency key (counting duplicates), and can be told
//! to misbehave the ways real MES servers do: down (connections refused), slow,
//! 500s, 429 with Retry-After, 401, a redirect to a sign-on page, or 400 for chosen
//! messages.
//!
//! Faults are switched on its admin listener (a second port, always up):
//! `PUT /admin/fault` with `{"fault": "down"}`, `{"fault": "slow", "delay_ms": 3000}`,
//! `{"fault": "error500"}`, `{"fault": "throttle", "retry_after_s": 5}`,
//! `{"fault": "unauthorized"}`, `{"fault": "redirect"}` (302 to a sign-on page that
//! answers 200), `{"fault": "fail", "key": "machine-data:CAS_01:"}` (500 for keys
//! starting so), `{"fault": "reject", "key": "quality-result:"}`
//! (400 for every key starting so) or `{"fault": "none"}`; `GET /admin/received`
//! counts what arrived.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use app::mes::OrderState;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::serve::ListenerExt;
use axum::{Json, Router};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::contract::{
    IDEMPOTENCY_HEADER, MachineData, MesErrorBody, MessageKind, ORDERS_PATH, OrderConfirmation,
    ProductionOrder, ProductionSchedule, QualityResult, Receipt,
};
use crate::clock::now_ms;

/// Requests remembered for [`MesSim::requests`].
const REQUEST_LOG: usize = 10_000;

/// How the simulator misbehaves.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(tag = "fault", rename_all = "snake_case")]
pub enum Fault {
    /// Behaves.
    #[default]
    None,
    /// Refuses connections (the port is closed; open connections are closed).
    Down,
    /// Answers every request after `delay_ms`.
    Slow {
        /// Delay per request.
        delay_ms: u64,
    },
    /// Answers 500 to everything.
    Error500,
    /// Answers 429 with `Retry-After: retry_after_s`.
    Throttle {
        /// Seconds the client is told to wait.
        retry_after_s: u64,
    },
    /// Answers 401 to everything (as if CellGuard's token were revoked).
    Unauthorized,
    /// Answers 302 to the sign-in page of a single sign-on proxy in front of the
    /// MES (whose page answers 200: a client that follows it "delivers").
    Redirect,
    /// Answers 400 to messages whose idempotency key starts with `key`.
    Reject {
        /// Key prefix.
        key: String,
    },
    /// Answers 500 to messages whose idempotency key starts with `key` (one
    /// entity the MES cannot take; the rest is fine).
    Fail {
        /// Key prefix.
        key: String,
    },
}

impl Fault {
    /// Parses the command line's form: `none`, `down`, `slow:MS`, `error500`,
    /// `throttle:SECONDS`, `unauthorized`, `reject:KEY-PREFIX`.
    pub fn parse(s: &str) -> Result<Fault, String> {
        let (name, arg) = s.split_once(':').unwrap_or((s, ""));
        let number = |what: &str| {
            arg.parse::<u64>()
                .map_err(|_| format!("{name} needs {what}, e.g. {name}:5"))
        };
        match name {
            "none" => Ok(Fault::None),
            "down" => Ok(Fault::Down),
            "slow" => Ok(Fault::Slow {
                delay_ms: number("milliseconds")?,
            }),
            "error500" => Ok(Fault::Error500),
            "throttle" => Ok(Fault::Throttle {
                retry_after_s: number("seconds")?,
            }),
            "unauthorized" => Ok(Fault::Unauthorized),
            "redirect" => Ok(Fault::Redirect),
            "reject" if !arg.is_empty() => Ok(Fault::Reject { key: arg.into() }),
            "fail" if !arg.is_empty() => Ok(Fault::Fail { key: arg.into() }),
            "fail" => Err("fail needs a key prefix, e.g. fail:machine-data:CAS_01:".into()),
            "reject" => Err("reject needs a key prefix, e.g. reject:quality-result:".into()),
            _ => Err(format!(
                "unknown fault {name:?} (none, down, slow:MS, error500, throttle:S, unauthorized, redirect, reject:KEY, fail:KEY)"
            )),
        }
    }
}

/// One request the simulator answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestRecord {
    /// When it arrived (Unix ms).
    pub at_ms: i64,
    /// Method and path.
    pub path: String,
    /// Its idempotency key, if any.
    pub key: Option<String>,
    /// The status answered.
    pub status: u16,
}

/// What arrived, by kind.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceivedSummary {
    /// Machine-data reports kept.
    pub machine_data: u64,
    /// Quality results kept.
    pub quality_results: u64,
    /// Order confirmations kept.
    pub order_confirmations: u64,
    /// Messages that arrived again with a key already kept.
    pub duplicates: u64,
}

#[derive(Debug)]
struct Kept {
    kind: MessageKind,
    body: serde_json::Value,
    times: u64,
}

#[derive(Debug, Default)]
struct Inner {
    fault: Fault,
    orders: Vec<ProductionOrder>,
    received: HashMap<String, Kept>,
    /// Keys in the order they first arrived.
    arrival: Vec<String>,
    requests: VecDeque<RequestRecord>,
}

struct Shared {
    token: String,
    inner: Mutex<Inner>,
    down: watch::Sender<bool>,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A running MES simulator.
#[derive(Clone)]
pub struct MesSim {
    shared: Arc<Shared>,
    /// Where the MES API listens.
    pub addr: SocketAddr,
    /// Where the admin endpoints listen.
    pub admin_addr: SocketAddr,
}

impl std::fmt::Debug for MesSim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MesSim")
            .field("addr", &self.addr)
            .field("admin_addr", &self.admin_addr)
            .finish_non_exhaustive()
    }
}

/// The user's orders 98765 (High Capacity Cell, 2000 units, running) and 98766
/// (Standard Capacity Cell, 1500 units, released), two completed ones before them
/// and four generated planned ones after, from `seed`.
pub fn seed_orders(seed: u64, now_ms: i64) -> Vec<ProductionOrder> {
    let mut rng = SmallRng::seed_from_u64(seed);
    let day = 86_400_000;
    let shift_start = now_ms.div_euclid(day) * day + 6 * 3_600_000;
    let at = |ms: i64| jiff::Timestamp::from_millisecond(ms).ok();
    let order = |id: &str, product: &str, qty: u64, start: i64, state: OrderState| {
        let name = match product {
            "HC" => "High Capacity Cell",
            _ => "Standard Capacity Cell",
        };
        ProductionOrder {
            id: id.into(),
            product_id: product.into(),
            product_name: name.into(),
            planned_quantity: qty,
            produced_quantity: if state == OrderState::Completed {
                qty
            } else {
                0
            },
            planned_start: at(start),
            planned_end: at(start + 8 * 3_600_000),
            priority: 5,
            state,
        }
    };
    let mut orders = vec![
        order(
            "98763",
            "SC",
            1200,
            shift_start - 2 * day,
            OrderState::Completed,
        ),
        order(
            "98764",
            "HC",
            1800,
            shift_start - day,
            OrderState::Completed,
        ),
        order("98765", "HC", 2000, shift_start, OrderState::Running),
        order(
            "98766",
            "SC",
            1500,
            shift_start + 8 * 3_600_000,
            OrderState::Released,
        ),
    ];
    for i in 0..4 {
        let product = if i % 2 == 0 { "HC" } else { "SC" };
        let qty = rng.random_range(8..=24u64) * 100;
        let start = shift_start + (16 + 8 * i) * 3_600_000;
        let mut o = order(
            &format!("{}", 98767 + i),
            product,
            qty,
            start,
            OrderState::Planned,
        );
        o.priority = 3;
        orders.push(o);
    }
    orders
}

/// Applies a confirmation to the orders: the produced count grows; an order
/// produced in full completes and the next one (released first, then planned,
/// by priority and start) starts running, with the one after it released.
pub fn apply_confirmation(orders: &mut [ProductionOrder], c: &OrderConfirmation) -> bool {
    let Some(o) = orders.iter_mut().find(|o| o.id == c.production_order) else {
        return false;
    };
    o.produced_quantity = o.produced_quantity.max(c.produced_quantity);
    if o.state == OrderState::Running && o.produced_quantity >= o.planned_quantity {
        o.state = OrderState::Completed;
        if !orders.iter().any(|o| o.state == OrderState::Running) {
            let next = |orders: &mut [ProductionOrder], from: OrderState, to: OrderState| {
                let pick = orders
                    .iter()
                    .enumerate()
                    .filter(|(_, o)| o.state == from)
                    .min_by_key(|(_, o)| {
                        (
                            -o.priority,
                            o.planned_start.map_or(i64::MAX, |t| t.as_millisecond()),
                        )
                    })
                    .map(|(i, _)| i);
                if let Some(i) = pick {
                    orders[i].state = to;
                }
                pick.is_some()
            };
            if !next(orders, OrderState::Released, OrderState::Running) {
                next(orders, OrderState::Planned, OrderState::Running);
            }
            next(orders, OrderState::Planned, OrderState::Released);
        }
    }
    true
}

impl MesSim {
    /// Starts the simulator: the API on `addr`, the admin endpoints on
    /// `admin_addr`, accepting `token`; runs until `shutdown`.
    pub async fn start(
        addr: SocketAddr,
        admin_addr: SocketAddr,
        token: String,
        seed: u64,
        fault: Fault,
        tasks: &TaskTracker,
        shutdown: &CancellationToken,
    ) -> std::io::Result<MesSim> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let admin = TcpListener::bind(admin_addr).await?;
        let admin_addr = admin.local_addr()?;
        let (down, _) = watch::channel(fault == Fault::Down);
        let shared = Arc::new(Shared {
            token,
            inner: Mutex::new(Inner {
                fault,
                orders: seed_orders(seed, now_ms()),
                ..Inner::default()
            }),
            down,
        });
        let sim = MesSim {
            shared: Arc::clone(&shared),
            addr,
            admin_addr,
        };
        tasks.spawn(serve_api(
            listener,
            addr,
            api_router(Arc::clone(&shared)),
            shared.down.subscribe(),
            shutdown.clone(),
        ));
        let admin_app = admin_router(Arc::clone(&shared));
        let stop = shutdown.clone();
        tasks.spawn(async move {
            if let Err(e) = axum::serve(admin, admin_app)
                .with_graceful_shutdown(stop.cancelled_owned())
                .await
            {
                tracing::error!(error = %e, "MES simulator admin endpoint failed");
            }
        });
        Ok(sim)
    }

    /// The base URL of its API.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Switches a fault on (or off with [`Fault::None`]).
    pub fn set_fault(&self, fault: Fault) {
        set_fault(&self.shared, fault);
    }

    /// The current fault.
    pub fn fault(&self) -> Fault {
        self.shared.lock().fault.clone()
    }

    /// Counts of what arrived.
    pub fn summary(&self) -> ReceivedSummary {
        summary(&self.shared.lock())
    }

    /// Every key kept, in the order it first arrived.
    pub fn keys(&self) -> Vec<String> {
        self.shared.lock().arrival.clone()
    }

    /// The body kept under `key`.
    pub fn body(&self, key: &str) -> Option<serde_json::Value> {
        self.shared.lock().received.get(key).map(|k| k.body.clone())
    }

    /// The requests answered (the last 10 000).
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.shared.lock().requests.iter().cloned().collect()
    }

    /// The orders as the MES holds them now.
    pub fn orders(&self) -> Vec<ProductionOrder> {
        self.shared.lock().orders.clone()
    }
}

fn set_fault(shared: &Shared, fault: Fault) {
    let down = fault == Fault::Down;
    shared.lock().fault = fault;
    shared.down.send_if_modified(|d| {
        let changed = *d != down;
        *d = down;
        changed
    });
}

fn summary(inner: &Inner) -> ReceivedSummary {
    let mut s = ReceivedSummary::default();
    for k in inner.received.values() {
        match k.kind {
            MessageKind::MachineData => s.machine_data += 1,
            MessageKind::QualityResult => s.quality_results += 1,
            MessageKind::OrderConfirmation => s.order_confirmations += 1,
        }
        s.duplicates += k.times - 1;
    }
    s
}

/// Serves the API while the simulator is up; while it is down the port is closed
/// (connections are refused) and open connections are closed.
async fn serve_api(
    first: TcpListener,
    addr: SocketAddr,
    app: Router,
    mut down: watch::Receiver<bool>,
    shutdown: CancellationToken,
) {
    let mut listener = Some(first);
    loop {
        if *down.borrow_and_update() {
            drop(listener.take());
            tokio::select! {
                _ = shutdown.cancelled() => return,
                changed = down.changed() => if changed.is_err() { return },
            }
            continue;
        }
        let l = match listener.take() {
            Some(l) => l,
            None => match TcpListener::bind(addr).await {
                Ok(l) => l,
                Err(e) => {
                    tracing::warn!(error = %e, %addr, "MES simulator cannot listen again yet");
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        _ = tokio::time::sleep(Duration::from_millis(100)) => continue,
                    }
                }
            },
        };
        let stop = shutdown.child_token();
        let mut watch_down = down.clone();
        let stop_on_down = stop.clone();
        let waiter = tokio::spawn(async move {
            loop {
                if *watch_down.borrow_and_update() {
                    stop_on_down.cancel();
                    return;
                }
                if watch_down.changed().await.is_err() {
                    return;
                }
            }
        });
        // No Nagle delay on answers: an MES answers as soon as it knows.
        let l = l.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        let served = axum::serve(l, app.clone())
            .with_graceful_shutdown(stop.clone().cancelled_owned())
            .await;
        waiter.abort();
        if let Err(e) = served {
            tracing::error!(error = %e, "MES simulator failed");
            return;
        }
        if shutdown.is_cancelled() {
            return;
        }
    }
}

/// Where [`Fault::Redirect`] sends every request.
const SSO_PATH: &str = "/sso/login";

async fn sso_login() -> axum::response::Html<&'static str> {
    axum::response::Html("<!doctype html><title>Sign in</title><form>Sign in</form>")
}

fn api_router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route(ORDERS_PATH, get(get_orders))
        .route(MessageKind::MachineData.path(), post(post_machine_data))
        .route(MessageKind::QualityResult.path(), post(post_quality_result))
        .route(
            MessageKind::OrderConfirmation.path(),
            post(post_order_confirmation),
        )
        .layer(from_fn_with_state(Arc::clone(&shared), faults_and_auth))
        // The sign-on page is the proxy's, outside the MES and its faults.
        .route(SSO_PATH, get(sso_login))
        .with_state(shared)
}

fn admin_router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/admin/fault", get(get_fault).put(put_fault))
        .route("/admin/received", get(get_received))
        .route("/admin/requests", get(get_requests))
        .with_state(shared)
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (
        status,
        Json(MesErrorBody {
            error: message.into(),
        }),
    )
        .into_response()
}

fn idempotency_key(headers: &HeaderMap) -> Option<String> {
    headers
        .get(IDEMPOTENCY_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// Applies the fault (except down) and checks the bearer token; logs the answer.
async fn faults_and_auth(State(shared): State<Arc<Shared>>, req: Request, next: Next) -> Response {
    let path = format!("{} {}", req.method(), req.uri().path());
    let key = idempotency_key(req.headers());
    let fault = shared.lock().fault.clone();
    if let Fault::Slow { delay_ms } = fault {
        tokio::time::sleep(Duration::from_millis(delay_ms)).await;
    }
    let bearer = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let response = match &fault {
        Fault::Error500 => error(StatusCode::INTERNAL_SERVER_ERROR, "MES internal error"),
        Fault::Throttle { retry_after_s } => {
            let mut r = error(StatusCode::TOO_MANY_REQUESTS, "too many requests");
            if let Ok(v) = retry_after_s.to_string().parse() {
                r.headers_mut().insert(header::RETRY_AFTER, v);
            }
            r
        }
        Fault::Unauthorized => error(StatusCode::UNAUTHORIZED, "token not accepted"),
        Fault::Redirect => {
            let mut r = StatusCode::FOUND.into_response();
            r.headers_mut()
                .insert(header::LOCATION, header::HeaderValue::from_static(SSO_PATH));
            r
        }
        _ if bearer != Some(shared.token.as_str()) => {
            error(StatusCode::UNAUTHORIZED, "token not accepted")
        }
        Fault::Reject { key: prefix }
            if key
                .as_deref()
                .is_some_and(|k| k.starts_with(prefix.as_str())) =>
        {
            error(
                StatusCode::BAD_REQUEST,
                format!(
                    "message {} refused: unknown material",
                    key.clone().unwrap_or_default()
                ),
            )
        }
        Fault::Fail { key: prefix }
            if key
                .as_deref()
                .is_some_and(|k| k.starts_with(prefix.as_str())) =>
        {
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "MES internal error for this message",
            )
        }
        _ => next.run(req).await,
    };
    let mut inner = shared.lock();
    if inner.requests.len() >= REQUEST_LOG {
        inner.requests.pop_front();
    }
    inner.requests.push_back(RequestRecord {
        at_ms: now_ms(),
        path,
        key,
        status: response.status().as_u16(),
    });
    response
}

async fn get_orders(State(shared): State<Arc<Shared>>) -> Json<ProductionSchedule> {
    Json(ProductionSchedule {
        production_orders: shared.lock().orders.clone(),
    })
}

/// Parses the body as `T` (400 naming what is wrong) and keeps it under its key.
fn keep<T: serde::de::DeserializeOwned + Serialize>(
    shared: &Shared,
    kind: MessageKind,
    headers: &HeaderMap,
    body: &[u8],
    apply: impl FnOnce(&mut Inner, &T),
) -> Response {
    let Some(key) = idempotency_key(headers).filter(|k| !k.is_empty() && k.len() <= 256) else {
        return error(StatusCode::BAD_REQUEST, "Idempotency-Key header missing");
    };
    let parsed: T = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("invalid {}: {e}", kind.as_str()),
            );
        }
    };
    let mut inner = shared.lock();
    if let Some(k) = inner.received.get_mut(&key) {
        k.times += 1;
        return (
            StatusCode::OK,
            Json(Receipt {
                status: "duplicate".into(),
            }),
        )
            .into_response();
    }
    apply(&mut inner, &parsed);
    let body = serde_json::to_value(&parsed).unwrap_or_default();
    inner.received.insert(
        key.clone(),
        Kept {
            kind,
            body,
            times: 1,
        },
    );
    inner.arrival.push(key);
    (
        StatusCode::CREATED,
        Json(Receipt {
            status: "accepted".into(),
        }),
    )
        .into_response()
}

async fn post_machine_data(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    keep::<MachineData>(
        &shared,
        MessageKind::MachineData,
        &headers,
        &body,
        |_, _| {},
    )
}

async fn post_quality_result(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    keep::<QualityResult>(
        &shared,
        MessageKind::QualityResult,
        &headers,
        &body,
        |_, _| {},
    )
}

async fn post_order_confirmation(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    keep::<OrderConfirmation>(
        &shared,
        MessageKind::OrderConfirmation,
        &headers,
        &body,
        |inner, c| {
            apply_confirmation(&mut inner.orders, c);
        },
    )
}

async fn get_fault(State(shared): State<Arc<Shared>>) -> Json<Fault> {
    Json(shared.lock().fault.clone())
}

async fn put_fault(State(shared): State<Arc<Shared>>, Json(fault): Json<Fault>) -> Json<Fault> {
    tracing::info!(?fault, "MES simulator fault switched");
    set_fault(&shared, fault.clone());
    Json(fault)
}

async fn get_received(State(shared): State<Arc<Shared>>) -> Json<ReceivedSummary> {
    Json(summary(&shared.lock()))
}

async fn get_requests(State(shared): State<Arc<Shared>>) -> Json<Vec<RequestRecord>> {
    Json(shared.lock().requests.iter().cloned().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_users_orders_are_seeded_with_generated_ones() {
        let orders = seed_orders(7, 1_764_583_200_000);
        let find = |id: &str| orders.iter().find(|o| o.id == id).expect("order");
        let a = find("98765");
        assert_eq!(
            (
                a.product_id.as_str(),
                a.product_name.as_str(),
                a.planned_quantity,
                a.state
            ),
            ("HC", "High Capacity Cell", 2000, OrderState::Running)
        );
        let b = find("98766");
        assert_eq!(
            (
                b.product_id.as_str(),
                b.product_name.as_str(),
                b.planned_quantity,
                b.state
            ),
            ("SC", "Standard Capacity Cell", 1500, OrderState::Released)
        );
        assert_eq!(orders.len(), 8);
        assert!(orders.iter().all(|o| o.check().is_ok()));
        assert_eq!(seed_orders(7, 1_764_583_200_000), orders, "a seed repeats");
    }

    #[test]
    fn a_completed_order_starts_the_next_one() {
        let mut orders = seed_orders(1, 0);
        let confirm = |id: &str, n: u64| OrderConfirmation {
            production_order: id.into(),
            produced_quantity: n,
            high_risk_quantity: 0,
            scrapped_quantity: 0,
            confirmed_at: jiff::Timestamp::UNIX_EPOCH,
        };
        assert!(apply_confirmation(&mut orders, &confirm("98765", 10)));
        assert!(!apply_confirmation(&mut orders, &confirm("nope", 10)));
        let state = |orders: &[ProductionOrder], id: &str| {
            orders.iter().find(|o| o.id == id).map(|o| o.state)
        };
        assert_eq!(state(&orders, "98765"), Some(OrderState::Running));
        apply_confirmation(&mut orders, &confirm("98765", 2000));
        assert_eq!(state(&orders, "98765"), Some(OrderState::Completed));
        assert_eq!(state(&orders, "98766"), Some(OrderState::Running));
        assert_eq!(state(&orders, "98767"), Some(OrderState::Released));
        // A late, smaller count never lowers what was confirmed.
        apply_confirmation(&mut orders, &confirm("98765", 5));
        let produced = orders
            .iter()
            .find(|o| o.id == "98765")
            .map(|o| o.produced_quantity);
        assert_eq!(produced, Some(2000));
    }

    #[test]
    fn faults_parse_from_the_command_line() {
        assert_eq!(Fault::parse("down"), Ok(Fault::Down));
        assert_eq!(Fault::parse("slow:250"), Ok(Fault::Slow { delay_ms: 250 }));
        assert_eq!(
            Fault::parse("throttle:3"),
            Ok(Fault::Throttle { retry_after_s: 3 })
        );
        assert_eq!(
            Fault::parse("reject:quality-result:"),
            Ok(Fault::Reject {
                key: "quality-result:".into()
            })
        );
        assert!(Fault::parse("slow").is_err());
        assert!(Fault::parse("reject").is_err());
        assert!(Fault::parse("explode").is_err());
        let json: Fault =
            serde_json::from_str(r#"{"fault":"throttle","retry_after_s":2}"#).expect("json");
        assert_eq!(json, Fault::Throttle { retry_after_s: 2 });
    }
}
