//! What the live stream sends: one event type for the server's stream and the
//! browser's store. Pure and wasm-safe.

use serde::{Deserialize, Serialize};

use crate::actions::ActionsSummary;
use crate::alarm::view::AlarmSummary;
use crate::line::{LineView, Link, TagUpdate};
use crate::mes::MesStatus;
use crate::quality::CellSummary;

/// What the live stream sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LiveEvent {
    /// New values from one scan.
    Values {
        /// Machine id.
        machine: String,
        /// When read (unix ms).
        ts_ms: i64,
        /// Values read.
        updates: Vec<TagUpdate>,
    },
    /// A PLC connection changed state.
    Link {
        /// Machine id.
        machine: String,
        /// New state.
        link: Link,
    },
    /// The whole line: sent first on every (re)connection and whenever the
    /// client fell behind, so a client never needs to reload.
    Snapshot {
        /// The line.
        line: LineView,
    },
    /// A cell got an inspection or a new score.
    Cell {
        /// The cell as the tables show it.
        cell: CellSummary,
    },
    /// The MES link or the outbox changed (sent after every snapshot too).
    Mes {
        /// The link and the outbox.
        status: MesStatus,
    },
    /// Corrective actions changed: one proposed, decided or written (sent after
    /// every snapshot too).
    Actions {
        /// Pending and alarm counts.
        summary: ActionsSummary,
    },
    /// An alarm changed state (sent after every snapshot too).
    Alarms {
        /// Standing, unacknowledged, shelved counts.
        summary: AlarmSummary,
    },
}

/// What a page wants from the live stream: the stream sends a page's machines and
/// tags only, so a tablet on the overview does not receive every scan of every tag.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Topic {
    /// Every machine's key tags and state (the overview).
    #[default]
    Overview,
    /// One machine, every tag (its page).
    Machine(String),
    /// No values: links, cells, the MES and actions only (the other pages).
    Events,
}

impl Topic {
    /// The stream's URL for this topic.
    pub fn url(&self) -> String {
        match self {
            Topic::Overview => "/api/v1/live?view=overview".into(),
            Topic::Machine(id) => format!(
                "/api/v1/live?view=machine&machine={}",
                crate::fmt::encode_query_value(id)
            ),
            Topic::Events => "/api/v1/live?view=events".into(),
        }
    }

    /// What the page at `path` shows.
    pub fn of_path(path: &str) -> Self {
        match path.trim_end_matches('/') {
            "" => Topic::Overview,
            p => match p.strip_prefix("/machines/") {
                Some(id) if !id.is_empty() && !id.contains('/') => Topic::Machine(id.to_owned()),
                _ => Topic::Events,
            },
        }
    }

    /// The topic of the `view` and `machine` query parameters, or the parameter at
    /// fault.
    pub fn parse(view: Option<&str>, machine: Option<&str>) -> Result<Self, &'static str> {
        match (view.unwrap_or("overview"), machine) {
            ("overview", None) => Ok(Topic::Overview),
            ("events", None) => Ok(Topic::Events),
            ("machine", Some(m)) if !m.is_empty() => Ok(Topic::Machine(m.to_owned())),
            ("machine", _) => Err("machine"),
            ("overview" | "events", Some(_)) => Err("machine"),
            _ => Err("view"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::line::LinkState;

    #[test]
    fn topics_round_trip_through_their_urls() {
        assert_eq!(
            Topic::Machine("CAS 01".into()).url(),
            "/api/v1/live?view=machine&machine=CAS%2001"
        );
        assert_eq!(Topic::parse(None, None), Ok(Topic::Overview));
        assert_eq!(Topic::parse(Some("events"), None), Ok(Topic::Events));
        assert_eq!(
            Topic::parse(Some("machine"), Some("X")),
            Ok(Topic::Machine("X".into()))
        );
        assert_eq!(Topic::parse(Some("machine"), None), Err("machine"));
        assert_eq!(Topic::parse(Some("overview"), Some("X")), Err("machine"));
        assert_eq!(Topic::parse(Some("all"), None), Err("view"));
        assert_eq!(Topic::of_path("/"), Topic::Overview);
        assert_eq!(
            Topic::of_path("/machines/CAS_01"),
            Topic::Machine("CAS_01".into())
        );
        assert_eq!(Topic::of_path("/cells/S-1"), Topic::Events);
        assert_eq!(Topic::of_path("/machines/"), Topic::Events);
    }

    #[test]
    fn live_events_serialise_with_a_kind_tag() {
        let e = LiveEvent::Link {
            machine: "M".into(),
            link: Link::new(LinkState::CommLost, 1, None),
        };
        let json = serde_json::to_string(&e).expect("json");
        assert!(
            json.starts_with(r#"{"kind":"link","machine":"M""#),
            "{json}"
        );
        assert_eq!(serde_json::from_str::<LiveEvent>(&json).expect("parse"), e);
    }
}
