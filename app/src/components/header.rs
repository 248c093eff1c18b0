//! The top bar: product name, navigation and the live connection state.

use leptos::prelude::*;
use leptos_router::components::A;

use crate::live::use_live;

/// The header shown on every page.
#[component]
pub fn Header() -> impl IntoView {
    let live = use_live();
    let plant = move || {
        live.line
            .with(|l| l.as_ref().map(|l| l.plant.clone()).unwrap_or_default())
    };
    view! {
        <header class="topbar">
            <A href="/" attr:class="brand">
                <span class="brand-mark" aria-hidden="true">"◆"</span>
                " CellGuard"
            </A>
            <span class="plant">{plant}</span>
            <nav class="nav" aria-label="Main">
                <A href="/" exact=true>"Line"</A>
                <A href="/quality">"Quality"</A>
                <A href="/cells">"Cells"</A>
                <A href="/models">"Models"</A>
                <A href="/import">"Import"</A>
            </nav>
            <span
                class=move || format!("conn conn-{}", live.conn.get().css())
                data-testid="connection"
                role="status"
            >
                <span class="dot" aria-hidden="true"></span>
                {move || live.conn.get().label()}
            </span>
        </header>
    }
}
