//! Text for every page: numbers, ages, dates, times and shares.
//!
//! Times are shown in UTC, on the server and in the browser alike, so the first
//! render and the hydrated page agree and every screen on the floor shows the same
//! clock. Pure functions.

/// Milliseconds in a day.
pub const MS_PER_DAY: i64 = 86_400_000;

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day count since 1970-01-01.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// `2026-06-01` (UTC) of a Unix time in ms.
pub fn format_date(ms: i64) -> String {
    let (y, m, d) = civil_from_days(ms.div_euclid(MS_PER_DAY));
    format!("{y:04}-{m:02}-{d:02}")
}

/// `2026-06-01 06:00 UTC` of a Unix time in ms; `—` for 0 (never).
pub fn format_time(ms: i64) -> String {
    if ms == 0 {
        return "—".into();
    }
    let in_day = ms.rem_euclid(MS_PER_DAY) / 60_000;
    format!(
        "{} {:02}:{:02} UTC",
        format_date(ms),
        in_day / 60,
        in_day % 60
    )
}

/// Midnight UTC after a `YYYY-MM-DD` date: the exclusive end of a range whose
/// last day is included.
pub fn parse_date_end(s: &str) -> Option<i64> {
    parse_date(s).map(|d| d + MS_PER_DAY)
}

/// The message of a server function's error; the server's messages are safe to
/// show, and a server out of reach reads as such.
pub fn server_message(e: &crate::error::ServiceError) -> String {
    e.to_string()
}

/// Midnight UTC of a `YYYY-MM-DD` date (as an `<input type="date">` gives it).
pub fn parse_date(s: &str) -> Option<i64> {
    let mut parts = s.trim().splitn(3, '-');
    let y: i64 = parts.next()?.parse().ok()?;
    let m: u32 = parts.next()?.parse().ok()?;
    let d: u32 = parts.next()?.parse().ok()?;
    if !(1..=12).contains(&m) || d == 0 || !(1..=9999).contains(&y) {
        return None;
    }
    let days = days_from_civil(y, m, d);
    // Rejects 2026-02-30 and the like: the date must survive the round trip.
    (civil_from_days(days) == (y, m, d)).then_some(days * MS_PER_DAY)
}

/// A share as a percentage: `12.5 %`; `—` when unknown.
pub fn format_share(share: Option<f64>) -> String {
    match share {
        Some(s) if s.is_finite() => {
            let p = s * 100.0;
            if p != 0.0 && p.abs() < 10.0 {
                format!("{p:.1} %")
            } else {
                format!("{p:.0} %")
            }
        }
        _ => "—".into(),
    }
}

/// A risk score (a probability) with the precision the threshold needs: `0.304`.
pub fn format_score(score: f64) -> String {
    if score.is_finite() {
        format!("{score:.3}")
    } else {
        "—".into()
    }
}

/// Percent-encodes a query value (RFC 3986 unreserved characters pass as they are).
pub fn encode_query_value(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `?a=1&b=x%20y` of the pairs whose value is not empty; `""` when none is left.
pub fn query_string(pairs: &[(&str, String)]) -> String {
    let parts: Vec<String> = pairs
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("{k}={}", encode_query_value(v)))
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!("?{}", parts.join("&"))
    }
}

/// Formats a number with three significant digits after the point at most.
pub fn format_number(n: f64) -> String {
    if !n.is_finite() {
        return "—".into();
    }
    let a = n.abs();
    let decimals = if a >= 1000.0 {
        0
    } else if a >= 100.0 {
        1
    } else if a >= 1.0 {
        2
    } else {
        3
    };
    format!("{n:.decimals$}")
}

/// "3 s ago", "4 min ago" …
pub fn format_age(age_ms: i64) -> String {
    let s = age_ms.max(0) / 1000;
    if age_ms < 1000 {
        "just now".into()
    } else if s < 60 {
        format!("{s} s ago")
    } else if s < 3600 {
        format!("{} min ago", s / 60)
    } else {
        format!("{} h ago", s / 3600)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip_through_unix_time() {
        assert_eq!(parse_date("1970-01-01"), Some(0));
        assert_eq!(parse_date("2026-06-01"), Some(1_780_272_000_000));
        assert_eq!(format_date(1_780_272_000_000), "2026-06-01");
        assert_eq!(format_date(1_780_272_000_000 - 1), "2026-05-31");
        assert_eq!(
            parse_date("2024-02-29").map(format_date).as_deref(),
            Some("2024-02-29")
        );
        assert_eq!(format_date(-1), "1969-12-31");
    }

    #[test]
    fn bad_dates_are_refused() {
        for s in [
            "",
            "2026",
            "2026-13-01",
            "2026-02-30",
            "2026-00-10",
            "x-1-1",
            "2026-1-",
        ] {
            assert_eq!(parse_date(s), None, "{s}");
        }
    }

    #[test]
    fn times_are_shown_in_utc_to_the_minute() {
        assert_eq!(format_time(1_780_293_601_097), "2026-06-01 06:00 UTC");
        assert_eq!(format_time(0), "—");
    }

    #[test]
    fn query_values_are_encoded_and_empty_ones_left_out() {
        assert_eq!(encode_query_value("L 1/ä&x"), "L%201%2F%C3%A4%26x");
        assert_eq!(
            query_string(&[
                ("lot", "L2606-001".into()),
                ("order", String::new()),
                ("band", "high".into())
            ]),
            "?lot=L2606-001&band=high"
        );
        assert_eq!(query_string(&[("lot", String::new())]), "");
    }

    #[test]
    fn shares_and_scores_read_well() {
        assert_eq!(format_share(Some(0.126)), "13 %");
        assert_eq!(format_share(Some(0.085)), "8.5 %");
        assert_eq!(format_share(Some(0.0)), "0 %");
        assert_eq!(format_share(None), "—");
        assert_eq!(format_score(0.30253), "0.303");
        assert_eq!(format_score(f64::NAN), "—");
    }

    #[test]
    fn numbers_are_shown_with_sensible_precision() {
        assert_eq!(format_number(1000.4), "1000");
        assert_eq!(format_number(45.234), "45.23");
        assert_eq!(format_number(0.1234), "0.123");
        assert_eq!(format_number(f64::NAN), "—");
    }

    #[test]
    fn ages_read_naturally() {
        assert_eq!(format_age(200), "just now");
        assert_eq!(format_age(3_500), "3 s ago");
        assert_eq!(format_age(125_000), "2 min ago");
    }
}
