//! One alarm's state machine (ISA-18.2 §11): a condition that becomes active and
//! returns to normal, a person's acknowledgement, shelving for a while and removal
//! from service. Every transition returns the [`Event`] to journal, or an
//! [`AlarmError`] that says why it cannot be done.

use serde::{Deserialize, Serialize};

use super::State;

/// An alarm's stored state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alarm {
    /// Its condition holds.
    pub active: bool,
    /// Someone acknowledged it since it was last raised.
    pub acked: bool,
    /// Shelved until then (Unix ms).
    pub shelved_until: Option<i64>,
    /// Out of service.
    pub out_of_service: bool,
}

impl Default for Alarm {
    fn default() -> Self {
        Self {
            active: false,
            acked: true,
            shelved_until: None,
            out_of_service: false,
        }
    }
}

/// What happened to an alarm (one journal line).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Event {
    /// The condition became active.
    Raised,
    /// The condition returned to normal.
    Cleared,
    /// A person acknowledged it.
    Acknowledged {
        /// Their comment.
        comment: Option<String>,
    },
    /// A person shelved it.
    Shelved {
        /// Why.
        reason: String,
        /// Until when (Unix ms).
        until_ms: i64,
    },
    /// Its shelf ended (expired or ended by a person).
    Unshelved,
    /// Taken out of service.
    RemovedFromService {
        /// Why.
        reason: String,
    },
    /// Back in service.
    ReturnedToService,
}

impl Event {
    /// The stable name journaled.
    pub fn as_str(&self) -> &'static str {
        match self {
            Event::Raised => "raised",
            Event::Cleared => "cleared",
            Event::Acknowledged { .. } => "acknowledged",
            Event::Shelved { .. } => "shelved",
            Event::Unshelved => "unshelved",
            Event::RemovedFromService { .. } => "removed_from_service",
            Event::ReturnedToService => "returned_to_service",
        }
    }

    /// How the UI names it.
    pub fn label(&self) -> &'static str {
        match self {
            Event::Raised => "Raised",
            Event::Cleared => "Cleared",
            Event::Acknowledged { .. } => "Acknowledged",
            Event::Shelved { .. } => "Shelved",
            Event::Unshelved => "Unshelved",
            Event::RemovedFromService { .. } => "Out of service",
            Event::ReturnedToService => "Back in service",
        }
    }
}

/// Why a person's transition cannot be done.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AlarmError {
    /// Nothing to acknowledge.
    #[error("the alarm is already acknowledged")]
    AlreadyAcknowledged,
    /// A shelf needs a reason.
    #[error("say why the alarm is shelved or taken out of service")]
    NoReason,
    /// A shelf must end in the future, within the maximum.
    #[error("a shelf must end in the future and last at most {max_hours} h")]
    BadShelf {
        /// The longest shelf allowed.
        max_hours: f64,
    },
    /// Not shelved now.
    #[error("the alarm is not shelved")]
    NotShelved,
    /// Out of service: shelving means nothing.
    #[error("the alarm is out of service")]
    OutOfService,
    /// In service already.
    #[error("the alarm is in service")]
    InService,
}

impl Alarm {
    /// The state people see at `now_ms`.
    pub fn state(&self, now_ms: i64) -> State {
        if self.out_of_service {
            State::OutOfService
        } else if self.shelved_until.is_some_and(|u| u > now_ms) {
            State::Shelved
        } else {
            match (self.active, self.acked) {
                (true, false) => State::Unacked,
                (true, true) => State::Acked,
                (false, false) => State::ClearedUnacked,
                (false, true) => State::Normal,
            }
        }
    }

    /// Whether it stands on the board: active or unacknowledged, not suppressed.
    pub fn annunciated(&self, now_ms: i64) -> bool {
        self.state(now_ms).is_standing()
    }

    /// The condition is now `active` (or not): `Raised` or `Cleared` when it
    /// changes. Tracked (and journaled) also while shelved or out of service.
    pub fn condition(&mut self, active: bool) -> Option<Event> {
        if active == self.active {
            return None;
        }
        self.active = active;
        if active {
            self.acked = false;
            Some(Event::Raised)
        } else {
            Some(Event::Cleared)
        }
    }

    /// A person acknowledges it (an acknowledged cleared alarm is normal again).
    pub fn acknowledge(&mut self, comment: Option<String>) -> Result<Event, AlarmError> {
        if self.acked {
            return Err(AlarmError::AlreadyAcknowledged);
        }
        self.acked = true;
        Ok(Event::Acknowledged { comment })
    }

    /// A person shelves it until `until_ms`, at most `max_ms` from `now_ms`.
    pub fn shelve(
        &mut self,
        until_ms: i64,
        reason: String,
        now_ms: i64,
        max_ms: i64,
    ) -> Result<Event, AlarmError> {
        if self.out_of_service {
            return Err(AlarmError::OutOfService);
        }
        if reason.trim().is_empty() {
            return Err(AlarmError::NoReason);
        }
        if until_ms <= now_ms || until_ms.saturating_sub(now_ms) > max_ms {
            return Err(AlarmError::BadShelf {
                max_hours: max_ms as f64 / 3_600_000.0,
            });
        }
        self.shelved_until = Some(until_ms);
        Ok(Event::Shelved { reason, until_ms })
    }

    fn end_shelf(&mut self) -> Event {
        self.shelved_until = None;
        // Still active: it must be seen again.
        if self.active {
            self.acked = false;
        }
        Event::Unshelved
    }

    /// A person ends the shelf now.
    pub fn unshelve(&mut self, now_ms: i64) -> Result<Event, AlarmError> {
        match self.shelved_until {
            Some(u) if u > now_ms => Ok(self.end_shelf()),
            _ => Err(AlarmError::NotShelved),
        }
    }

    /// The shelf ends by itself once `now_ms` reaches it.
    pub fn expire(&mut self, now_ms: i64) -> Option<Event> {
        match self.shelved_until {
            Some(u) if u <= now_ms => Some(self.end_shelf()),
            _ => None,
        }
    }

    /// Out of service by design, for `reason`.
    pub fn remove_from_service(&mut self, reason: String) -> Result<Event, AlarmError> {
        if self.out_of_service {
            return Err(AlarmError::OutOfService);
        }
        if reason.trim().is_empty() {
            return Err(AlarmError::NoReason);
        }
        self.out_of_service = true;
        self.shelved_until = None;
        Ok(Event::RemovedFromService { reason })
    }

    /// Back in service (an active alarm must be seen again).
    pub fn return_to_service(&mut self) -> Result<Event, AlarmError> {
        if !self.out_of_service {
            return Err(AlarmError::InService);
        }
        self.out_of_service = false;
        self.acked = !self.active;
        Ok(Event::ReturnedToService)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const HOUR: i64 = 3_600_000;

    #[test]
    fn raised_acknowledged_cleared() {
        let mut a = Alarm::default();
        assert_eq!(a.state(0), State::Normal);
        assert_eq!(a.condition(true), Some(Event::Raised));
        assert_eq!(a.condition(true), None);
        assert_eq!(a.state(0), State::Unacked);
        assert_eq!(
            a.acknowledge(Some("checking".into())).unwrap(),
            Event::Acknowledged {
                comment: Some("checking".into())
            }
        );
        assert_eq!(a.state(0), State::Acked);
        assert_eq!(a.acknowledge(None), Err(AlarmError::AlreadyAcknowledged));
        assert_eq!(a.condition(false), Some(Event::Cleared));
        assert_eq!(a.state(0), State::Normal);
    }

    #[test]
    fn cleared_while_unacknowledged_stays_until_acknowledged() {
        let mut a = Alarm::default();
        a.condition(true);
        a.condition(false);
        assert_eq!(a.state(0), State::ClearedUnacked);
        assert!(a.annunciated(0));
        a.acknowledge(None).unwrap();
        assert_eq!(a.state(0), State::Normal);
        assert!(!a.annunciated(0));
    }

    #[test]
    fn a_shelf_needs_a_reason_a_future_end_and_at_most_the_maximum() {
        let mut a = Alarm::default();
        a.condition(true);
        assert_eq!(
            a.shelve(HOUR, " ".into(), 0, 8 * HOUR),
            Err(AlarmError::NoReason)
        );
        assert!(matches!(
            a.shelve(0, "x".into(), 0, 8 * HOUR),
            Err(AlarmError::BadShelf { .. })
        ));
        assert!(matches!(
            a.shelve(9 * HOUR, "x".into(), 0, 8 * HOUR),
            Err(AlarmError::BadShelf { .. })
        ));
        assert!(matches!(
            a.shelve(i64::MAX, "x".into(), -1, 8 * HOUR),
            Err(AlarmError::BadShelf { .. })
        ));
        a.shelve(HOUR, "sensor swap".into(), 0, 8 * HOUR).unwrap();
        assert_eq!(a.state(10), State::Shelved);
        assert!(!a.annunciated(10));
        // Acknowledge the unshelved alarm before it expires... the condition is
        // still tracked meanwhile.
        assert_eq!(a.condition(false), Some(Event::Cleared));
        assert_eq!(a.condition(true), Some(Event::Raised));
        assert_eq!(a.expire(HOUR - 1), None);
        assert_eq!(a.expire(HOUR), Some(Event::Unshelved));
        assert_eq!(a.state(HOUR), State::Unacked, "still active: seen again");
    }

    #[test]
    fn unshelving_early_and_what_cannot_be_unshelved() {
        let mut a = Alarm::default();
        assert_eq!(a.unshelve(0), Err(AlarmError::NotShelved));
        a.shelve(HOUR, "x".into(), 0, HOUR).unwrap();
        assert_eq!(a.unshelve(5), Ok(Event::Unshelved));
        assert_eq!(a.state(5), State::Normal, "not active: nothing to see");
    }

    #[test]
    fn out_of_service_and_back() {
        let mut a = Alarm::default();
        a.condition(true);
        a.acknowledge(None).unwrap();
        assert_eq!(a.return_to_service(), Err(AlarmError::InService));
        a.remove_from_service("maintenance".into()).unwrap();
        assert_eq!(a.state(0), State::OutOfService);
        assert_eq!(
            a.shelve(HOUR, "x".into(), 0, HOUR),
            Err(AlarmError::OutOfService)
        );
        assert_eq!(
            a.remove_from_service("again".into()),
            Err(AlarmError::OutOfService)
        );
        a.return_to_service().unwrap();
        assert_eq!(a.state(0), State::Unacked, "still active: seen again");
    }

    #[test]
    fn events_serialise_with_their_kind() {
        let e = Event::Shelved {
            reason: "r".into(),
            until_ms: 5,
        };
        let j = serde_json::to_string(&e).unwrap();
        assert_eq!(j, r#"{"kind":"shelved","reason":"r","until_ms":5}"#);
        assert_eq!(e.as_str(), "shelved");
    }
}
