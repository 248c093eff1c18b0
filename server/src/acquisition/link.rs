//! The PLC link: the owner task of one connection, its reads and writes.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use app::actions::{Envelope, TagNow, check};
use app::line::{LinkState, Quality, ScanRate, TagProblem, Value};
use rand::SeedableRng;
use tokio::time::{Instant, sleep_until, timeout};
use tokio_modbus::client::{Client, Context};
use tokio_modbus::prelude::*;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::plan::{Block, alone, plan, split};
use super::sentence;
pub use super::sentence::{FAILURE_KINDS, ModbusError};
use crate::backoff::Backoff;
use crate::bus::{Bus, Reading, ScanBatch};
use crate::clock::now_ms;
use crate::modbus::codec::DataType;
use crate::plant::{Access, Device, Table, Tag, TagId};

/// Why a write did not end written.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WriteError {
    /// The PLC is not connected (acquisition is reconnecting); nothing was written.
    #[error("the PLC is not connected; nothing was written")]
    NotConnected,
    /// The fresh read before the write failed; nothing was written.
    #[error("nothing was written: the read just before the write failed ({0})")]
    FreshRead(String),
    /// The envelope refused the write on the values read just before it; nothing
    /// was written.
    #[error("{0}")]
    Refused(String),
    /// The value does not fit the register; nothing was written.
    #[error("{value} does not fit the register: it holds {low} to {high}")]
    OutOfRange {
        /// Asked for, in engineering units.
        value: f64,
        /// Lowest the register holds, in engineering units.
        low: f64,
        /// Highest.
        high: f64,
    },
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

/// What the owner task checks against values it reads itself, over the same
/// connection, just before it writes.
#[derive(Debug, Clone)]
pub struct Guard {
    /// The tag's envelope.
    pub envelope: Envelope,
    /// When the tag was last written (from the journal).
    pub last_write_ms: Option<i64>,
}

/// A write that reached the PLC.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Written {
    /// The value read back after it.
    pub read_back: f64,
    /// Whether the read-back was compared with the value written (`verify` of
    /// the tag's limits).
    pub verified: bool,
}

/// A request to a device's connection owner.
#[derive(Debug)]
pub enum Command {
    /// Check fresh values against the guard, write, read back.
    Write {
        /// The tag.
        tag: TagId,
        /// Value in engineering units.
        value: f64,
        /// The envelope checked on fresh reads.
        guard: Guard,
        /// The outcome.
        reply: tokio::sync::oneshot::Sender<Result<Written, WriteError>>,
    },
    /// Read one tag now (and publish it).
    Read {
        /// The tag.
        tag: TagId,
        /// Its value.
        reply: tokio::sync::oneshot::Sender<Result<Value, WriteError>>,
    },
}

impl Command {
    /// Answers that the PLC is not connected.
    fn not_connected(self) {
        match self {
            Command::Write { reply, .. } => {
                let _ = reply.send(Err(WriteError::NotConnected));
            }
            Command::Read { reply, .. } => {
                let _ = reply.send(Err(WriteError::NotConnected));
            }
        }
    }
}

/// Requests waiting per device at most.
const WRITE_QUEUE: usize = 16;

/// Handles to every device's connection owner, for writes (cheap to clone).
#[derive(Debug, Clone, Default)]
pub struct PlcWriters {
    senders: Arc<Vec<tokio::sync::mpsc::Sender<Command>>>,
}

impl PlcWriters {
    async fn send(&self, device: usize, c: Command) -> Result<(), WriteError> {
        let tx = self.senders.get(device).ok_or(WriteError::NotConnected)?;
        tx.send(c).await.map_err(|_| WriteError::NotConnected)
    }

    /// Has `tag`'s connection owner read the tag and its machine's state, check
    /// the write of `value` against `guard` on those fresh values, write and read
    /// back: one sequence on the connection, no other request in between.
    pub async fn write(&self, tag: TagId, value: f64, guard: Guard) -> Result<Written, WriteError> {
        let (reply, rx) = tokio::sync::oneshot::channel();
        self.send(
            tag.device().index(),
            Command::Write {
                tag,
                value,
                guard,
                reply,
            },
        )
        .await?;
        rx.await.unwrap_or(Err(WriteError::NotConnected))
    }

    /// Reads `tag` now through its connection owner (a good reading, or why not).
    pub async fn read(&self, tag: TagId) -> Result<Value, WriteError> {
        let (reply, rx) = tokio::sync::oneshot::channel();
        self.send(tag.device().index(), Command::Read { tag, reply })
            .await?;
        rx.await.unwrap_or(Err(WriteError::NotConnected))
    }
}

/// Counters of one device's acquisition (exported on `/metrics`).
#[derive(Debug, Default)]
pub struct DeviceStats {
    /// Scan groups read completely.
    pub scans: AtomicU64,
    /// Scans skipped because the previous one ran late.
    pub missed: AtomicU64,
    /// Scans that ended after the next one was due.
    pub late: AtomicU64,
    /// Values published.
    pub values: AtomicU64,
    /// Connections opened.
    pub connects: AtomicU64,
    /// Connections given up after an error.
    pub failures: AtomicU64,
    /// Failed connections and connects by kind ([`FAILURE_KINDS`]).
    pub failures_by_kind: [AtomicU64; FAILURE_KINDS.len()],
    /// Block reads the PLC refused (an exception or a short reply).
    pub refused_reads: AtomicU64,
}

impl DeviceStats {
    fn failed(&self, e: &ModbusError) {
        self.failures_by_kind[e.kind()].fetch_add(1, Ordering::Relaxed);
    }
}

/// Where a device is reached, after overrides (an embedded simulator, the environment).
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// Host name or address.
    pub host: String,
    /// TCP port.
    pub port: u16,
}

/// One scan group's reads (re-planned around what the PLC refuses, and kept so
/// across reconnections) and its rate since the last report.
struct GroupPlan {
    name: String,
    period: Duration,
    blocks: Vec<Block>,
    next_due: Instant,
    scans: u64,
    late: u64,
}

/// How often the achieved scan rates and refused tags are published.
const HEALTH_EVERY: Duration = Duration::from_secs(5);
/// While a link stays down, its error is logged again at most this often.
const RELOG_EVERY: Duration = Duration::from_secs(60);

/// A link that is down: since when, and when that was last logged.
struct Down {
    since: Instant,
    logged: Instant,
}

/// What one block read came to, short of a broken connection.
enum BlockRead {
    /// Its tags, decoded.
    Read(Vec<Reading>),
    /// The PLC refused it: an exception, or fewer values than asked.
    Refused {
        /// Why, in words.
        reason: String,
        /// True when reading fewer registers may succeed (exception 02 or 03,
        /// or a short reply): the block spans addresses the PLC does not have.
        holes: bool,
    },
}

/// Owns the connection to one PLC.
pub struct DeviceRunner {
    device: Arc<Device>,
    endpoint: Endpoint,
    bus: Arc<Bus>,
    stats: Arc<DeviceStats>,
    writes: Option<tokio::sync::mpsc::Receiver<Command>>,
}

/// The next write request, or never when there is no write channel.
async fn next_write(writes: &mut Option<tokio::sync::mpsc::Receiver<Command>>) -> Option<Command> {
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
    pub fn with_writes(mut self, rx: tokio::sync::mpsc::Receiver<Command>) -> Self {
        self.writes = Some(rx);
        self
    }

    /// The device's scan groups, planned (reads re-planned later stay so across
    /// reconnections).
    fn groups(&self) -> Vec<GroupPlan> {
        let now = Instant::now();
        self.device
            .scan_groups
            .iter()
            .enumerate()
            .map(|(gi, g)| GroupPlan {
                name: g.name.clone(),
                period: g.period,
                blocks: plan(&self.device, gi),
                next_due: now,
                scans: 0,
                late: 0,
            })
            .filter(|g| !g.blocks.is_empty())
            .collect()
    }

    /// Connects, polls and reconnects until `shutdown` is cancelled. A link that
    /// goes down is logged at warn with why, then at most once a minute while it
    /// stays down, and at info when it is back.
    #[tracing::instrument(name = "device", skip_all, fields(machine_id = %self.device.machine))]
    pub async fn run(mut self, shutdown: CancellationToken) {
        let mut rng = rand::rngs::SmallRng::from_os_rng();
        let mut writes = self.writes.take();
        let mut link = Session {
            backoff: Backoff::new(Duration::from_millis(200), self.device.reconnect_max),
            groups: self.groups(),
            refused: BTreeMap::new(),
            down: None,
        };
        loop {
            let connected = tokio::select! {
                () = shutdown.cancelled() => return,
                c = self.connect() => c,
            };
            let failed = match connected {
                Ok(ctx) => {
                    self.stats.connects.fetch_add(1, Ordering::Relaxed);
                    debug!(host = %self.endpoint.host, port = self.endpoint.port, "connected");
                    match self.poll(ctx, &mut link, &shutdown, &mut writes).await {
                        Ok(()) => return,
                        Err(e) => {
                            self.stats.failures.fetch_add(1, Ordering::Relaxed);
                            e
                        }
                    }
                }
                Err(e) => e,
            };
            self.stats.failed(&failed);
            self.log_down(&mut link.down, &failed);
            self.mark_lost(&failed);
            // While reconnecting, writes are answered at once: not connected.
            let until = Instant::now() + link.backoff.next_delay(&mut rng);
            loop {
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = sleep_until(until) => break,
                    Some(c) = next_write(&mut writes) => c.not_connected(),
                }
            }
        }
    }

    /// Logs a failure: at warn when the link goes down, then at most once a
    /// minute while it stays down.
    fn log_down(&self, down: &mut Option<Down>, e: &ModbusError) {
        let now = Instant::now();
        let target = format!("{}:{}", self.endpoint.host, self.endpoint.port);
        match down {
            None => {
                warn!(plc = %target, error = %e, "PLC link down");
                *down = Some(Down {
                    since: now,
                    logged: now,
                });
            }
            Some(d) if now.duration_since(d.logged) >= RELOG_EVERY => {
                let secs = now.duration_since(d.since).as_secs();
                warn!(plc = %target, error = %e, down_for_s = secs, "PLC link still down");
                d.logged = now;
            }
            Some(_) => debug!(error = %e, "reconnect failed"),
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
                .map_err(|e| sentence::connect_error(&e, &target))
        };
        timeout(limit, attempt)
            .await
            .map_err(|_| ModbusError::ConnectTimeout {
                target: target.clone(),
                ms: ms(limit),
            })?
    }

    /// Carries out one command on the open connection, publishes what it read
    /// and answers the requester; returns the error that ends the connection, if
    /// the command left it unusable.
    async fn carry_out(&self, ctx: &mut Context, c: Command) -> Option<ModbusError> {
        match c {
            Command::Write {
                tag,
                value,
                guard,
                reply,
            } => {
                let (done, lost) = self.guarded_write(ctx, tag, value, &guard).await;
                let _ = reply.send(done);
                lost
            }
            Command::Read { tag, reply } => match self.read_fresh(ctx, tag.index()).await {
                Ok(r) => {
                    let answer = match (&r.value, r.quality) {
                        (Some(v), Quality::Good) => Ok(v.clone()),
                        (_, q) => Err(WriteError::FreshRead(format!(
                            "the reading is {}",
                            q.label().to_lowercase()
                        ))),
                    };
                    self.publish_now(vec![r]);
                    let _ = reply.send(answer);
                    None
                }
                Err(e) => {
                    let _ = reply.send(Err(WriteError::FreshRead(e.to_string())));
                    Some(e)
                }
            },
        }
    }

    /// Publishes readings taken outside the scan (a fresh read, a read-back):
    /// nobody decides on a value from before them.
    fn publish_now(&self, readings: Vec<Reading>) {
        self.bus.publish_scan(ScanBatch {
            device: self.device.id,
            ts_ms: now_ms(),
            readings,
        });
    }

    /// Reads tag `index` alone, now.
    async fn read_fresh(&self, ctx: &mut Context, index: usize) -> Result<Reading, ModbusError> {
        let block = alone(&self.device, index);
        let bad = Reading {
            tag: self.device.tags[index].id,
            value: None,
            quality: Quality::Bad,
        };
        Ok(match read_block(ctx, &self.device, &block).await? {
            BlockRead::Read(mut r) => r.pop().unwrap_or(bad),
            BlockRead::Refused { .. } => bad,
        })
    }

    /// The write sequence: read the tag and the machine's state, check the
    /// envelope on those values, write, read back. Returns the outcome and the
    /// error that ends the connection, if any.
    async fn guarded_write(
        &self,
        ctx: &mut Context,
        tag: TagId,
        value: f64,
        guard: &Guard,
    ) -> (Result<Written, WriteError>, Option<ModbusError>) {
        let Some(t) = self.device.tags.get(tag.index()).filter(|t| t.id == tag) else {
            let e = WriteError::NotWritable(format!("no tag #{}", tag.index()));
            return (Err(e), None);
        };
        let fresh = match self.read_fresh(ctx, tag.index()).await {
            Ok(r) => r,
            Err(e) => return (Err(WriteError::FreshRead(e.to_string())), Some(e)),
        };
        let state = match self.device.state_tag() {
            None => None,
            Some(st) => match self.read_fresh(ctx, st.id.index()).await {
                Ok(r) => Some(r),
                Err(e) => return (Err(WriteError::FreshRead(e.to_string())), Some(e)),
            },
        };
        let value_now = fresh.value.as_ref().and_then(Value::as_f64);
        let quality = fresh.quality;
        let machine_state = state
            .as_ref()
            .filter(|r| r.quality == Quality::Good)
            .and_then(|r| match &r.value {
                Some(Value::Text(s)) => Some(s.clone()),
                _ => None,
            });
        self.publish_now(std::iter::once(fresh).chain(state).collect());
        let seen = format!(
            "read just before the write: {} = {}, machine state {}",
            t.name,
            value_now.map_or_else(|| quality.label().to_lowercase(), app::fmt::format_number),
            machine_state.as_deref().unwrap_or("unknown"),
        );
        let now = TagNow {
            writable: true,
            value: value_now,
            quality,
            machine_state,
            last_write_ms: guard.last_write_ms,
        };
        match check(&guard.envelope, &now, Some(value), now_ms()) {
            Err(r) => return (Err(WriteError::Refused(format!("{r} ({seen})"))), None),
            Ok(a) if a.to != value => {
                let e = WriteError::Refused(format!(
                    "the tag moved ({seen}); within the envelope only {} could be written now, \
                     not the {} approved",
                    app::fmt::format_number(a.to),
                    app::fmt::format_number(value),
                ));
                return (Err(e), None);
            }
            Ok(_) => {}
        }
        let done = write_tag(ctx, &self.device, t, value).await;
        let read = match &done {
            Ok((v, _)) | Err(WriteError::Mismatch { read: v, .. }) => Some(*v),
            Err(_) => None,
        };
        if let Some(v) = read {
            let value = if t.data_type == DataType::Bit {
                Value::Bool(v != 0.0)
            } else {
                Value::Number(v)
            };
            self.publish_now(vec![Reading {
                tag,
                value: Some(value),
                quality: Quality::Good,
            }]);
        }
        let lost = match &done {
            Err(WriteError::Timeout(ms)) => Some(ModbusError::Timeout(*ms)),
            Err(WriteError::Transport(e)) => Some(ModbusError::Transport(e.clone())),
            _ => None,
        };
        let done = done.map(|(read_back, verified)| Written {
            read_back,
            verified,
        });
        (done, lost)
    }

    /// Polls until an error or shutdown. The link counts as online, and the back-off
    /// starts over, only once a whole scan succeeded: a PLC that accepts connections
    /// and then fails every request is retried with back-off, not in a tight loop.
    async fn poll(
        &self,
        mut ctx: Context,
        link: &mut Session,
        shutdown: &CancellationToken,
        writes: &mut Option<tokio::sync::mpsc::Receiver<Command>>,
    ) -> Result<(), ModbusError> {
        let mut online = false;
        let start = Instant::now();
        for g in link.groups.iter_mut() {
            g.next_due = start;
        }
        if link.groups.is_empty() {
            shutdown.cancelled().await;
            return Ok(());
        }
        let mut health_at = start + HEALTH_EVERY;
        let mut window = start;
        loop {
            let Some(gi) = (0..link.groups.len()).min_by_key(|&i| link.groups[i].next_due) else {
                return Ok(());
            };
            let due = link.groups[gi].next_due;
            tokio::select! {
                () = shutdown.cancelled() => return Ok(()),
                () = sleep_until(due) => {}
                Some(c) = next_write(writes) => {
                    // A request that timed out leaves the connection unusable.
                    if let Some(e) = self.carry_out(&mut ctx, c).await {
                        return Err(e);
                    }
                    continue;
                }
            }
            let g = &mut link.groups[gi];
            let refused = &mut link.refused;
            // A slow PLC must not hold up shutdown for a whole group of timeouts.
            let readings = tokio::select! {
                () = shutdown.cancelled() => return Ok(()),
                r = self.scan(&mut ctx, g, refused) => r?,
            };
            if !online {
                online = true;
                link.backoff.reset();
                if let Some(d) = link.down.take() {
                    info!(
                        host = %self.endpoint.host,
                        port = self.endpoint.port,
                        down_for_s = d.since.elapsed().as_secs(),
                        "PLC link up again"
                    );
                }
                self.bus.set_link(self.device.id, LinkState::Online, None);
                // What the first scan learned; the rates come with the next report.
                self.publish_health(&link.groups, &link.refused, None);
            }
            let g = &mut link.groups[gi];
            self.stats.scans.fetch_add(1, Ordering::Relaxed);
            self.stats
                .values
                .fetch_add(readings.len() as u64, Ordering::Relaxed);
            self.bus.publish_scan(ScanBatch {
                device: self.device.id,
                ts_ms: now_ms(),
                readings,
            });
            g.scans += 1;
            // Next scan on the fixed grid; a scan that ended after the next was due is
            // late, and the slots that already passed are skipped and counted.
            g.next_due += g.period;
            let now = Instant::now();
            if g.next_due < now {
                g.late += 1;
                self.stats.late.fetch_add(1, Ordering::Relaxed);
                let behind = now.duration_since(g.next_due);
                let skipped = (behind.as_nanos() / g.period.as_nanos().max(1)) as u64 + 1;
                self.stats.missed.fetch_add(skipped, Ordering::Relaxed);
                g.next_due += g.period * u32::try_from(skipped).unwrap_or(u32::MAX);
            }
            if now >= health_at {
                self.publish_health(
                    &link.groups,
                    &link.refused,
                    Some(now.duration_since(window)),
                );
                for g in link.groups.iter_mut() {
                    (g.scans, g.late) = (0, 0);
                }
                window = now;
                health_at = now + HEALTH_EVERY;
            }
        }
    }

    /// Reads every block of `g`. A block the PLC refuses because it spans
    /// addresses it does not have is split and read again at once (and stays
    /// split); a tag it refuses alone reads bad, with why.
    async fn scan(
        &self,
        ctx: &mut Context,
        g: &mut GroupPlan,
        refused: &mut BTreeMap<usize, String>,
    ) -> Result<Vec<Reading>, ModbusError> {
        let mut readings = Vec::new();
        let mut i = 0;
        while i < g.blocks.len() {
            match read_block(ctx, &self.device, &g.blocks[i]).await? {
                BlockRead::Read(r) => {
                    for t in &g.blocks[i].tags {
                        refused.remove(t);
                    }
                    readings.extend(r);
                    i += 1;
                }
                BlockRead::Refused { reason, holes } => {
                    self.stats.refused_reads.fetch_add(1, Ordering::Relaxed);
                    let block = &g.blocks[i];
                    let parts = if holes {
                        split(&self.device, block)
                    } else {
                        Vec::new()
                    };
                    if parts.is_empty() {
                        for &t in &block.tags {
                            if refused.insert(t, reason.clone()).is_none() {
                                warn!(tag = %self.device.tags[t].name, %reason, "the PLC refuses a tag");
                            }
                            readings.push(Reading {
                                tag: self.device.tags[t].id,
                                value: None,
                                quality: Quality::Bad,
                            });
                        }
                        i += 1;
                    } else {
                        info!(
                            tags = block.tags.len(),
                            from = %block.table.describe(block.start),
                            count = block.count,
                            %reason,
                            reads = parts.len(),
                            "the PLC refused a merged read; reading around the addresses it lacks from now on"
                        );
                        g.blocks.splice(i..=i, parts);
                    }
                }
            }
        }
        Ok(readings)
    }

    /// Publishes the refused tags and each group's rate over `window` (`None`:
    /// keep the rates last published).
    fn publish_health(
        &self,
        groups: &[GroupPlan],
        refused: &BTreeMap<usize, String>,
        window: Option<Duration>,
    ) {
        let refused = refused
            .iter()
            .map(|(&t, reason)| TagProblem {
                tag: self.device.tags[t].name.clone(),
                reason: reason.clone(),
            })
            .collect();
        let scans = if let Some(window) = window {
            let secs = window.as_secs_f64().max(1e-3);
            groups
                .iter()
                .map(|g| ScanRate {
                    group: g.name.clone(),
                    target_per_s: round1(1.0 / g.period.as_secs_f64().max(1e-3)),
                    achieved_per_s: round1(g.scans as f64 / secs),
                    late: g.late,
                })
                .collect()
        } else {
            self.bus
                .link(self.device.id)
                .map(|l| l.scans)
                .unwrap_or_default()
        };
        self.bus.set_health(self.device.id, refused, scans);
    }
}

/// What a device's connections carry from one to the next: the back-off, the
/// plans (split blocks stay split), the refused tags and the outage.
struct Session {
    backoff: Backoff,
    groups: Vec<GroupPlan>,
    refused: BTreeMap<usize, String>,
    down: Option<Down>,
}

/// To one decimal (rates shown to people; fewer needless updates).
fn round1(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

/// A timeout in whole milliseconds, as the error messages say it.
fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Reads one block under the device timeout and decodes its tags.
///
/// Uses the raw `call` rather than tokio-modbus' typed readers: those assert on the
/// reply length (a panic in debug builds on a PLC's short reply). The length is
/// checked here instead: a reply shorter than asked (some servers answer reads
/// past their map with an empty one) refuses the block like an exception; the
/// frame itself was well formed, so the connection stays.
async fn read_block(
    ctx: &mut Context,
    device: &Device,
    block: &Block,
) -> Result<BlockRead, ModbusError> {
    let request = match block.table {
        Table::Holding => Request::ReadHoldingRegisters(block.start, block.count),
        Table::Input => Request::ReadInputRegisters(block.start, block.count),
        Table::Coil => Request::ReadCoils(block.start, block.count),
        Table::Discrete => Request::ReadDiscreteInputs(block.start, block.count),
    };
    let reply = timeout(device.timeout, ctx.call(request))
        .await
        .map_err(|_| ModbusError::Timeout(ms(device.timeout)))?
        .map_err(sentence::request_error)?;
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
            return Err(ModbusError::Mismatch(format!(
                "a reply of another kind ({other:?})"
            )));
        }
        Err(code) => {
            let holes = matches!(
                code,
                ExceptionCode::IllegalDataAddress | ExceptionCode::IllegalDataValue
            );
            let reason = sentence::exception(code, block.table, block.start);
            return Ok(BlockRead::Refused { reason, holes });
        }
    };
    if words.len() < usize::from(block.count) {
        let reason = format!(
            "the PLC answered {} of the {} values asked at {}",
            words.len(),
            block.count,
            block.table.describe(block.start)
        );
        return Ok(BlockRead::Refused {
            reason,
            holes: true,
        });
    }
    Ok(BlockRead::Read(super::decode::block_readings(
        device, block, &words,
    )))
}

/// Writes one tag and reads it back; returns the value read and whether it was
/// compared with the one written. The value is unscaled and encoded as the tag is
/// read (never saturated: a value the register cannot hold is refused); holding
/// registers are written with function 16, coils with 5.
async fn write_tag(
    ctx: &mut Context,
    device: &Device,
    t: &Tag,
    value: f64,
) -> Result<(f64, bool), WriteError> {
    use crate::modbus::codec::{self, Raw};
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
        Ok(Err(e)) => Err(WriteError::Transport(
            sentence::request_error(e).to_string(),
        )),
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
            if let Some((lo, hi)) = codec::range(ty)
                && !(lo..=hi).contains(&raw.round())
            {
                let (a, b) = (
                    codec::scale(lo, t.scale, t.offset),
                    codec::scale(hi, t.scale, t.offset),
                );
                return Err(WriteError::OutOfRange {
                    value,
                    low: a.min(b),
                    high: a.max(b),
                });
            }
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
    Ok((read_back, limits.verify))
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
