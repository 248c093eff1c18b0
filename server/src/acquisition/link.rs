//! The PLC link: the owner task of one connection, its reads and writes.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use app::line::{LinkState, Quality, Value};
use rand::SeedableRng;
use tokio::time::{Instant, sleep_until, timeout};
use tokio_modbus::client::{Client, Context};
use tokio_modbus::prelude::*;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::plan::{Block, plan};
use crate::backoff::Backoff;
use crate::bus::{Bus, Reading, ScanBatch};
use crate::clock::now_ms;
use crate::modbus::codec::DataType;
use crate::plant::{Access, Device, Table, Tag, TagId};

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

/// Why a write did not end verified.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WriteError {
    /// The PLC is not connected (acquisition is reconnecting).
    #[error("the PLC is not connected")]
    NotConnected,
    /// The PLC answered with a Modbus exception.
    #[error("the PLC refused the write: {0}")]
    Exception(String),
    /// No answer within the device's timeout (the connection is re-opened).
    #[error("no answer within {0} ms")]
    Timeout(u64),
    /// The connection failed during the write (it is re-opened).
    #[error("connection failed: {0}")]
    Transport(String),
    /// The value read back is not the one written.
    #[error("read back {read} after writing {wrote}")]
    Mismatch {
        /// Written.
        wrote: f64,
        /// Read back.
        read: f64,
    },
    /// The tag cannot be written (not declared writable, or of a kind CellGuard
    /// does not write).
    #[error("the tag cannot be written: {0}")]
    NotWritable(String),
}

/// A write of one tag, answered on `reply` with the value read back.
#[derive(Debug)]
pub struct WriteRequest {
    /// The tag.
    pub tag: TagId,
    /// Value in engineering units.
    pub value: f64,
    /// The outcome.
    pub reply: tokio::sync::oneshot::Sender<Result<f64, WriteError>>,
}

/// Requests waiting per device at most.
const WRITE_QUEUE: usize = 16;

/// Handles to every device's connection owner, for writes (cheap to clone).
#[derive(Debug, Clone, Default)]
pub struct PlcWriters {
    senders: Arc<Vec<tokio::sync::mpsc::Sender<WriteRequest>>>,
}

impl PlcWriters {
    /// Writes `value` to `tag` through its device's connection owner and returns
    /// the value read back.
    pub async fn write(&self, tag: TagId, value: f64) -> Result<f64, WriteError> {
        let tx = self
            .senders
            .get(tag.device().index())
            .ok_or(WriteError::NotConnected)?;
        let (reply, rx) = tokio::sync::oneshot::channel();
        tx.send(WriteRequest { tag, value, reply })
            .await
            .map_err(|_| WriteError::NotConnected)?;
        rx.await.unwrap_or(Err(WriteError::NotConnected))
    }
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
    device: Arc<Device>,
    endpoint: Endpoint,
    bus: Arc<Bus>,
    stats: Arc<DeviceStats>,
    writes: Option<tokio::sync::mpsc::Receiver<WriteRequest>>,
}

/// The next write request, or never when there is no write channel.
async fn next_write(
    writes: &mut Option<tokio::sync::mpsc::Receiver<WriteRequest>>,
) -> Option<WriteRequest> {
    match writes {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

impl DeviceRunner {
    /// A runner for `device`.
    pub fn new(
        device: Arc<Device>,
        endpoint: Endpoint,
        bus: Arc<Bus>,
        stats: Arc<DeviceStats>,
    ) -> Self {
        Self {
            device,
            endpoint,
            bus,
            stats,
            writes: None,
        }
    }

    /// Takes writes from `rx` (see [`PlcWriters`]).
    pub fn with_writes(mut self, rx: tokio::sync::mpsc::Receiver<WriteRequest>) -> Self {
        self.writes = Some(rx);
        self
    }

    /// Connects, polls and reconnects until `shutdown` is cancelled.
    #[tracing::instrument(name = "device", skip_all, fields(machine_id = %self.device.machine))]
    pub async fn run(mut self, shutdown: CancellationToken) {
        let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(10));
        let mut rng = rand::rngs::SmallRng::from_os_rng();
        let mut writes = self.writes.take();
        loop {
            let connected = tokio::select! {
                () = shutdown.cancelled() => return,
                c = self.connect() => c,
            };
            match connected {
                Ok(ctx) => {
                    self.stats.connects.fetch_add(1, Ordering::Relaxed);
                    info!(host = %self.endpoint.host, port = self.endpoint.port, "connected");
                    match self.poll(ctx, &mut backoff, &shutdown, &mut writes).await {
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
            // While reconnecting, writes are answered at once: not connected.
            let until = Instant::now() + backoff.next_delay(&mut rng);
            loop {
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = sleep_until(until) => break,
                    Some(req) = next_write(&mut writes) => {
                        let _ = req.reply.send(Err(WriteError::NotConnected));
                    }
                }
            }
        }
    }

    fn mark_lost(&self, e: &ModbusError) {
        // Tags first, then the link: whoever sees the link change sees the tags marked.
        if self.bus.link(self.device.id).map(|l| l.state) != Some(LinkState::CommLost) {
            let readings = self
                .device
                .tags
                .iter()
                .map(|t| Reading {
                    tag: t.id,
                    value: None,
                    quality: Quality::CommLost,
                })
                .collect();
            self.bus.publish_scan(ScanBatch {
                device: self.device.id,
                ts_ms: now_ms(),
                readings,
            });
        }
        self.bus
            .set_link(self.device.id, LinkState::CommLost, Some(e.to_string()));
    }

    async fn connect(&self) -> Result<Context, ModbusError> {
        let limit = self.device.connect_timeout;
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
        timeout(limit, attempt)
            .await
            .map_err(|_| ModbusError::Timeout(ms(limit)))?
    }

    /// Carries out one write request on the open connection, publishes the value
    /// read back and answers the requester; returns the error that ends the
    /// connection, if the write left it unusable.
    async fn carry_out(&self, ctx: &mut Context, req: WriteRequest) -> Option<ModbusError> {
        let done = write_tag(ctx, &self.device, req.tag, req.value).await;
        // The value read back is a reading like any other: publish it
        // now, so nobody decides on the value from before the write.
        let read = match &done {
            Ok(v) | Err(WriteError::Mismatch { read: v, .. }) => Some(*v),
            Err(_) => None,
        };
        let bit = self
            .device
            .tags
            .get(req.tag.index())
            .is_some_and(|t| t.data_type == DataType::Bit);
        if let Some(v) = read {
            let tag = req.tag;
            self.bus.publish_scan(ScanBatch {
                device: self.device.id,
                ts_ms: now_ms(),
                readings: vec![Reading {
                    tag,
                    value: Some(if bit {
                        Value::Bool(v != 0.0)
                    } else {
                        Value::Number(v)
                    }),
                    quality: Quality::Good,
                }],
            });
        }
        let lost = match &done {
            Err(WriteError::Timeout(ms)) => Some(ModbusError::Timeout(*ms)),
            Err(WriteError::Transport(e)) => Some(ModbusError::Transport(e.clone())),
            _ => None,
        };
        let _ = req.reply.send(done);
        lost
    }

    /// Polls until an error or shutdown. The link counts as online, and the back-off
    /// starts over, only once a whole scan succeeded: a PLC that accepts connections
    /// and then fails every request is retried with back-off, not in a tight loop.
    async fn poll(
        &self,
        mut ctx: Context,
        backoff: &mut Backoff,
        shutdown: &CancellationToken,
        writes: &mut Option<tokio::sync::mpsc::Receiver<WriteRequest>>,
    ) -> Result<(), ModbusError> {
        let mut online = false;
        let now = Instant::now();
        let mut groups: Vec<GroupPlan> = self
            .device
            .scan_groups
            .iter()
            .enumerate()
            .map(|(gi, g)| GroupPlan {
                period: g.period,
                blocks: plan(&self.device, gi),
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
                Some(req) = next_write(writes) => {
                    // A write that timed out leaves the connection unusable.
                    if let Some(e) = self.carry_out(&mut ctx, req).await {
                        return Err(e);
                    }
                    continue;
                }
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
                self.bus.set_link(self.device.id, LinkState::Online, None);
            }
            self.stats.scans.fetch_add(1, Ordering::Relaxed);
            self.stats
                .values
                .fetch_add(readings.len() as u64, Ordering::Relaxed);
            self.bus.publish_scan(ScanBatch {
                device: self.device.id,
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

/// A timeout in whole milliseconds, as the error messages say it.
fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
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
    let reply = timeout(device.timeout, ctx.call(request))
        .await
        .map_err(|_| ModbusError::Timeout(ms(device.timeout)))?
        .map_err(|e| ModbusError::Transport(e.to_string()))?;
    let words = match reply {
        Ok(Response::ReadHoldingRegisters(r) | Response::ReadInputRegisters(r)) => {
            super::decode::Words::Registers(r)
        }
        // Bit replies are padded to whole bytes; keep what was asked for.
        Ok(Response::ReadCoils(mut b) | Response::ReadDiscreteInputs(mut b)) => {
            b.truncate(usize::from(block.count));
            super::decode::Words::Bits(b)
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
                    tag: device.tags[t].id,
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
    Ok(super::decode::block_readings(device, block, &words))
}

/// Writes one tag and reads it back. The value is unscaled and encoded as the tag
/// is read; holding registers are written with function 16, coils with 5.
async fn write_tag(
    ctx: &mut Context,
    device: &Device,
    tag: TagId,
    value: f64,
) -> Result<f64, WriteError> {
    use crate::modbus::codec::{self, Raw};
    let t = device
        .tags
        .get(tag.index())
        .filter(|t| t.id == tag)
        .ok_or_else(|| WriteError::NotWritable(format!("no tag #{}", tag.index())))?;
    let Access::ReadWrite(limits) = t.access else {
        return Err(WriteError::NotWritable(format!("{} is read-only", t.name)));
    };
    if !value.is_finite() {
        return Err(WriteError::NotWritable(format!("{value} is not a number")));
    }
    let address = t.address;
    let limit = device.timeout;
    let call = async |ctx: &mut Context, request: Request<'static>| match timeout(
        limit,
        ctx.call(request),
    )
    .await
    {
        Err(_) => Err(WriteError::Timeout(ms(limit))),
        Ok(Err(e)) => Err(WriteError::Transport(e.to_string())),
        Ok(Ok(Err(exception))) => Err(WriteError::Exception(exception.to_string())),
        Ok(Ok(Ok(response))) => Ok(response),
    };
    let (request, read) = match (t.table, t.data_type) {
        (Table::Holding, DataType::Bit | DataType::String) => {
            return Err(WriteError::NotWritable(format!(
                "{} is a bit or text in a register",
                t.name
            )));
        }
        (Table::Holding, ty) => {
            let raw = codec::unscale(value, t.scale, t.offset);
            let words = codec::encode(&Raw::Number(raw), ty, t.word_order, t.length);
            let count = u16::try_from(words.len()).unwrap_or(u16::MAX);
            (
                Request::WriteMultipleRegisters(address, words.into()),
                Request::ReadHoldingRegisters(address, count),
            )
        }
        (Table::Coil, _) => (
            Request::WriteSingleCoil(address, value != 0.0),
            Request::ReadCoils(address, 1),
        ),
        (Table::Input | Table::Discrete, _) => {
            return Err(WriteError::NotWritable(format!(
                "{} is in a read-only table",
                t.name
            )));
        }
    };
    call(ctx, request).await?;
    let read_back = match call(ctx, read).await? {
        Response::ReadHoldingRegisters(words) => {
            let raw = codec::decode(&words, t.data_type, t.word_order, t.bit, t.length)
                .map_err(|e| WriteError::Transport(e.to_string()))?;
            match raw {
                Raw::Number(n) => codec::scale(n, t.scale, t.offset),
                _ => f64::NAN,
            }
        }
        Response::ReadCoils(bits) => f64::from(u8::from(bits.first().copied().unwrap_or(false))),
        other => {
            return Err(WriteError::Transport(format!("unexpected reply {other:?}")));
        }
    };
    if limits.verify && !same_value(value, read_back, t) {
        return Err(WriteError::Mismatch {
            wrote: value,
            read: read_back,
        });
    }
    Ok(read_back)
}

/// Whether a value read back is the one written, within what the tag's type and
/// scale can hold (f32 keeps about 7 digits; integers round to one scale step).
fn same_value(wrote: f64, read: f64, tag: &Tag) -> bool {
    let tolerance = match tag.data_type {
        DataType::F32 => 1e-6 * wrote.abs().max(1.0),
        DataType::F64 => 1e-12 * wrote.abs().max(1.0),
        _ => tag.scale.abs() / 2.0 + 1e-9,
    };
    (wrote - read).abs() <= tolerance
}

/// Starts one runner per device; returns their stats in plant order and the
/// handles that send them writes.
pub fn spawn_all(
    devices: &[Arc<Device>],
    endpoints: &[Endpoint],
    bus: &Arc<Bus>,
    tasks: &tokio_util::task::TaskTracker,
    shutdown: &CancellationToken,
) -> (Vec<Arc<DeviceStats>>, PlcWriters) {
    let mut senders = Vec::with_capacity(devices.len());
    let stats = devices
        .iter()
        .zip(endpoints)
        .map(|(d, e)| {
            let stats = Arc::new(DeviceStats::default());
            let (tx, rx) = tokio::sync::mpsc::channel(WRITE_QUEUE);
            senders.push(tx);
            let runner = DeviceRunner::new(
                Arc::clone(d),
                e.clone(),
                Arc::clone(bus),
                Arc::clone(&stats),
            )
            .with_writes(rx);
            tasks.spawn(runner.run(shutdown.clone()));
            stats
        })
        .collect();
    (
        stats,
        PlcWriters {
            senders: Arc::new(senders),
        },
    )
}
