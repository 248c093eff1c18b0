//! `[history]` of the plant file: how acquired values are kept.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::problems::{Problem, key};

/// How acquired values are kept.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HistoryConfig {
    /// Days raw samples are kept; older ones are pruned hourly.
    pub retention_days: u32,
    /// Days minute rollups are kept (at least `retention_days`).
    pub minute_retention_days: u32,
    /// Days hour and day rollups are kept (at least `minute_retention_days`).
    pub hour_retention_days: u32,
    /// Minutes of every numeric tag's values kept in memory for the live pages and
    /// short trends (16 bytes a sample).
    pub memory_minutes: u32,
    /// At most one stored sample per tag in this interval (a change of quality is always stored).
    pub min_interval_ms: u64,
    /// Rows written per transaction at most.
    pub batch_size: usize,
    /// Longest time a sample waits before it is written.
    pub flush_interval_ms: u64,
}

impl Default for HistoryConfig {
    fn default() -> Self {
        Self {
            retention_days: 30,
            minute_retention_days: 365,
            hour_retention_days: 3650,
            memory_minutes: 15,
            min_interval_ms: 1000,
            batch_size: 1000,
            flush_interval_ms: 500,
        }
    }
}

/// Everything serde cannot check in `[history]`.
pub fn validate(h: &HistoryConfig, out: &mut Vec<Problem>) {
    if h.batch_size == 0 {
        out.push((
            vec![key("history"), key("batch_size")],
            "must be at least 1".into(),
        ));
    }
    for (field, days) in [
        ("retention_days", h.retention_days),
        ("minute_retention_days", h.minute_retention_days),
        ("hour_retention_days", h.hour_retention_days),
    ] {
        if days == 0 {
            out.push((
                vec![key("history"), key(field)],
                "must be at least 1".into(),
            ));
        }
    }
    if h.minute_retention_days > 0 && h.minute_retention_days < h.retention_days {
        out.push((
            vec![key("history"), key("minute_retention_days")],
            format!(
                "must be at least retention_days ({}): the minute rollup serves the ranges raw samples no longer cover",
                h.retention_days
            ),
        ));
    }
    if h.hour_retention_days > 0 && h.hour_retention_days < h.minute_retention_days {
        out.push((
            vec![key("history"), key("hour_retention_days")],
            format!(
                "must be at least minute_retention_days ({})",
                h.minute_retention_days
            ),
        ));
    }
    if h.memory_minutes == 0 || h.memory_minutes > 24 * 60 {
        out.push((
            vec![key("history"), key("memory_minutes")],
            "must be 1 to 1440".into(),
        ));
    }
    if h.flush_interval_ms == 0 {
        out.push((
            vec![key("history"), key("flush_interval_ms")],
            "must be at least 1".into(),
        ));
    }
}

/// How acquired values are kept, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistorySettings {
    /// How long raw samples are kept; older ones are pruned hourly.
    pub retention: Duration,
    /// How long minute rollups are kept.
    pub minute_retention: Duration,
    /// How long hour rollups are kept.
    pub hour_retention: Duration,
    /// How much of every tag is kept in memory.
    pub memory_window: Duration,
    /// At most one stored sample per tag in this interval (a change of quality is
    /// always stored).
    pub min_interval: Duration,
    /// Rows written per transaction at most (at least 1).
    pub batch_size: usize,
    /// Longest time a sample waits before it is written.
    pub flush_interval: Duration,
}

impl HistoryConfig {
    /// The settings of a validated `[history]`.
    pub fn resolve(&self) -> HistorySettings {
        HistorySettings {
            retention: days(self.retention_days),
            minute_retention: days(self.minute_retention_days),
            hour_retention: days(self.hour_retention_days),
            memory_window: Duration::from_secs(u64::from(self.memory_minutes) * 60),
            min_interval: Duration::from_millis(self.min_interval_ms),
            batch_size: self.batch_size.max(1),
            flush_interval: Duration::from_millis(self.flush_interval_ms.max(1)),
        }
    }
}

fn days(n: u32) -> Duration {
    Duration::from_secs(u64::from(n) * 86_400)
}

impl Default for HistorySettings {
    fn default() -> Self {
        HistoryConfig::default().resolve()
    }
}

#[cfg(test)]
mod tests {
    use crate::config::tests::{MINIMAL, errors};

    #[test]
    fn rollups_are_kept_at_least_as_long_as_what_they_summarise() {
        let e = errors(&format!(
            "[history]\nretention_days = 30\nminute_retention_days = 7\nhour_retention_days = 0\nmemory_minutes = 0\n{MINIMAL}"
        ));
        let text: Vec<String> = e.iter().map(|e| e.to_string()).collect();
        assert_eq!(e.len(), 3, "{text:?}");
        assert!(
            text.iter()
                .any(|t| t.contains("history.hour_retention_days") && t.contains("at least 1")),
            "{text:?}"
        );
        assert!(
            text.iter()
                .any(|t| t.contains("history.minute_retention_days")
                    && t.contains("at least retention_days (30)")),
            "{text:?}"
        );
        assert!(
            text.iter().any(|t| t.contains("history.memory_minutes")),
            "{text:?}"
        );
    }
}
