//! `[mes]` of the plant file: where the MES is, how CellGuard proves who it is,
//! how often it talks to it and how it retries; and the [`Secret`] that keeps a
//! token out of every log. [`MesConfig`] is the section as written (loaded and
//! validated); [`MesSettings`] is what the running MES side uses.

use std::fmt;
use std::time::Duration;

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
    /// A message the MES keeps answering with a passing error (408, 5xx) becomes a
    /// dead letter after this many attempts …
    pub max_attempts: u32,
    /// … or once it is this many hours old, whichever comes first.
    pub max_age_hours: f64,
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
            max_attempts: 20,
            max_age_hours: 24.0,
        }
    }
}

/// Shortest interval of `[mes]` (seconds).
const MIN_INTERVAL_S: f64 = 0.1;
/// Longest interval of `[mes]` (seconds): a day.
const MAX_INTERVAL_S: f64 = 86_400.0;

/// The MES's base URL, if `text` is an http(s) URL with a host: the one check
/// for the plant file, its environment override and the resolved settings.
pub fn mes_url(text: &str) -> Result<url::Url, String> {
    match url::Url::parse(text.trim()) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Ok(u),
        Ok(_) => Err("must be an http:// or https:// URL".into()),
        Err(e) => Err(format!("is not a URL: {e}")),
    }
}

/// Everything serde cannot check in `[mes]`.
pub fn validate(m: &MesConfig, out: &mut Vec<Problem>) {
    let mp = |name: &str| vec![key("mes"), key(name)];
    if !m.embedded
        && !m.url.trim().is_empty()
        && let Err(e) = mes_url(&m.url)
    {
        out.push((mp("url"), e));
    }
    for (name, v, max) in [
        ("orders_interval_s", m.orders_interval_s, MAX_INTERVAL_S),
        (
            "machine_data_interval_s",
            m.machine_data_interval_s,
            MAX_INTERVAL_S,
        ),
        (
            "confirmation_interval_s",
            m.confirmation_interval_s,
            MAX_INTERVAL_S,
        ),
    ] {
        if !v.is_finite() || !(MIN_INTERVAL_S..=max).contains(&v) {
            out.push((mp(name), format!("must be between 0.1 and {max} seconds")));
        }
    }
    if !(100..=300_000).contains(&m.timeout_ms) {
        out.push((mp("timeout_ms"), "must be between 100 and 300000".into()));
    }
    if m.retry_min_ms == 0 {
        out.push((mp("retry_min_ms"), "must be at least 1".into()));
    }
    if !(1..=10_000).contains(&m.max_attempts) {
        out.push((mp("max_attempts"), "must be between 1 and 10000".into()));
    }
    if !m.max_age_hours.is_finite() || !(0.01..=8_760.0).contains(&m.max_age_hours) {
        out.push((
            mp("max_age_hours"),
            "must be between 0.01 and 8760 (a year)".into(),
        ));
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

/// The MES link, resolved: where the MES is, the token, and how often CellGuard
/// talks to it and retries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MesSettings {
    /// Start the MES simulator inside `cellguard serve` and talk to it instead of
    /// `url`.
    pub embedded: bool,
    /// The MES's base URL (http or https, with a host); `None`: none configured.
    pub url: Option<url::Url>,
    /// Bearer token (the embedded MES makes its own).
    pub token: Secret,
    /// Between fetches of the production orders.
    pub orders_interval: Duration,
    /// Per machine-data report (min/avg/max/last per tag).
    pub machine_data_interval: Duration,
    /// Between checks for changed order counts (confirmations).
    pub confirmation_interval: Duration,
    /// Longest wait for one MES answer.
    pub timeout: Duration,
    /// First retry delay after a failure; doubles up to `retry_max`.
    pub retry_min: Duration,
    /// Longest retry delay (at least `retry_min`).
    pub retry_max: Duration,
    /// How long delivered messages are kept (for the MES page and audits).
    pub keep_delivered: Duration,
    /// Attempts after which a message the MES keeps failing is a dead letter.
    pub max_attempts: u32,
    /// Age after which such a message is a dead letter.
    pub max_age: Duration,
}

impl MesSettings {
    /// Whether CellGuard talks to an MES at all.
    pub fn enabled(&self) -> bool {
        self.embedded || self.url.is_some()
    }
}

impl MesConfig {
    /// The settings of a validated `[mes]` (with its environment overrides).
    pub fn resolve(&self) -> MesSettings {
        let retry_min = Duration::from_millis(self.retry_min_ms.max(1));
        MesSettings {
            embedded: self.embedded,
            // Validation proved it one unless the embedded MES is used instead.
            url: mes_url(&self.url).ok(),
            token: self.token.clone(),
            orders_interval: interval(self.orders_interval_s),
            machine_data_interval: interval(self.machine_data_interval_s),
            confirmation_interval: interval(self.confirmation_interval_s),
            timeout: Duration::from_millis(self.timeout_ms),
            retry_min,
            retry_max: Duration::from_millis(self.retry_max_ms).max(retry_min),
            keep_delivered: Duration::from_secs(u64::from(self.keep_delivered_days) * 86_400),
            max_attempts: self.max_attempts.max(1),
            max_age: Duration::try_from_secs_f64(self.max_age_hours.clamp(0.01, 8_760.0) * 3_600.0)
                .unwrap_or(Duration::from_secs(86_400)),
        }
    }
}

/// An interval of `[mes]` in seconds as a [`Duration`], within the range
/// validation allows.
fn interval(seconds: f64) -> Duration {
    Duration::try_from_secs_f64(seconds.clamp(MIN_INTERVAL_S, MAX_INTERVAL_S))
        .unwrap_or(Duration::from_millis(100))
}

impl Default for MesSettings {
    fn default() -> Self {
        MesConfig::default().resolve()
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::time::Duration;

    use super::{MesConfig, MesSettings, Secret};

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
    fn resolving_turns_every_unit_into_a_duration() {
        let m = MesConfig {
            url: " https://mes.plant.local:8443/api ".into(),
            token: Secret::new("t"),
            orders_interval_s: 0.5,
            machine_data_interval_s: 90.0,
            confirmation_interval_s: 1.0,
            timeout_ms: 2_000,
            retry_min_ms: 50,
            retry_max_ms: 1_000,
            keep_delivered_days: 7,
            ..MesConfig::default()
        };
        let s = m.resolve();
        assert!(!s.embedded);
        assert!(s.enabled());
        assert_eq!(
            s.url.as_ref().map(url::Url::as_str),
            Some("https://mes.plant.local:8443/api")
        );
        assert_eq!(s.token.expose(), "t");
        assert_eq!(s.orders_interval, Duration::from_millis(500));
        assert_eq!(s.machine_data_interval, Duration::from_secs(90));
        assert_eq!(s.confirmation_interval, Duration::from_secs(1));
        assert_eq!(s.timeout, Duration::from_secs(2));
        assert_eq!(s.retry_min, Duration::from_millis(50));
        assert_eq!(s.retry_max, Duration::from_secs(1));
        assert_eq!(s.keep_delivered, Duration::from_secs(7 * 86_400));
        let d = MesSettings::default();
        assert_eq!(d.url, None);
        assert!(!d.enabled());
        assert_eq!(d.orders_interval, Duration::from_secs(30));
        assert_eq!(d.retry_max, Duration::from_secs(60));
        let embedded = MesConfig {
            embedded: true,
            ..MesConfig::default()
        };
        assert!(embedded.resolve().enabled());
    }

    #[test]
    fn without_a_url_or_the_embedded_simulator_there_is_no_mes() {
        let p = parse(Path::new("p"), MINIMAL, &no_env).expect("valid");
        assert!(!p.mes.enabled());
    }
}
