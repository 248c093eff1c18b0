//! Simulated cells: every IPQC/FQC/OQC measurement of a cell and whether it fails the
//! short-term test, produced by a latent-defect process driven by the machine
//! conditions under which the cell was built. Pure and seeded: the same seed, lots
//! and conditions give the same cells.
//!
//! # The process model
//!
//! Conditions are taken relative to the nominal line (CAS_01 at 1000 RPM, 0.12 m/s²,
//! 45 °C; FORM_01 at 38 °C and 3.5 A; 22 °C ambient). Every cell carries hidden
//! ground truth ([`Latent`]); the measurements are noisy views of it, and the
//! short-term test outcome is drawn from a logistic of it, so the label is learnable
//! from the measurements but never determined by them.
//!
//! **Lots.** Each lot ([`LotProfile`]) has its own slurry batch (median viscosity),
//! coating-weight offset, particle contamination level (log-normal; about one lot in
//! twenty is dirty), baking moisture (about one in twenty is wet), electrolyte-fill
//! offset, OCV level, aging time, separator strength and an unobserved risk shift.
//! Slurry far from its target viscosity forms agglomerates: the particle rate grows
//! with the square of the viscosity deviation.
//!
//! **Assembly speed and vibration → misalignment and particles.** Misalignment of
//! the electrode stack is exponential with a mean of `0.07 mm · exp(0.22·Δs +
//! 0.20·Δv)` (Δs per 100 RPM above 1000, Δv per 0.02 m/s² above 0.12); the measured
//! `alignment_overhang` is the nominal 1.0 mm minus it, plus noise. The number of
//! particles/burrs in a cell is Poisson with a rate of the lot's contamination times
//! `exp(0.25·Δs + 0.22·Δv)`, times the viscosity term above and a weld-spatter term
//! for oversized weld beads. An anode edge with little overhang (below ~0.72 mm, a
//! smooth threshold) is *exposed*.
//!
//! **Separator.** A hot assembly station softens the separator under winding
//! tension: shorts grow by `exp(0.25·ΔT)` (ΔT per 3 °C above 45 °C), divided by the
//! lot's separator strength.
//!
//! **Micro-short → K-value, leakage, OCV.** The short present during aging (particle
//! load, a little edge contact) raises the true self-discharge (`k ≈ 0.40 + 0.22·g`
//! mV/day), the hi-pot leakage before filling (`≈ 1.6 + 0.7·load` µA, log-normal
//! noise) and pulls the OCV below the lot level by the charge lost during aging (and
//! further at the OQC re-check after storage). The measured K-value is noisier the
//! shorter the aging. Most shorted cells stay inside the K-value and leakage limits.
//! The short-term test's cycling makes a particle on an exposed edge four times as
//! dangerous as elsewhere: that interaction (leakage × low overhang) is seen by no
//! single measurement.
//!
//! **Formation and moisture → SEI damage.** A hot or high-current formation, moisture
//! after baking, a short electrolyte fill and a poor filling vacuum damage the SEI
//! (`s`, with quadratic terms above nominal and a moisture × temperature
//! interaction). Damage lowers `first_cycle_efficiency` (≈ 0.9 % per unit) and
//! `capacity`, and raises `acir` (≈ 1 mΩ per unit), cell thickness and a little
//! self-discharge. Undersized weld beads raise `acir`.
//!
//! **The short-term test.** A cell fails with probability `σ(−5.1 + 2.4·max(g − 0.8,
//! 0) + 0.3·s + 0.7·max(s, 0)² + 0.5·g·max(s, 0) + U-shaped weld-bead and
//! electrolyte-fill terms + lot shift + ε)`, where `g` is the short severity under
//! cycling and ε ~ N(0, 1.2²) is unobserved (integrated out of
//! [`Latent::probability`]). Measured with 6000 cells over ten lots: about 8.5 % fail
//! at nominal conditions, about 30 % at 1200 RPM with 0.17 m/s² vibration and about
//! 4 % at 800 RPM (0.08 m/s²); a hot, high-current formation (41 °C, 3.8 A) doubles
//! the rate. The default limits catch only about a tenth of the failing cells.
//!
//! **Datasets.** [`dataset`] runs production orders (`98765` HC 2000 cells, `98766`
//! SC 1500 cells, then generated orders) split into lots of 400–1500 cells, at about
//! 50 cells a minute from 2026-06-01 06:00 UTC in two shifts (06:00–22:00) with
//! handovers, lot changeovers and short stops. Setpoints change between lots, bearing
//! wear slowly raises vibration until maintenance, the station temperatures drift,
//! the ambient follows the day, and occasional excursions (a loose fixture) raise
//! vibration and temperature for a few hundred cells.

use std::io::Write;
use std::path::Path;

use anyhow::Context as _;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::quality::{CATALOGUE, CellRecord};

/// Machine conditions while a cell was built (the values of the key tags).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Conditions {
    /// CAS_01 speed (RPM).
    pub cas_speed: f64,
    /// CAS_01 vibration (m/s²).
    pub cas_vibration: f64,
    /// CAS_01 temperature (°C).
    pub cas_temperature: f64,
    /// FORM_01 temperature (°C).
    pub form_temperature: f64,
    /// FORM_01 current (A).
    pub form_current: f64,
    /// Ambient temperature in the dry room (°C).
    pub ambient_temperature: f64,
}

impl Conditions {
    /// The nominal line.
    pub const fn nominal() -> Self {
        Self {
            cas_speed: 1000.0,
            cas_vibration: 0.12,
            cas_temperature: 45.0,
            form_temperature: 38.0,
            form_current: 3.5,
            ambient_temperature: 22.0,
        }
    }

    /// Non-finite values replaced by nominal ones and every value kept in a physical
    /// range (a stopped machine or a garbled reading must not break the process).
    pub fn sanitized(&self) -> Self {
        let n = Self::nominal();
        let f = |v: f64, nominal: f64, lo: f64, hi: f64| {
            if v.is_finite() {
                v.clamp(lo, hi)
            } else {
                nominal
            }
        };
        Self {
            cas_speed: f(self.cas_speed, n.cas_speed, 0.0, 2000.0),
            cas_vibration: f(self.cas_vibration, n.cas_vibration, 0.0, 1.0),
            cas_temperature: f(self.cas_temperature, n.cas_temperature, 0.0, 80.0),
            form_temperature: f(self.form_temperature, n.form_temperature, 0.0, 70.0),
            form_current: f(self.form_current, n.form_current, 0.0, 6.0),
            ambient_temperature: f(self.ambient_temperature, n.ambient_temperature, 5.0, 40.0),
        }
    }
}

impl Default for Conditions {
    fn default() -> Self {
        Self::nominal()
    }
}

/// A lot: its identity and the material and process effects its cells share.
#[derive(Debug, Clone, PartialEq)]
pub struct LotProfile {
    /// Lot id.
    pub id: String,
    /// Production order.
    pub order: String,
    /// Product id (`HC`, `SC`).
    pub product: String,
    /// Median slurry viscosity of the batch (mPa·s).
    pub viscosity: f64,
    /// Coating-weight offset of the electrode roll (mg/cm²).
    pub coating_offset: f64,
    /// Expected particles/burrs per cell at nominal conditions.
    pub contamination: f64,
    /// Median moisture after baking (ppm).
    pub moisture: f64,
    /// Electrolyte-fill offset (g).
    pub electrolyte_offset: f64,
    /// Filling chamber pressure offset (kPa).
    pub pressure_offset: f64,
    /// Capacity offset of the active material (Ah).
    pub capacity_offset: f64,
    /// First-cycle efficiency offset (%).
    pub fce_offset: f64,
    /// ACIR offset (mΩ).
    pub acir_offset: f64,
    /// OCV of a healthy cell of this lot after aging (V).
    pub ocv_base: f64,
    /// Self-discharge offset (mV/day).
    pub k_offset: f64,
    /// Aging time (h).
    pub aging_h: f64,
    /// Days between the end of aging and the OQC re-check.
    pub storage_days: f64,
    /// Separator strength (1 nominal; lower is weaker). Hidden.
    pub separator: f64,
    /// Shift of the defect log-odds not seen by any measurement. Hidden.
    pub hidden_risk: f64,
}

impl LotProfile {
    /// The nominal lot: no material effects at all (for tests and demos).
    pub fn nominal(id: &str, order: &str, product: &str) -> Self {
        Self {
            id: id.to_owned(),
            order: order.to_owned(),
            product: product.to_owned(),
            viscosity: 5200.0,
            coating_offset: 0.0,
            contamination: 0.22,
            moisture: 140.0,
            electrolyte_offset: 0.0,
            pressure_offset: 0.0,
            capacity_offset: 0.0,
            fce_offset: 0.0,
            acir_offset: 0.0,
            ocv_base: 3.652,
            k_offset: 0.0,
            aging_h: 96.0,
            storage_days: 10.0,
            separator: 1.0,
            hidden_risk: 0.0,
        }
    }

    /// A lot with material effects drawn from `rng`.
    pub fn draw(id: &str, order: &str, product: &str, rng: &mut impl Rng) -> Self {
        let dirty = if rng.random_bool(0.05) { 2.5 } else { 1.0 };
        let wet = if rng.random_bool(0.05) { 1.5 } else { 1.0 };
        let aging_h = [96.0, 96.0, 96.0, 120.0, 144.0, 72.0][rng.random_range(0..6)];
        Self {
            viscosity: (5200.0 + 600.0 * normal(rng)).clamp(3600.0, 7200.0),
            coating_offset: 0.07 * normal(rng),
            contamination: 0.22 * (0.5 * normal(rng)).exp() * dirty,
            moisture: 140.0 * (0.2 * normal(rng)).exp() * wet,
            electrolyte_offset: 0.06 * normal(rng),
            pressure_offset: normal(rng),
            capacity_offset: 0.015 * normal(rng),
            fce_offset: 0.2 * normal(rng),
            acir_offset: 0.3 * normal(rng),
            ocv_base: 3.652 + 0.006 * normal(rng),
            k_offset: 0.05 * normal(rng),
            aging_h,
            storage_days: rng.random_range(7.0..14.0),
            separator: (0.1 * normal(rng)).exp(),
            hidden_risk: 0.25 * normal(rng),
            ..Self::nominal(id, order, product)
        }
    }
}

/// Ground truth of one cell, for evaluation: never part of a record.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Latent {
    /// Particles/burrs in the cell.
    pub particles: u32,
    /// Summed particle size (relative units).
    pub particle_load: f64,
    /// Misalignment of the electrode stack (mm).
    pub misalignment_mm: f64,
    /// True anode overhang (mm).
    pub overhang_mm: f64,
    /// Micro-short severity `g` (0 = none).
    pub micro_short: f64,
    /// SEI damage `s` from formation, moisture and filling (0 = nominal).
    pub sei_damage: f64,
    /// True self-discharge (mV/day).
    pub k_true: f64,
    /// Probability of failing the short-term test.
    pub probability: f64,
}

/// One simulated cell.
#[derive(Debug, Clone, PartialEq)]
pub struct SimCell {
    /// Every catalogue value filled, `label = Some(defective)`, `produced_ms` unset.
    pub record: CellRecord,
    /// Fails the short-term test.
    pub defective: bool,
    /// Ground truth.
    pub latent: Latent,
}

/// A seeded cell generator.
#[derive(Debug, Clone)]
pub struct CellSim {
    rng: SmallRng,
}

/// Standard deviation of the unobserved part of the defect log-odds.
const EPS_SD: f64 = 1.2;
/// π/8, of the probit approximation of a logistic-normal mean.
const PI_OVER_8: f64 = std::f64::consts::PI / 8.0;

/// Nominal capacity (Ah) of a product.
fn nominal_capacity(product: &str) -> f64 {
    match product {
        "SC" => 5.13,
        _ => 5.24,
    }
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// One draw from N(0, 1) (Box–Muller).
fn normal(rng: &mut impl Rng) -> f64 {
    let u1: f64 = rng.random_range(f64::EPSILON..1.0);
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// One draw from Exp(1).
fn exponential(rng: &mut impl Rng) -> f64 {
    -rng.random_range(f64::EPSILON..1.0).ln()
}

/// One draw from Poisson(`lambda`) (Knuth; fine for the small rates here).
fn poisson(rng: &mut impl Rng, lambda: f64) -> u32 {
    let limit = (-lambda.clamp(0.0, 30.0)).exp();
    let mut p = 1.0;
    let mut k = 0;
    loop {
        p *= rng.random::<f64>();
        if p <= limit || k >= 100 {
            return k;
        }
        k += 1;
    }
}

/// `v` rounded to `decimals` places (an instrument's resolution); dividing by a power
/// of ten keeps the shortest decimal form (`160.7`, not `160.70000000000002`).
fn round_to(v: f64, decimals: i32) -> f64 {
    let f = 10f64.powi(decimals);
    (v * f).round() / f
}

impl CellSim {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Self {
            rng: SmallRng::seed_from_u64(seed),
        }
    }

    /// A lot with material effects drawn from this generator.
    pub fn draw_lot(&mut self, id: &str, order: &str, product: &str) -> LotProfile {
        LotProfile::draw(id, order, product, &mut self.rng)
    }

    /// The next cell of `lot`, built under `cond`. The caller sets
    /// `record.produced_ms`.
    pub fn next_cell(&mut self, serial: &str, lot: &LotProfile, cond: &Conditions) -> SimCell {
        let c = cond.sanitized();
        let r = &mut self.rng;
        let ds = (c.cas_speed - 1000.0) / 100.0;
        let dv = (c.cas_vibration - 0.12) / 0.02;
        let dtc = (c.cas_temperature - 45.0) / 3.0;
        let dtf = (c.form_temperature - 38.0) / 3.0;
        let di = (c.form_current - 3.5) / 0.3;
        let dta = c.ambient_temperature - 22.0;

        // Electrode (IPQC).
        let viscosity = lot.viscosity * (0.06 * normal(r)).exp();
        let visc_dev = (viscosity - 5200.0) / 1000.0;
        let coating = 20.0
            + lot.coating_offset
            + 0.04 * visc_dev
            + (0.10 + 0.03 * visc_dev.abs()) * normal(r);
        let electrode_thickness = 100.0 + 4.0 * (coating - 20.0) + 0.5 * normal(r);

        // Assembly.
        let misalignment = 0.07 * (0.22 * ds + 0.20 * dv).exp() * exponential(r);
        let overhang = 1.0 - misalignment + 0.05 * normal(r);
        let overhang_measured = overhang + 0.03 * normal(r);
        let weld = 2.2 + 0.02 * ds + 0.12 * normal(r);
        let weld_dev = (weld - 2.2) / 0.12;
        let lug = 10.0 + 0.05 * normal(r);
        let moisture = lot.moisture * (0.035 * dta + 0.15 * normal(r)).exp();
        let spatter = (weld_dev - 1.0).max(0.0);
        let lambda = lot.contamination
            * (0.25 * ds + 0.22 * dv).exp()
            * (1.0 + 1.0 * visc_dev * visc_dev)
            * (1.0 + 0.15 * spatter * spatter);
        let particles = poisson(r, lambda);
        let particle_load: f64 = (0..particles).map(|_| exponential(r)).sum();
        let edge = sigmoid((0.72 - overhang) / 0.06);
        let separator = (0.25 * dtc).exp() / lot.separator;
        // What aging sees now, and what the short-term test's cycling will make of it:
        // a particle on an exposed edge pierces the separator under cycling stress.
        let edge_contact = edge * exponential(r);
        let g_now = separator * (particle_load + 0.5 * edge_contact);
        let g = separator * (particle_load * (1.0 + 4.0 * edge) + 1.5 * edge_contact);
        let leakage = 1.6 * (0.35 * normal(r)).exp()
            + 0.7 * separator * particle_load * (0.6 * normal(r)).exp()
            + 0.3 * ((moisture - 150.0) / 100.0).max(0.0);

        // Filling.
        let electrolyte = 50.0 + lot.electrolyte_offset + 0.15 * normal(r);
        let pressure = 100.0 + lot.pressure_offset + 2.2 * normal(r);

        // Formation: SEI damage.
        let mst = (moisture - 150.0) / 60.0;
        let fill_dev = (electrolyte - 50.0) / 0.15;
        let short_fill = ((49.8 - electrolyte) / 0.15).max(0.0);
        let poor_vacuum = ((pressure - 100.0) / 2.5).max(0.0);
        let s = 0.35 * dtf
            + 0.25 * dtf.max(0.0).powi(2)
            + 0.35 * di
            + 0.15 * di.max(0.0).powi(2)
            + 0.35 * mst
            + 0.20 * mst.max(0.0) * dtf.max(0.0)
            + 0.30 * short_fill
            + 0.15 * poor_vacuum
            + 0.4 * normal(r);
        let fce = 95.2 + lot.fce_offset - 0.9 * s + 0.45 * normal(r);
        let acir = 18.0
            + lot.acir_offset
            + 1.0 * s
            + 0.6 * (-weld_dev - 1.0).max(0.0)
            + 0.4 * short_fill
            + 0.6 * normal(r);
        let capacity =
            nominal_capacity(&lot.product) + lot.capacity_offset + 0.22 * (coating - 20.0)
                - 0.035 * s
                - 0.01 * g_now
                + 0.03 * normal(r);
        let formation_energy = capacity / (fce / 100.0) * 3.72 * (1.0 + 0.01 * normal(r));

        // Aging and EOL.
        let aging_h = lot.aging_h + 2.0 * normal(r).abs();
        let k_true = (0.40 + lot.k_offset + 0.22 * g_now + 0.05 * s.max(0.0)).max(0.05);
        let k_measured = (k_true + 0.32 * (96.0 / aging_h).sqrt() * normal(r)).max(0.01);
        let ocv = lot.ocv_base - (k_true - 0.40) * aging_h / 24.0 / 1000.0
            + 0.003 * normal(r)
            + 0.02 * (capacity - nominal_capacity(&lot.product));
        let ocv_recheck = ocv - k_true * lot.storage_days / 1000.0 + 0.003 * normal(r);
        let weight = 70.0 + (electrolyte - 50.0) + 0.9 * (coating - 20.0) + 0.15 * normal(r);
        let thickness = 11.0
            + 0.02 * (electrode_thickness - 100.0)
            + 0.02 * s.max(0.0)
            + 0.015 * mst.max(0.0)
            + 0.05 * normal(r);

        // The short-term test.
        let logit = -5.1
            + 2.4 * (g - 0.8).max(0.0)
            + 0.3 * s
            + 0.7 * s.max(0.0).powi(2)
            + 0.5 * g * s.max(0.0)
            + 1.0 * (weld_dev.abs() - 1.3).max(0.0)
            + 0.9 * (fill_dev.abs() - 1.3).max(0.0)
            + lot.hidden_risk;
        // The unobserved part (ε) is integrated out of the reported probability.
        let probability = sigmoid(logit / (1.0 + PI_OVER_8 * EPS_SD * EPS_SD).sqrt());
        let failing = sigmoid(logit + EPS_SD * normal(r));
        let defective = r.random_bool(failing.clamp(0.0, 1.0));

        let mut record = CellRecord::new(serial, &lot.id, &lot.order);
        record.product = lot.product.clone();
        let values = [
            ("slurry_viscosity", round_to(viscosity, 0)),
            ("coating_weight", round_to(coating, 3)),
            ("electrode_thickness", round_to(electrode_thickness, 2)),
            ("alignment_overhang", round_to(overhang_measured, 3)),
            ("weld_bead_size", round_to(weld.max(0.5), 3)),
            ("lug_width", round_to(lug, 3)),
            ("moisture", round_to(moisture.max(10.0), 1)),
            ("leakage_current", round_to(leakage.max(0.05), 2)),
            ("electrolyte_weight", round_to(electrolyte, 2)),
            ("pressure", round_to(pressure, 1)),
            ("ambient_temperature", round_to(c.ambient_temperature, 1)),
            ("formation_energy", round_to(formation_energy, 2)),
            ("first_cycle_efficiency", round_to(fce.min(99.9), 2)),
            ("aging_time", round_to(aging_h, 1)),
            ("capacity", round_to(capacity, 3)),
            ("ocv", round_to(ocv, 4)),
            ("acir", round_to(acir.max(5.0), 2)),
            ("k_value", round_to(k_measured, 3)),
            ("ocv_recheck", round_to(ocv_recheck, 4)),
            ("weight", round_to(weight, 2)),
            ("thickness", round_to(thickness, 3)),
        ];
        debug_assert_eq!(values.len(), CATALOGUE.len());
        for (name, v) in values {
            let known = record.set(name, v);
            debug_assert!(known, "{name} is not in the catalogue");
        }
        record.label = Some(defective);
        SimCell {
            record,
            defective,
            latent: Latent {
                particles,
                particle_load,
                misalignment_mm: misalignment,
                overhang_mm: overhang,
                micro_short: g,
                sei_damage: s,
                k_true,
                probability,
            },
        }
    }
}

/// 2026-06-01 00:00 UTC in Unix ms.
const START_DAY_MS: i64 = 1_780_272_000_000;
const HOUR_MS: i64 = 3_600_000;
const MINUTE_MS: i64 = 60_000;

/// The dry room's temperature at `hour` of the day (°C): 22 °C, 2.2 °C up in the
/// afternoon and down at night (a day's own offset and noise come on top).
pub fn ambient_at(hour: f64) -> f64 {
    22.0 + 2.2 * (std::f64::consts::TAU * (hour - 9.0) / 24.0).sin()
}

/// The line over time: setpoints per lot, drift, wear, excursions, the clock.
struct Line {
    rng: SmallRng,
    now_ms: i64,
    speed_sp: f64,
    cas_temp_sp: f64,
    current_sp: f64,
    wear: f64,
    cas_drift: f64,
    form_drift: f64,
    day_offset: (i64, f64),
    excursion_left: u32,
    excursion_vibration: f64,
    excursion_temperature: f64,
}

impl Line {
    fn new(seed: u64) -> Self {
        Self {
            rng: SmallRng::seed_from_u64(seed ^ 0x11e5_0c0d_e5ee_d001),
            now_ms: START_DAY_MS + 6 * HOUR_MS,
            speed_sp: 1000.0,
            cas_temp_sp: 45.0,
            current_sp: 3.5,
            wear: 0.0,
            cas_drift: 0.0,
            form_drift: 0.0,
            day_offset: (-1, 0.0),
            excursion_left: 0,
            excursion_vibration: 0.0,
            excursion_temperature: 0.0,
        }
    }

    /// A lot changeover: new setpoints, maybe maintenance, 10–20 minutes of stop.
    fn changeover(&mut self, first: bool) {
        let r = &mut self.rng;
        let u: f64 = r.random();
        self.speed_sp = match u {
            u if u < 0.65 => 1000.0,
            u if u < 0.75 => 1050.0,
            u if u < 0.83 => 1100.0,
            u if u < 0.87 => 1150.0,
            u if u < 0.90 => 1200.0,
            u if u < 0.96 => 900.0,
            _ => 800.0,
        };
        let u: f64 = r.random();
        self.cas_temp_sp = match u {
            u if u < 0.80 => 45.0,
            u if u < 0.90 => 42.0,
            _ => 48.0,
        };
        let u: f64 = r.random();
        self.current_sp = match u {
            u if u < 0.75 => 3.5,
            u if u < 0.85 => 3.2,
            u if u < 0.95 => 3.8,
            _ => 4.0,
        };
        if r.random_bool(0.35) {
            self.wear = 0.0;
        }
        if !first {
            self.now_ms += r.random_range(10 * MINUTE_MS..20 * MINUTE_MS);
        }
    }

    /// Advances the clock to the next cell (shifts 06:00–22:00, a handover at 14:00,
    /// short stops) and returns its time and conditions.
    fn next(&mut self) -> (i64, Conditions) {
        let r = &mut self.rng;
        let mut dt = 1000.0 + 200.0 * exponential(r);
        if r.random_bool(1.0 / 1500.0) {
            dt += r.random_range(2.0..15.0) * 60_000.0;
        }
        let before = self.now_ms;
        self.now_ms += dt as i64;
        let day = (self.now_ms - START_DAY_MS).div_euclid(24 * HOUR_MS);
        let day_start = START_DAY_MS + day * 24 * HOUR_MS;
        let handover = day_start + 14 * HOUR_MS;
        if before < handover && self.now_ms >= handover {
            self.now_ms = handover + 15 * MINUTE_MS;
        }
        let in_day = self.now_ms - day_start;
        if in_day < 6 * HOUR_MS {
            self.now_ms = day_start + 6 * HOUR_MS;
        } else if in_day >= 22 * HOUR_MS {
            self.now_ms = day_start + 30 * HOUR_MS;
        }
        let day = (self.now_ms - START_DAY_MS).div_euclid(24 * HOUR_MS);
        if self.day_offset.0 != day {
            self.day_offset = (day, 1.0 * normal(r));
        }
        let hour = (self.now_ms - START_DAY_MS).rem_euclid(24 * HOUR_MS) as f64 / HOUR_MS as f64;

        // Slow processes.
        self.wear = (self.wear + 0.00001 * r.random::<f64>()).min(0.03);
        self.cas_drift = self.cas_drift * 0.995 + 0.05 * normal(r);
        self.form_drift = self.form_drift * 0.995 + 0.03 * normal(r);
        if self.excursion_left > 0 {
            self.excursion_left -= 1;
        } else if r.random_bool(1.0 / 4000.0) {
            self.excursion_left = r.random_range(50..400);
            self.excursion_vibration = r.random_range(0.02..0.06);
            self.excursion_temperature = r.random_range(0.0..3.0);
        }
        let (exc_v, exc_t) = if self.excursion_left > 0 {
            (self.excursion_vibration, self.excursion_temperature)
        } else {
            (0.0, 0.0)
        };

        let ambient = ambient_at(hour) + self.day_offset.1 + 0.2 * normal(r);
        let speed = self.speed_sp + 3.0 * normal(r);
        let vibration =
            (0.12 + 0.0002 * (speed - 1000.0) + self.wear + exc_v + 0.006 * normal(r)).max(0.01);
        let cas_temperature =
            self.cas_temp_sp + 0.005 * (speed - 1000.0) + self.cas_drift + exc_t + 0.15 * normal(r);
        let form_current = self.current_sp + 0.01 * normal(r);
        let form_temperature = 38.0
            + 1.5 * (form_current - 3.5)
            + 0.1 * (ambient - 22.0)
            + self.form_drift
            + 0.1 * normal(r);
        (
            self.now_ms,
            Conditions {
                cas_speed: speed,
                cas_vibration: vibration,
                cas_temperature,
                form_temperature,
                form_current,
                ambient_temperature: ambient,
            },
        )
    }
}

/// Production orders: the two of the example, then generated ones.
fn orders(rng: &mut SmallRng) -> impl Iterator<Item = (String, &'static str, usize)> + '_ {
    let fixed = [
        ("98765".to_owned(), "HC", 2000),
        ("98766".to_owned(), "SC", 1500),
    ];
    let generated = (98767u32..).map(move |id| {
        let product = if rng.random_bool(0.6) { "HC" } else { "SC" };
        let qty = 500 * rng.random_range(4..=12);
        (id.to_string(), product, qty)
    });
    fixed.into_iter().chain(generated)
}

/// Splits an order of `qty` cells into lots of 400–1500 (a short remainder joins the
/// last lot).
fn lot_sizes(qty: usize, rng: &mut SmallRng) -> Vec<usize> {
    let mut sizes = Vec::new();
    let mut left = qty;
    while left > 0 {
        let n = rng.random_range(400..=1500).min(left);
        if left - n < 400 {
            sizes.push(left);
            break;
        }
        sizes.push(n);
        left -= n;
    }
    sizes
}

/// `cells` simulated cells over several lots and orders, deterministic for `seed`.
pub fn dataset(cells: usize, seed: u64) -> Vec<CellRecord> {
    let mut sim = CellSim::new(seed);
    let mut line = Line::new(seed);
    let mut plan = SmallRng::seed_from_u64(seed ^ 0x0de5_0f1a_b0a7_5eed);
    let mut order_rng = SmallRng::seed_from_u64(seed ^ 0x0bde_55e1_a1ce_0001);
    let mut out = Vec::with_capacity(cells);
    let mut lot_no = 0usize;
    'orders: for (order, product, qty) in orders(&mut order_rng) {
        for size in lot_sizes(qty, &mut plan) {
            if out.len() >= cells {
                break 'orders;
            }
            lot_no += 1;
            let lot = LotProfile::draw(&format!("L2606-{lot_no:03}"), &order, product, &mut plan);
            line.changeover(lot_no == 1);
            for _ in 0..size {
                if out.len() >= cells {
                    break 'orders;
                }
                let (at, cond) = line.next();
                let serial = format!("{product}2611-{:06}", out.len() + 1);
                let mut cell = sim.next_cell(&serial, &lot, &cond);
                cell.record.produced_ms = Some(at);
                out.push(cell.record);
            }
        }
    }
    out
}

/// `cellguard simulate dataset`: writes [`dataset`] as CSV to `out` (`-` for
/// standard output) and a one-line summary to standard error.
pub fn write_dataset_cli(cells: usize, seed: u64, out: &Path) -> anyhow::Result<()> {
    let records = dataset(cells, seed);
    let to_stdout = out.as_os_str() == "-";
    if to_stdout {
        let stdout = std::io::stdout();
        crate::quality::dataset::write_csv(std::io::BufWriter::new(stdout.lock()), &records)
            .context("writing the dataset to standard output")?;
    } else {
        let file =
            std::fs::File::create(out).with_context(|| format!("creating {}", out.display()))?;
        let mut w = std::io::BufWriter::new(file);
        crate::quality::dataset::write_csv(&mut w, &records)
            .with_context(|| format!("writing {}", out.display()))?;
        w.flush()
            .with_context(|| format!("writing {}", out.display()))?;
    }
    let mut lots: Vec<&str> = records.iter().map(|r| r.lot.as_str()).collect();
    lots.dedup();
    let defective = records.iter().filter(|r| r.label == Some(true)).count();
    let rate = if records.is_empty() {
        0.0
    } else {
        100.0 * defective as f64 / records.len() as f64
    };
    eprintln!(
        "simulated {} cells in {} lot(s) (seed {seed}): {defective} defective, base rate {rate:.1} %{}",
        records.len(),
        lots.len(),
        if to_stdout {
            String::new()
        } else {
            format!(", written to {}", out.display())
        }
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quality::def;

    /// Defect rate over `lots` lots of `per_lot` cells under `cond` (same seed, same lots).
    fn rate(cond: &Conditions, seed: u64, lots: usize, per_lot: usize) -> f64 {
        let mut sim = CellSim::new(seed);
        let mut lot_rng = SmallRng::seed_from_u64(seed);
        let mut bad = 0usize;
        for l in 0..lots {
            let lot = LotProfile::draw(&format!("L{l}"), "98765", "HC", &mut lot_rng);
            for i in 0..per_lot {
                bad += usize::from(sim.next_cell(&format!("S{l}-{i}"), &lot, cond).defective);
            }
        }
        bad as f64 / (lots * per_lot) as f64
    }

    fn fails_spec(r: &CellRecord) -> bool {
        CATALOGUE.iter().zip(&r.values).any(|(d, v)| {
            let v = v.unwrap_or(f64::NAN);
            d.lsl.is_some_and(|l| v < l) || d.usl.is_some_and(|u| v > u)
        })
    }

    #[test]
    fn the_same_seed_gives_the_same_cells() {
        let a = dataset(2500, 7);
        assert_eq!(a, dataset(2500, 7));
        assert_ne!(a, dataset(2500, 8));
        assert_eq!(a.len(), 2500);
    }

    #[test]
    fn values_are_complete_finite_and_physical() {
        let ranges: &[(&str, f64, f64)] = &[
            ("slurry_viscosity", 2000.0, 10_000.0),
            ("coating_weight", 15.0, 25.0),
            ("electrode_thickness", 60.0, 150.0),
            ("alignment_overhang", -1.5, 2.0),
            ("weld_bead_size", 0.5, 4.0),
            ("lug_width", 9.0, 11.0),
            ("moisture", 10.0, 1000.0),
            ("leakage_current", 0.0, 100.0),
            ("electrolyte_weight", 45.0, 55.0),
            ("pressure", 80.0, 120.0),
            ("ambient_temperature", 10.0, 35.0),
            ("formation_energy", 15.0, 25.0),
            ("first_cycle_efficiency", 80.0, 100.0),
            ("aging_time", 72.0, 200.0),
            ("capacity", 4.5, 5.8),
            ("ocv", 3.5, 3.8),
            ("acir", 10.0, 40.0),
            ("k_value", 0.0, 20.0),
            ("ocv_recheck", 3.4, 3.8),
            ("weight", 65.0, 75.0),
            ("thickness", 10.0, 12.0),
        ];
        assert_eq!(ranges.len(), CATALOGUE.len());
        let records = dataset(6000, 3);
        for r in &records {
            assert!(r.label.is_some());
            assert!(r.produced_ms.is_some());
            for &(name, lo, hi) in ranges {
                let v = r.get(name).expect("every value is filled");
                assert!(v.is_finite() && (lo..=hi).contains(&v), "{name} = {v}");
                // Written at instrument resolution, without float noise.
                let text = v.to_string();
                assert!(
                    text.split('.').nth(1).is_none_or(|d| d.len() <= 4),
                    "{text}"
                );
            }
        }
        // Mostly inside the default limits: a few per cent out per measurement.
        for d in CATALOGUE {
            let out = records
                .iter()
                .filter(|r| {
                    let v = r.get(d.name).unwrap_or(f64::NAN);
                    d.lsl.is_some_and(|l| v < l) || d.usl.is_some_and(|u| v > u)
                })
                .count();
            assert!(
                (out as f64) < 0.05 * records.len() as f64,
                "{} out of spec in {out} cells",
                d.name
            );
        }
    }

    #[test]
    fn nominal_base_rate_is_realistic() {
        let r = rate(&Conditions::nominal(), 11, 10, 600);
        assert!((0.03..=0.15).contains(&r), "nominal rate {r}");
    }

    #[test]
    fn speed_and_vibration_drive_the_defect_rate() {
        let nominal = rate(&Conditions::nominal(), 11, 10, 600);
        let fast = rate(
            &Conditions {
                cas_speed: 1200.0,
                cas_vibration: 0.17,
                ..Conditions::nominal()
            },
            11,
            10,
            600,
        );
        // 800 RPM as the machine shows it (vibration follows speed) and with the
        // vibration held: slower is better either way.
        let slow = rate(
            &Conditions {
                cas_speed: 800.0,
                cas_vibration: 0.08,
                ..Conditions::nominal()
            },
            11,
            10,
            600,
        );
        let slow_same_vibration = rate(
            &Conditions {
                cas_speed: 800.0,
                ..Conditions::nominal()
            },
            11,
            10,
            600,
        );
        assert!(fast >= 1.5 * nominal, "fast {fast} vs nominal {nominal}");
        assert!(slow < 0.85 * nominal, "slow {slow} vs nominal {nominal}");
        assert!(
            slow_same_vibration < nominal,
            "{slow_same_vibration} vs {nominal}"
        );
    }

    #[test]
    fn hot_formation_hurts_efficiency_and_resistance() {
        let mut sim = CellSim::new(5);
        let lot = LotProfile::nominal("L1", "98765", "HC");
        let hot = Conditions {
            form_temperature: 44.0,
            form_current: 4.0,
            ..Conditions::nominal()
        };
        let mean = |sim: &mut CellSim, cond: &Conditions, name: &str| {
            (0..2000)
                .map(|i| {
                    let c = sim.next_cell(&format!("S{i}"), &lot, cond);
                    c.record.get(name).unwrap_or(f64::NAN)
                })
                .sum::<f64>()
                / 2000.0
        };
        let nominal = Conditions::nominal();
        assert!(
            mean(&mut sim, &hot, "first_cycle_efficiency")
                < mean(&mut sim, &nominal, "first_cycle_efficiency") - 0.5
        );
        assert!(mean(&mut sim, &hot, "acir") > mean(&mut sim, &nominal, "acir") + 0.5);
        assert!(mean(&mut sim, &hot, "capacity") < mean(&mut sim, &nominal, "capacity"));
    }

    #[test]
    fn spec_limits_alone_miss_most_defective_cells() {
        let records = dataset(8000, 5);
        let defective: Vec<&CellRecord> =
            records.iter().filter(|r| r.label == Some(true)).collect();
        assert!(defective.len() > 100);
        let caught = defective.iter().filter(|r| fails_spec(r)).count();
        let share = caught as f64 / defective.len() as f64;
        assert!(share < 0.35, "limits catch {share} of defective cells");
        let good_out = records
            .iter()
            .filter(|r| r.label == Some(false) && fails_spec(r))
            .count();
        assert!((good_out as f64) < 0.15 * records.len() as f64);
        // But the defective cells do look different: K-value is higher on average.
        let mean_k = |want: bool| {
            let v: Vec<f64> = records
                .iter()
                .filter(|r| r.label == Some(want))
                .filter_map(|r| r.get("k_value"))
                .collect();
            v.iter().sum::<f64>() / v.len() as f64
        };
        assert!(mean_k(true) > mean_k(false) + 0.1);
        assert!(def("k_value").is_some());
    }

    #[test]
    fn serials_unique_lots_several_time_increasing() {
        let records = dataset(20_000, 7);
        let mut serials: Vec<&str> = records.iter().map(|r| r.serial.as_str()).collect();
        serials.sort_unstable();
        serials.dedup();
        assert_eq!(serials.len(), records.len());
        assert!(records[0].serial.starts_with("HC2611-"));
        let mut lots: Vec<(&str, usize)> = Vec::new();
        for r in &records {
            match lots.last_mut() {
                Some((id, n)) if *id == r.lot => *n += 1,
                _ => lots.push((r.lot.as_str(), 1)),
            }
        }
        let mut ids: Vec<&str> = lots.iter().map(|l| l.0).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), lots.len(), "a lot's cells are contiguous");
        assert!((15..=40).contains(&lots.len()), "{} lots", lots.len());
        for (i, (id, n)) in lots.iter().enumerate() {
            if i + 1 < lots.len() {
                assert!((400..2000).contains(n), "lot {id} has {n} cells");
            }
        }
        assert!(
            records
                .windows(2)
                .all(|w| w[0].produced_ms < w[1].produced_ms)
        );
        let first = records[0].produced_ms.unwrap_or_default();
        assert_eq!(first / 1000 / 3600 % 24, 6, "starts at the morning shift");
        assert!(
            records
                .iter()
                .any(|r| r.order == "98765" && r.product == "HC")
        );
        assert!(
            records
                .iter()
                .any(|r| r.order == "98766" && r.product == "SC")
        );
        assert!(records.iter().any(|r| r.order == "98767"));
        // Nobody works at night.
        assert!(records.iter().all(|r| {
            let h = r.produced_ms.unwrap_or_default() / 1000 / 3600 % 24;
            (6..22).contains(&h)
        }));
        let rate =
            records.iter().filter(|r| r.label == Some(true)).count() as f64 / records.len() as f64;
        assert!((0.03..=0.2).contains(&rate), "dataset rate {rate}");
    }

    #[test]
    fn garbled_conditions_still_give_finite_cells() {
        let mut sim = CellSim::new(1);
        let lot = LotProfile::nominal("L1", "98765", "HC");
        let cond = Conditions {
            cas_speed: f64::NAN,
            cas_vibration: f64::INFINITY,
            cas_temperature: -300.0,
            form_temperature: 1e9,
            form_current: 0.0,
            ambient_temperature: f64::NEG_INFINITY,
        };
        let c = sim.next_cell("S1", &lot, &cond);
        assert!(
            c.record
                .values
                .iter()
                .all(|v| v.is_some_and(f64::is_finite))
        );
        assert!(c.latent.probability.is_finite());
    }
}
