//! Problems found in the plant file, each at the path of its field.
//!
//! A leaf module: every owner's settings validation reports through it, and the
//! loader in [`crate::config`] turns the paths into file, line and column.

/// One step of a path into the TOML document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    /// A table key.
    Key(String),
    /// An array index.
    Index(usize),
}

/// A table key step.
pub fn key(k: &str) -> Seg {
    Seg::Key(k.to_owned())
}

/// `prefix` followed by `rest`.
pub fn path(prefix: &[Seg], rest: &[Seg]) -> Vec<Seg> {
    let mut p = prefix.to_vec();
    p.extend_from_slice(rest);
    p
}

/// A problem: the field's path and what is wrong with it.
pub type Problem = (Vec<Seg>, String);

/// The dotted form of a path, e.g. `devices[0].tags[2].address`.
pub fn render(path: &[Seg]) -> String {
    let mut out = String::new();
    for seg in path {
        match seg {
            Seg::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            Seg::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_render_with_dots_and_indices() {
        let p = path(
            &[key("devices"), Seg::Index(0)],
            &[key("tags"), Seg::Index(2), key("address")],
        );
        assert_eq!(render(&p), "devices[0].tags[2].address");
    }
}
