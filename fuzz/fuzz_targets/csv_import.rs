//! The dataset reader on CSV (`quality::dataset::read_bytes`, what `import`,
//! `train` and the import page run on an uploaded file), on arbitrary bytes.
//! Products and limits are the shipped plant file's.
#![no_main]

use cellguard::quality::dataset::{Format, read_bytes};
use cellguard_fuzz::{check_records, quality};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match read_bytes(Format::Csv, data, quality()) {
        Ok(records) => check_records(&records),
        Err(errors) => {
            assert!(!errors.errors.is_empty(), "refused without a reason");
            let _ = errors.to_string();
        }
    }
});
