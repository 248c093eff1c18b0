//! CellGuard's web app. Built twice: with `ssr` inside the server, with `hydrate` as
//! the WebAssembly bundle the browser runs.
#![recursion_limit = "256"]

pub mod api;
pub mod components;
pub mod live;
pub mod model;
pub mod pages;
pub mod quality;

use leptos::prelude::*;
use leptos_meta::{Link, Meta, MetaTags, Stylesheet, Title, provide_meta_context};
use leptos_router::components::{Route, Router, Routes};
use leptos_router::{StaticSegment, path};

use crate::components::header::Header;
use crate::live::Live;
use crate::pages::cell::CellDetailPage;
use crate::pages::cells::CellsPage;
use crate::pages::import::ImportPage;
use crate::pages::machine::MachinePage;
use crate::pages::models::ModelsPage;
use crate::pages::overview::OverviewPage;
use crate::pages::quality::QualityPage;

/// The HTML document around the app (server side).
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <AutoReload options=options.clone()/>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

/// The app: live store, header and routes.
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    let live = Live::new();
    provide_context(live);
    #[cfg(feature = "hydrate")]
    Effect::new(move |started: Option<()>| {
        if started.is_none() {
            live::start(live);
        }
    });
    view! {
        <Stylesheet id="leptos" href="/pkg/cellguard.css"/>
        <Title text="CellGuard"/>
        <Meta name="theme-color" content="#0b2e4f"/>
        <Link rel="icon" href="/favicon.svg"/>
        <Router>
            <Header/>
            <main>
                <Routes fallback=|| view! { <p class="error">"No such page."</p> }>
                    <Route path=StaticSegment("") view=OverviewPage/>
                    <Route path=path!("/machines/:id") view=MachinePage/>
                    <Route path=path!("/quality") view=QualityPage/>
                    <Route path=path!("/cells") view=CellsPage/>
                    <Route path=path!("/cells/:serial") view=CellDetailPage/>
                    <Route path=path!("/models") view=ModelsPage/>
                    <Route path=path!("/import") view=ImportPage/>
                </Routes>
            </main>
        </Router>
    }
}

/// Entry point of the WebAssembly bundle.
#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(App);
}
