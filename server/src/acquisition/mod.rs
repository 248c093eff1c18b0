//! Acquisition: one owner task per PLC connection polls its scan groups and
//! publishes readings on the bus.
//!
//! Every request runs under the device's timeout. After a timeout or any transport
//! or protocol error the connection is dropped (a late reply would desynchronise it)
//! and re-opened with exponential back-off and jitter. A device exception only marks
//! the block's tags bad; the connection stays. One device never waits for another.

pub mod decode;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use app::model::{LinkState, Quality};
use rand::SeedableRng;
use tokio::time::{Instant, sleep_until, timeout};
use tokio_modbus::client::{Client, Context};
use tokio_modbus::prelude::*;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::backoff::Backoff;
use crate::bus::{Bus, Reading, ScanBatch, now_ms};
use crate::config::{Device, Table};
use crate::modbus::plan::{Block, plan};

/// Why a connection was given up.
#[derive(Debug, thiserror::Error)]
pub enum ModbusError {
    /// No answer within the device's timeout.
    #[error("no answer within {0} ms")]
    Timeout(u64),
    /// The TCP connection failed or the frame was malformed (wrong unit id, transaction id …).
    #[error("transport: {0}")]
    Transport(String),
    /// The reply had fewer values than requested.
    #[error("short reply: asked for {asked}, got {got}")]
    ShortReply {
        /// Values requested.
        asked: u16,
        /// Values received.
        got: usize,
    },
    /// The host name did not resolve.
    #[error("cannot resolve {0}")]
    Resolve(String),
}

/// Counters of one device's acquisition.
#[derive(Debug, Default)]
pub struct DeviceStats {
    /// Scan groups read completely.
    pub scans: AtomicU64,
    /// Scans skipped because the previous one ran late.
    pub missed: AtomicU64,
    /// Values published.
    pub values: AtomicU64,
    /// Connections opened.
    pub connects: AtomicU64,
    /// Connections given up after an error.
    pub failures: AtomicU64,
}

/// Where a device is reached, after overrides (an embedded simulator, the environment).
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// Host name or address.
    pub host: String,
    /// TCP port.
    pub port: u16,
}

struct GroupPlan {
    period: Duration,
    blocks: Vec<Block>,
    next_due: Instant,
}

/// Owns the connection to one PLC.
pub struct DeviceRunner {
    index: u32,
    device: Arc<Device>,
    endpoint: Endpoint,
    bus: Arc<Bus>,
    stats: Arc<DeviceStats>,
}

impl DeviceRunner {
    /// A runner for device `index` of the plant.
    pub fn new(
        index: u32,
        device: Arc<Device>,
        endpoint: Endpoint,
        bus: Arc<Bus>,
        stats: Arc<DeviceStats>,
    ) -> Self {
        Self {
            index,
            device,
            endpoint,
            bus,
            stats,
        }
    }

    /// Connects, polls and reconnects until `shutdown` is cancelled.
    #[tracing::instrument(name = "device", skip_all, fields(machine_id = %self.device.id))]
    pub async fn run(self, shutdown: CancellationToken) {
        let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(10));
        let mut rng = rand::rngs::SmallRng::from_os_rng();
        loop {
            let connected = tokio::select! {
                () = shutdown.cancelled() => return,
                c = self.connect() => c,
            };
            match connected {
                Ok(ctx) => {
                    self.stats.connects.fetch_add(1, Ordering::Relaxed);
                    info!(host = %self.endpoint.host, port = self.endpoint.port, "connected");
                    match self.poll(ctx, &mut backoff, &shutdown).await {
                        Ok(()) => return,
                        Err(e) => {
                            self.stats.failures.fetch_add(1, Ordering::Relaxed);
                            warn!(error = %e, "connection dropped");
                            self.mark_lost(&e);
                        }
                    }
                }
                Err(e) => {
                    debug!(error = %e, "connect failed");
                    self.mark_lost(&e);
                }
            }
            let delay = backoff.next_delay(&mut rng);
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(delay) => {}
            }
        }
    }

    fn mark_lost(&self, e: &ModbusError) {
        // Tags first, then the link: whoever sees the link change sees the tags marked.
        if self.bus.link(self.index).map(|l| l.state) != Some(LinkState::CommLost) {
            let readings = (0..self.device.tags.len())
                .map(|i| Reading {
                    tag: u16::try_from(i).unwrap_or(u16::MAX),
                    value: None,
                    quality: Quality::CommLost,
                })
                .collect();
            self.bus.publish_scan(ScanBatch {
                device: self.index,
                ts_ms: now_ms(),
                readings,
            });
        }
        self.bus
            .set_link(self.index, LinkState::CommLost, Some(e.to_string()));
    }

    async fn connect(&self) -> Result<Context, ModbusError> {
        let limit = self.device.connect_timeout_ms;
        let target = format!("{}:{}", self.endpoint.host, self.endpoint.port);
        let attempt = async {
            let addr: SocketAddr = tokio::net::lookup_host(&target)
                .await
                .map_err(|e| ModbusError::Resolve(format!("{target}: {e}")))?
                .next()
                .ok_or_else(|| ModbusError::Resolve(target.clone()))?;
            tcp::connect_slave(addr, Slave(self.device.unit_id))
                .await
                .map_err(|e| ModbusError::Transport(e.to_string()))
        };
        timeout(Duration::from_millis(limit), attempt)
            .await
            .map_err(|_| ModbusError::Timeout(limit))?
    }

    /// Polls until an error or shutdown. The link counts as online, and the back-off
    /// starts over, only once a whole scan succeeded: a PLC that accepts connections
    /// and then fails every request is retried with back-off, not in a tight loop.
    async fn poll(
        &self,
        mut ctx: Context,
        backoff: &mut Backoff,
        shutdown: &CancellationToken,
    ) -> Result<(), ModbusError> {
        let mut online = false;
        let now = Instant::now();
        let mut groups: Vec<GroupPlan> = self
            .device
            .scan_groups
            .iter()
            .map(|g| GroupPlan {
                period: Duration::from_millis(g.period_ms),
                blocks: plan(&self.device, &g.name),
                next_due: now,
            })
            .filter(|g| !g.blocks.is_empty())
            .collect();
        if groups.is_empty() {
            shutdown.cancelled().await;
            return Ok(());
        }
        loop {
            let Some(g) = groups.iter_mut().min_by_key(|g| g.next_due) else {
                return Ok(());
            };
            tokio::select! {
                () = shutdown.cancelled() => return Ok(()),
                () = sleep_until(g.next_due) => {}
            }
            let scan = async {
                let mut readings = Vec::new();
                for block in &g.blocks {
                    readings.extend(read_block(&mut ctx, &self.device, block).await?);
                }
                Ok::<_, ModbusError>(readings)
            };
            // A slow PLC must not hold up shutdown for a whole group of timeouts.
            let readings = tokio::select! {
                () = shutdown.cancelled() => return Ok(()),
                r = scan => r?,
            };
            if !online {
                online = true;
                backoff.reset();
                self.bus.set_link(self.index, LinkState::Online, None);
            }
            self.stats.scans.fetch_add(1, Ordering::Relaxed);
            self.stats
                .values
                .fetch_add(readings.len() as u64, Ordering::Relaxed);
            self.bus.publish_scan(ScanBatch {
                device: self.index,
                ts_ms: now_ms(),
                readings,
            });
            // Next scan on the fixed grid; scans whose slot has already passed are skipped and counted.
            g.next_due += g.period;
            let now = Instant::now();
            if g.next_due < now {
                let behind = now.duration_since(g.next_due);
                let skipped = (behind.as_nanos() / g.period.as_nanos().max(1)) as u64 + 1;
                self.stats.missed.fetch_add(skipped, Ordering::Relaxed);
                g.next_due += g.period * u32::try_from(skipped).unwrap_or(u32::MAX);
            }
        }
    }
}

/// Reads one block under the device timeout and decodes its tags.
///
/// Uses the raw `call` rather than tokio-modbus' typed readers: those assert on the
/// reply length (a panic in debug builds on a PLC's short reply). The length is
/// checked here instead.
async fn read_block(
    ctx: &mut Context,
    device: &Device,
    block: &Block,
) -> Result<Vec<Reading>, ModbusError> {
    let request = match block.table {
        Table::Holding => Request::ReadHoldingRegisters(block.start, block.count),
        Table::Input => Request::ReadInputRegisters(block.start, block.count),
        Table::Coil => Request::ReadCoils(block.start, block.count),
        Table::Discrete => Request::ReadDiscreteInputs(block.start, block.count),
    };
    let reply = timeout(Duration::from_millis(device.timeout_ms), ctx.call(request))
        .await
        .map_err(|_| ModbusError::Timeout(device.timeout_ms))?
        .map_err(|e| ModbusError::Transport(e.to_string()))?;
    let words = match reply {
        Ok(Response::ReadHoldingRegisters(r) | Response::ReadInputRegisters(r)) => {
            decode::Words::Registers(r)
        }
        // Bit replies are padded to whole bytes; keep what was asked for.
        Ok(Response::ReadCoils(mut b) | Response::ReadDiscreteInputs(mut b)) => {
            b.truncate(usize::from(block.count));
            decode::Words::Bits(b)
        }
        Ok(other) => {
            return Err(ModbusError::Transport(format!(
                "unexpected reply {other:?}"
            )));
        }
        Err(exception) => {
            debug!(
                ?exception,
                start = block.start,
                count = block.count,
                "device exception"
            );
            return Ok(block
                .tags
                .iter()
                .map(|&t| Reading {
                    tag: u16::try_from(t).unwrap_or(u16::MAX),
                    value: None,
                    quality: Quality::Bad,
                })
                .collect());
        }
    };
    if words.len() < usize::from(block.count) {
        return Err(ModbusError::ShortReply {
            asked: block.count,
            got: words.len(),
        });
    }
    Ok(decode::block_readings(device, block, &words))
}

/// Starts one runner per device; returns their stats in plant order.
pub fn spawn_all(
    devices: &[Arc<Device>],
    endpoints: &[Endpoint],
    bus: &Arc<Bus>,
    tasks: &tokio_util::task::TaskTracker,
    shutdown: &CancellationToken,
) -> Vec<Arc<DeviceStats>> {
    devices
        .iter()
        .zip(endpoints)
        .enumerate()
        .map(|(i, (d, e))| {
            let stats = Arc::new(DeviceStats::default());
            let runner = DeviceRunner::new(
                u32::try_from(i).unwrap_or(u32::MAX),
                Arc::clone(d),
                e.clone(),
                Arc::clone(bus),
                Arc::clone(&stats),
            );
            tasks.spawn(runner.run(shutdown.clone()));
            stats
        })
        .collect()
}
