//! Acquisition benchmark: N simulated PLCs × 50 tags polled at 10 Hz.
//!
//! Run with `cargo bench -p server --bench acquisition` (N defaults to 10, 100, 1000;
//! set `CELLGUARD_BENCH_DEVICES=10,100` and `CELLGUARD_BENCH_SECONDS=10` to change).
//! The simulators run in a child process (this same binary), so the CPU time measured
//! here is acquisition's alone: decoding, the bus and one subscriber, no history.
//! Reports CPU time per 1000 values, the share of one core used, missed scans and the
//! register-change → bus latency (p50, p99), which includes up to one scan period of
//! waiting by design.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use app::line::Value;
use cellguard::acquisition::{Endpoint, spawn_all};
use cellguard::bus::{Bus, BusEvent};
use cellguard::config::parse;
use cellguard::modbus::codec::Raw;
use cellguard::plant::{Device, Plant};
use cellguard::sim::SimDevice;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

const TAGS: usize = 50;
const PERIOD_MS: u64 = 100;

fn plant(devices: usize) -> Plant {
    let mut toml = String::from("[history]\nmin_interval_ms = 1000\n");
    for d in 0..devices {
        toml.push_str(&format!(
            "[[devices]]\nid = \"D{d}\"\nhost = \"127.0.0.1\"\nport = 1\ntimeout_ms = 1000\nscan_groups = [{{ name = \"fast\", period_ms = {PERIOD_MS} }}]\n"
        ));
        // Tag 0 carries the simulator's clock (µs) at the last change; the rest are f32.
        toml.push_str("[[devices.tags]]\nname = \"stamp\"\ntable = \"holding\"\naddress = 0\ntype = \"f64\"\nscan_group = \"fast\"\n");
        for t in 1..TAGS {
            toml.push_str(&format!(
                "[[devices.tags]]\nname = \"t{t}\"\ntable = \"holding\"\naddress = {}\ntype = \"f32\"\nscale = 0.5\nscan_group = \"fast\"\n",
                2 + t * 2
            ));
        }
    }
    parse(std::path::Path::new("bench.toml"), &toml, &|_| None)
        .expect("bench plant")
        .plant
}

fn now_us() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as f64)
        .unwrap_or(0.0)
}

/// CPU time (user + system) of this process so far.
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks: u64 = f.get(11).and_then(|v| v.parse().ok()).unwrap_or(0)
        + f.get(12).and_then(|v| v.parse().ok()).unwrap_or(0);
    Duration::from_millis(ticks * 10) // USER_HZ = 100 on Linux
}

/// The child: serves N simulated PLCs and changes every register each period.
async fn run_simulators(devices: usize) {
    let plant = plant(devices);
    let tasks = TaskTracker::new();
    let shutdown = CancellationToken::new();
    let mut sims = Vec::new();
    let mut ports = Vec::new();
    for d in &plant.devices {
        let dev = Arc::new(d.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        ports.push(listener.local_addr().expect("addr").port().to_string());
        let sim = SimDevice::new(Arc::clone(&dev), 1);
        let serving = sim.clone();
        let token = shutdown.clone();
        tasks.spawn(async move {
            let _ = serving.serve(listener, token).await;
        });
        sims.push((dev, sim));
    }
    println!("{}", ports.join(","));
    std::io::stdout().flush().expect("flush");
    let mut tick = tokio::time::interval(Duration::from_millis(PERIOD_MS));
    let mut k = 0u64;
    loop {
        tick.tick().await;
        k += 1;
        for (dev, sim) in &sims {
            let mut bank = sim.bank.lock().expect("bank");
            for t in 1..TAGS {
                bank.put(dev, t, &Raw::Number((k % 1000) as f64 + t as f64));
            }
            bank.put(dev, 0, &Raw::Number(now_us()));
        }
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

async fn measure(devices: usize, seconds: u64) {
    let exe = std::env::current_exe().expect("exe");
    let mut child = Command::new(exe)
        .env("CELLGUARD_BENCH_SIM", devices.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("simulator process");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("ports");
    let ports: Vec<u16> = line
        .trim()
        .split(',')
        .filter_map(|p| p.parse().ok())
        .collect();
    assert_eq!(ports.len(), devices, "simulator ports");

    let plant = plant(devices);
    let devs: Vec<Arc<Device>> = plant.devices.iter().cloned().map(Arc::new).collect();
    let endpoints: Vec<Endpoint> = ports
        .iter()
        .map(|&port| Endpoint {
            host: "127.0.0.1".into(),
            port,
        })
        .collect();
    let bus = Arc::new(Bus::new(&plant, 65_536));
    let tasks = TaskTracker::new();
    let shutdown = CancellationToken::new();
    let mut rx = bus.subscribe();
    let (stats, _) = spawn_all(&devs, &endpoints, &bus, &tasks, &shutdown);

    // Warm up: every device connected and scanning.
    tokio::time::sleep(Duration::from_secs(3)).await;
    while rx.try_recv().is_ok() {}
    let scans0: u64 = stats.iter().map(|s| s.scans.load(Ordering::Relaxed)).sum();
    let missed0: u64 = stats.iter().map(|s| s.missed.load(Ordering::Relaxed)).sum();
    let values0: u64 = stats.iter().map(|s| s.values.load(Ordering::Relaxed)).sum();
    let cpu0 = cpu_time();
    let wall0 = Instant::now();
    let mut latencies_ms: Vec<f64> = Vec::new();
    let mut lagged = 0u64;
    let end = tokio::time::Instant::now() + Duration::from_secs(seconds);
    loop {
        tokio::select! {
            () = tokio::time::sleep_until(end) => break,
            ev = rx.recv() => match ev {
                Ok(BusEvent::Scan(b)) => {
                    let received = now_us();
                    if let Some(Some(Value::Number(stamp))) = b.readings.iter().find(|r| r.tag.index() == 0).map(|r| r.value.clone()) {
                        latencies_ms.push((received - stamp) / 1000.0);
                    }
                }
                Ok(_) => {}
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => lagged += n,
                Err(_) => break,
            }
        }
    }
    let wall = wall0.elapsed();
    let cpu = cpu_time() - cpu0;
    let scans: u64 = stats
        .iter()
        .map(|s| s.scans.load(Ordering::Relaxed))
        .sum::<u64>()
        - scans0;
    let missed: u64 = stats
        .iter()
        .map(|s| s.missed.load(Ordering::Relaxed))
        .sum::<u64>()
        - missed0;
    let values: u64 = stats
        .iter()
        .map(|s| s.values.load(Ordering::Relaxed))
        .sum::<u64>()
        - values0;
    let failures: u64 = stats
        .iter()
        .map(|s| s.failures.load(Ordering::Relaxed))
        .sum();
    shutdown.cancel();
    tasks.close();
    tasks.wait().await;
    let _ = child.kill();
    let _ = child.wait();

    latencies_ms.sort_by(f64::total_cmp);
    let expected = devices as f64 * wall.as_secs_f64() * 1000.0 / PERIOD_MS as f64;
    println!(
        "N={devices:>5} × {TAGS} tags @ {} Hz | {:>9.0} values/s | CPU {:>6.1} µs per 1000 values | {:>5.1} % of one core | scans {scans} of ~{expected:.0} expected, missed {missed}, reconnects {failures}, bus lag {lagged} | change→bus p50 {:.1} ms p99 {:.1} ms",
        1000 / PERIOD_MS,
        values as f64 / wall.as_secs_f64(),
        cpu.as_secs_f64() * 1e6 / (values.max(1) as f64 / 1000.0),
        100.0 * cpu.as_secs_f64() / wall.as_secs_f64(),
        percentile(&latencies_ms, 0.5),
        percentile(&latencies_ms, 0.99),
    );
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    if let Ok(n) = std::env::var("CELLGUARD_BENCH_SIM") {
        let n: usize = n.parse().expect("device count");
        runtime.block_on(run_simulators(n));
        return;
    }
    let sizes: Vec<usize> = std::env::var("CELLGUARD_BENCH_DEVICES")
        .unwrap_or_else(|_| "10,100,1000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let seconds: u64 = std::env::var("CELLGUARD_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    for n in sizes {
        runtime.block_on(measure(n, seconds));
    }
}
