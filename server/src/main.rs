//! The `cellguard` binary: parses the command line and runs one subcommand.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use cellguard::cli::{Cli, Command, Simulate};
use cellguard::{config, runtime, sim, telemetry};
use clap::Parser;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

fn env(key: &str) -> Option<String> {
    std::env::var(key).ok()
}

fn load_plant(cli: &Cli) -> Result<config::Settings, ExitCode> {
    config::load(&cli.config, &env).map_err(|errors| {
        eprintln!("{} problem(s) in the plant file:", errors.0.len());
        for e in &errors.0 {
            eprintln!("  {e}");
        }
        ExitCode::from(2)
    })
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

/// `cellguard bundle`: the sizes of every file and every page's first load, then
/// what is over the budget.
fn bundle(pkg: &std::path::Path, budget: &std::path::Path) -> anyhow::Result<()> {
    use cellguard::web::assets::{Budget, SPLIT_MANIFEST, SplitManifest, measure};
    let budget = Budget::load(budget)?;
    let sizes = measure(pkg).with_context(|| format!("reading {}", pkg.display()))?;
    let manifest_path = pkg.join(SPLIT_MANIFEST);
    let manifest: SplitManifest = match std::fs::read_to_string(&manifest_path) {
        Ok(text) => serde_json::from_str(&text)
            .with_context(|| format!("reading {}", manifest_path.display()))?,
        // A bundle built without --split has no lazy parts.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => SplitManifest::new(),
        Err(e) => return Err(e).with_context(|| format!("reading {}", manifest_path.display())),
    };
    println!(
        "{:<56} {:>9} {:>9} {:>9}",
        "file", "raw B", "brotli B", "gzip B"
    );
    for f in &sizes {
        println!("{:<56} {:>9} {:>9} {:>9}", f.name, f.raw, f.brotli, f.gzip);
    }
    let pages = budget
        .pages(&sizes, &manifest)
        .map_err(anyhow::Error::msg)?;
    println!(
        "\n{:<56} {:>9} {:>9} {:>9}",
        "first load of", "files", "brotli B", "budget B"
    );
    for p in &pages {
        let limit = budget.pages.get(&p.page).map_or(0, |b| b.limit);
        println!("{:<56} {:>9} {:>9} {:>9}", p.page, p.files, p.brotli, limit);
    }
    let over = budget.check(&sizes, &pages);
    if over.is_empty() {
        println!("within the budget");
        Ok(())
    } else {
        anyhow::bail!("over the bundle budget:\n  {}", over.join("\n  "))
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    telemetry::init(cli.log_format);
    let plant = match load_plant(&cli) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let result = match cli.action() {
        Command::CheckConfig => {
            println!(
                "{}: ok ({} devices, {} tags)",
                cli.config.display(),
                plant.plant.devices.len(),
                plant.plant.tags().count()
            );
            Ok(())
        }
        Command::Bundle { pkg, budget } => bundle(&pkg, &budget),
        Command::Serve(args) => serve(plant, &args.data_dir, &args.leptos_config).await,
        Command::Simulate {
            what: Simulate::Line { seed },
        } => simulate_line(plant, seed).await,
        Command::Simulate {
            what: Simulate::Dataset { cells, seed, out },
        } => sim::cells::write_dataset_cli(cells, seed, &out),
        Command::Simulate {
            what:
                Simulate::History {
                    days,
                    rollup_days,
                    data_dir,
                },
        } => cellguard::cli::history::run(&plant.plant, days, rollup_days, &data_dir).await,
        Command::Simulate {
            what:
                Simulate::Mes {
                    addr,
                    admin_addr,
                    token,
                    fault,
                    seed,
                },
        } => simulate_mes(addr, admin_addr, token, fault, seed).await,
        Command::Train(args) => {
            tokio::task::spawn_blocking(move || cellguard::cli::train::run(&plant.quality, &args))
                .await
                .unwrap_or_else(|e| Err(anyhow::anyhow!("training stopped: {e}")))
        }
        Command::Import(args) => cellguard::cli::import::run(&plant.quality, &args).await,
        Command::User { data_dir, what } => cellguard::cli::users::run_user(&data_dir, &what).await,
        Command::Token { data_dir, what } => {
            cellguard::cli::users::run_token(&data_dir, &what).await
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(
    plant: config::Settings,
    data_dir: &std::path::Path,
    leptos_config: &std::path::Path,
) -> anyhow::Result<()> {
    let path = leptos_config
        .to_str()
        .context("the Leptos config path is not UTF-8")?;
    let conf = leptos::prelude::get_configuration(Some(path))
        .with_context(|| format!("reading the site settings from {}", leptos_config.display()))?;
    let options = conf.leptos_options;
    let listener = tokio::net::TcpListener::bind(options.site_addr)
        .await
        .with_context(|| format!("listening on {}", options.site_addr))?;
    let first_admin = env("CELLGUARD_ADMIN_PASSWORD").map(|password| runtime::FirstAdmin {
        name: env("CELLGUARD_ADMIN_USER").unwrap_or_else(|| "admin".into()),
        password,
    });
    let running = runtime::start(plant, data_dir, options, listener, first_admin).await?;
    println!("CellGuard is running at http://{}", running.addr);
    wait_for_signal().await;
    running.stop().await;
    Ok(())
}

async fn simulate_line(settings: config::Settings, seed: Option<u64>) -> anyhow::Result<()> {
    let plant = settings.plant;
    let shutdown = CancellationToken::new();
    let tasks = TaskTracker::new();
    let seed = seed
        .or(settings.simulator.seed)
        .unwrap_or_else(rand::random);
    for (i, d) in plant.devices.iter().enumerate() {
        let addr = tokio::net::lookup_host((d.host.as_str(), d.port))
            .await
            .with_context(|| format!("resolving {}:{}", d.host, d.port))?
            .next()
            .with_context(|| format!("{}:{} resolves to nothing", d.host, d.port))?;
        let dev = sim::start_device(
            Arc::new(d.clone()),
            addr,
            seed.wrapping_add(i as u64),
            &tasks,
            &shutdown,
        )
        .await
        .with_context(|| format!("starting the simulated PLC {} on {addr}", d.machine))?;
        println!(
            "{} ({}) on {} unit {}",
            d.machine, d.name, dev.addr, d.unit_id
        );
    }
    wait_for_signal().await;
    shutdown.cancel();
    tasks.close();
    tasks.wait().await;
    Ok(())
}

async fn simulate_mes(
    addr: std::net::SocketAddr,
    admin_addr: std::net::SocketAddr,
    token: String,
    fault: cellguard::mes::sim::Fault,
    seed: u64,
) -> anyhow::Result<()> {
    anyhow::ensure!(
        !token.trim().is_empty(),
        "the MES simulator needs a token (--token or CELLGUARD_MES_TOKEN)"
    );
    let shutdown = CancellationToken::new();
    let tasks = TaskTracker::new();
    let sim =
        cellguard::mes::sim::MesSim::start(addr, admin_addr, token, seed, fault, &tasks, &shutdown)
            .await
            .with_context(|| format!("starting the MES simulator on {addr} and {admin_addr}"))?;
    println!(
        "MES simulator at {} (admin: http://{})",
        sim.url(),
        sim.admin_addr
    );
    wait_for_signal().await;
    shutdown.cancel();
    tasks.close();
    tasks.wait().await;
    Ok(())
}
