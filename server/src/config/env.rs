//! Environment overrides of the plant file: the MES link and each device's host
//! and port (`CELLGUARD_DEVICE_<ID>_HOST`, `CELLGUARD_DEVICE_<ID>_PORT`).

use super::PlantFile;
use crate::mes::settings::{Secret, mes_url};

/// Environment variable prefix for a device's overrides.
pub fn env_prefix(device_id: &str) -> String {
    format!(
        "CELLGUARD_DEVICE_{}_",
        device_id.to_ascii_uppercase().replace('-', "_")
    )
}

pub(super) fn apply(
    plant: &mut PlantFile,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(), Vec<(String, String)>> {
    let mut errs = Vec::new();
    if let Some(url) = env("CELLGUARD_MES_URL") {
        match mes_url(&url) {
            Ok(_) => {
                plant.mes.url = url.trim().to_owned();
                plant.mes.embedded = false;
            }
            Err(_) => errs.push((
                "CELLGUARD_MES_URL".to_owned(),
                "must be an http:// or https:// URL".to_owned(),
            )),
        }
    }
    if let Some(token) = env("CELLGUARD_MES_TOKEN") {
        plant.mes.token = Secret::new(token.trim());
    }
    for d in &mut plant.devices {
        let prefix = env_prefix(&d.id);
        if let Some(h) = env(&format!("{prefix}HOST")) {
            if h.trim().is_empty() {
                errs.push((format!("{prefix}HOST"), "must not be empty".into()));
            } else {
                d.host = h.trim().to_owned();
            }
        }
        if let Some(p) = env(&format!("{prefix}PORT")) {
            match p.trim().parse::<u16>() {
                Ok(p) if p > 0 => d.port = p,
                _ => errs.push((
                    format!("{prefix}PORT"),
                    format!("{p:?} is not a port (1..=65535)"),
                )),
            }
        }
    }
    if errs.is_empty() { Ok(()) } else { Err(errs) }
}
