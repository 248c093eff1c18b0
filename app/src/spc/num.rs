//! Small numeric helpers shared by the SPC modules: input checks, a mean that
//! is exact on constant data, the normal CDF, and serde for ±∞ in JSON.

use super::{Result, SpcError};

/// Rejects NaN and ±∞; `offset` is added to the reported index.
pub(crate) fn check_finite(values: &[f64], offset: usize) -> Result<()> {
    match values.iter().position(|v| !v.is_finite()) {
        Some(i) => Err(SpcError::NotFinite {
            index: offset + i,
            value: values[i],
        }),
        None => Ok(()),
    }
}

/// Fails with [`SpcError::Overflow`] unless `x` is finite.
pub(crate) fn finite(x: f64, what: &'static str) -> Result<f64> {
    if x.is_finite() {
        Ok(x)
    } else {
        Err(SpcError::Overflow(what))
    }
}

/// Mean as `x₀ + Σ(xᵢ − x₀)/n`: Σxᵢ/n up to rounding, but exactly `c` when
/// every value is `c` (so constant data sit exactly on the centre line).
/// 0 for an empty slice (callers check lengths first).
pub(crate) fn mean(values: &[f64]) -> f64 {
    let Some(&first) = values.first() else {
        return 0.0;
    };
    let shift: f64 = values.iter().map(|v| v - first).sum();
    first + shift / values.len() as f64
}

/// Sum of squared deviations from `centre`.
pub(crate) fn sum_sq(values: &[f64], centre: f64) -> f64 {
    values.iter().map(|v| (v - centre) * (v - centre)).sum()
}

/// Sample standard deviation (divisor n − 1); 0 below two values.
pub(crate) fn sample_sd(values: &[f64]) -> f64 {
    if values.len() < 2 {
        return 0.0;
    }
    (sum_sq(values, mean(values)) / (values.len() - 1) as f64).sqrt()
}

/// Range, max − min (0 for an empty slice).
pub(crate) fn range(values: &[f64]) -> f64 {
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    if values.is_empty() { 0.0 } else { max - min }
}

/// Standard normal CDF, Φ(x) = ½·erfc(−x/√2) (accurate in both tails).
pub(crate) fn normal_cdf(x: f64) -> f64 {
    0.5 * libm::erfc(-x / std::f64::consts::SQRT_2)
}

/// ln Φ(x), with Φ(x) floored at the smallest normal f64 so that ln never
/// sees 0 (Φ underflows below x ≈ −37.5).
pub(crate) fn ln_normal_cdf(x: f64) -> f64 {
    normal_cdf(x).max(f64::MIN_POSITIVE).ln()
}

/// z = (value − centre)/σ, with z = 0 whenever value == centre (also when
/// σ = 0), and ±∞ when σ = 0 and value ≠ centre.
pub(crate) fn z_score(value: f64, centre: f64, sigma: f64) -> f64 {
    let d = value - centre;
    if d == 0.0 { 0.0 } else { d / sigma }
}

/// Serde for an `f64` that may be ±∞ or NaN: JSON has no such numbers, so
/// they are written as the strings `"inf"`, `"-inf"` and `"nan"`; finite
/// values stay numbers.
pub(crate) mod ext_f64 {
    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes a finite value as a number, others as a string.
    pub(crate) fn serialize<S: Serializer>(x: &f64, s: S) -> Result<S::Ok, S::Error> {
        if x.is_finite() {
            s.serialize_f64(*x)
        } else if x.is_nan() {
            s.serialize_str("nan")
        } else if *x > 0.0 {
            s.serialize_str("inf")
        } else {
            s.serialize_str("-inf")
        }
    }

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Repr {
        Number(f64),
        Text(String),
    }

    /// Reads a number or one of `"inf"`, `"-inf"`, `"nan"`.
    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        match Repr::deserialize(d)? {
            Repr::Number(x) => Ok(x),
            Repr::Text(t) => match t.as_str() {
                "inf" => Ok(f64::INFINITY),
                "-inf" => Ok(f64::NEG_INFINITY),
                "nan" => Ok(f64::NAN),
                other => Err(serde::de::Error::custom(format!(
                    "expected a number, \"inf\", \"-inf\" or \"nan\", got {other:?}"
                ))),
            },
        }
    }
}
