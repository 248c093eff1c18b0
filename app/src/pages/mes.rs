//! `/mes`: the link to the MES and the outbox: messages waiting for delivery,
//! dead letters (refused by the MES, with its answer) and recent deliveries, each
//! with its age, attempts and last error. Admins retry or discard; everyone sees.
//!
//! The page reads the list and the page from the query on the server and renders
//! the tabs (links: a page load each); the rest follows the stream and the
//! admin's actions, so it is one island ([`Outbox`]) with the tabs as its children.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;
use leptos_router::hooks::use_query_map;
use leptos_router::params::ParamsMap;

use crate::api::{DiscardMessage, RetryMessage, get_outbox};
use crate::auth::Permission;
use crate::components::paged_table::{Empty, PagedTable, Paging, page_href, query_page};
use crate::fmt::{format_age, format_time, server_message};
use crate::live::use_live;
use crate::mes::{MesLinkState, MesStatus, OutboxEntry, OutboxList, OutboxPage};
use crate::session::can;

/// The link state in words.
pub fn link_text(s: &MesStatus) -> &'static str {
    match s.state {
        MesLinkState::Disabled => "No MES configured",
        MesLinkState::Connecting => "Connecting",
        MesLinkState::Up => "Connected",
        MesLinkState::Down => "Unreachable",
        MesLinkState::Unauthorized => "Token refused",
    }
}

/// The list of the page's query (waiting when absent or unknown) and its page,
/// counted from 1.
pub fn list_of(q: &ParamsMap) -> (OutboxList, u32) {
    let list = q
        .get("list")
        .and_then(|l| OutboxList::parse(&l))
        .unwrap_or_default();
    (list, query_page(q))
}

fn href(list: OutboxList, page: u32) -> String {
    page_href("/mes", &[("list", list.as_str().to_owned())], page)
}

#[derive(Clone, Copy)]
struct Actions {
    retry: ServerAction<RetryMessage>,
    discard: ServerAction<DiscardMessage>,
}

/// The MES page: the list and the page are read here, on the server, and so are
/// the tabs drawn.
#[component]
pub fn MesPage() -> impl IntoView {
    let (list, page) = use_query_map().with_untracked(list_of);
    let tab = move |l: OutboxList, label: &'static str| {
        view! {
            <A href=href(l, 1) attr:class=if list == l { "button primary" } else { "button" }
                attr:data-testid=format!("outbox-tab-{}", l.as_str())>
                {label}
            </A>
        }
    };
    view! {
        <Title text="MES · CellGuard"/>
        <section class="mes-page" aria-labelledby="mes-title">
            <h1 id="mes-title">"MES link and outbox"</h1>
            <Outbox list=list page=page>
                {tab(OutboxList::Pending, "Waiting")}
                {tab(OutboxList::Dead, "Dead letters")}
                {tab(OutboxList::Delivered, "Delivered")}
            </Outbox>
        </section>
    }
}

/// The link's state, the tabs (`children`, drawn on the server) with "Retry all"
/// on the dead letters, what an action refused, and page `page` (from 1) of
/// `list`: fetched again when the outbox counts move (pushed live) and after every
/// retry or discard.
#[island(lazy)]
fn Outbox(list: OutboxList, page: u32, children: Children) -> impl IntoView {
    let live = use_live();
    // The pushed status, once the server's drawing is hydrated.
    let hydrated = crate::live::use_hydrated();
    let actions = Actions {
        retry: ServerAction::<RetryMessage>::new(),
        discard: ServerAction::<DiscardMessage>::new(),
    };
    // Refetched when the outbox counts move (pushed live) and after every action.
    let counts = Memo::new(move |_| {
        live.mes
            .with(|m| m.as_ref().map(|m| (m.queued, m.dead, m.delivered, m.state)))
    });
    let outbox = Resource::new(
        move || {
            (
                counts.get(),
                actions.retry.version().get(),
                actions.discard.version().get(),
            )
        },
        move |_| get_outbox(list, page.saturating_sub(1)),
    );
    let action_error = move || {
        let r = actions.retry.value().get().and_then(Result::err);
        let d = actions.discard.value().get().and_then(Result::err);
        r.map(|e| format!("Not retried: {}", server_message(&e)))
            .into_iter()
            .chain(d.map(|e| format!("Not discarded: {}", server_message(&e))))
            .map(|t| view! { <p class="error" role="alert" data-testid="outbox-error">{t}</p> })
            .collect_view()
    };
    let retry_all = (can(Permission::ManageOutbox) && list == OutboxList::Dead).then(|| {
        view! {
            <button class="button" data-testid="retry-all"
                disabled=move || actions.retry.pending().get()
                on:click=move |_| { actions.retry.dispatch(RetryMessage { id: None }); }>
                "Retry all dead letters"
            </button>
        }
    });
    view! {
        <div class="island-root" data-testid="outbox-island" data-hydrated=move || hydrated.get().to_string()>
        <Transition fallback=|| view! { <p class="loading">"Loading the outbox…"</p> }>
            {move || outbox.get().map(|r| match r {
                Ok(p) => {
                    let pushed = if hydrated.get() { live.mes.get() } else { None };
                    let status = pushed.unwrap_or_else(|| p.status.clone());
                    view! { <StatusPanel status=status now_ms=live.now_ms.get_untracked()/> }.into_any()
                }
                Err(_) => ().into_any(),
            })}
        </Transition>
        <nav class="tabs" aria-label="Outbox lists">
            {children()}
            {retry_all}
        </nav>
        <div aria-live="polite">{action_error}</div>
        <Transition fallback=|| view! { <p class="loading">"Loading the outbox…"</p> }>
            {move || outbox.get().map(|r| match r {
                Ok(p) => view! { <OutboxTable page=p actions=actions now_ms=live.now_ms.get_untracked()/> }.into_any(),
                Err(e) => view! {
                    <p class="error" role="alert" data-testid="outbox-unavailable">
                        {format!("The outbox is not available: {}", server_message(&e))}
                    </p>
                }.into_any(),
            })}
        </Transition>
        </div>
    }
}

#[component]
fn StatusPanel(status: MesStatus, now_ms: i64) -> impl IntoView {
    let age = |ms: Option<i64>| {
        ms.map_or_else(
            || "—".to_owned(),
            |ms| {
                if now_ms > 0 {
                    format!("{} ({})", format_time(ms), format_age(now_ms - ms))
                } else {
                    format_time(ms)
                }
            },
        )
    };
    let class = format!("badge mes-{}", status.state.css());
    view! {
        <div class="panel mes-status" data-testid="mes-status">
            <div class="card-head">
                <span class=class data-testid="mes-link">{link_text(&status)}</span>
                <span class="muted">{format!("since {}", format_time(status.since_ms))}</span>
            </div>
            {status.error.clone().map(|e| view! { <p class="error" data-testid="mes-error">{e}</p> })}
            <dl class="lot-counts">
                <div><dt>"Waiting"</dt><dd data-testid="mes-queued">{status.queued}</dd></div>
                <div><dt>"Oldest waiting"</dt><dd>{age(status.oldest_ms)}</dd></div>
                <div><dt>"Dead letters"</dt><dd data-testid="mes-dead">{status.dead}</dd></div>
                <div><dt>"Delivered since start"</dt><dd>{status.delivered}</dd></div>
                <div><dt>"Orders fetched"</dt><dd>{age(status.orders_fetched_ms)}</dd></div>
            </dl>
        </div>
    }
}

#[component]
fn OutboxTable(page: OutboxPage, actions: Actions, now_ms: i64) -> impl IntoView {
    let list = page.list;
    let text = match list {
        _ if page.total > 0 => "No messages on this page.",
        OutboxList::Pending => "Nothing waits: every message has reached the MES.",
        OutboxList::Dead => "No dead letters: the MES has refused nothing.",
        OutboxList::Delivered => "Nothing delivered yet (or kept).",
    };
    let paging = Paging::new(page.total, page.per_page, u64::from(page.page) + 1, |p| {
        href(list, p)
    });
    let manage = can(Permission::ManageOutbox) && list != OutboxList::Delivered;
    view! {
        <PagedTable
            rows=page.entries
            row=move |e| view! { <OutboxRow e=e list=list manage=manage actions=actions now_ms=now_ms/> }
            class="cells-table outbox-table"
            testid="outbox-table"
            count=format!("{} message(s)", page.total)
            count_testid="outbox-count"
            empty=Empty::Note { text, testid: "outbox-empty" }
            scroll_label="Outbox messages"
            paging=paging
        >
            <th scope="col">"#"</th>
            <th scope="col">"Message"</th>
            <th scope="col">"Queued"</th>
            <th scope="col">"Attempts"</th>
            <th scope="col">"Last answer"</th>
            {manage.then(|| view! { <th scope="col">"Action"</th> })}
        </PagedTable>
    }
}

#[component]
fn OutboxRow(
    e: OutboxEntry,
    list: OutboxList,
    manage: bool,
    actions: Actions,
    now_ms: i64,
) -> impl IntoView {
    let id = e.id;
    let queued = if now_ms > 0 {
        format!(
            "{} ({})",
            format_time(e.created_ms),
            format_age(now_ms - e.created_ms)
        )
    } else {
        format_time(e.created_ms)
    };
    let answer = match (e.last_status, e.last_error.clone()) {
        (_, Some(err)) => err,
        (Some(s), None) => format!("{s}"),
        (None, None) => "—".into(),
    };
    let busy = move || actions.retry.pending().get() || actions.discard.pending().get();
    view! {
        <tr data-testid="outbox-row" data-kind=e.kind.clone()>
            <td>{id}</td>
            <td>
                <b>{e.kind.replace('_', " ")}</b>" · "{e.subject.clone()}
                <div class="muted key">{e.key.clone()}</div>
            </td>
            <td>{queued}</td>
            <td>{e.attempts}</td>
            <td class="answer" data-testid="outbox-answer">{answer}</td>
            {manage.then(|| view! {
                <td class="row-actions">
                    {(list == OutboxList::Dead).then(|| view! {
                        <button class="button" data-testid="outbox-retry" disabled=busy
                            on:click=move |_| { actions.retry.dispatch(RetryMessage { id: Some(id) }); }>
                            "Retry"
                        </button>
                    })}
                    {(list != OutboxList::Delivered).then(|| view! {
                        <button class="button" data-testid="outbox-discard" disabled=busy
                            on:click=move |_| {
                                if confirm_discard(id) {
                                    actions.discard.dispatch(DiscardMessage { id });
                                }
                            }>
                            "Discard"
                        </button>
                    })}
                </td>
            })}
        </tr>
    }
}

/// Asks before dropping a message for good (in the browser).
fn confirm_discard(id: i64) -> bool {
    #[cfg(feature = "hydrate")]
    {
        web_sys::window()
            .and_then(|w| {
                w.confirm_with_message(&format!(
                    "Discard message {id} for good? The MES will never receive it."
                ))
                .ok()
            })
            .unwrap_or(false)
    }
    #[cfg(not(feature = "hydrate"))]
    {
        let _ = id;
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_reads_as_a_list_and_a_page() {
        use crate::components::paged_table::params;
        assert_eq!(list_of(&params(&[])), (OutboxList::Pending, 1));
        assert_eq!(
            list_of(&params(&[("list", "dead"), ("page", "2")])),
            (OutboxList::Dead, 2)
        );
        assert_eq!(
            list_of(&params(&[("list", "nonsense"), ("page", "x")])),
            (OutboxList::default(), 1)
        );
    }

    #[test]
    fn list_links_keep_the_list_and_leave_out_page_one() {
        assert_eq!(href(OutboxList::Dead, 1), "/mes?list=dead");
        assert_eq!(href(OutboxList::Pending, 3), "/mes?list=pending&page=3");
    }

    #[test]
    fn every_link_state_has_words() {
        let mut s = MesStatus::new(MesLinkState::Up, 0);
        assert_eq!(link_text(&s), "Connected");
        s.state = MesLinkState::Unauthorized;
        assert_eq!(link_text(&s), "Token refused");
    }
}
