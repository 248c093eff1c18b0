//! `/api/v1/live`: the live stream (server-sent events). A client subscribes to what
//! its page shows (the overview: key tags and state of every machine; a machine page:
//! that machine; other pages: no values), gets a snapshot of that first, then the
//! changes at most at its rate (scans in between coalesce, the newest value of each
//! tag wins), plus link changes, cells, the MES and actions as they happen. The
//! stream is gzip-compressed with a flush after every event when the client accepts
//! it. A client that falls behind the bus gets a fresh snapshot instead of the events
//! it missed.

use std::collections::HashMap;
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use app::api::service::ServiceError;
use app::line::{LineView, TagUpdate};
use app::live::LiveEvent;
use app::live::event::Topic;
use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use flate2::Compression;
use flate2::write::GzEncoder;
use futures::{StreamExt, stream};
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::sync::watch;

use super::WebState;
use crate::auth::Holder;
use crate::bus::{BusEvent, ScanBatch};
use crate::plant::Plant;
use crate::services::Line;
use app::actions::ActionsSummary;
use app::mes::MesStatus;

/// Values reach a client at most this often unless it asks otherwise (2 a second).
pub const DEFAULT_EVERY: Duration = Duration::from_millis(500);
const MIN_EVERY_MS: u64 = 100;
/// How often a stream checks that its holder may still hold it.
const HOLDER_CHECK: Duration = Duration::from_secs(2);
const MAX_EVERY_MS: u64 = 10_000;
/// A comment this often keeps proxies from closing an idle stream.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// Which tags of which machine a subscription carries (pure).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    /// Per device, per tag: sent or not.
    tags: Vec<Vec<bool>>,
}

impl Filter {
    /// The tags `topic` needs; `None` for a machine the plant does not have.
    pub fn new(plant: &Plant, topic: &Topic) -> Option<Self> {
        if let Topic::Machine(m) = topic {
            plant.device_named(m)?;
        }
        Some(Self {
            tags: plant
                .devices
                .iter()
                .map(|d| {
                    let state = d.state_tag().map(|t| t.id);
                    d.tags
                        .iter()
                        .map(|t| match topic {
                            Topic::Overview => t.key || Some(t.id) == state,
                            Topic::Machine(m) => d.machine == *m,
                            Topic::Events => false,
                        })
                        .collect()
                })
                .collect(),
        })
    }

    /// The line view with only the subscribed tags (every machine stays, so lists
    /// of machines still show them all).
    pub fn view(&self, plant: &Plant, mut line: LineView) -> LineView {
        for (m, (d, wanted)) in line
            .machines
            .iter_mut()
            .zip(plant.devices.iter().zip(&self.tags))
        {
            let keep: Vec<&str> = d
                .tags
                .iter()
                .zip(wanted)
                .filter(|(_, w)| **w)
                .map(|(t, _)| t.name.as_str())
                .collect();
            m.tags.retain(|t| keep.contains(&t.name.as_str()));
        }
        line
    }

    fn wants(&self, device: usize, tag: usize) -> bool {
        self.tags
            .get(device)
            .and_then(|t| t.get(tag))
            .copied()
            .unwrap_or(false)
    }
}

/// Scans waiting for the next send, the newest value of each subscribed tag per
/// machine (pure).
#[derive(Debug, Default)]
pub struct Coalescer {
    /// Per device: the newest scan time and, per tag, the newest update.
    pending: HashMap<usize, (i64, Vec<Option<TagUpdate>>)>,
}

impl Coalescer {
    /// Takes one scan's subscribed values.
    pub fn add(&mut self, plant: &Plant, filter: &Filter, batch: &ScanBatch) {
        let di = batch.device.index();
        let Some(d) = plant.devices.get(di) else {
            return;
        };
        for r in &batch.readings {
            let ti = r.tag.index();
            let (true, Some(t)) = (filter.wants(di, ti), d.tags.get(ti)) else {
                continue;
            };
            let (ts, slots) = self
                .pending
                .entry(di)
                .or_insert_with(|| (batch.ts_ms, vec![None; d.tags.len()]));
            *ts = (*ts).max(batch.ts_ms);
            if let Some(slot) = slots.get_mut(ti) {
                // A failed read keeps the last known value to show beside its quality.
                let value = r
                    .value
                    .clone()
                    .or_else(|| slot.as_ref().and_then(|u: &TagUpdate| u.value.clone()));
                *slot = Some(TagUpdate {
                    tag: t.name.clone(),
                    value,
                    quality: r.quality,
                });
            }
        }
    }

    /// One `values` event per machine with something new, in plant order.
    pub fn drain(&mut self, plant: &Plant) -> Vec<LiveEvent> {
        let mut devices: Vec<usize> = self.pending.keys().copied().collect();
        devices.sort_unstable();
        devices
            .into_iter()
            .filter_map(|di| {
                let (ts_ms, slots) = self.pending.remove(&di)?;
                Some(LiveEvent::Values {
                    machine: plant.devices.get(di)?.machine.clone(),
                    ts_ms,
                    updates: slots.into_iter().flatten().collect(),
                })
            })
            .collect()
    }

    /// Forgets what is waiting (a snapshot follows).
    pub fn clear(&mut self) {
        self.pending.clear();
    }
}

/// Server-sent-event frames, gzip-compressed when the client accepts it; every
/// frame is flushed so the browser gets it at once.
struct Frames {
    gzip: Option<GzEncoder<Vec<u8>>>,
}

impl Frames {
    fn event(&mut self, ev: &LiveEvent) -> Bytes {
        // Serialising these plain types cannot fail; an empty event is harmless if it did.
        let json = serde_json::to_string(ev).unwrap_or_default();
        self.frame(&format!("data: {json}\n\n"))
    }

    fn keep_alive(&mut self) -> Bytes {
        self.frame(":\n\n")
    }

    fn frame(&mut self, text: &str) -> Bytes {
        match &mut self.gzip {
            None => Bytes::copy_from_slice(text.as_bytes()),
            Some(gz) => {
                // Writing to a Vec cannot fail.
                let _ = gz.write_all(text.as_bytes());
                let _ = gz.flush();
                Bytes::from(std::mem::take(gz.get_mut()))
            }
        }
    }
}

/// One client's stream: its subscriptions, what is waiting, how it is framed.
struct Client {
    line: Arc<Line>,
    filter: Filter,
    rx: broadcast::Receiver<BusEvent>,
    cells: broadcast::Receiver<app::quality::CellSummary>,
    mes: watch::Receiver<MesStatus>,
    mes_open: bool,
    actions: watch::Receiver<ActionsSummary>,
    alarms: watch::Receiver<app::alarm::view::AlarmSummary>,
    values: Coalescer,
    send: tokio::time::Interval,
    keep_alive: tokio::time::Interval,
    frames: Frames,
}

impl Client {
    fn snapshot(&mut self) -> Bytes {
        let line = self.filter.view(self.line.plant(), self.line.view(true));
        self.frames.event(&LiveEvent::Snapshot { line })
    }

    /// The next frame, or `None` when the stream ends.
    async fn next(&mut self) -> Option<Bytes> {
        loop {
            tokio::select! {
                got = self.rx.recv() => match got {
                    Ok(BusEvent::Scan(batch)) => {
                        self.values.add(self.line.plant(), &self.filter, &batch);
                    }
                    Ok(ev @ BusEvent::Link { .. }) => {
                        if let Some(out) = link_event(&self.line, &ev) {
                            return Some(self.frames.event(&out));
                        }
                    }
                    Err(RecvError::Lagged(_)) => {
                        // Skip what is still queued (it is older than the snapshot) and
                        // go on from now.
                        self.rx = self.rx.resubscribe();
                        self.values.clear();
                        return Some(self.snapshot());
                    }
                    Err(RecvError::Closed) => return None,
                },
                _ = self.send.tick() => {
                    let events = self.values.drain(self.line.plant());
                    if !events.is_empty() {
                        let mut out = Vec::new();
                        for ev in &events {
                            out.extend_from_slice(&self.frames.event(ev));
                        }
                        return Some(Bytes::from(out));
                    }
                }
                got = self.cells.recv() => match got {
                    Ok(cell) => return Some(self.frames.event(&LiveEvent::Cell { cell })),
                    // Missed cells are picked up by the pages' next fetch.
                    Err(RecvError::Lagged(_)) => self.cells = self.cells.resubscribe(),
                    Err(RecvError::Closed) => return None,
                },
                changed = self.mes.changed(), if self.mes_open => {
                    if changed.is_err() {
                        // The MES client has stopped: nothing more to say about it.
                        self.mes_open = false;
                        continue;
                    }
                    let status = self.mes.borrow_and_update().clone();
                    return Some(self.frames.event(&LiveEvent::Mes { status }));
                }
                // The sender lives as long as the service; it never closes first.
                Ok(()) = self.actions.changed() => {
                    let summary = self.actions.borrow_and_update().clone();
                    return Some(self.frames.event(&LiveEvent::Actions { summary }));
                }
                Ok(()) = self.alarms.changed() => {
                    let summary = *self.alarms.borrow_and_update();
                    return Some(self.frames.event(&LiveEvent::Alarms { summary }));
                }
                _ = self.keep_alive.tick() => return Some(self.frames.keep_alive()),
            }
        }
    }
}

/// A link change as the browser understands it.
pub fn link_event(line: &Line, ev: &BusEvent) -> Option<LiveEvent> {
    match ev {
        BusEvent::Link { device, link } => Some(LiveEvent::Link {
            machine: line.plant().devices.get(device.index())?.machine.clone(),
            link: link.clone(),
        }),
        BusEvent::Scan(_) => None,
    }
}

fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|part| {
            let mut it = part.split(';');
            let name = it.next().unwrap_or("").trim();
            let refused = it.any(|p| matches!(p.trim(), "q=0" | "q=0.0" | "q=0.00" | "q=0.000"));
            name.eq_ignore_ascii_case("gzip") && !refused
        })
}

/// The live stream (server-sent events)
///
/// Query: `view` = `overview` (default: key tags and state of every machine),
/// `machine` (with `machine=ID`: every tag of that machine) or `events` (no values);
/// `every_ms` (100–10000, default 500): values come at most this often, the newest
/// of each tag since the last send. Each event's data is one JSON object tagged by
/// `kind`: `snapshot` (the line with the subscribed tags, first, and again when a
/// client falls behind), `values` (one machine's changes), `link` (a PLC connection
/// changed), `cell` (a cell was scored), `mes` (the MES link and outbox) and
/// `actions` (the corrective actions summary). Gzip-compressed when accepted, a
/// flush per event; a keep-alive comment every 15 s; ends at shutdown. Needs any
/// signed-in person.
#[utoipa::path(
    get,
    path = "/api/v1/live",
    tag = "line",
    params(
        ("view" = Option<String>, Query, description = "`overview` (default), `machine` or `events`"),
        ("machine" = Option<String>, Query, description = "The machine, with `view=machine`"),
        ("every_ms" = Option<u64>, Query, description = "Least time between two value events (100–10000, default 500)"),
    ),
    responses(
        (status = 200, description = "An endless `text/event-stream`", body = String, content_type = "text/event-stream"),
        (status = 404, description = "No such machine", body = ServiceError),
        (status = 422, description = "A query parameter is not acceptable", body = ServiceError),
    ),
    security(("session" = [])),
)]
pub async fn stream(
    State(state): State<WebState>,
    Query(query): Query<HashMap<String, String>>,
    auth: axum_login::AuthSession<crate::auth::Access>,
    headers: HeaderMap,
) -> Response {
    let holder = match super::access::bearer(&headers) {
        Some(token) => Holder::Token(token.to_owned()),
        None => match (&auth.user, auth.session.id()) {
            (Some(u), Some(id)) => Holder::Session {
                id,
                user: u.id,
                hash: u.password_hash.clone(),
            },
            // The door let nobody else in.
            _ => return ServiceError::Unauthenticated.into_response(),
        },
    };
    let topic = match Topic::parse(
        query.get("view").map(String::as_str),
        query.get("machine").map(String::as_str),
    ) {
        Ok(t) => t,
        Err(field) => {
            return ServiceError::Invalid {
                field: field.into(),
                reason: "must be view=overview, view=events or view=machine&machine=ID".into(),
            }
            .into_response();
        }
    };
    let every_ms = match query.get("every_ms").map(|v| v.parse::<u64>()) {
        None => DEFAULT_EVERY.as_millis() as u64,
        Some(Ok(ms)) if (MIN_EVERY_MS..=MAX_EVERY_MS).contains(&ms) => ms,
        Some(_) => {
            return ServiceError::Invalid {
                field: "every_ms".into(),
                reason: format!("must be a whole number from {MIN_EVERY_MS} to {MAX_EVERY_MS}"),
            }
            .into_response();
        }
    };
    let line: Arc<Line> = Arc::clone(&state.line);
    let Some(filter) = Filter::new(line.plant(), &topic) else {
        // Only a machine topic can name a machine the plant does not have.
        let name = match topic {
            Topic::Machine(m) => m,
            Topic::Overview | Topic::Events => String::new(),
        };
        return ServiceError::UnknownMachine(name).into_response();
    };
    let gzip = accepts_gzip(&headers);
    // Subscribe before the snapshot so nothing falls between them.
    let rx = line.bus().subscribe();
    let cells = state.quality.subscribe();
    let mut mes = state.mes.watch();
    mes.mark_unchanged();
    let mut actions = state.actions.watch();
    actions.mark_unchanged();
    let mut alarms = state.alarms.watch();
    alarms.mark_unchanged();
    let mut send = tokio::time::interval(Duration::from_millis(every_ms));
    send.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut keep_alive = tokio::time::interval(KEEP_ALIVE);
    keep_alive.reset();
    let mut client = Client {
        line,
        filter,
        rx,
        cells,
        mes,
        mes_open: true,
        actions,
        alarms,
        values: Coalescer::default(),
        send,
        keep_alive,
        frames: Frames {
            gzip: gzip.then(|| GzEncoder::new(Vec::new(), Compression::default())),
        },
    };
    let mut first = client.snapshot().to_vec();
    first.extend_from_slice(&client.frames.event(&LiveEvent::Mes {
        status: state.mes.status(),
    }));
    first.extend_from_slice(&client.frames.event(&LiveEvent::Actions {
        summary: state.actions.summary(),
    }));
    first.extend_from_slice(&client.frames.event(&LiveEvent::Alarms {
        summary: state.alarms.summary(),
    }));
    let first = Bytes::from(first);
    let rest = stream::unfold(client, |mut c| async move {
        let frame = c.next().await?;
        Some((frame, c))
    });
    // The stream ends at shutdown, and within HOLDER_CHECK of its holder's
    // session ending or their being disabled (or their token revoked).
    let access = state.access.clone();
    let shutdown = state.shutdown.clone();
    let end = async move {
        let mut check = tokio::time::interval(HOLDER_CHECK);
        check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = check.tick() => {}
            }
            if !access.holds(&holder).await {
                tracing::info!("live stream closed: its session ended");
                return;
            }
        }
    };
    let body = stream::iter([first])
        .chain(rest)
        .take_until(end)
        .map(Ok::<_, std::convert::Infallible>);
    let mut response = Body::from_stream(body).into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    if gzip {
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bus::Reading;
    use app::line::{Quality, Value};
    use std::io::Read;

    fn plant() -> Plant {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/plant.toml");
        crate::config::load(&path, &crate::config::tests::no_env)
            .expect("default plant")
            .plant
    }

    fn scan(plant: &Plant, device: usize, ts: i64, v: f64) -> ScanBatch {
        let d = &plant.devices[device];
        ScanBatch {
            device: d.id,
            ts_ms: ts,
            readings: d
                .tags
                .iter()
                .map(|t| Reading {
                    tag: t.id,
                    value: Some(Value::Number(v)),
                    quality: Quality::Good,
                })
                .collect(),
        }
    }

    #[test]
    fn the_overview_gets_key_tags_and_states_coalesced_to_the_newest() {
        let plant = plant();
        let f = Filter::new(&plant, &Topic::Overview).expect("filter");
        let mut c = Coalescer::default();
        for ts in 0..5 {
            for d in 0..plant.devices.len() {
                c.add(&plant, &f, &scan(&plant, d, ts * 100, ts as f64));
            }
        }
        let events = c.drain(&plant);
        assert_eq!(events.len(), plant.devices.len(), "one event per machine");
        let LiveEvent::Values {
            machine,
            ts_ms,
            updates,
        } = &events[0]
        else {
            panic!("values expected")
        };
        let d = &plant.devices[0];
        assert_eq!(machine, &d.machine);
        assert_eq!(*ts_ms, 400);
        let expected = d
            .tags
            .iter()
            .filter(|t| t.key || Some(t.id) == d.state_tag().map(|s| s.id))
            .count();
        assert!(
            expected < d.tags.len(),
            "the default plant has non-key tags"
        );
        assert_eq!(updates.len(), expected);
        assert!(updates.iter().all(|u| u.value == Some(Value::Number(4.0))));
        assert!(c.drain(&plant).is_empty(), "nothing new, nothing sent");
    }

    #[test]
    fn a_machine_page_gets_that_machine_only_and_events_get_no_values() {
        let plant = plant();
        let id = plant.devices[1].machine.clone();
        let f = Filter::new(&plant, &Topic::Machine(id.clone())).expect("filter");
        let mut c = Coalescer::default();
        c.add(&plant, &f, &scan(&plant, 0, 0, 1.0));
        c.add(&plant, &f, &scan(&plant, 1, 0, 1.0));
        let events = c.drain(&plant);
        assert_eq!(events.len(), 1);
        let LiveEvent::Values {
            machine, updates, ..
        } = &events[0]
        else {
            panic!("values expected")
        };
        assert_eq!((machine, updates.len()), (&id, plant.devices[1].tags.len()));
        let none = Filter::new(&plant, &Topic::Events).expect("filter");
        c.add(&plant, &none, &scan(&plant, 1, 0, 1.0));
        assert!(c.drain(&plant).is_empty());
        assert!(Filter::new(&plant, &Topic::Machine("NOPE".into())).is_none());
    }

    #[test]
    fn a_failed_read_keeps_the_last_value_beside_its_quality() {
        let plant = plant();
        let f = Filter::new(&plant, &Topic::Machine(plant.devices[0].machine.clone())).expect("f");
        let mut c = Coalescer::default();
        c.add(&plant, &f, &scan(&plant, 0, 0, 7.0));
        let mut bad = scan(&plant, 0, 100, 0.0);
        for r in &mut bad.readings {
            r.value = None;
            r.quality = Quality::CommLost;
        }
        c.add(&plant, &f, &bad);
        let LiveEvent::Values { updates, .. } = &c.drain(&plant)[0] else {
            panic!("values expected")
        };
        assert_eq!(updates[0].value, Some(Value::Number(7.0)));
        assert_eq!(updates[0].quality, Quality::CommLost);
    }

    #[test]
    fn frames_are_gzip_flushed_one_by_one() {
        let mut frames = Frames {
            gzip: Some(GzEncoder::new(Vec::new(), Compression::default())),
        };
        let ev = LiveEvent::Link {
            machine: "M".into(),
            link: app::line::Link::new(app::line::LinkState::Online, 1, None),
        };
        let mut all = Vec::new();
        let a = frames.event(&ev);
        all.extend_from_slice(&a);
        // What was sent so far decodes to the whole first event.
        let mut text = String::new();
        let _ = flate2::read::GzDecoder::new(&a[..]).read_to_string(&mut text);
        assert!(text.starts_with("data: {\"kind\":\"link\""), "{text}");
        assert!(text.ends_with("\n\n"));
        all.extend_from_slice(&frames.event(&ev));
        all.extend_from_slice(&frames.keep_alive());
        let mut text = String::new();
        let _ = flate2::read::GzDecoder::new(&all[..]).read_to_string(&mut text);
        assert_eq!(text.matches("data: ").count(), 2);
        assert!(text.ends_with(":\n\n"));
    }

    #[test]
    fn gzip_is_used_only_when_accepted() {
        let mut h = HeaderMap::new();
        assert!(!accepts_gzip(&h));
        h.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_static("br, gzip;q=0.8"),
        );
        assert!(accepts_gzip(&h));
        h.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_static("gzip;q=0, deflate"),
        );
        assert!(!accepts_gzip(&h));
    }
}
