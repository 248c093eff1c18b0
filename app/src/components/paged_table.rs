//! The paged, filtered table every list page shows: a count line, the table (in a
//! scrolling region where it is wide), a pager and what an empty page says; plus
//! the pieces its pages share around it: the filter and the page in the URL query,
//! and the CSV download of the same filter.
//!
//! A page owns its filter type (which fields, how they parse) and its resource; it
//! hands this component one loaded page of rows with a row renderer and the header
//! cells. The URL query is the only state of a filter, so a link or the back button
//! brings the same view back.
//!
//! Every link here is a plain `<a>` (a page load: the browser runs no router), so
//! the table renders the same inside an island, where a live page refetches it, as
//! in server-only HTML.

use leptos::either::Either;
use leptos::prelude::*;
use leptos_router::params::ParamsMap;

use crate::fmt::{parse_date, query_string};

/// Pages needed for `total` rows, at least one.
pub fn page_count(total: u64, page_size: u32) -> u64 {
    total.div_ceil(u64::from(page_size.max(1))).max(1)
}

/// A text field of the query, trimmed; empty when absent.
pub fn query_text(q: &ParamsMap, key: &str) -> String {
    q.get(key).map(|v| v.trim().to_owned()).unwrap_or_default()
}

/// A `YYYY-MM-DD` field of the query; empty when absent or not a date.
pub fn query_date(q: &ParamsMap, key: &str) -> String {
    let v = query_text(q, key);
    if parse_date(&v).is_some() {
        v
    } else {
        String::new()
    }
}

/// The `page` field of the query, counted from 1; 1 when absent or malformed.
pub fn query_page(q: &ParamsMap) -> u32 {
    query_text(q, "page")
        .parse()
        .ok()
        .filter(|p| *p >= 1)
        .unwrap_or(1)
}

/// Link to page `page` (from 1) of `path` with the filter `pairs`: empty values
/// are left out, and so is the page when it is the first.
pub fn page_href(path: &str, pairs: &[(&str, String)], page: u32) -> String {
    let mut pairs = pairs.to_vec();
    if page > 1 {
        pairs.push(("page", page.to_string()));
    }
    format!("{path}{}", query_string(&pairs))
}

/// Where the pager's links go, worked out from the page shown and the total.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paging {
    /// This page (from 1).
    pub current: u64,
    /// Pages in all.
    pub pages: u64,
    /// Rows in all (every page of the filter).
    pub total: u64,
    /// Link to the first page.
    pub first: String,
    /// Link to the previous page, if any.
    pub prev: Option<String>,
    /// Link to the next page, if any.
    pub next: Option<String>,
    /// Text of the previous link.
    pub prev_label: &'static str,
    /// Text of the next link.
    pub next_label: &'static str,
}

impl Paging {
    /// Page `current` (from 1) of `total` rows, `page_size` a page; `href` links
    /// to a page (from 1) of the same filter.
    pub fn new(total: u64, page_size: u32, current: u64, href: impl Fn(u32) -> String) -> Self {
        let pages = page_count(total, page_size);
        let at = |p: u64| href(u32::try_from(p).unwrap_or(u32::MAX));
        Self {
            current,
            pages,
            total,
            first: href(1),
            prev: (current > 1).then(|| at(current - 1)),
            next: (current < pages).then(|| at(current + 1)),
            prev_label: "← Previous",
            next_label: "Next →",
        }
    }

    /// The same links with other texts ("← Newer", "Older →").
    pub fn labels(self, prev_label: &'static str, next_label: &'static str) -> Self {
        Self {
            prev_label,
            next_label,
            ..self
        }
    }
}

/// "← Previous · Page n of m · Next →"; a missing link shows disabled.
#[component]
pub fn Pager(
    /// Link to the previous page, if any.
    prev: Option<String>,
    /// Link to the next page, if any.
    next: Option<String>,
    /// This page (from 1).
    current: u64,
    /// Pages in all.
    pages: u64,
    /// Text of the previous link.
    #[prop(default = "← Previous")]
    prev_label: &'static str,
    /// Text of the next link.
    #[prop(default = "Next →")]
    next_label: &'static str,
) -> impl IntoView {
    let link = |href: Option<String>, label: &'static str, rel: &'static str| match href {
        Some(h) => view! { <a href=h class="button" rel=rel>{label}</a> }.into_any(),
        None => {
            view! { <span class="button disabled" aria-disabled="true">{label}</span> }.into_any()
        }
    };
    view! {
        <nav class="pager" aria-label="Pages">
            {link(prev, prev_label, "prev")}
            <span class="page-of" data-testid="page-of">{format!("Page {current} of {pages}")}</span>
            {link(next, next_label, "next")}
        </nav>
    }
}

/// The CSV download of every row of a filter (not only the page shown).
#[derive(Clone)]
pub struct CsvLink {
    /// The export's URL, built from the same filter as the table.
    pub href: Signal<String>,
    /// The file name the browser saves it under.
    pub file: &'static str,
    /// The link's test id.
    pub testid: &'static str,
    /// The link's text.
    pub label: &'static str,
}

impl CsvLink {
    /// The link as a button (in a page's head).
    pub fn button(self) -> impl IntoView {
        let Self {
            href,
            file,
            testid,
            label,
        } = self;
        view! { <a class="button" href=href download=file data-testid=testid>{label}</a> }
    }

    /// The link as text (in the table's count line).
    pub fn inline(self) -> impl IntoView {
        let Self {
            href,
            file,
            testid,
            label,
        } = self;
        view! { <a href=href download=file data-testid=testid>{label}</a> }
    }
}

/// What a table says when the page it shows has no rows.
#[derive(Debug, Clone)]
pub enum Empty {
    /// A note in place of the table (and of the pager); when other pages hold
    /// rows, a link back to the first follows it.
    Note {
        /// The note.
        text: &'static str,
        /// Its test id.
        testid: &'static str,
    },
    /// The table (and the pager) stay, with one row spanning every column.
    Row {
        /// The row's text.
        text: &'static str,
        /// Its test id.
        testid: &'static str,
        /// Columns the row spans.
        columns: u32,
    },
}

/// One page of a list as a table: "n rows" (and the CSV link), the header cells
/// given as children, one `<tr>` per row from `row`, and the pager.
#[component]
pub fn PagedTable<T, R, V>(
    /// This page's rows.
    rows: Vec<T>,
    /// Renders one row (a `<tr>`).
    row: R,
    /// The header cells (`<th>`s).
    children: Children,
    /// The table's class.
    class: &'static str,
    /// The table's test id.
    testid: &'static str,
    /// The line above the table: "300 cells".
    count: String,
    /// The count line's test id.
    count_testid: &'static str,
    /// What an empty page says.
    empty: Empty,
    /// The label of a scrolling region around a wide table; without it the table
    /// stands by itself.
    #[prop(optional)]
    scroll_label: Option<&'static str>,
    /// A CSV download after the count.
    #[prop(optional)]
    csv: Option<CsvLink>,
    /// The pager under the table; without it the list is one page.
    #[prop(optional)]
    paging: Option<Paging>,
) -> impl IntoView
where
    T: 'static,
    R: Fn(T) -> V + 'static,
    V: IntoView + 'static,
{
    let body = match empty {
        Empty::Note { text, testid } if rows.is_empty() => {
            let note = view! { <p class="empty" data-testid=testid>{text}</p> };
            // Past the last page of a filter that has rows: the way back.
            return Either::Left(match paging {
                Some(p) => {
                    let first = (p.total > 0).then_some(p.first);
                    Either::Left(view! {
                        {note}
                        {first.map(|href| view! { <a href=href class="button">"First page"</a> })}
                    })
                }
                None => Either::Right(note),
            });
        }
        Empty::Row {
            text,
            testid,
            columns,
        } if rows.is_empty() => Either::Left(view! {
            <tr><td colspan=columns class="empty" data-testid=testid>{text}</td></tr>
        }),
        _ => Either::Right(rows.into_iter().map(row).collect_view()),
    };
    let count = match csv {
        Some(link) => Either::Left((count, link.inline())),
        None => Either::Right(count),
    };
    let table = view! {
        <table class=class data-testid=testid>
            <thead>
                <tr>{children()}</tr>
            </thead>
            <tbody>{body}</tbody>
        </table>
    };
    let table = match scroll_label {
        Some(label) => Either::Left(view! {
            <div class="table-scroll" role="region" aria-label=label tabindex="0">{table}</div>
        }),
        None => Either::Right(table),
    };
    let count = view! { <p class="muted" data-testid=count_testid>{count}</p> };
    Either::Right(match paging {
        Some(p) => Either::Left(view! {
            {count}
            {table}
            <Pager
                prev=p.prev
                next=p.next
                current=p.current
                pages=p.pages
                prev_label=p.prev_label
                next_label=p.next_label
            />
        }),
        None => Either::Right(view! { {count} {table} }),
    })
}

/// A URL query of `pairs`, for the pages' filter tests.
#[cfg(test)]
pub(crate) fn params(pairs: &[(&str, &str)]) -> ParamsMap {
    let mut m = ParamsMap::new();
    for (k, v) in pairs {
        m.insert((*k).to_owned(), (*v).to_owned());
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn there_is_always_at_least_one_page() {
        assert_eq!(page_count(0, 50), 1);
        assert_eq!(page_count(50, 50), 1);
        assert_eq!(page_count(51, 50), 2);
        assert_eq!(page_count(10, 0), 10);
    }

    #[test]
    fn the_page_counts_from_one_and_malformed_pages_are_the_first() {
        assert_eq!(query_page(&params(&[])), 1);
        assert_eq!(query_page(&params(&[("page", "3")])), 3);
        for bad in ["0", "-4", "two", ""] {
            assert_eq!(query_page(&params(&[("page", bad)])), 1, "{bad}");
        }
    }

    #[test]
    fn query_fields_are_trimmed_and_bad_dates_left_out() {
        let q = params(&[("lot", " L1 "), ("from", "2026-06-01"), ("to", "yesterday")]);
        assert_eq!(query_text(&q, "lot"), "L1");
        assert_eq!(query_text(&q, "order"), "");
        assert_eq!(query_date(&q, "from"), "2026-06-01");
        assert_eq!(query_date(&q, "to"), "");
    }

    #[test]
    fn page_links_keep_the_filter_and_leave_out_page_one() {
        let pairs = [("lot", "L 1".to_owned()), ("band", String::new())];
        assert_eq!(page_href("/cells", &pairs, 1), "/cells?lot=L%201");
        assert_eq!(page_href("/cells", &pairs, 2), "/cells?lot=L%201&page=2");
        assert_eq!(page_href("/cells", &[], 1), "/cells");
    }

    #[test]
    fn the_pager_links_only_to_pages_that_exist() {
        let href = |p: u32| format!("/x?page={p}");
        let first = Paging::new(120, 50, 1, href);
        assert_eq!(first.pages, 3);
        assert_eq!(first.prev, None);
        assert_eq!(first.next.as_deref(), Some("/x?page=2"));
        assert_eq!(first.first, "/x?page=1");
        let middle = Paging::new(120, 50, 2, href);
        assert_eq!(middle.prev.as_deref(), Some("/x?page=1"));
        assert_eq!(middle.next.as_deref(), Some("/x?page=3"));
        let last = Paging::new(120, 50, 3, href).labels("← Newer", "Older →");
        assert_eq!(last.next, None);
        assert_eq!((last.prev_label, last.next_label), ("← Newer", "Older →"));
        let past_the_end = Paging::new(120, 50, 9, href);
        assert_eq!(past_the_end.next, None);
        assert_eq!(past_the_end.prev.as_deref(), Some("/x?page=8"));
    }
}
