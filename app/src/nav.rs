//! Navigation from code. The browser runs no router (pages are server-rendered and
//! only their islands hydrate), so moving to another view is a page load.

/// Loads `href` (browser); does nothing on the server.
pub fn go(href: &str) {
    #[cfg(feature = "hydrate")]
    if let Some(w) = web_sys::window() {
        let _ = w.location().assign(href);
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = href;
}

/// Reloads the page shown (browser); does nothing on the server.
pub fn reload() {
    #[cfg(feature = "hydrate")]
    if let Some(w) = web_sys::window() {
        let _ = w.location().reload();
    }
}

/// The path of the page shown (browser), or "/" on the server.
pub fn current_path() -> String {
    #[cfg(feature = "hydrate")]
    if let Some(p) = web_sys::window().and_then(|w| w.location().pathname().ok()) {
        return p;
    }
    "/".into()
}
