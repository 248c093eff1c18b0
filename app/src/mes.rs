//! The MES as the UI sees it: production orders with their progress, the link to
//! the MES, and the outbox of messages waiting for it. Pure and shared by the
//! browser and the server.

use serde::{Deserialize, Serialize};

/// State of a production order, in ISA-95 words (a production request's state).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderState {
    /// Planned, not yet released to the line.
    Planned,
    /// Released: next in line.
    Released,
    /// Being produced now.
    Running,
    /// Paused by the MES.
    Held,
    /// Produced in full (or closed).
    Completed,
    /// Cancelled.
    Aborted,
}

impl OrderState {
    /// Every state, in the order of an order's life.
    pub const ALL: [OrderState; 6] = [
        OrderState::Planned,
        OrderState::Released,
        OrderState::Running,
        OrderState::Held,
        OrderState::Completed,
        OrderState::Aborted,
    ];

    /// The stable name on the wire and in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            OrderState::Planned => "planned",
            OrderState::Released => "released",
            OrderState::Running => "running",
            OrderState::Held => "held",
            OrderState::Completed => "completed",
            OrderState::Aborted => "aborted",
        }
    }

    /// Parses [`OrderState::as_str`].
    pub fn parse(s: &str) -> Option<OrderState> {
        OrderState::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// How the UI names it.
    pub fn label(self) -> &'static str {
        match self {
            OrderState::Planned => "Planned",
            OrderState::Released => "Released",
            OrderState::Running => "Running",
            OrderState::Held => "Held",
            OrderState::Completed => "Completed",
            OrderState::Aborted => "Aborted",
        }
    }

    /// Whether the order still has cells to come (shown among active and upcoming).
    pub fn is_open(self) -> bool {
        matches!(
            self,
            OrderState::Planned | OrderState::Released | OrderState::Running | OrderState::Held
        )
    }
}

/// A production order as last fetched from the MES.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Order {
    /// The MES's order id (e.g. `98765`).
    pub id: String,
    /// Product id (e.g. `HC`).
    pub product: String,
    /// Product name (e.g. "High Capacity Cell").
    pub product_name: String,
    /// Cells to produce.
    pub planned_quantity: u64,
    /// Cells the MES counts as produced (from confirmations, this line's or others').
    pub confirmed_quantity: u64,
    /// Planned start (Unix ms).
    pub planned_start_ms: Option<i64>,
    /// Planned end (Unix ms).
    pub planned_end_ms: Option<i64>,
    /// Higher runs first.
    pub priority: i64,
    /// State.
    pub state: OrderState,
}

/// The order the line is producing now: the running order with the highest
/// priority (then the earliest planned start, then the lowest id); `None` when
/// nothing runs.
pub fn active_order(orders: &[Order]) -> Option<&Order> {
    orders
        .iter()
        .filter(|o| o.state == OrderState::Running)
        .min_by(|a, b| {
            b.priority
                .cmp(&a.priority)
                .then(
                    a.planned_start_ms
                        .unwrap_or(i64::MAX)
                        .cmp(&b.planned_start_ms.unwrap_or(i64::MAX)),
                )
                .then(a.id.cmp(&b.id))
        })
}

/// Progress of an order on this line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderView {
    /// The order.
    pub order: Order,
    /// Whether the line is producing it now.
    pub active: bool,
    /// Cells of this order CellGuard has seen.
    pub produced: u64,
    /// Of those, called high-risk by the active model.
    pub high_risk: u64,
    /// Of those, with a measurement outside its spec limits.
    pub scrapped: u64,
}

impl OrderView {
    /// Cells produced: what this line counted, or what the MES confirmed if more
    /// (an order started before CellGuard, or on another line).
    pub fn produced_total(&self) -> u64 {
        self.produced.max(self.order.confirmed_quantity)
    }

    /// Share of the planned quantity produced, 0–1 (capped at 1).
    pub fn progress(&self) -> f64 {
        if self.order.planned_quantity == 0 {
            return 0.0;
        }
        (self.produced_total() as f64 / self.order.planned_quantity as f64).min(1.0)
    }
}

/// State of the link to the MES.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MesLinkState {
    /// No MES configured.
    Disabled,
    /// Not reached yet.
    Connecting,
    /// The last exchange succeeded.
    Up,
    /// Unreachable, timing out or failing (5xx, 429): messages wait in the outbox.
    Down,
    /// The MES refuses CellGuard's token (401/403): fix the configuration.
    Unauthorized,
}

impl MesLinkState {
    /// CSS class suffix.
    pub fn css(self) -> &'static str {
        match self {
            MesLinkState::Disabled => "off",
            MesLinkState::Connecting => "connecting",
            MesLinkState::Up => "live",
            MesLinkState::Down | MesLinkState::Unauthorized => "lost",
        }
    }
}

/// The MES link and the outbox, for the header and the MES page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MesStatus {
    /// Link state.
    pub state: MesLinkState,
    /// Since when (Unix ms).
    pub since_ms: i64,
    /// The last error, written for people (never holds the token).
    pub error: Option<String>,
    /// Messages waiting for delivery.
    pub queued: u64,
    /// Messages the MES refused (dead letters).
    pub dead: u64,
    /// When the oldest waiting message was queued (Unix ms).
    pub oldest_ms: Option<i64>,
    /// When the orders were last fetched successfully (Unix ms).
    pub orders_fetched_ms: Option<i64>,
    /// Messages delivered since start.
    pub delivered: u64,
}

impl MesStatus {
    /// A status for a link in `state` since `since_ms`, nothing queued.
    pub fn new(state: MesLinkState, since_ms: i64) -> Self {
        Self {
            state,
            since_ms,
            error: None,
            queued: 0,
            dead: 0,
            oldest_ms: None,
            orders_fetched_ms: None,
            delivered: 0,
        }
    }

    /// The header's short text.
    pub fn label(&self) -> String {
        match self.state {
            MesLinkState::Disabled => "MES off".into(),
            MesLinkState::Connecting => "MES connecting…".into(),
            MesLinkState::Up if self.queued > 0 => format!("MES · sending {}", self.queued),
            MesLinkState::Up => "MES ok".into(),
            MesLinkState::Down => format!("MES unreachable · {} queued", self.queued),
            MesLinkState::Unauthorized => "MES refuses our token".into(),
        }
    }

    /// Whether the orders shown may be out of date.
    pub fn orders_stale(&self) -> bool {
        !matches!(self.state, MesLinkState::Up | MesLinkState::Disabled)
    }
}

/// The orders page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrdersView {
    /// Open orders (active first, then by priority and planned start), then
    /// the most recently completed ones.
    pub orders: Vec<OrderView>,
    /// The MES link.
    pub status: MesStatus,
}

/// Which part of the outbox to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutboxList {
    /// Waiting for delivery.
    #[default]
    Pending,
    /// Refused by the MES.
    Dead,
    /// Delivered (kept for a while).
    Delivered,
}

impl OutboxList {
    /// The stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            OutboxList::Pending => "pending",
            OutboxList::Dead => "dead",
            OutboxList::Delivered => "delivered",
        }
    }

    /// Parses [`OutboxList::as_str`].
    pub fn parse(s: &str) -> Option<OutboxList> {
        [OutboxList::Pending, OutboxList::Dead, OutboxList::Delivered]
            .into_iter()
            .find(|x| x.as_str() == s)
    }
}

/// One message of the outbox.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboxEntry {
    /// Sequence number.
    pub id: i64,
    /// What it reports (`machine_data`, `quality_result`, `order_confirmation`).
    pub kind: String,
    /// What it is about (a machine, a cell, an order).
    pub subject: String,
    /// Its idempotency key.
    pub key: String,
    /// When it was queued (Unix ms).
    pub created_ms: i64,
    /// Delivery attempts so far.
    pub attempts: u32,
    /// The last error or the MES's answer.
    pub last_error: Option<String>,
    /// The MES's last HTTP status.
    pub last_status: Option<u16>,
    /// When it was delivered or refused (Unix ms).
    pub done_ms: Option<i64>,
}

/// A page of the outbox.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboxPage {
    /// Which list.
    pub list: OutboxList,
    /// Its messages, oldest first (delivered: newest first).
    pub entries: Vec<OutboxEntry>,
    /// Messages in that list.
    pub total: u64,
    /// The page shown (0-based).
    pub page: u32,
    /// Messages per page.
    pub per_page: u32,
    /// The link and counts.
    pub status: MesStatus,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(id: &str, state: OrderState, priority: i64, start: Option<i64>) -> Order {
        Order {
            id: id.into(),
            product: "HC".into(),
            product_name: "High Capacity Cell".into(),
            planned_quantity: 100,
            confirmed_quantity: 0,
            planned_start_ms: start,
            planned_end_ms: None,
            priority,
            state,
        }
    }

    #[test]
    fn the_active_order_is_the_running_one_with_the_highest_priority() {
        let orders = vec![
            order("1", OrderState::Released, 9, Some(0)),
            order("2", OrderState::Running, 1, Some(10)),
            order("3", OrderState::Running, 5, Some(20)),
            order("4", OrderState::Completed, 9, Some(0)),
        ];
        assert_eq!(active_order(&orders).map(|o| o.id.as_str()), Some("3"));
    }

    #[test]
    fn equal_priorities_go_by_planned_start_then_id() {
        let orders = vec![
            order("b", OrderState::Running, 1, Some(20)),
            order("a", OrderState::Running, 1, None),
            order("c", OrderState::Running, 1, Some(10)),
        ];
        assert_eq!(active_order(&orders).map(|o| o.id.as_str()), Some("c"));
        let tied = vec![
            order("b", OrderState::Running, 1, Some(10)),
            order("a", OrderState::Running, 1, Some(10)),
        ];
        assert_eq!(active_order(&tied).map(|o| o.id.as_str()), Some("a"));
    }

    #[test]
    fn nothing_is_active_when_nothing_runs() {
        let orders = vec![order("1", OrderState::Released, 1, None)];
        assert!(active_order(&orders).is_none());
    }

    #[test]
    fn progress_is_capped_and_safe_for_an_empty_plan() {
        let mut v = OrderView {
            order: order("1", OrderState::Running, 1, None),
            active: true,
            produced: 50,
            high_risk: 3,
            scrapped: 1,
        };
        assert!((v.progress() - 0.5).abs() < 1e-12);
        v.produced = 500;
        assert!((v.progress() - 1.0).abs() < 1e-12);
        v.produced = 10;
        v.order.confirmed_quantity = 75;
        assert_eq!(v.produced_total(), 75, "the MES knows of more");
        assert!((v.progress() - 0.75).abs() < 1e-12);
        v.order.planned_quantity = 0;
        assert_eq!(v.progress(), 0.0);
    }

    #[test]
    fn states_and_lists_round_trip_their_names() {
        for s in OrderState::ALL {
            assert_eq!(OrderState::parse(s.as_str()), Some(s));
        }
        for l in [OutboxList::Pending, OutboxList::Dead, OutboxList::Delivered] {
            assert_eq!(OutboxList::parse(l.as_str()), Some(l));
        }
        assert_eq!(OrderState::parse("RUNNING"), None);
    }

    #[test]
    fn the_header_says_why_messages_wait() {
        let mut s = MesStatus::new(MesLinkState::Down, 0);
        s.queued = 12;
        assert_eq!(s.label(), "MES unreachable · 12 queued");
        assert!(s.orders_stale());
        s.state = MesLinkState::Unauthorized;
        assert!(s.label().contains("token"));
        s.state = MesLinkState::Up;
        assert!(!s.orders_stale());
        s.queued = 0;
        assert_eq!(s.label(), "MES ok");
    }
}
