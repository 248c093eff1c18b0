//! Statistical process control: control charts, run rules and capability. Pure.
//!
//! Everything here is plain arithmetic on slices, with no I/O, clock or
//! threads, so it builds for the browser (wasm) as well as the server.
//!
//! * [`constants`]: the control-chart factors d2, d3, c4, A2, A3, B3, B4, D3,
//!   D4 (NIST/SEMATECH e-Handbook §6.3.2, ASTM E2587).
//! * [`chart`]: limits from a baseline ([`individuals`], [`xbar_r`],
//!   [`xbar_s`], [`p_chart`], [`np_chart`]) as a frozen, serialisable
//!   [`Limits`], and [`Limits::chart_individuals`] and friends, which apply
//!   them to every point and give each point's centre, limits, σ and z.
//! * [`rules`]: the Nelson 1–8 and Western Electric 1–4 run rules on the z
//!   sequence ([`check`]).
//! * [`capability`](mod@capability): Cp, Cpk, Pp, Ppk, Bissell's interval for Cpk and the
//!   Anderson–Darling normality test ([`capability()`]).
//!
//! Inputs are validated, never trusted: an empty baseline, a NaN or infinite
//! value, a subgroup of the wrong size or a spread of zero where one is needed
//! gives an [`SpcError`], never a panic. NaN and ±∞ are rejected as inputs
//! ([`SpcError::NotFinite`]), not skipped.
//!
//! A spread of zero in the baseline (constant data) is allowed for charts: the
//! limits collapse onto the centre, and each point's z is 0 on the centre and
//! ±∞ off it (see [`ChartPoint::z`]).

pub mod capability;
pub mod chart;
pub mod constants;
mod num;
pub mod rules;
pub mod view;

#[cfg(test)]
mod tests;

use serde::{Deserialize, Serialize};

pub use capability::{Capability, Interval, Normality, SpecLimits, capability};
pub use chart::{
    Band, Chart, ChartPoint, Count, Limits, SubgroupSize, individuals, np_chart, p_chart, xbar_r,
    xbar_s,
};
pub use rules::{Rule, RuleSet, Violation, check};

/// The kinds of control chart this module draws.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ChartKind {
    /// Individuals and moving range (one value per point).
    IMr,
    /// Subgroup means and ranges (constant subgroup size 2 to 25).
    XbarR,
    /// Subgroup means and standard deviations (any subgroup size ≥ 2, may vary).
    XbarS,
    /// Proportion defective, subgroup size may vary.
    P,
    /// Number defective, constant subgroup size.
    Np,
}

impl ChartKind {
    /// The name shown to people: "I-MR", "X̄-R", "X̄-S", "p", "np".
    pub fn label(self) -> &'static str {
        match self {
            ChartKind::IMr => "I-MR",
            ChartKind::XbarR => "X̄-R",
            ChartKind::XbarS => "X̄-S",
            ChartKind::P => "p",
            ChartKind::Np => "np",
        }
    }
}

/// Why a chart, rule check or capability study could not be computed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SpcError {
    /// The baseline or data set has too few points for the statistic.
    #[error("{what} needs at least {needed} values; got {got}")]
    TooFew {
        /// What was being computed, e.g. "an I-MR baseline".
        what: &'static str,
        /// The least number of values it needs.
        needed: usize,
        /// How many it got.
        got: usize,
    },
    /// A value is NaN or infinite.
    #[error("value {index} is {value}; every value must be a finite number")]
    NotFinite {
        /// Position of the value (in the flattened list for subgroups).
        index: usize,
        /// The offending value.
        value: f64,
    },
    /// A subgroup has a size the chart cannot use.
    #[error("{chart} needs subgroups of {min} to {max} values; subgroup {index} has {got}")]
    SubgroupSize {
        /// The chart's name, e.g. "X̄-R".
        chart: &'static str,
        /// Smallest size allowed.
        min: usize,
        /// Largest size allowed.
        max: usize,
        /// Index of the offending subgroup.
        index: usize,
        /// Its size.
        got: usize,
    },
    /// A subgroup is too small for a chart with no upper size limit (X̄-S).
    #[error("{chart} needs subgroups of at least {min} values; subgroup {index} has {got}")]
    SubgroupTooSmall {
        /// The chart's name, e.g. "X̄-S".
        chart: &'static str,
        /// Smallest size allowed.
        min: usize,
        /// Index of the offending subgroup.
        index: usize,
        /// Its size.
        got: usize,
    },
    /// A chart that needs one subgroup size got several.
    #[error("{chart} needs every subgroup the same size ({expected}); subgroup {index} has {got}")]
    UnequalSubgroups {
        /// The chart's name.
        chart: &'static str,
        /// The size of the first (or the frozen) subgroups.
        expected: usize,
        /// Index of the offending subgroup.
        index: usize,
        /// Its size.
        got: usize,
    },
    /// A count of defectives is impossible.
    #[error(
        "count {index} has {defective} defective of {inspected} inspected; \
         need 0 ≤ defective ≤ inspected and inspected ≥ 1"
    )]
    BadCount {
        /// Index of the count.
        index: usize,
        /// Defectives.
        defective: u64,
        /// Units inspected.
        inspected: u64,
    },
    /// No control-chart factor for this subgroup size.
    #[error("no control-chart factor {factor} for subgroup size {n}; it needs {range}")]
    NoFactor {
        /// The factor's name, e.g. "d2".
        factor: &'static str,
        /// The subgroup size asked for.
        n: usize,
        /// The sizes covered, e.g. "2 ≤ n ≤ 25".
        range: &'static str,
    },
    /// Frozen limits of one kind were applied to data of another shape.
    #[error("limits for a {kind} chart cannot be applied to {data}")]
    WrongData {
        /// The limits' chart label.
        kind: &'static str,
        /// What the data were, e.g. "individual values".
        data: &'static str,
    },
    /// Frozen limits hold a NaN, infinite or negative number (e.g. a hand-edited JSON).
    #[error("the limits are unusable: {0}")]
    BadLimits(&'static str),
    /// The spread needed is zero (constant data) or not a finite positive number.
    #[error("{0}")]
    NoSpread(&'static str),
    /// Specification limits are missing, not finite or in the wrong order.
    #[error("{0}")]
    BadSpec(&'static str),
    /// An intermediate result overflowed (values near ±1.8e308).
    #[error("the values are too large to compute {0} without overflow")]
    Overflow(&'static str),
}

/// Result type of this module.
pub type Result<T> = std::result::Result<T, SpcError>;
