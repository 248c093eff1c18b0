//! Previous/next links under a paged table.

use leptos::prelude::*;
use leptos_router::components::A;

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
        Some(h) => view! { <A href=h attr:class="button" attr:rel=rel>{label}</A> }.into_any(),
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
