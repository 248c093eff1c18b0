//! The MES delivery loop's rules, without its I/O: a state machine that decides
//! what the MES client does next, driven by what came of the last thing it did.
//! It reads no clock (every call is given `now`), sends nothing and stores
//! nothing; the client's task executes its [`Step`]s and feeds the results back.
//!
//! The rules it keeps:
//! - One pass at a time, in this order: fetch the orders when due, deliver a
//!   burst of messages when due, refresh the queue counts, prune old deliveries,
//!   then wait (or only yield when more is due at once).
//! - Messages go one at a time, in order per entity (a cell's results, a
//!   machine's data, an order's confirmations): the head is the oldest message
//!   whose entity has nothing older waiting. A message the MES answers with a
//!   passing error (408, 5xx) is held with its entity while the others go on;
//!   [`HOLDS_BEFORE_BACKOFF`] held in a row mean the MES is failing, and the whole
//!   queue backs off. A fault of the link (no answer, 429, a Retry-After) holds
//!   everything: while the queue waits for its retry, nothing is sent.
//! - A burst sends at most [`BURST`] messages or lasts at most [`BURST_TIME`], so
//!   the orders and the counts are never starved by a long backlog.
//! - A passing fault waits an exponential back-off with jitter, or the MES's
//!   Retry-After when it asks for longer; no retry is ever immediate (a
//!   Retry-After of 0 still waits the back-off), and nothing is sent before a
//!   Retry-After has passed.
//! - A delivery (or a refusal for good, which makes a dead letter and moves on)
//!   resets the back-off; so does a successful orders fetch, which also sends
//!   what waits at once, unless the MES refused the token for messages (a GET
//!   may be allowed where a POST is not).
//! - Orders are fetched every `orders_every`, sooner on request but never more
//!   often than [`MIN_ORDERS_GAP`]; a failed fetch backs off on its own back-off,
//!   never waiting longer than the usual interval unless the MES said so.
//! - New messages are sent at once, unless a back-off is running.
//! - After shutdown the only step is [`Step::Stop`]: a message being sent stays
//!   queued and goes again at the next start, under the same key.

use std::time::{Duration, Instant};

use app::mes::MesLinkState;
use rand::rngs::SmallRng;

use super::outbox::Disposition;
use crate::backoff::Backoff;

/// Messages delivered in one go before the task looks at its other duties …
pub const BURST: usize = 256;
/// … or this long, whichever comes first.
pub const BURST_TIME: Duration = Duration::from_secs(2);
/// Shortest time between two fetches of the orders (however often people ask).
pub const MIN_ORDERS_GAP: Duration = Duration::from_secs(2);
/// Messages held in a row after which the whole queue backs off (the MES, not one
/// message, is failing).
pub const HOLDS_BEFORE_BACKOFF: u32 = 3;
/// How often the queue counts are refreshed for the header.
pub const STATUS_EVERY: Duration = Duration::from_secs(1);
/// How often delivered messages past their keeping time are dropped.
pub const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// How long to wait after a passing fault: the back-off's delay, or the MES's
/// Retry-After when it asks for longer (a Retry-After of 0 never means "at once,
/// again and again").
pub fn retry_wait(backoff: Duration, retry_after: Option<Duration>) -> Duration {
    retry_after.map_or(backoff, |r| r.max(backoff))
}

/// The delivery loop's intervals (from `[mes]` in the plant file).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// First back-off delay.
    pub retry_min: Duration,
    /// Longest back-off delay.
    pub retry_max: Duration,
    /// How often the orders are fetched.
    pub orders_every: Duration,
}

/// A link state to publish, with the error people see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// The state.
    pub state: MesLinkState,
    /// Why it is not up.
    pub error: Option<String>,
}

impl Link {
    fn up() -> Self {
        Self {
            state: MesLinkState::Up,
            error: None,
        }
    }

    fn not_up(state: MesLinkState, error: String) -> Self {
        Self {
            state,
            error: Some(error),
        }
    }
}

/// What the task does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Fetch the orders; answer with [`Delivery::orders_fetched`] or
    /// [`Delivery::orders_failed`].
    FetchOrders,
    /// Send the head of the outbox; answer with [`Delivery::queue_empty`],
    /// [`Delivery::attempted`] or [`Delivery::store_failed`].
    Deliver,
    /// Publish the outbox counts, with this many delivered since the start.
    PublishCounts {
        /// Messages delivered since the start.
        delivered: u64,
    },
    /// Drop delivered messages past their keeping time.
    Prune,
    /// More is due at once: let other tasks run, then ask again.
    Yield,
    /// Nothing is due before this; sleep until then, or until woken
    /// ([`Delivery::queued`], [`Delivery::refresh_asked`]).
    Sleep(Instant),
    /// Shut down: return.
    Stop,
}

/// Why the orders could not be fetched, as far as the schedule cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrdersFailure {
    /// No answer, or an answer that is not a success (with its Retry-After).
    Link {
        /// Why, for people.
        error: String,
        /// The MES's Retry-After.
        retry_after: Option<Duration>,
    },
    /// The MES refused the token.
    Unauthorized(String),
    /// The MES answered, but not in the contract's words.
    Unreadable(String),
    /// The orders could not be stored (the MES is fine).
    Store,
}

/// What to write to the outbox about the message just sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// The MES accepted it.
    Delivered,
    /// The MES refused it for good: a dead letter.
    Dead {
        /// The status and the MES's answer.
        reason: String,
    },
    /// The MES answered this message with a passing error: the message (and its
    /// entity's later ones) waits `for` while the others go on.
    Held {
        /// Why.
        reason: String,
    },
    /// A failed attempt; the message stays at the head of the queue.
    Failed {
        /// Why.
        reason: String,
        /// When it goes again.
        retry_in: Duration,
    },
}

/// What came of a delivery attempt: the link to publish and what to store, in
/// that order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// The link state the attempt shows.
    pub link: Link,
    /// What to write to the outbox.
    pub record: Record,
}

/// Where the current pass is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Orders,
    Deliver,
    Status,
    Prune,
    Rest,
}

/// A burst of deliveries under way.
#[derive(Debug, Clone, Copy)]
struct Burst {
    started: Instant,
    sent: usize,
    /// Stopped by what came of the last message (a retry, an empty queue).
    over: bool,
}

/// The delivery loop's state: its schedule, its back-offs and where it is.
#[derive(Debug)]
pub struct Delivery {
    timing: Timing,
    rng: SmallRng,
    backoff: Backoff,
    orders_backoff: Backoff,
    next_orders: Instant,
    /// When the last orders fetch started.
    last_orders: Instant,
    next_delivery: Instant,
    /// A Retry-After the MES asked for: nothing is sent before it.
    not_before: Instant,
    next_status: Instant,
    next_prune: Instant,
    delivered: u64,
    /// Set when messages may be waiting (new ones, or a round that stopped with
    /// messages left).
    more: bool,
    /// The MES refused the token for the last message: an orders fetch that
    /// works does not make the link good.
    token_refused: bool,
    /// Messages held in a row (answered with a passing error, nothing delivered
    /// between): from [`HOLDS_BEFORE_BACKOFF`] on it is the MES that fails, and
    /// the whole queue backs off.
    holds: u32,
    phase: Phase,
    burst: Option<Burst>,
    stopping: bool,
}

impl Delivery {
    /// A loop starting at `now` with everything due; `rng` jitters the back-offs.
    pub fn new(timing: Timing, now: Instant, rng: SmallRng) -> Self {
        Self {
            timing,
            rng,
            backoff: Backoff::new(timing.retry_min, timing.retry_max),
            orders_backoff: Backoff::new(timing.retry_min, timing.retry_max),
            next_orders: now,
            last_orders: now,
            next_delivery: now,
            not_before: now,
            next_status: now,
            next_prune: now,
            delivered: 0,
            more: true,
            token_refused: false,
            holds: 0,
            phase: Phase::Orders,
            burst: None,
            stopping: false,
        }
    }

    /// What to do at `now`.
    pub fn poll(&mut self, now: Instant) -> Step {
        if self.stopping {
            return Step::Stop;
        }
        loop {
            match self.phase {
                Phase::Orders => {
                    self.phase = Phase::Deliver;
                    if now >= self.next_orders {
                        self.last_orders = now;
                        return Step::FetchOrders;
                    }
                }
                Phase::Deliver => {
                    if self.burst.is_none() {
                        if !(self.more && now >= self.next_delivery && now >= self.not_before) {
                            self.phase = Phase::Status;
                            continue;
                        }
                        self.more = false;
                        self.burst = Some(Burst {
                            started: now,
                            sent: 0,
                            over: false,
                        });
                    }
                    if let Some(b) = self.burst.as_mut()
                        && !b.over
                        && b.sent < BURST
                    {
                        if now.saturating_duration_since(b.started) <= BURST_TIME {
                            b.sent += 1;
                            return Step::Deliver;
                        }
                        // Out of time with messages left: more to send at once.
                        self.more = true;
                    }
                    self.burst = None;
                    self.phase = Phase::Status;
                    self.next_status = now + STATUS_EVERY;
                    return self.counts();
                }
                Phase::Status => {
                    self.phase = Phase::Prune;
                    if now >= self.next_status {
                        self.next_status = now + STATUS_EVERY;
                        return self.counts();
                    }
                }
                Phase::Prune => {
                    self.phase = Phase::Rest;
                    if now >= self.next_prune {
                        self.next_prune = now + PRUNE_EVERY;
                        return Step::Prune;
                    }
                }
                Phase::Rest => {
                    self.phase = Phase::Orders;
                    let mut until = self.next_orders.min(self.next_status).min(self.next_prune);
                    if self.more {
                        until = until.min(self.next_delivery.max(self.not_before));
                        if until <= now {
                            return Step::Yield;
                        }
                    }
                    return Step::Sleep(until);
                }
            }
        }
    }

    fn counts(&self) -> Step {
        Step::PublishCounts {
            delivered: self.delivered,
        }
    }

    fn end_burst(&mut self) {
        if let Some(b) = self.burst.as_mut() {
            b.over = true;
        }
    }

    /// The orders were fetched and stored at `now`; returns the link to publish.
    pub fn orders_fetched(&mut self, now: Instant) -> Option<Link> {
        self.orders_backoff.reset();
        self.next_orders = now + self.timing.orders_every;
        if self.token_refused {
            return None;
        }
        // The MES is back: whatever waits goes now (unless it asked us to wait).
        if self.backoff.failures() > 0 {
            self.backoff.reset();
            self.next_delivery = now;
            self.more = true;
        }
        Some(Link::up())
    }

    /// The orders could not be fetched at `now`; returns the link to publish.
    pub fn orders_failed(&mut self, now: Instant, failure: OrdersFailure) -> Option<Link> {
        let delay = self.orders_backoff.next_delay(&mut self.rng);
        self.next_orders = now + delay.min(self.timing.orders_every);
        match failure {
            OrdersFailure::Unauthorized(error) => {
                Some(Link::not_up(MesLinkState::Unauthorized, error))
            }
            OrdersFailure::Link { error, retry_after } => {
                if let Some(r) = retry_after {
                    self.next_orders = now + retry_wait(delay, Some(r));
                }
                Some(Link::not_up(MesLinkState::Down, error))
            }
            // The orders shown go stale, and the page says why.
            OrdersFailure::Unreadable(error) => {
                self.next_orders = now + self.timing.orders_every;
                Some(Link::not_up(MesLinkState::Down, error))
            }
            OrdersFailure::Store => {
                self.next_orders = now + self.timing.orders_every;
                None
            }
        }
    }

    /// [`Step::Deliver`] found nothing pending.
    pub fn queue_empty(&mut self) {
        self.end_burst();
    }

    /// [`Step::Deliver`] found only held messages, the first due again at `at`.
    pub fn queue_held(&mut self, at: Instant) {
        self.next_delivery = self.next_delivery.max(at);
        self.more = true;
        self.end_burst();
    }

    /// The outbox could not be read, or an attempt's outcome not written (a
    /// message sent but not recorded goes again under the same key, which the MES
    /// recognises): try again after the shortest back-off.
    pub fn store_failed(&mut self, now: Instant) {
        self.next_delivery = now + self.timing.retry_min;
        self.more = true;
        self.end_burst();
    }

    /// The head of the outbox was sent at `now` with this outcome.
    pub fn attempted(&mut self, now: Instant, disposition: Disposition) -> Verdict {
        match disposition {
            Disposition::Delivered => {
                self.backoff.reset();
                self.holds = 0;
                self.token_refused = false;
                self.delivered += 1;
                self.more = true;
                Verdict {
                    link: Link::up(),
                    record: Record::Delivered,
                }
            }
            Disposition::Hold { reason } => {
                self.holds += 1;
                self.token_refused = false;
                self.more = true;
                if self.holds < HOLDS_BEFORE_BACKOFF {
                    // One message's trouble: the others go on at once.
                    return Verdict {
                        link: Link::up(),
                        record: Record::Held { reason },
                    };
                }
                let wait = self.backoff.next_delay(&mut self.rng);
                self.next_delivery = now + wait;
                self.end_burst();
                Verdict {
                    link: Link::not_up(MesLinkState::Down, reason.clone()),
                    record: Record::Held { reason },
                }
            }
            Disposition::Refused { reason } => {
                self.backoff.reset();
                self.holds = 0;
                self.token_refused = false;
                self.more = true;
                Verdict {
                    link: Link::up(),
                    record: Record::Dead { reason },
                }
            }
            Disposition::Retry {
                reason,
                retry_after,
            } => {
                let wait = retry_wait(self.backoff.next_delay(&mut self.rng), retry_after);
                if let Some(ra) = retry_after {
                    self.not_before = now + ra;
                }
                self.next_delivery = now + wait;
                self.more = true;
                self.end_burst();
                Verdict {
                    link: Link::not_up(MesLinkState::Down, reason.clone()),
                    record: Record::Failed {
                        reason,
                        retry_in: wait,
                    },
                }
            }
            Disposition::Unauthorized { reason } => {
                self.token_refused = true;
                let wait = self.backoff.next_delay(&mut self.rng);
                self.next_delivery = now + wait;
                self.more = true;
                self.end_burst();
                Verdict {
                    link: Link::not_up(MesLinkState::Unauthorized, reason.clone()),
                    record: Record::Failed {
                        reason,
                        retry_in: wait,
                    },
                }
            }
        }
    }

    /// New messages were queued (at `now`): sent at once unless a back-off runs.
    pub fn queued(&mut self, now: Instant) {
        self.more = true;
        if self.backoff.failures() == 0 {
            self.next_delivery = self.next_delivery.min(now);
        }
    }

    /// Someone asked for the orders at `now`: fetched soon, but never sooner
    /// than [`MIN_ORDERS_GAP`] after the last fetch.
    pub fn refresh_asked(&mut self, now: Instant) {
        self.next_orders = self
            .next_orders
            .min((self.last_orders + MIN_ORDERS_GAP).max(now));
    }

    /// Shutdown: from now on the only step is [`Step::Stop`].
    pub fn shut_down(&mut self) {
        self.stopping = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn timing() -> Timing {
        Timing {
            retry_min: ms(100),
            retry_max: ms(1_000),
            orders_every: Duration::from_secs(10),
        }
    }

    /// How the MES answers the orders while a test runs.
    #[derive(Debug, Clone, Copy)]
    enum Mes {
        Up,
        Down,
    }

    fn unreachable() -> OrdersFailure {
        OrdersFailure::Link {
            error: "MES unreachable: connection refused".into(),
            retry_after: None,
        }
    }

    fn busy(retry_after: Option<Duration>) -> Disposition {
        Disposition::Retry {
            reason: "MES answered 503".into(),
            retry_after,
        }
    }

    fn failing(n: u32) -> Disposition {
        Disposition::Hold {
            reason: format!("MES answered 500 (message {n})"),
        }
    }

    #[test]
    fn one_message_the_mes_fails_is_held_and_the_next_goes_at_once() {
        let (mut d, t0) = delivering();
        assert_eq!(d.poll(t0), Step::Deliver);
        let v = d.attempted(t0, failing(1));
        assert!(matches!(v.record, Record::Held { .. }));
        assert_eq!(v.link.state, MesLinkState::Up, "the MES answered");
        assert_eq!(d.poll(t0), Step::Deliver, "the next message, no back-off");
        d.attempted(t0, Disposition::Delivered);
        // A delivery between holds: they never add up to a back-off.
        for n in 0..10 {
            assert_eq!(d.poll(t0), Step::Deliver);
            d.attempted(t0, failing(n));
            assert_eq!(d.poll(t0), Step::Deliver);
            d.attempted(t0, Disposition::Delivered);
        }
    }

    #[test]
    fn messages_held_in_a_row_mean_the_mes_is_failing_and_the_queue_backs_off() {
        let (mut d, t0) = delivering();
        for n in 1..HOLDS_BEFORE_BACKOFF {
            assert_eq!(d.poll(t0), Step::Deliver);
            let v = d.attempted(t0, failing(n));
            assert_eq!(v.link.state, MesLinkState::Up);
        }
        assert_eq!(d.poll(t0), Step::Deliver);
        let v = d.attempted(t0, failing(HOLDS_BEFORE_BACKOFF));
        assert_eq!(v.link.state, MesLinkState::Down);
        assert!(
            !matches!(d.poll(t0), Step::Deliver),
            "nothing more is sent before the back-off"
        );
    }

    #[test]
    fn only_held_messages_left_wake_the_loop_when_the_first_is_due() {
        let (mut d, t0) = delivering();
        assert_eq!(d.poll(t0), Step::Deliver);
        d.queue_held(t0 + ms(700));
        let due = next_delivery(&mut d, t0, Mes::Up);
        assert!(due >= t0 + ms(700), "{:?}", due - t0);
    }

    fn token_refused() -> Disposition {
        Disposition::Unauthorized {
            reason: "MES refused CellGuard's token (401)".into(),
        }
    }

    fn retry_in(v: &Verdict) -> Duration {
        match &v.record {
            Record::Failed { retry_in, .. } => *retry_in,
            other => panic!("a failed attempt expected, got {other:?}"),
        }
    }

    /// Runs the loop from `now` as an idle line would (the queue is empty
    /// whenever it looks), the MES answering the orders as `mes`, until a step
    /// `wanted` accepts; returns when that step came.
    fn run_until(
        d: &mut Delivery,
        mut now: Instant,
        mes: Mes,
        wanted: impl Fn(Step) -> bool,
    ) -> Instant {
        for _ in 0..100_000 {
            let step = d.poll(now);
            if wanted(step) {
                return now;
            }
            match step {
                Step::FetchOrders => {
                    match mes {
                        Mes::Up => d.orders_fetched(now),
                        Mes::Down => d.orders_failed(now, unreachable()),
                    };
                }
                Step::Deliver => d.queue_empty(),
                Step::Sleep(until) => {
                    assert!(until >= now, "a sleep into the past");
                    now = until;
                }
                Step::Yield | Step::PublishCounts { .. } | Step::Prune => {}
                Step::Stop => panic!("stopped"),
            }
        }
        panic!("the wanted step never came");
    }

    fn next_delivery(d: &mut Delivery, now: Instant, mes: Mes) -> Instant {
        run_until(d, now, mes, |s| s == Step::Deliver)
    }

    fn next_fetch(d: &mut Delivery, now: Instant) -> Instant {
        run_until(d, now, Mes::Up, |s| s == Step::FetchOrders)
    }

    /// A loop whose orders were fetched at `t0` and that now sends its first
    /// message.
    fn delivering_with(timing: Timing) -> (Delivery, Instant) {
        let t0 = Instant::now();
        let mut d = Delivery::new(timing, t0, SmallRng::seed_from_u64(11));
        assert_eq!(d.poll(t0), Step::FetchOrders);
        assert_eq!(d.orders_fetched(t0), Some(Link::up()));
        assert_eq!(d.poll(t0), Step::Deliver);
        (d, t0)
    }

    fn delivering() -> (Delivery, Instant) {
        delivering_with(timing())
    }

    #[test]
    fn a_pass_fetches_the_orders_delivers_counts_prunes_then_sleeps() {
        let (mut d, t0) = delivering();
        d.queue_empty();
        assert_eq!(d.poll(t0), Step::PublishCounts { delivered: 0 });
        assert_eq!(d.poll(t0), Step::Prune);
        // Nothing more to send: asleep until the next count.
        assert_eq!(d.poll(t0), Step::Sleep(t0 + STATUS_EVERY));
        assert_eq!(
            d.poll(t0 + STATUS_EVERY),
            Step::PublishCounts { delivered: 0 }
        );
    }

    #[test]
    fn messages_go_one_after_another_and_an_emptied_queue_is_looked_at_once_more() {
        let (mut d, t0) = delivering();
        for _ in 0..3 {
            let v = d.attempted(t0, Disposition::Delivered);
            assert_eq!(
                v,
                Verdict {
                    link: Link::up(),
                    record: Record::Delivered
                }
            );
            assert_eq!(d.poll(t0), Step::Deliver, "no other duty within a burst");
        }
        d.queue_empty();
        assert_eq!(d.poll(t0), Step::PublishCounts { delivered: 3 });
        assert_eq!(d.poll(t0), Step::Prune);
        // The last round delivered: more may wait, so it goes on at once.
        assert_eq!(d.poll(t0), Step::Yield);
        assert_eq!(d.poll(t0), Step::Deliver);
        d.queue_empty();
        assert_eq!(d.poll(t0), Step::PublishCounts { delivered: 3 });
        assert_eq!(d.poll(t0), Step::Sleep(t0 + STATUS_EVERY));
    }

    #[test]
    fn a_burst_ends_after_its_count_and_the_orders_come_before_the_next() {
        let (mut d, t0) = delivering();
        for i in 0..BURST {
            d.attempted(t0, Disposition::Delivered);
            let step = d.poll(t0);
            if i + 1 < BURST {
                assert_eq!(step, Step::Deliver);
            } else {
                assert_eq!(step, Step::PublishCounts { delivered: 256 });
            }
        }
        assert_eq!(d.poll(t0), Step::Prune);
        assert_eq!(d.poll(t0), Step::Yield);
        let later = t0 + timing().orders_every;
        assert_eq!(d.poll(later), Step::FetchOrders);
        d.orders_fetched(later);
        assert_eq!(d.poll(later), Step::Deliver);
    }

    #[test]
    fn a_burst_ends_after_its_time_with_more_to_send_at_once() {
        let (mut d, t0) = delivering();
        d.attempted(t0, Disposition::Delivered);
        let late = t0 + BURST_TIME + ms(1);
        assert_eq!(d.poll(late), Step::PublishCounts { delivered: 1 });
        assert_eq!(d.poll(late), Step::Prune);
        assert_eq!(d.poll(late), Step::Yield);
        assert_eq!(d.poll(late), Step::Deliver);
    }

    #[test]
    fn the_back_off_doubles_with_jitter_up_to_its_cap() {
        let (mut d, mut now) = delivering();
        for ceiling in [100, 200, 400, 800, 1_000, 1_000, 1_000] {
            let v = d.attempted(now, busy(None));
            assert_eq!(v.link.state, MesLinkState::Down);
            assert_eq!(v.link.error.as_deref(), Some("MES answered 503"));
            let wait = retry_in(&v);
            assert!(
                wait >= ms(ceiling) / 2 && wait <= ms(ceiling),
                "{wait:?} for a ceiling of {ceiling} ms"
            );
            let next = next_delivery(&mut d, now, Mes::Down);
            assert_eq!(next, now + wait);
            now = next;
        }
    }

    #[test]
    fn while_a_message_waits_nothing_behind_it_is_sent() {
        let (mut d, t0) = delivering();
        let wait = retry_in(&d.attempted(t0, busy(None)));
        // New messages arrive during the back-off: they queue behind the head.
        d.queued(t0 + ms(1));
        assert_eq!(d.poll(t0 + ms(1)), Step::PublishCounts { delivered: 0 });
        assert_eq!(next_delivery(&mut d, t0 + ms(1), Mes::Down), t0 + wait);
    }

    #[test]
    fn new_messages_are_sent_at_once_when_no_back_off_runs() {
        let (mut d, t0) = delivering();
        d.queue_empty();
        let t = run_until(&mut d, t0, Mes::Up, |s| matches!(s, Step::Sleep(_)));
        assert_eq!(t, t0);
        d.queued(t0 + ms(300));
        assert_eq!(d.poll(t0 + ms(300)), Step::Deliver);
    }

    #[test]
    fn retry_after_is_honoured_even_when_woken_or_when_the_mes_comes_back() {
        let (mut d, t0) = delivering();
        let v = d.attempted(t0, busy(Some(Duration::from_secs(5))));
        assert_eq!(retry_in(&v), Duration::from_secs(5));
        d.queued(t0 + ms(500));
        // A working orders fetch resets the back-off, not the MES's request.
        assert_eq!(
            d.orders_fetched(t0 + Duration::from_secs(1)),
            Some(Link::up())
        );
        assert_eq!(
            next_delivery(&mut d, t0 + Duration::from_secs(1), Mes::Up),
            t0 + Duration::from_secs(5)
        );
    }

    #[test]
    fn a_retry_after_of_zero_still_waits_the_back_off() {
        let (mut d, t0) = delivering();
        let wait = retry_in(&d.attempted(t0, busy(Some(Duration::ZERO))));
        assert!(wait >= ms(50) && wait <= ms(100), "{wait:?}");
        assert_eq!(next_delivery(&mut d, t0, Mes::Down), t0 + wait);
    }

    #[test]
    fn a_retry_after_of_zero_never_means_at_once() {
        let b = ms(400);
        assert_eq!(retry_wait(b, Some(Duration::ZERO)), b);
        assert_eq!(retry_wait(b, None), b);
        assert_eq!(
            retry_wait(b, Some(Duration::from_secs(5))),
            Duration::from_secs(5)
        );
    }

    #[test]
    fn a_delivery_resets_the_back_off() {
        let (mut d, mut now) = delivering();
        for _ in 0..4 {
            d.attempted(now, busy(None));
            now = next_delivery(&mut d, now, Mes::Down);
        }
        assert_eq!(d.attempted(now, Disposition::Delivered).link, Link::up());
        assert_eq!(d.poll(now), Step::Deliver);
        let wait = retry_in(&d.attempted(now, busy(None)));
        assert!(wait <= ms(100), "{wait:?}");
    }

    #[test]
    fn the_orders_answering_again_resets_the_back_off_and_sends_at_once() {
        let (mut d, mut now) = delivering();
        for _ in 0..4 {
            d.attempted(now, busy(None));
            now = next_delivery(&mut d, now, Mes::Down);
        }
        // The back-off is at its cap by now; the orders come back first.
        let wait = retry_in(&d.attempted(now, busy(None)));
        assert!(wait >= ms(500), "{wait:?}");
        let back = now + ms(10);
        assert_eq!(d.orders_fetched(back), Some(Link::up()));
        assert_eq!(next_delivery(&mut d, back, Mes::Up), back);
        let wait = retry_in(&d.attempted(back, busy(None)));
        assert!(wait <= ms(100), "{wait:?}");
    }

    #[test]
    fn a_message_refused_for_good_is_a_dead_letter_and_the_queue_moves_on() {
        let (mut d, t0) = delivering();
        d.attempted(t0, busy(None));
        let now = next_delivery(&mut d, t0, Mes::Down);
        let v = d.attempted(
            now,
            Disposition::Refused {
                reason: "MES refused the message (400)".into(),
            },
        );
        assert_eq!(
            v,
            Verdict {
                link: Link::up(),
                record: Record::Dead {
                    reason: "MES refused the message (400)".into()
                }
            }
        );
        // The next message goes in the same burst, and a refusal is no fault.
        assert_eq!(d.poll(now), Step::Deliver);
        assert!(retry_in(&d.attempted(now, busy(None))) <= ms(100));
    }

    #[test]
    fn a_refused_token_backs_off_and_a_working_orders_fetch_does_not_hide_it() {
        let (mut d, t0) = delivering();
        let v = d.attempted(t0, token_refused());
        assert_eq!(v.link.state, MesLinkState::Unauthorized);
        let first = retry_in(&v);
        assert!(first >= ms(50) && first <= ms(100), "{first:?}");
        // The orders may be readable with a token that cannot post.
        assert_eq!(d.orders_fetched(t0 + ms(1)), None);
        assert_eq!(next_delivery(&mut d, t0 + ms(1), Mes::Up), t0 + first);
        let second = retry_in(&d.attempted(t0 + first, token_refused()));
        assert!(second >= ms(100) && second <= ms(200), "{second:?}");
        let now = next_delivery(&mut d, t0 + first, Mes::Up);
        // Once a message goes through, the orders show the link again.
        d.attempted(now, Disposition::Delivered);
        assert_eq!(d.orders_fetched(now), Some(Link::up()));
    }

    #[test]
    fn an_outbox_that_fails_is_tried_again_after_the_shortest_back_off() {
        let (mut d, t0) = delivering();
        d.store_failed(t0);
        assert_eq!(d.poll(t0), Step::PublishCounts { delivered: 0 });
        assert_eq!(next_delivery(&mut d, t0, Mes::Up), t0 + ms(100));
        // A delivery that was sent but not recorded: the same.
        d.attempted(t0 + ms(100), Disposition::Delivered);
        d.store_failed(t0 + ms(100));
        assert_eq!(d.poll(t0 + ms(100)), Step::PublishCounts { delivered: 1 });
        assert_eq!(next_delivery(&mut d, t0 + ms(100), Mes::Up), t0 + ms(200));
    }

    #[test]
    fn orders_come_at_their_interval_and_on_request_at_most_every_two_seconds() {
        let (mut d, t0) = delivering();
        d.queue_empty();
        assert_eq!(next_fetch(&mut d, t0), t0 + Duration::from_secs(10));
        let t1 = t0 + Duration::from_secs(10);
        d.orders_fetched(t1);
        d.refresh_asked(t1 + ms(500));
        assert_eq!(next_fetch(&mut d, t1 + ms(500)), t1 + MIN_ORDERS_GAP);
        let t2 = t1 + MIN_ORDERS_GAP;
        d.orders_fetched(t2);
        // Asked while asleep, long after the last fetch: at once.
        let asleep = |s| matches!(s, Step::Sleep(_));
        assert_eq!(run_until(&mut d, t2, Mes::Up, asleep), t2);
        let t3 = t2 + Duration::from_secs(5);
        d.refresh_asked(t3);
        assert_eq!(d.poll(t3), Step::FetchOrders);
    }

    #[test]
    fn failed_fetches_back_off_within_the_interval_unless_the_mes_asks_for_longer() {
        let t = Timing {
            orders_every: ms(300),
            ..timing()
        };
        let (mut d, t0) = delivering_with(t);
        d.queue_empty();
        let mut now = next_fetch(&mut d, t0);
        assert_eq!(now, t0 + ms(300));
        // Ceilings of 100, 200, 400 and 800 ms, the waits capped at 300 ms.
        for (shortest, longest) in [(50, 100), (100, 200), (200, 300), (300, 300)] {
            let link = d.orders_failed(now, unreachable());
            assert_eq!(link.map(|l| l.state), Some(MesLinkState::Down));
            let next = next_fetch(&mut d, now);
            let gap = next - now;
            assert!(gap >= ms(shortest) && gap <= ms(longest), "{gap:?}");
            now = next;
        }
        let link = d.orders_failed(
            now,
            OrdersFailure::Link {
                error: "MES answered 503 when fetching orders".into(),
                retry_after: Some(Duration::from_secs(30)),
            },
        );
        assert_eq!(
            link.and_then(|l| l.error).as_deref(),
            Some("MES answered 503 when fetching orders")
        );
        assert_eq!(next_fetch(&mut d, now), now + Duration::from_secs(30));
        let now = now + Duration::from_secs(30);
        // A working fetch resets the orders' back-off.
        d.orders_fetched(now);
        let next = next_fetch(&mut d, now);
        assert_eq!(next, now + ms(300));
        d.orders_failed(next, unreachable());
        let gap = next_fetch(&mut d, next) - next;
        assert!(gap <= ms(100), "{gap:?}");
    }

    #[test]
    fn orders_refused_unreadable_or_unstored_say_so_and_wait_the_interval() {
        let (mut d, t0) = delivering();
        d.queue_empty();
        let link = d.orders_failed(t0, OrdersFailure::Unauthorized("401".into()));
        assert_eq!(link.map(|l| l.state), Some(MesLinkState::Unauthorized));
        let now = next_fetch(&mut d, t0);
        assert!(now - t0 <= ms(100));
        let link = d.orders_failed(now, OrdersFailure::Unreadable("not a schedule".into()));
        assert_eq!(
            link,
            Some(Link::not_up(MesLinkState::Down, "not a schedule".into()))
        );
        assert_eq!(next_fetch(&mut d, now), now + Duration::from_secs(10));
        let now = now + Duration::from_secs(10);
        // The MES answered; only storing failed: the link is what it was.
        assert_eq!(d.orders_failed(now, OrdersFailure::Store), None);
        assert_eq!(next_fetch(&mut d, now), now + Duration::from_secs(10));
    }

    #[test]
    fn counts_are_published_every_second_and_old_deliveries_pruned_every_hour() {
        let (mut d, t0) = delivering();
        d.queue_empty();
        let counts = |s| matches!(s, Step::PublishCounts { .. });
        let prune = |s| s == Step::Prune;
        assert_eq!(run_until(&mut d, t0, Mes::Up, counts), t0);
        assert_eq!(run_until(&mut d, t0, Mes::Up, prune), t0);
        let t1 = run_until(&mut d, t0, Mes::Up, counts);
        assert_eq!(t1, t0 + STATUS_EVERY);
        let t2 = run_until(&mut d, t1, Mes::Up, counts);
        assert_eq!(t2, t0 + 2 * STATUS_EVERY);
        assert_eq!(run_until(&mut d, t2, Mes::Up, prune), t0 + PRUNE_EVERY);
    }

    #[test]
    fn after_shutdown_the_only_step_is_stop_even_within_a_burst() {
        let (mut d, t0) = delivering();
        d.attempted(t0, Disposition::Delivered);
        d.shut_down();
        for later in [t0, t0 + Duration::from_secs(60)] {
            assert_eq!(d.poll(later), Step::Stop);
        }
    }
}
