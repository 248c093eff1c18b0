//! The dataset reader on Excel workbooks (`quality::dataset::read_bytes` with
//! `Format::Xlsx`: calamine, then the same checks as CSV).
//!
//! An input that starts like a zip file (`PK`) is read as the workbook itself, so
//! arbitrary bytes reach the zip and workbook parsers. Any other input is the XML of
//! the first sheet, then optionally a NUL and the shared-strings XML, packed into an
//! otherwise valid workbook: random bytes almost never survive the zip checksums, and
//! this way the mutations reach the sheet reader and the dataset checks behind it.
#![no_main]

use std::io::{Cursor, Write};

use cellguard::quality::dataset::{Format, read_bytes};
use cellguard_fuzz::{check_records, quality};
use libfuzzer_sys::fuzz_target;
use zip::write::SimpleFileOptions;

const CONTENT_TYPES: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/><Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/></Types>"#;
const ROOT_RELS: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>"#;
const WORKBOOK: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>"#;
const WORKBOOK_RELS: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/><Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/></Relationships>"#;

/// A workbook whose first sheet and shared strings are `sheet` and `strings`.
fn workbook(sheet: &[u8], strings: Option<&[u8]>) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let stored = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    let mut parts: Vec<(&str, &[u8])> = vec![
        ("[Content_Types].xml", CONTENT_TYPES.as_bytes()),
        ("_rels/.rels", ROOT_RELS.as_bytes()),
        ("xl/workbook.xml", WORKBOOK.as_bytes()),
        ("xl/_rels/workbook.xml.rels", WORKBOOK_RELS.as_bytes()),
        ("xl/worksheets/sheet1.xml", sheet),
    ];
    if let Some(s) = strings {
        parts.push(("xl/sharedStrings.xml", s));
    }
    for (name, bytes) in parts {
        zip.start_file(name, stored).expect("zip in memory");
        zip.write_all(bytes).expect("zip in memory");
    }
    zip.finish().expect("zip in memory").into_inner()
}

fuzz_target!(|data: &[u8]| {
    let book;
    let bytes = if data.starts_with(b"PK") {
        data
    } else {
        let (sheet, strings) = match data.iter().position(|&b| b == 0) {
            Some(i) => (&data[..i], Some(&data[i + 1..])),
            None => (data, None),
        };
        book = workbook(sheet, strings);
        &book[..]
    };
    match read_bytes(Format::Xlsx, bytes, quality()) {
        Ok(records) => check_records(&records),
        Err(errors) => {
            assert!(!errors.errors.is_empty(), "refused without a reason");
            let _ = errors.to_string();
        }
    }
});
