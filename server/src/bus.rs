//! The in-process bus: the latest value of every tag, each PLC link's state, and a
//! broadcast of every scan for live consumers (history writer, browser streams).

use std::sync::{Arc, Mutex, PoisonError};

use app::line::{Link, LinkState, Quality, ScanRate, TagProblem, Value};
use tokio::sync::broadcast;

use crate::clock::now_ms;
use crate::plant::{DeviceId, Plant, TagId};

/// One tag's reading in a scan.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    /// The tag read.
    pub tag: TagId,
    /// The value, absent when the read failed.
    pub value: Option<Value>,
    /// Quality of the read.
    pub quality: Quality,
}

/// The readings of one scan group of one device.
#[derive(Debug, Clone)]
pub struct ScanBatch {
    /// The device read.
    pub device: DeviceId,
    /// When the read completed (unix ms).
    pub ts_ms: i64,
    /// Readings.
    pub readings: Vec<Reading>,
}

/// What the bus broadcasts.
#[derive(Debug, Clone)]
pub enum BusEvent {
    /// New readings.
    Scan(Arc<ScanBatch>),
    /// A PLC link changed state.
    Link {
        /// The device.
        device: DeviceId,
        /// New state.
        link: Link,
    },
}

/// Latest value of one tag.
#[derive(Debug, Clone, PartialEq)]
pub struct Latest {
    /// Last value read successfully.
    pub value: Option<Value>,
    /// Quality of the last read.
    pub quality: Quality,
    /// When (unix ms), 0 if never.
    pub ts_ms: i64,
}

#[derive(Debug)]
struct DeviceLatest {
    link: Link,
    tags: Vec<Latest>,
}

/// Shared by acquisition (writer) and every reader.
#[derive(Debug)]
pub struct Bus {
    tx: broadcast::Sender<BusEvent>,
    devices: Vec<Mutex<DeviceLatest>>,
}

impl Bus {
    /// A bus for the plant's devices; `capacity` events are buffered per subscriber.
    pub fn new(plant: &Plant, capacity: usize) -> Self {
        let (tx, _) = broadcast::channel(capacity.max(16));
        let now = now_ms();
        let devices = plant
            .devices
            .iter()
            .map(|d| {
                Mutex::new(DeviceLatest {
                    link: Link::new(LinkState::Connecting, now, None),
                    tags: vec![
                        Latest {
                            value: None,
                            quality: Quality::CommLost,
                            ts_ms: 0
                        };
                        d.tags.len()
                    ],
                })
            })
            .collect();
        Self { tx, devices }
    }

    /// Receives every event published from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<BusEvent> {
        self.tx.subscribe()
    }

    /// Records a scan and broadcasts it. A failed read keeps the last value.
    pub fn publish_scan(&self, batch: ScanBatch) {
        if let Some(dev) = self.devices.get(batch.device.index()) {
            let mut dev = dev.lock().unwrap_or_else(PoisonError::into_inner);
            for r in &batch.readings {
                if let Some(t) = dev.tags.get_mut(r.tag.index()) {
                    if r.value.is_some() {
                        t.value.clone_from(&r.value);
                    }
                    t.quality = r.quality;
                    t.ts_ms = batch.ts_ms;
                }
            }
        }
        // No receivers is not an error: nobody is listening yet.
        let _ = self.tx.send(BusEvent::Scan(Arc::new(batch)));
    }

    /// Records a link change (only real changes are broadcast).
    pub fn set_link(&self, device: DeviceId, state: LinkState, error: Option<String>) {
        let Some(dev) = self.devices.get(device.index()) else {
            return;
        };
        let link = {
            let mut dev = dev.lock().unwrap_or_else(PoisonError::into_inner);
            if dev.link.state == state && dev.link.error == error {
                return;
            }
            let since_ms = if dev.link.state == state {
                dev.link.since_ms
            } else {
                now_ms()
            };
            dev.link.state = state;
            dev.link.since_ms = since_ms;
            dev.link.error = error;
            if state != LinkState::Online {
                // Nothing is scanned while the link is down.
                dev.link.scans.clear();
            }
            dev.link.clone()
        };
        let _ = self.tx.send(BusEvent::Link { device, link });
    }

    /// Records what acquisition learned of a device while online: the tags its PLC
    /// refuses and the scan rates achieved (broadcast when they change).
    pub fn set_health(&self, device: DeviceId, refused: Vec<TagProblem>, scans: Vec<ScanRate>) {
        let Some(dev) = self.devices.get(device.index()) else {
            return;
        };
        let link = {
            let mut dev = dev.lock().unwrap_or_else(PoisonError::into_inner);
            if dev.link.refused == refused && dev.link.scans == scans {
                return;
            }
            dev.link.refused = refused;
            dev.link.scans = scans;
            dev.link.clone()
        };
        let _ = self.tx.send(BusEvent::Link { device, link });
    }

    /// A device's link state.
    pub fn link(&self, device: DeviceId) -> Option<Link> {
        self.devices.get(device.index()).map(|d| {
            d.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .link
                .clone()
        })
    }

    /// A copy of a device's latest values.
    pub fn latest(&self, device: DeviceId) -> Option<(Link, Vec<Latest>)> {
        self.devices.get(device.index()).map(|d| {
            let d = d.lock().unwrap_or_else(PoisonError::into_inner);
            (d.link.clone(), d.tags.clone())
        })
    }

    /// The latest value of one tag.
    pub fn tag(&self, tag: TagId) -> Option<Latest> {
        let d = self.devices.get(tag.device().index())?;
        let d = d.lock().unwrap_or_else(PoisonError::into_inner);
        d.tags.get(tag.index()).cloned()
    }
}
