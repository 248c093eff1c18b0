//! The live store: the line as last seen, trend buffers, and the connection to the
//! server's event stream. Provided once at the app root; every page reads from it.

pub mod event;

pub use event::LiveEvent;

use std::collections::HashMap;

use leptos::prelude::*;

use crate::actions::ActionsSummary;
use crate::line::{LineView, Point, Quality, merge_recent, trim_points};
use crate::mes::MesStatus;
use crate::quality::CellSummary;

/// Seconds of full-rate live history kept per tag in the browser.
pub const LIVE_WINDOW_MS: i64 = 2 * 60_000;
/// Points per live buffer at most.
const LIVE_MAX_POINTS: usize = 2_400;

/// State of the browser's stream connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conn {
    /// Server-rendered page, stream not opened yet.
    Idle,
    /// Opening.
    Connecting,
    /// Receiving.
    Live,
    /// Lost; reconnecting.
    Lost,
}

impl Conn {
    /// Text for the header indicator.
    pub fn label(self) -> &'static str {
        match self {
            Conn::Idle | Conn::Connecting => "connecting…",
            Conn::Live => "live",
            Conn::Lost => "connection lost, reconnecting…",
        }
    }
    /// CSS class suffix.
    pub fn css(self) -> &'static str {
        match self {
            Conn::Idle | Conn::Connecting => "connecting",
            Conn::Live => "live",
            Conn::Lost => "lost",
        }
    }
}

/// Live trend buffers: machine → tag → points.
pub type Trends = HashMap<String, HashMap<String, Vec<Point>>>;

/// The live store (cheap to copy: all fields are arena handles).
#[derive(Clone, Copy)]
pub struct Live {
    /// The line as last seen (None until the first view or snapshot arrives).
    pub line: RwSignal<Option<LineView>>,
    /// Stream connection state.
    pub conn: RwSignal<Conn>,
    /// Full-rate recent values of numeric tags.
    pub trends: StoredValue<Trends>,
    /// Bumped (at most a few times a second) when `trends` changed.
    pub trends_version: RwSignal<u64>,
    trends_dirty: StoredValue<bool>,
    /// Server time now, estimated in the browser (unix ms), ticking every second.
    pub now_ms: RwSignal<i64>,
    /// Server clock minus browser clock.
    clock_offset_ms: StoredValue<i64>,
    /// The cell last inspected or scored (quality pages refetch when it changes).
    pub last_cell: RwSignal<Option<CellSummary>>,
    /// The MES link and outbox as last pushed (None until the stream says).
    pub mes: RwSignal<Option<MesStatus>>,
    /// Pending corrective actions and write alarms as last pushed.
    pub actions: RwSignal<Option<ActionsSummary>>,
}

impl Live {
    /// A new, empty store.
    pub fn new() -> Self {
        Self {
            line: RwSignal::new(None),
            conn: RwSignal::new(Conn::Idle),
            trends: StoredValue::new(HashMap::new()),
            trends_version: RwSignal::new(0),
            trends_dirty: StoredValue::new(false),
            now_ms: RwSignal::new(0),
            clock_offset_ms: StoredValue::new(0),
            last_cell: RwSignal::new(None),
            mes: RwSignal::new(None),
            actions: RwSignal::new(None),
        }
    }

    /// Adopts a line view from the server (first render or snapshot).
    pub fn adopt(&self, line: LineView, browser_now_ms: i64) {
        self.clock_offset_ms.set_value(line.now_ms - browser_now_ms);
        self.now_ms.set(line.now_ms);
        self.trends.update_value(|trends| {
            for m in &line.machines {
                let tags = trends.entry(m.id.clone()).or_default();
                for t in &m.tags {
                    let buf = tags.entry(t.name.clone()).or_default();
                    // Recent history fills what the live buffer lacks: the time before
                    // it and any outage of the stream.
                    *buf = merge_recent(buf, &t.recent, 1_000);
                }
            }
        });
        self.line.set(Some(line));
        self.mark_trends();
    }

    /// Applies one event from the stream.
    pub fn apply(&self, event: LiveEvent, browser_now_ms: i64) {
        match event {
            LiveEvent::Snapshot { line } => self.adopt(line, browser_now_ms),
            LiveEvent::Cell { cell } => self.last_cell.set(Some(cell)),
            LiveEvent::Mes { status } => self.mes.set(Some(status)),
            LiveEvent::Actions { summary } => self.actions.set(Some(summary)),
            LiveEvent::Link { machine, link } => self.line.update(|l| {
                if let Some(m) = l
                    .as_mut()
                    .and_then(|l| l.machines.iter_mut().find(|m| m.id == machine))
                {
                    m.link = link;
                }
            }),
            LiveEvent::Values {
                machine,
                ts_ms,
                updates,
            } => {
                self.trends.update_value(|trends| {
                    let tags = trends.entry(machine.clone()).or_default();
                    for u in &updates {
                        if let (Some(v), Quality::Good) =
                            (u.value.as_ref().and_then(|v| v.as_f64()), u.quality)
                        {
                            let buf = tags.entry(u.tag.clone()).or_default();
                            if buf.last().is_none_or(|p| p.0 <= ts_ms) {
                                buf.push((ts_ms, v));
                            }
                            trim_points(buf, ts_ms - LIVE_WINDOW_MS, LIVE_MAX_POINTS);
                        }
                    }
                });
                self.trends_dirty.set_value(true);
                self.line.update(|l| {
                    if let Some(m) = l
                        .as_mut()
                        .and_then(|l| l.machines.iter_mut().find(|m| m.id == machine))
                    {
                        m.apply(ts_ms, &updates);
                    }
                });
            }
        }
    }

    /// Signals trend readers if anything changed since the last call.
    pub fn flush_trends(&self) {
        if self.trends_dirty.get_value() {
            self.trends_dirty.set_value(false);
            self.mark_trends();
        }
    }

    fn mark_trends(&self) {
        self.trends_version.update(|v| *v += 1);
    }

    /// Advances the clock from the browser's time.
    pub fn tick(&self, browser_now_ms: i64) {
        self.now_ms
            .set(browser_now_ms + self.clock_offset_ms.get_value());
    }

    /// A copy of one tag's live buffer (tracks `trends_version`).
    pub fn trend(&self, machine: &str, tag: &str) -> Vec<Point> {
        self.trends_version.track();
        self.trends
            .with_value(|t| t.get(machine).and_then(|m| m.get(tag)).cloned())
            .unwrap_or_default()
    }
}

impl Default for Live {
    fn default() -> Self {
        Self::new()
    }
}

/// The store from context (provided by `App`).
pub fn use_live() -> Live {
    expect_context::<Live>()
}

/// Opens the event stream and keeps it open; also runs the UI clocks.
#[cfg(feature = "hydrate")]
pub fn start(live: Live) {
    use futures::StreamExt;
    use gloo_net::eventsource::{State, futures::EventSource};
    use std::time::Duration;

    let browser_now = || js_sys_now();
    set_interval(
        move || live.tick(browser_now()),
        Duration::from_millis(1000),
    );
    set_interval(move || live.flush_trends(), Duration::from_millis(250));

    leptos::task::spawn_local(async move {
        loop {
            live.conn.set(Conn::Connecting);
            if let Ok(mut source) = EventSource::new("/api/v1/live") {
                if let Ok(mut events) = source.subscribe("message") {
                    loop {
                        // The browser retries a dropped stream by itself and reports
                        // nothing while it does: look at its state every second.
                        let tick = gloo_timers::future::TimeoutFuture::new(1_000);
                        match futures::future::select(events.next(), tick).await {
                            futures::future::Either::Left((Some(Ok((_, msg))), _)) => {
                                if live.conn.get_untracked() != Conn::Live {
                                    live.conn.set(Conn::Live);
                                }
                                if let Some(text) = msg.data().as_string() {
                                    match serde_json::from_str::<LiveEvent>(&text) {
                                        Ok(ev) => live.apply(ev, browser_now()),
                                        Err(e) => leptos::logging::warn!("bad live event: {e}"),
                                    }
                                }
                            }
                            futures::future::Either::Left((Some(Err(_)) | None, _)) => {
                                live.conn.set(Conn::Lost);
                                if source.state() == State::Closed {
                                    break;
                                }
                            }
                            futures::future::Either::Right(((), _)) => match source.state() {
                                State::Connecting => {
                                    if live.conn.get_untracked() != Conn::Lost {
                                        live.conn.set(Conn::Lost);
                                    }
                                }
                                State::Closed => break,
                                State::Open => {}
                            },
                        }
                    }
                }
                source.close();
            }
            live.conn.set(Conn::Lost);
            gloo_timers::future::TimeoutFuture::new(2_000).await;
        }
    });
}

#[cfg(feature = "hydrate")]
fn js_sys_now() -> i64 {
    js_sys::Date::now() as i64
}
