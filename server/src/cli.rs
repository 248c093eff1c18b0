//! The command line: `cellguard serve`, `cellguard simulate line`, `cellguard check-config`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

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

/// Log output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for log collectors.
    Json,
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
