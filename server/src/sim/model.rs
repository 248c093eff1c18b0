//! The simulated machine's behaviour (pure): a PackML state walk and tag values that
//! follow setpoints, drift, react to each other and carry noise.

use std::collections::HashMap;

use rand::Rng;
use rand_distr_free::normal;

use crate::modbus::codec::{DataType, Raw, decode, encode, scale, unscale};
use crate::plant::{Device, Table};

/// Registers and bits of one simulated PLC.
#[derive(Debug, Clone)]
pub struct Bank {
    /// Holding registers.
    pub holding: Vec<u16>,
    /// Input registers.
    pub input: Vec<u16>,
    /// Coils.
    pub coils: Vec<bool>,
    /// Discrete inputs.
    pub discrete: Vec<bool>,
    /// Holding registers a client may write.
    pub writable_registers: Vec<bool>,
    /// Coils a client may write.
    pub writable_coils: Vec<bool>,
}

impl Bank {
    /// A bank sized to the device's register map (addresses past it are illegal).
    pub fn for_device(device: &Device) -> Self {
        let size = |table: Table| {
            device
                .tags
                .iter()
                .filter(|t| t.table == table)
                .map(|t| usize::from(t.address) + usize::from(t.width()))
                .max()
                .unwrap_or(0)
        };
        let mut bank = Bank {
            holding: vec![0; size(Table::Holding)],
            input: vec![0; size(Table::Input)],
            coils: vec![false; size(Table::Coil)],
            discrete: vec![false; size(Table::Discrete)],
            writable_registers: vec![false; size(Table::Holding)],
            writable_coils: vec![false; size(Table::Coil)],
        };
        for t in device.tags.iter().filter(|t| t.access.is_writable()) {
            let range = usize::from(t.address)..usize::from(t.address) + usize::from(t.width());
            match t.table {
                Table::Holding => bank.writable_registers[range]
                    .iter_mut()
                    .for_each(|w| *w = true),
                Table::Coil => bank.writable_coils[range]
                    .iter_mut()
                    .for_each(|w| *w = true),
                _ => {}
            }
        }
        bank
    }

    /// Writes a tag's engineering value into its registers or bit.
    pub fn put(&mut self, device: &Device, tag: usize, value: &Raw) {
        let t = &device.tags[tag];
        let a = usize::from(t.address);
        match t.table {
            Table::Coil | Table::Discrete => {
                let bit = matches!(value, Raw::Bool(true))
                    || matches!(value, Raw::Number(n) if *n != 0.0);
                let bits = if t.table == Table::Coil {
                    &mut self.coils
                } else {
                    &mut self.discrete
                };
                if let Some(b) = bits.get_mut(a) {
                    *b = bit;
                }
            }
            Table::Holding | Table::Input => {
                let regs = if t.table == Table::Holding {
                    &mut self.holding
                } else {
                    &mut self.input
                };
                if t.data_type == DataType::Bit {
                    let on = matches!(value, Raw::Bool(true))
                        || matches!(value, Raw::Number(n) if *n != 0.0);
                    let mask = 1u16 << t.bit.unwrap_or(0).min(15);
                    if let Some(r) = regs.get_mut(a) {
                        *r = if on { *r | mask } else { *r & !mask };
                    }
                    return;
                }
                let raw = match value {
                    Raw::Number(n) if t.states.is_none() => {
                        Raw::Number(unscale(*n, t.scale, t.offset))
                    }
                    other => other.clone(),
                };
                let words = encode(&raw, t.data_type, t.word_order, t.length);
                if let Some(dst) = regs.get_mut(a..a + words.len()) {
                    dst.copy_from_slice(&words);
                }
            }
        }
    }

    /// Reads a numeric tag's engineering value back.
    pub fn get_number(&self, device: &Device, tag: usize) -> Option<f64> {
        let t = &device.tags[tag];
        let a = usize::from(t.address);
        match t.table {
            Table::Coil => self.coils.get(a).map(|b| f64::from(u8::from(*b))),
            Table::Discrete => self.discrete.get(a).map(|b| f64::from(u8::from(*b))),
            Table::Holding | Table::Input => {
                let regs = if t.table == Table::Holding {
                    &self.holding
                } else {
                    &self.input
                };
                match decode(regs.get(a..)?, t.data_type, t.word_order, t.bit, t.length).ok()? {
                    Raw::Number(n) => Some(scale(n, t.scale, t.offset)),
                    Raw::Bool(b) => Some(f64::from(u8::from(b))),
                    Raw::Text(_) => None,
                }
            }
        }
    }
}

/// Where the machine is in its state walk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Execute,
    Held,
    Stopped,
    Aborted,
    Clearing,
    Resetting,
    Idle,
    Starting,
}

impl Phase {
    fn name(self) -> &'static str {
        match self {
            Phase::Execute => "Execute",
            Phase::Held => "Held",
            Phase::Stopped => "Stopped",
            Phase::Aborted => "Aborted",
            Phase::Clearing => "Clearing",
            Phase::Resetting => "Resetting",
            Phase::Idle => "Idle",
            Phase::Starting => "Starting",
        }
    }
}

/// Behaviour of one simulated machine.
#[derive(Debug, Clone)]
pub struct Machine {
    phase: Phase,
    phase_left_s: f64,
    /// Current smoothed value per numeric tag (engineering units), before noise.
    level: HashMap<usize, f64>,
    /// Slow random-walk offset per tag.
    drift: HashMap<usize, f64>,
    /// Mean seconds in Execute between interruptions.
    pub mean_run_s: f64,
}

impl Machine {
    /// A machine in Execute with every tag at its nominal value.
    pub fn new(device: &Device, bank: &mut Bank, rng: &mut impl Rng) -> Self {
        let mut m = Machine {
            phase: Phase::Execute,
            phase_left_s: 0.0,
            level: HashMap::new(),
            drift: HashMap::new(),
            mean_run_s: 180.0,
        };
        m.phase_left_s = m.run_length(rng);
        for (i, t) in device.tags.iter().enumerate() {
            if let Some(sim) = &t.sim {
                m.level.insert(i, sim.nominal);
                if t.access.is_writable() {
                    bank.put(device, i, &Raw::Number(sim.nominal));
                }
            }
        }
        m.write_state(device, bank);
        m.step(device, bank, 0.0, rng);
        m
    }

    fn run_length(&self, rng: &mut impl Rng) -> f64 {
        // Exponential with the configured mean, at least 20 s.
        let u: f64 = rng.random_range(1e-6..1.0);
        (-u.ln() * self.mean_run_s).max(20.0)
    }

    /// The current PackML state name.
    pub fn state(&self) -> &'static str {
        self.phase.name()
    }

    fn executing(&self) -> bool {
        self.phase == Phase::Execute
    }

    fn advance_phase(&mut self, device: &Device, rng: &mut impl Rng) {
        let has = |name: &str| {
            device
                .state_tag()
                .and_then(|t| t.states.as_ref())
                .is_some_and(|m| m.iter().any(|(_, v)| v == name))
        };
        let (next, secs) = match self.phase {
            Phase::Execute => {
                let roll: f64 = rng.random();
                if roll < 0.6 && has("Held") {
                    (Phase::Held, rng.random_range(4.0..12.0))
                } else if roll < 0.85 && has("Stopped") {
                    (Phase::Stopped, rng.random_range(4.0..8.0))
                } else if has("Aborted") {
                    (Phase::Aborted, rng.random_range(4.0..8.0))
                } else {
                    (Phase::Execute, self.run_length(rng))
                }
            }
            Phase::Held => (Phase::Execute, self.run_length(rng)),
            Phase::Aborted => (Phase::Clearing, 2.0),
            Phase::Clearing => (Phase::Stopped, 2.0),
            Phase::Stopped => (Phase::Resetting, 2.0),
            Phase::Resetting => (Phase::Idle, 2.0),
            Phase::Idle => (Phase::Starting, 2.0),
            Phase::Starting => (Phase::Execute, self.run_length(rng)),
        };
        // States the plant's map does not know are passed through at once.
        self.phase = next;
        self.phase_left_s = if has(next.name()) || next == Phase::Execute {
            secs
        } else {
            0.0
        };
    }

    fn write_state(&self, device: &Device, bank: &mut Bank) {
        let Some(st) = device.state_tag() else { return };
        let raw = st.states.as_ref().and_then(|m| m.raw_of(self.phase.name()));
        if let Some(raw) = raw {
            bank.put(device, st.id.index(), &Raw::Number(raw as f64));
        }
    }

    /// Advances the simulation by `dt` seconds and writes the new values into `bank`.
    pub fn step(&mut self, device: &Device, bank: &mut Bank, dt: f64, rng: &mut impl Rng) {
        self.phase_left_s -= dt;
        let mut guard = 0;
        while self.phase_left_s <= 0.0 && guard < 16 {
            self.advance_phase(device, rng);
            guard += 1;
        }
        self.write_state(device, bank);
        let executing = self.executing();
        // Setpoints come from the bank: a client may have written them.
        let current: HashMap<usize, f64> = device
            .tags
            .iter()
            .enumerate()
            .filter(|(_, t)| t.access.is_writable())
            .filter_map(|(i, t)| {
                // A machine acts only on setpoints inside its limits: NaN or a
                // wild value written by a client is ignored or clamped.
                let v = bank.get_number(device, i).filter(|v| v.is_finite())?;
                let (lo, hi) = t
                    .access
                    .limits()
                    .map_or((f64::NEG_INFINITY, f64::INFINITY), |l| (l.min, l.max));
                Some((i, v.clamp(lo, hi)))
            })
            .collect();
        for (i, t) in device.tags.iter().enumerate() {
            let Some(sim) = &t.sim else { continue };
            if t.access.is_writable() || t.states.is_some() {
                continue;
            }
            let drift = self.drift.entry(i).or_insert(0.0);
            if sim.drift > 0.0 && dt > 0.0 {
                *drift += normal(rng) * sim.drift * dt.sqrt();
                // Keep the walk bounded: it relaxes back over a few minutes.
                *drift *= 1.0 - (dt / 300.0).min(1.0);
            }
            let base = sim
                .follows
                .and_then(|fi| current.get(&fi).copied())
                .unwrap_or(sim.nominal);
            let push: f64 = sim
                .sensitivity
                .iter()
                .filter_map(|&(oi, k)| {
                    let onom = device.tags.get(oi)?.sim.as_ref().map_or(0.0, |s| s.nominal);
                    let ov = current
                        .get(&oi)
                        .copied()
                        .or_else(|| self.level.get(&oi).copied())?;
                    Some(k * (ov - onom))
                })
                .sum();
            let target = match (executing, sim.idle) {
                (false, Some(idle)) => idle,
                _ => base + *drift + push,
            };
            let tau = sim.tau.map_or(3.0, |d| d.as_secs_f64()).max(0.05);
            let level = self.level.entry(i).or_insert(sim.nominal);
            *level += (target - *level) * (dt / tau).min(1.0);
            let noisy = *level + normal(rng) * sim.noise;
            bank.put(device, i, &Raw::Number(noisy));
        }
    }

    /// Forces the machine into a state for `secs` seconds (tests and demos).
    pub fn force(&mut self, name: &str, secs: f64) {
        let phase = [
            Phase::Execute,
            Phase::Held,
            Phase::Stopped,
            Phase::Aborted,
            Phase::Clearing,
            Phase::Resetting,
            Phase::Idle,
            Phase::Starting,
        ]
        .into_iter()
        .find(|p| p.name() == name);
        if let Some(p) = phase {
            self.phase = p;
            self.phase_left_s = secs;
        }
    }
}

/// A tiny, dependency-free standard normal sampler (Box–Muller).
mod rand_distr_free {
    use rand::Rng;

    /// One draw from N(0, 1).
    pub fn normal(rng: &mut impl Rng) -> f64 {
        let u1: f64 = rng.random_range(f64::EPSILON..1.0);
        let u2: f64 = rng.random();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::load;
    use rand::SeedableRng;
    use rand::rngs::SmallRng;
    use std::path::Path;

    fn plant() -> crate::plant::Plant {
        load(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/plant.toml"),
            &|_| None,
        )
        .expect("default plant")
        .plant
    }

    fn tag(device: &Device, name: &str) -> usize {
        device
            .tags
            .iter()
            .position(|t| t.name == name)
            .expect("tag")
    }

    #[test]
    fn values_start_near_the_users_example() {
        let p = plant();
        let d = &p.devices[0];
        let mut bank = Bank::for_device(d);
        let mut rng = SmallRng::seed_from_u64(3);
        let mut m = Machine::new(d, &mut bank, &mut rng);
        for _ in 0..50 {
            m.step(d, &mut bank, 0.1, &mut rng);
        }
        let temp = bank
            .get_number(d, tag(d, "temperature"))
            .expect("temperature");
        let speed = bank.get_number(d, tag(d, "speed")).expect("speed");
        assert!((temp - 45.0).abs() < 3.0, "temperature {temp}");
        assert!((speed - 1000.0).abs() < 50.0, "speed {speed}");
    }

    #[test]
    fn lowering_the_speed_setpoint_lowers_speed_vibration_and_temperature() {
        let p = plant();
        let d = &p.devices[0];
        let mut bank = Bank::for_device(d);
        let mut rng = SmallRng::seed_from_u64(5);
        let mut m = Machine::new(d, &mut bank, &mut rng);
        m.mean_run_s = 1e9;
        m.force("Execute", 1e9);
        let mean = |m: &mut Machine, bank: &mut Bank, rng: &mut SmallRng, name: &str| {
            let mut s = 0.0;
            for _ in 0..600 {
                m.step(d, bank, 0.1, rng);
                s += bank.get_number(d, tag(d, name)).unwrap_or(f64::NAN);
            }
            s / 600.0
        };
        let before = (
            mean(&mut m, &mut bank, &mut rng, "speed"),
            mean(&mut m, &mut bank, &mut rng, "vibration"),
            mean(&mut m, &mut bank, &mut rng, "temperature"),
        );
        bank.put(d, tag(d, "speed_setpoint"), &Raw::Number(700.0));
        for _ in 0..1200 {
            m.step(d, &mut bank, 0.1, &mut rng);
        }
        let after = (
            mean(&mut m, &mut bank, &mut rng, "speed"),
            mean(&mut m, &mut bank, &mut rng, "vibration"),
            mean(&mut m, &mut bank, &mut rng, "temperature"),
        );
        assert!(after.0 < before.0 - 200.0, "speed {before:?} → {after:?}");
        assert!(after.1 < before.1, "vibration {before:?} → {after:?}");
        assert!(after.2 < before.2, "temperature {before:?} → {after:?}");
    }

    #[test]
    fn the_state_walk_leaves_execute_and_comes_back() {
        let p = plant();
        let d = &p.devices[0];
        let mut bank = Bank::for_device(d);
        let mut rng = SmallRng::seed_from_u64(11);
        let mut m = Machine::new(d, &mut bank, &mut rng);
        m.mean_run_s = 20.0;
        let mut seen = std::collections::HashSet::new();
        for _ in 0..(3600 * 10) {
            m.step(d, &mut bank, 0.1, &mut rng);
            seen.insert(m.state());
        }
        for s in [
            "Execute",
            "Held",
            "Stopped",
            "Aborted",
            "Clearing",
            "Resetting",
            "Idle",
            "Starting",
        ] {
            assert!(seen.contains(s), "never saw {s}: {seen:?}");
        }
        assert!(matches!(m.force("Execute", 1.0), ()));
    }

    #[test]
    fn a_nan_or_wild_setpoint_does_not_poison_the_machine() {
        let p = plant();
        let d = &p.devices[0];
        let mut bank = Bank::for_device(d);
        let mut rng = SmallRng::seed_from_u64(9);
        let mut m = Machine::new(d, &mut bank, &mut rng);
        m.force("Execute", 1e9);
        bank.put(d, tag(d, "speed_setpoint"), &Raw::Number(f64::NAN));
        for _ in 0..50 {
            m.step(d, &mut bank, 0.1, &mut rng);
        }
        bank.put(d, tag(d, "speed_setpoint"), &Raw::Number(1e9));
        for _ in 0..300 {
            m.step(d, &mut bank, 0.1, &mut rng);
        }
        let speed = bank.get_number(d, tag(d, "speed")).expect("speed");
        // clamped to the tag's max (1200)
        assert!(
            speed.is_finite() && (speed - 1200.0).abs() < 50.0,
            "speed {speed}"
        );
        let temp = bank
            .get_number(d, tag(d, "temperature"))
            .expect("temperature");
        assert!(temp.is_finite(), "temperature {temp}");
    }

    #[test]
    fn a_stopped_machine_spins_down() {
        let p = plant();
        let d = &p.devices[0];
        let mut bank = Bank::for_device(d);
        let mut rng = SmallRng::seed_from_u64(2);
        let mut m = Machine::new(d, &mut bank, &mut rng);
        m.force("Stopped", 1e9);
        for _ in 0..300 {
            m.step(d, &mut bank, 0.1, &mut rng);
        }
        let speed = bank.get_number(d, tag(d, "speed")).expect("speed");
        assert!(speed < 50.0, "speed {speed}");
        let raw_state = bank.holding[usize::from(d.tags[tag(d, "state")].address)];
        let name = d.tags[tag(d, "state")]
            .states
            .as_ref()
            .and_then(|m| m.name_of(i64::from(raw_state)));
        assert_eq!(name, Some("Stopped"));
    }
}
