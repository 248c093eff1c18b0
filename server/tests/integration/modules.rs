//! The crates' top-level modules depend on each other one way only: a `crate::x`
//! path in module `y` is an edge y → x, and the graph must have no cycle. A new
//! cycle fails here with the edges that make it and where each one is written.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Where an edge is written: file and line.
type Site = (PathBuf, usize);

/// Edges between top-level modules, each with the first place it is written.
type Graph = BTreeMap<String, BTreeMap<String, Site>>;

/// The text of a source file that counts: comments and the unit-test module at
/// the bottom are left out (tests may reach anywhere).
fn code_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    let end = [
        "#[cfg(test)]\nmod tests",
        "#[cfg(test)]\npub(crate) mod tests",
    ]
    .iter()
    .filter_map(|m| text.find(m))
    .min()
    .unwrap_or(text.len());
    text[..end].lines().enumerate().filter_map(|(i, line)| {
        let code = line.split("//").next().unwrap_or("");
        (!code.trim().is_empty()).then_some((i + 1, code))
    })
}

/// Every `crate::name` in `code`.
fn crate_paths(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(i) = rest.find("crate::") {
        let before = rest[..i].chars().next_back();
        let after = &rest[i + "crate::".len()..];
        let name: String = after
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        // `cellguard_crate::` or `$crate::` are not this crate's paths.
        if !before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
            && !name.is_empty()
        {
            out.push(name);
        }
        rest = after;
    }
    out
}

/// The module graph of the crate whose sources are under `src`.
fn graph(src: &Path) -> Graph {
    let mut g = Graph::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("source folder") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let rel = path.strip_prefix(src).expect("inside src");
            let top = rel
                .components()
                .next()
                .and_then(|c| c.as_os_str().to_str())
                .map(|s| s.trim_end_matches(".rs").to_owned())
                .expect("a name");
            if top == "lib" || top == "main" {
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("readable source");
            for (line, code) in code_lines(&text) {
                for to in crate_paths(code) {
                    if to != top {
                        g.entry(top.clone())
                            .or_default()
                            .entry(to)
                            .or_insert_with(|| (path.clone(), line));
                    }
                }
            }
        }
    }
    g
}

/// One cycle of `g`, if it has any, as the modules along it (first = last).
fn find_cycle(g: &Graph) -> Option<Vec<String>> {
    fn visit(
        g: &Graph,
        node: &str,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = path.iter().position(|n| n == node) {
            let mut cycle = path[i..].to_vec();
            cycle.push(node.to_owned());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for next in g.get(node).into_iter().flat_map(|e| e.keys()) {
            if let Some(c) = visit(g, next, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    g.keys()
        .find_map(|n| visit(g, n, &mut Vec::new(), &mut done))
}

fn explain(g: &Graph, cycle: &[String]) -> String {
    cycle
        .windows(2)
        .map(|w| {
            let (file, line) = &g[&w[0]][&w[1]];
            format!("  {} → {} ({}:{line})", w[0], w[1], file.display())
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn assert_acyclic(crate_dir: &str) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(crate_dir)
        .join("src");
    let g = graph(&src);
    assert!(g.len() > 3, "{}: the scan found no modules", src.display());
    if let Some(cycle) = find_cycle(&g) {
        panic!(
            "{}: modules import each other in a circle:\n{}\nmove the shared piece into a leaf module",
            src.display(),
            explain(&g, &cycle)
        );
    }
}

#[test]
fn the_server_crate_has_no_module_cycle() {
    assert_acyclic(".");
}

#[test]
fn the_app_crate_has_no_module_cycle() {
    assert_acyclic("../app");
}

#[test]
fn the_check_finds_a_cycle_and_ignores_comments_and_tests() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = dir.path();
    let write = |name: &str, text: &str| std::fs::write(src.join(name), text).expect("write");
    write("a.rs", "use crate::b::B;\n// crate::d in a comment\n");
    write("b.rs", "pub struct B;\nfn f() { crate::c::g() }\n");
    write(
        "c.rs",
        "pub fn g() {}\n#[cfg(test)]\nmod tests {\n    use crate::a;\n}\n",
    );
    write("d.rs", "pub fn h() { $crate::a::x(); my_crate::a::y(); }\n");
    let g = graph(src);
    assert_eq!(find_cycle(&g), None, "{g:?}");
    write("c.rs", "pub fn g() { crate::a::f() }\n");
    let cycle = find_cycle(&graph(src)).expect("a → b → c → a");
    assert_eq!(cycle.first(), cycle.last());
    assert_eq!(cycle.len(), 4, "{cycle:?}");
}
