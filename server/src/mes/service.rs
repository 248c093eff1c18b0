//! The MES side as the rest of CellGuard sees it: starting the client and the
//! reports, the link's status and the outbox and orders views.
use std::sync::Arc;
use std::time::Duration;

use app::api::service::{MesService, ServiceError};
use app::auth::{AuditAction, Caller};
use app::mes::{MesLinkState, MesStatus, OrdersView, OutboxList, OutboxPage};
use sqlx::SqlitePool;
use tokio::sync::{Notify, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::settings::{MesSettings, Secret};
use crate::audit::{AuditEvent, AuditLog};
use crate::bus::Bus;
use crate::clock::now_ms;
use crate::plant::Plant;

use super::orders::OrderStore;
use super::outbox::Outbox;

/// Messages per page of the MES page.
const PER_PAGE: u32 = 50;

/// The MES side of CellGuard: the stores, the client's state and its handles.
#[derive(Clone)]
pub struct Mes {
    /// The outbox.
    pub outbox: Outbox,
    /// The orders as last fetched.
    pub orders: OrderStore,
    status: watch::Receiver<MesStatus>,
    /// Woken when messages are queued.
    pub wake: Arc<Notify>,
    refresh: Arc<Notify>,
    audit: AuditLog,
    /// Without an MES the status never changes; holding its sender keeps
    /// receivers waiting quietly instead of seeing a closed channel.
    _quiet: Option<Arc<watch::Sender<MesStatus>>>,
}

impl std::fmt::Debug for Mes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mes")
            .field("status", &*self.status.borrow())
            .finish_non_exhaustive()
    }
}

impl Mes {
    /// Starts the MES side on `pool`: the client (talking to `endpoint`, or doing
    /// nothing but keeping the stores readable when `None`), the machine-data
    /// reports and the order confirmations. Every task takes `shutdown`.
    pub fn start(
        plant: &Arc<Plant>,
        cfg: &MesSettings,
        pool: SqlitePool,
        bus: &Arc<Bus>,
        endpoint: Option<super::client::Endpoint>,
        tasks: &TaskTracker,
        shutdown: &CancellationToken,
    ) -> anyhow::Result<Mes> {
        let outbox = Outbox::new(pool.clone());
        let orders = OrderStore::new(pool.clone());
        let state = if endpoint.is_some() {
            MesLinkState::Connecting
        } else {
            MesLinkState::Disabled
        };
        let (status_tx, status) = watch::channel(MesStatus::new(state, now_ms()));
        let wake = Arc::new(Notify::new());
        let refresh = Arc::new(Notify::new());
        let mut quiet = None;
        if let Some(endpoint) = endpoint {
            let c = super::client::Client::new(
                endpoint,
                cfg.clone(),
                outbox.clone(),
                orders.clone(),
                status_tx,
                Arc::clone(&wake),
                Arc::clone(&refresh),
            )?;
            tasks.spawn(c.run(shutdown.clone()));
            tasks.spawn(super::report::run_machine_data(
                Arc::clone(plant),
                Arc::clone(bus),
                outbox.clone(),
                cfg.machine_data_interval,
                Arc::clone(&wake),
                shutdown.clone(),
            ));
            tasks.spawn(run_reports(
                orders.clone(),
                pool.clone(),
                cfg.confirmation_interval,
                Arc::clone(&wake),
                shutdown.clone(),
            ));
        } else {
            quiet = Some(Arc::new(status_tx));
        }
        Ok(Mes {
            outbox,
            orders,
            status,
            wake,
            refresh,
            audit: AuditLog::new(pool),
            _quiet: quiet,
        })
    }

    /// The link and outbox as last published.
    pub fn status(&self) -> MesStatus {
        self.status.borrow().clone()
    }

    /// A receiver of status changes (for the live stream).
    pub fn watch(&self) -> watch::Receiver<MesStatus> {
        self.status.clone()
    }

    /// Whether an MES is configured.
    pub fn enabled(&self) -> bool {
        self.status.borrow().state != MesLinkState::Disabled
    }
}

/// The endpoint for a configured (not embedded) MES.
pub fn configured_endpoint(cfg: &MesSettings) -> Option<super::client::Endpoint> {
    let url = cfg.url.as_ref().filter(|_| !cfg.embedded)?;
    Some(super::client::Endpoint {
        base: url.as_str().to_owned(),
        token: cfg.token.clone(),
    })
}

/// The endpoint of an embedded simulator.
pub fn simulator_endpoint(sim: &super::sim::MesSim, token: &str) -> super::client::Endpoint {
    super::client::Endpoint {
        base: sim.url(),
        token: Secret::new(token),
    }
}

/// Once per `every` (and at start), until shutdown: queues order confirmations
/// whenever an order's counts changed, and any quality result that was not queued
/// with its score.
pub async fn run_reports(
    orders: OrderStore,
    pool: SqlitePool,
    every: Duration,
    wake: Arc<Notify>,
    shutdown: CancellationToken,
) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        match super::report::sweep_unreported(&pool, now_ms()).await {
            Ok(0) => {}
            Ok(n) => {
                tracing::info!(
                    cells = n,
                    "quality results queued that were not queued with their scores"
                );
                wake.notify_one();
            }
            Err(e) => tracing::warn!(error = %e, "cannot look for unreported quality results"),
        }
        match orders.confirm_changed(now_ms()).await {
            Ok(0) => {}
            Ok(_) => wake.notify_one(),
            Err(e) => tracing::warn!(error = %e, "cannot queue order confirmations"),
        }
    }
}

#[async_trait::async_trait]
impl MesService for Mes {
    async fn orders(&self) -> Result<OrdersView, ServiceError> {
        let orders = self.orders.views().await?;
        let mut status = self.status();
        if status.orders_fetched_ms.is_none() {
            status.orders_fetched_ms = self.orders.fetched_ms().await?;
        }
        Ok(OrdersView { orders, status })
    }

    async fn refresh_orders(&self) -> Result<(), ServiceError> {
        if !self.enabled() {
            return Err(ServiceError::Conflict("no MES is configured".into()));
        }
        self.refresh.notify_one();
        Ok(())
    }

    async fn outbox(&self, list: OutboxList, page: u32) -> Result<OutboxPage, ServiceError> {
        let (entries, total) = self.outbox.list(list, page, PER_PAGE).await?;
        let mut status = self.status();
        // The page is read now: counts as of now, not of the last publication.
        if let Ok(d) = self.outbox.depth().await {
            status.queued = d.pending;
            status.dead = d.dead;
            status.oldest_ms = d.oldest_ms;
        }
        Ok(OutboxPage {
            list,
            entries,
            total,
            page,
            per_page: PER_PAGE,
            status,
        })
    }

    async fn retry(&self, by: &Caller, id: Option<i64>) -> Result<u64, ServiceError> {
        let n = self.outbox.retry(id).await?;
        if n == 0 {
            return Err(ServiceError::NotFound(match id {
                Some(id) => format!("message {id} is not a dead letter (any more)"),
                None => "there are no dead letters".into(),
            }));
        }
        let target = id.map_or_else(|| "all".to_owned(), |id| id.to_string());
        self.audit
            .record(AuditEvent::by(
                &by.principal,
                &by.source,
                AuditAction::OutboxRetried,
                target,
                format!("{n} message(s) queued again"),
            ))
            .await?;
        self.wake.notify_one();
        Ok(n)
    }

    async fn discard(&self, by: &Caller, id: i64) -> Result<(), ServiceError> {
        let Some((key, kind)) = self.outbox.discard(id).await? else {
            return Err(ServiceError::NotFound(format!(
                "message {id} is not waiting or dead (any more)"
            )));
        };
        self.audit
            .record(AuditEvent::by(
                &by.principal,
                &by.source,
                AuditAction::OutboxDiscarded,
                id.to_string(),
                format!("{kind} {key}"),
            ))
            .await?;
        tracing::info!(id, %key, by = %by.principal.actor(), "MES message discarded");
        Ok(())
    }
}
