//! `[access]` of the plant file: sign-in sessions and cookies.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::problems::{Problem, Seg, key};

/// Sign-in sessions and cookies.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AccessConfig {
    /// A session ends after this many minutes without a request (default: a
    /// 12-hour shift).
    pub session_idle_minutes: f64,
    /// Mark cookies `Secure` and send HSTS: set when CellGuard is served over
    /// TLS (directly or behind a TLS-terminating proxy).
    pub secure_cookies: bool,
    /// Reverse proxies (CIDRs or addresses) whose `X-Forwarded-For` / `Forwarded`
    /// headers name the client; from anyone else those headers are ignored.
    pub trusted_proxies: Vec<String>,
}

impl Default for AccessConfig {
    fn default() -> Self {
        Self {
            session_idle_minutes: 720.0,
            secure_cookies: false,
            trusted_proxies: Vec::new(),
        }
    }
}

/// A CIDR, or one address as a /32 or /128.
fn network(s: &str) -> Option<ipnet::IpNet> {
    let s = s.trim();
    s.parse()
        .ok()
        .or_else(|| s.parse::<std::net::IpAddr>().ok().map(ipnet::IpNet::from))
}

/// Everything serde cannot check in `[access]`.
pub fn validate(a: &AccessConfig, out: &mut Vec<Problem>) {
    let idle = a.session_idle_minutes;
    if !idle.is_finite() || !(0.01..=10_080.0).contains(&idle) {
        out.push((
            vec![key("access"), key("session_idle_minutes")],
            "must be between 0.01 and 10080 (a week)".into(),
        ));
    }
    for (i, p) in a.trusted_proxies.iter().enumerate() {
        if network(p).is_none() {
            out.push((
                vec![key("access"), key("trusted_proxies"), Seg::Index(i)],
                format!("{p:?} is not an address or a CIDR such as 10.0.0.0/24"),
            ));
        }
    }
}

/// Sign-in sessions and cookies, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessSettings {
    /// A session ends after this long without a request.
    pub session_idle: Duration,
    /// Mark cookies `Secure` and send HSTS.
    pub secure_cookies: bool,
    /// Proxies whose forwarding headers are believed.
    pub trusted_proxies: Vec<ipnet::IpNet>,
}

impl AccessConfig {
    /// The settings of a validated `[access]`.
    pub fn resolve(&self) -> AccessSettings {
        AccessSettings {
            session_idle: Duration::from_secs_f64(
                self.session_idle_minutes.clamp(0.01, 10_080.0) * 60.0,
            ),
            secure_cookies: self.secure_cookies,
            trusted_proxies: self
                .trusted_proxies
                .iter()
                .filter_map(|p| network(p))
                .collect(),
        }
    }
}

impl Default for AccessSettings {
    fn default() -> Self {
        AccessConfig::default().resolve()
    }
}
