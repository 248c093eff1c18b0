//! The site's static bundle (`/pkg`): precompressed once at the highest brotli and
//! gzip levels, then served as files. Compressing the wasm on every request at that
//! level would cost seconds of CPU; at a fast level it would cost a tablet on patchy
//! Wi-Fi about a fifth more bytes.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

/// Extensions worth compressing.
const COMPRESSIBLE: [&str; 4] = ["wasm", "js", "css", "svg"];

fn needs(target: &Path, source: &Path) -> bool {
    let modified = |p: &Path| p.metadata().and_then(|m| m.modified()).ok();
    match (modified(target), modified(source)) {
        (Some(t), Some(s)) => t < s,
        _ => true,
    }
}

fn with_suffix(p: &Path, suffix: &str) -> PathBuf {
    let mut s = p.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// Removes every `FILE.br` and `FILE.gz` older than `FILE` (or without it), so a
/// rebuilt bundle is never answered with the previous build's compressed copy.
/// Returns how many were removed.
pub fn remove_stale(dir: &Path) -> io::Result<usize> {
    let mut removed = 0;
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        if !matches!(ext, "br" | "gz") {
            continue;
        }
        let source = path.with_extension("");
        if needs(&path, &source) {
            std::fs::remove_file(&path)?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// Writes `FILE.br` and `FILE.gz` beside each compressible file in `dir` that lacks
/// them or has changed since. Returns how many files were written.
pub fn precompress(dir: &Path) -> io::Result<usize> {
    let mut written = 0;
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        if !path.is_file() || !COMPRESSIBLE.contains(&ext) {
            continue;
        }
        let br = with_suffix(&path, ".br");
        let gz = with_suffix(&path, ".gz");
        if !needs(&br, &path) && !needs(&gz, &path) {
            continue;
        }
        let mut data = Vec::new();
        File::open(&path)?.read_to_end(&mut data)?;
        // Write to a temporary name and rename, so a reader never sees half a file.
        let tmp = with_suffix(&path, ".br.tmp");
        {
            let mut w = brotli::CompressorWriter::new(File::create(&tmp)?, 64 * 1024, 11, 22);
            w.write_all(&data)?;
            w.flush()?;
        }
        std::fs::rename(&tmp, &br)?;
        let tmp = with_suffix(&path, ".gz.tmp");
        {
            let mut w =
                flate2::write::GzEncoder::new(File::create(&tmp)?, flate2::Compression::best());
            w.write_all(&data)?;
            w.finish()?;
        }
        std::fs::rename(&tmp, &gz)?;
        written += 2;
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compressible_files_get_smaller_siblings_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let text = "fn main() { println!(\"CellGuard\"); }\n".repeat(500);
        std::fs::write(dir.path().join("app.js"), &text).expect("write");
        std::fs::write(dir.path().join("notes.txt"), &text).expect("write");
        assert_eq!(precompress(dir.path()).expect("first"), 2);
        let br = std::fs::metadata(dir.path().join("app.js.br"))
            .expect("br")
            .len();
        let gz = std::fs::metadata(dir.path().join("app.js.gz"))
            .expect("gz")
            .len();
        assert!(
            br < text.len() as u64 / 10 && gz < text.len() as u64 / 10,
            "br {br} gz {gz}"
        );
        assert!(!dir.path().join("notes.txt.br").exists());
        // Nothing changed: nothing is written again.
        assert_eq!(precompress(dir.path()).expect("second"), 0);
        // The brotli file decodes to the original.
        let mut out = Vec::new();
        brotli::Decompressor::new(
            File::open(dir.path().join("app.js.br")).expect("open"),
            4096,
        )
        .read_to_end(&mut out)
        .expect("decode");
        assert_eq!(out, text.as_bytes());
    }

    #[test]
    fn compressed_copies_older_than_their_file_are_removed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let wasm = dir.path().join("app.wasm");
        std::fs::write(&wasm, vec![1u8; 4096]).expect("write");
        precompress(dir.path()).expect("precompress");
        assert_eq!(remove_stale(dir.path()).expect("fresh"), 0);
        // A rebuild replaces the file: its compressed copies are now stale.
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(&wasm, vec![2u8; 4096]).expect("rewrite");
        assert_eq!(remove_stale(dir.path()).expect("stale"), 2);
        assert!(!dir.path().join("app.wasm.br").exists());
        // An orphan goes too.
        std::fs::write(dir.path().join("gone.js.gz"), b"x").expect("write");
        assert_eq!(remove_stale(dir.path()).expect("orphan"), 1);
    }

    #[test]
    fn a_missing_directory_is_an_error_not_a_panic() {
        assert!(precompress(Path::new("/nonexistent/pkg")).is_err());
    }
}
