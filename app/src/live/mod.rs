//! The live store: the line as last seen, trend buffers, and the connection to the
//! server's event stream. Provided once at the root (the app's on the server, the
//! islands' in the browser); every island of a page reads the same store.
//!
//! Each machine has signals of its own (its view and its trend version), so a scan
//! of one machine wakes only what shows that machine; the list of machines changes
//! only when a snapshot adds, removes, renames or reorders them. Ages and staleness
//! tick from the one shared clock, [`Live::now_ms`].

pub mod event;

pub use event::{LiveEvent, Topic};

use std::collections::HashMap;

use leptos::prelude::*;

use crate::actions::ActionsSummary;
use leptos::reactive::owner::WeakOwner;

use crate::line::{LineView, MachineView, Point, Quality, merge_recent, trim_points};
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

/// One machine in the store.
#[derive(Debug, Clone, PartialEq)]
pub struct MachineSlot {
    /// Machine id.
    pub id: String,
    /// Its name (from the plant: changes only with a snapshot).
    pub name: String,
    /// The machine as last seen.
    pub view: RwSignal<MachineView>,
    /// Bumped (at most a few times a second) when its trend buffers changed.
    pub trend_version: RwSignal<u64>,
}

/// How a snapshot maps onto the machines held: for each machine of the snapshot,
/// in its order, the index of the held machine with the same id, or `None` for a
/// new one. Held machines that no index names are gone.
pub fn match_snapshot(held: &[&str], incoming: &[MachineView]) -> Vec<Option<usize>> {
    incoming
        .iter()
        .map(|m| held.iter().position(|id| *id == m.id))
        .collect()
}

/// The live store (cheap to copy: all fields are arena handles).
#[derive(Clone, Copy)]
pub struct Live {
    /// The plant's name (None until the first view or snapshot arrives).
    pub plant: RwSignal<Option<String>>,
    /// The machines in configuration order, one signal each.
    machines: RwSignal<Vec<MachineSlot>>,
    /// Stream connection state.
    pub conn: RwSignal<Conn>,
    /// Whether the stream has been opened (once a page).
    #[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
    started: StoredValue<bool>,
    /// Full-rate recent values of numeric tags.
    pub trends: StoredValue<Trends>,
    /// Machines whose trends changed since the last flush.
    trends_dirty: StoredValue<Vec<String>>,
    /// Server time now, estimated in the browser (unix ms), ticking every second:
    /// the one clock every age and staleness on screen reads.
    pub now_ms: RwSignal<i64>,
    /// Server clock minus browser clock.
    clock_offset_ms: StoredValue<i64>,
    /// The cell last inspected or scored (quality pages refetch when it changes).
    pub last_cell: RwSignal<Option<CellSummary>>,
    /// The MES link and outbox as last pushed (None until the stream says).
    pub mes: RwSignal<Option<MesStatus>>,
    /// Pending corrective actions and write alarms as last pushed.
    pub actions: RwSignal<Option<ActionsSummary>>,
    /// Alarm counts as last pushed.
    pub alarms: RwSignal<Option<crate::alarm::view::AlarmSummary>>,
    /// Where machine signals are created (the store's owner, also when a snapshot
    /// arrives on the stream's task); weak, so the store does not keep it alive.
    owner: StoredValue<Option<WeakOwner>>,
}

impl Live {
    /// A new, empty store.
    pub fn new() -> Self {
        Self {
            plant: RwSignal::new(None),
            machines: RwSignal::new(Vec::new()),
            conn: RwSignal::new(Conn::Idle),
            started: StoredValue::new(false),
            trends: StoredValue::new(HashMap::new()),
            trends_dirty: StoredValue::new(Vec::new()),
            now_ms: RwSignal::new(0),
            clock_offset_ms: StoredValue::new(0),
            last_cell: RwSignal::new(None),
            mes: RwSignal::new(None),
            actions: RwSignal::new(None),
            alarms: RwSignal::new(None),
            owner: StoredValue::new(Owner::current().map(|o| o.downgrade())),
        }
    }

    /// Whether a line view has been adopted (not tracked).
    pub fn has_line_untracked(&self) -> bool {
        self.plant.with_untracked(Option::is_some)
    }

    /// The machines' ids in configuration order (tracks the list, not the machines).
    pub fn machine_ids(&self) -> Vec<String> {
        self.machines
            .with(|s| s.iter().map(|s| s.id.clone()).collect())
    }

    /// The machines' ids and names in configuration order (tracks the list only).
    pub fn machine_names(&self) -> Vec<(String, String)> {
        self.machines
            .with(|s| s.iter().map(|s| (s.id.clone(), s.name.clone())).collect())
    }

    /// One machine's signal (tracks the list, not the machine).
    pub fn machine(&self, id: &str) -> Option<RwSignal<MachineView>> {
        self.machines
            .with(|s| s.iter().find(|s| s.id == id).map(|s| s.view))
    }

    fn slot_untracked(&self, id: &str) -> Option<MachineSlot> {
        self.machines
            .with_untracked(|s| s.iter().find(|s| s.id == id).cloned())
    }

    fn new_slot(&self, m: MachineView) -> MachineSlot {
        let make = move || MachineSlot {
            id: m.id.clone(),
            name: m.name.clone(),
            view: RwSignal::new(m),
            trend_version: RwSignal::new(0),
        };
        match self.owner.get_value().and_then(|o| o.upgrade()) {
            Some(owner) => owner.with(make),
            None => make(),
        }
    }

    /// Adopts a line view from the server (first render or snapshot): each machine
    /// held keeps its signals and is told only if it changed; new machines get
    /// theirs; machines gone are dropped. The clock follows the view's time.
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
        let held = self.machines.get_untracked();
        let ids: Vec<&str> = held.iter().map(|s| s.id.as_str()).collect();
        let plan = match_snapshot(&ids, &line.machines);
        let slots: Vec<MachineSlot> = line
            .machines
            .into_iter()
            .zip(plan)
            .map(|(m, at)| match at.and_then(|i| held.get(i)) {
                Some(slot) => {
                    let slot = MachineSlot {
                        name: m.name.clone(),
                        ..slot.clone()
                    };
                    if slot.view.with_untracked(|v| *v != m) {
                        slot.view.set(m);
                    }
                    slot
                }
                None => self.new_slot(m),
            })
            .collect();
        for slot in &slots {
            slot.trend_version.update(|v| *v += 1);
        }
        if slots != held {
            self.machines.set(slots);
        }
        if self
            .plant
            .with_untracked(|p| p.as_ref() != Some(&line.plant))
        {
            self.plant.set(Some(line.plant));
        }
    }

    /// Applies one event from the stream.
    pub fn apply(&self, event: LiveEvent, browser_now_ms: i64) {
        match event {
            LiveEvent::Snapshot { line } => self.adopt(line, browser_now_ms),
            LiveEvent::Cell { cell } => self.last_cell.set(Some(cell)),
            LiveEvent::Mes { status } => self.mes.set(Some(status)),
            LiveEvent::Actions { summary } => self.actions.set(Some(summary)),
            LiveEvent::Alarms { summary } => self.alarms.set(Some(summary)),
            LiveEvent::Link { machine, link } => {
                if let Some(slot) = self.slot_untracked(&machine) {
                    slot.view.update(|m| m.link = link);
                }
            }
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
                if let Some(slot) = self.slot_untracked(&machine) {
                    slot.view.update(|m| m.apply(ts_ms, &updates));
                }
                self.trends_dirty.update_value(|dirty| {
                    if !dirty.contains(&machine) {
                        dirty.push(machine);
                    }
                });
            }
        }
    }

    /// Signals the trend readers of each machine whose trends changed since the
    /// last call.
    pub fn flush_trends(&self) {
        let dirty = self
            .trends_dirty
            .try_update_value(std::mem::take)
            .unwrap_or_default();
        for id in dirty {
            if let Some(slot) = self.slot_untracked(&id) {
                slot.trend_version.update(|v| *v += 1);
            }
        }
    }

    /// Advances the clock from the browser's time.
    pub fn tick(&self, browser_now_ms: i64) {
        self.now_ms
            .set(browser_now_ms + self.clock_offset_ms.get_value());
    }

    /// A copy of one tag's live buffer (tracks that machine's trend version).
    pub fn trend(&self, machine: &str, tag: &str) -> Vec<Point> {
        match self
            .machines
            .with(|s| s.iter().find(|s| s.id == machine).map(|s| s.trend_version))
        {
            Some(version) => version.track(),
            None => self.machines.track(),
        }
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

/// False while an island is drawn for the first time (on the server, and in the
/// browser while it hydrates the server's HTML), true from then on. A lazy island
/// hydrates once its part of the bundle has arrived, when the stream may already have
/// brought newer data than the server rendered: whatever it shows from the store and
/// not from its props must wait for this, or the browser's first drawing would not be
/// the server's. Set as an attribute (`data-hydrated`), it also tells a test or a
/// script that the island's controls work.
pub fn use_hydrated() -> ReadSignal<bool> {
    let (hydrated, set) = signal(false);
    Effect::new(move |_| set.set(true));
    hydrated
}

/// Opens the event stream for what the page shows and keeps it open; also runs the
/// UI clocks. Called by the header's status island; once a page, however often.
#[cfg(feature = "hydrate")]
pub fn start(live: Live) {
    use futures::StreamExt;
    use gloo_net::eventsource::{State, futures::EventSource};
    use std::time::Duration;

    if live.started.get_value() {
        return;
    }
    live.started.set_value(true);
    // No router in the browser: a page shows one thing for as long as it is open.
    let topic = Topic::of_path(&crate::nav::current_path());

    let browser_now = || js_sys_now();
    set_interval(
        move || live.tick(browser_now()),
        Duration::from_millis(1000),
    );
    set_interval(move || live.flush_trends(), Duration::from_millis(250));

    leptos::task::spawn_local(async move {
        loop {
            live.conn.set(Conn::Connecting);
            if let Ok(mut source) = EventSource::new(&topic.url()) {
                if let Ok(mut events) = source.subscribe("message") {
                    loop {
                        // The browser retries a dropped stream by itself and reports
                        // nothing while it does: look at its state four times a second.
                        let tick = gloo_timers::future::TimeoutFuture::new(250);
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::line::{Link, LinkState, TagUpdate, TagView, Value};

    fn machine(id: &str, name: &str) -> MachineView {
        MachineView {
            id: id.into(),
            name: name.into(),
            state_tag: None,
            link: Link::new(LinkState::Online, 0, None),
            tags: vec![TagView {
                name: "speed".into(),
                label: "Speed".into(),
                unit: "RPM".into(),
                key: true,
                numeric: true,
                writable: false,
                stale_after_ms: 5_000,
                value: Some(Value::Number(1000.0)),
                quality: Quality::Good,
                ts_ms: 1_000,
                recent: Vec::new(),
            }],
        }
    }

    fn line(machines: Vec<MachineView>) -> LineView {
        LineView {
            plant: "Plant".into(),
            now_ms: 2_000,
            machines,
        }
    }

    fn speed(machine: &str, ts_ms: i64, v: f64) -> LiveEvent {
        LiveEvent::Values {
            machine: machine.into(),
            ts_ms,
            updates: vec![TagUpdate {
                tag: "speed".into(),
                value: Some(Value::Number(v)),
                quality: Quality::Good,
            }],
        }
    }

    /// A memo over `f` that counts how often it ran.
    fn counted<T: Clone + PartialEq + Send + Sync + 'static>(
        f: impl Fn() -> T + Send + Sync + 'static,
    ) -> (Memo<T>, Arc<AtomicUsize>) {
        let runs = Arc::new(AtomicUsize::new(0));
        let r = Arc::clone(&runs);
        let memo = Memo::new(move |_| {
            r.fetch_add(1, Ordering::SeqCst);
            f()
        });
        memo.get_untracked();
        (memo, runs)
    }

    #[test]
    fn a_snapshot_keeps_known_machines_adds_new_ones_and_drops_the_rest() {
        let incoming = [machine("B", "b"), machine("C", "c"), machine("A", "a")];
        assert_eq!(
            match_snapshot(&["A", "B", "D"], &incoming),
            vec![Some(1), None, Some(0)]
        );
        assert_eq!(match_snapshot(&[], &incoming), vec![None, None, None]);
        assert!(match_snapshot(&["A"], &[]).is_empty());
    }

    #[test]
    fn values_of_one_machine_wake_only_that_machine() {
        let owner = Owner::new();
        owner.set();
        let live = Live::new();
        live.adopt(line(vec![machine("A", "a"), machine("B", "b")]), 2_000);
        let (a, b) = (
            live.machine("A").expect("A is held"),
            live.machine("B").expect("B is held"),
        );
        let (card_a, runs_a) = counted(move || a.with(MachineView::last_update_ms));
        let (card_b, runs_b) = counted(move || b.with(MachineView::last_update_ms));
        let (ids, runs_ids) = counted(move || live.machine_ids());
        let (trend_b, runs_trend_b) = counted(move || live.trend("B", "speed"));

        live.apply(speed("A", 3_000, 990.0), 3_000);
        live.flush_trends();
        assert_eq!(card_a.get_untracked(), 3_000);
        assert_eq!(card_b.get_untracked(), 1_000);
        assert_eq!(ids.get_untracked(), ["A", "B"]);
        trend_b.get_untracked();
        assert_eq!(
            runs_a.load(Ordering::SeqCst),
            2,
            "A's card follows its scan"
        );
        assert_eq!(runs_b.load(Ordering::SeqCst), 1, "B's card is not woken");
        assert_eq!(runs_ids.load(Ordering::SeqCst), 1, "the list is not woken");
        assert_eq!(
            runs_trend_b.load(Ordering::SeqCst),
            1,
            "B's trend is not woken"
        );
        assert_eq!(live.trend("A", "speed"), vec![(3_000, 990.0)]);

        // A link event is one machine's too.
        live.apply(
            LiveEvent::Link {
                machine: "B".into(),
                link: Link::new(LinkState::CommLost, 4_000, Some("timeout".into())),
            },
            4_000,
        );
        assert_eq!(b.with_untracked(|m| m.link.state), LinkState::CommLost);
        assert_eq!(a.with_untracked(|m| m.link.state), LinkState::Online);
        card_a.get_untracked();
        assert_eq!(runs_a.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn a_snapshot_replaces_changed_machines_adds_and_removes() {
        let owner = Owner::new();
        owner.set();
        let live = Live::new();
        assert!(!live.has_line_untracked());
        live.adopt(line(vec![machine("A", "a"), machine("B", "b")]), 2_000);
        assert!(live.has_line_untracked());
        assert_eq!(live.plant.get_untracked().as_deref(), Some("Plant"));
        let a = live.machine("A").expect("A is held");
        let b = live.machine("B").expect("B is held");
        let (card_a, runs_a) = counted(move || a.get());
        let (ids, runs_ids) = counted(move || live.machine_ids());

        // The same line again: nothing is told.
        live.adopt(line(vec![machine("A", "a"), machine("B", "b")]), 2_000);
        card_a.get_untracked();
        ids.get_untracked();
        assert_eq!(runs_a.load(Ordering::SeqCst), 1);
        assert_eq!(runs_ids.load(Ordering::SeqCst), 1);

        // B gone, C new, A changed: A keeps its signal with the new view.
        let mut changed = machine("A", "a");
        changed.tags[0].value = Some(Value::Number(1.0));
        live.adopt(line(vec![machine("C", "c"), changed.clone()]), 2_000);
        assert_eq!(live.machine_ids(), ["C", "A"]);
        assert_eq!(live.machine("A"), Some(a));
        assert_eq!(card_a.get_untracked(), changed);
        assert_eq!(live.machine("B"), None);
        assert_eq!(
            live.machine("C").map(|c| c.get_untracked().name).as_deref(),
            Some("c")
        );
        assert_eq!(
            live.machine_names(),
            [
                ("C".to_owned(), "c".to_owned()),
                ("A".to_owned(), "a".to_owned())
            ]
        );
        assert_ne!(live.machine("C"), Some(b));
        assert_eq!(ids.get_untracked(), ["C", "A"]);
        // Values for a machine no longer held change nothing held.
        live.apply(speed("B", 9_000, 5.0), 9_000);
        assert_eq!(card_a.get_untracked(), changed);
    }
}
