//! Where in the plant file a problem is: TOML spans to lines, columns and dotted
//! field names.

use std::path::{Path, PathBuf};

use toml::de::{DeTable, DeValue};

use super::ConfigError;
use crate::problems::{Seg, render};

/// Maps document paths and byte offsets to lines and field names.
pub(super) struct Locator<'a> {
    file: PathBuf,
    text: &'a str,
    doc: Option<toml::Spanned<DeTable<'a>>>,
}

impl<'a> Locator<'a> {
    pub(super) fn new(file: &Path, text: &'a str) -> Self {
        Self {
            file: file.to_owned(),
            text,
            doc: DeTable::parse(text).ok(),
        }
    }

    fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let before = &self.text[..offset];
        let line = before.matches('\n').count() + 1;
        let column = before.rfind('\n').map_or(offset, |i| offset - i - 1) + 1;
        (line, column)
    }

    /// A validation problem at `path`: the deepest part of the path present in the
    /// file gives the line (a missing key points at its table).
    pub(super) fn at(&self, path: &[Seg], message: String) -> ConfigError {
        let span = self.doc.as_ref().and_then(|d| span_of(d, path));
        let (line, column) = span.map_or((0, 0), |s| self.line_col(s));
        ConfigError {
            file: self.file.clone(),
            line,
            column,
            field: render(path),
            message,
        }
    }

    pub(super) fn parse_error(&self, e: &toml::de::Error) -> ConfigError {
        let start = e.span().map(|s| s.start);
        let path = match (&self.doc, start) {
            (Some(d), Some(pos)) => path_at(d, pos),
            _ => Vec::new(),
        };
        let (line, column) = start.map_or((0, 0), |s| self.line_col(s));
        ConfigError {
            file: self.file.clone(),
            line,
            column,
            field: if path.is_empty() {
                "(document)".into()
            } else {
                render(&path)
            },
            message: e.message().trim().to_owned(),
        }
    }
}

fn table_get<'t, 'a>(
    t: &'t DeTable<'a>,
    k: &str,
) -> Option<(
    &'t toml::Spanned<std::borrow::Cow<'a, str>>,
    &'t toml::Spanned<DeValue<'a>>,
)> {
    t.iter().find(|(key, _)| key.get_ref().as_ref() == k)
}

/// Start offset of the deepest node on `path` that exists in the document.
fn span_of(doc: &toml::Spanned<DeTable<'_>>, path: &[Seg]) -> Option<usize> {
    let mut best = Some(doc.span().start);
    let mut cur: Option<&DeValue<'_>> = None;
    let mut root = Some(doc.get_ref());
    for seg in path {
        let next = match (seg, root.take(), cur) {
            (Seg::Key(k), Some(t), _) => table_get(t, k).map(|(key, v)| (key.span().start, v)),
            (Seg::Key(k), None, Some(DeValue::Table(t))) => {
                table_get(t, k).map(|(key, v)| (key.span().start, v))
            }
            (Seg::Index(i), None, Some(DeValue::Array(a))) => {
                a.get(*i).map(|v| (v.span().start, v))
            }
            _ => None,
        };
        match next {
            Some((start, v)) => {
                best = Some(start);
                cur = Some(v.get_ref());
            }
            None => break,
        }
    }
    best
}

/// The path of the smallest key or value whose span holds `pos` (array-of-tables
/// elements only span their header, so every node is searched).
fn path_at(doc: &toml::Spanned<DeTable<'_>>, pos: usize) -> Vec<Seg> {
    fn consider(
        span: std::ops::Range<usize>,
        pos: usize,
        path: &[Seg],
        best: &mut Option<(usize, Vec<Seg>)>,
    ) {
        let end = span.end.max(span.start + 1);
        if (span.start..end).contains(&pos) {
            let len = end - span.start;
            if best.as_ref().is_none_or(|(l, _)| len <= *l) {
                *best = Some((len, path.to_vec()));
            }
        }
    }
    fn walk_table(
        t: &DeTable<'_>,
        pos: usize,
        path: &mut Vec<Seg>,
        best: &mut Option<(usize, Vec<Seg>)>,
    ) {
        for (k, v) in t.iter() {
            path.push(Seg::Key(k.get_ref().to_string()));
            consider(k.span(), pos, path, best);
            consider(v.span(), pos, path, best);
            walk_value(v.get_ref(), pos, path, best);
            path.pop();
        }
    }
    fn walk_value(
        v: &DeValue<'_>,
        pos: usize,
        path: &mut Vec<Seg>,
        best: &mut Option<(usize, Vec<Seg>)>,
    ) {
        match v {
            DeValue::Table(t) => walk_table(t, pos, path, best),
            DeValue::Array(a) => {
                for (i, e) in a.iter().enumerate() {
                    path.push(Seg::Index(i));
                    if !matches!(e.get_ref(), DeValue::Table(_)) {
                        consider(e.span(), pos, path, best);
                    }
                    walk_value(e.get_ref(), pos, path, best);
                    path.pop();
                }
            }
            _ => {}
        }
    }
    let mut best = None;
    walk_table(doc.get_ref(), pos, &mut Vec::new(), &mut best);
    best.map(|(_, p)| p).unwrap_or_default()
}
