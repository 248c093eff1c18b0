//! Slows down guessing: every sign-in attempt spends one token from the client
//! address's bucket and one from the bucket of that name from that address
//! (governor's GCRA). A person who mistypes a few times never notices; a script
//! is held to a crawl. Buckets are per address so that nobody elsewhere can lock
//! a person out by failing in their name.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

/// Attempts at one name from one address at once, then one per [`NAME_PERIOD`].
pub const NAME_BURST: u32 = 10;
/// How often a name (from one address) earns one more attempt.
pub const NAME_PERIOD: Duration = Duration::from_secs(6);
/// Attempts one address may make at once, then one per [`ADDR_PERIOD`].
pub const ADDR_BURST: u32 = 40;
/// How often an address earns one more attempt.
pub const ADDR_PERIOD: Duration = Duration::from_secs(2);

/// The two buckets.
#[derive(Debug)]
pub struct SignInThrottle {
    by_name: DefaultKeyedRateLimiter<(String, IpAddr)>,
    by_addr: DefaultKeyedRateLimiter<IpAddr>,
    episodes: DefaultKeyedRateLimiter<IpAddr>,
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
            episodes: RateLimiter::keyed(quota(1, Duration::from_secs(60))),
            clock: DefaultClock::default(),
        }
    }

    /// Spends one attempt of `addr`: `Ok` to go on, or how long to wait. Checked
    /// before anything else, so a throttled address costs nothing more.
    pub fn attempt_from(&self, addr: IpAddr) -> Result<(), Duration> {
        let now = self.clock.now();
        self.by_addr
            .check_key(&addr)
            .map_err(|n| n.wait_time_from(now))
    }

    /// Spends one attempt at `username` from `addr` (a checked name: its length
    /// is bounded).
    pub fn attempt_name(&self, username: &str, addr: IpAddr) -> Result<(), Duration> {
        let now = self.clock.now();
        self.by_name
            .check_key(&(username.to_lowercase(), addr))
            .map_err(|n| n.wait_time_from(now))
    }

    /// Both, address first.
    pub fn attempt(&self, username: &str, addr: IpAddr) -> Result<(), Duration> {
        self.attempt_from(addr)?;
        self.attempt_name(username, addr)
    }

    /// Whether a throttled attempt from `addr` starts a new episode worth one
    /// audit line (at most one a minute per address).
    pub fn note_episode(&self, addr: IpAddr) -> bool {
        self.episodes.check_key(&addr).is_ok()
    }

    /// Forgets idle buckets (call now and then to bound memory).
    pub fn forget_idle(&self) {
        self.by_name.retain_recent();
        self.by_addr.retain_recent();
        self.episodes.retain_recent();
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
        let wait = t.attempt("Anna", HOME).expect_err("fourth attempt waits");
        assert!(wait > Duration::from_secs(30), "{wait:?}");
        // Another name from the same place is not held back by Anna's bucket,
        // and nobody elsewhere can lock Anna out.
        assert!(t.attempt("bert", HOME).is_ok());
        let elsewhere: IpAddr = "10.0.0.8".parse().expect("ip");
        assert!(t.attempt("anna", elsewhere).is_ok());
        assert!(t.note_episode(HOME));
        assert!(!t.note_episode(HOME), "one audit line a minute");
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
