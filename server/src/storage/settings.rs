//! `[history]` of the plant file: how acquired values are kept.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::problems::{Problem, key};

/// How acquired values are kept.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HistoryConfig {
    /// Days of history kept; older samples are pruned hourly.
    pub retention_days: u32,
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
    /// How long samples are kept; older ones are pruned hourly.
    pub retention: Duration,
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
            retention: Duration::from_secs(u64::from(self.retention_days) * 86_400),
            min_interval: Duration::from_millis(self.min_interval_ms),
            batch_size: self.batch_size.max(1),
            flush_interval: Duration::from_millis(self.flush_interval_ms.max(1)),
        }
    }
}

impl Default for HistorySettings {
    fn default() -> Self {
        HistoryConfig::default().resolve()
    }
}
