//! The command line: `cellguard serve`, `simulate line|dataset|mes`, `check-config`,
//! `train`, `import`, `user`, `token`; and the commands that print for a person
//! ([`import`], [`train`], [`users`]). Nothing below the command line imports it:
//! domain code takes plain option structs.

use std::path::PathBuf;

pub mod history;
pub mod import;
pub mod train;
pub mod users;

use clap::{Args, Parser, Subcommand};

use crate::telemetry::LogFormat;

/// CellGuard keeps a lithium-ion cell line honest: it reads the machines over Modbus
/// TCP, keeps their history and shows the line live in the browser.
///
/// Without a command, `cellguard` serves (as `cargo leptos watch` runs it).
#[derive(Debug, Parser)]
#[command(name = "cellguard", version, propagate_version = true)]
pub struct Cli {
    /// The plant file (devices, register maps, history and simulator settings).
    #[arg(
        long,
        global = true,
        env = "CELLGUARD_CONFIG",
        default_value = "config/plant.toml"
    )]
    pub config: PathBuf,
    /// Log format.
    #[arg(long, global = true, env = "CELLGUARD_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// What to do (default: serve).
    #[command(subcommand)]
    pub command: Option<Command>,
    /// `serve`'s options, when no command is given.
    #[command(flatten)]
    pub serve: ServeArgs,
}

impl Cli {
    /// The command to run: the one given, or `serve`.
    pub fn action(&self) -> Command {
        self.command
            .clone()
            .unwrap_or_else(|| Command::Serve(self.serve.clone()))
    }
}

/// Options of `serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Where the database and other state live.
    #[arg(long, env = "CELLGUARD_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,
    /// The web site's runtime settings (Leptos options).
    #[arg(long, env = "CELLGUARD_LEPTOS_CONFIG", default_value = "Leptos.toml")]
    pub leptos_config: PathBuf,
}

/// Subcommands.
#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Start CellGuard: acquisition, history and the web app (http://127.0.0.1:3000 by default;
    /// set LEPTOS_SITE_ADDR to change it).
    Serve(ServeArgs),
    /// Run simulators for development and tests.
    Simulate {
        /// What to simulate.
        #[command(subcommand)]
        what: Simulate,
    },
    /// Check the plant file and print every problem with its file, line and field.
    CheckConfig,
    /// Train the risk models on a dataset file (CSV or .xlsx, the `simulate dataset`
    /// format) and write their artifacts.
    Train(TrainArgs),
    /// Import cells and inspections from a dataset file (CSV or .xlsx) into the
    /// database: all rows or none.
    Import(ImportArgs),
    /// Print the size of every file of the browser bundle (raw, brotli, gzip) and
    /// fail when one, or all together, exceeds the budget file.
    Bundle {
        /// The bundle directory (`cargo leptos build --release` writes it).
        #[arg(long, default_value = "target/site/pkg")]
        pkg: PathBuf,
        /// The budget: brotli bytes per file and in total.
        #[arg(long, default_value = ".ci/bundle-budget.toml")]
        budget: PathBuf,
    },
    /// Manage the people who sign in (passwords are prompted, never arguments).
    User {
        /// Where the database lives.
        #[arg(long, env = "CELLGUARD_DATA_DIR", default_value = "data")]
        data_dir: PathBuf,
        /// What to do.
        #[command(subcommand)]
        what: UserCommand,
    },
    /// Manage API tokens for stations and systems.
    Token {
        /// Where the database lives.
        #[arg(long, env = "CELLGUARD_DATA_DIR", default_value = "data")]
        data_dir: PathBuf,
        /// What to do.
        #[command(subcommand)]
        what: TokenCommand,
    },
}

/// `cellguard user …`.
#[derive(Debug, Clone, Subcommand)]
pub enum UserCommand {
    /// Add a user; the password is prompted twice (or read from standard input).
    Add {
        /// Sign-in name.
        name: String,
        /// viewer, operator, supervisor, quality_engineer or admin.
        #[arg(long)]
        role: String,
        /// Read the password from the first line of standard input (for scripts).
        #[arg(long)]
        password_stdin: bool,
    },
    /// List users.
    List,
    /// Change a user's role.
    SetRole {
        /// Sign-in name.
        name: String,
        /// The new role.
        role: String,
    },
    /// Set a new password (signs the user out everywhere).
    Password {
        /// Sign-in name.
        name: String,
        /// Read the password from the first line of standard input (for scripts).
        #[arg(long)]
        password_stdin: bool,
    },
    /// Stop a user from signing in.
    Disable {
        /// Sign-in name.
        name: String,
    },
    /// Let a disabled user sign in again.
    Enable {
        /// Sign-in name.
        name: String,
    },
}

/// `cellguard token …`.
#[derive(Debug, Clone, Subcommand)]
pub enum TokenCommand {
    /// Issue a token; it is printed once and stored only as a hash.
    Add {
        /// Who it is for (e.g. a station's name).
        name: String,
        /// What it may do: `ingest` (post inspections).
        #[arg(long, default_value = "ingest")]
        scope: String,
    },
    /// List tokens (never their secrets).
    List,
    /// Revoke every live token with this name.
    Revoke {
        /// The token's name.
        name: String,
    },
}

/// Options of `train`.
#[derive(Debug, Clone, Args)]
pub struct TrainArgs {
    /// The dataset (CSV or .xlsx) with a label column.
    #[arg(long)]
    pub data: PathBuf,
    /// Artifact name prefix: writes `<name>-logistic` and `<name>-forest`.
    #[arg(long, default_value = "default")]
    pub name: String,
    /// Where artifacts go (default: the plant file's `quality.models_dir`).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Seed of the forest and the lot split.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Make the champion (the best on the validation lots) the active model, as
    /// recorded in the database under `--data-dir`; a running CellGuard on it follows
    /// within seconds and re-scores every cell in the background.
    #[arg(long)]
    pub promote: bool,
    /// Where the database lives (for `--promote`).
    #[arg(long, env = "CELLGUARD_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,
}

/// Options of `import`.
#[derive(Debug, Clone, Args)]
pub struct ImportArgs {
    /// The file to import (CSV or .xlsx).
    pub file: PathBuf,
    /// Where the database lives.
    #[arg(long, env = "CELLGUARD_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,
    /// Only check the file and show what would be imported.
    #[arg(long)]
    pub dry_run: bool,
}

/// What `simulate` can run.
#[derive(Debug, Clone, Subcommand)]
pub enum Simulate {
    /// Serve every device of the plant file as a simulated PLC on its configured host and port.
    Line {
        /// Seed for repeatable runs.
        #[arg(long)]
        seed: Option<u64>,
    },
    /// Write a historical dataset of simulated cells (features and short-term test
    /// labels over several lots) as CSV, the format `import` and `train` read.
    Dataset {
        /// Number of cells.
        #[arg(long, default_value_t = 20_000)]
        cells: usize,
        /// Seed; the same seed writes the same file.
        #[arg(long, default_value_t = 7)]
        seed: u64,
        /// Output file (`-` for standard output).
        #[arg(long, default_value = "-")]
        out: PathBuf,
    },
    /// Write a synthetic history of the plant's numeric tags into the database:
    /// `--days` of raw samples at 1 s ending now, and minute and hour rollups for
    /// `--rollup-days` (for benchmarks and for trying the long trend ranges).
    History {
        /// Days of raw samples.
        #[arg(long, default_value_t = 30)]
        days: u32,
        /// Days of rollups (at least `--days`).
        #[arg(long, default_value_t = 365)]
        rollup_days: u32,
        /// Directory of the database file.
        #[arg(long, default_value = "data")]
        data_dir: PathBuf,
    },
    /// Serve the MES simulator: production orders, and endpoints that keep the
    /// machine data, quality results and confirmations they receive. Faults are
    /// switched with `--fault` or `PUT /admin/fault` on the admin address.
    Mes {
        /// Address of the MES API.
        #[arg(long, default_value = "127.0.0.1:4010")]
        addr: std::net::SocketAddr,
        /// Address of the admin endpoints (faults, what arrived).
        #[arg(long, default_value = "127.0.0.1:4011")]
        admin_addr: std::net::SocketAddr,
        /// The bearer token clients must present.
        #[arg(long, env = "CELLGUARD_MES_TOKEN", hide_env_values = true)]
        token: String,
        /// Start with a fault: none, down, slow:MS, error500, throttle:SECONDS,
        /// unauthorized, reject:KEY-PREFIX.
        #[arg(long, default_value = "none", value_parser = crate::mes::sim::Fault::parse)]
        fault: crate::mes::sim::Fault,
        /// Seed for the generated orders.
        #[arg(long, default_value_t = 7)]
        seed: u64,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_cli_definition_is_consistent() {
        <Cli as CommandFactory>::command().debug_assert();
    }

    #[test]
    fn serve_takes_its_data_dir_from_the_command_line() {
        let cli =
            Cli::try_parse_from(["cellguard", "serve", "--data-dir", "/tmp/x"]).expect("parses");
        match cli.action() {
            Command::Serve(args) => assert_eq!(args.data_dir, PathBuf::from("/tmp/x")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn no_command_means_serve() {
        let cli = Cli::try_parse_from(["cellguard", "--data-dir", "/tmp/y"]).expect("parses");
        match cli.action() {
            Command::Serve(args) => assert_eq!(args.data_dir, PathBuf::from("/tmp/y")),
            other => panic!("{other:?}"),
        }
        // Global options still go before a command.
        let cli = Cli::try_parse_from(["cellguard", "--config", "p.toml", "check-config"])
            .expect("parses");
        assert!(matches!(cli.action(), Command::CheckConfig));
        assert_eq!(cli.config, PathBuf::from("p.toml"));
        let cli = Cli::try_parse_from(["cellguard", "--config", "p.toml", "simulate", "line"])
            .expect("parses");
        assert!(matches!(cli.action(), Command::Simulate { .. }));
    }
}
