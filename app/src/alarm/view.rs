//! What the pages and the REST API show of alarms: one alarm, one journal line, the
//! journal's filter and page, the counts the live stream pushes, the shift board.

use serde::{Deserialize, Serialize};

use super::metrics::Load;
use super::{Limit, Priority, Source, State};

/// One alarm as the board and the journal show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct AlarmView {
    /// Row id.
    pub id: i64,
    /// Where it comes from.
    pub source: Source,
    /// Stable key of its condition, e.g. `limit:FM_01/temperature/hi`.
    pub key: String,
    /// The machine it concerns, if any.
    pub machine: Option<String>,
    /// What it is, e.g. "FM_01 · Temperature HiHi".
    pub label: String,
    /// The limit, for a tag-limit alarm.
    pub limit: Option<Limit>,
    /// Priority.
    pub priority: Priority,
    /// ISA-18.2 state now.
    pub state: State,
    /// What to do.
    pub message: String,
    /// The value at its last change (a tag's value, a share, a count).
    pub value: Option<f64>,
    /// Unit of `value`.
    pub unit: String,
    /// When it was last raised (Unix ms).
    pub raised_ms: Option<i64>,
    /// When its state last changed.
    pub changed_ms: i64,
    /// Who acknowledged it last, and when, with their comment.
    pub acked_by: Option<String>,
    /// See `acked_by`.
    pub acked_ms: Option<i64>,
    /// See `acked_by`.
    pub comment: Option<String>,
    /// Shelved until (Unix ms), with the reason.
    pub shelved_until_ms: Option<i64>,
    /// See `shelved_until_ms`.
    pub shelve_reason: Option<String>,
    /// Why it is out of service.
    pub out_of_service_reason: Option<String>,
}

/// One line of the alarm journal: a transition of one alarm.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct AlarmEventView {
    /// Sequence number.
    pub id: i64,
    /// The alarm.
    pub alarm_id: i64,
    /// When (Unix ms).
    pub ts_ms: i64,
    /// What happened (`raised`, `cleared`, `acknowledged`, `shelved`, …).
    pub kind: String,
    /// The alarm's label.
    pub label: String,
    /// The alarm's source.
    pub source: Source,
    /// Its priority when it happened.
    pub priority: Priority,
    /// Its machine.
    pub machine: Option<String>,
    /// Who (a person), absent for the system.
    pub user: Option<String>,
    /// The value then.
    pub value: Option<f64>,
    /// A comment or reason.
    pub comment: Option<String>,
}

/// What the journal shows: every field optional, all in the page's URL.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct JournalFilter {
    /// Only this source.
    pub source: Option<Source>,
    /// Only this priority.
    pub priority: Option<Priority>,
    /// Only this machine.
    pub machine: Option<String>,
    /// Only this kind of transition.
    pub kind: Option<String>,
    /// At or after (Unix ms).
    pub from_ms: Option<i64>,
    /// Before (Unix ms).
    pub to_ms: Option<i64>,
    /// Lines older than this id (the next page).
    pub before: Option<i64>,
}

impl JournalFilter {
    /// The filter as a query string (without `?`), for links and the CSV export.
    pub fn to_query(&self) -> String {
        let mut q: Vec<String> = Vec::new();
        let mut put = |k: &str, v: &str| {
            q.push(format!("{k}={}", crate::fmt::encode_query_value(v)));
        };
        if let Some(s) = self.source {
            put("source", s.as_str());
        }
        if let Some(p) = self.priority {
            put("priority", p.as_str());
        }
        if let Some(m) = &self.machine {
            put("machine", m);
        }
        if let Some(k) = &self.kind {
            put("kind", k);
        }
        if let Some(f) = self.from_ms {
            put("from_ms", &f.to_string());
        }
        if let Some(t) = self.to_ms {
            put("to_ms", &t.to_string());
        }
        if let Some(b) = self.before {
            put("before", &b.to_string());
        }
        q.join("&")
    }
}

/// One page of the journal, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JournalPage {
    /// The lines.
    pub events: Vec<AlarmEventView>,
    /// The `before` of the next page, when there is one.
    pub next_before: Option<i64>,
}

/// Standing alarms by priority.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ByPriority {
    /// Urgent.
    pub urgent: u32,
    /// High.
    pub high: u32,
    /// Medium.
    pub medium: u32,
    /// Low.
    pub low: u32,
}

impl ByPriority {
    /// Counts one alarm of priority `p`.
    pub fn add(&mut self, p: Priority) {
        match p {
            Priority::Urgent => self.urgent += 1,
            Priority::High => self.high += 1,
            Priority::Medium => self.medium += 1,
            Priority::Low => self.low += 1,
        }
    }
    /// The count of priority `p`.
    pub fn get(&self, p: Priority) -> u32 {
        match p {
            Priority::Urgent => self.urgent,
            Priority::High => self.high,
            Priority::Medium => self.medium,
            Priority::Low => self.low,
        }
    }
}

/// The alarm counts the live stream pushes on every change.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlarmSummary {
    /// Standing alarms (active or unacknowledged, not shelved or out of service).
    pub standing: u32,
    /// Of those, unacknowledged.
    pub unacked: u32,
    /// Standing by priority.
    pub by_priority: ByPriority,
    /// Shelved now.
    pub shelved: u32,
    /// Out of service.
    pub out_of_service: u32,
    /// Grows on every change (a page refetches its list when it moves).
    pub version: u64,
}

/// ISA-18.2's performance figures over a window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlarmRates {
    /// Alarms raised per hour over the window.
    pub per_hour: f64,
    /// Mean alarms per 10 minutes over the window.
    pub per_ten_minutes: f64,
    /// The busiest 10 minutes of the window.
    pub peak_ten_minutes: u32,
    /// How the mean compares with ISA-18.2's targets.
    pub load: Load,
    /// The window (hours).
    pub window_hours: u32,
}

/// The alarms the board and `/alarms` show.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlarmBoard {
    /// Standing alarms, most urgent and newest first.
    pub standing: Vec<AlarmView>,
    /// Shelved and out-of-service alarms.
    pub suppressed: Vec<AlarmView>,
    /// The counts.
    pub summary: AlarmSummary,
    /// Alarm rates over the last 24 hours.
    pub rates: AlarmRates,
    /// The longest shelf a supervisor may ask for (hours).
    pub max_shelve_hours: f64,
}
