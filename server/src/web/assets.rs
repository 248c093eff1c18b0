//! The site's static bundle (`/pkg`): precompressed once at the highest brotli and
//! gzip levels, then served as files. Compressing the wasm on every request at that
//! level would cost seconds of CPU; at a fast level it would cost a tablet on patchy
//! Wi-Fi about a fifth more bytes.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use serde::Deserialize;

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
        write_brotli(File::create(&tmp)?, &data)?;
        std::fs::rename(&tmp, &br)?;
        let tmp = with_suffix(&path, ".gz.tmp");
        write_gzip(File::create(&tmp)?, &data)?;
        std::fs::rename(&tmp, &gz)?;
        written += 2;
    }
    Ok(written)
}

/// Brotli at the highest level, as the server sends the bundle.
fn write_brotli<W: Write>(out: W, data: &[u8]) -> io::Result<W> {
    let mut w = brotli::CompressorWriter::new(out, 64 * 1024, 11, 22);
    w.write_all(data)?;
    w.flush()?;
    Ok(w.into_inner())
}

/// Gzip at the highest level, for the browsers that do not take brotli.
fn write_gzip<W: Write>(out: W, data: &[u8]) -> io::Result<W> {
    let mut w = flate2::write::GzEncoder::new(out, flate2::Compression::best());
    w.write_all(data)?;
    w.finish()
}

/// One file of the bundle and what it costs on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSize {
    /// Its name in the bundle directory.
    pub name: String,
    /// Bytes on disk.
    pub raw: u64,
    /// Bytes as the server sends it to a browser that takes brotli (the raw size
    /// for what it does not compress).
    pub brotli: u64,
    /// Bytes gzipped.
    pub gzip: u64,
}

/// Every file of the bundle directory a browser fetches (not the compressed copies),
/// by name, with its sizes: compressed in memory exactly as [`precompress`] writes
/// them.
pub fn measure(dir: &Path) -> io::Result<Vec<FileSize>> {
    let mut sizes = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if !path.is_file() || matches!(ext, "br" | "gz" | "tmp") || !fetched(&name) {
            continue;
        }
        let data = std::fs::read(&path)?;
        let raw = data.len() as u64;
        let (brotli, gzip) = if COMPRESSIBLE.contains(&ext) {
            (
                write_brotli(Vec::new(), &data)?.len() as u64,
                write_gzip(Vec::new(), &data)?.len() as u64,
            )
        } else {
            (raw, raw)
        };
        sizes.push(FileSize {
            name,
            raw,
            brotli,
            gzip,
        });
    }
    sizes.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(sizes)
}

/// Whether a browser ever fetches this file of the bundle (the type declarations and
/// the split manifest, which only the server reads, are not counted).
fn fetched(name: &str) -> bool {
    !(name.ends_with(".d.ts") || name == SPLIT_MANIFEST)
}

/// The file wasm-split writes beside the parts: for each lazy island's loader, the
/// parts (without `.wasm`) that loading it fetches, its own `split_…` part included.
pub const SPLIT_MANIFEST: &str = "__wasm_split_manifest.json";

/// Which parts loading each lazy island fetches, by loader name.
pub type SplitManifest = BTreeMap<String, Vec<String>>;

/// The bundle's size budget (brotli bytes), kept in the repository: one limit per
/// file, and one per page for what its first load fetches.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Budget {
    /// Brotli bytes per file of the bundle, by name. A name ending in `*` limits each
    /// file whose name starts with the rest (split parts).
    pub files: BTreeMap<String, u64>,
    /// The files every page loads (names, or prefixes ending in `*`).
    pub shell: Vec<String>,
    /// Per page: the lazy islands it hydrates and the limit for everything its first
    /// load fetches of the bundle (the shell and those islands' parts).
    pub pages: BTreeMap<String, PageBudget>,
}

/// One page's part of the budget.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageBudget {
    /// Its lazy islands, by name in snake case (`machine_detail` for `MachineDetail`).
    pub islands: Vec<String>,
    /// Brotli bytes of the shell and the islands' parts together.
    pub limit: u64,
}

/// A page's first load, as the budget counts it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageSize {
    /// The page's name in the budget.
    pub page: String,
    /// How many files of the bundle it fetches.
    pub files: usize,
    /// Their brotli bytes together.
    pub brotli: u64,
}

fn matches(pattern: &str, name: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => pattern == name,
    }
}

impl Budget {
    /// Reads a budget file; an error names the file, the line and the field.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        toml::from_str(&text).map_err(|e| {
            let line = e
                .span()
                .map(|s| text[..s.start.min(text.len())].lines().count().max(1));
            match line {
                Some(line) => anyhow::anyhow!("{}:{line}: {}", path.display(), e.message()),
                None => anyhow::anyhow!("{}: {}", path.display(), e.message()),
            }
        })
    }

    fn limit(&self, name: &str) -> Option<u64> {
        self.files.get(name).copied().or_else(|| {
            self.files
                .iter()
                .filter(|(k, _)| k.ends_with('*') && matches(k, name))
                .max_by_key(|(k, _)| k.len())
                .map(|(_, v)| *v)
        })
    }

    /// What each page's first load fetches of the bundle. An island the manifest
    /// does not know is an error: the budget names a page's islands by hand.
    pub fn pages(
        &self,
        sizes: &[FileSize],
        manifest: &SplitManifest,
    ) -> Result<Vec<PageSize>, String> {
        let size = |name: &str| sizes.iter().find(|f| f.name == name).map(|f| f.brotli);
        let mut out = Vec::new();
        for (page, budget) in &self.pages {
            let mut names: Vec<String> = sizes
                .iter()
                .filter(|f| self.shell.iter().any(|p| matches(p, &f.name)))
                .map(|f| f.name.clone())
                .collect();
            for island in &budget.islands {
                let prefix = format!("{island}_loader_");
                let parts = manifest
                    .iter()
                    .find(|(loader, _)| loader.starts_with(&prefix))
                    .map(|(_, parts)| parts)
                    .ok_or_else(|| {
                        format!("page {page}: the split manifest has no lazy island {island}")
                    })?;
                names.extend(parts.iter().map(|p| format!("{p}.wasm")));
            }
            names.sort();
            names.dedup();
            let mut brotli = 0;
            for n in &names {
                brotli +=
                    size(n).ok_or_else(|| format!("page {page}: {n} is not in the bundle"))?;
            }
            out.push(PageSize {
                page: page.clone(),
                files: names.len(),
                brotli,
            });
        }
        Ok(out)
    }

    /// What exceeds the budget, in sentences (empty when all is within it). A file
    /// the budget does not name is over it: new parts get a limit of their own.
    pub fn check(&self, sizes: &[FileSize], pages: &[PageSize]) -> Vec<String> {
        let mut over = Vec::new();
        for f in sizes {
            match self.limit(&f.name) {
                Some(limit) if f.brotli > limit => over.push(format!(
                    "{} is {} B brotli, over its budget of {limit} B by {} B",
                    f.name,
                    f.brotli,
                    f.brotli - limit
                )),
                Some(_) => {}
                None => over.push(format!(
                    "{} ({} B brotli) has no budget: add a line for it",
                    f.name, f.brotli
                )),
            }
        }
        for p in pages {
            let limit = self.pages.get(&p.page).map_or(0, |b| b.limit);
            if p.brotli > limit {
                over.push(format!(
                    "a first load of {} fetches {} B brotli in {} files, over its budget of {limit} B by {} B",
                    p.page,
                    p.brotli,
                    p.files,
                    p.brotli - limit
                ));
            }
        }
        over
    }
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
        assert!(measure(Path::new("/nonexistent/pkg")).is_err());
    }

    #[test]
    fn sizes_are_measured_as_the_server_sends_them() {
        let dir = tempfile::tempdir().expect("tempdir");
        let text = "export function hydrate() {}\n".repeat(300);
        std::fs::write(dir.path().join("app.js"), &text).expect("write");
        std::fs::write(dir.path().join("logo.png"), [7u8; 100]).expect("write");
        std::fs::write(dir.path().join("app.d.ts"), "export {}").expect("write");
        std::fs::write(dir.path().join(SPLIT_MANIFEST), "{}").expect("write");
        precompress(dir.path()).expect("precompress");
        let sizes = measure(dir.path()).expect("measure");
        let names: Vec<&str> = sizes.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(
            names,
            ["app.js", "logo.png"],
            "compressed copies and what no browser fetches are not counted"
        );
        let br = std::fs::metadata(dir.path().join("app.js.br"))
            .expect("br")
            .len();
        assert_eq!(sizes[0].brotli, br);
        assert_eq!(sizes[0].raw, text.len() as u64);
        assert_eq!((sizes[1].raw, sizes[1].brotli), (100, 100));
    }

    fn size(name: &str, brotli: u64) -> FileSize {
        FileSize {
            name: name.into(),
            raw: brotli * 3,
            brotli,
            gzip: brotli + 10,
        }
    }

    const BUDGET: &str = r#"
shell = ["app.wasm", "app.js"]
[files]
"app.wasm" = 150
"app.js" = 20
"split_*" = 40
"chunk_*" = 10
[pages.overview]
islands = []
limit = 170
[pages.machine]
islands = ["machine_detail"]
limit = 215
"#;

    fn manifest() -> SplitManifest {
        [(
            "machine_detail_loader_123".to_string(),
            vec![
                "split_machine_detail_loader_123".to_string(),
                "chunk_1".to_string(),
            ],
        )]
        .into_iter()
        .collect()
    }

    #[test]
    fn each_page_counts_the_shell_and_its_islands_parts() {
        let budget: Budget = toml::from_str(BUDGET).expect("budget");
        let sizes = [
            size("app.wasm", 150),
            size("app.js", 20),
            size("split_machine_detail_loader_123.wasm", 40),
            size("chunk_1.wasm", 5),
            size("chunk_2.wasm", 7),
        ];
        let pages = budget.pages(&sizes, &manifest()).expect("pages");
        assert_eq!(
            pages,
            [
                PageSize {
                    page: "machine".into(),
                    files: 4,
                    brotli: 215
                },
                PageSize {
                    page: "overview".into(),
                    files: 2,
                    brotli: 170
                },
            ]
        );
        assert!(
            budget.check(&sizes, &pages).is_empty(),
            "limits are inclusive"
        );
        let mut unknown: Budget = toml::from_str(BUDGET).expect("budget");
        unknown
            .pages
            .get_mut("machine")
            .expect("machine")
            .islands
            .push("gone".into());
        assert_eq!(
            unknown
                .pages(&sizes, &manifest())
                .expect_err("no such island"),
            "page machine: the split manifest has no lazy island gone"
        );
    }

    #[test]
    fn the_budget_names_each_file_and_page_over_it() {
        let budget: Budget = toml::from_str(BUDGET).expect("budget");
        let sizes = [
            size("app.wasm", 151),
            size("app.js", 20),
            size("split_machine_detail_loader_123.wasm", 41),
            size("chunk_1.wasm", 5),
            size("new.css", 5),
        ];
        let pages = budget.pages(&sizes, &manifest()).expect("pages");
        assert_eq!(
            budget.check(&sizes, &pages),
            [
                "app.wasm is 151 B brotli, over its budget of 150 B by 1 B",
                "split_machine_detail_loader_123.wasm is 41 B brotli, over its budget of 40 B by 1 B",
                "new.css (5 B brotli) has no budget: add a line for it",
                "a first load of machine fetches 217 B brotli in 4 files, over its budget of 215 B by 2 B",
                "a first load of overview fetches 171 B brotli in 2 files, over its budget of 170 B by 1 B",
            ]
        );
    }

    #[test]
    fn a_bad_budget_file_names_its_line_and_field() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("budget.toml");
        std::fs::write(&path, "shell = []\n[files]\n\"a.wasm\" = \"big\"\n").expect("write");
        let e = Budget::load(&path)
            .expect_err("a string is not a size")
            .to_string();
        assert!(e.contains("budget.toml:3"), "{e}");
        std::fs::write(&path, "shell = []\nlimt = 10\n[files]\n[pages]\n").expect("write");
        let e = Budget::load(&path).expect_err("unknown field").to_string();
        // toml places an unknown key at its table: the file and the key are named.
        assert!(e.contains("budget.toml:") && e.contains("limt"), "{e}");
    }
}
