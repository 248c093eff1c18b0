//! Control-chart factors for subgroup size n.
//!
//! d2 (mean of the relative range R/σ) and d3 (its standard deviation) are
//! the published 4-decimal values of ASTM E2587 / NIST/SEMATECH e-Handbook
//! §6.3.2 for n = 2..=25, hard-coded (the tests integrate d2 and d3
//! numerically to catch a typo). c4 (mean of s/σ) is computed exactly for any
//! n ≥ 2:
//!
//! c4(n) = √(2/(n−1)) · Γ(n/2) / Γ((n−1)/2)   (via ln Γ, so large n is fine)
//!
//! and the limit factors are derived from them:
//!
//! * A2 = 3/(d2·√n), D3 = max(0, 1 − 3·d3/d2), D4 = 1 + 3·d3/d2 (2 ≤ n ≤ 25)
//! * A3 = 3/(c4·√n), B3 = max(0, 1 − 3·√(1−c4²)/c4), B4 = 1 + 3·√(1−c4²)/c4 (any n ≥ 2)

use super::{Result, SpcError};

/// Smallest subgroup size with factors.
pub const MIN_N: usize = 2;
/// Largest subgroup size in the d2/d3 table (X̄-R charts).
pub const MAX_TABLE_N: usize = 25;

/// d2 for n = 2..=25 (ASTM E2587 / e-Handbook §6.3.2). d2(2) is exactly
/// 2/√π = 1.12838; the table keeps the published 1.1284.
#[allow(clippy::approx_constant)]
const D2: [f64; 24] = [
    1.1284, 1.6926, 2.0588, 2.3259, 2.5344, 2.7044, 2.8472, 2.9700, 3.0775, 3.1729, 3.2585, 3.3360,
    3.4068, 3.4718, 3.5320, 3.5879, 3.6401, 3.6890, 3.7350, 3.7783, 3.8194, 3.8583, 3.8953, 3.9306,
];

/// d3 for n = 2..=25 (same source).
const D3: [f64; 24] = [
    0.8525, 0.8884, 0.8798, 0.8641, 0.8480, 0.8332, 0.8198, 0.8078, 0.7971, 0.7873, 0.7785, 0.7704,
    0.7630, 0.7562, 0.7499, 0.7441, 0.7386, 0.7335, 0.7287, 0.7242, 0.7199, 0.7159, 0.7121, 0.7084,
];

fn table(factor: &'static str, values: &[f64; 24], n: usize) -> Result<f64> {
    if (MIN_N..=MAX_TABLE_N).contains(&n) {
        Ok(values[n - MIN_N])
    } else {
        Err(SpcError::NoFactor {
            factor,
            n,
            range: "2 ≤ n ≤ 25",
        })
    }
}

fn at_least_two(factor: &'static str, n: usize) -> Result<()> {
    if n >= MIN_N {
        Ok(())
    } else {
        Err(SpcError::NoFactor {
            factor,
            n,
            range: "n ≥ 2",
        })
    }
}

/// d2(n): E(R)/σ for a normal subgroup of n, from the table (2 ≤ n ≤ 25).
pub fn d2(n: usize) -> Result<f64> {
    table("d2", &D2, n)
}

/// d3(n): SD(R)/σ for a normal subgroup of n, from the table (2 ≤ n ≤ 25).
pub fn d3(n: usize) -> Result<f64> {
    table("d3", &D3, n)
}

/// c4 for a real subgroup size n ≥ 2 (used with a mean subgroup size):
/// √(2/(n−1)) · exp(ln Γ(n/2) − ln Γ((n−1)/2)).
pub(crate) fn c4_real(n: f64) -> f64 {
    (2.0 / (n - 1.0)).sqrt() * (libm::lgamma(n / 2.0) - libm::lgamma((n - 1.0) / 2.0)).exp()
}

/// c4(n) = E(s)/σ for a normal subgroup of n ≥ 2, computed exactly:
/// √(2/(n−1))·Γ(n/2)/Γ((n−1)/2).
pub fn c4(n: usize) -> Result<f64> {
    at_least_two("c4", n)?;
    Ok(c4_real(n as f64))
}

/// A2(n) = 3/(d2·√n): X̄ limits are x̄̄ ± A2·R̄.
pub fn a2(n: usize) -> Result<f64> {
    Ok(3.0 / (d2(n)? * (n as f64).sqrt()))
}

/// A3(n) = 3/(c4·√n): X̄ limits are x̄̄ ± A3·s̄.
pub fn a3(n: usize) -> Result<f64> {
    Ok(3.0 / (c4(n)? * (n as f64).sqrt()))
}

/// 3·√(1−c4²)/c4 for a real n, the S chart's half-width in units of s̄.
pub(crate) fn s_half_width(n: f64) -> f64 {
    let c = c4_real(n);
    3.0 * (1.0 - c * c).max(0.0).sqrt() / c
}

/// B3(n) = max(0, 1 − 3·√(1−c4²)/c4): S chart LCL = B3·s̄.
pub fn b3(n: usize) -> Result<f64> {
    at_least_two("B3", n)?;
    Ok((1.0 - s_half_width(n as f64)).max(0.0))
}

/// B4(n) = 1 + 3·√(1−c4²)/c4: S chart UCL = B4·s̄.
pub fn b4(n: usize) -> Result<f64> {
    at_least_two("B4", n)?;
    Ok(1.0 + s_half_width(n as f64))
}

/// D3(n) = max(0, 1 − 3·d3/d2): R (and MR) chart LCL = D3·R̄.
pub fn big_d3(n: usize) -> Result<f64> {
    Ok((1.0 - 3.0 * d3(n)? / d2(n)?).max(0.0))
}

/// D4(n) = 1 + 3·d3/d2: R (and MR) chart UCL = D4·R̄.
pub fn big_d4(n: usize) -> Result<f64> {
    Ok(1.0 + 3.0 * d3(n)? / d2(n)?)
}
