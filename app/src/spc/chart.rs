//! Control limits from a baseline, and charts from limits.
//!
//! A *baseline* is the set of points (or subgroups) the limits are computed
//! from, e.g. the first 25 subgroups of a run; the caller chooses it. The
//! result is a [`Limits`]: a small serialisable value that can be frozen
//! (stored as JSON) and later applied to any points with
//! [`Limits::chart_individuals`], [`Limits::chart_subgroups`] or
//! [`Limits::chart_counts`].
//!
//! Formulas (NIST/SEMATECH e-Handbook §6.3.2, Montgomery *Introduction to
//! Statistical Quality Control* ch. 6–7):
//!
//! * I-MR: centre x̄; MR̄ = mean |xᵢ − xᵢ₋₁|; σ̂ = MR̄/d2(2); limits
//!   x̄ ± 3σ̂; MR chart D3(2)·MR̄ (= 0) to D4(2)·MR̄.
//! * X̄-R (constant n, 2 ≤ n ≤ 25): centre x̄̄ (mean of subgroup means);
//!   σ̂ = R̄/d2(n); limits x̄̄ ± A2·R̄ (= x̄̄ ± 3σ̂/√n); R chart D3·R̄ to D4·R̄.
//! * X̄-S (any n ≥ 2, may vary): centre x̄̄ = Σnᵢx̄ᵢ/Σnᵢ (the mean of all
//!   values; the mean of the means when n is constant). s̄ is the plain mean
//!   of the sᵢ when every n is the same, and the pooled
//!   √(Σ(nᵢ−1)sᵢ²/Σ(nᵢ−1)) when n varies. The reported σ̂ = s̄/c4(n̄), with n̄
//!   the mean subgroup size and c4 evaluated by the Γ formula at that real n̄
//!   (the choice the brief asked for; for constant n it is the usual
//!   s̄/c4(n)). Per-point limits use each subgroup's own size:
//!   x̄̄ ± A3(nᵢ)·s̄, S chart B3(nᵢ)·s̄ to B4(nᵢ)·s̄.
//! * p: p̄ = Σd/Σn; per point p̄ ± 3√(p̄(1−p̄)/nᵢ), clipped to [0, 1].
//! * np (constant n): n·p̄ ± 3√(n·p̄(1−p̄)), LCL clipped at 0 (n·p̄ is
//!   computed as Σd/k, the same number, exact for constant counts).
//!
//! Each point's σ is the standard deviation of its plotted value (σ̂/√nᵢ for
//! X̄, s̄/(c4(nᵢ)√nᵢ) for X̄-S, √(p̄(1−p̄)/nᵢ) for p, …), so that
//! UCL = centre + 3σ before any clipping, and z = (value − centre)/σ.

use serde::{Deserialize, Serialize};

use super::constants::{MAX_TABLE_N, MIN_N, big_d3, big_d4, c4, c4_real, d2, d3, s_half_width};
use super::num::{check_finite, finite, mean, range, sample_sd, z_score};
use super::rules::{RuleSet, Violation, check};
use super::{ChartKind, Result, SpcError};

/// A count for an attributes chart: defective units out of units inspected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Count {
    /// Defective (non-conforming) units.
    pub defective: u64,
    /// Units inspected (the subgroup size, ≥ 1).
    pub inspected: u64,
}

/// The subgroup sizes the limits were computed from.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum SubgroupSize {
    /// One value per point (I-MR).
    One,
    /// Every subgroup had this size (X̄-R, np: new points must have it too).
    Constant(usize),
    /// Sizes varied (X̄-S, p): per-point limits use each point's own size.
    Variable {
        /// Mean subgroup size n̄.
        mean: f64,
        /// Smallest size in the baseline.
        min: usize,
        /// Largest size in the baseline.
        max: usize,
    },
}

/// Frozen control limits: everything needed to compute any point's centre,
/// σ, LCL and UCL later, for new points too.
///
/// * `centre`: x̄ (I-MR), x̄̄ (X̄-R, X̄-S), p̄ (p) or n·p̄ (np).
/// * `sigma`: σ̂ of a single value for the variables charts (the within
///   σ used by capability), √(p̄(1−p̄)) for p (one unit), √(n·p̄(1−p̄)) for np.
/// * `spread_centre`: MR̄, R̄ or s̄ (the second chart's centre); `None` for p, np.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Limits {
    /// Which chart these limits are for.
    pub kind: ChartKind,
    /// Centre line of the main chart.
    pub centre: f64,
    /// σ̂ (see the type's doc for what it is per kind).
    pub sigma: f64,
    /// Centre of the dispersion chart (MR̄, R̄, s̄), if the kind has one.
    pub spread_centre: Option<f64>,
    /// The baseline's subgroup sizes.
    pub subgroup_size: SubgroupSize,
    /// How many points or subgroups the baseline had.
    pub baseline_len: usize,
}

/// One point's centre, σ and limits (a horizontal slice of a chart).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Band {
    /// Centre line.
    pub centre: f64,
    /// Standard deviation of the plotted value.
    pub sigma: f64,
    /// Lower control limit (clipped where the statistic cannot go).
    pub lcl: f64,
    /// Upper control limit (clipped to 1 for p).
    pub ucl: f64,
}

/// One plotted point with its own limits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChartPoint {
    /// Index of the point (of the value, subgroup or count) in the input.
    pub index: usize,
    /// Subgroup size of the point (1 for individuals).
    pub n: usize,
    /// Plotted value: xᵢ, x̄ᵢ, MRᵢ, Rᵢ, sᵢ, pᵢ or dᵢ.
    pub value: f64,
    /// Centre line at this point.
    pub centre: f64,
    /// Lower control limit at this point.
    pub lcl: f64,
    /// Upper control limit at this point.
    pub ucl: f64,
    /// σ of the plotted value at this point.
    pub sigma: f64,
    /// z = (value − centre)/σ; 0 when value == centre (even with σ = 0), ±∞
    /// when σ = 0 and value ≠ centre. In JSON ±∞ are the strings "inf"/"-inf".
    #[serde(with = "super::num::ext_f64")]
    pub z: f64,
}

impl ChartPoint {
    fn new(index: usize, n: usize, value: f64, band: Band) -> Self {
        ChartPoint {
            index,
            n,
            value,
            centre: band.centre,
            lcl: band.lcl,
            ucl: band.ucl,
            sigma: band.sigma,
            z: z_score(value, band.centre, band.sigma),
        }
    }
}

/// Limits applied to every point: the main chart and, for the variables
/// charts, the dispersion chart (MR, R or S).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Chart {
    /// The limits used.
    pub limits: Limits,
    /// The main chart: individuals, subgroup means, proportions or counts.
    pub points: Vec<ChartPoint>,
    /// The dispersion chart (MR from index 1, R or S); empty for p and np.
    pub spread: Vec<ChartPoint>,
}

impl Chart {
    /// The main chart's z values, in order (what the run rules read).
    pub fn z(&self) -> Vec<f64> {
        self.points.iter().map(|p| p.z).collect()
    }

    /// The run-rule violations of the main chart (see [`check`]).
    pub fn violations(&self, rules: &RuleSet) -> Vec<Violation> {
        check(&self.z(), rules)
    }
}

// ---------------------------------------------------------------- baselines

/// I-MR limits from a baseline of individual values (at least 2).
///
/// Centre x̄; MR̄ = mean of |xᵢ − xᵢ₋₁|; σ̂ = MR̄/d2(2); limits x̄ ± 3σ̂;
/// MR chart from D3(2)·MR̄ = 0 to D4(2)·MR̄.
pub fn individuals(baseline: &[f64]) -> Result<Limits> {
    if baseline.len() < 2 {
        return Err(SpcError::TooFew {
            what: "an I-MR baseline",
            needed: 2,
            got: baseline.len(),
        });
    }
    check_finite(baseline, 0)?;
    let ranges = moving_ranges(baseline);
    let mr_bar = finite(mean(&ranges), "the mean moving range")?;
    Ok(Limits {
        kind: ChartKind::IMr,
        centre: finite(mean(baseline), "the mean")?,
        sigma: mr_bar / d2(2)?,
        spread_centre: Some(mr_bar),
        subgroup_size: SubgroupSize::One,
        baseline_len: baseline.len(),
    })
}

/// X̄-R limits from a baseline of subgroups, all of one size n with
/// 2 ≤ n ≤ 25 (at least one subgroup).
///
/// Centre x̄̄ = mean of the subgroup means; R̄ = mean range; σ̂ = R̄/d2(n).
pub fn xbar_r<S: AsRef<[f64]>>(baseline: &[S]) -> Result<Limits> {
    let n = constant_size(baseline, "X̄-R", None)?;
    let means = subgroup_means(baseline)?;
    let ranges: Vec<f64> = baseline.iter().map(|s| range(s.as_ref())).collect();
    let r_bar = finite(mean(&ranges), "the mean range")?;
    Ok(Limits {
        kind: ChartKind::XbarR,
        centre: finite(mean(&means), "the grand mean")?,
        sigma: r_bar / d2(n)?,
        spread_centre: Some(r_bar),
        subgroup_size: SubgroupSize::Constant(n),
        baseline_len: baseline.len(),
    })
}

/// X̄-S limits from a baseline of subgroups of at least 2 values each (sizes
/// may differ; at least one subgroup).
///
/// Centre x̄̄ = Σnᵢx̄ᵢ/Σnᵢ; s̄ = mean of sᵢ for constant n, pooled
/// √(Σ(nᵢ−1)sᵢ²/Σ(nᵢ−1)) for variable n; σ̂ = s̄/c4(n̄) (n̄ = mean size).
pub fn xbar_s<S: AsRef<[f64]>>(baseline: &[S]) -> Result<Limits> {
    let sizes = sizes_at_least_two(baseline, "X̄-S")?;
    let means = subgroup_means(baseline)?;
    let sds: Vec<f64> = baseline.iter().map(|s| sample_sd(s.as_ref())).collect();
    let total: usize = sizes.iter().sum();
    let (min, max) = min_max(&sizes);
    let centre = weighted_mean(&means, &sizes);
    let n_bar = total as f64 / sizes.len() as f64;
    let (s_bar, subgroup_size) = if min == max {
        (mean(&sds), SubgroupSize::Constant(min))
    } else {
        let dof = (total - sizes.len()) as f64;
        let weighted: f64 = sds
            .iter()
            .zip(&sizes)
            .map(|(s, &n)| (n - 1) as f64 * s * s)
            .sum();
        let size = SubgroupSize::Variable {
            mean: n_bar,
            min,
            max,
        };
        ((weighted / dof).sqrt(), size)
    };
    let s_bar = finite(s_bar, "the mean standard deviation")?;
    Ok(Limits {
        kind: ChartKind::XbarS,
        centre: finite(centre, "the grand mean")?,
        sigma: s_bar / c4_real(n_bar),
        spread_centre: Some(s_bar),
        subgroup_size,
        baseline_len: baseline.len(),
    })
}

/// p-chart limits from a baseline of counts (sizes may differ): p̄ = Σd/Σn.
pub fn p_chart(baseline: &[Count]) -> Result<Limits> {
    let (p_bar, size) = pooled_proportion(baseline)?;
    Ok(Limits {
        kind: ChartKind::P,
        centre: p_bar,
        sigma: (p_bar * (1.0 - p_bar)).sqrt(),
        spread_centre: None,
        subgroup_size: size,
        baseline_len: baseline.len(),
    })
}

/// np-chart limits from a baseline of counts that all have the same number
/// inspected n: centre n·p̄, σ = √(n·p̄(1−p̄)).
pub fn np_chart(baseline: &[Count]) -> Result<Limits> {
    let (p_bar, size) = pooled_proportion(baseline)?;
    let SubgroupSize::Constant(_) = size else {
        let expected = baseline.first().map_or(0, |c| c.inspected);
        let (index, got) = baseline
            .iter()
            .enumerate()
            .find(|(_, c)| c.inspected != expected)
            .map_or((0, 0), |(i, c)| (i, c.inspected));
        return Err(SpcError::UnequalSubgroups {
            chart: "np",
            expected: usize::try_from(expected).unwrap_or(usize::MAX),
            index,
            got: usize::try_from(got).unwrap_or(usize::MAX),
        });
    };
    // n·p̄ = Σd/k for constant n; summed so that constant counts give exactly d.
    let d: u128 = baseline.iter().map(|c| u128::from(c.defective)).sum();
    let centre = d as f64 / baseline.len() as f64;
    Ok(Limits {
        kind: ChartKind::Np,
        centre,
        sigma: (centre * (1.0 - p_bar)).sqrt(),
        spread_centre: None,
        subgroup_size: size,
        baseline_len: baseline.len(),
    })
}

// ------------------------------------------------------------ applying limits

impl Limits {
    /// The main chart's band for a point of subgroup size `n` (1 for
    /// individuals; the number inspected for p and np).
    pub fn band(&self, n: usize) -> Result<Band> {
        self.validate()?;
        let nf = n as f64;
        let (sigma, lo, hi) = match self.kind {
            ChartKind::IMr => (self.sigma, f64::NEG_INFINITY, f64::INFINITY),
            ChartKind::XbarR => {
                self.expect_size(n, "X̄-R")?;
                (self.sigma / nf.sqrt(), f64::NEG_INFINITY, f64::INFINITY)
            }
            ChartKind::XbarS => {
                at_least(n, 2, "X̄-S")?;
                let s_bar = self.spread()?;
                (
                    s_bar / (c4(n)? * nf.sqrt()),
                    f64::NEG_INFINITY,
                    f64::INFINITY,
                )
            }
            ChartKind::P => {
                at_least(n, 1, "p")?;
                (self.sigma / nf.sqrt(), 0.0, 1.0)
            }
            ChartKind::Np => {
                self.expect_size(n, "np")?;
                (self.sigma, 0.0, f64::INFINITY)
            }
        };
        Ok(Band {
            centre: self.centre,
            sigma,
            lcl: (self.centre - 3.0 * sigma).max(lo),
            ucl: (self.centre + 3.0 * sigma).min(hi),
        })
    }

    /// The dispersion chart's band (MR, R or S) for subgroup size `n`;
    /// `None` for p and np. MR and R: R̄·d3/d2 as σ, D3·R̄ to D4·R̄; S: σ =
    /// s̄·√(1−c4²)/c4, B3(n)·s̄ to B4(n)·s̄.
    pub fn spread_band(&self, n: usize) -> Result<Option<Band>> {
        self.validate()?;
        let band = match self.kind {
            ChartKind::IMr => Some(range_band(self.spread()?, 2)?),
            ChartKind::XbarR => {
                self.expect_size(n, "X̄-R")?;
                Some(range_band(self.spread()?, n)?)
            }
            ChartKind::XbarS => {
                at_least(n, 2, "X̄-S")?;
                let s_bar = self.spread()?;
                let half = s_half_width(n as f64) * s_bar;
                Some(Band {
                    centre: s_bar,
                    sigma: half / 3.0,
                    lcl: (s_bar - half).max(0.0),
                    ucl: s_bar + half,
                })
            }
            ChartKind::P | ChartKind::Np => None,
        };
        Ok(band)
    }

    /// Applies I-MR limits to individual values: one main point per value,
    /// one MR point per value from index 1.
    pub fn chart_individuals(&self, values: &[f64]) -> Result<Chart> {
        if self.kind != ChartKind::IMr {
            return Err(self.wrong("individual values"));
        }
        check_finite(values, 0)?;
        let band = self.band(1)?;
        let points = values
            .iter()
            .enumerate()
            .map(|(i, &x)| ChartPoint::new(i, 1, x, band))
            .collect();
        let mr = self.spread_band(1)?.ok_or(SpcError::BadLimits("no MR̄"))?;
        let spread = moving_ranges(values)
            .into_iter()
            .enumerate()
            .map(|(i, r)| ChartPoint::new(i + 1, 2, r, mr))
            .collect();
        self.finish(points, spread)
    }

    /// Applies X̄-R or X̄-S limits to subgroups: the subgroup means, and
    /// their ranges (X̄-R) or standard deviations (X̄-S).
    pub fn chart_subgroups<S: AsRef<[f64]>>(&self, subgroups: &[S]) -> Result<Chart> {
        match self.kind {
            ChartKind::XbarR => {
                if let SubgroupSize::Constant(n) = self.subgroup_size {
                    constant_size(subgroups, "X̄-R", Some(n))?;
                }
            }
            ChartKind::XbarS => {
                sizes_at_least_two(subgroups, "X̄-S")?;
            }
            _ => return Err(self.wrong("subgroups")),
        }
        let means = subgroup_means(subgroups)?;
        let mut points = Vec::with_capacity(subgroups.len());
        let mut spread = Vec::with_capacity(subgroups.len());
        for (i, (s, &m)) in subgroups.iter().zip(&means).enumerate() {
            let s = s.as_ref();
            let n = s.len();
            points.push(ChartPoint::new(i, n, m, self.band(n)?));
            let dispersion = if self.kind == ChartKind::XbarR {
                range(s)
            } else {
                sample_sd(s)
            };
            let band = self
                .spread_band(n)?
                .ok_or(SpcError::BadLimits("no dispersion centre"))?;
            spread.push(ChartPoint::new(i, n, dispersion, band));
        }
        self.finish(points, spread)
    }

    /// Applies p or np limits to counts: pᵢ = dᵢ/nᵢ (p) or dᵢ (np).
    pub fn chart_counts(&self, counts: &[Count]) -> Result<Chart> {
        if !matches!(self.kind, ChartKind::P | ChartKind::Np) {
            return Err(self.wrong("counts"));
        }
        check_counts(counts)?;
        let mut points = Vec::with_capacity(counts.len());
        for (i, c) in counts.iter().enumerate() {
            let n = usize::try_from(c.inspected).unwrap_or(usize::MAX);
            let value = if self.kind == ChartKind::P {
                c.defective as f64 / c.inspected as f64
            } else {
                c.defective as f64
            };
            points.push(ChartPoint::new(i, n, value, self.band(n)?));
        }
        self.finish(points, Vec::new())
    }

    fn finish(&self, points: Vec<ChartPoint>, spread: Vec<ChartPoint>) -> Result<Chart> {
        let overflow = points
            .iter()
            .chain(&spread)
            .any(|p| !p.value.is_finite() || !p.sigma.is_finite());
        if overflow {
            return Err(SpcError::Overflow("the plotted values"));
        }
        Ok(Chart {
            limits: self.clone(),
            points,
            spread,
        })
    }

    fn wrong(&self, data: &'static str) -> SpcError {
        SpcError::WrongData {
            kind: self.kind.label(),
            data,
        }
    }

    fn spread(&self) -> Result<f64> {
        self.spread_centre.ok_or(SpcError::BadLimits(
            "the dispersion centre (MR̄, R̄ or s̄) is missing",
        ))
    }

    fn expect_size(&self, n: usize, chart: &'static str) -> Result<()> {
        match self.subgroup_size {
            SubgroupSize::Constant(expected) if expected != n => Err(SpcError::UnequalSubgroups {
                chart,
                expected,
                index: 0,
                got: n,
            }),
            SubgroupSize::Constant(_) => Ok(()),
            _ => Err(SpcError::BadLimits(
                "this chart needs a constant subgroup size",
            )),
        }
    }

    /// Checks numbers that may come from stored JSON.
    fn validate(&self) -> Result<()> {
        if !self.centre.is_finite() {
            return Err(SpcError::BadLimits("the centre is not a finite number"));
        }
        if !(self.sigma.is_finite() && self.sigma >= 0.0) {
            return Err(SpcError::BadLimits("σ is not a finite number ≥ 0"));
        }
        if let Some(s) = self.spread_centre
            && !(s.is_finite() && s >= 0.0)
        {
            return Err(SpcError::BadLimits(
                "the dispersion centre is not a finite number ≥ 0",
            ));
        }
        if self.kind == ChartKind::P && !(0.0..=1.0).contains(&self.centre) {
            return Err(SpcError::BadLimits("p̄ is outside [0, 1]"));
        }
        Ok(())
    }
}

// ----------------------------------------------------------------- helpers

/// |xᵢ − xᵢ₋₁| for i ≥ 1.
fn moving_ranges(values: &[f64]) -> Vec<f64> {
    values.windows(2).map(|w| (w[1] - w[0]).abs()).collect()
}

/// Range-chart band for R̄ (or MR̄ with n = 2): D3·R̄ to D4·R̄, σ = R̄·d3/d2.
fn range_band(r_bar: f64, n: usize) -> Result<Band> {
    Ok(Band {
        centre: r_bar,
        sigma: r_bar * d3(n)? / d2(n)?,
        lcl: big_d3(n)? * r_bar,
        ucl: big_d4(n)? * r_bar,
    })
}

fn at_least(n: usize, min: usize, chart: &'static str) -> Result<()> {
    if n >= min {
        Ok(())
    } else {
        Err(SpcError::SubgroupTooSmall {
            chart,
            min,
            index: 0,
            got: n,
        })
    }
}

fn non_empty<T>(items: &[T], what: &'static str) -> Result<()> {
    if items.is_empty() {
        Err(SpcError::TooFew {
            what,
            needed: 1,
            got: 0,
        })
    } else {
        Ok(())
    }
}

/// Checks X̄-R subgroups: 2 ≤ n ≤ 25, all the same (or all `expected`).
fn constant_size<S: AsRef<[f64]>>(
    subgroups: &[S],
    chart: &'static str,
    expected: Option<usize>,
) -> Result<usize> {
    non_empty(subgroups, "an X̄-R chart (subgroups)")?;
    let mut first = expected;
    for (index, s) in subgroups.iter().enumerate() {
        let got = s.as_ref().len();
        if !(MIN_N..=MAX_TABLE_N).contains(&got) {
            return Err(SpcError::SubgroupSize {
                chart,
                min: MIN_N,
                max: MAX_TABLE_N,
                index,
                got,
            });
        }
        match first {
            None => first = Some(got),
            Some(n) if n != got => {
                return Err(SpcError::UnequalSubgroups {
                    chart,
                    expected: n,
                    index,
                    got,
                });
            }
            Some(_) => {}
        }
    }
    Ok(first.unwrap_or(0))
}

/// Checks X̄-S subgroups (each of at least 2) and returns their sizes.
fn sizes_at_least_two<S: AsRef<[f64]>>(subgroups: &[S], chart: &'static str) -> Result<Vec<usize>> {
    non_empty(subgroups, "an X̄-S chart (subgroups)")?;
    subgroups
        .iter()
        .enumerate()
        .map(|(index, s)| {
            let got = s.as_ref().len();
            if got < MIN_N {
                Err(SpcError::SubgroupTooSmall {
                    chart,
                    min: MIN_N,
                    index,
                    got,
                })
            } else {
                Ok(got)
            }
        })
        .collect()
}

/// Subgroup means, after checking every value is finite (indices flattened).
fn subgroup_means<S: AsRef<[f64]>>(subgroups: &[S]) -> Result<Vec<f64>> {
    let mut offset = 0;
    let mut means = Vec::with_capacity(subgroups.len());
    for s in subgroups {
        let s = s.as_ref();
        check_finite(s, offset)?;
        offset += s.len();
        means.push(finite(mean(s), "a subgroup mean")?);
    }
    Ok(means)
}

/// Σnᵢx̄ᵢ/Σnᵢ, written as x̄₀ + Σnᵢ(x̄ᵢ − x̄₀)/Σnᵢ so equal means give exactly that mean.
fn weighted_mean(means: &[f64], sizes: &[usize]) -> f64 {
    let Some(&first) = means.first() else {
        return 0.0;
    };
    let total: f64 = sizes.iter().map(|&n| n as f64).sum();
    let shift: f64 = means
        .iter()
        .zip(sizes)
        .map(|(m, &n)| n as f64 * (m - first))
        .sum();
    first + shift / total
}

fn min_max(sizes: &[usize]) -> (usize, usize) {
    let min = sizes.iter().copied().min().unwrap_or(0);
    let max = sizes.iter().copied().max().unwrap_or(0);
    (min, max)
}

fn check_counts(counts: &[Count]) -> Result<()> {
    match counts
        .iter()
        .position(|c| c.inspected == 0 || c.defective > c.inspected)
    {
        Some(index) => Err(SpcError::BadCount {
            index,
            defective: counts[index].defective,
            inspected: counts[index].inspected,
        }),
        None => Ok(()),
    }
}

/// p̄ = Σd/Σn (summed exactly in u128) and the sizes seen.
fn pooled_proportion(counts: &[Count]) -> Result<(f64, SubgroupSize)> {
    non_empty(counts, "a p or np baseline (counts)")?;
    check_counts(counts)?;
    let d: u128 = counts.iter().map(|c| u128::from(c.defective)).sum();
    let n: u128 = counts.iter().map(|c| u128::from(c.inspected)).sum();
    let sizes: Vec<usize> = counts
        .iter()
        .map(|c| usize::try_from(c.inspected).unwrap_or(usize::MAX))
        .collect();
    let (min, max) = min_max(&sizes);
    let size = if min == max {
        SubgroupSize::Constant(min)
    } else {
        SubgroupSize::Variable {
            mean: n as f64 / counts.len() as f64,
            min,
            max,
        }
    };
    Ok((d as f64 / n as f64, size))
}
