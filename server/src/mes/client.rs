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

use super::contract::{IDEMPOTENCY_HEADER, ORDERS_PATH, ProductionSchedule};
use super::orders::OrderStore;
use super::outbox::{Attempt, Disposition, Due, Outbox, classify, parse_retry_after};
use crate::backoff::Backoff;
use crate::bus::now_ms;
use crate::config::{MesConfig, Secret};

/// Messages delivered in one go before the task looks at its other duties.
const BURST: usize = 256;
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
    /// No answer, or an answer that is not a success.
    #[error("{0}")]
    Link(String),
    /// The MES refused the token.
    #[error("{0}")]
    Unauthorized(String),
    /// The answer is not the contract's schedule.
    #[error("the MES sent orders CellGuard cannot read: {0}")]
    Contract(String),
    /// Storing them failed.
    #[error("storing the orders: {0}")]
    Store(#[from] crate::storage::StoreError),
}

/// Most orders taken from one answer (a schedule, not a history).
pub const MAX_ORDERS: usize = 10_000;

/// Reads the MES's answer to the orders request: the orders CellGuard can use, and
/// why each other one was skipped. A body that is not the contract's schedule is
/// refused as a whole.
pub fn parse_schedule(body: &[u8]) -> Result<(Vec<Order>, Vec<String>), String> {
    let schedule: ProductionSchedule = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    if schedule.production_orders.len() > MAX_ORDERS {
        return Err(format!(
            "{} orders in one answer (at most {MAX_ORDERS})",
            schedule.production_orders.len()
        ));
    }
    let mut orders: Vec<Order> = Vec::with_capacity(schedule.production_orders.len());
    let mut skipped = Vec::new();
    for o in &schedule.production_orders {
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
        let response = match sent {
            Ok(r) => r,
            Err(e) if e.is_timeout() => {
                return Err(FetchError::Link("MES did not answer in time".into()));
            }
            Err(e) => return Err(FetchError::Link(format!("MES unreachable: {e}"))),
        };
        let status = response.status();
        if matches!(status.as_u16(), 401 | 403) {
            return Err(FetchError::Unauthorized(format!(
                "MES refused CellGuard's token ({status}) when fetching orders"
            )));
        }
        if !status.is_success() {
            return Err(FetchError::Link(format!(
                "MES answered {status} when fetching orders"
            )));
        }
        let bytes = response
            .bytes()
            .await
            .map_err(|e| FetchError::Link(format!("reading the orders: {e}")))?;
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
            Err(e) => Attempt::Unreachable(e.to_string()),
            Ok(r) => {
                let status = r.status().as_u16();
                let retry_after = r
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| parse_retry_after(v, jiff::Timestamp::now()));
                let body = if (200..300).contains(&status) {
                    String::new()
                } else {
                    match r.bytes().await {
                        Ok(b) => {
                            String::from_utf8_lossy(&b[..b.len().min(ANSWER_BYTES)]).into_owned()
                        }
                        Err(_) => String::new(),
                    }
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
        loop {
            let now = Instant::now();
            if now >= next_orders {
                let fetched = tokio::select! {
                    _ = shutdown.cancelled() => return,
                    f = self.fetch_orders() => f,
                };
                match fetched {
                    Ok(orders) => {
                        tracing::debug!(orders = orders.len(), "orders fetched");
                        orders_backoff.reset();
                        next_orders = Instant::now() + orders_every;
                        self.set_link(MesLinkState::Up, None);
                        // The MES is back: whatever waits goes now (unless it asked
                        // us to wait).
                        if backoff.failures() > 0 {
                            backoff.reset();
                            next_delivery = Instant::now();
                            more = true;
                        }
                    }
                    Err(e) => {
                        let wait = orders_backoff.next_delay(&mut rng).min(orders_every);
                        next_orders = Instant::now() + wait;
                        match e {
                            FetchError::Unauthorized(m) => {
                                self.set_link(MesLinkState::Unauthorized, Some(m));
                            }
                            FetchError::Link(m) => self.set_link(MesLinkState::Down, Some(m)),
                            other => {
                                tracing::warn!(error = %other, "orders not updated");
                                next_orders = Instant::now() + orders_every;
                            }
                        }
                    }
                }
            }
            let now = Instant::now();
            if more && now >= next_delivery && now >= not_before {
                more = false;
                for _ in 0..BURST {
                    if shutdown.is_cancelled() {
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
                            self.set_link(MesLinkState::Up, None);
                            more = true;
                            self.outbox.dead(due.id, status, &reason, now_ms()).await
                        }
                        Disposition::Retry {
                            reason,
                            retry_after,
                        } => {
                            // Counted either way; the MES's Retry-After, if any, is the wait.
                            let wait = backoff.next_delay(&mut rng);
                            let wait = retry_after.unwrap_or(wait);
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
                _ = self.refresh.notified() => next_orders = Instant::now(),
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
}
