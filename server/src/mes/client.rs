//! The MES client: one task owns the HTTP connection to the MES. It fetches the
//! production orders at an interval (and on demand) and delivers the outbox in
//! order, one message at a time, with exponential back-off and jitter after a
//! passing fault, honouring Retry-After. While a message waits, nothing behind it
//! overtakes it; a message the MES refuses for good goes to the dead letters and
//! the queue moves on. Its state is published on a watch channel for the header,
//! the MES page and the metrics.

use std::sync::Arc;
use std::time::Duration;

use app::mes::{MesLinkState, MesStatus, Order};
use rand::SeedableRng;
use rand::rngs::SmallRng;
use tokio::sync::{Notify, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::contract::{IDEMPOTENCY_HEADER, ORDERS_PATH, ProductionOrder};
use super::orders::OrderStore;
use super::outbox::{Attempt, Disposition, Due, Outbox, classify, parse_retry_after};
use crate::backoff::Backoff;
use crate::bus::now_ms;
use crate::config::{MesConfig, Secret};

/// Messages delivered in one go before the task looks at its other duties …
const BURST: usize = 256;
/// … or this long, whichever comes first.
const BURST_TIME: Duration = Duration::from_secs(2);
/// Shortest time between two fetches of the orders (however often people ask).
const MIN_ORDERS_GAP: Duration = Duration::from_secs(2);
/// Largest orders answer read.
const MAX_ORDERS_BYTES: usize = 8 * 1024 * 1024;
/// How often the queue counts are refreshed for the header.
const STATUS_EVERY: Duration = Duration::from_secs(1);
/// How often delivered messages past their keeping time are dropped.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);
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
    cfg: MesConfig,
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

/// How long to wait after a passing fault: the back-off's delay, or the MES's
/// Retry-After when it asks for longer (a Retry-After of 0 never means "at once,
/// again and again").
pub fn retry_wait(backoff: Duration, retry_after: Option<Duration>) -> Duration {
    retry_after.map_or(backoff, |r| r.max(backoff))
}

/// Most orders taken from one answer (a schedule, not a history).
pub const MAX_ORDERS: usize = 10_000;

/// Reads the MES's answer to the orders request: the orders CellGuard can use, and
/// why each other one was skipped. A body that is not the contract's schedule is
/// refused as a whole.
pub fn parse_schedule(body: &[u8]) -> Result<(Vec<Order>, Vec<String>), String> {
    /// The schedule with each order still unread: one order CellGuard cannot read
    /// (a state it does not know) is skipped, not the whole schedule.
    #[derive(serde::Deserialize)]
    struct Loose {
        production_orders: Vec<serde_json::Value>,
    }
    let schedule: Loose = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    if schedule.production_orders.len() > MAX_ORDERS {
        return Err(format!(
            "{} orders in one answer (at most {MAX_ORDERS})",
            schedule.production_orders.len()
        ));
    }
    let mut orders: Vec<Order> = Vec::with_capacity(schedule.production_orders.len());
    let mut skipped = Vec::new();
    for (i, value) in schedule.production_orders.into_iter().enumerate() {
        let o: ProductionOrder = match serde_json::from_value(value) {
            Ok(o) => o,
            Err(e) => {
                skipped.push(format!("order [{i}] cannot be read: {e}"));
                continue;
            }
        };
        match o.check() {
            Ok(()) if orders.iter().any(|k| k.id == o.id) => {
                skipped.push(format!("order {} is listed twice; the first is kept", o.id));
            }
            Ok(()) => orders.push(o.to_order()),
            Err(e) => skipped.push(e),
        }
    }
    Ok((orders, skipped))
}

impl Client {
    /// A client for `endpoint`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        endpoint: Endpoint,
        cfg: MesConfig,
        outbox: Outbox,
        orders: OrderStore,
        status: watch::Sender<MesStatus>,
        wake: Arc<Notify>,
        refresh: Arc<Notify>,
    ) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_millis(cfg.timeout_ms))
            .connect_timeout(Duration::from_millis(cfg.timeout_ms.min(5_000)))
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

    /// Sends one message and says what came of it.
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
    fn set_link(&self, state: MesLinkState, error: Option<String>) {
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

    /// Runs until shutdown.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut rng = SmallRng::from_rng(&mut rand::rng());
        let min = Duration::from_millis(self.cfg.retry_min_ms);
        let max = Duration::from_millis(self.cfg.retry_max_ms);
        let orders_every = Duration::from_secs_f64(self.cfg.orders_interval_s);
        let keep_ms = i64::from(self.cfg.keep_delivered_days) * 86_400_000;
        let mut backoff = Backoff::new(min, max);
        let mut orders_backoff = Backoff::new(min, max);
        let mut next_orders = Instant::now();
        let mut next_delivery = Instant::now();
        // A Retry-After the MES asked for: nothing is sent before it.
        let mut not_before = Instant::now();
        let mut next_status = Instant::now();
        let mut next_prune = Instant::now();
        let mut delivered: u64 = 0;
        // Set when a delivery round stopped with messages left (more to send at once).
        let mut more = true;
        // The MES refused the token for the last message: an orders fetch that works
        // (a GET may be allowed where a POST is not) does not make the link good.
        let mut token_refused = false;
        let mut last_orders = Instant::now();
        loop {
            let now = Instant::now();
            if now >= next_orders {
                last_orders = now;
                let fetched = tokio::select! {
                    _ = shutdown.cancelled() => return,
                    f = self.fetch_orders() => f,
                };
                match fetched {
                    Ok(orders) => {
                        tracing::debug!(orders = orders.len(), "orders fetched");
                        orders_backoff.reset();
                        next_orders = Instant::now() + orders_every;
                        // The MES is back: whatever waits goes now (unless it asked
                        // us to wait).
                        if !token_refused {
                            self.set_link(MesLinkState::Up, None);
                            if backoff.failures() > 0 {
                                backoff.reset();
                                next_delivery = Instant::now();
                                more = true;
                            }
                        }
                    }
                    Err(e) => {
                        let delay = orders_backoff.next_delay(&mut rng);
                        next_orders = Instant::now() + delay.min(orders_every);
                        match e {
                            FetchError::Unauthorized(m) => {
                                self.set_link(MesLinkState::Unauthorized, Some(m));
                            }
                            FetchError::Link(m, retry_after) => {
                                if let Some(r) = retry_after {
                                    next_orders = Instant::now() + retry_wait(delay, Some(r));
                                }
                                self.set_link(MesLinkState::Down, Some(m));
                            }
                            FetchError::Contract(_) => {
                                // The MES answers, but not in the contract's words:
                                // the orders shown go stale, and the page says why.
                                tracing::warn!(error = %e, "orders not updated");
                                next_orders = Instant::now() + orders_every;
                                self.set_link(MesLinkState::Down, Some(e.to_string()));
                            }
                            FetchError::Store(_) => {
                                tracing::warn!(error = %e, "orders not updated");
                                next_orders = Instant::now() + orders_every;
                            }
                        }
                    }
                }
            }
            let now = Instant::now();
            if more && now >= next_delivery && now >= not_before {
                more = false;
                let burst = Instant::now();
                for _ in 0..BURST {
                    if shutdown.is_cancelled() {
                        break;
                    }
                    if burst.elapsed() > BURST_TIME {
                        more = true;
                        break;
                    }
                    let due = match self.outbox.head().await {
                        Ok(Some(d)) => d,
                        Ok(None) => break,
                        Err(e) => {
                            tracing::error!(error = %e, "cannot read the MES outbox");
                            next_delivery = Instant::now() + min;
                            more = true;
                            break;
                        }
                    };
                    // Shutdown does not wait for a slow MES: the message stays queued
                    // and goes again at the next start, under the same key.
                    let attempt = tokio::select! {
                        _ = shutdown.cancelled() => break,
                        a = self.send(&due) => a,
                    };
                    let status = match &attempt {
                        Attempt::Answered { status, .. } => Some(*status),
                        _ => None,
                    };
                    let stored = match classify(&attempt) {
                        Disposition::Delivered => {
                            backoff.reset();
                            token_refused = false;
                            delivered += 1;
                            self.set_link(MesLinkState::Up, None);
                            more = true;
                            self.outbox
                                .delivered(due.id, status.unwrap_or(200), now_ms())
                                .await
                        }
                        Disposition::Refused { reason } => {
                            tracing::warn!(key = %due.key, kind = due.kind.as_str(), %reason, "MES refused a message; it is a dead letter now");
                            backoff.reset();
                            token_refused = false;
                            self.set_link(MesLinkState::Up, None);
                            more = true;
                            self.outbox.dead(due.id, status, &reason, now_ms()).await
                        }
                        Disposition::Retry {
                            reason,
                            retry_after,
                        } => {
                            let wait = retry_wait(backoff.next_delay(&mut rng), retry_after);
                            if let Some(ra) = retry_after {
                                not_before = Instant::now() + ra;
                            }
                            next_delivery = Instant::now() + wait;
                            more = true;
                            tracing::debug!(key = %due.key, %reason, wait_ms = wait.as_millis() as u64, "MES delivery failed; retrying");
                            self.set_link(MesLinkState::Down, Some(reason.clone()));
                            let r = self.outbox.failed(due.id, status, &reason).await;
                            if let Err(e) = r {
                                tracing::error!(error = %e, "cannot record a delivery attempt");
                            }
                            break;
                        }
                        Disposition::Unauthorized { reason } => {
                            token_refused = true;
                            let wait = backoff.next_delay(&mut rng);
                            next_delivery = Instant::now() + wait;
                            more = true;
                            self.set_link(MesLinkState::Unauthorized, Some(reason.clone()));
                            let r = self.outbox.failed(due.id, status, &reason).await;
                            if let Err(e) = r {
                                tracing::error!(error = %e, "cannot record a delivery attempt");
                            }
                            break;
                        }
                    };
                    if let Err(e) = stored {
                        // Sent but not recorded: the next attempt resends it under the
                        // same key, which the MES recognises.
                        tracing::error!(error = %e, key = %due.key, "cannot record a delivery");
                        next_delivery = Instant::now() + min;
                        more = true;
                        break;
                    }
                }
                self.publish_counts(delivered).await;
                next_status = Instant::now() + STATUS_EVERY;
            }
            if Instant::now() >= next_status {
                self.publish_counts(delivered).await;
                next_status = Instant::now() + STATUS_EVERY;
            }
            if Instant::now() >= next_prune {
                match self.outbox.prune_delivered(now_ms() - keep_ms).await {
                    Ok(0) => {}
                    Ok(n) => tracing::debug!(messages = n, "old delivered MES messages dropped"),
                    Err(e) => tracing::warn!(error = %e, "cannot prune the MES outbox"),
                }
                next_prune = Instant::now() + PRUNE_EVERY;
            }
            let mut until = next_orders.min(next_status).min(next_prune);
            if more {
                until = until.min(next_delivery.max(not_before));
            }
            if more && until <= Instant::now() {
                // More to send right away: let other tasks run, then go on.
                tokio::task::yield_now().await;
                if shutdown.is_cancelled() {
                    return;
                }
                continue;
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep_until(until) => {}
                _ = self.wake.notified() => {
                    // New messages: sent at once unless a back-off is running.
                    more = true;
                    if backoff.failures() == 0 {
                        next_delivery = next_delivery.min(Instant::now());
                    }
                }
                // On demand, but never more often than MIN_ORDERS_GAP.
                _ = self.refresh.notified() => {
                    next_orders = next_orders.min((last_orders + MIN_ORDERS_GAP).max(Instant::now()));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_schedule_keeps_usable_orders_and_says_why_others_were_skipped() {
        let body = br#"{"production_orders":[
            {"id":"98765","product_id":"HC","planned_quantity":2000,"state":"running"},
            {"id":"bad id","product_id":"HC","planned_quantity":1,"state":"planned"},
            {"id":"98765","product_id":"SC","planned_quantity":5,"state":"planned"}]}"#;
        let (orders, skipped) = parse_schedule(body).expect("schedule");
        assert_eq!(orders.len(), 1);
        assert_eq!(orders[0].product, "HC");
        assert_eq!(skipped.len(), 2, "{skipped:?}");
        assert!(parse_schedule(b"{\"orders\":[]}").is_err());
        assert!(parse_schedule(b"not json").is_err());
    }

    #[test]
    fn a_retry_after_of_zero_never_means_at_once() {
        let b = Duration::from_millis(400);
        assert_eq!(retry_wait(b, Some(Duration::ZERO)), b);
        assert_eq!(retry_wait(b, None), b);
        assert_eq!(
            retry_wait(b, Some(Duration::from_secs(5))),
            Duration::from_secs(5)
        );
    }

    #[test]
    fn one_unreadable_order_is_skipped_not_the_schedule() {
        let body = br#"{"production_orders":[
            {"id":"1","product_id":"HC","planned_quantity":5,"state":"dancing"},
            {"id":"2","product_id":"SC","planned_quantity":5,"state":"released"}]}"#;
        let (orders, skipped) = parse_schedule(body).expect("schedule");
        assert_eq!(orders.len(), 1);
        assert_eq!(orders[0].id, "2");
        assert!(skipped[0].contains("[0]"), "{skipped:?}");
    }
}
