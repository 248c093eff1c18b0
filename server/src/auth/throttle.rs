//! Slows down guessing: every sign-in attempt spends one token from the typed
//! name's bucket and one from the client address's bucket (governor's GCRA). A
//! person who mistypes a few times never notices; a script is held to a crawl.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

/// Attempts one name may make at once, then one per [`NAME_PERIOD`].
pub const NAME_BURST: u32 = 10;
/// How often a name earns one more attempt.
pub const NAME_PERIOD: Duration = Duration::from_secs(6);
/// Attempts one address may make at once, then one per [`ADDR_PERIOD`].
pub const ADDR_BURST: u32 = 40;
/// How often an address earns one more attempt.
pub const ADDR_PERIOD: Duration = Duration::from_secs(2);

/// The two buckets.
#[derive(Debug)]
pub struct SignInThrottle {
    by_name: DefaultKeyedRateLimiter<String>,
    by_addr: DefaultKeyedRateLimiter<IpAddr>,
    clock: DefaultClock,
}

fn quota(burst: u32, period: Duration) -> Quota {
    let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
    Quota::with_period(period)
        .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
        .allow_burst(burst)
}

impl Default for SignInThrottle {
    fn default() -> Self {
        Self::new(NAME_BURST, NAME_PERIOD, ADDR_BURST, ADDR_PERIOD)
    }
}

impl SignInThrottle {
    /// Buckets with the given sizes.
    pub fn new(
        name_burst: u32,
        name_period: Duration,
        addr_burst: u32,
        addr_period: Duration,
    ) -> Self {
        Self {
            by_name: RateLimiter::keyed(quota(name_burst, name_period)),
            by_addr: RateLimiter::keyed(quota(addr_burst, addr_period)),
            clock: DefaultClock::default(),
        }
    }

    /// Spends one attempt for `username` from `addr`: `Ok` to go on, or how long
    /// to wait.
    pub fn attempt(&self, username: &str, addr: IpAddr) -> Result<(), Duration> {
        let now = self.clock.now();
        let name = username.trim().to_lowercase();
        let by_addr = self
            .by_addr
            .check_key(&addr)
            .map_err(|n| n.wait_time_from(now));
        let by_name = self
            .by_name
            .check_key(&name)
            .map_err(|n| n.wait_time_from(now));
        match (by_addr, by_name) {
            (Ok(()), Ok(())) => Ok(()),
            (Err(a), Err(b)) => Err(a.max(b)),
            (Err(w), _) | (_, Err(w)) => Err(w),
        }
    }

    /// Forgets idle buckets (call now and then to bound memory).
    pub fn forget_idle(&self) {
        self.by_name.retain_recent();
        self.by_addr.retain_recent();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOME: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

    #[test]
    fn a_name_is_slowed_down_after_its_burst() {
        let t = SignInThrottle::new(3, Duration::from_secs(60), 100, Duration::from_secs(1));
        for _ in 0..3 {
            assert!(t.attempt("anna", HOME).is_ok());
        }
        let wait = t.attempt("Anna ", HOME).expect_err("fourth attempt waits");
        assert!(wait > Duration::from_secs(30), "{wait:?}");
        // Another name from the same place is not held back by Anna's bucket.
        assert!(t.attempt("bert", HOME).is_ok());
    }

    #[test]
    fn an_address_is_slowed_down_across_names() {
        let t = SignInThrottle::new(100, Duration::from_secs(1), 4, Duration::from_secs(60));
        for i in 0..4 {
            assert!(t.attempt(&format!("user{i}"), HOME).is_ok());
        }
        assert!(t.attempt("someone-else", HOME).is_err());
        let elsewhere: IpAddr = "10.0.0.7".parse().expect("ip");
        assert!(t.attempt("someone-else", elsewhere).is_ok());
    }
}
