//! What CellGuard does with the MES's answers: the production schedule
//! (`mes::contract::parse_schedule`) and a `Retry-After` header.
//!
//! An accepted schedule holds only orders with usable ids, each id once, at most
//! `MAX_ORDERS`; every skipped order has a reason. A Retry-After is never read as
//! longer than a date in the past or far future allows: delay-seconds as given, a
//! date relative to a fixed now.
#![no_main]

use std::collections::HashSet;

use cellguard::mes::contract::{MAX_ORDERS, parse_retry_after, parse_schedule};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok((orders, skipped)) = parse_schedule(data) {
        assert!(orders.len() <= MAX_ORDERS);
        let mut ids = HashSet::new();
        for o in &orders {
            assert!(ids.insert(o.id.clone()), "order {} twice", o.id);
            for id in [&o.id, &o.product] {
                assert!(!id.is_empty() && id.len() <= 64, "{id:?}");
                assert!(
                    id.chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/')),
                    "{id:?}"
                );
            }
        }
        assert!(skipped.iter().all(|s| !s.is_empty()));
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let now = jiff::Timestamp::from_second(1_800_000_000).expect("now");
        if let Some(d) = parse_retry_after(text, now)
            && let Ok(secs) = text.trim().parse::<u64>()
        {
            assert_eq!(d.as_secs(), secs);
        }
    }
});
