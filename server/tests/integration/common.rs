//! Helpers shared by the integration tests.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use app::model::{LinkState, Quality, Value};
use cellguard::bus::{Bus, BusEvent};
use cellguard::config::{Device, Plant, load, parse};
use tokio::sync::broadcast::Receiver;
use tokio::sync::broadcast::error::RecvError;

/// The shipped default plant.
pub fn default_plant() -> Plant {
    load(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/plant.toml"),
        &|_| None,
    )
    .expect("default plant")
}

/// A plant from TOML text.
pub fn plant(text: &str) -> Plant {
    parse(Path::new("test.toml"), text, &|_| None).unwrap_or_else(|e| panic!("{e}"))
}

/// The plant's devices, shared.
pub fn devices(plant: &Plant) -> Vec<Arc<Device>> {
    plant.devices.iter().cloned().map(Arc::new).collect()
}

/// Waits (at most `limit`) for a link event of `device` in `state`.
pub async fn wait_link(
    rx: &mut Receiver<BusEvent>,
    device: u32,
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

/// Waits (at most `limit`) until `pred` holds for a good reading of tag `tag` of `device`.
pub async fn wait_value(
    rx: &mut Receiver<BusEvent>,
    device: u32,
    tag: u16,
    limit: Duration,
    pred: impl Fn(&Value) -> bool,
) -> Option<Value> {
    tokio::time::timeout(limit, async {
        loop {
            if let Ok(BusEvent::Scan(b)) = rx.recv().await {
                if b.device != device {
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

/// Index of a tag by name.
pub fn tag_index(plant: &Plant, device: usize, name: &str) -> u16 {
    plant.devices[device]
        .tags
        .iter()
        .position(|t| t.name == name)
        .expect("tag") as u16
}

/// A bus for a plant.
pub fn bus(plant: &Plant) -> Arc<Bus> {
    Arc::new(Bus::new(plant, 4096))
}
