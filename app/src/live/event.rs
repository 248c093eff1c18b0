//! What the live stream sends: one event type for the server's stream and the
//! browser's store. Pure and wasm-safe.

use serde::{Deserialize, Serialize};

use crate::actions::ActionsSummary;
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::line::LinkState;

    #[test]
    fn live_events_serialise_with_a_kind_tag() {
        let e = LiveEvent::Link {
            machine: "M".into(),
            link: Link {
                state: LinkState::CommLost,
                since_ms: 1,
                error: None,
            },
        };
        let json = serde_json::to_string(&e).expect("json");
        assert!(
            json.starts_with(r#"{"kind":"link","machine":"M""#),
            "{json}"
        );
        assert_eq!(serde_json::from_str::<LiveEvent>(&json).expect("parse"), e);
    }
}
