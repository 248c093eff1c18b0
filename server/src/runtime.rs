//! The composition root: opens storage, starts the simulator (when embedded),
//! acquisition, the history writer and the web server, and stops them in order.
//! Every task is spawned here, takes the shutdown token and is awaited on stop.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use leptos::prelude::LeptosOptions;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::info;

use crate::acquisition::{DeviceStats, Endpoint, spawn_all};
use crate::bus::Bus;
use crate::config::{Device, Plant};
use crate::quality::service::Quality;
use crate::quality::store::QualityStore;
use crate::services::Line;
use crate::sim::stations::Truth;
use crate::sim::{RunningDevice, start_device};
use crate::storage::HistoryStore;
use crate::storage::sqlite::SqliteStore;
use crate::web::{WebState, router};

/// Events buffered on the bus per subscriber.
const BUS_CAPACITY: usize = 16_384;

/// A running CellGuard.
pub struct Running {
    /// Where the web server listens.
    pub addr: SocketAddr,
    /// The bus (tests watch it).
    pub bus: Arc<Bus>,
    /// Embedded simulated PLCs, in plant order (empty when not embedded).
    pub simulators: Vec<RunningDevice>,
    /// Acquisition counters per device.
    pub stats: Vec<Arc<DeviceStats>>,
    /// The history store.
    pub store: Arc<dyn HistoryStore>,
    /// Cells, scores and models.
    pub quality: Arc<Quality>,
    /// Ground truth of the simulated cells (evaluation only).
    pub truth: Arc<Truth>,
    /// The task tracker (for restarting simulators in tests).
    pub tasks: TaskTracker,
    /// Cancelled to stop everything.
    pub shutdown: CancellationToken,
}

impl Running {
    /// Stops every task and waits for them (the history writer flushes on the way).
    pub async fn stop(self) {
        self.shutdown.cancel();
        self.tasks.close();
        self.tasks.wait().await;
        info!("stopped");
    }
}

/// Starts the embedded simulators on free loopback ports and returns their endpoints.
pub async fn start_simulators(
    devices: &[Arc<Device>],
    seed: u64,
    tasks: &TaskTracker,
    shutdown: &CancellationToken,
) -> anyhow::Result<Vec<RunningDevice>> {
    let mut out = Vec::with_capacity(devices.len());
    for (i, d) in devices.iter().enumerate() {
        let bind: SocketAddr = ([127, 0, 0, 1], 0).into();
        let sim = start_device(
            Arc::clone(d),
            bind,
            seed.wrapping_add(i as u64),
            tasks,
            shutdown,
        )
        .await
        .with_context(|| format!("starting the simulated PLC {}", d.id))?;
        out.push(sim);
    }
    Ok(out)
}

/// Starts CellGuard serving on `listener`.
pub async fn start(
    plant: Plant,
    data_dir: &Path,
    options: LeptosOptions,
    listener: TcpListener,
) -> anyhow::Result<Running> {
    let plant = Arc::new(plant);
    let shutdown = CancellationToken::new();
    let tasks = TaskTracker::new();
    let sqlite = SqliteStore::open_in(data_dir)
        .await
        .with_context(|| format!("opening the database in {}", data_dir.display()))?;
    let quality = Arc::new(
        Quality::open(
            Arc::new(plant.quality.clone()),
            QualityStore::new(sqlite.pool().clone()),
        )
        .await
        .context("opening the quality records")?,
    );
    let store: Arc<dyn HistoryStore> = Arc::new(sqlite);
    let bus = Arc::new(Bus::new(&plant, BUS_CAPACITY));
    let devices: Vec<Arc<Device>> = plant.devices.iter().cloned().map(Arc::new).collect();

    let simulators = if plant.simulator.embedded {
        start_simulators(
            &devices,
            plant.simulator.seed.unwrap_or_else(rand::random),
            &tasks,
            &shutdown,
        )
        .await?
    } else {
        Vec::new()
    };
    let endpoints: Vec<Endpoint> = if simulators.is_empty() {
        devices
            .iter()
            .map(|d| Endpoint {
                host: d.host.clone(),
                port: d.port,
            })
            .collect()
    } else {
        simulators
            .iter()
            .map(|s| Endpoint {
                host: s.addr.ip().to_string(),
                port: s.addr.port(),
            })
            .collect()
    };

    tasks.spawn(crate::storage::writer::run(
        Arc::clone(&plant),
        Arc::clone(&bus),
        Arc::clone(&store),
        shutdown.clone(),
    ));
    tasks.spawn(crate::storage::writer::run_retention(
        plant.history.retention_days,
        Arc::clone(&store),
        shutdown.clone(),
    ));
    let stats = spawn_all(&devices, &endpoints, &bus, &tasks, &shutdown);

    // Drop compressed copies of an earlier build now, then (in production) compress
    // the bundle once, off the async threads; until then it is compressed on the fly.
    let pkg = Path::new(&*options.site_root).join(&*options.site_pkg_dir);
    if let Err(e) = crate::web::assets::remove_stale(&pkg) {
        tracing::warn!(error = %e, dir = %pkg.display(), "cannot check the site bundle");
    }
    if options.env == leptos::config::Env::PROD {
        tasks.spawn_blocking(move || match crate::web::assets::precompress(&pkg) {
            Ok(n) => tracing::debug!(files = n, "precompressed the site bundle"),
            Err(e) => tracing::warn!(error = %e, dir = %pkg.display(), "cannot precompress the site bundle; serving it compressed on the fly"),
        });
    }

    let line = Arc::new(Line::new(
        Arc::clone(&plant),
        Arc::clone(&bus),
        Arc::clone(&store),
    ));
    let app = router(
        options,
        WebState {
            line,
            quality: Arc::clone(&quality),
            shutdown: shutdown.clone(),
        },
    );
    let addr = listener.local_addr()?;
    let truth = Arc::new(Truth::default());
    if !simulators.is_empty() {
        // The simulated stations post to this very server, as real ones would.
        let ip = if addr.ip().is_unspecified() {
            std::net::IpAddr::from([127, 0, 0, 1])
        } else {
            addr.ip()
        };
        tasks.spawn(crate::sim::stations::run(
            Arc::clone(&plant),
            Arc::clone(&bus),
            format!(
                "http://{}/api/v1/inspections",
                SocketAddr::new(ip, addr.port())
            ),
            plant.simulator.cells_per_minute,
            plant.simulator.seed.unwrap_or_else(rand::random),
            Arc::clone(&truth),
            shutdown.clone(),
        ));
    }
    let http_shutdown = shutdown.clone();
    tasks.spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(http_shutdown.cancelled_owned())
            .await;
        if let Err(e) = served {
            tracing::error!(error = %e, "web server failed");
        }
    });
    info!(%addr, devices = devices.len(), embedded_simulator = !simulators.is_empty(), "CellGuard is serving");
    Ok(Running {
        addr,
        bus,
        simulators,
        stats,
        store,
        quality,
        truth,
        tasks,
        shutdown,
    })
}
