//! CellGuard's web app. Built twice: with `ssr` inside the server, with `hydrate` as
//! the WebAssembly bundle the browser runs.
//!
//! Islands: every page is rendered on the server, and the browser hydrates only the
//! parts marked `#[island]` (live values, charts, forms, buttons). Everything else is
//! HTML and ships no code; the browser runs no router, so a link is a page load.
#![recursion_limit = "256"]

pub mod actions;
pub mod alarm;
pub mod api;
pub mod auth;
pub mod components;
pub mod error;
pub mod fmt;
pub mod line;
pub mod live;
pub mod mes;
pub mod nav;
pub mod pages;
pub mod quality;
pub mod session;
pub mod spc;

use leptos::prelude::*;
use leptos_meta::{Link, Meta, MetaTags, Stylesheet, Title, provide_meta_context};
use leptos_router::components::{Route, Router, Routes};
use leptos_router::{StaticSegment, path};

use crate::components::header::Header;
use crate::live::Live;
use crate::pages::actions::ActionsPage;
use crate::pages::alarms::AlarmsPage;
use crate::pages::audit::AuditPage;
use crate::pages::cell::CellDetailPage;
use crate::pages::cells::CellsPage;
use crate::pages::import::ImportPage;
use crate::pages::machine::MachinePage;
use crate::pages::mes::MesPage;
use crate::pages::models::ModelsPage;
use crate::pages::orders::OrdersPage;
use crate::pages::overview::OverviewPage;
use crate::pages::quality::QualityPage;
use crate::pages::signin::SignInPage;
use crate::pages::spc::{SpcChartPage, SpcPage};
use crate::pages::users::UsersPage;

/// The HTML document around the app (server side).
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <AutoReload options=options.clone()/>
                <HydrationScripts options islands=true/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

/// The app (server side): session, live store, header and routes. In the browser
/// only its islands run; [`hydrate`] gives them the same session and store.
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    let session = session::load();
    let signed_in = session.0.is_some();
    provide_context(session);
    provide_context(Live::new());
    view! {
        <Stylesheet id="leptos" href="/pkg/cellguard.css"/>
        <Title text="CellGuard"/>
        <Meta name="theme-color" content="#0b2e4f"/>
        <Link rel="icon" href="/favicon.svg"/>
        <session::SessionMeta/>
        <Router>
            {signed_in.then(|| view! { <Header/> })}
            <main>
                <Routes fallback=|| view! { <p class="error">"No such page."</p> }>
                    <Route path=StaticSegment("") view=OverviewPage/>
                    <Route path=path!("/machines/:id") view=MachinePage/>
                    <Route path=path!("/orders") view=OrdersPage/>
                    <Route path=path!("/quality") view=QualityPage/>
                    <Route path=path!("/cells") view=CellsPage/>
                    <Route path=path!("/cells/:serial") view=CellDetailPage/>
                    <Route path=path!("/models") view=ModelsPage/>
                    <Route path=path!("/import") view=ImportPage/>
                    <Route path=path!("/signin") view=SignInPage/>
                    <Route path=path!("/mes") view=MesPage/>
                    <Route path=path!("/actions") view=ActionsPage/>
                    <Route path=path!("/alarms") view=AlarmsPage/>
                    <Route path=path!("/spc") view=SpcPage/>
                    <Route path=path!("/spc/chart") view=SpcChartPage/>
                    <Route path=path!("/audit") view=AuditPage/>
                    <Route path=path!("/admin/users") view=UsersPage/>
                </Routes>
            </main>
        </Router>
    }
}

/// Entry point of the WebAssembly bundle: runs before the islands hydrate, and
/// provides what they share at the root (the session from the page, one live store).
#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_islands();
    provide_context(session::load());
    provide_context(Live::new());
}
