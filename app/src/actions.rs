//! Corrective actions on the machines: write modes, the safety envelope every
//! setpoint write must pass, the rules that propose actions, and the views of the
//! actions page. Pure and shared by the browser and the server; the server does
//! the writing.

use serde::{Deserialize, Serialize};

use crate::line::Quality;

/// What CellGuard may do with a machine's setpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WriteMode {
    /// No proposals, no writes.
    Off,
    /// Proposals wait for a supervisor to approve or reject them.
    #[default]
    Advisory,
    /// Proposals inside the envelope are written at once.
    Automatic,
}

impl WriteMode {
    /// Every mode, least to most autonomous.
    pub const ALL: [WriteMode; 3] = [WriteMode::Off, WriteMode::Advisory, WriteMode::Automatic];

    /// The stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            WriteMode::Off => "off",
            WriteMode::Advisory => "advisory",
            WriteMode::Automatic => "automatic",
        }
    }

    /// Parses [`WriteMode::as_str`].
    pub fn parse(s: &str) -> Option<WriteMode> {
        WriteMode::ALL.into_iter().find(|m| m.as_str() == s.trim())
    }

    /// How the UI names it.
    pub fn label(self) -> &'static str {
        match self {
            WriteMode::Off => "Off",
            WriteMode::Advisory => "Advisory",
            WriteMode::Automatic => "Automatic",
        }
    }
}

/// How an action changes its tag.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    /// To this value.
    Set(f64),
    /// By this amount (negative lowers).
    Step(f64),
    /// By this percentage of the current value (negative lowers).
    StepPercent(f64),
}

impl Change {
    /// The value asked for, from the tag's current value (`None` if it is needed
    /// and unknown, or the result is not a finite number).
    pub fn target(self, current: Option<f64>) -> Option<f64> {
        let t = match self {
            Change::Set(v) => v,
            Change::Step(d) => current? + d,
            Change::StepPercent(p) => current? * (1.0 + p / 100.0),
        };
        t.is_finite().then_some(t)
    }

    /// Words for the UI: "set to 950", "−50", "−5 %".
    pub fn describe(self) -> String {
        match self {
            Change::Set(v) => format!("set to {}", crate::fmt::format_number(v)),
            Change::Step(d) => format!("{:+}", d),
            Change::StepPercent(p) => format!("{p:+} %"),
        }
    }
}

/// The limits of one writable tag and when writes to it are allowed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    /// Lowest value ever written.
    pub min: f64,
    /// Highest value ever written.
    pub max: f64,
    /// Largest change one write may make.
    pub max_step: f64,
    /// Shortest time between two writes to the tag.
    pub min_interval_ms: i64,
    /// Machine states (PackML names) in which writes are allowed.
    pub allowed_states: Vec<String>,
}

/// What is known of a tag and its machine when a write is considered.
#[derive(Debug, Clone, PartialEq)]
pub struct TagNow {
    /// Whether the plant file declares the tag writable.
    pub writable: bool,
    /// Its value now (as last read).
    pub value: Option<f64>,
    /// The quality of that reading.
    pub quality: Quality,
    /// The machine's state now (`None` if unknown).
    pub machine_state: Option<String>,
    /// When the tag was last written (Unix ms).
    pub last_write_ms: Option<i64>,
}

/// Why the envelope refuses a write. Each says why in words for the person.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "refusal", rename_all = "snake_case")]
pub enum Refusal {
    /// The tag is not declared writable.
    NotWritable,
    /// The machine is in a state that does not allow writes.
    MachineState {
        /// Its state (`None`: unknown).
        state: Option<String>,
    },
    /// The tag's reading is not good (stale, bad, connection lost).
    BadQuality {
        /// Its quality.
        quality: Quality,
    },
    /// The tag was written too recently.
    TooSoon {
        /// How long to wait still (ms).
        wait_ms: i64,
    },
    /// The tag's current value is unknown, or the target is not a number.
    NoValue,
    /// Within the limits, the write would change nothing.
    NoChange {
        /// The value it would write.
        value: f64,
    },
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::NotWritable => write!(f, "the tag is not writable"),
            Refusal::MachineState { state: Some(s) } => {
                write!(f, "the machine is in {s}, which does not allow writes")
            }
            Refusal::MachineState { state: None } => {
                write!(f, "the machine's state is unknown")
            }
            Refusal::BadQuality { quality } => {
                write!(f, "the tag's reading is {} (not good)", quality.label())
            }
            Refusal::TooSoon { wait_ms } => write!(
                f,
                "the tag was written too recently (wait {} s)",
                (wait_ms + 999) / 1000
            ),
            Refusal::NoValue => write!(f, "the tag's current value is unknown"),
            Refusal::NoChange { value } => write!(
                f,
                "within its limits the tag would stay at {}",
                crate::fmt::format_number(*value)
            ),
        }
    }
}

/// A write the envelope allows.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Allowed {
    /// The value before.
    pub from: f64,
    /// The value to write (clamped).
    pub to: f64,
    /// Whether the value asked for was clamped to the limits or the largest step.
    pub clamped: bool,
}

/// Checks a write of `target` against the envelope: only writable tags, only
/// while the machine's state allows it and the tag's reading is good, never
/// sooner than `min_interval_ms` after the last write; the value is clamped to
/// `[min, max]` and to at most `max_step` away from the current value.
pub fn check(
    env: &Envelope,
    tag: &TagNow,
    target: Option<f64>,
    now_ms: i64,
) -> Result<Allowed, Refusal> {
    let sane = [env.min, env.max, env.max_step]
        .iter()
        .all(|v| v.is_finite());
    if !tag.writable || !sane {
        return Err(Refusal::NotWritable);
    }
    match &tag.machine_state {
        Some(s) if env.allowed_states.iter().any(|a| a == s) => {}
        other => {
            return Err(Refusal::MachineState {
                state: other.clone(),
            });
        }
    }
    if tag.quality != Quality::Good {
        return Err(Refusal::BadQuality {
            quality: tag.quality,
        });
    }
    if let Some(last) = tag.last_write_ms {
        let wait = last
            .saturating_add(env.min_interval_ms)
            .saturating_sub(now_ms);
        if wait > 0 {
            return Err(Refusal::TooSoon { wait_ms: wait });
        }
    }
    let (Some(from), Some(target)) = (
        tag.value.filter(|v| v.is_finite()),
        target.filter(|t| t.is_finite()),
    ) else {
        return Err(Refusal::NoValue);
    };
    let step = env.max_step.abs();
    let to = target
        .clamp(env.min.min(env.max), env.max.max(env.min))
        .clamp(from - step, from + step)
        // The current value may itself be outside the limits: never write further
        // out than it already is, and never outside [min, max] when moving in.
        .clamp(env.min.min(from), env.max.max(from));
    if to == from {
        return Err(Refusal::NoChange { value: to });
    }
    Ok(Allowed {
        from,
        to,
        clamped: to != target,
    })
}

/// The recent cells a rule looks at (newest last).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecentCell {
    /// Whether the active model called it high-risk.
    pub high: bool,
    /// The rule's measurement, if the cell has it.
    pub value: Option<f64>,
}

/// What a rule watches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Condition {
    /// The share of high-risk cells among the last `last` scored cells is above
    /// `above`.
    HighRiskShare {
        /// Cells looked at.
        last: usize,
        /// Share that triggers.
        above: f64,
    },
    /// The mean of `measurement` over the last `last` cells is above `above` or
    /// below `below`.
    MeasurementMean {
        /// Catalogue name.
        measurement: String,
        /// Cells looked at.
        last: usize,
        /// Upper trigger.
        #[serde(default)]
        above: Option<f64>,
        /// Lower trigger.
        #[serde(default)]
        below: Option<f64>,
    },
}

impl Condition {
    /// Cells the condition needs.
    pub fn window(&self) -> usize {
        match self {
            Condition::HighRiskShare { last, .. } | Condition::MeasurementMean { last, .. } => {
                *last
            }
        }
    }

    /// The measurement the cells must carry, if any.
    pub fn measurement(&self) -> Option<&str> {
        match self {
            Condition::MeasurementMean { measurement, .. } => Some(measurement),
            Condition::HighRiskShare { .. } => None,
        }
    }

    /// Whether the condition holds over `cells` (newest last); when it does, what
    /// was seen, in words. Too few cells never trigger.
    pub fn holds(&self, cells: &[RecentCell]) -> Option<String> {
        let n = self.window();
        if n == 0 || cells.len() < n {
            return None;
        }
        let window = &cells[cells.len() - n..];
        match self {
            Condition::HighRiskShare { above, .. } => {
                let high = window.iter().filter(|c| c.high).count();
                let share = high as f64 / n as f64;
                (share > *above).then(|| {
                    format!(
                        "{high} of the last {n} cells high-risk ({:.0} %, above {:.0} %)",
                        share * 100.0,
                        above * 100.0
                    )
                })
            }
            Condition::MeasurementMean {
                measurement,
                above,
                below,
                ..
            } => {
                let values: Vec<f64> = window
                    .iter()
                    .filter_map(|c| c.value)
                    .filter(|v| v.is_finite())
                    .collect();
                if values.len() < n {
                    return None;
                }
                let mean = values.iter().sum::<f64>() / values.len() as f64;
                let fmt = crate::fmt::format_number;
                if let Some(a) = above
                    && mean > *a
                {
                    return Some(format!(
                        "mean {measurement} of the last {n} cells {} (above {})",
                        fmt(mean),
                        fmt(*a)
                    ));
                }
                if let Some(b) = below
                    && mean < *b
                {
                    return Some(format!(
                        "mean {measurement} of the last {n} cells {} (below {})",
                        fmt(mean),
                        fmt(*b)
                    ));
                }
                None
            }
        }
    }
}

/// Where an action is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub enum ActionState {
    /// Waiting for a supervisor.
    Pending,
    /// Rejected by a supervisor.
    Rejected,
    /// Not approved in time.
    Expired,
    /// Refused by the safety envelope (when proposed, or on the values read
    /// just before the write).
    Refused,
    /// Written, and read back as written.
    Verified,
    /// The write failed (exception, timeout, no connection) or read back wrong.
    Failed,
    /// Approved, queued for the PLC's connection owner.
    Approved,
    /// The PLC's connection owner is reading, checking and writing.
    Writing,
    /// Written; the tag is not verified (`verify = false`), the value read back
    /// is recorded.
    Written,
}

impl ActionState {
    /// Every state.
    pub const ALL: [ActionState; 9] = [
        ActionState::Pending,
        ActionState::Approved,
        ActionState::Writing,
        ActionState::Rejected,
        ActionState::Expired,
        ActionState::Refused,
        ActionState::Verified,
        ActionState::Written,
        ActionState::Failed,
    ];

    /// The stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            ActionState::Pending => "pending",
            ActionState::Rejected => "rejected",
            ActionState::Expired => "expired",
            ActionState::Refused => "refused",
            ActionState::Verified => "verified",
            ActionState::Failed => "failed",
            ActionState::Approved => "approved",
            ActionState::Writing => "writing",
            ActionState::Written => "written",
        }
    }

    /// Parses [`ActionState::as_str`].
    pub fn parse(s: &str) -> Option<ActionState> {
        ActionState::ALL.into_iter().find(|a| a.as_str() == s)
    }

    /// True for a write that reached the PLC and can be undone.
    pub fn written(self) -> bool {
        matches!(self, ActionState::Verified | ActionState::Written)
    }

    /// True while the write is under way (the page shows it as in progress).
    pub fn in_progress(self) -> bool {
        matches!(self, ActionState::Approved | ActionState::Writing)
    }

    /// How the UI names it.
    pub fn label(self) -> &'static str {
        match self {
            ActionState::Pending => "Waiting for approval",
            ActionState::Rejected => "Rejected",
            ActionState::Expired => "Expired",
            ActionState::Refused => "Refused by the envelope",
            ActionState::Verified => "Written and verified",
            ActionState::Failed => "Failed",
            ActionState::Approved => "Approved, queued for the PLC",
            ActionState::Writing => "Writing to the PLC",
            ActionState::Written => "Written (not verified)",
        }
    }
}

/// One corrective action, as the actions page and the journal show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionView {
    /// Sequence number.
    pub id: i64,
    /// When proposed (Unix ms).
    pub created_ms: i64,
    /// Machine id.
    pub machine: String,
    /// Tag name.
    pub tag: String,
    /// Tag label and unit, for people.
    pub tag_label: String,
    /// Unit.
    pub unit: String,
    /// The rule that proposed it, or `undo of #n`.
    pub rule: String,
    /// Why, for the person who approves.
    pub rationale: String,
    /// What was seen when it was proposed.
    pub observed: String,
    /// Value when proposed.
    pub from: f64,
    /// Value to write.
    pub to: f64,
    /// State.
    pub state: ActionState,
    /// Who approved, rejected or undid it (`auto` for automatic mode).
    pub decided_by: Option<String>,
    /// When.
    pub decided_ms: Option<i64>,
    /// The rejection reason, the refusal, the Modbus exception or timeout.
    pub detail: Option<String>,
    /// The value read back after the write.
    pub read_back: Option<f64>,
    /// High-risk share of the cells before and after the write (when known).
    pub effect: Option<(f64, f64)>,
    /// Who proposed it (`rule:<name>` for a rule).
    pub proposed_by: String,
}

/// A machine's write mode, for the page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MachineMode {
    /// Machine id.
    pub machine: String,
    /// Machine name.
    pub name: String,
    /// Its mode.
    pub mode: WriteMode,
}

/// A tag a person may propose a change of, with its limits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WritableTag {
    /// Machine id.
    pub machine: String,
    /// Tag name.
    pub tag: String,
    /// Tag label.
    pub label: String,
    /// Unit.
    pub unit: String,
    /// Lowest value ever written.
    pub min: f64,
    /// Highest value ever written.
    pub max: f64,
    /// Largest change one write may make.
    pub max_step: f64,
    /// Its value now, if read.
    pub value: Option<f64>,
}

/// The actions page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionsView {
    /// Each machine's mode.
    pub modes: Vec<MachineMode>,
    /// The tags a person may propose a change of.
    pub writable: Vec<WritableTag>,
    /// Actions waiting for approval, oldest first.
    pub pending: Vec<ActionView>,
    /// Failed writes nobody acknowledged yet, newest first.
    pub alarms: Vec<ActionView>,
    /// The journal page, newest first.
    pub history: Vec<ActionView>,
    /// Actions in the journal matching the filter.
    pub total: u64,
    /// Written actions per hour over the last 24 h: (hour start ms, count).
    pub per_hour: Vec<(i64, u32)>,
    /// Server time of the view (Unix ms).
    pub now_ms: i64,
}

/// What the header and the live stream say about actions.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionsSummary {
    /// Proposals waiting for a supervisor.
    pub pending: u32,
    /// Failed writes nobody acknowledged yet.
    pub alarms: u32,
    /// Bumped on every change of the journal (pages refetch).
    pub version: u64,
}

/// The journal's filter.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ActionFilter {
    /// Only this machine.
    pub machine: Option<String>,
    /// Only this state.
    pub state: Option<ActionState>,
    /// Page (0-based).
    pub page: u32,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn env() -> Envelope {
        Envelope {
            min: 800.0,
            max: 1200.0,
            max_step: 100.0,
            min_interval_ms: 30_000,
            allowed_states: vec!["Execute".into(), "Held".into()],
        }
    }

    fn tag(value: f64) -> TagNow {
        TagNow {
            writable: true,
            value: Some(value),
            quality: Quality::Good,
            machine_state: Some("Execute".into()),
            last_write_ms: None,
        }
    }

    #[test]
    fn a_write_inside_the_envelope_is_allowed_as_asked() {
        let a = check(&env(), &tag(1000.0), Some(950.0), 0).expect("allowed");
        assert_eq!((a.from, a.to, a.clamped), (1000.0, 950.0, false));
    }

    #[test]
    fn a_write_is_clamped_to_the_largest_step_and_the_limits() {
        let a = check(&env(), &tag(1000.0), Some(500.0), 0).expect("allowed");
        assert_eq!((a.to, a.clamped), (900.0, true));
        let b = check(&env(), &tag(1150.0), Some(5000.0), 0).expect("allowed");
        assert_eq!(b.to, 1200.0);
    }

    #[test]
    fn every_refusal_says_why() {
        let e = env();
        let mut t = tag(1000.0);
        t.writable = false;
        assert_eq!(check(&e, &t, Some(900.0), 0), Err(Refusal::NotWritable));
        let mut t = tag(1000.0);
        t.machine_state = Some("Aborted".into());
        let r = check(&e, &t, Some(900.0), 0).expect_err("state");
        assert!(r.to_string().contains("Aborted"), "{r}");
        t.machine_state = None;
        assert!(check(&e, &t, Some(900.0), 0).is_err());
        let mut t = tag(1000.0);
        t.quality = Quality::Stale;
        let r = check(&e, &t, Some(900.0), 0).expect_err("quality");
        assert!(matches!(r, Refusal::BadQuality { .. }), "{r}");
        let mut t = tag(1000.0);
        t.last_write_ms = Some(10_000);
        let r = check(&e, &t, Some(900.0), 20_000).expect_err("too soon");
        assert_eq!(r, Refusal::TooSoon { wait_ms: 20_000 });
        assert!(r.to_string().contains("20 s"), "{r}");
        assert!(check(&e, &t, Some(900.0), 40_000).is_ok());
        assert_eq!(
            check(&e, &tag(1200.0), Some(1300.0), 0),
            Err(Refusal::NoChange { value: 1200.0 })
        );
        let mut t = tag(1000.0);
        t.value = None;
        assert_eq!(check(&e, &t, Some(900.0), 0), Err(Refusal::NoValue));
        assert_eq!(check(&e, &tag(1000.0), None, 0), Err(Refusal::NoValue));
    }

    #[test]
    fn changes_resolve_from_the_current_value() {
        assert_eq!(Change::Set(3.2).target(None), Some(3.2));
        assert_eq!(Change::Step(-50.0).target(Some(1000.0)), Some(950.0));
        assert_eq!(Change::StepPercent(-5.0).target(Some(1000.0)), Some(950.0));
        assert_eq!(Change::Step(-50.0).target(None), None);
        assert_eq!(Change::Set(f64::NAN).target(None), None);
    }

    #[test]
    fn rules_trigger_on_the_window_only_with_enough_cells() {
        let cell = |high: bool, value: f64| RecentCell {
            high,
            value: Some(value),
        };
        let share = Condition::HighRiskShare {
            last: 4,
            above: 0.25,
        };
        let mut cells = vec![cell(true, 1.0); 2];
        assert_eq!(share.holds(&cells), None, "too few cells");
        cells.extend([cell(false, 1.0), cell(false, 1.0)]);
        let seen = share.holds(&cells).expect("2 of 4 above 25 %");
        assert!(seen.contains("2 of the last 4"), "{seen}");
        cells.extend([cell(false, 1.0), cell(false, 1.0)]);
        assert_eq!(share.holds(&cells), None, "old cells leave the window");
        let mean = Condition::MeasurementMean {
            measurement: "k_value".into(),
            last: 3,
            above: Some(2.0),
            below: None,
        };
        assert!(
            mean.holds(&[cell(false, 1.0), cell(false, 3.0), cell(false, 3.0)])
                .is_some()
        );
        assert!(
            mean.holds(&[cell(false, 1.0), cell(false, 1.0), cell(false, 3.0)])
                .is_none()
        );
    }

    #[test]
    fn modes_and_states_round_trip() {
        for m in WriteMode::ALL {
            assert_eq!(WriteMode::parse(m.as_str()), Some(m));
        }
        for s in ActionState::ALL {
            assert_eq!(ActionState::parse(s.as_str()), Some(s));
        }
        assert_eq!(WriteMode::default(), WriteMode::Advisory);
    }

    fn quality() -> impl Strategy<Value = Quality> {
        prop_oneof![
            Just(Quality::Good),
            Just(Quality::Stale),
            Just(Quality::Bad),
            Just(Quality::CommLost)
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(20_000))]

        /// No write is ever outside the limits, larger than the largest step, too
        /// soon, in a forbidden state or on a reading that is not good.
        #[test]
        fn no_write_ever_leaves_the_envelope(
            min in -1000.0f64..1000.0,
            span in 0.0f64..2000.0,
            max_step in 0.0f64..500.0,
            interval in 0i64..120_000,
            from in -4000.0f64..4000.0,
            target in prop_oneof![(-1e6f64..1e6).prop_map(Some), Just(None), Just(Some(f64::NAN)), Just(Some(f64::INFINITY))],
            state in prop_oneof![Just("Execute"), Just("Held"), Just("Aborted"), Just("Stopping")],
            quality in quality(),
            last_write in prop_oneof![Just(None), (0i64..200_000).prop_map(Some)],
            now in 0i64..200_000,
            writable in any::<bool>(),
        ) {
            let env = Envelope {
                min,
                max: min + span,
                max_step,
                min_interval_ms: interval,
                allowed_states: vec!["Execute".into(), "Held".into()],
            };
            let t = TagNow {
                writable,
                value: Some(from),
                quality,
                machine_state: Some(state.into()),
                last_write_ms: last_write,
            };
            if let Ok(a) = check(&env, &t, target, now) {
                prop_assert!(writable);
                prop_assert!(state == "Execute" || state == "Held");
                prop_assert_eq!(quality, Quality::Good);
                prop_assert!(last_write.is_none_or(|l| now >= l + interval));
                prop_assert!(a.to.is_finite());
                prop_assert!((a.to - from).abs() <= max_step + 1e-9, "step {} > {}", (a.to - from).abs(), max_step);
                // Inside the limits, or (when the value already was outside them)
                // no further out than it was.
                prop_assert!(a.to >= env.min.min(from) - 1e-9 && a.to <= env.max.max(from) + 1e-9);
                if (env.min..=env.max).contains(&from) {
                    prop_assert!(a.to >= env.min - 1e-9 && a.to <= env.max + 1e-9);
                }
                prop_assert!(a.to != from);
            }
        }
    }
}
