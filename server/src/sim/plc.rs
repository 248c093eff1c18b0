//! A simulated PLC: the plant file's register map served over Modbus TCP.

use std::future;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rand::SeedableRng;
use rand::rngs::SmallRng;
use tokio::net::TcpListener;
use tokio_modbus::prelude::*;
use tokio_modbus::server::tcp::{Server, accept_tcp_connection};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, info};

use super::model::{Bank, Machine};
use crate::modbus::{MAX_READ_BITS, MAX_READ_REGISTERS, MAX_WRITE_BITS, MAX_WRITE_REGISTERS};
use crate::plant::Device;

/// The protocol's limits, as a real PLC enforces them.
const MAX_WRITE_REGS: usize = MAX_WRITE_REGISTERS as usize;
const MAX_WRITE_COILS: usize = MAX_WRITE_BITS as usize;

/// One simulated PLC: its registers and its behaviour.
#[derive(Clone)]
pub struct SimDevice {
    /// The device served.
    pub device: Arc<Device>,
    /// Shared registers (the server reads and writes them, the model steps them).
    pub bank: Arc<Mutex<Bank>>,
    /// The behaviour.
    pub machine: Arc<Mutex<Machine>>,
}

impl SimDevice {
    /// A simulated device seeded with `seed`.
    pub fn new(device: Arc<Device>, seed: u64) -> Self {
        let mut bank = Bank::for_device(&device);
        let mut rng = SmallRng::seed_from_u64(seed);
        let machine = Machine::new(&device, &mut bank, &mut rng);
        Self {
            device,
            bank: Arc::new(Mutex::new(bank)),
            machine: Arc::new(Mutex::new(machine)),
        }
    }

    /// Steps the dynamics every `tick` until cancelled.
    pub async fn run_dynamics(self, tick: Duration, seed: u64, shutdown: CancellationToken) {
        let mut rng = SmallRng::seed_from_u64(seed ^ 0x5eed);
        let mut interval = tokio::time::interval(tick);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let dt = tick.as_secs_f64();
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = interval.tick() => {}
            }
            let mut machine = self.machine.lock().unwrap_or_else(PoisonError::into_inner);
            let mut bank = self.bank.lock().unwrap_or_else(PoisonError::into_inner);
            machine.step(&self.device, &mut bank, dt, &mut rng);
        }
    }

    /// Serves Modbus TCP on `listener` until cancelled.
    pub async fn serve(self, listener: TcpListener, shutdown: CancellationToken) -> io::Result<()> {
        let server = Server::new(listener);
        let service = Service {
            unit: self.device.unit_id,
            bank: Arc::clone(&self.bank),
        };
        let on_connected = move |stream, addr: SocketAddr| {
            let service = service.clone();
            async move {
                debug!(%addr, "simulator accepted a client");
                accept_tcp_connection(stream, addr, move |_| Ok(Some(service.clone())))
            }
        };
        let on_error = |e: io::Error| debug!(error = %e, "simulator connection ended");
        server
            .serve_until(&on_connected, on_error, shutdown.cancelled_owned())
            .await?;
        Ok(())
    }
}

/// The Modbus request handler of one simulated PLC.
#[derive(Clone)]
struct Service {
    unit: u8,
    bank: Arc<Mutex<Bank>>,
}

fn check_read(start: u16, count: u16, len: usize, max: u16) -> Result<usize, ExceptionCode> {
    if count == 0 || count > max {
        return Err(ExceptionCode::IllegalDataValue);
    }
    let s = usize::from(start);
    if s + usize::from(count) > len {
        return Err(ExceptionCode::IllegalDataAddress);
    }
    Ok(s)
}

fn check_write(
    start: u16,
    count: usize,
    writable: &[bool],
    max: usize,
) -> Result<usize, ExceptionCode> {
    if count == 0 || count > max {
        return Err(ExceptionCode::IllegalDataValue);
    }
    let s = usize::from(start);
    match writable.get(s..s + count) {
        Some(w) if w.iter().all(|&w| w) => Ok(s),
        _ => Err(ExceptionCode::IllegalDataAddress),
    }
}

impl Service {
    fn handle(&self, req: Request<'static>) -> Result<Response, ExceptionCode> {
        let mut bank = self.bank.lock().unwrap_or_else(PoisonError::into_inner);
        match req {
            Request::ReadHoldingRegisters(a, n) => {
                let s = check_read(a, n, bank.holding.len(), MAX_READ_REGISTERS)?;
                Ok(Response::ReadHoldingRegisters(
                    bank.holding[s..s + usize::from(n)].to_vec(),
                ))
            }
            Request::ReadInputRegisters(a, n) => {
                let s = check_read(a, n, bank.input.len(), MAX_READ_REGISTERS)?;
                Ok(Response::ReadInputRegisters(
                    bank.input[s..s + usize::from(n)].to_vec(),
                ))
            }
            Request::ReadCoils(a, n) => {
                let s = check_read(a, n, bank.coils.len(), MAX_READ_BITS)?;
                Ok(Response::ReadCoils(
                    bank.coils[s..s + usize::from(n)].to_vec(),
                ))
            }
            Request::ReadDiscreteInputs(a, n) => {
                let s = check_read(a, n, bank.discrete.len(), MAX_READ_BITS)?;
                Ok(Response::ReadDiscreteInputs(
                    bank.discrete[s..s + usize::from(n)].to_vec(),
                ))
            }
            Request::WriteSingleRegister(a, v) => {
                let s = check_write(a, 1, &bank.writable_registers, 1)?;
                bank.holding[s] = v;
                Ok(Response::WriteSingleRegister(a, v))
            }
            Request::WriteMultipleRegisters(a, words) => {
                let s = check_write(a, words.len(), &bank.writable_registers, MAX_WRITE_REGS)?;
                bank.holding[s..s + words.len()].copy_from_slice(&words);
                Ok(Response::WriteMultipleRegisters(
                    a,
                    u16::try_from(words.len()).unwrap_or(u16::MAX),
                ))
            }
            Request::WriteSingleCoil(a, v) => {
                let s = check_write(a, 1, &bank.writable_coils, 1)?;
                bank.coils[s] = v;
                Ok(Response::WriteSingleCoil(a, v))
            }
            Request::WriteMultipleCoils(a, bits) => {
                let s = check_write(a, bits.len(), &bank.writable_coils, MAX_WRITE_COILS)?;
                bank.coils[s..s + bits.len()].copy_from_slice(&bits);
                Ok(Response::WriteMultipleCoils(
                    a,
                    u16::try_from(bits.len()).unwrap_or(u16::MAX),
                ))
            }
            _ => Err(ExceptionCode::IllegalFunction),
        }
    }
}

impl tokio_modbus::server::Service for Service {
    type Request = SlaveRequest<'static>;
    type Response = Response;
    type Exception = ExceptionCode;
    type Future = future::Ready<Result<Response, ExceptionCode>>;

    fn call(&self, req: Self::Request) -> Self::Future {
        if req.slave != self.unit {
            // A gateway's answer for a unit it does not serve.
            return future::ready(Err(ExceptionCode::GatewayTargetDevice));
        }
        future::ready(self.handle(req.request))
    }
}

/// A running simulated device.
pub struct RunningDevice {
    /// Where it listens.
    pub addr: SocketAddr,
    /// The device's registers and behaviour, for tests and write-back.
    pub sim: SimDevice,
    /// Cancels only this device (to simulate a PLC going away).
    pub stop: CancellationToken,
}

/// Runs `sim`'s dynamics and serves it on `listener` until the returned token (a
/// child of `shutdown`) is cancelled.
fn spawn(
    sim: &SimDevice,
    listener: TcpListener,
    seed: u64,
    tasks: &TaskTracker,
    shutdown: &CancellationToken,
) -> CancellationToken {
    let stop = shutdown.child_token();
    tasks.spawn(
        sim.clone()
            .run_dynamics(Duration::from_millis(100), seed, stop.clone()),
    );
    let serving = sim.clone();
    let token = stop.clone();
    tasks.spawn(async move {
        if let Err(e) = serving.serve(listener, token).await {
            tracing::error!(error = %e, "simulator stopped");
        }
    });
    stop
}

/// Starts one simulated PLC on `bind` (port 0 picks a free one).
pub async fn start_device(
    device: Arc<Device>,
    bind: SocketAddr,
    seed: u64,
    tasks: &TaskTracker,
    shutdown: &CancellationToken,
) -> io::Result<RunningDevice> {
    let listener = TcpListener::bind(bind).await?;
    let addr = listener.local_addr()?;
    let sim = SimDevice::new(device, seed);
    let stop = spawn(&sim, listener, seed, tasks, shutdown);
    info!(machine_id = %sim.device.machine, %addr, "simulated PLC listening");
    Ok(RunningDevice { addr, sim, stop })
}

/// Serves the same registers again on the same address after [`RunningDevice::stop`]
/// (a PLC coming back).
pub async fn restart_device(
    previous: &RunningDevice,
    tasks: &TaskTracker,
    shutdown: &CancellationToken,
) -> io::Result<RunningDevice> {
    let listener = TcpListener::bind(previous.addr).await?;
    let sim = previous.sim.clone();
    let stop = spawn(&sim, listener, rand::random(), tasks, shutdown);
    Ok(RunningDevice {
        addr: previous.addr,
        sim,
        stop,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_past_the_map_or_too_long_are_exceptions() {
        assert_eq!(check_read(0, 10, 10, 125), Ok(0));
        assert_eq!(
            check_read(1, 10, 10, 125),
            Err(ExceptionCode::IllegalDataAddress)
        );
        assert_eq!(
            check_read(0, 0, 10, 125),
            Err(ExceptionCode::IllegalDataValue)
        );
        assert_eq!(
            check_read(0, 126, 1000, 125),
            Err(ExceptionCode::IllegalDataValue)
        );
        assert_eq!(
            check_read(65535, 125, 10, 125),
            Err(ExceptionCode::IllegalDataAddress)
        );
    }

    #[test]
    fn writes_only_reach_writable_registers() {
        let w = [false, true, true, false];
        assert_eq!(check_write(1, 2, &w, 123), Ok(1));
        assert_eq!(
            check_write(0, 2, &w, 123),
            Err(ExceptionCode::IllegalDataAddress)
        );
        assert_eq!(
            check_write(3, 2, &w, 123),
            Err(ExceptionCode::IllegalDataAddress)
        );
        assert_eq!(
            check_write(1, 0, &w, 123),
            Err(ExceptionCode::IllegalDataValue)
        );
        assert_eq!(
            check_write(1, 124, &w, 123),
            Err(ExceptionCode::IllegalDataValue)
        );
    }
}
