//! Dataset files: one row per cell, the format `simulate dataset` writes and
//! `import` and `train` read (CSV or Excel .xlsx).
//!
//! Columns: `serial`, `lot`, `order` (required), `product`, `produced_at` (optional),
//! then any catalogue measurement by name, then `label` (optional: `1` = failed the
//! short-term test, `0` = passed, empty = unknown). Column order is free; names are
//! matched without regard to case. Reading checks every row and reports every problem
//! with its row (as a spreadsheet numbers it: the header is row 1) and column;
//! a file with any problem yields no records.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::io::{Cursor, Write};
use std::path::Path;

use serde::Serialize;

use super::settings::QualitySettings;
use super::{CATALOGUE, CellRecord, ID_COLUMNS, LABEL_COLUMN, dataset_header, index_of};
use crate::clock::format_time;

/// Longest serial, lot, order or product id accepted.
pub const MAX_ID_LEN: usize = 64;
/// Most rows one file may hold.
pub const MAX_ROWS: usize = 1_000_000;
/// Problems reported at most (the file is refused either way).
pub const MAX_ERRORS: usize = 100;

/// One problem in a dataset file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct RowError {
    /// Row as a spreadsheet numbers it (header = 1); 0 for the file as a whole.
    pub row: usize,
    /// Column name, when the problem is in one cell.
    pub column: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.row, &self.column) {
            (0, _) => write!(f, "{}", self.message),
            (r, Some(c)) => write!(f, "row {r}, column {c}: {}", self.message),
            (r, None) => write!(f, "row {r}: {}", self.message),
        }
    }
}

/// Every problem found in a file (at most [`MAX_ERRORS`]), and whether more were cut.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error, utoipa::ToSchema)]
#[schema(as = RowProblems)]
pub struct DatasetErrors {
    /// The problems, in file order.
    pub errors: Vec<RowError>,
    /// More problems exist than listed.
    pub truncated: bool,
}

impl DatasetErrors {
    fn one(row: usize, column: Option<&str>, message: impl Into<String>) -> Self {
        Self {
            errors: vec![RowError {
                row,
                column: column.map(str::to_owned),
                message: message.into(),
            }],
            truncated: false,
        }
    }
}

impl fmt::Display for DatasetErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.errors.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        if self.truncated {
            write!(f, "\n(more problems not listed)")?;
        }
        Ok(())
    }
}

/// File formats read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Comma-separated values, UTF-8.
    Csv,
    /// Excel 2007+ workbook; the first sheet is read.
    Xlsx,
}

impl Format {
    /// The format of a file name, by its extension (CSV unless `.xlsx`).
    pub fn of_name(name: &str) -> Format {
        if name.to_ascii_lowercase().ends_with(".xlsx") {
            Format::Xlsx
        } else {
            Format::Csv
        }
    }
}

/// One cell of a sheet before interpretation.
#[derive(Debug, Clone, PartialEq)]
enum Raw {
    Empty,
    Text(String),
    Number(f64),
    /// An Excel date: days since 1899-12-30.
    ExcelDate(f64),
    Bool(bool),
}

impl Raw {
    fn text(s: &str) -> Raw {
        let t = s.trim();
        if t.is_empty() {
            Raw::Empty
        } else {
            Raw::Text(t.to_owned())
        }
    }

    fn shown(&self) -> String {
        match self {
            Raw::Empty => String::new(),
            Raw::Text(s) => s.clone(),
            Raw::Number(v) | Raw::ExcelDate(v) => v.to_string(),
            Raw::Bool(b) => b.to_string(),
        }
    }
}

/// Reads a dataset file (CSV, or .xlsx by extension).
pub fn read_file(path: &Path, quality: &QualitySettings) -> Result<Vec<CellRecord>, DatasetErrors> {
    let bytes = std::fs::read(path)
        .map_err(|e| DatasetErrors::one(0, None, format!("cannot read {}: {e}", path.display())))?;
    let name = path.to_string_lossy();
    read_bytes(Format::of_name(&name), &bytes, quality)
}

/// Reads a dataset from memory (an upload).
pub fn read_bytes(
    format: Format,
    bytes: &[u8],
    quality: &QualitySettings,
) -> Result<Vec<CellRecord>, DatasetErrors> {
    let (header, rows) = match format {
        Format::Csv => csv_table(bytes)?,
        Format::Xlsx => xlsx_table(bytes)?,
    };
    parse_table(&header, rows, quality)
}

fn csv_table(bytes: &[u8]) -> Result<(Vec<String>, Vec<Vec<Raw>>), DatasetErrors> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(bytes);
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| DatasetErrors::one(1, None, format!("unreadable header: {e}")))?
        .iter()
        .map(|h| h.trim().to_owned())
        .collect();
    if header.len() > MAX_COLUMNS as usize {
        return Err(DatasetErrors::one(
            1,
            None,
            format!("{} columns; at most {MAX_COLUMNS}", header.len()),
        ));
    }
    let mut rows = Vec::new();
    for (i, rec) in reader.records().enumerate() {
        let row = i + 2;
        let rec = rec.map_err(|e| DatasetErrors::one(row, None, format!("unreadable row: {e}")))?;
        // Refuse runaway rows before keeping them (a file of commas is cheap to send).
        if rec.len() > header.len().max(1) * 2 + 16 {
            return Err(DatasetErrors::one(
                row,
                None,
                format!("{} values for {} columns", rec.len(), header.len()),
            ));
        }
        if rows.len() == MAX_ROWS {
            return Err(DatasetErrors::one(
                row,
                None,
                format!("more than {MAX_ROWS} rows; split the file"),
            ));
        }
        rows.push(rec.iter().map(Raw::text).collect());
    }
    Ok((header, rows))
}

/// Most columns a sheet may use (the catalogue has fewer than 40).
pub const MAX_COLUMNS: u32 = 256;

/// Most distinct strings a workbook may announce (16 per row of the largest file).
pub const MAX_SHARED_STRINGS: u64 = 16 * MAX_ROWS as u64;

/// The largest `uniqueCount = "N"` anywhere in the XML read from `xml` (saturating at
/// `u64::MAX`; 0 when there is none).
fn largest_unique_count(mut xml: impl std::io::Read) -> u64 {
    const KEY: &[u8] = b"uniqueCount";
    let (mut best, mut value) = (0u64, 0u64);
    // Bytes of KEY matched; then 1: before `=`, 2: before the quote, 3: in the digits.
    let (mut matched, mut stage) = (0usize, 0u8);
    let mut buf = [0u8; 8192];
    while let Ok(n @ 1..) = xml.read(&mut buf) {
        for &b in &buf[..n] {
            match (stage, b) {
                (1 | 2, b) if b.is_ascii_whitespace() => continue,
                (1, b'=') => {
                    stage = 2;
                    continue;
                }
                (2, b'"' | b'\'') => {
                    (stage, value) = (3, 0);
                    continue;
                }
                (3, b'0'..=b'9') => {
                    value = value.saturating_mul(10).saturating_add(u64::from(b - b'0'));
                    continue;
                }
                (3, b'+') if value == 0 => continue,
                (3, _) => best = best.max(value),
                _ => {}
            }
            stage = 0;
            // KEY's only border: the `u` of "uniqu" is also its first letter.
            loop {
                if b == KEY[matched] {
                    matched += 1;
                    break;
                }
                if matched == 0 {
                    break;
                }
                matched = if matched == 5 { 1 } else { 0 };
            }
            if matched == KEY.len() {
                (stage, matched) = (1, 0);
            }
        }
    }
    if stage == 3 { best.max(value) } else { best }
}

/// Refuses a workbook announcing more than [`MAX_SHARED_STRINGS`] shared strings.
///
/// calamine 0.38 reserves room for as many strings as the shared-strings part's
/// `uniqueCount` announces before reading one (tafia/calamine#684): 1 KB announcing
/// 10^10 made it ask for 240 GB, which aborts the whole process, and 10^18 panics.
/// So every part calamine could open as the shared strings (it matches names
/// ignoring case) is read here first, through the same zip crate calamine uses.
fn check_shared_strings(bytes: &[u8]) -> Result<(), DatasetErrors> {
    // What the zip crate cannot open, calamine refuses with its own message.
    let Ok(mut zip) = zip::ZipArchive::new(Cursor::new(bytes)) else {
        return Ok(());
    };
    for i in 0..zip.len() {
        let Ok(entry) = zip.by_index(i) else {
            continue;
        };
        let shared = entry.name().is_ok_and(|n| {
            n.replace('\\', "/")
                .to_ascii_lowercase()
                .ends_with("sharedstrings.xml")
        });
        if !shared {
            continue;
        }
        let announced = largest_unique_count(entry);
        if announced > MAX_SHARED_STRINGS {
            return Err(DatasetErrors::one(
                0,
                None,
                format!(
                    "the workbook announces {announced} distinct strings; at most {MAX_SHARED_STRINGS}"
                ),
            ));
        }
    }
    Ok(())
}

fn xlsx_table(bytes: &[u8]) -> Result<(Vec<String>, Vec<Vec<Raw>>), DatasetErrors> {
    use calamine::{DataRef, Reader, Xlsx};
    check_shared_strings(bytes)?;
    let mut book: Xlsx<_> = Xlsx::new(Cursor::new(bytes))
        .map_err(|e| DatasetErrors::one(0, None, format!("not a readable .xlsx workbook: {e}")))?;
    let Some(first) = book.sheet_names().first().cloned() else {
        return Err(DatasetErrors::one(0, None, "the workbook has no sheet"));
    };
    let unreadable = |e: calamine::XlsxError| {
        DatasetErrors::one(0, None, format!("cannot read sheet {first:?}: {e}"))
    };
    let mut cells = book.worksheet_cells_reader(&first).map_err(unreadable)?;
    // Cells are streamed and placed one by one: a sheet that claims (or uses) a far
    // corner must not make us allocate its whole rectangle.
    let mut grid: Vec<Vec<Raw>> = Vec::new();
    let mut origin: Option<(u32, u32)> = None;
    while let Some(cell) = cells.next_cell().map_err(unreadable)? {
        let (r, c) = cell.get_position();
        let raw = match cell.get_value() {
            DataRef::Empty => continue,
            DataRef::String(s) | DataRef::DateTimeIso(s) | DataRef::DurationIso(s) => Raw::text(s),
            DataRef::SharedString(s) => Raw::text(s),
            DataRef::Float(f) => Raw::Number(*f),
            DataRef::Int(i) => Raw::Number(*i as f64),
            DataRef::Bool(b) => Raw::Bool(*b),
            DataRef::DateTime(dt) => Raw::ExcelDate(dt.as_f64()),
            DataRef::Error(e) => Raw::Text(format!("#{e:?}")),
        };
        // The table starts at the first used cell (row-major order).
        let (r0, c0) = *origin.get_or_insert((r, c));
        let (Some(row), Some(col)) = (r.checked_sub(r0), c.checked_sub(c0)) else {
            continue;
        };
        if row as usize > MAX_ROWS {
            return Err(DatasetErrors::one(
                row as usize + 1,
                None,
                format!("more than {MAX_ROWS} rows; split the file"),
            ));
        }
        if col >= MAX_COLUMNS {
            return Err(DatasetErrors::one(
                row as usize + 1,
                None,
                format!("a value beyond column {MAX_COLUMNS}"),
            ));
        }
        let (row, col) = (row as usize, col as usize);
        if grid.len() <= row {
            grid.resize_with(row + 1, Vec::new);
        }
        let line = &mut grid[row];
        if line.len() <= col {
            line.resize(col + 1, Raw::Empty);
        }
        line[col] = raw;
    }
    let mut rows = grid.into_iter();
    let header = rows
        .next()
        .map(|r| r.iter().map(|d| d.shown().trim().to_owned()).collect())
        .unwrap_or_default();
    Ok((header, rows.collect()))
}

#[derive(Clone, Copy)]
enum Col {
    Serial,
    Lot,
    Order,
    Product,
    ProducedAt,
    Label,
    Measurement(usize),
}

fn classify(name: &str) -> Option<Col> {
    let n = name.trim().to_ascii_lowercase();
    Some(match n.as_str() {
        "serial" => Col::Serial,
        "lot" => Col::Lot,
        "order" => Col::Order,
        "product" => Col::Product,
        "produced_at" => Col::ProducedAt,
        LABEL_COLUMN => Col::Label,
        other => Col::Measurement(index_of(other)?),
    })
}

/// Collects problems up to [`MAX_ERRORS`].
#[derive(Default)]
struct Problems {
    list: Vec<RowError>,
    truncated: bool,
}

impl Problems {
    fn add(&mut self, row: usize, column: &str, message: String) {
        if self.list.len() < MAX_ERRORS {
            self.list.push(RowError {
                row,
                column: Some(column.to_owned()),
                message,
            });
        } else {
            self.truncated = true;
        }
    }
}

/// Checks an identifier: non-empty, short, printable, no separators people could not see.
pub fn check_id(s: &str) -> Result<(), String> {
    if s.is_empty() {
        return Err("must not be empty".into());
    }
    if s.chars().count() > MAX_ID_LEN {
        return Err(format!("longer than {MAX_ID_LEN} characters"));
    }
    if !s
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'))
    {
        return Err(format!("{s:?} may hold only letters, digits and - _ . /"));
    }
    Ok(())
}

/// Parses a timestamp: RFC 3339 (`2026-06-01T08:00:00Z`), a civil time read as UTC
/// (`2026-06-01 08:00:00`), or Unix milliseconds.
pub fn parse_time(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Ok(ts) = s.parse::<jiff::Timestamp>() {
        return Some(ts.as_millisecond());
    }
    if let Ok(dt) = s.parse::<jiff::civil::DateTime>() {
        return dt
            .to_zoned(jiff::tz::TimeZone::UTC)
            .ok()
            .map(|z| z.timestamp().as_millisecond());
    }
    s.parse::<i64>().ok().filter(|ms| *ms >= 0)
}

fn parse_table(
    header: &[String],
    rows: Vec<Vec<Raw>>,
    quality: &QualitySettings,
) -> Result<Vec<CellRecord>, DatasetErrors> {
    let mut p = Problems::default();
    let mut cols: Vec<Option<Col>> = Vec::with_capacity(header.len());
    let mut seen = HashSet::new();
    for h in header {
        let c = classify(h);
        if h.is_empty() {
            cols.push(None);
            continue;
        }
        match c {
            None => p.add(
                1,
                h,
                format!(
                    "unknown column; expected {}, or a measurement such as {}",
                    [ID_COLUMNS.as_slice(), &[LABEL_COLUMN]].concat().join(", "),
                    CATALOGUE[0].name
                ),
            ),
            Some(_) if !seen.insert(h.to_ascii_lowercase()) => {
                p.add(1, h, "column appears twice".into())
            }
            Some(_) => {}
        }
        cols.push(c);
    }
    for required in ["serial", "lot", "order"] {
        if !seen.contains(required) {
            p.add(1, required, "required column is missing".into());
        }
    }
    if !p.list.is_empty() {
        return Err(DatasetErrors {
            errors: p.list,
            truncated: p.truncated,
        });
    }
    if rows.is_empty() {
        return Err(DatasetErrors::one(0, None, "the file has no rows"));
    }
    let mut serials: HashMap<String, usize> = HashMap::new();
    let mut out = Vec::with_capacity(rows.len());
    for (i, mut row) in rows.into_iter().enumerate() {
        let rn = i + 2;
        // A short row leaves its last cells empty (required ones are then reported).
        if row.len() < header.len() {
            row.resize(header.len(), Raw::Empty);
        }
        if row.iter().all(|r| *r == Raw::Empty) {
            continue;
        }
        if row.len() > header.len() && row[header.len()..].iter().any(|r| *r != Raw::Empty) {
            p.list.push(RowError {
                row: rn,
                column: None,
                message: format!("{} values for {} columns", row.len(), header.len()),
            });
            continue;
        }
        let mut rec = CellRecord::new("", "", "");
        for (ci, raw) in row.into_iter().enumerate() {
            let (Some(Some(col)), Some(name)) = (cols.get(ci), header.get(ci)) else {
                continue;
            };
            let name = name.as_str();
            match *col {
                Col::Serial | Col::Lot | Col::Order | Col::Product => {
                    let v = raw.shown();
                    let v = v.trim();
                    if matches!(col, Col::Product) {
                        if !v.is_empty() && quality.product(v).is_none() {
                            p.add(rn, name, format!("unknown product {v:?}"));
                        }
                        rec.product = v.to_owned();
                        continue;
                    }
                    if let Err(m) = check_id(v) {
                        p.add(rn, name, m);
                    }
                    let slot = match col {
                        Col::Serial => &mut rec.serial,
                        Col::Lot => &mut rec.lot,
                        _ => &mut rec.order,
                    };
                    *slot = v.to_owned();
                }
                Col::ProducedAt => {
                    rec.produced_ms = match &raw {
                        Raw::Empty => None,
                        Raw::ExcelDate(days) | Raw::Number(days) if *days < 1e6 => {
                            Some(((days - 25569.0) * 86_400_000.0).round() as i64)
                        }
                        other => match parse_time(&other.shown()) {
                            Some(ms) => Some(ms),
                            None => {
                                p.add(
                                    rn,
                                    name,
                                    format!(
                                        "{:?} is not a time (use 2026-06-01T08:00:00Z)",
                                        other.shown()
                                    ),
                                );
                                None
                            }
                        },
                    };
                }
                Col::Label => {
                    rec.label = match &raw {
                        Raw::Empty => None,
                        Raw::Bool(b) => Some(*b),
                        Raw::Number(v) if *v == 0.0 => Some(false),
                        Raw::Number(v) if *v == 1.0 => Some(true),
                        other => match other.shown().to_ascii_lowercase().as_str() {
                            "1" | "true" | "fail" | "failed" => Some(true),
                            "0" | "false" | "pass" | "passed" => Some(false),
                            s => {
                                p.add(rn, name, format!("{s:?} is not 1, 0 or empty"));
                                None
                            }
                        },
                    };
                }
                Col::Measurement(mi) => {
                    let v = match &raw {
                        Raw::Empty => None,
                        Raw::Number(v) => Some(*v),
                        other => {
                            let s = other.shown();
                            match s.trim().parse::<f64>() {
                                Ok(v) => Some(v),
                                Err(_) => {
                                    p.add(rn, name, format!("{s:?} is not a number"));
                                    None
                                }
                            }
                        }
                    };
                    if let Some(v) = v {
                        if v.is_finite() {
                            rec.values[mi] = Some(v);
                        } else {
                            p.add(rn, name, format!("{v} is not a finite number"));
                        }
                    }
                }
            }
        }
        if !rec.serial.is_empty() {
            if let Some(first) = serials.get(&rec.serial) {
                p.add(
                    rn,
                    "serial",
                    format!("serial {} already on row {first}", rec.serial),
                );
            } else {
                serials.insert(rec.serial.clone(), rn);
            }
        }
        out.push(rec);
    }
    if !p.list.is_empty() {
        return Err(DatasetErrors {
            errors: p.list,
            truncated: p.truncated,
        });
    }
    if out.is_empty() {
        return Err(DatasetErrors::one(0, None, "the file has no rows"));
    }
    Ok(out)
}

/// Writes records as a dataset CSV with the full header.
pub fn write_csv<W: Write>(w: W, records: &[CellRecord]) -> Result<(), csv::Error> {
    let mut out = csv::Writer::from_writer(w);
    out.write_record(dataset_header())?;
    for r in records {
        out.write_record(record_row(r))?;
    }
    out.flush()?;
    Ok(())
}

/// One record as the fields of a dataset row, in [`dataset_header`] order (times in
/// RFC 3339 UTC, label `1`/`0`/empty).
pub fn record_row(r: &CellRecord) -> Vec<String> {
    let mut line = Vec::with_capacity(ID_COLUMNS.len() + r.values.len() + 1);
    line.push(r.serial.clone());
    line.push(r.lot.clone());
    line.push(r.order.clone());
    line.push(r.product.clone());
    line.push(r.produced_ms.map(format_time).unwrap_or_default());
    line.extend(
        r.values
            .iter()
            .map(|v| v.map(|v| v.to_string()).unwrap_or_default()),
    );
    line.push(match r.label {
        Some(true) => "1".into(),
        Some(false) => "0".into(),
        None => String::new(),
    });
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q() -> QualitySettings {
        QualitySettings::default()
    }

    fn csv(text: &str) -> Result<Vec<CellRecord>, DatasetErrors> {
        read_bytes(Format::Csv, text.as_bytes(), &q())
    }

    #[test]
    fn write_then_read_round_trips() {
        let mut a = CellRecord::new("HC-1", "L1", "98765");
        a.product = "HC".into();
        a.produced_ms = Some(1_780_000_000_250);
        a.set("k_value", 0.61);
        a.set("capacity", 5.123_456_789);
        a.label = Some(true);
        let mut b = CellRecord::new("HC-2", "L1", "98765");
        b.label = Some(false);
        let mut buf = Vec::new();
        write_csv(&mut buf, &[a.clone(), b.clone()]).expect("writes");
        let back = read_bytes(Format::Csv, &buf, &q()).expect("reads");
        assert_eq!(back, vec![a, b]);
    }

    #[test]
    fn every_problem_names_row_and_column() {
        let e = csv(
            "serial,lot,order,k_value,label\nS1,L1,O1,abc,1\nS2,,O1,0.5,maybe\nS1,L1,O1,0.4,0\n",
        )
        .expect_err("bad file");
        let shown: Vec<String> = e.errors.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            vec![
                "row 2, column k_value: \"abc\" is not a number",
                "row 3, column lot: must not be empty",
                "row 3, column label: \"maybe\" is not 1, 0 or empty",
                "row 4, column serial: serial S1 already on row 2",
            ]
        );
    }

    #[test]
    fn header_problems_stop_before_rows() {
        let e = csv("serial,lot,kvalue\nS1,L1,1\n").expect_err("bad header");
        assert_eq!(e.errors.len(), 2);
        assert_eq!(e.errors[0].column.as_deref(), Some("kvalue"));
        assert_eq!(e.errors[1].column.as_deref(), Some("order"));
        assert!(csv("serial,lot,order\n").is_err(), "no rows");
        assert!(csv("").is_err());
        let e = csv("serial,lot,order,product\nS1,L1,O1,XX\n").expect_err("unknown product");
        assert_eq!(e.errors[0].row, 2);
    }

    #[test]
    fn garbage_never_panics() {
        for bytes in [
            &b"\xff\xfe\x00garbage"[..],
            b"serial,lot,order\n\"unterminated",
            b"serial,lot,order\nS1,L1,O1,extra,values\n",
            b"serial,lot,order,k_value\nS1,L1,O1,inf\n",
            b"serial,lot,order,produced_at\nS1,L1,O1,yesterday\n",
        ] {
            assert!(
                read_bytes(Format::Csv, bytes, &q()).is_err(),
                "{}",
                String::from_utf8_lossy(bytes)
            );
            assert!(read_bytes(Format::Xlsx, bytes, &q()).is_err());
        }
    }

    /// A zip of `parts`, deflated or stored.
    fn zip_of(parts: &[(&str, &str)], deflate: bool) -> Vec<u8> {
        let method = if deflate {
            zip::CompressionMethod::Deflated
        } else {
            zip::CompressionMethod::Stored
        };
        let options = zip::write::SimpleFileOptions::default().compression_method(method);
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        for (name, data) in parts {
            w.start_file(*name, options).expect("entry");
            w.write_all(data.as_bytes()).expect("written");
        }
        w.finish().expect("zip").into_inner()
    }

    /// A workbook of one cell whose header names come from the shared strings, which
    /// announce `unique` of them.
    fn workbook_announcing(unique: &str, deflate: bool) -> Vec<u8> {
        const MAIN: &str = "http://schemas.openxmlformats.org/spreadsheetml/2006/main";
        const REL: &str = "http://schemas.openxmlformats.org/officeDocument/2006/relationships";
        const PKG: &str = "http://schemas.openxmlformats.org/package/2006/relationships";
        let shared = |i| format!(r#"<c r="{}1" t="s"><v>{i}</v></c>"#, ["A", "B", "C"][i]);
        let parts = [
            ("[Content_Types].xml", r#"<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/></Types>"#.to_owned()),
            ("_rels/.rels", format!(r#"<Relationships xmlns="{PKG}"><Relationship Id="rId1" Type="{REL}/officeDocument" Target="xl/workbook.xml"/></Relationships>"#)),
            ("xl/workbook.xml", format!(r#"<workbook xmlns="{MAIN}" xmlns:r="{REL}"><sheets><sheet name="S" sheetId="1" r:id="rId1"/></sheets></workbook>"#)),
            ("xl/_rels/workbook.xml.rels", format!(r#"<Relationships xmlns="{PKG}"><Relationship Id="rId1" Type="{REL}/worksheet" Target="worksheets/sheet1.xml"/><Relationship Id="rId2" Type="{REL}/sharedStrings" Target="sharedStrings.xml"/></Relationships>"#)),
            ("xl/worksheets/sheet1.xml", format!(r#"<worksheet xmlns="{MAIN}"><sheetData><row r="1">{}{}{}</row><row r="2"><c r="A2" t="inlineStr"><is><t>S1</t></is></c><c r="B2" t="inlineStr"><is><t>L1</t></is></c><c r="C2"><v>7</v></c></row></sheetData></worksheet>"#, shared(0), shared(1), shared(2))),
            ("xl/sharedStrings.xml", format!(r#"<?xml version="1.0"?><sst xmlns="{MAIN}" count="3" {unique}><si><t>serial</t></si><si><t>lot</t></si><si><t>order</t></si></sst>"#)),
        ];
        let parts: Vec<(&str, &str)> = parts.iter().map(|(n, d)| (*n, d.as_str())).collect();
        zip_of(&parts, deflate)
    }

    #[test]
    fn a_workbook_announcing_billions_of_strings_is_refused_before_they_are_reserved() {
        // calamine reserves room for the announced count before reading a string:
        // 10^10 (240 GB) aborted the process, 7.8 × 10^18 panicked.
        for deflate in [false, true] {
            let ok = workbook_announcing(r#"uniqueCount="3""#, deflate);
            let recs = read_bytes(Format::Xlsx, &ok, &q()).expect("an honest workbook reads");
            assert_eq!(
                (recs[0].serial.as_str(), recs[0].order.as_str()),
                ("S1", "7")
            );
            for unique in [
                r#"uniqueCount="10000000000""#,
                "uniqueCount =\n '000000007825402048393540038'",
            ] {
                let e = read_bytes(Format::Xlsx, &workbook_announcing(unique, deflate), &q())
                    .expect_err("refused");
                assert!(e.to_string().contains("distinct strings"), "{e}");
            }
        }
    }

    #[test]
    fn announced_string_counts_are_found_wherever_they_stand() {
        let count = |xml: &str| largest_unique_count(xml.as_bytes());
        assert_eq!(count(r#"<sst count="9" uniqueCount="5">"#), 5);
        assert_eq!(count("<sst uniquniqueCount = '+0012' uniqueCount='3'>"), 12);
        assert_eq!(count(r#"uniqueCount="99999999999999999999999"#), u64::MAX);
        assert_eq!(
            count("<si><t>uniqueCount</t></si><si><t>count=\"9\"</t></si>"),
            0
        );
    }

    #[test]
    fn times_in_three_spellings() {
        assert_eq!(parse_time("1970-01-01T00:00:01Z"), Some(1000));
        assert_eq!(parse_time("1970-01-01 00:00:02"), Some(2000));
        assert_eq!(parse_time("3000"), Some(3000));
        assert_eq!(parse_time("-5"), None);
        assert_eq!(format_time(1000), "1970-01-01T00:00:01Z");
    }

    #[test]
    fn a_far_away_cell_is_refused_without_allocating_the_sheet() {
        use rust_xlsxwriter::Workbook;
        let mut book = Workbook::new();
        let sheet = book.add_worksheet();
        sheet.write_string(0, 0, "serial").expect("write");
        sheet.write_string(1_048_575, 16_383, "far").expect("write");
        let bytes = book.save_to_buffer().expect("saves");
        let e = read_bytes(Format::Xlsx, &bytes, &q()).expect_err("refused");
        assert!(
            e.to_string().contains("rows") || e.to_string().contains("column"),
            "{e}"
        );
        let wide = format!("{}\n", vec!["x"; 5000].join(","));
        assert!(read_bytes(Format::Csv, wide.as_bytes(), &q()).is_err());
        let ragged = format!("serial,lot,order\nS1,L1,O1{}\n", ",".repeat(100_000));
        assert!(read_bytes(Format::Csv, ragged.as_bytes(), &q()).is_err());
    }

    #[test]
    fn xlsx_sheets_read_like_csv() {
        use rust_xlsxwriter::{ExcelDateTime, Format as XFormat, Workbook};
        let mut book = Workbook::new();
        let sheet = book.add_worksheet();
        let date = XFormat::new().set_num_format("yyyy-mm-dd hh:mm:ss");
        for (c, h) in ["serial", "lot", "order", "produced_at", "k_value", "label"]
            .iter()
            .enumerate()
        {
            sheet.write_string(0, c as u16, *h).expect("write");
        }
        sheet.write_string(1, 0, "X1").expect("write");
        sheet.write_string(1, 1, "L9").expect("write");
        sheet.write_number(1, 2, 98765.0).expect("write");
        let when = ExcelDateTime::parse_from_str("2026-06-01 08:00:00").expect("date");
        sheet
            .write_datetime_with_format(1, 3, &when, &date)
            .expect("write");
        sheet.write_number(1, 4, 0.75).expect("write");
        sheet.write_number(1, 5, 1.0).expect("write");
        let bytes = book.save_to_buffer().expect("saves");
        let recs = read_bytes(Format::Xlsx, &bytes, &q()).expect("reads");
        assert_eq!(recs.len(), 1);
        assert_eq!(recs[0].order, "98765");
        assert_eq!(recs[0].get("k_value"), Some(0.75));
        assert_eq!(recs[0].label, Some(true));
        assert_eq!(
            recs[0].produced_ms.map(format_time).as_deref(),
            Some("2026-06-01T08:00:00Z")
        );
    }
}
