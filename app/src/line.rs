//! The line's views, shared by the browser and the server: tag values and their
//! quality, PLC links, machine and line views, history ranges and trend buffers.
//!
//! Pure and wasm-safe: no tokio, no database. Everything here is serialised between
//! server functions, the live stream and the UI.

use serde::{Deserialize, Serialize};

/// How far a value can be trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Quality {
    /// Read successfully in the last scan.
    Good,
    /// Not refreshed for longer than the tag's stale limit.
    Stale,
    /// The device answered, but not with a usable value (exception, bad decode).
    Bad,
    /// The connection to the device is down.
    CommLost,
}

impl Quality {
    /// Word shown in the UI.
    pub fn label(self) -> &'static str {
        match self {
            Quality::Good => "good",
            Quality::Stale => "stale",
            Quality::Bad => "bad",
            Quality::CommLost => "comm lost",
        }
    }
    /// Stable code used for storage.
    pub fn code(self) -> u8 {
        match self {
            Quality::Good => 0,
            Quality::Stale => 1,
            Quality::Bad => 2,
            Quality::CommLost => 3,
        }
    }
    /// Inverse of [`Quality::code`]; unknown codes read as bad.
    pub fn from_code(code: i64) -> Self {
        match code {
            0 => Quality::Good,
            1 => Quality::Stale,
            3 => Quality::CommLost,
            _ => Quality::Bad,
        }
    }
    /// The quality a reader sees `age_ms` after the value was taken.
    pub fn at_age(self, age_ms: i64, stale_after_ms: i64) -> Self {
        if self == Quality::Good && age_ms > stale_after_ms {
            Quality::Stale
        } else {
            self
        }
    }
}

/// A tag's engineering value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Value {
    /// Any number, after scale and offset.
    Number(f64),
    /// A bit.
    Bool(bool),
    /// Text, or a machine state name.
    Text(String),
}

impl Value {
    /// The value as a number, if it is one (bits count as 0/1).
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Number(n) => Some(*n),
            Value::Bool(b) => Some(f64::from(u8::from(*b))),
            Value::Text(_) => None,
        }
    }
    /// Display text with a sensible number of decimals.
    pub fn display(&self) -> String {
        match self {
            Value::Number(n) => crate::fmt::format_number(*n),
            Value::Bool(b) => if *b { "on" } else { "off" }.to_owned(),
            Value::Text(t) => t.clone(),
        }
    }
}

/// State of the connection to one PLC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub enum LinkState {
    /// Not yet connected since start.
    Connecting,
    /// Connected and reading.
    Online,
    /// Connection lost; acquisition is reconnecting with back-off.
    CommLost,
}

/// Connection state with its details.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Link {
    /// The state.
    pub state: LinkState,
    /// Since when (unix ms).
    pub since_ms: i64,
    /// Last error, when comm is lost, in words a person can act on.
    pub error: Option<String>,
    /// Tags the PLC refuses to read, each with why ("exception 02 illegal data
    /// address at 40101"); the rest of the device reads on.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub refused: Vec<TagProblem>,
    /// Each scan group's achieved rate (refreshed every few seconds while online).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scans: Vec<ScanRate>,
}

impl Link {
    /// A link in `state` since `since_ms`, with no details yet.
    pub fn new(state: LinkState, since_ms: i64, error: Option<String>) -> Self {
        Self {
            state,
            since_ms,
            error,
            refused: Vec::new(),
            scans: Vec::new(),
        }
    }
}

/// A tag the PLC refuses, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TagProblem {
    /// Tag name.
    pub tag: String,
    /// Why, e.g. "exception 02 illegal data address at 40101".
    pub reason: String,
}

/// How a scan group keeps up with its period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScanRate {
    /// Group name.
    pub group: String,
    /// Scans per second it is configured for.
    pub target_per_s: f64,
    /// Scans per second achieved over the last interval.
    pub achieved_per_s: f64,
    /// Scans in that interval that ended after the next one was due.
    pub late: u64,
}

/// How a machine state is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum StateClass {
    /// Execute: producing.
    Running,
    /// Idle, Stopped, Complete: not producing, not a fault.
    Stopped,
    /// Held or Suspended: waiting on something.
    Held,
    /// Aborting or Aborted: a fault.
    Fault,
    /// Any transient state (Starting, Resetting, Clearing …).
    Transition,
    /// No state known.
    Unknown,
}

impl StateClass {
    /// Classifies a PackML state name.
    pub fn of(state: Option<&str>) -> Self {
        match state {
            Some("Execute") => StateClass::Running,
            Some("Idle" | "Stopped" | "Complete") => StateClass::Stopped,
            Some("Held" | "Suspended") => StateClass::Held,
            Some("Aborted" | "Aborting") => StateClass::Fault,
            Some(
                "Clearing" | "Starting" | "Stopping" | "Holding" | "Unholding" | "Suspending"
                | "Unsuspending" | "Resetting" | "Completing",
            ) => StateClass::Transition,
            _ => StateClass::Unknown,
        }
    }
    /// CSS class suffix.
    pub fn css(self) -> &'static str {
        match self {
            StateClass::Running => "running",
            StateClass::Stopped => "stopped",
            StateClass::Held => "held",
            StateClass::Fault => "fault",
            StateClass::Transition => "transition",
            StateClass::Unknown => "unknown",
        }
    }
}

/// One tag as the UI shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TagView {
    /// Tag name (unique in the machine).
    pub name: String,
    /// Label.
    pub label: String,
    /// Unit.
    pub unit: String,
    /// Shown on the overview card.
    pub key: bool,
    /// Numbers get charts.
    pub numeric: bool,
    /// A setpoint CellGuard may write.
    pub writable: bool,
    /// Age beyond which a good value counts as stale.
    pub stale_after_ms: i64,
    /// Last value, if any.
    pub value: Option<Value>,
    /// Its quality when read.
    pub quality: Quality,
    /// When it was read (unix ms), 0 if never.
    pub ts_ms: i64,
    /// Recent history (key numeric tags only), oldest first, to seed sparklines.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recent: Vec<Point>,
}

/// One machine as the UI shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MachineView {
    /// Machine id, e.g. `CAS_01`.
    pub id: String,
    /// Name, e.g. "Cell Assembly Station".
    pub name: String,
    /// Name of the state tag, if any.
    pub state_tag: Option<String>,
    /// Connection to its PLC.
    pub link: Link,
    /// Its tags.
    pub tags: Vec<TagView>,
}

impl MachineView {
    /// Current PackML state name, if known and fresh enough to trust.
    pub fn state(&self) -> Option<&str> {
        let tag = self.state_tag.as_deref()?;
        let t = self.tags.iter().find(|t| t.name == tag)?;
        match (&t.value, t.quality) {
            (Some(Value::Text(s)), Quality::Good | Quality::Stale) => Some(s.as_str()),
            _ => None,
        }
    }
    /// Applies one live update.
    pub fn apply(&mut self, ts_ms: i64, updates: &[TagUpdate]) {
        for u in updates {
            if let Some(t) = self.tags.iter_mut().find(|t| t.name == u.tag) {
                if ts_ms < t.ts_ms {
                    // Older than what is shown (a late event after a snapshot).
                    continue;
                }
                // A failed read keeps the last known value, with the bad quality.
                if u.value.is_some() {
                    t.value.clone_from(&u.value);
                }
                t.quality = u.quality;
                t.ts_ms = ts_ms;
            }
        }
    }
    /// Newest update of any tag.
    pub fn last_update_ms(&self) -> i64 {
        self.tags.iter().map(|t| t.ts_ms).max().unwrap_or(0)
    }
}

/// The whole line at one moment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LineView {
    /// Plant name.
    pub plant: String,
    /// Server time when taken (unix ms).
    pub now_ms: i64,
    /// Machines in configuration order.
    pub machines: Vec<MachineView>,
}

/// A changed tag value in a live event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TagUpdate {
    /// Tag name.
    pub tag: String,
    /// New value (absent when the read failed).
    pub value: Option<Value>,
    /// Quality of the read.
    pub quality: Quality,
}

/// A time window of history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum HistoryRange {
    /// The last two minutes, then live.
    Live,
    /// Fifteen minutes.
    M15,
    /// One hour.
    H1,
    /// Eight hours (a shift).
    H8,
    /// A day.
    H24,
    /// A week.
    D7,
    /// Thirty days.
    D30,
    /// A year.
    Y1,
}

impl HistoryRange {
    /// All ranges in display order.
    pub const ALL: [HistoryRange; 8] = [
        HistoryRange::Live,
        HistoryRange::M15,
        HistoryRange::H1,
        HistoryRange::H8,
        HistoryRange::H24,
        HistoryRange::D7,
        HistoryRange::D30,
        HistoryRange::Y1,
    ];
    /// Window length.
    pub fn window_ms(self) -> i64 {
        match self {
            HistoryRange::Live => 2 * 60_000,
            HistoryRange::M15 => 15 * 60_000,
            HistoryRange::H1 => 3_600_000,
            HistoryRange::H8 => 8 * 3_600_000,
            HistoryRange::H24 => 24 * 3_600_000,
            HistoryRange::D7 => 7 * 86_400_000,
            HistoryRange::D30 => 30 * 86_400_000,
            HistoryRange::Y1 => 365 * 86_400_000,
        }
    }
    /// Button label.
    pub fn label(self) -> &'static str {
        match self {
            HistoryRange::Live => "Live",
            HistoryRange::M15 => "15 min",
            HistoryRange::H1 => "1 h",
            HistoryRange::H8 => "8 h",
            HistoryRange::H24 => "24 h",
            HistoryRange::D7 => "7 d",
            HistoryRange::D30 => "30 d",
            HistoryRange::Y1 => "1 y",
        }
    }
    /// URL query value.
    pub fn slug(self) -> &'static str {
        match self {
            HistoryRange::Live => "live",
            HistoryRange::M15 => "15m",
            HistoryRange::H1 => "1h",
            HistoryRange::H8 => "8h",
            HistoryRange::H24 => "24h",
            HistoryRange::D7 => "7d",
            HistoryRange::D30 => "30d",
            HistoryRange::Y1 => "1y",
        }
    }
    /// How often a page showing the range fetches its history again, in seconds;
    /// `None` for `Live`, which the live buffer keeps current. A range of a week or
    /// more is drawn from hour buckets, which change no faster than every few minutes.
    pub fn refresh_secs(self) -> Option<u32> {
        match self {
            HistoryRange::Live => None,
            r if r.window_ms() >= HistoryRange::D7.window_ms() => Some(300),
            _ => Some(30),
        }
    }
    /// Parses [`HistoryRange::slug`]; anything else is `Live`.
    pub fn from_slug(s: &str) -> Self {
        Self::ALL
            .into_iter()
            .find(|r| r.slug() == s)
            .unwrap_or(HistoryRange::Live)
    }
}

/// A point of a trend: time (unix ms) and value.
pub type Point = (i64, f64);

/// The spread behind a trend point: time (unix ms), lowest and highest value in the
/// point's bucket, so a spike between two points still shows.
pub type Band = (i64, f64, f64);

/// One tag's history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Series {
    /// Tag name.
    pub tag: String,
    /// Label.
    pub label: String,
    /// Unit.
    pub unit: String,
    /// Points in time order: each bucket's mean, at its last sample's time.
    pub points: Vec<Point>,
    /// The bucket's lowest and highest value at the same times as `points`.
    #[serde(default)]
    pub band: Vec<Band>,
}

/// Keeps only points newer than `from_ms` and at most `max` of them, dropping the oldest.
pub fn trim_points(points: &mut Vec<Point>, from_ms: i64, max: usize) {
    let first_kept = points
        .iter()
        .position(|p| p.0 >= from_ms)
        .unwrap_or(points.len());
    let first_kept = first_kept.max(points.len().saturating_sub(max));
    if first_kept > 0 {
        points.drain(..first_kept);
    }
}

/// Adds `p` to a trend in time order; with `spacing_ms` > 0 a point in the same
/// time bucket as the last one replaces it, so a trend keeps one point per bucket.
pub fn push_point(points: &mut Vec<Point>, p: Point, spacing_ms: i64) {
    match points.last_mut() {
        Some(last) if p.0 < last.0 => {}
        Some(last)
            if spacing_ms > 0 && p.0.div_euclid(spacing_ms) == last.0.div_euclid(spacing_ms) =>
        {
            *last = p
        }
        _ => points.push(p),
    }
}

/// A trend over `[from_ms, ..]`: stored history up to where the live buffer starts,
/// then the live points, one per `spacing_ms` bucket.
pub fn merge_trend(history: &[Point], live: &[Point], from_ms: i64, spacing_ms: i64) -> Vec<Point> {
    let live_start = live.first().map_or(i64::MAX, |p| p.0);
    let mut out: Vec<Point> = history
        .iter()
        .copied()
        .filter(|p| p.0 >= from_ms && p.0 < live_start)
        .collect();
    for &p in live.iter().filter(|p| p.0 >= from_ms) {
        push_point(&mut out, p, spacing_ms);
    }
    out
}

/// The stored band that goes with [`merge_trend`]'s points: the entries in
/// `[from_ms, ..]` older than where the live buffer starts (live points have no band).
pub fn merge_band(band: &[Band], live: &[Point], from_ms: i64) -> Vec<Band> {
    let live_start = live.first().map_or(i64::MAX, |p| p.0);
    band.iter()
        .copied()
        .filter(|b| b.0 >= from_ms && b.0 < live_start)
        .collect()
}

/// Live points plus the stored `recent` points that fall where the live buffer has
/// none within `tolerance_ms` (before it, or in a gap such as a stream outage).
pub fn merge_recent(live: &[Point], recent: &[Point], tolerance_ms: i64) -> Vec<Point> {
    let mut out = Vec::with_capacity(live.len() + recent.len());
    let mut li = 0;
    for &r in recent {
        while li < live.len() && live[li].0 < r.0 {
            out.push(live[li]);
            li += 1;
        }
        let near_prev = li > 0 && r.0 - live[li - 1].0 <= tolerance_ms;
        let near_next = li < live.len() && live[li].0 - r.0 <= tolerance_ms;
        if !near_prev && !near_next {
            out.push(r);
        }
    }
    out.extend_from_slice(&live[li..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_good_value_turns_stale_after_its_limit() {
        assert_eq!(Quality::Good.at_age(299, 300), Quality::Good);
        assert_eq!(Quality::Good.at_age(301, 300), Quality::Stale);
        assert_eq!(Quality::CommLost.at_age(10_000, 300), Quality::CommLost);
    }

    #[test]
    fn quality_codes_round_trip() {
        for q in [
            Quality::Good,
            Quality::Stale,
            Quality::Bad,
            Quality::CommLost,
        ] {
            assert_eq!(Quality::from_code(i64::from(q.code())), q);
        }
        assert_eq!(Quality::from_code(99), Quality::Bad);
    }

    #[test]
    fn packml_states_map_to_display_classes() {
        assert_eq!(StateClass::of(Some("Execute")), StateClass::Running);
        assert_eq!(StateClass::of(Some("Aborted")), StateClass::Fault);
        assert_eq!(StateClass::of(Some("Held")), StateClass::Held);
        assert_eq!(StateClass::of(Some("Resetting")), StateClass::Transition);
        assert_eq!(StateClass::of(Some("Stopped")), StateClass::Stopped);
        assert_eq!(StateClass::of(None), StateClass::Unknown);
    }

    #[test]
    fn a_failed_read_keeps_the_last_value_with_its_quality() {
        let mut m = MachineView {
            id: "M".into(),
            name: "M".into(),
            state_tag: Some("state".into()),
            link: Link::new(LinkState::Online, 0, None),
            tags: vec![TagView {
                name: "state".into(),
                label: "State".into(),
                unit: String::new(),
                key: false,
                numeric: false,
                writable: false,
                stale_after_ms: 1000,
                value: None,
                quality: Quality::Good,
                ts_ms: 0,
                recent: Vec::new(),
            }],
        };
        m.apply(
            5,
            &[TagUpdate {
                tag: "state".into(),
                value: Some(Value::Text("Execute".into())),
                quality: Quality::Good,
            }],
        );
        assert_eq!(m.state(), Some("Execute"));
        m.apply(
            9,
            &[TagUpdate {
                tag: "state".into(),
                value: None,
                quality: Quality::CommLost,
            }],
        );
        assert_eq!(m.tags[0].value, Some(Value::Text("Execute".into())));
        assert_eq!(m.tags[0].quality, Quality::CommLost);
        assert_eq!(
            m.state(),
            None,
            "a state behind a lost link is not shown as current"
        );
        assert_eq!(m.last_update_ms(), 9);
    }

    #[test]
    fn trimming_keeps_the_newest_points_in_the_window() {
        let mut p: Vec<Point> = (0..10).map(|i| (i, i as f64)).collect();
        trim_points(&mut p, 3, 100);
        assert_eq!(p.first(), Some(&(3, 3.0)));
        trim_points(&mut p, 0, 2);
        assert_eq!(p, vec![(8, 8.0), (9, 9.0)]);
    }

    #[test]
    fn a_point_in_the_same_bucket_replaces_the_last() {
        let mut p = Vec::new();
        push_point(&mut p, (1000, 1.0), 1000);
        push_point(&mut p, (1500, 2.0), 1000);
        push_point(&mut p, (2100, 3.0), 1000);
        push_point(&mut p, (50, 9.0), 1000);
        assert_eq!(p, vec![(1500, 2.0), (2100, 3.0)]);
        let mut q = Vec::new();
        push_point(&mut q, (1, 1.0), 0);
        push_point(&mut q, (1, 2.0), 0);
        assert_eq!(q.len(), 2);
    }

    #[test]
    fn a_trend_joins_history_and_live_points_without_overlap() {
        let history = vec![(0, 0.0), (1000, 1.0), (2000, 2.0), (3000, 3.0)];
        let live = vec![(2500, 2.5), (2600, 2.6), (3600, 3.6)];
        let t = merge_trend(&history, &live, 500, 1000);
        // (2000, 2.0) shares its bucket with the live points at 2500 and 2600: the newest wins.
        assert_eq!(t, vec![(1000, 1.0), (2600, 2.6), (3600, 3.6)]);
        assert_eq!(merge_trend(&history, &[], 0, 0).len(), 4);
    }

    #[test]
    fn the_band_is_the_stored_part_of_a_trend_only() {
        let band = vec![
            (0, -1.0, 1.0),
            (1000, 0.0, 2.0),
            (2000, 1.0, 3.0),
            (3000, 2.0, 4.0),
        ];
        let live = vec![(2500, 2.5), (2600, 2.6), (3600, 3.6)];
        assert_eq!(
            merge_band(&band, &live, 500),
            vec![(1000, 0.0, 2.0), (2000, 1.0, 3.0)]
        );
        assert_eq!(merge_band(&band, &[], 0), band);
        assert_eq!(merge_band(&band, &[(0, 0.0)], 0), vec![]);
        assert_eq!(merge_band(&[], &live, 0), vec![]);
    }

    #[test]
    fn long_ranges_are_fetched_again_less_often() {
        assert_eq!(HistoryRange::Live.refresh_secs(), None);
        for r in [
            HistoryRange::M15,
            HistoryRange::H1,
            HistoryRange::H8,
            HistoryRange::H24,
        ] {
            assert_eq!(r.refresh_secs(), Some(30), "{r:?}");
        }
        for r in [HistoryRange::D7, HistoryRange::D30, HistoryRange::Y1] {
            assert_eq!(r.refresh_secs(), Some(300), "{r:?}");
        }
    }

    #[test]
    fn recent_history_fills_a_gap_in_the_live_buffer() {
        let live = vec![(0, 0.0), (100, 0.1), (10_000, 10.0), (10_100, 10.1)];
        let recent = vec![
            (-2000, -2.0),
            (0, 0.0),
            (4000, 4.0),
            (7000, 7.0),
            (10_000, 10.0),
            (20_000, 20.0),
        ];
        let m = merge_recent(&live, &recent, 1000);
        assert_eq!(
            m,
            vec![
                (-2000, -2.0),
                (0, 0.0),
                (100, 0.1),
                (4000, 4.0),
                (7000, 7.0),
                (10_000, 10.0),
                (10_100, 10.1),
                (20_000, 20.0)
            ]
        );
        assert!(m.windows(2).all(|w| w[0].0 <= w[1].0));
        assert_eq!(merge_recent(&[], &recent, 1000), recent);
        assert_eq!(merge_recent(&live, &[], 1000), live);
    }

    #[test]
    fn an_update_older_than_the_shown_value_is_ignored() {
        let mut m = MachineView {
            id: "M".into(),
            name: "M".into(),
            state_tag: None,
            link: Link::new(LinkState::Online, 0, None),
            tags: vec![TagView {
                name: "t".into(),
                label: "T".into(),
                unit: String::new(),
                key: true,
                numeric: true,
                writable: false,
                stale_after_ms: 1000,
                value: Some(Value::Number(2.0)),
                quality: Quality::Good,
                ts_ms: 200,
                recent: Vec::new(),
            }],
        };
        m.apply(
            100,
            &[TagUpdate {
                tag: "t".into(),
                value: Some(Value::Number(1.0)),
                quality: Quality::Good,
            }],
        );
        assert_eq!(m.tags[0].value, Some(Value::Number(2.0)));
        m.apply(
            300,
            &[TagUpdate {
                tag: "t".into(),
                value: Some(Value::Number(3.0)),
                quality: Quality::Good,
            }],
        );
        assert_eq!(m.tags[0].value, Some(Value::Number(3.0)));
    }

    #[test]
    fn ranges_parse_from_their_slugs() {
        for r in HistoryRange::ALL {
            assert_eq!(HistoryRange::from_slug(r.slug()), r);
        }
        assert_eq!(HistoryRange::from_slug("junk"), HistoryRange::Live);
    }
}
