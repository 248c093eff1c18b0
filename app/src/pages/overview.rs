//! The line overview: one card per machine, live.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::get_line;
use crate::components::machine_card::MachineCard;
use crate::line::LineView;
use crate::live::use_live;

/// Loads the line view on the server and renders `page` with it (an island that
/// takes the view as its first state). Rendered only on the server: the browser
/// gets the view inside the island's props.
pub fn line_loader(page: impl Fn(LineView) -> AnyView + Send + Sync + 'static) -> impl IntoView {
    let initial = Resource::new(|| (), |_| get_line());
    view! {
        <Suspense fallback=|| view! { <p class="loading">"Loading the line…"</p> }>
            {move || {
                initial.get().map(|r| match r {
                    Ok(line) => page(line),
                    Err(e) => view! { <p class="error" role="alert">{format!("The line could not be loaded: {e}")}</p> }.into_any(),
                })
            }}
        </Suspense>
    }
}

/// Hands a server-rendered line view to the page's live store, so an island draws
/// in the browser what the server drew. A lazy island hydrates after the stream may
/// have brought newer values: they, and the clock (ages and staleness are drawn
/// from it), are set back to the server's for a moment, and the stream's next values
/// (every 500 ms at most) and the clock's next tick bring them forward again.
pub fn adopt_initial(line: LineView) {
    let now = line.now_ms;
    use_live().adopt(line, now);
}

/// `/`: every machine at a glance.
#[component]
pub fn OverviewPage() -> impl IntoView {
    view! {
        <Title text="Line · CellGuard"/>
        {line_loader(|line| view! { <MachineGrid line=line/> }.into_any())}
    }
}

/// The cards, following the stream.
#[island]
fn MachineGrid(line: LineView) -> impl IntoView {
    adopt_initial(line);
    let live = use_live();
    // Changes only when a snapshot adds, removes or reorders machines.
    let ids = Memo::new(move |_| live.machine_ids());
    view! {
        <section class="grid" aria-label="Machines">
            <For each=move || ids.get() key=|id| id.clone() let:id>
                <MachineCard id=id/>
            </For>
        </section>
    }
}
