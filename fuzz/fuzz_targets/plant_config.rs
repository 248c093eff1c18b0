//! The plant file loader (`config::parse`) on arbitrary UTF-8 text.
//!
//! Refused text must come back as located errors (never a panic), whose lines lie
//! in the text; accepted text must honour what the loader promises the rest of
//! CellGuard: addresses that fit the protocol, a known default product, and read
//! plans that cover every tag once within the Modbus read limits. The seed corpus
//! holds the shipped `config/plant.toml`, which the fuzzer mutates.
#![no_main]

use std::path::Path;

use cellguard::config;
use cellguard::modbus::{MAX_READ_BITS, MAX_READ_REGISTERS};
use cellguard::acquisition::plan::plan;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // Overrides by environment are part of loading: a device named in the text gets
    // a host and a port from "the environment" on some inputs.
    let env = |name: &str| -> Option<String> {
        if !text.contains("# env") {
            return None;
        }
        if name.ends_with("_PORT") {
            Some(name.len().to_string())
        } else {
            Some(name.to_lowercase())
        }
    };
    match config::parse(Path::new("plant.toml"), text, &env) {
        Err(errors) => {
            assert!(!errors.0.is_empty(), "refused without a reason");
            let lines = text.split('\n').count();
            for e in &errors.0 {
                assert!(e.line <= lines, "line {} of {lines}: {e}", e.line);
                assert!(e.line == 0 || e.column >= 1, "{e}");
            }
            let _ = errors.to_string();
        }
        Ok(plant) => {
            assert!(
                plant
                    .quality
                    .product(&plant.quality.default_product)
                    .is_some()
            );
            for d in &plant.plant.devices {
                assert!(!d.scan_groups.is_empty());
                for t in &d.tags {
                    assert_eq!(plant.plant.tag(t.id).name, t.name, "ids resolve back");
                    assert!(
                        u32::from(t.address) + u32::from(t.width()) <= 65_536,
                        "{}.{}: {} + {}",
                        d.machine,
                        t.name,
                        t.address,
                        t.width()
                    );
                    assert!(t.scale.is_finite() && t.scale != 0.0 && t.offset.is_finite());
                }
                for (gi, g) in d.scan_groups.iter().enumerate() {
                    let blocks = plan(d, gi);
                    let mut seen: Vec<usize> = blocks.iter().flat_map(|b| b.tags.clone()).collect();
                    seen.sort_unstable();
                    let expected: Vec<usize> = d
                        .tags
                        .iter()
                        .enumerate()
                        .filter(|(_, t)| t.scan_group == gi)
                        .map(|(i, _)| i)
                        .collect();
                    assert_eq!(seen, expected, "{}: group {}", d.machine, g.name);
                    for b in &blocks {
                        let limit = if b.table.is_bits() {
                            MAX_READ_BITS
                        } else {
                            MAX_READ_REGISTERS
                        };
                        assert!(b.count >= 1 && b.count <= limit, "{b:?}");
                        assert!(u32::from(b.start) + u32::from(b.count) <= 65_536, "{b:?}");
                    }
                }
            }
        }
    }
});
