//! What `POST /api/v1/inspections` does with a body before touching the database:
//! `quality::ingest::parse_body` (JSON, record by record), the batch size check and
//! `quality::ingest::validate` against the shipped plant file's products. The
//! `ingest::Body` type (one inspection or an array) is parsed and validated too.
//!
//! An accepted batch must hold only what the contract allows: known measurements of
//! the inspection's stage in their catalogue unit, every value finite and within
//! ±`MAX_MAGNITUDE`, verdicts as the limits judge them, valid identifiers and unique
//! keys, nothing from more than a day in the future.
#![no_main]

use std::collections::HashSet;

use cellguard::quality::dataset::check_id;
use cellguard::quality::ingest::{
    self, Body, Inspection, InspectionIn, MAX_BATCH, MAX_KEY_LEN, MAX_MAGNITUDE, parse_body,
};
use cellguard::quality::{Verdict, def};

use cellguard_fuzz::quality;
use libfuzzer_sys::fuzz_target;

/// A fixed "now" (2027-01-15), so every run judges the future the same way.
const NOW_MS: i64 = 1_800_000_000_000;

fn check(batch: Vec<InspectionIn>) {
    let sent = batch.len();
    if ingest::check_batch_size(sent).is_err() {
        assert!(sent > MAX_BATCH);
        return;
    }
    match ingest::validate(batch, quality(), NOW_MS) {
        Ok(accepted) => check_accepted(&accepted, sent),
        Err(errors) => {
            assert!(!errors.is_empty(), "refused without a reason");
            for e in &errors {
                assert!(e.record < sent.max(1), "{e:?}");
                let _ = e.to_string();
            }
        }
    }
}

fn check_accepted(accepted: &[Inspection], sent: usize) {
    assert_eq!(accepted.len(), sent, "all or nothing");
    let mut keys = HashSet::new();
    for i in accepted {
        assert!(
            !i.key.is_empty() && i.key.len() <= MAX_KEY_LEN,
            "{:?}",
            i.key
        );
        assert!(keys.insert(i.key.as_str()), "key {:?} twice", i.key);
        for id in [&i.serial, &i.order, &i.lot, &i.station] {
            assert!(check_id(id).is_ok(), "accepted id {id:?}");
        }
        let product = quality().product(&i.product).expect("a known product");
        assert!(
            i.ts_ms <= NOW_MS + 86_400_000,
            "from the future: {}",
            i.ts_ms
        );
        assert_eq!(i.digest.len(), 32);
        let mut names = HashSet::new();
        for m in &i.measurements {
            let d = def(&m.name).expect("a catalogue measurement");
            assert_eq!(d.stage, i.stage, "{} at {:?}", m.name, i.stage);
            assert_eq!(m.unit, d.unit);
            assert!(names.insert(m.name.as_str()), "{} twice", m.name);
            assert!(
                m.value.is_finite() && m.value.abs() <= MAX_MAGNITUDE,
                "{}: {}",
                m.name,
                m.value
            );
            assert_eq!((m.lsl, m.usl), product.limits_of(d));
            assert_eq!(m.verdict, Verdict::judge(m.value, m.lsl, m.usl));
        }
        for c in &i.context {
            assert!(
                c.value.is_finite() && c.value.abs() <= MAX_MAGNITUDE,
                "{c:?}"
            );
            assert!(
                check_id(&c.machine).is_ok() && check_id(&c.tag).is_ok(),
                "{c:?}"
            );
            assert!(c.unit.chars().count() <= 16);
        }
        assert!(!i.measurements.is_empty() || i.short_term_failed.is_some());
    }
}

fuzz_target!(|data: &[u8]| {
    // The handler's own path.
    if let Ok(batch) = parse_body(data) {
        check(batch);
    }
    // The contract's `Body` type.
    if let Ok(body) = serde_json::from_slice::<Body>(data) {
        check(body.into_vec());
    }
});
