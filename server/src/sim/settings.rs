//! `[simulator]` of the plant file: the built-in line simulator. Its values need
//! no resolving, so the same type serves the file and the running simulator.

use serde::{Deserialize, Serialize};

use crate::problems::{Problem, key};

/// The built-in line simulator.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SimulatorConfig {
    /// Start a simulated PLC per device inside `cellguard serve`, on free loopback
    /// ports, and point acquisition at them instead of the configured hosts.
    pub embedded: bool,
    /// Seed for the simulator's randomness (a fixed seed repeats a run).
    pub seed: Option<u64>,
    /// Cells the simulated stations produce per minute when embedded (0: none).
    pub cells_per_minute: f64,
    /// Cells per simulated lot (each lot draws its own materials).
    pub cells_per_lot: u64,
    /// A shifted process on purpose: from a given cell on, one measurement moves
    /// by a fixed amount (for trying SPC rules and alarms on a known shift).
    pub shift: Option<ProcessShift>,
    /// Share of cells the simulated line sends to the short-term test, drawn at
    /// random whatever their risk (an audit sample, so that live recall is measured
    /// without bias); the outcome rides on the cell's OQC inspection.
    pub short_term_share: f64,
}

/// One measurement of the simulated cells moved by `by` from cell `after_cells` on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProcessShift {
    /// A catalogue measurement, e.g. `capacity`.
    pub measurement: String,
    /// Cells made (since start) before the shift.
    pub after_cells: u64,
    /// How far the measurement moves (its unit).
    pub by: f64,
}

impl Default for SimulatorConfig {
    fn default() -> Self {
        Self {
            embedded: false,
            seed: None,
            cells_per_minute: 30.0,
            cells_per_lot: 300,
            shift: None,
            short_term_share: 0.2,
        }
    }
}

/// Everything serde cannot check in `[simulator]`.
pub fn validate(s: &SimulatorConfig, out: &mut Vec<Problem>) {
    let cpm = s.cells_per_minute;
    if !cpm.is_finite() || !(0.0..=6000.0).contains(&cpm) {
        out.push((
            vec![key("simulator"), key("cells_per_minute")],
            "must be between 0 and 6000".into(),
        ));
    }
    let share = s.short_term_share;
    if !share.is_finite() || !(0.0..=1.0).contains(&share) {
        out.push((
            vec![key("simulator"), key("short_term_share")],
            "must be a share between 0 and 1".into(),
        ));
    }
    if let Some(shift) = &s.shift {
        if crate::quality::def(&shift.measurement).is_none() {
            out.push((
                vec![key("simulator"), key("shift"), key("measurement")],
                format!("{:?} is not a catalogue measurement", shift.measurement),
            ));
        }
        if !shift.by.is_finite() {
            out.push((
                vec![key("simulator"), key("shift"), key("by")],
                "must be a finite number".into(),
            ));
        }
    }
    if !(1..=10_000_000).contains(&s.cells_per_lot) {
        out.push((
            vec![key("simulator"), key("cells_per_lot")],
            "must be between 1 and 10000000".into(),
        ));
    }
}
