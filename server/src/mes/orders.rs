//! Production orders as last fetched from the MES, and their progress on this
//! line counted from the cells (produced, high-risk, scrapped). The counts also
//! feed the order confirmations sent back to the MES.

use std::collections::HashMap;

use app::mes::{Order, OrderState, OrderView, active_order};
use sqlx::{Row, SqlitePool};

use super::contract::{MessageKind, OrderConfirmation};
use super::outbox::{Message, enqueue};
use app::api::service::ServiceError;

/// Completed or aborted orders still shown after the open ones.
const RECENT_CLOSED: usize = 5;

/// Why the order store (production orders and their progress) failed.
#[derive(Debug, thiserror::Error)]
pub enum OrdersError {
    /// The database reported an error.
    #[error("order store: {0}")]
    Database(#[from] sqlx::Error),
}

impl From<OrdersError> for ServiceError {
    fn from(e: OrdersError) -> Self {
        tracing::error!(error = %e, "order store failed");
        ServiceError::unavailable("the order store")
    }
}

fn db(e: sqlx::Error) -> OrdersError {
    OrdersError::Database(e)
}

/// An order's counts on this line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Cells seen.
    pub produced: u64,
    /// High-risk cells.
    pub high_risk: u64,
    /// Cells with a measurement outside its limits.
    pub scrapped: u64,
}

/// The orders table.
#[derive(Debug, Clone)]
pub struct OrderStore {
    pool: SqlitePool,
}

impl OrderStore {
    /// The orders in the shared database.
    pub fn new(pool: SqlitePool) -> Self {
        Self { pool }
    }

    /// Replaces the orders with what the MES just sent, in one transaction.
    pub async fn replace(&self, orders: &[Order], now_ms: i64) -> Result<(), OrdersError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await.map_err(db)?;
        sqlx::query("DELETE FROM mes_orders")
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        for o in orders {
            sqlx::query(
                "INSERT OR REPLACE INTO mes_orders (id, product, product_name, planned_quantity, \
                 confirmed_quantity, planned_start_ms, planned_end_ms, priority, state, fetched_ms) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(&o.id)
            .bind(&o.product)
            .bind(&o.product_name)
            .bind(i64::try_from(o.planned_quantity).unwrap_or(i64::MAX))
            .bind(i64::try_from(o.confirmed_quantity).unwrap_or(i64::MAX))
            .bind(o.planned_start_ms)
            .bind(o.planned_end_ms)
            .bind(o.priority)
            .bind(o.state.as_str())
            .bind(now_ms)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        }
        sqlx::query("INSERT OR REPLACE INTO mes_meta (key, value) VALUES ('orders_fetched_ms', ?)")
            .bind(now_ms)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)
    }

    /// When the orders were last fetched successfully (survives restarts).
    pub async fn fetched_ms(&self) -> Result<Option<i64>, OrdersError> {
        sqlx::query_scalar("SELECT value FROM mes_meta WHERE key = 'orders_fetched_ms'")
            .fetch_optional(&self.pool)
            .await
            .map_err(db)
    }

    /// Every order as last fetched.
    pub async fn orders(&self) -> Result<Vec<Order>, OrdersError> {
        let rows = sqlx::query(
            "SELECT id, product, product_name, planned_quantity, confirmed_quantity, \
             planned_start_ms, planned_end_ms, priority, state FROM mes_orders",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        Ok(rows
            .iter()
            .filter_map(|r| {
                let state: String = r.get("state");
                Some(Order {
                    id: r.get("id"),
                    product: r.get("product"),
                    product_name: r.get("product_name"),
                    planned_quantity: u64::try_from(r.get::<i64, _>("planned_quantity"))
                        .unwrap_or(0),
                    confirmed_quantity: u64::try_from(r.get::<i64, _>("confirmed_quantity"))
                        .unwrap_or(0),
                    planned_start_ms: r.get("planned_start_ms"),
                    planned_end_ms: r.get("planned_end_ms"),
                    priority: r.get("priority"),
                    state: OrderState::parse(&state)?,
                })
            })
            .collect())
    }

    /// The order the line produces now, if the MES runs one.
    pub async fn active(&self) -> Result<Option<Order>, OrdersError> {
        Ok(active_order(&self.orders().await?).cloned())
    }

    /// Produced, high-risk and scrapped cells of each known order.
    pub async fn counts(&self) -> Result<HashMap<String, Counts>, OrdersError> {
        // Only cells that came through this line's stations: imported history is
        // not production to confirm.
        let rows = sqlx::query(
            "WITH here AS (SELECT c.serial, c.order_id FROM cells c \
                 WHERE c.order_id IN (SELECT id FROM mes_orders) \
                 AND EXISTS (SELECT 1 FROM inspections i WHERE i.serial = c.serial \
                             AND i.station <> 'import')) \
             SELECT o.id AS id, \
               (SELECT count(*) FROM here h WHERE h.order_id = o.id) AS produced, \
               (SELECT count(*) FROM here h JOIN scores s ON s.serial = h.serial \
                  WHERE h.order_id = o.id AND s.band = 'high') AS high_risk, \
               (SELECT count(DISTINCT h.serial) FROM here h \
                  JOIN inspections i ON i.serial = h.serial \
                  JOIN measurements m ON m.inspection_id = i.id \
                  WHERE h.order_id = o.id AND m.pass = 0) AS scrapped \
             FROM mes_orders o",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        let n =
            |r: &sqlx::sqlite::SqliteRow, k: &str| u64::try_from(r.get::<i64, _>(k)).unwrap_or(0);
        Ok(rows
            .iter()
            .map(|r| {
                (
                    r.get("id"),
                    Counts {
                        produced: n(r, "produced"),
                        high_risk: n(r, "high_risk"),
                        scrapped: n(r, "scrapped"),
                    },
                )
            })
            .collect())
    }

    /// The orders page: open orders (the active one first, then by priority and
    /// planned start), then the latest closed ones, each with its counts.
    pub async fn views(&self) -> Result<Vec<OrderView>, OrdersError> {
        let orders = self.orders().await?;
        let counts = self.counts().await?;
        let active = active_order(&orders).map(|o| o.id.clone());
        Ok(arrange(orders, &counts, active.as_deref()))
    }

    /// Queues a confirmation for every order whose counts changed since the last
    /// one queued, in the same transaction that records them. Returns how many.
    pub async fn confirm_changed(&self, now_ms: i64) -> Result<u64, OrdersError> {
        let counts = self.counts().await?;
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await.map_err(db)?;
        let mut queued = 0;
        let mut ids: Vec<&String> = counts.keys().collect();
        ids.sort();
        for id in ids {
            let c = counts[id];
            let last: Option<(i64, i64, i64, i64)> = sqlx::query_as(
                "SELECT revision, produced, high_risk, scrapped FROM mes_confirmed \
                 WHERE order_id = ?",
            )
            .bind(id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?;
            let now = to_i64(c);
            if c.produced == 0 || last.is_some_and(|(_, p, h, s)| (p, h, s) == now) {
                continue;
            }
            // Numbered, not named by the counts: counts that go back to earlier
            // values (a model switched back) are a new confirmation, not a resend.
            let revision = last.map_or(1, |l| l.0 + 1);
            let body = OrderConfirmation {
                production_order: id.clone(),
                produced_quantity: c.produced,
                high_risk_quantity: c.high_risk,
                scrapped_quantity: c.scrapped,
                confirmed_at: jiff::Timestamp::from_millisecond(now_ms)
                    .unwrap_or(jiff::Timestamp::UNIX_EPOCH),
            };
            let key = format!("confirmation:{id}:{revision}");
            let msg = Message::json(MessageKind::OrderConfirmation, key, id.clone(), &body);
            if enqueue(&mut tx, &msg, now_ms).await.map_err(db)? {
                queued += 1;
            }
            sqlx::query(
                "INSERT OR REPLACE INTO mes_confirmed (order_id, revision, produced, high_risk, \
                 scrapped, at_ms) VALUES (?, ?, ?, ?, ?, ?)",
            )
            .bind(id)
            .bind(revision)
            .bind(now.0)
            .bind(now.1)
            .bind(now.2)
            .bind(now_ms)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        }
        tx.commit().await.map_err(db)?;
        Ok(queued)
    }
}

fn to_i64(c: Counts) -> (i64, i64, i64) {
    let f = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    (f(c.produced), f(c.high_risk), f(c.scrapped))
}

/// Orders in the order the page shows them (pure).
pub fn arrange(
    orders: Vec<Order>,
    counts: &HashMap<String, Counts>,
    active: Option<&str>,
) -> Vec<OrderView> {
    let mut views: Vec<OrderView> = orders
        .into_iter()
        .map(|order| {
            let c = counts.get(&order.id).copied().unwrap_or_default();
            OrderView {
                active: Some(order.id.as_str()) == active,
                produced: c.produced,
                high_risk: c.high_risk,
                scrapped: c.scrapped,
                order,
            }
        })
        .collect();
    views.sort_by(|a, b| {
        b.order
            .state
            .is_open()
            .cmp(&a.order.state.is_open())
            .then(b.active.cmp(&a.active))
            .then(if a.order.state.is_open() {
                b.order.priority.cmp(&a.order.priority).then(
                    a.order
                        .planned_start_ms
                        .unwrap_or(i64::MAX)
                        .cmp(&b.order.planned_start_ms.unwrap_or(i64::MAX)),
                )
            } else {
                // Closed: the latest first.
                b.order
                    .planned_end_ms
                    .unwrap_or(i64::MIN)
                    .cmp(&a.order.planned_end_ms.unwrap_or(i64::MIN))
            })
            .then(a.order.id.cmp(&b.order.id))
    });
    let open = views.iter().filter(|v| v.order.state.is_open()).count();
    views.truncate(open + RECENT_CLOSED);
    views
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(id: &str, state: OrderState, priority: i64, start: i64) -> Order {
        Order {
            id: id.into(),
            product: "HC".into(),
            product_name: String::new(),
            planned_quantity: 10,
            confirmed_quantity: 0,
            planned_start_ms: Some(start),
            planned_end_ms: Some(start + 100),
            priority,
            state,
        }
    }

    #[test]
    fn the_page_shows_the_active_order_first_then_upcoming_then_recent_closed() {
        let mut orders = vec![
            order("u2", OrderState::Planned, 1, 300),
            order("u1", OrderState::Released, 1, 200),
            order("run", OrderState::Running, 1, 100),
            order("hi", OrderState::Planned, 9, 900),
        ];
        for i in 0..8 {
            orders.push(order(&format!("done{i}"), OrderState::Completed, 1, i * 10));
        }
        let mut counts = HashMap::new();
        counts.insert(
            "run".to_owned(),
            Counts {
                produced: 4,
                high_risk: 1,
                scrapped: 0,
            },
        );
        let v = arrange(orders, &counts, Some("run"));
        let ids: Vec<&str> = v.iter().map(|v| v.order.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "run", "hi", "u1", "u2", "done7", "done6", "done5", "done4", "done3"
            ]
        );
        assert!(v[0].active && !v[1].active);
        assert_eq!((v[0].produced, v[0].high_risk), (4, 1));
        assert_eq!(v[1].produced, 0);
    }
}
