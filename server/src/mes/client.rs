//! The MES client: one task owns the HTTP connection to the MES. It fetches the
//! production orders at an interval (and on demand) and delivers the outbox in
//! order, one message at a time, with exponential back-off and jitter after a
//! passing fault, honouring Retry-After. While a message waits, nothing behind it
//! overtakes it; a message the MES refuses for good goes to the dead letters and
//! the queue moves on. Its state is published on a watch channel for the header,
//! the MES page and the metrics.
//!
//! What to do when is decided by the pure [`Delivery`](super::state::Delivery)
//! state machine; [`Client::run`] only does the HTTP and outbox work it asks for
//! and tells it what came of it.

use std::sync::Arc;
use std::time::Duration;

use app::mes::{MesLinkState, MesStatus, Order};
use rand::SeedableRng;
use rand::rngs::SmallRng;
use tokio::sync::{Notify, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::contract::{IDEMPOTENCY_HEADER, ORDERS_PATH, parse_retry_after, parse_schedule};
use super::orders::OrderStore;
use super::outbox::{Attempt, Due, Outbox, OutboxError, classify};
use super::settings::{MesSettings, Secret};
use super::state::{Delivery, Link, OrdersFailure, Record, Step, Timing, Verdict};
use crate::backoff::Backoff;
use crate::clock::{millis, now_ms};

/// Largest orders answer read.
const MAX_ORDERS_BYTES: usize = 8 * 1024 * 1024;
/// Bytes of an MES answer kept for the dead-letter list.
const ANSWER_BYTES: usize = 2048;

/// Where the MES is and how to talk to it.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// Base URL, without a trailing slash.
    pub base: String,
    /// Bearer token.
    pub token: Secret,
}

/// What the client's owner task works with.
pub struct Client {
    endpoint: Endpoint,
    cfg: MesSettings,
    http: reqwest::Client,
    outbox: Outbox,
    orders: OrderStore,
    status: watch::Sender<MesStatus>,
    wake: Arc<Notify>,
    refresh: Arc<Notify>,
}

/// Why the orders could not be fetched.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// No answer, or an answer that is not a success (with its Retry-After).
    #[error("{0}")]
    Link(String, Option<Duration>),
    /// The MES refused the token.
    #[error("{0}")]
    Unauthorized(String),
    /// The answer is not the contract's schedule.
    #[error("the MES sent orders CellGuard cannot read: {0}")]
    Contract(String),
    /// Storing them failed.
    #[error("storing the orders: {0}")]
    Store(#[from] super::orders::OrdersError),
}

/// The Retry-After of an answer, if it has a readable one.
fn retry_after(r: &reqwest::Response) -> Option<Duration> {
    r.headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_retry_after(v, jiff::Timestamp::now()))
}

/// Reads at most `cap` bytes of a body: the start of a longer one when `cut`, else
/// an error.
async fn read_body(r: &mut reqwest::Response, cap: usize, cut: bool) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    while let Some(chunk) = r.chunk().await.map_err(|e| e.to_string())? {
        let room = cap - out.len();
        if chunk.len() > room {
            if !cut {
                return Err(format!("the answer is larger than {cap} bytes"));
            }
            out.extend_from_slice(&chunk[..room]);
            return Ok(out);
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

impl Client {
    /// A client for `endpoint`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        endpoint: Endpoint,
        cfg: MesSettings,
        outbox: Outbox,
        orders: OrderStore,
        status: watch::Sender<MesStatus>,
        wake: Arc<Notify>,
        refresh: Arc<Notify>,
    ) -> Result<Self, reqwest::Error> {
        // Never follow a redirect: reqwest would turn the POST into a GET without its
        // body, and a sign-on page's 200 at the end would count as a delivery.
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(cfg.timeout)
            .connect_timeout(cfg.timeout.min(Duration::from_secs(5)))
            .pool_max_idle_per_host(2)
            .build()?;
        Ok(Self {
            endpoint,
            cfg,
            http,
            outbox,
            orders,
            status,
            wake,
            refresh,
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.endpoint.base.trim_end_matches('/'))
    }

    /// Fetches the orders once and stores them.
    pub async fn fetch_orders(&self) -> Result<Vec<Order>, FetchError> {
        let sent = self
            .http
            .get(self.url(ORDERS_PATH))
            .bearer_auth(self.endpoint.token.expose())
            .send()
            .await;
        let mut response = match sent {
            Ok(r) => r,
            Err(e) if e.is_timeout() => {
                return Err(FetchError::Link("MES did not answer in time".into(), None));
            }
            Err(e) => return Err(FetchError::Link(format!("MES unreachable: {e}"), None)),
        };
        let status = response.status();
        if matches!(status.as_u16(), 401 | 403) {
            return Err(FetchError::Unauthorized(format!(
                "MES refused CellGuard's token ({status}) when fetching orders"
            )));
        }
        if status.is_redirection() {
            return Err(FetchError::Link(
                format!(
                    "MES answered {status} when fetching orders, redirecting to {}: \
                     CellGuard does not follow redirects (check [mes] url)",
                    location(&response)
                ),
                None,
            ));
        }
        if !status.is_success() {
            return Err(FetchError::Link(
                format!("MES answered {status} when fetching orders"),
                retry_after(&response),
            ));
        }
        let bytes = read_body(&mut response, MAX_ORDERS_BYTES, false)
            .await
            .map_err(|e| FetchError::Link(format!("reading the orders: {e}"), None))?;
        let (orders, skipped) = parse_schedule(&bytes).map_err(FetchError::Contract)?;
        for e in skipped {
            tracing::warn!(error = %e, "skipping an order the MES sent");
        }
        self.orders.replace(&orders, now_ms()).await?;
        Ok(orders)
    }

    /// Sends one message and says what came of it (a redirect's body is its
    /// Location).
    pub async fn send(&self, msg: &Due) -> Attempt {
        let sent = self
            .http
            .post(self.url(msg.kind.path()))
            .bearer_auth(self.endpoint.token.expose())
            .header(IDEMPOTENCY_HEADER, &msg.key)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(msg.body.clone())
            .send()
            .await;
        match sent {
            Err(e) if e.is_timeout() => Attempt::TimedOut,
            Err(e) if e.is_builder() => Attempt::Unsendable(e.to_string()),
            Err(e) => Attempt::Unreachable(e.to_string()),
            Ok(mut r) => {
                let status = r.status().as_u16();
                let retry_after = retry_after(&r);
                let body = if (200..300).contains(&status) {
                    String::new()
                } else if (300..400).contains(&status) {
                    location(&r)
                } else {
                    // Only the start of an answer is kept: never read a huge one.
                    let b = read_body(&mut r, ANSWER_BYTES, true)
                        .await
                        .unwrap_or_default();
                    String::from_utf8_lossy(&b).into_owned()
                };
                Attempt::Answered {
                    status,
                    retry_after,
                    body,
                }
            }
        }
    }

    /// Publishes a link state; logs only changes (never a storm of the same line).
    fn set_link(&self, Link { state, error }: Link) {
        let now = now_ms();
        self.status.send_if_modified(|s| {
            if s.state == state && s.error == error {
                return false;
            }
            if s.state != state {
                match state {
                    MesLinkState::Up => tracing::info!("MES reachable"),
                    MesLinkState::Down => tracing::warn!(
                        error = error.as_deref().unwrap_or(""),
                        "MES unreachable; messages wait in the outbox"
                    ),
                    MesLinkState::Unauthorized => tracing::error!(
                        error = error.as_deref().unwrap_or(""),
                        "the MES refuses CellGuard's token: set [mes] token in the plant file or \
                         CELLGUARD_MES_TOKEN; messages wait in the outbox"
                    ),
                    MesLinkState::Connecting | MesLinkState::Disabled => {}
                }
                s.since_ms = now;
            }
            s.state = state;
            s.error = error;
            true
        });
    }

    async fn publish_counts(&self, delivered: u64) {
        let depth = match self.outbox.depth().await {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(error = %e, "cannot count the MES outbox");
                return;
            }
        };
        let fetched = self.orders.fetched_ms().await.ok().flatten();
        self.status.send_if_modified(|s| {
            let changed = s.queued != depth.pending
                || s.dead != depth.dead
                || s.oldest_ms != depth.oldest_ms
                || s.orders_fetched_ms != fetched
                || s.delivered != delivered;
            s.queued = depth.pending;
            s.dead = depth.dead;
            s.oldest_ms = depth.oldest_ms;
            s.orders_fetched_ms = fetched;
            s.delivered = delivered;
            changed
        });
    }

    /// Writes to the outbox what came of sending `due`, logging what people
    /// need to know; says whether it was stored.
    async fn record(&self, due: &Due, status: Option<u16>, verdict: Verdict) -> bool {
        match &verdict.record {
            Record::Dead { reason } => {
                tracing::warn!(key = %due.key, kind = due.kind.as_str(), %reason, "MES refused a message; it is a dead letter now");
            }
            Record::Failed { reason, retry_in } if verdict.link.state == MesLinkState::Down => {
                tracing::debug!(key = %due.key, %reason, wait_ms = retry_in.as_millis() as u64, "MES delivery failed; retrying");
            }
            Record::Delivered | Record::Failed { .. } | Record::Held { .. } => {}
        }
        self.set_link(verdict.link);
        let stored = match verdict.record {
            Record::Delivered => {
                self.outbox
                    .delivered(due.id, status.unwrap_or(200), now_ms())
                    .await
            }
            Record::Dead { reason } => self.outbox.dead(due.id, status, &reason, now_ms()).await,
            Record::Held { reason } => self.hold(due, status, &reason).await,
            Record::Failed { reason, .. } => {
                // The message stays at the head and goes again either way.
                if let Err(e) = self.outbox.failed(due.id, status, &reason, None).await {
                    tracing::error!(error = %e, "cannot record a delivery attempt");
                }
                return true;
            }
        };
        if let Err(e) = stored {
            // Sent but not recorded: the next attempt resends it under the same
            // key, which the MES recognises.
            tracing::error!(error = %e, key = %due.key, "cannot record a delivery");
            return false;
        }
        true
    }

    /// Holds a message the MES answered with a passing error (its entity waits,
    /// the others go on), or, past `[mes] max_attempts` or `max_age_hours`, makes
    /// it a dead letter with the MES's last answer.
    async fn hold(&self, due: &Due, status: Option<u16>, reason: &str) -> Result<(), OutboxError> {
        let now = now_ms();
        let attempts = due.attempts.saturating_add(1);
        let age_ms = now.saturating_sub(due.created_ms);
        if attempts >= self.cfg.max_attempts || age_ms >= millis(self.cfg.max_age) {
            let reason = format!(
                "gave up after {attempts} attempt(s) over {}: {reason}",
                app::fmt::format_age(age_ms)
            );
            tracing::warn!(key = %due.key, kind = due.kind.as_str(), %reason,
                "the MES keeps failing a message; it is a dead letter now");
            return self.outbox.dead(due.id, status, &reason, now).await;
        }
        // The retry delay doubling per attempt of this message, at most retry_max.
        let wait = Backoff::ceiling_after(self.cfg.retry_min, self.cfg.retry_max, due.attempts);
        tracing::info!(key = %due.key, %reason, wait_ms = wait.as_millis() as u64,
            "the MES failed a message; its entity waits, the others go on");
        let until = now.saturating_add(millis(wait));
        self.outbox
            .failed(due.id, status, reason, Some(until))
            .await
    }

    /// Sends the head of the outbox and tells `delivery` what came of it.
    async fn deliver_head(&self, delivery: &mut Delivery, shutdown: &CancellationToken) {
        let now = now_ms();
        let due = match self.outbox.head(now).await {
            Ok(Some(d)) => d,
            Ok(None) => {
                return match self.outbox.next_hold(now).await {
                    Ok(Some(at)) => {
                        let wait = u64::try_from(at.saturating_sub(now)).unwrap_or(0);
                        delivery.queue_held(clock() + Duration::from_millis(wait));
                    }
                    Ok(None) => delivery.queue_empty(),
                    Err(e) => {
                        tracing::error!(error = %e, "cannot read the MES outbox");
                        delivery.store_failed(clock());
                    }
                };
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot read the MES outbox");
                return delivery.store_failed(clock());
            }
        };
        // Shutdown does not wait for a slow MES: the message stays queued and goes
        // again at the next start, under the same key.
        let attempt = tokio::select! {
            _ = shutdown.cancelled() => return delivery.shut_down(),
            a = self.send(&due) => a,
        };
        let status = match &attempt {
            Attempt::Answered { status, .. } => Some(*status),
            _ => None,
        };
        let verdict = delivery.attempted(clock(), classify(&attempt));
        if !self.record(&due, status, verdict).await {
            delivery.store_failed(clock());
        }
    }

    /// Fetches the orders and tells `delivery` what came of it.
    async fn refresh_orders(&self, delivery: &mut Delivery, shutdown: &CancellationToken) {
        let fetched = tokio::select! {
            _ = shutdown.cancelled() => return delivery.shut_down(),
            f = self.fetch_orders() => f,
        };
        let link = match fetched {
            Ok(orders) => {
                tracing::debug!(orders = orders.len(), "orders fetched");
                delivery.orders_fetched(clock())
            }
            Err(e) => {
                if matches!(e, FetchError::Contract(_) | FetchError::Store(_)) {
                    tracing::warn!(error = %e, "orders not updated");
                }
                delivery.orders_failed(clock(), e.into())
            }
        };
        if let Some(link) = link {
            self.set_link(link);
        }
    }

    async fn prune(&self, keep_ms: i64) {
        match self
            .outbox
            .prune_delivered(now_ms().saturating_sub(keep_ms))
            .await
        {
            Ok(0) => {}
            Ok(n) => tracing::debug!(messages = n, "old delivered MES messages dropped"),
            Err(e) => tracing::warn!(error = %e, "cannot prune the MES outbox"),
        }
    }

    /// Runs until shutdown: does what the [`Delivery`] state machine says and
    /// tells it what came of it.
    pub async fn run(self, shutdown: CancellationToken) {
        let timing = Timing {
            retry_min: self.cfg.retry_min,
            retry_max: self.cfg.retry_max,
            orders_every: self.cfg.orders_interval,
        };
        let keep_ms = millis(self.cfg.keep_delivered);
        let rng = SmallRng::from_rng(&mut rand::rng());
        let mut delivery = Delivery::new(timing, clock(), rng);
        loop {
            if shutdown.is_cancelled() {
                delivery.shut_down();
            }
            match delivery.poll(clock()) {
                Step::Stop => return,
                Step::FetchOrders => self.refresh_orders(&mut delivery, &shutdown).await,
                Step::Deliver => self.deliver_head(&mut delivery, &shutdown).await,
                Step::PublishCounts { delivered } => self.publish_counts(delivered).await,
                Step::Prune => self.prune(keep_ms).await,
                // More to send right away: let other tasks run, then go on.
                Step::Yield => tokio::task::yield_now().await,
                Step::Sleep(until) => tokio::select! {
                    _ = shutdown.cancelled() => delivery.shut_down(),
                    _ = tokio::time::sleep_until(until.into()) => {}
                    // New messages: sent at once unless a back-off is running.
                    _ = self.wake.notified() => delivery.queued(clock()),
                    // On demand, but never more often than MIN_ORDERS_GAP.
                    _ = self.refresh.notified() => delivery.refresh_asked(clock()),
                },
            }
        }
    }
}

/// The loop's clock (tokio's, so a paused test clock drives it too).
fn clock() -> std::time::Instant {
    Instant::now().into_std()
}

impl From<FetchError> for OrdersFailure {
    fn from(e: FetchError) -> Self {
        match e {
            FetchError::Link(error, retry_after) => OrdersFailure::Link { error, retry_after },
            FetchError::Unauthorized(error) => OrdersFailure::Unauthorized(error),
            // The MES answers, but not in the contract's words: the page says why.
            FetchError::Contract(_) => OrdersFailure::Unreadable(e.to_string()),
            FetchError::Store(_) => OrdersFailure::Store,
        }
    }
}

/// A redirect's Location, for the person who fixes the URL.
fn location(r: &reqwest::Response) -> String {
    r.headers()
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .map_or_else(
            || "no Location".to_owned(),
            |l| l.chars().take(200).collect(),
        )
}
