//! The plant file: loading, locating problems, environment overrides and the
//! checks that span several sections.
//!
//! Loading is four steps: parse the TOML into the file types (serde, unknown
//! fields refused, each section's type next to its owner), validate what serde
//! cannot (each owner checks its own section, [`validate`] what spans sections),
//! apply environment overrides, then resolve everything once into the typed
//! [`Settings`] the running program uses. Every error names the file, the line and
//! the field.

mod env;
mod locate;

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

pub use env::env_prefix;

use crate::actions::settings::{WritebackConfig, WritebackSettings};
use crate::alarms::settings::{AlarmSettings, AlarmsConfig};
use crate::auth::settings::{AccessConfig, AccessSettings};
use crate::mes::settings::{MesConfig, MesSettings};
use crate::plant::Plant;
use crate::plant::file::DeviceFile;
use crate::problems::Problem;
use crate::quality::settings::{QualityConfig, QualitySettings};
use crate::sim::settings::SimulatorConfig;
use crate::storage::settings::{HistoryConfig, HistorySettings};

/// The whole plant file, as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlantFile {
    /// What the plant is called in the UI.
    #[serde(default = "default_plant_name")]
    pub name: String,
    /// History settings.
    #[serde(default)]
    pub history: HistoryConfig,
    /// The built-in line simulator.
    #[serde(default)]
    pub simulator: SimulatorConfig,
    /// One entry per PLC.
    #[serde(default)]
    pub devices: Vec<DeviceFile>,
    /// Products, spec limits, risk tiers and models.
    #[serde(default)]
    pub quality: QualityConfig,
    /// Sign-in sessions and cookies.
    #[serde(default)]
    pub access: AccessConfig,
    /// The plant's MES.
    #[serde(default)]
    pub mes: MesConfig,
    /// Corrective actions written back to the PLCs.
    #[serde(default)]
    pub writeback: WritebackConfig,
    /// Alarm priorities and shelving.
    #[serde(default)]
    pub alarms: AlarmsConfig,
}

fn default_plant_name() -> String {
    "CellGuard line".into()
}

/// Everything CellGuard runs on, resolved once from the plant file.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The devices and their register maps.
    pub plant: Plant,
    /// How acquired values are kept.
    pub history: HistorySettings,
    /// The built-in line simulator.
    pub simulator: SimulatorConfig,
    /// Products, spec limits, risk tiers and models.
    pub quality: QualitySettings,
    /// Sign-in sessions and cookies.
    pub access: AccessSettings,
    /// The plant's MES.
    pub mes: MesSettings,
    /// Corrective actions written back to the PLCs.
    pub writeback: WritebackSettings,
    /// Alarm priorities and shelving.
    pub alarms: AlarmSettings,
}

impl Settings {
    /// Resolves a plant file that [`validate`] found no problem in.
    pub fn resolve(file: PlantFile) -> Settings {
        let history = file.history.resolve();
        let quality = file.quality.resolve();
        let access = file.access.resolve();
        let mes = file.mes.resolve();
        let plant = crate::plant::file::resolve(file.name, file.devices);
        let writeback = file.writeback.resolve(&plant);
        let alarms = file.alarms.resolve();
        Settings {
            alarms,
            plant,
            history,
            simulator: file.simulator,
            quality,
            access,
            mes,
            writeback,
        }
    }
}

/// A problem in the plant file, located by file, line and field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file.
    pub file: PathBuf,
    /// 1-based line (0 when the error is not in the file, e.g. an environment variable).
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// Dotted path of the field, e.g. `devices[0].tags[2].address`.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(
                f,
                "{}: {}: {}",
                self.file.display(),
                self.field,
                self.message
            )
        } else {
            write!(
                f,
                "{}:{}:{}: {}: {}",
                self.file.display(),
                self.line,
                self.column,
                self.field,
                self.message
            )
        }
    }
}

/// Every problem found in one plant file.
#[derive(Debug, Clone, thiserror::Error)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

/// Reads, validates and resolves a plant file; `env` supplies overrides
/// (`CELLGUARD_DEVICE_<ID>_HOST`, `CELLGUARD_DEVICE_<ID>_PORT`, the MES link).
pub fn load(path: &Path, env: &dyn Fn(&str) -> Option<String>) -> Result<Settings, ConfigErrors> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        ConfigErrors(vec![ConfigError {
            file: path.to_owned(),
            line: 0,
            column: 0,
            field: "(file)".into(),
            message: format!("cannot read the plant file: {e}"),
        }])
    })?;
    parse(path, &text, env)
}

/// [`load`] on text already read.
pub fn parse(
    path: &Path,
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Settings, ConfigErrors> {
    let locator = locate::Locator::new(path, text);
    let mut file: PlantFile =
        toml::from_str(text).map_err(|e| ConfigErrors(vec![locator.parse_error(&e)]))?;
    let problems = validate(&file);
    if !problems.is_empty() {
        let mut errors: Vec<ConfigError> = problems
            .into_iter()
            .map(|(p, m)| locator.at(&p, m))
            .collect();
        errors.sort_by_key(|e| (e.line, e.column));
        return Err(ConfigErrors(errors));
    }
    env::apply(&mut file, env).map_err(|errs| {
        ConfigErrors(
            errs.into_iter()
                .map(|(var, message)| ConfigError {
                    file: path.to_owned(),
                    line: 0,
                    column: 0,
                    field: var,
                    message,
                })
                .collect(),
        )
    })?;
    Ok(Settings::resolve(file))
}

/// Every problem in the file: each owner checks its section.
fn validate(file: &PlantFile) -> Vec<Problem> {
    let mut out: Vec<Problem> = Vec::new();
    crate::storage::settings::validate(&file.history, &mut out);
    crate::quality::settings::validate(&file.quality, &mut out);
    crate::mes::settings::validate(&file.mes, &mut out);
    crate::actions::settings::validate(&file.writeback, &file.devices, &mut out);
    crate::auth::settings::validate(&file.access, &mut out);
    crate::sim::settings::validate(&file.simulator, &mut out);
    crate::alarms::settings::validate(&file.alarms, &mut out);
    crate::plant::file::validate(&file.devices, &mut out);
    out
}

#[cfg(test)]
pub(crate) mod tests;
