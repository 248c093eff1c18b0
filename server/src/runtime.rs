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

use app::auth::Scope;

use crate::acquisition::{DeviceStats, Endpoint, spawn_all};
use crate::auth::Access;
use crate::bus::Bus;
use crate::config::Settings;
use crate::mes::Mes;
use crate::mes::settings::MesSettings;
use crate::mes::sim::{Fault, MesSim};
use crate::plant::{Device, Plant};
use crate::quality::store::QualityStore;
use crate::services::Line;
use crate::services::quality::Quality;
use crate::sim::stations::Truth;
use crate::sim::{RunningDevice, start_device};
use crate::storage::HistoryStore;
use crate::storage::recent::Recent;
use crate::storage::sqlite::SqliteStore;
use crate::web::{WebState, router};

/// The name of the simulated stations' ingestion token.
pub const STATIONS_TOKEN: &str = "simulated-stations";

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
    /// Users, tokens, sessions and the audit trail.
    pub access: Access,
    /// Ground truth of the simulated cells (evaluation only).
    pub truth: Arc<Truth>,
    /// Orders, the MES outbox and the MES link.
    pub mes: Mes,
    /// Corrective actions and the handles that write to the PLCs.
    pub actions: crate::actions::Actions,
    /// Alarms.
    pub alarms: crate::alarms::Alarms,
    /// Control charts and their frozen limits.
    pub spc: crate::spc::Spc,
    /// The embedded MES simulator, when the plant file asks for one.
    pub mes_sim: Option<MesSim>,
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
        .with_context(|| format!("starting the simulated PLC {}", d.machine))?;
        out.push(sim);
    }
    Ok(out)
}

/// The first admin, created at start while there are no users.
pub struct FirstAdmin {
    /// Sign-in name.
    pub name: String,
    /// Password (never logged).
    pub password: String,
}

impl std::fmt::Debug for FirstAdmin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FirstAdmin")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// Where acquisition polls each device: its embedded simulator when there are
/// simulators (in plant order), else the host and port of the plant file.
pub fn endpoints(devices: &[Arc<Device>], simulators: &[RunningDevice]) -> Vec<Endpoint> {
    if simulators.is_empty() {
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
    }
}

/// Starts CellGuard serving on `listener`; with `first_admin`, creates that admin
/// first if there are no users yet (before anything is served).
pub async fn start(
    settings: Settings,
    data_dir: &Path,
    options: LeptosOptions,
    listener: TcpListener,
    first_admin: Option<FirstAdmin>,
) -> anyhow::Result<Running> {
    let Settings {
        plant,
        history,
        simulator,
        quality: quality_settings,
        access: access_settings,
        mes: mes_settings,
        writeback,
        alarms: alarm_settings,
    } = settings;
    let plant = Arc::new(plant);
    let quality_settings = Arc::new(quality_settings);
    let shutdown = CancellationToken::new();
    let tasks = TaskTracker::new();
    let sqlite = SqliteStore::open_in(data_dir)
        .await
        .with_context(|| format!("opening the database in {}", data_dir.display()))?;
    let bus = Arc::new(Bus::new(&plant, BUS_CAPACITY));
    let (mes, mes_sim) = start_mes(
        &plant,
        &mes_settings,
        simulator.seed,
        sqlite.pool(),
        &bus,
        &tasks,
        &shutdown,
    )
    .await?;
    let mut quality_store = QualityStore::new(sqlite.pool().clone());
    if mes.enabled() {
        quality_store = quality_store.reporting_to_mes(Arc::clone(&mes.wake));
    }
    let quality = Arc::new(
        Quality::open(Arc::clone(&quality_settings), quality_store)
            .await
            .context("opening the quality records")?,
    );
    let access = Access::new(sqlite.pool().clone());
    if let Some(first) = first_admin {
        let created = access
            .bootstrap_admin(&first.name, &first.password)
            .await
            .context("creating the first admin from CELLGUARD_ADMIN_PASSWORD")?;
        if created {
            info!(user = %first.name, "first admin created from CELLGUARD_ADMIN_PASSWORD");
        }
    }
    match access.users.count().await {
        Ok(0) => tracing::warn!(
            "no users yet: create the first admin with `cellguard user add NAME --role admin`, \
             or set CELLGUARD_ADMIN_PASSWORD before starting"
        ),
        Ok(_) => {}
        Err(e) => return Err(e).context("reading the users"),
    }
    let pool = sqlite.pool().clone();
    let alarm_pool = sqlite.pool().clone();
    let spc_pool = sqlite.pool().clone();
    let store: Arc<dyn HistoryStore> = Arc::new(
        sqlite
            .history(&plant)
            .await
            .context("registering the plant's tags in the historian")?,
    );
    let recent = Arc::new(Recent::new(&plant, history.memory_window));
    crate::storage::writer::seed_recent(&plant, &*store, &recent).await;
    let devices: Vec<Arc<Device>> = plant.devices.iter().cloned().map(Arc::new).collect();

    let simulators = if simulator.embedded {
        start_simulators(
            &devices,
            simulator.seed.unwrap_or_else(rand::random),
            &tasks,
            &shutdown,
        )
        .await?
    } else {
        Vec::new()
    };
    let endpoints = endpoints(&devices, &simulators);

    tasks.spawn(crate::storage::writer::run(
        Arc::clone(&plant),
        history.clone(),
        Arc::clone(&bus),
        Arc::clone(&store),
        Arc::clone(&recent),
        shutdown.clone(),
    ));
    tasks.spawn(crate::storage::writer::run_retention(
        history.clone(),
        Arc::clone(&store),
        shutdown.clone(),
    ));
    let (stats, writers) = spawn_all(&devices, &endpoints, &bus, &tasks, &shutdown);
    let actions = crate::actions::Actions::open(
        Arc::clone(&plant),
        writeback,
        pool,
        Arc::clone(&bus),
        writers,
    )
    .await
    .context("opening the corrective actions")?;
    tasks.spawn(Arc::clone(&quality).run_rescoring(shutdown.clone()));
    tasks.spawn(actions.clone().run(shutdown.clone()));
    tasks.spawn(actions.clone().run_writes(shutdown.clone()));
    let priorities = alarm_settings.priority.clone();
    let alarms = crate::alarms::Alarms::open(Arc::clone(&plant), alarm_settings, alarm_pool)
        .await
        .context("opening the alarms")?;
    let spc = crate::spc::Spc::new(
        Arc::clone(&plant),
        Arc::clone(&quality_settings),
        spc_pool,
        Arc::clone(&store),
    );
    let probes: Vec<Box<dyn crate::alarms::SourceProbe>> = vec![
        Box::new(crate::alarms::probes::FailedWrites {
            actions: actions.clone(),
            priority: priorities.write,
        }),
        Box::new(crate::alarms::probes::HighRiskLots {
            quality: Arc::clone(&quality),
            priority: priorities.lot_tier,
        }),
        Box::new(crate::alarms::probes::DeadLetters {
            mes: mes.clone(),
            priority: priorities.mes,
        }),
        Box::new(crate::alarms::probes::SpcViolations {
            spc: spc.clone(),
            priority: priorities.spc,
        }),
        Box::new(crate::alarms::probes::ModelDrift {
            quality: Arc::clone(&quality),
            priority: priorities.drift,
        }),
    ];
    tasks.spawn(
        alarms
            .clone()
            .run(Arc::clone(&bus), probes, shutdown.clone()),
    );

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
        Arc::clone(&recent),
    ));
    let app = router(
        options,
        WebState {
            line,
            quality: Arc::clone(&quality),
            access: access.clone(),
            mes: mes.clone(),
            actions: actions.clone(),
            alarms: alarms.clone(),
            spc: spc.clone(),
            plc_stats: stats.clone(),
            access_config: access_settings,
            shutdown: shutdown.clone(),
        },
    );
    tasks.spawn(
        access
            .clone()
            .run_housekeeping(std::time::Duration::from_secs(300), shutdown.clone()),
    );
    let addr = listener.local_addr()?;
    let truth = Arc::new(Truth::default());
    if !simulators.is_empty() {
        // The simulated stations post to this very server, as real ones would,
        // with an ingestion token of their own (a fresh one each start).
        access
            .tokens
            .revoke(STATIONS_TOKEN)
            .await
            .context("revoking the simulated stations' old token")?;
        let token = access
            .tokens
            .issue(STATIONS_TOKEN, Scope::Ingest)
            .await
            .context("issuing the simulated stations' token")?;
        let ip = if addr.ip().is_unspecified() {
            std::net::IpAddr::from([127, 0, 0, 1])
        } else {
            addr.ip()
        };
        tasks.spawn(crate::sim::stations::run(
            Arc::clone(&plant),
            Arc::clone(&quality_settings),
            simulator.clone(),
            Arc::clone(&bus),
            mes.enabled().then(|| mes.orders.clone()),
            crate::sim::stations::IngestTarget {
                url: format!(
                    "http://{}/api/v1/inspections",
                    SocketAddr::new(ip, addr.port())
                ),
                token,
            },
            simulator.seed.unwrap_or_else(rand::random),
            Arc::clone(&truth),
            shutdown.clone(),
        ));
    }
    let http_shutdown = shutdown.clone();
    tasks.spawn(async move {
        let served = axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
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
        access,
        truth,
        mes,
        actions,
        alarms,
        spc,
        mes_sim,
        tasks,
        shutdown,
    })
}

/// Starts the MES side: the embedded simulator (with a fresh token) when the
/// plant file asks for it, else the configured MES, else none.
async fn start_mes(
    plant: &Arc<Plant>,
    cfg: &MesSettings,
    seed: Option<u64>,
    pool: &sqlx::SqlitePool,
    bus: &Arc<Bus>,
    tasks: &TaskTracker,
    shutdown: &CancellationToken,
) -> anyhow::Result<(Mes, Option<MesSim>)> {
    let (endpoint, sim) = if cfg.embedded {
        let token = crate::util::hex(&rand::random::<[u8; 32]>());
        let loopback: SocketAddr = ([127, 0, 0, 1], 0).into();
        let sim = MesSim::start(
            loopback,
            loopback,
            token.clone(),
            seed.unwrap_or_else(rand::random),
            Fault::None,
            tasks,
            shutdown,
        )
        .await
        .context("starting the embedded MES simulator")?;
        info!(mes = %sim.url(), admin = %sim.admin_addr, "embedded MES simulator (faults: PUT /admin/fault)");
        (
            Some(crate::mes::simulator_endpoint(&sim, &token)),
            Some(sim),
        )
    } else {
        (crate::mes::configured_endpoint(cfg), None)
    };
    let mes = Mes::start(plant, cfg, pool.clone(), bus, endpoint, tasks, shutdown)
        .context("starting the MES client")?;
    Ok((mes, sim))
}
