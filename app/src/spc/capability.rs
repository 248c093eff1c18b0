//! Process capability against specification limits, with a normality check.
//!
//! With μ the sample mean, σ_w the within-subgroup σ (from the chart:
//! MR̄/d2, R̄/d2, s̄/c4) and σ_o the overall sample standard deviation
//! (divisor n − 1):
//!
//! * Cp = (USL − LSL)/(6σ_w), Cpk = min(USL − μ, μ − LSL)/(3σ_w);
//! * Pp, Ppk the same with σ_o;
//! * with one limit missing, Cpk and Ppk are one-sided and Cp, Pp are `None`;
//! * 95 % interval for Cpk by Bissell (1990):
//!   Cpk ± 1.959963984540054·√(1/(9n) + Cpk²/(2(n−1)));
//! * Anderson–Darling A² against a normal with the estimated mean and σ_o,
//!   A*² = A²(1 + 0.75/n + 2.25/n²), and its p-value by the piecewise
//!   formulas of D'Agostino & Stephens (1986), *Goodness-of-Fit Techniques*,
//!   Table 4.9. Above A*² ≈ 153.47 the fitted exp-quadratic turns upwards, so
//!   p is taken as 0 there.

use serde::{Deserialize, Serialize};

use super::num::{check_finite, finite, ln_normal_cdf, mean, sample_sd};
use super::{Result, SpcError};

/// z for a two-sided 95 % interval, Φ⁻¹(0.975).
const Z_975: f64 = 1.959963984540054;

/// Where A*²'s p-value formula for A*² ≥ 0.6 reaches its minimum.
const AD_FORMULA_END: f64 = 5.709 / (2.0 * 0.0186);

/// Specification limits; at least one must be given.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SpecLimits {
    /// Lower specification limit.
    pub lsl: Option<f64>,
    /// Upper specification limit.
    pub usl: Option<f64>,
}

/// A confidence interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    /// Lower end.
    pub low: f64,
    /// Upper end.
    pub high: f64,
}

/// The Anderson–Darling test for normality.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Normality {
    /// A² with the mean and σ estimated from the data.
    pub a2: f64,
    /// A*² = A²(1 + 0.75/n + 2.25/n²).
    pub a2_star: f64,
    /// p-value (D'Agostino & Stephens 1986).
    pub p_value: f64,
    /// p ≥ 0.05: normality is not rejected.
    pub normal: bool,
}

/// A capability study.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Capability {
    /// Sample size n.
    pub n: usize,
    /// Sample mean μ.
    pub mean: f64,
    /// Within-subgroup σ used for Cp, Cpk.
    pub sigma_within: f64,
    /// Overall sample standard deviation used for Pp, Ppk.
    pub sigma_overall: f64,
    /// The specification limits.
    pub spec: SpecLimits,
    /// (USL − LSL)/(6σ_w); `None` with one limit.
    pub cp: Option<f64>,
    /// min(USL − μ, μ − LSL)/(3σ_w), or the one side given.
    pub cpk: f64,
    /// Bissell's 95 % interval for Cpk.
    pub cpk_ci: Interval,
    /// (USL − LSL)/(6σ_o); `None` with one limit.
    pub pp: Option<f64>,
    /// min(USL − μ, μ − LSL)/(3σ_o), or the one side given.
    pub ppk: f64,
    /// Anderson–Darling normality test.
    pub normality: Normality,
    /// A warning for people, e.g. when the data are not normal.
    pub note: Option<String>,
}

/// Capability of `values` (at least 2, finite, not all equal) against
/// `spec`, with `sigma_within` (finite, > 0) from the control chart.
pub fn capability(values: &[f64], sigma_within: f64, spec: SpecLimits) -> Result<Capability> {
    if values.len() < 2 {
        return Err(SpcError::TooFew {
            what: "a capability study",
            needed: 2,
            got: values.len(),
        });
    }
    check_finite(values, 0)?;
    check_spec(spec)?;
    if !(sigma_within.is_finite() && sigma_within > 0.0) {
        return Err(SpcError::NoSpread(
            "capability needs a within-subgroup σ that is a finite number above 0",
        ));
    }
    let mu = finite(mean(values), "the mean")?;
    let sigma_overall = finite(sample_sd(values), "the standard deviation")?;
    if sigma_overall <= 0.0 {
        return Err(SpcError::NoSpread(
            "capability needs spread: every value is the same",
        ));
    }
    let n = values.len();
    let (cp, cpk) = indices(mu, sigma_within, spec);
    let (pp, ppk) = indices(mu, sigma_overall, spec);
    let normality = anderson_darling(values, mu, sigma_overall);
    let note = (!normality.normal).then(|| {
        format!(
            "Data fail the Anderson–Darling normality test ({}): Cpk is not to be trusted.",
            format_p(normality.p_value)
        )
    });
    Ok(Capability {
        n,
        mean: mu,
        sigma_within,
        sigma_overall,
        spec,
        cp,
        cpk,
        cpk_ci: bissell(cpk, n),
        pp,
        ppk,
        normality,
        note,
    })
}

fn check_spec(spec: SpecLimits) -> Result<()> {
    let finite_or_none = |x: Option<f64>| x.is_none_or(f64::is_finite);
    if spec.lsl.is_none() && spec.usl.is_none() {
        return Err(SpcError::BadSpec(
            "capability needs a lower or an upper specification limit",
        ));
    }
    if !finite_or_none(spec.lsl) || !finite_or_none(spec.usl) {
        return Err(SpcError::BadSpec(
            "specification limits must be finite numbers",
        ));
    }
    if let (Some(lsl), Some(usl)) = (spec.lsl, spec.usl)
        && lsl >= usl
    {
        return Err(SpcError::BadSpec(
            "the lower specification limit must be below the upper one",
        ));
    }
    Ok(())
}

/// (Cp, Cpk) for one σ: Cp only with both limits.
fn indices(mu: f64, sigma: f64, spec: SpecLimits) -> (Option<f64>, f64) {
    let upper = spec.usl.map(|usl| (usl - mu) / (3.0 * sigma));
    let lower = spec.lsl.map(|lsl| (mu - lsl) / (3.0 * sigma));
    let spread = match (spec.lsl, spec.usl) {
        (Some(lsl), Some(usl)) => Some((usl - lsl) / (6.0 * sigma)),
        _ => None,
    };
    let k = match (lower, upper) {
        (Some(l), Some(u)) => l.min(u),
        (Some(one), None) | (None, Some(one)) => one,
        (None, None) => f64::NAN, // excluded by check_spec
    };
    (spread, k)
}

/// Bissell's approximate 95 % interval for Cpk from n values.
fn bissell(cpk: f64, n: usize) -> Interval {
    let n = n as f64;
    let half = Z_975 * (1.0 / (9.0 * n) + cpk * cpk / (2.0 * (n - 1.0))).sqrt();
    Interval {
        low: cpk - half,
        high: cpk + half,
    }
}

/// Anderson–Darling against N(mu, sd²):
/// A² = −n − (1/n)·Σ(2i−1)[ln Φ(wᵢ) + ln(1 − Φ(w₍ₙ₊₁₋ᵢ₎))], wᵢ sorted,
/// with 1 − Φ(w) computed as Φ(−w).
fn anderson_darling(values: &[f64], mu: f64, sd: f64) -> Normality {
    let mut w: Vec<f64> = values.iter().map(|x| (x - mu) / sd).collect();
    w.sort_by(f64::total_cmp);
    let n = w.len();
    let sum: f64 = (0..n)
        .map(|i| (2 * i + 1) as f64 * (ln_normal_cdf(w[i]) + ln_normal_cdf(-w[n - 1 - i])))
        .sum();
    let nf = n as f64;
    let a2 = -nf - sum / nf;
    let a2_star = a2 * (1.0 + 0.75 / nf + 2.25 / (nf * nf));
    let p_value = ad_p_value(a2_star);
    Normality {
        a2,
        a2_star,
        p_value,
        normal: p_value >= 0.05,
    }
}

/// D'Agostino & Stephens (1986) p-value for A*², clamped to [0, 1].
pub(crate) fn ad_p_value(a: f64) -> f64 {
    let p = if a >= AD_FORMULA_END {
        0.0
    } else if a >= 0.6 {
        (1.2937 - 5.709 * a + 0.0186 * a * a).exp()
    } else if a >= 0.34 {
        (0.9177 - 4.279 * a - 1.38 * a * a).exp()
    } else if a >= 0.2 {
        1.0 - (-8.318 + 42.796 * a - 59.938 * a * a).exp()
    } else {
        1.0 - (-13.436 + 101.14 * a - 223.73 * a * a).exp()
    };
    p.clamp(0.0, 1.0)
}

fn format_p(p: f64) -> String {
    if p < 0.001 {
        "p < 0.001".to_string()
    } else {
        format!("p = {p:.3}")
    }
}
