//! Exponential back-off with jitter, shared by everything that retries: PLC
//! reconnects (acquisition) and MES deliveries. Many clients that failed together
//! do not come back together, and every wait is at least half the nominal one.

use std::time::Duration;

use rand::Rng;

/// Exponential back-off between `min` and `max`, each delay uniform in half to all
/// of its ceiling.
#[derive(Debug, Clone)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    attempt: u32,
}

impl Backoff {
    /// A back-off starting at `min`, never above `max`.
    pub fn new(min: Duration, max: Duration) -> Self {
        Self {
            min,
            max,
            attempt: 0,
        }
    }
    /// The ceiling of the next delay (before jitter).
    pub fn ceiling(&self) -> Duration {
        Self::ceiling_after(self.min, self.max, self.attempt)
    }
    /// The ceiling after `failures` failures: `min` doubled per failure, at most
    /// `max` (for waits kept per item rather than in a `Backoff`).
    pub fn ceiling_after(min: Duration, max: Duration, failures: u32) -> Duration {
        let factor = 1u32 << failures.min(16);
        min.saturating_mul(factor).min(max)
    }
    /// The next delay: uniform in [ceiling/2, ceiling].
    pub fn next_delay(&mut self, rng: &mut impl Rng) -> Duration {
        let c = self.ceiling();
        self.attempt = self.attempt.saturating_add(1);
        let half = c / 2;
        half + half.mul_f64(rng.random::<f64>())
    }
    /// Back to `min` after a success.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
    /// Failures since the last reset (delays handed out).
    pub fn failures(&self) -> u32 {
        self.attempt
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn backoff_doubles_up_to_its_ceiling_and_resets() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_millis(1000));
        let mut rng = rand::rngs::SmallRng::seed_from_u64(1);
        let mut ceilings = Vec::new();
        for _ in 0..6 {
            ceilings.push(b.ceiling().as_millis());
            let d = b.next_delay(&mut rng);
            assert!(d <= Duration::from_millis(1000));
        }
        assert_eq!(ceilings, [100, 200, 400, 800, 1000, 1000]);
        b.reset();
        assert_eq!(b.ceiling(), Duration::from_millis(100));
    }

    #[test]
    fn backoff_jitter_stays_within_half_to_full_ceiling() {
        let mut rng = rand::rngs::SmallRng::seed_from_u64(7);
        for _ in 0..1000 {
            let mut b = Backoff::new(Duration::from_millis(400), Duration::from_secs(10));
            let d = b.next_delay(&mut rng);
            assert!(
                d >= Duration::from_millis(200) && d <= Duration::from_millis(400),
                "{d:?}"
            );
        }
    }
}
