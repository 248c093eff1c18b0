//! The line overview: one card per machine, live.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::get_line;
use crate::components::machine_card::MachineCard;
use crate::live::use_live;

/// Loads the line view once (server-rendered) and hands it to the live store.
#[component]
pub fn LineLoader(children: ChildrenFn) -> impl IntoView {
    let live = use_live();
    let initial = Resource::new(|| (), |_| get_line());
    view! {
        <Suspense fallback=|| view! { <p class="loading">"Loading the line…"</p> }>
            {move || {
                initial
                    .get()
                    .map(|r| match r {
                        Ok(line) => {
                            if !live.has_line_untracked() {
                                let now = line.now_ms;
                                live.adopt(line, now);
                            }
                            children().into_any()
                        }
                        Err(e) => view! { <p class="error" role="alert">{format!("The line could not be loaded: {e}")}</p> }.into_any(),
                    })
            }}
        </Suspense>
    }
}

/// `/`: every machine at a glance.
#[component]
pub fn OverviewPage() -> impl IntoView {
    let live = use_live();
    // Changes only when a snapshot adds, removes or reorders machines.
    let ids = Memo::new(move |_| live.machine_ids());
    view! {
        <Title text="Line · CellGuard"/>
        <LineLoader>
            <section class="grid" aria-label="Machines">
                <For each=move || ids.get() key=|id| id.clone() let:id>
                    <MachineCard id=id/>
                </For>
            </section>
        </LineLoader>
    }
}
