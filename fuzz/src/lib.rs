//! What the fuzz targets share: the shipped plant file and the invariants of an
//! accepted dataset.

use std::collections::HashSet;
use std::path::Path;
use std::sync::LazyLock;

use cellguard::config::{self, Settings};
use cellguard::quality::settings::QualitySettings;
use cellguard::clock::format_time;
use cellguard::quality::dataset::{self, Format, check_id};
use cellguard::quality::{CATALOGUE, CellRecord, dataset_header};

/// The plant file CellGuard ships, loaded once.
pub static PLANT: LazyLock<Settings> = LazyLock::new(|| {
    config::parse(
        Path::new("config/plant.toml"),
        include_str!("../../config/plant.toml"),
        &|_| None,
    )
    .unwrap_or_else(|e| panic!("the shipped plant file must load:\n{e}"))
});

/// The shipped products, limits and default product.
pub fn quality() -> &'static QualitySettings {
    &PLANT.quality
}

/// What every dataset the reader accepts must satisfy: at least one record, each
/// with identifiers that pass the identifier check, a known (or no) product, one
/// finite value slot per catalogue measurement (so each exported row has the
/// header's column count), unique serials; and written back as CSV, it reads back
/// as the same records.
pub fn check_records(records: &[CellRecord]) {
    assert!(!records.is_empty(), "accepted without a record");
    let header = dataset_header().len();
    let mut serials = HashSet::new();
    for r in records {
        for id in [&r.serial, &r.lot, &r.order] {
            assert!(check_id(id).is_ok(), "accepted id {id:?}");
        }
        assert!(
            r.product.is_empty() || quality().product(&r.product).is_some(),
            "accepted product {:?}",
            r.product
        );
        assert_eq!(r.values.len(), CATALOGUE.len());
        assert!(
            r.values.iter().flatten().all(|v| v.is_finite()),
            "{:?}",
            r.values
        );
        assert_eq!(dataset::record_row(r).len(), header, "row width");
        assert!(
            serials.insert(r.serial.as_str()),
            "serial {} twice",
            r.serial
        );
    }
    let mut csv = Vec::new();
    dataset::write_csv(&mut csv, records).expect("writes to memory");
    let back = dataset::read_bytes(Format::Csv, &csv, quality())
        .unwrap_or_else(|e| panic!("own export refused: {e}\n{}", String::from_utf8_lossy(&csv)));
    // A time the export cannot spell (beyond year 9999) is written empty.
    let expected: Vec<CellRecord> = records
        .iter()
        .cloned()
        .map(|mut r| {
            r.produced_ms = r.produced_ms.filter(|ms| !format_time(*ms).is_empty());
            r
        })
        .collect();
    assert_eq!(back, expected, "export → import round trip");
}
