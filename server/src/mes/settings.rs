//! `[mes]` of the plant file: where the MES is, how CellGuard proves who it is,
//! how often it talks to it and how it retries; and the [`Secret`] that keeps a
//! token out of every log.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::problems::{Problem, key};

/// A secret from the plant file or the environment: never printed, never logged.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }
    /// The secret itself, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() {
            "\"\""
        } else {
            "\"(secret)\""
        })
    }
}

impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(if self.0.is_empty() { "" } else { "(secret)" })
    }
}

/// The MES (REST): where it is, how CellGuard proves who it is, how often it
/// talks to it and how it retries.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MesConfig {
    /// Start the MES simulator inside `cellguard serve` on a free loopback port
    /// and talk to it instead of `url`.
    pub embedded: bool,
    /// The MES's base URL (`CELLGUARD_MES_URL`); empty and not embedded: no MES.
    pub url: String,
    /// Bearer token (`CELLGUARD_MES_TOKEN`; the embedded MES makes its own).
    pub token: Secret,
    /// Seconds between fetches of the production orders.
    pub orders_interval_s: f64,
    /// Seconds per machine-data report (min/avg/max/last per tag).
    pub machine_data_interval_s: f64,
    /// Seconds between checks for changed order counts (confirmations).
    pub confirmation_interval_s: f64,
    /// Longest wait for one MES answer.
    pub timeout_ms: u64,
    /// First retry delay after a failure; doubles up to `retry_max_ms`.
    pub retry_min_ms: u64,
    /// Longest retry delay.
    pub retry_max_ms: u64,
    /// Days delivered messages are kept (for the MES page and audits).
    pub keep_delivered_days: u32,
}

impl Default for MesConfig {
    fn default() -> Self {
        Self {
            embedded: false,
            url: String::new(),
            token: Secret::default(),
            orders_interval_s: 30.0,
            machine_data_interval_s: 60.0,
            confirmation_interval_s: 60.0,
            timeout_ms: 5_000,
            retry_min_ms: 500,
            retry_max_ms: 60_000,
            keep_delivered_days: 7,
        }
    }
}

impl MesConfig {
    /// Whether CellGuard talks to an MES at all.
    pub fn enabled(&self) -> bool {
        self.embedded || !self.url.trim().is_empty()
    }
}

/// Everything serde cannot check in `[mes]`.
pub fn validate(m: &MesConfig, out: &mut Vec<Problem>) {
    let mp = |name: &str| vec![key("mes"), key(name)];
    if !m.embedded && !m.url.trim().is_empty() {
        match url::Url::parse(m.url.trim()) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {}
            Ok(_) => out.push((mp("url"), "must be an http:// or https:// URL".into())),
            Err(e) => out.push((mp("url"), format!("is not a URL: {e}"))),
        }
    }
    for (name, v, max) in [
        ("orders_interval_s", m.orders_interval_s, 86_400.0),
        (
            "machine_data_interval_s",
            m.machine_data_interval_s,
            86_400.0,
        ),
        (
            "confirmation_interval_s",
            m.confirmation_interval_s,
            86_400.0,
        ),
    ] {
        if !v.is_finite() || !(0.1..=max).contains(&v) {
            out.push((mp(name), format!("must be between 0.1 and {max} seconds")));
        }
    }
    if !(100..=300_000).contains(&m.timeout_ms) {
        out.push((mp("timeout_ms"), "must be between 100 and 300000".into()));
    }
    if m.retry_min_ms == 0 {
        out.push((mp("retry_min_ms"), "must be at least 1".into()));
    }
    if m.retry_max_ms < m.retry_min_ms || m.retry_max_ms > 3_600_000 {
        out.push((
            mp("retry_max_ms"),
            "must be at least retry_min_ms and at most 3600000 (an hour)".into(),
        ));
    }
    if m.keep_delivered_days == 0 {
        out.push((mp("keep_delivered_days"), "must be at least 1".into()));
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::config::parse;
    use crate::config::tests::{MINIMAL, errors, no_env};

    #[test]
    fn mes_settings_are_checked_with_their_line() {
        let text = format!(
            "{MINIMAL}\n[mes]\nurl = \"ftp://mes\"\norders_interval_s = 0\nretry_min_ms = 10\nretry_max_ms = 5\n"
        );
        let e = errors(&text);
        let fields: Vec<&str> = e.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            ["mes.url", "mes.orders_interval_s", "mes.retry_max_ms"],
            "{e:?}"
        );
        let url = &e[0];
        assert_eq!(url.line, MINIMAL.lines().count() + 3, "{url}");
        let bad_env = |k: &str| (k == "CELLGUARD_MES_URL").then(|| "not a url".to_owned());
        let err = parse(Path::new("p"), MINIMAL, &bad_env).expect_err("refused");
        assert_eq!(err.0[0].field, "CELLGUARD_MES_URL");
    }

    #[test]
    fn without_a_url_or_the_embedded_simulator_there_is_no_mes() {
        let p = parse(Path::new("p"), MINIMAL, &no_env).expect("valid");
        assert!(!p.mes.enabled());
    }
}
