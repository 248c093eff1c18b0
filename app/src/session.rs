//! Who is signed in, for the UI. Read once on the server from the request and
//! handed to the browser with the page; a sign-in or sign-out is a full page
//! load, so it never goes stale within one.
//!
//! This only decides what to show: the server checks every request itself.

use leptos::prelude::*;

use crate::auth::{Me, Permission};

/// The signed-in person, provided in context by the app root.
#[derive(Debug, Clone, PartialEq)]
pub struct Session(pub Option<Me>);

/// Reads the person from the request (server) or from the page (browser).
pub fn load() -> Session {
    let me = SharedValue::new(|| {
        #[cfg(feature = "ssr")]
        {
            crate::api::service::caller().and_then(|c| c.principal.me())
        }
        #[cfg(not(feature = "ssr"))]
        {
            None::<Me>
        }
    });
    Session(me.into_inner())
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
