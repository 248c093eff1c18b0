//! A live part of a page that ships none of its own code: the server renders it, and
//! when the line pushes what it shows, the browser fetches the page again and puts
//! the new rendering of the region in place of the old one. Tables, lot cards,
//! histograms and a cell's inspections stay as current as they were when the browser
//! rendered them itself, but their rendering (and plotters, for their charts) stays on
//! the server.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::quality::CellSummary;

/// What makes a region fetch itself again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum RegionTrigger {
    /// Any inspected or scored cell, at most once per `every_ms`.
    AnyCell {
        /// Milliseconds between refreshes at most.
        every_ms: u64,
    },
    /// Any cell, or a corrective action proposed or decided (the shift board's
    /// work), at most once per `every_ms`.
    Work {
        /// Milliseconds between refreshes at most.
        every_ms: u64,
    },
    /// This cell inspected or scored, at most once per `every_ms`.
    Cell {
        /// The cell's serial.
        serial: String,
        /// Milliseconds between refreshes at most.
        every_ms: u64,
    },
}

impl RegionTrigger {
    /// Whether a pushed cell concerns the region.
    pub fn matters(&self, cell: &CellSummary) -> bool {
        match self {
            RegionTrigger::AnyCell { .. } | RegionTrigger::Work { .. } => true,
            RegionTrigger::Cell { serial, .. } => *serial == cell.serial,
        }
    }

    /// The shortest time between two refreshes.
    pub fn every(&self) -> std::time::Duration {
        let (RegionTrigger::AnyCell { every_ms }
        | RegionTrigger::Work { every_ms }
        | RegionTrigger::Cell { every_ms, .. }) = self;
        std::time::Duration::from_millis(*every_ms)
    }
}

/// The region `id` of the page (unique on it), rendered by `children` on the server
/// and replaced by its newer rendering when `trigger` fires. Nothing inside may be an
/// island: the new HTML is not hydrated. A refresh that fails (the server away, the
/// session ended) keeps what is shown and marks it `stale`; the next one that works
/// clears the mark.
#[island(lazy)]
pub fn LiveRegion(id: String, trigger: RegionTrigger, children: Children) -> impl IntoView {
    let node = NodeRef::<leptos::html::Div>::new();
    #[cfg(feature = "hydrate")]
    {
        let every = trigger.every();
        let actions = matches!(trigger, RegionTrigger::Work { .. }).then(|| {
            let live = crate::live::use_live();
            Memo::new(move |_| live.actions.with(|a| a.as_ref().map(|a| a.version)))
        });
        let tick =
            crate::components::cell_refresh::use_cell_refresh(every, move |c| trigger.matters(c));
        let id = StoredValue::new(id.clone());
        let latest = StoredValue::new(0u32);
        Effect::new(move |ran: Option<()>| {
            tick.track();
            if let Some(a) = actions {
                // Read, not `track()`: a memo nobody reads is never computed.
                a.with(|_| ());
            }
            if ran.is_none() {
                return;
            }
            latest.update_value(|n| *n = n.wrapping_add(1));
            let mine = latest.get_value();
            leptos::task::spawn_local(async move {
                let fresh = fetch_region(&id.get_value()).await;
                if latest.try_get_value() != Some(mine) {
                    return;
                }
                if let Some(el) = node.get_untracked() {
                    match fresh {
                        Some(html) => {
                            el.set_inner_html(&html);
                            let _ = el.class_list().remove_1("stale");
                            // How many times it was replaced: what a test waits for.
                            let n = el
                                .get_attribute("data-refreshes")
                                .and_then(|n| n.parse::<u32>().ok())
                                .unwrap_or(0);
                            let _ = el.set_attribute("data-refreshes", &(n + 1).to_string());
                        }
                        None => {
                            let _ = el.class_list().add_1("stale");
                        }
                    }
                }
            });
        });
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = trigger;
    view! {
        <div class="live-region" data-region=id node_ref=node>
            {children()}
        </div>
    }
}

/// The inner HTML of region `id` in the page as the server renders it now (the page
/// shown, fetched again), or `None` when it cannot be had.
#[cfg(feature = "hydrate")]
async fn fetch_region(id: &str) -> Option<String> {
    let href = web_sys::window()?.location().href().ok()?;
    let response = gloo_net::http::Request::get(&href).send().await.ok()?;
    // A redirect to the sign-in page is followed by the browser: its page has no
    // such region, and the old one stays (marked stale).
    if !response.ok() {
        return None;
    }
    let text = response.text().await.ok()?;
    let doc = web_sys::DomParser::new()
        .ok()?
        .parse_from_string(&text, web_sys::SupportedType::TextHtml)
        .ok()?;
    settle_streamed(&doc);
    let selector = format!("[data-region=\"{id}\"]");
    doc.query_selector(&selector)
        .ok()
        .flatten()
        .map(|region| region.inner_html())
}

/// Does to a fetched page what the page's own scripts would have done as it
/// streamed in: the server sends what waits for data out of order, a fallback
/// between the comments `s-{id}o` and `s-{id}c` first and the content later, in a
/// `<template id="{id}f">`. Without this, a region whose data came after the first
/// flush would be replaced by its "Loading…" fallback. Templates come in the order
/// the server resolved them, so an inner one finds its markers in the content an
/// outer one has just put in place.
#[cfg(feature = "hydrate")]
fn settle_streamed(doc: &web_sys::Document) {
    use wasm_bindgen::JsCast;
    let (Some(body), Ok(templates)) = (doc.body(), doc.query_selector_all("template[id$=\"-f\"]"))
    else {
        return;
    };
    for i in 0..templates.length() {
        let Some(tpl) = templates
            .item(i)
            .and_then(|t| t.dyn_into::<web_sys::HtmlTemplateElement>().ok())
        else {
            continue;
        };
        let id = tpl.id();
        let Some(id) = id.strip_suffix('f') else {
            continue;
        };
        let Some((open, close)) = markers(doc, &body, id) else {
            continue;
        };
        let Some(parent) = close.parent_node() else {
            continue;
        };
        // The fallback: the opening marker and everything up to the closing one.
        let mut node = Some(open);
        while let Some(n) = node.filter(|n| !n.is_same_node(Some(&close))) {
            node = n.next_sibling();
            let _ = parent.remove_child(&n);
        }
        if let Ok(content) = tpl.content().clone_node_with_deep(true) {
            let _ = parent.insert_before(&content, Some(&close));
        }
        let _ = parent.remove_child(&close);
        tpl.remove();
    }
}

/// The comments that open and close the fallback of the suspended part `id`.
#[cfg(feature = "hydrate")]
fn markers(
    doc: &web_sys::Document,
    body: &web_sys::HtmlElement,
    id: &str,
) -> Option<(web_sys::Node, web_sys::Node)> {
    const SHOW_COMMENT: u32 = 0x80;
    let walker = doc
        .create_tree_walker_with_what_to_show(body, SHOW_COMMENT)
        .ok()?;
    let (opening, closing) = (format!("s-{id}o"), format!("s-{id}c"));
    let mut open = None;
    while let Ok(Some(node)) = walker.next_node() {
        let text = node.text_content().unwrap_or_default();
        if text == opening {
            open = Some(node);
        } else if text == closing {
            // Siblings by construction: both are written into the same element.
            return open
                .filter(|o| o.parent_node() == node.parent_node())
                .map(|o| (o, node));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(serial: &str) -> CellSummary {
        CellSummary {
            serial: serial.into(),
            order: "98765".into(),
            lot: "L1".into(),
            product: "HC".into(),
            created_ms: 0,
            updated_ms: 0,
            stages: Vec::new(),
            failed: 0,
            short_term_failed: None,
            score: None,
            band: None,
        }
    }

    #[test]
    fn a_region_of_one_cell_follows_that_cell_only() {
        let one = RegionTrigger::Cell {
            serial: "C-1".into(),
            every_ms: 1_000,
        };
        assert!(one.matters(&cell("C-1")));
        assert!(!one.matters(&cell("C-2")));
        let any = RegionTrigger::AnyCell { every_ms: 3_000 };
        assert!(any.matters(&cell("C-2")));
        assert_eq!(any.every(), std::time::Duration::from_secs(3));
        assert_eq!(one.every(), std::time::Duration::from_secs(1));
    }
}
