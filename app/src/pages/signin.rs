//! The sign-in page: a plain form (it works before the app has loaded), large
//! enough to use with gloves on a tablet.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

/// What the server's redirect says went wrong, in words.
pub fn error_text(code: &str, retry: Option<&str>) -> Option<String> {
    match code {
        "refused" => Some("Wrong name or password.".into()),
        "throttled" => Some(match retry.and_then(|r| r.parse::<u32>().ok()) {
            Some(s) => format!("Too many attempts. Try again in {s} s."),
            None => "Too many attempts. Try again in a minute.".into(),
        }),
        "unavailable" => Some("Sign-in is not available right now. Try again shortly.".into()),
        _ => None,
    }
}

/// `/signin`.
#[component]
pub fn SignInPage() -> impl IntoView {
    let q = use_query_map();
    let next = move || q.with(|q| q.get("next").unwrap_or_default());
    let error = move || {
        q.with(|q| {
            q.get("error")
                .and_then(|e| error_text(&e, q.get("retry").as_deref()))
        })
    };
    view! {
        <Title text="Sign in · CellGuard"/>
        <section class="signin" aria-labelledby="signin-title">
            <div class="panel signin-panel">
                <h1 id="signin-title">
                    <span class="brand-mark" aria-hidden="true">"◆"</span>
                    " CellGuard"
                </h1>
                {move || error().map(|e| view! { <p class="error" role="alert" data-testid="signin-error">{e}</p> })}
                <form method="post" action="/api/v1/session" class="signin-form">
                    // An attribute, not a property: rendered by the server, so a form sent
                    // before the app has loaded still goes where the person was headed.
                    <input type="hidden" name="next" value=next/>
                    <label>
                        <span>"Name"</span>
                        <input
                            name="username"
                            autocomplete="username"
                            autocapitalize="none"
                            spellcheck="false"
                            required
                            autofocus
                            data-testid="username"
                        />
                    </label>
                    <label>
                        <span>"Password"</span>
                        <input
                            name="password"
                            type="password"
                            autocomplete="current-password"
                            required
                            data-testid="password"
                        />
                    </label>
                    <button class="button primary big" type="submit" data-testid="signin">"Sign in"</button>
                </form>
            </div>
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_redirect_reason_reads_as_a_sentence() {
        assert_eq!(
            error_text("refused", None).as_deref(),
            Some("Wrong name or password.")
        );
        assert_eq!(
            error_text("throttled", Some("12")).as_deref(),
            Some("Too many attempts. Try again in 12 s.")
        );
        assert!(error_text("unavailable", None).is_some());
        assert_eq!(
            error_text("throttled", Some("call 555-0100")).as_deref(),
            Some("Too many attempts. Try again in a minute.")
        );
        assert_eq!(error_text("<script>", None), None);
    }
}
