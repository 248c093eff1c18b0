//! `/api/v1/live`: the live stream (server-sent events). Each connection starts with
//! a snapshot of the line, then carries every scan and link change; a client that
//! falls behind gets a fresh snapshot instead of the events it missed.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use app::line::TagUpdate;
use app::live::LiveEvent;
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::{Stream, StreamExt, stream};
use tokio::sync::broadcast::error::RecvError;

use super::WebState;
use crate::bus::BusEvent;
use crate::services::Line;

/// Converts a bus event into what the browser understands.
pub fn to_live_event(line: &Line, ev: &BusEvent) -> Option<LiveEvent> {
    let devices = &line.plant().devices;
    match ev {
        BusEvent::Scan(batch) => {
            let d = devices.get(batch.device.index())?;
            Some(LiveEvent::Values {
                machine: d.machine.clone(),
                ts_ms: batch.ts_ms,
                updates: batch
                    .readings
                    .iter()
                    .filter_map(|r| {
                        d.tags.get(r.tag.index()).map(|t| TagUpdate {
                            tag: t.name.clone(),
                            value: r.value.clone(),
                            quality: r.quality,
                        })
                    })
                    .collect(),
            })
        }
        BusEvent::Link { device, link } => {
            let d = devices.get(device.index())?;
            Some(LiveEvent::Link {
                machine: d.machine.clone(),
                link: link.clone(),
            })
        }
    }
}

fn encode(ev: &LiveEvent) -> Event {
    // Serialising these plain types cannot fail; an empty event is harmless if it did.
    Event::default().data(serde_json::to_string(ev).unwrap_or_default())
}

async fn snapshot(line: &Line) -> Event {
    encode(&LiveEvent::Snapshot {
        line: line.view(true).await,
    })
}

/// The live stream (server-sent events)
///
/// Each event's data is one JSON object tagged by `kind`: `snapshot` (the whole
/// line, first, and again when a client falls behind), `values` (one scan of one
/// machine), `link` (a PLC connection changed), `cell` (a cell was scored), `mes`
/// (the MES link and outbox) and `actions` (the corrective actions summary). The
/// stream sends a keep-alive comment every 15 s and ends at shutdown. Needs any
/// signed-in person.
#[utoipa::path(
    get,
    path = "/api/v1/live",
    tag = "line",
    responses(
        (status = 200, description = "An endless `text/event-stream`", body = String, content_type = "text/event-stream"),
    ),
    security(("session" = [])),
)]
pub async fn stream(
    State(state): State<WebState>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    // Subscribe before the snapshot so nothing falls between them.
    let rx = state.line.bus().subscribe();
    let cells = state.quality.subscribe();
    let mut mes = state.mes.watch();
    mes.mark_unchanged();
    let mut actions = state.actions.watch();
    actions.mark_unchanged();
    let line: Arc<Line> = Arc::clone(&state.line);
    let first = snapshot(&line).await;
    let mes_now = encode(&LiveEvent::Mes {
        status: state.mes.status(),
    });
    let actions_now = encode(&LiveEvent::Actions {
        summary: state.actions.summary(),
    });
    let events = stream::unfold(
        (rx, cells, mes, actions, line, true),
        |(mut rx, mut cells, mut mes, mut actions, line, mut mes_open)| async move {
            loop {
                tokio::select! {
                    got = rx.recv() => match got {
                        Ok(ev) => {
                            if let Some(out) = to_live_event(&line, &ev) {
                                return Some((Ok(encode(&out)), (rx, cells, mes, actions, line, mes_open)));
                            }
                        }
                        Err(RecvError::Lagged(_)) => {
                            // Skip what is still queued (it is older than the snapshot) and
                            // go on from now.
                            let rx = rx.resubscribe();
                            let snap = snapshot(&line).await;
                            return Some((Ok(snap), (rx, cells, mes, actions, line, mes_open)));
                        }
                        Err(RecvError::Closed) => return None,
                    },
                    got = cells.recv() => match got {
                        Ok(cell) => {
                            let ev = encode(&LiveEvent::Cell { cell });
                            return Some((Ok(ev), (rx, cells, mes, actions, line, mes_open)));
                        }
                        // Missed cells are picked up by the pages' next fetch.
                        Err(RecvError::Lagged(_)) => cells = cells.resubscribe(),
                        Err(RecvError::Closed) => return None,
                    },
                    changed = mes.changed(), if mes_open => {
                        if changed.is_err() {
                            // The MES client has stopped: nothing more to say about it.
                            mes_open = false;
                            continue;
                        }
                        let status = mes.borrow_and_update().clone();
                        let ev = encode(&LiveEvent::Mes { status });
                        return Some((Ok(ev), (rx, cells, mes, actions, line, mes_open)));
                    }
                    // The sender lives as long as the service; it never closes first.
                    Ok(()) = actions.changed() => {
                        let summary = actions.borrow_and_update().clone();
                        let ev = encode(&LiveEvent::Actions { summary });
                        return Some((Ok(ev), (rx, cells, mes, actions, line, mes_open)));
                    }
                }
            }
        },
    );
    let all = stream::iter([Ok(first), Ok(mes_now), Ok(actions_now)])
        .chain(events)
        .take_until(state.shutdown.cancelled_owned());
    Sse::new(all).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}
