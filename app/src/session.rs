//! Who is signed in, for the UI. Read once on the server from the request and
//! handed to the browser in the page (a `<meta>` element the islands read); a
//! sign-in or sign-out is a full page load, so it never goes stale within one.
//!
//! This only decides what to show: the server checks every request itself.

use leptos::prelude::*;

use crate::auth::{Me, Permission};

/// The signed-in person, provided in context by the app root.
#[derive(Debug, Clone, PartialEq)]
pub struct Session(pub Option<Me>);

/// The name of the `<meta>` element that carries the person to the browser.
pub const META_NAME: &str = "cellguard-me";

/// Reads the person from the request (server).
#[cfg(feature = "ssr")]
pub fn load() -> Session {
    Session(crate::api::service::caller().and_then(|c| c.principal.me()))
}

/// Reads the person from the page the server rendered (browser): the `<meta>`
/// element [`SessionMeta`] wrote. Every island sees it through the root's context.
#[cfg(not(feature = "ssr"))]
pub fn load() -> Session {
    #[cfg(feature = "hydrate")]
    {
        let me = web_sys::window()
            .and_then(|w| w.document())
            .and_then(|d| {
                d.query_selector(&format!("meta[name={META_NAME}]"))
                    .ok()
                    .flatten()
            })
            .and_then(|el| el.get_attribute("content"))
            .and_then(|json| serde_json::from_str::<Me>(&json).ok());
        Session(me)
    }
    #[cfg(not(feature = "hydrate"))]
    Session(None)
}

/// Writes the signed-in person into the page for the browser's islands (nothing
/// when nobody is signed in). An attribute, so the renderer escapes it.
#[component]
pub fn SessionMeta() -> impl IntoView {
    use_me()
        .and_then(|me| serde_json::to_string(&me).ok())
        .map(|json| {
            view! { <meta name=META_NAME content=json/> }
        })
}

/// The signed-in person, if any.
pub fn use_me() -> Option<Me> {
    use_context::<Session>().and_then(|s| s.0)
}

/// Whether the signed-in person's role allows `p` (false when nobody is signed in).
pub fn can(p: Permission) -> bool {
    use_me().is_some_and(|m| m.can(p))
}

/// What to show instead of a page the role cannot use.
#[component]
pub fn NotAllowed(
    /// What the page is for, e.g. "import data".
    what: &'static str,
) -> impl IntoView {
    let role = use_me().map_or("nobody", |m| m.role.label());
    view! {
        <section class="panel not-allowed" data-testid="not-allowed">
            <h1>"Not available for your role"</h1>
            <p>{format!("Signed in as {role}: this page is for people who may {what}. Ask an admin if you need it.")}</p>
        </section>
    }
}
