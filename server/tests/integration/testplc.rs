//! A Modbus TCP server of the test suite: a bank of holding registers any client
//! may read and write (CellGuard and a second client playing the HMI), a log of
//! every function-16 write (CellGuard's; the HMI writes with function 6) with the
//! registers as they were just before it, and faults a test
//! switches on (a request held without an answer, at a chosen point of a write;
//! holes in the map, an end past which reads get empty replies, slow replies).

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio_modbus::prelude::*;
use tokio_modbus::server::tcp::{Server, accept_tcp_connection};
use tokio_util::sync::CancellationToken;

/// Registers in the bank.
pub const REGISTERS: usize = 16;

/// One write as the PLC saw it.
#[derive(Debug, Clone)]
pub struct SeenWrite {
    /// First register written.
    pub address: u16,
    /// What was written.
    pub words: Vec<u16>,
    /// Every register just before the write.
    pub before: Vec<u16>,
}

/// Where a write sequence is held without an answer (until the test ends).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hold {
    /// Answer everything.
    Nothing,
    /// A one-register read of this address: the read just before a write.
    FreshRead(u16),
    /// A one-register read of this address after a write to it: the read-back.
    ReadBack(u16),
}

#[derive(Debug)]
struct State {
    regs: Vec<u16>,
    writes: Vec<SeenWrite>,
    hold: Hold,
    written_since_hold: bool,
    map: Map,
    reads: usize,
}

/// How the PLC's register map departs from a full bank, as real ones do.
#[derive(Debug, Clone, Default)]
pub struct Map {
    /// Registers the PLC does not have: a read touching one is answered with
    /// exception 02 (illegal data address).
    pub holes: Vec<std::ops::Range<u16>>,
    /// Reads reaching this address or past it get an empty reply (as jsmodbus
    /// answers reads past its map).
    pub empty_from: Option<u16>,
    /// Every read is answered this late.
    pub delay: Duration,
}

/// A running test PLC.
#[derive(Clone)]
pub struct TestPlc {
    /// Where it listens.
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
    /// Notified when a request is held.
    pub held: Arc<Notify>,
    shutdown: CancellationToken,
}

#[derive(Clone)]
struct Service {
    state: Arc<Mutex<State>>,
    held: Arc<Notify>,
}

type Reply = Pin<Box<dyn Future<Output = Result<Response, ExceptionCode>> + Send>>;

impl tokio_modbus::server::Service for Service {
    type Request = SlaveRequest<'static>;
    type Response = Response;
    type Exception = ExceptionCode;
    type Future = Reply;

    fn call(&self, req: Self::Request) -> Self::Future {
        let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let hold = match (&req.request, s.hold) {
            (Request::ReadHoldingRegisters(a, 1), Hold::FreshRead(h)) => *a == h,
            (Request::ReadHoldingRegisters(a, 1), Hold::ReadBack(h)) => {
                *a == h && s.written_since_hold
            }
            _ => false,
        };
        if hold {
            self.held.notify_one();
            return Box::pin(async {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                Err(ExceptionCode::ServerDeviceBusy)
            });
        }
        let delay = s.map.delay;
        let out = match req.request {
            Request::ReadHoldingRegisters(start, n) => {
                s.reads += 1;
                let end = start.saturating_add(n);
                let (a, n) = (usize::from(start), usize::from(n));
                let hole = s.map.holes.iter().any(|h| h.start < end && start < h.end);
                if hole {
                    Err(ExceptionCode::IllegalDataAddress)
                } else if s.map.empty_from.is_some_and(|e| end > e) {
                    Ok(Response::ReadHoldingRegisters(Vec::new()))
                } else {
                    match s.regs.get(a..a + n) {
                        Some(r) => Ok(Response::ReadHoldingRegisters(r.to_vec())),
                        None => Err(ExceptionCode::IllegalDataAddress),
                    }
                }
            }
            Request::WriteMultipleRegisters(a, words) => {
                let start = usize::from(a);
                if start + words.len() > s.regs.len() {
                    Err(ExceptionCode::IllegalDataAddress)
                } else {
                    let before = s.regs.clone();
                    s.regs[start..start + words.len()].copy_from_slice(&words);
                    if matches!(s.hold, Hold::ReadBack(h) if h == a) {
                        s.written_since_hold = true;
                    }
                    s.writes.push(SeenWrite {
                        address: a,
                        words: words.to_vec(),
                        before,
                    });
                    Ok(Response::WriteMultipleRegisters(a, words.len() as u16))
                }
            }
            Request::WriteSingleRegister(a, v) => match s.regs.get_mut(usize::from(a)) {
                Some(r) => {
                    *r = v;
                    Ok(Response::WriteSingleRegister(a, v))
                }
                None => Err(ExceptionCode::IllegalDataAddress),
            },
            _ => Err(ExceptionCode::IllegalFunction),
        };
        if delay.is_zero() {
            return Box::pin(std::future::ready(out));
        }
        Box::pin(async move {
            tokio::time::sleep(delay).await;
            out
        })
    }
}

impl TestPlc {
    /// Serves on a free loopback port with `regs` (the rest zero).
    pub async fn start(regs: &[(u16, u16)]) -> TestPlc {
        Self::with_map(regs, Map::default()).await
    }

    /// [`TestPlc::start`] with a map that has holes, an end, or slow replies.
    pub async fn with_map(regs: &[(u16, u16)], map: Map) -> TestPlc {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let mut bank = vec![0u16; REGISTERS];
        for &(a, v) in regs {
            bank[usize::from(a)] = v;
        }
        let plc = TestPlc {
            addr,
            state: Arc::new(Mutex::new(State {
                regs: bank,
                writes: Vec::new(),
                hold: Hold::Nothing,
                written_since_hold: false,
                map,
                reads: 0,
            })),
            held: Arc::new(Notify::new()),
            shutdown: CancellationToken::new(),
        };
        let (state, held, shutdown) = (
            Arc::clone(&plc.state),
            Arc::clone(&plc.held),
            plc.shutdown.clone(),
        );
        tokio::spawn(async move {
            let server = Server::new(listener);
            let on_connected = move |stream, peer: SocketAddr| {
                let service = Service {
                    state: Arc::clone(&state),
                    held: Arc::clone(&held),
                };
                async move { accept_tcp_connection(stream, peer, move |_| Ok(Some(service.clone()))) }
            };
            let _ = server
                .serve_until(&on_connected, |_| {}, shutdown.cancelled_owned())
                .await;
        });
        plc
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// One register now.
    pub fn register(&self, address: u16) -> u16 {
        self.state().regs[usize::from(address)]
    }

    /// Sets a register as the machine itself would (no client involved).
    pub fn set(&self, address: u16, value: u16) {
        self.state().regs[usize::from(address)] = value;
    }

    /// Register reads answered or refused so far.
    pub fn reads(&self) -> usize {
        self.state().reads
    }

    /// Every write so far.
    pub fn writes(&self) -> Vec<SeenWrite> {
        self.state().writes.clone()
    }

    /// Holds requests from now on as `hold` says.
    pub fn hold(&self, hold: Hold) {
        let mut s = self.state();
        s.hold = hold;
        s.written_since_hold = false;
    }

    /// Stops listening (open connections end with the test).
    pub fn stop(&self) {
        self.shutdown.cancel();
    }
}
