//! Helpers shared by the integration tests.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use app::auth::Role;
use app::line::{LinkState, Quality, Value};
use cellguard::acquisition::{DeviceRunner, DeviceStats, Endpoint, PlcWriters, spawn_all};
use cellguard::bus::{Bus, BusEvent};
use cellguard::config::{Settings, load, parse};
use cellguard::plant::{Device, DeviceId, Plant, TagId};
use cellguard::runtime::{Running, endpoints, start, start_simulators};
use cellguard::sim::RunningDevice;
use leptos::prelude::LeptosOptions;
use tokio::sync::broadcast::Receiver;
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// The shipped default plant file, resolved.
pub fn default_plant() -> Settings {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut plant = load(&root.join("config/plant.toml"), &|_| None).expect("default plant");
    // Tests run in the crate's folder; the shipped models are at the top.
    plant.quality.models_dir = root.join("model-artifacts");
    plant
}

/// A plant file from TOML text, resolved.
pub fn plant(text: &str) -> Settings {
    parse(Path::new("test.toml"), text, &|_| None).unwrap_or_else(|e| panic!("{e}"))
}

/// The plant's devices, shared.
pub fn devices(plant: &Plant) -> Vec<Arc<Device>> {
    plant.devices.iter().cloned().map(Arc::new).collect()
}

/// Waits (at most `limit`) for a link event of `device` in `state`.
pub async fn wait_link(
    rx: &mut Receiver<BusEvent>,
    device: DeviceId,
    state: LinkState,
    limit: Duration,
) -> bool {
    tokio::time::timeout(limit, async {
        loop {
            match rx.recv().await {
                Ok(BusEvent::Link { device: d, link }) if d == device && link.state == state => {
                    return;
                }
                Ok(_) | Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => std::future::pending::<()>().await,
            }
        }
    })
    .await
    .is_ok()
}

/// Waits (at most `limit`) until `pred` holds for a good reading of `tag`.
pub async fn wait_value(
    rx: &mut Receiver<BusEvent>,
    tag: TagId,
    limit: Duration,
    pred: impl Fn(&Value) -> bool,
) -> Option<Value> {
    tokio::time::timeout(limit, async {
        loop {
            if let Ok(BusEvent::Scan(b)) = rx.recv().await {
                if b.device != tag.device() {
                    continue;
                }
                for r in &b.readings {
                    if r.tag == tag
                        && r.quality == Quality::Good
                        && let Some(v) = &r.value
                        && pred(v)
                    {
                        return v.clone();
                    }
                }
            }
        }
    })
    .await
    .ok()
}

/// The tag `name` of device `device` (its position in the plant).
pub fn tag_id(plant: &Plant, device: usize, name: &str) -> TagId {
    plant.devices[device].tag(name).expect("tag").id
}

/// A bus for a plant.
pub fn bus(plant: &Plant) -> Arc<Bus> {
    Arc::new(Bus::new(plant, 4096))
}

/// Starts the pymodbus server of `tests/pymodbus_server.py` on `port` for `unit`
/// (killed when the handle drops).
pub fn spawn_pymodbus(port: u16, unit: u8) -> tokio::process::Child {
    spawn_pymodbus_with(port, unit, &[])
}

/// [`spawn_pymodbus`] with the script's extra arguments (`holes`: a sparse map).
pub fn spawn_pymodbus_with(port: u16, unit: u8, extra: &[&str]) -> tokio::process::Child {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/pymodbus_server.py");
    tokio::process::Command::new("python3")
        .arg(&script)
        .arg(port.to_string())
        .arg(unit.to_string())
        .args(extra)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("python3 must be installed (the test command installs pymodbus)")
}

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// One device runner polling `127.0.0.1:port`, with what a test watches.
pub struct Runner {
    pub rx: Receiver<BusEvent>,
    pub stats: Arc<DeviceStats>,
    pub shutdown: CancellationToken,
    pub task: tokio::task::JoinHandle<()>,
}

/// Starts a runner for the plant's first device against `127.0.0.1:port`.
pub fn run_device(plant: &Plant, port: u16) -> Runner {
    let bus = bus(plant);
    let rx = bus.subscribe();
    let stats = Arc::new(DeviceStats::default());
    let runner = DeviceRunner::new(
        Arc::new(plant.devices[0].clone()),
        Endpoint {
            host: "127.0.0.1".into(),
            port,
        },
        bus,
        Arc::clone(&stats),
    );
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(runner.run(shutdown.clone()));
    Runner {
        rx,
        stats,
        shutdown,
        task,
    }
}

/// The default line on embedded simulators, with acquisition running.
pub struct Line {
    pub plant: Plant,
    pub devices: Vec<Arc<Device>>,
    pub simulators: Vec<RunningDevice>,
    pub bus: Arc<Bus>,
    pub stats: Vec<Arc<DeviceStats>>,
    pub writers: PlcWriters,
    pub tasks: TaskTracker,
    pub shutdown: CancellationToken,
}

/// Starts [`Line`]; `rx` subscribes before acquisition starts, so nothing is missed.
pub async fn start_line(seed: u64) -> (Line, Receiver<BusEvent>) {
    let plant = default_plant().plant;
    let simulated = devices(&plant);
    start_line_with(plant, &simulated, seed).await
}

/// Starts [`Line`] for `plant`, with simulated PLCs built from `simulated` (the
/// same devices, or ones a PLC configures differently from the plant file).
pub async fn start_line_with(
    plant: Plant,
    simulated: &[Arc<Device>],
    seed: u64,
) -> (Line, Receiver<BusEvent>) {
    let devices = devices(&plant);
    let (tasks, shutdown) = (TaskTracker::new(), CancellationToken::new());
    let simulators = start_simulators(simulated, seed, &tasks, &shutdown)
        .await
        .expect("simulators");
    let endpoints = endpoints(&devices, &simulators);
    let bus = bus(&plant);
    let rx = bus.subscribe();
    let (stats, writers) = spawn_all(&devices, &endpoints, &bus, &tasks, &shutdown);
    (
        Line {
            plant,
            devices,
            simulators,
            bus,
            stats,
            writers,
            tasks,
            shutdown,
        },
        rx,
    )
}

impl Line {
    /// Stops every task and waits for them.
    pub async fn stop(self) {
        self.shutdown.cancel();
        self.tasks.close();
        self.tasks.wait().await;
    }
}

/// The whole app on a random loopback port with `plant`, storing in `data_dir`.
pub async fn spawn_app(data_dir: &Path, plant: Settings) -> (Running, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let options = LeptosOptions::builder()
        .output_name("cellguard")
        .site_root("target/site")
        .site_addr(addr)
        .build();
    let running = start(plant, data_dir, options, listener, None)
        .await
        .expect("app starts");
    (running, format!("http://{addr}"))
}

/// The password every test user gets.
pub const PASSWORD: &str = "correct horse battery";

/// Adds a user with `role` (named after it, unless it exists) and returns a
/// client signed in as them, with its cookie jar.
pub async fn sign_in_as(app: &Running, base: &str, role: Role) -> reqwest::Client {
    let name = format!("test-{}", role.as_str());
    if app
        .access
        .users
        .by_name(&name)
        .await
        .expect("users")
        .is_none()
    {
        app.access
            .users
            .add(&name, role, PASSWORD)
            .await
            .expect("user added");
    }
    let client = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .expect("client");
    let r = client
        .post(format!("{base}/api/v1/session"))
        .json(&serde_json::json!({ "username": name, "password": PASSWORD }))
        .send()
        .await
        .expect("sign-in");
    assert_eq!(r.status(), 200, "{name} could not sign in");
    client
}

/// A client that presents a fresh ingestion token named `name`, as a station does.
pub async fn token_client(app: &Running, name: &str) -> reqwest::Client {
    let token = app
        .access
        .tokens
        .issue(name, app::auth::Scope::Ingest)
        .await
        .expect("token");
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        format!("Bearer {token}").parse().expect("header"),
    );
    reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .expect("client")
}

/// An admin calling a service directly (not over HTTP).
pub fn test_caller() -> app::auth::Caller {
    app::auth::Caller {
        principal: app::auth::Principal::User {
            id: 0,
            username: "test".into(),
            role: Role::Admin,
        },
        source: "test".into(),
    }
}
