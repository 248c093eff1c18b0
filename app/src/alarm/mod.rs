//! Alarms as ISA-18.2 describes them: the words shared by the server and the
//! browser (priority, source, limit, state), the limit conditions evaluated on every
//! scan ([`limit`]), the alarm state machine ([`state`]), the alarm-rate figures
//! ([`metrics`]) and what the pages show ([`view`]). Pure, no I/O; time is passed in
//! as Unix milliseconds.

pub mod limit;
pub mod metrics;
pub mod state;
pub mod view;

use serde::{Deserialize, Serialize};

/// How soon an operator must act. Sorted most urgent first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub enum Priority {
    /// Act at once.
    Urgent,
    /// Act within minutes.
    High,
    /// Act within the hour.
    Medium,
    /// Act within the shift.
    Low,
}

impl Priority {
    /// Every priority, most urgent first.
    pub const ALL: [Priority; 4] = [
        Priority::Urgent,
        Priority::High,
        Priority::Medium,
        Priority::Low,
    ];

    /// The stable name (files, API, database).
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Urgent => "urgent",
            Priority::High => "high",
            Priority::Medium => "medium",
            Priority::Low => "low",
        }
    }

    /// How the UI names it.
    pub fn label(self) -> &'static str {
        match self {
            Priority::Urgent => "Urgent",
            Priority::High => "High",
            Priority::Medium => "Medium",
            Priority::Low => "Low",
        }
    }

    /// 0 for the most urgent.
    pub fn rank(self) -> u8 {
        self as u8
    }

    /// Parses [`Priority::as_str`] (any case).
    pub fn parse(s: &str) -> Option<Priority> {
        Priority::ALL
            .into_iter()
            .find(|p| p.as_str().eq_ignore_ascii_case(s.trim()))
    }
}

/// Where an alarm comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub enum Source {
    /// A tag's HiHi, Hi, Lo or LoLo limit.
    Limit,
    /// A control chart's run rule.
    Spc,
    /// A PLC that does not answer.
    Comm,
    /// A PLC write that failed.
    Write,
    /// A lot entering the highest risk tier.
    LotTier,
    /// The risk model drifting from the line.
    Drift,
    /// MES messages given up on.
    Mes,
}

impl Source {
    /// Every source.
    pub const ALL: [Source; 7] = [
        Source::Limit,
        Source::Spc,
        Source::Comm,
        Source::Write,
        Source::LotTier,
        Source::Drift,
        Source::Mes,
    ];

    /// The stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Limit => "limit",
            Source::Spc => "spc",
            Source::Comm => "comm",
            Source::Write => "write",
            Source::LotTier => "lot_tier",
            Source::Drift => "drift",
            Source::Mes => "mes",
        }
    }

    /// How the UI names it.
    pub fn label(self) -> &'static str {
        match self {
            Source::Limit => "Tag limit",
            Source::Spc => "SPC rule",
            Source::Comm => "Communication",
            Source::Write => "PLC write",
            Source::LotTier => "Lot risk tier",
            Source::Drift => "Model drift",
            Source::Mes => "MES",
        }
    }

    /// Parses [`Source::as_str`] (any case).
    pub fn parse(s: &str) -> Option<Source> {
        Source::ALL
            .into_iter()
            .find(|x| x.as_str().eq_ignore_ascii_case(s.trim()))
    }
}

/// A tag limit. ISA-18.2 treats each as an alarm of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub enum Limit {
    /// High-high.
    HiHi,
    /// High.
    Hi,
    /// Low.
    Lo,
    /// Low-low.
    LoLo,
}

impl Limit {
    /// Every limit, highest first.
    pub const ALL: [Limit; 4] = [Limit::HiHi, Limit::Hi, Limit::Lo, Limit::LoLo];

    /// The stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            Limit::HiHi => "hihi",
            Limit::Hi => "hi",
            Limit::Lo => "lo",
            Limit::LoLo => "lolo",
        }
    }

    /// How the UI names it.
    pub fn label(self) -> &'static str {
        match self {
            Limit::HiHi => "HiHi",
            Limit::Hi => "Hi",
            Limit::Lo => "Lo",
            Limit::LoLo => "LoLo",
        }
    }

    /// Parses [`Limit::as_str`] (any case).
    pub fn parse(s: &str) -> Option<Limit> {
        Limit::ALL
            .into_iter()
            .find(|l| l.as_str().eq_ignore_ascii_case(s.trim()))
    }

    /// Whether the alarm is on values above the limit.
    pub fn is_high(self) -> bool {
        matches!(self, Limit::HiHi | Limit::Hi)
    }
}

/// An alarm's state as people see it (ISA-18.2's alarm state transition diagram).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub enum State {
    /// Inactive and acknowledged.
    Normal,
    /// Active, not acknowledged.
    Unacked,
    /// Active, acknowledged.
    Acked,
    /// Returned to normal before anyone acknowledged it.
    ClearedUnacked,
    /// Suppressed by a person for a while.
    Shelved,
    /// Suppressed by design (maintenance, a broken sensor).
    OutOfService,
}

impl State {
    /// Every state.
    pub const ALL: [State; 6] = [
        State::Normal,
        State::Unacked,
        State::Acked,
        State::ClearedUnacked,
        State::Shelved,
        State::OutOfService,
    ];

    /// The stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Normal => "normal",
            State::Unacked => "unacked",
            State::Acked => "acked",
            State::ClearedUnacked => "cleared_unacked",
            State::Shelved => "shelved",
            State::OutOfService => "out_of_service",
        }
    }

    /// How the UI names it.
    pub fn label(self) -> &'static str {
        match self {
            State::Normal => "Normal",
            State::Unacked => "Active, unacknowledged",
            State::Acked => "Active, acknowledged",
            State::ClearedUnacked => "Cleared, unacknowledged",
            State::Shelved => "Shelved",
            State::OutOfService => "Out of service",
        }
    }

    /// Parses [`State::as_str`].
    pub fn parse(s: &str) -> Option<State> {
        State::ALL.into_iter().find(|x| x.as_str() == s.trim())
    }

    /// Whether the shift board shows it: active or not yet acknowledged.
    pub fn is_standing(self) -> bool {
        matches!(self, State::Unacked | State::Acked | State::ClearedUnacked)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_urgent_sorts_first() {
        for p in Priority::ALL {
            assert_eq!(Priority::parse(p.as_str()), Some(p));
        }
        for s in Source::ALL {
            assert_eq!(Source::parse(s.as_str()), Some(s));
        }
        for l in Limit::ALL {
            assert_eq!(Limit::parse(l.as_str()), Some(l));
        }
        for s in State::ALL {
            assert_eq!(State::parse(s.as_str()), Some(s));
        }
        let mut v = vec![
            Priority::Low,
            Priority::Urgent,
            Priority::Medium,
            Priority::High,
        ];
        v.sort();
        assert_eq!(v, Priority::ALL.to_vec());
        assert_eq!(Priority::Urgent.rank(), 0);
        assert_eq!(
            serde_json::to_string(&Source::LotTier).expect("json"),
            "\"lot_tier\""
        );
        assert!(Limit::HiHi.is_high() && !Limit::Lo.is_high());
        assert!(State::ClearedUnacked.is_standing() && !State::Shelved.is_standing());
    }
}
