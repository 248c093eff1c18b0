//! `[access]` of the plant file: sign-in sessions and cookies.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::problems::{Problem, key};

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
}

impl Default for AccessConfig {
    fn default() -> Self {
        Self {
            session_idle_minutes: 720.0,
            secure_cookies: false,
        }
    }
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
}

/// Sign-in sessions and cookies, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessSettings {
    /// A session ends after this long without a request.
    pub session_idle: Duration,
    /// Mark cookies `Secure` and send HSTS.
    pub secure_cookies: bool,
}

impl AccessConfig {
    /// The settings of a validated `[access]`.
    pub fn resolve(&self) -> AccessSettings {
        AccessSettings {
            session_idle: Duration::from_secs_f64(
                self.session_idle_minutes.clamp(0.01, 10_080.0) * 60.0,
            ),
            secure_cookies: self.secure_cookies,
        }
    }
}

impl Default for AccessSettings {
    fn default() -> Self {
        AccessConfig::default().resolve()
    }
}
