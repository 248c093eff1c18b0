//! Wall-clock time as CellGuard stores and prints it: Unix milliseconds, RFC 3339
//! UTC. A leaf module every layer may use.

/// Unix time in milliseconds.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Formats Unix milliseconds as RFC 3339 UTC (`2026-06-01T08:00:00.250Z`).
pub fn format_time(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.to_string())
        .unwrap_or_default()
}

/// A duration in whole milliseconds (saturating), as stored beside Unix times.
pub fn millis(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_print_as_rfc3339_utc() {
        assert_eq!(format_time(1000), "1970-01-01T00:00:01Z");
        assert_eq!(format_time(250), "1970-01-01T00:00:00.25Z");
    }

    #[test]
    fn now_is_after_2020() {
        assert!(now_ms() > 1_577_836_800_000);
    }

    #[test]
    fn durations_become_milliseconds() {
        assert_eq!(millis(std::time::Duration::from_secs(2)), 2000);
    }
}
