//! `/actions`: corrective actions on the machines. Failed writes as alarms,
//! each machine's write mode, proposals waiting for a supervisor (one tap to
//! approve or reject), writes over the last 24 hours, and the journal of every
//! proposal and write with its effect on the high-risk rate and an undo.
//!
//! The page reads its filter from the query on the server; everything under the
//! heading follows the live stream and the decisions taken, so it is one island
//! ([`ActionsLive`]) that takes the filter as its prop. A filter change is a page load.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;
use leptos_router::params::ParamsMap;

use crate::actions::{
    ActionFilter, ActionState, ActionView, ActionsView, MachineMode, WritableTag, WriteMode,
};
use crate::api::{
    AcknowledgeAction, ApproveAction, ProposeAction, RejectAction, SetWriteMode, UndoAction,
    get_actions,
};
use crate::auth::Permission;
use crate::components::paged_table::{CsvLink, Empty, PagedTable, Paging, page_href, query_page};
use crate::components::risk_chart::actions_per_hour_svg;
use crate::error::ServiceError;
use crate::fmt::server_message;
use crate::fmt::{format_age, format_number, format_share, format_time, query_string};
use crate::live::use_live;
use crate::session::can;

/// Rows per page of the journal (as the server pages it).
const PER_PAGE: u32 = 50;

/// What a person is typing into the proposal form; kept by the page, so a
/// refetch (or a refusal) does not clear it.
#[derive(Clone, Copy)]
struct Draft {
    chosen: RwSignal<usize>,
    value: RwSignal<String>,
    reason: RwSignal<String>,
}

#[derive(Clone, Copy)]
struct Act {
    propose: ServerAction<ProposeAction>,
    approve: ServerAction<ApproveAction>,
    reject: ServerAction<RejectAction>,
    undo: ServerAction<UndoAction>,
    ack: ServerAction<AcknowledgeAction>,
    mode: ServerAction<SetWriteMode>,
}

impl Act {
    fn busy(self) -> bool {
        self.approve.pending().get()
            || self.propose.pending().get()
            || self.reject.pending().get()
            || self.undo.pending().get()
            || self.ack.pending().get()
            || self.mode.pending().get()
    }
}

/// The filter's query pairs, without the page.
fn filter_pairs(f: &ActionFilter) -> Vec<(&'static str, String)> {
    let mut pairs = Vec::new();
    if let Some(m) = f.machine.as_deref().filter(|m| !m.is_empty()) {
        pairs.push(("machine", m.to_owned()));
    }
    if let Some(s) = f.state {
        pairs.push(("state", s.as_str().to_owned()));
    }
    pairs
}

/// The filter of the page's query (the page counted from 0).
pub fn filter_of(q: &ParamsMap) -> ActionFilter {
    ActionFilter {
        machine: q.get("machine").filter(|m| !m.is_empty()),
        state: q.get("state").and_then(|s| ActionState::parse(&s)),
        page: query_page(q) - 1,
    }
}

/// The page's link for a filter.
pub fn href(f: &ActionFilter) -> String {
    page_href("/actions", &filter_pairs(f), f.page.saturating_add(1))
}

/// The CSV export's link for a filter (every page).
pub fn export_href(f: &ActionFilter) -> String {
    format!(
        "/api/v1/export/actions.csv{}",
        query_string(&filter_pairs(f))
    )
}

/// "950 → 900 RPM".
pub fn change_text(a: &ActionView) -> String {
    let unit = if a.unit.is_empty() {
        String::new()
    } else {
        format!(" {}", a.unit)
    };
    format!("{} → {}{unit}", format_number(a.from), format_number(a.to))
}

/// The effect column: high-risk share before → after.
pub fn effect_text(effect: Option<(f64, f64)>) -> String {
    match effect {
        Some((before, after)) => format!(
            "{} → {}",
            format_share(Some(before)),
            format_share(Some(after))
        ),
        None => "—".into(),
    }
}

/// Who or what proposed an action, what it saw, and when.
pub fn proposal_text(a: &ActionView, now_ms: i64) -> String {
    let by = match a.proposed_by.strip_prefix("rule:") {
        Some(rule) => format!("Rule {rule}"),
        None => format!("Proposed by {}", a.proposed_by),
    };
    let seen = if a.observed.is_empty() {
        String::new()
    } else {
        format!(": {}", a.observed)
    };
    format!(
        "{by}{seen} · {} ({})",
        format_time(a.created_ms),
        format_age(now_ms - a.created_ms)
    )
}

fn state_class(s: ActionState) -> &'static str {
    match s {
        ActionState::Pending => "badge action-pending",
        ActionState::Approved | ActionState::Writing => "badge action-writing",
        ActionState::Verified | ActionState::Written => "badge action-verified",
        ActionState::Failed => "badge action-failed",
        ActionState::Refused | ActionState::Rejected | ActionState::Expired => {
            "badge action-closed"
        }
    }
}

/// The actions page: the filter is read here, on the server.
#[component]
pub fn ActionsPage() -> impl IntoView {
    let filter = use_query_map().with_untracked(filter_of);
    let initial = {
        let filter = filter.clone();
        Resource::new(|| (), move |_| get_actions(filter.clone()))
    };
    view! {
        <Title text="Actions · CellGuard"/>
        <section class="actions-page" aria-labelledby="actions-title">
            <h1 id="actions-title">"Corrective actions"</h1>
            <Suspense fallback=|| view! { <p class="loading">"Loading the actions…"</p> }>
                {move || {
                    let filter = filter.clone();
                    initial.get().map(move |initial| view! { <ActionsLive filter=filter initial=initial/> })
                }}
            </Suspense>
        </section>
    }
}

/// Everything under the heading: the decisions' errors and outcome, then the
/// alarms, modes, pending proposals, chart and journal of `filter`, fetched again
/// when the stream says the journal changed and after every decision.
#[island(lazy)]
fn ActionsLive(filter: ActionFilter, initial: Result<ActionsView, ServiceError>) -> impl IntoView {
    let act = Act {
        propose: ServerAction::<ProposeAction>::new(),
        approve: ServerAction::<ApproveAction>::new(),
        reject: ServerAction::<RejectAction>::new(),
        undo: ServerAction::<UndoAction>::new(),
        ack: ServerAction::<AcknowledgeAction>::new(),
        mode: ServerAction::<SetWriteMode>::new(),
    };
    let draft = Draft {
        chosen: RwSignal::new(0),
        value: RwSignal::new(String::new()),
        reason: RwSignal::new(String::new()),
    };
    // A proposal made: the form starts empty again.
    Effect::new(move |_| {
        if matches!(act.propose.value().get(), Some(Ok(_))) {
            draft.value.set(String::new());
            draft.reason.set(String::new());
        }
    });
    // Refetched when the journal changes (pushed live) and after every decision.
    let data = RwSignal::new(initial);
    #[cfg(feature = "hydrate")]
    {
        let live = use_live();
        let version = Memo::new(move |_| live.actions.with(|a| a.as_ref().map(|a| a.version)));
        let filter = filter.clone();
        crate::components::cell_refresh::refetch_on(
            data,
            move || {
                // Read, not `track()`: a memo nobody reads is never computed, so it
                // would never notice the stream's change (nor wake this effect).
                version.with(|_| ());
                act.propose.version().track();
                act.approve.version().track();
                act.reject.version().track();
                act.undo.version().track();
                act.ack.version().track();
                act.mode.version().track();
            },
            move || get_actions(filter.clone()),
        );
    }
    let errors = move || {
        let e = |r: Option<Result<_, ServiceError>>, what: &str| {
            r.and_then(Result::err)
                .map(|e| format!("{what}: {}", server_message(&e)))
        };
        [
            e(
                act.propose.value().get().map(|r| r.map(|_| ())),
                "Not proposed",
            ),
            e(
                act.approve.value().get().map(|r| r.map(|_| ())),
                "Not approved",
            ),
            e(act.reject.value().get(), "Not rejected"),
            e(act.undo.value().get().map(|r| r.map(|_| ())), "Not undone"),
            e(act.ack.value().get(), "Not acknowledged"),
            e(act.mode.value().get(), "Mode not switched"),
        ]
        .into_iter()
        .flatten()
        .map(|t| view! { <p class="error" role="alert" data-testid="action-error">{t}</p> })
        .collect_view()
    };
    // What the last approval or undo ended as, said once, for the person who tapped.
    let outcome = move || {
        let last = act
            .approve
            .value()
            .get()
            .and_then(Result::ok)
            .or_else(|| act.undo.value().get().and_then(Result::ok))?;
        // The write goes on after the answer: its outcome is the journal's row,
        // refetched as the live stream says the journal changed.
        let last = data
            .get()
            .ok()
            .and_then(|v| v.history.into_iter().find(|a| a.id == last.id))
            .unwrap_or(last);
        let text = format!(
            "#{} {} {}: {}{}",
            last.id,
            last.machine,
            last.tag_label,
            last.state.label(),
            last.detail
                .as_deref()
                .map(|d| format!(" ({d})"))
                .unwrap_or_default()
        );
        let class = if last.state.written() {
            "notice ok"
        } else if last.state.in_progress() {
            "notice"
        } else {
            "error"
        };
        Some(view! { <p class=class role="status" data-testid="action-outcome">{text}</p> })
    };
    let hydrated = crate::live::use_hydrated();
    view! {
        <div class="island-root" data-testid="actions-island" data-hydrated=move || hydrated.get().to_string()>
        <div aria-live="polite">{errors}{outcome}</div>
        {move || match data.get() {
            Ok(v) => view! { <ActionsBody v=v act=act draft=draft filter=filter.clone()/> }.into_any(),
            Err(e) => view! {
                <p class="error" role="alert" data-testid="actions-unavailable">
                    {format!("The actions are not available: {}", server_message(&e))}
                </p>
            }.into_any(),
        }}
        </div>
    }
}

#[component]
fn ActionsBody(v: ActionsView, act: Act, draft: Draft, filter: ActionFilter) -> impl IntoView {
    let now = v.now_ms;
    let alarms = v
        .alarms
        .into_iter()
        .map(|a| view! { <AlarmRow a=a act=act/> })
        .collect_view();
    let modes = v
        .modes
        .into_iter()
        .map(|m| view! { <ModeRow m=m act=act/> })
        .collect_view();
    let propose = can(Permission::ApproveActions)
        .then(|| view! { <ProposeForm tags=v.writable.clone() act=act draft=draft/> });
    let pending = if v.pending.is_empty() {
        view! { <p class="empty" data-testid="pending-empty">"Nothing waits for approval."</p> }
            .into_any()
    } else {
        v.pending
            .into_iter()
            .map(|a| view! { <PendingCard a=a act=act now_ms=now/> })
            .collect_view()
            .into_any()
    };
    let chart = actions_per_hour_svg(&v.per_hour, now, (760, 240));
    let paging = Paging::new(v.total, PER_PAGE, u64::from(filter.page) + 1, |page| {
        href(&ActionFilter {
            page: page.saturating_sub(1),
            ..filter.clone()
        })
    });
    let undo = can(Permission::ApproveActions);
    let csv = CsvLink {
        href: Signal::stored(export_href(&filter)),
        file: "actions.csv",
        testid: "export-actions",
        label: "Export as CSV",
    };
    view! {
        <div data-testid="alarms">{alarms}</div>
        <div class="panel">
            <h2>"Write modes"</h2>
            <p class="muted">
                "Off: no proposals. Advisory: each proposal waits for a supervisor. "
                "Automatic: proposals inside the safety envelope are written at once."
            </p>
            <table class="cells-table modes-table" data-testid="modes">
                <tbody>{modes}</tbody>
            </table>
        </div>
        <div class="panel">
            <h2>"Waiting for approval"</h2>
            <div class="pending-list" data-testid="pending">{pending}</div>
            {propose}
        </div>
        <div class="panel">
            <h2>"Corrective actions over time"</h2>
            <div class="chart chart-svg" data-testid="actions-chart" role="img"
                aria-label="Writes per hour over the last 24 hours" inner_html=chart></div>
        </div>
        <div class="panel">
            <h2>"Journal"</h2>
            <JournalFilter filter=filter.clone()/>
            <PagedTable
                rows=v.history
                row=move |a| view! { <HistoryRow a=a act=act undo=undo/> }
                class="cells-table actions-table"
                testid="journal"
                count=format!("{} action(s) · ", v.total)
                count_testid="journal-count"
                csv=csv
                empty=Empty::Row {
                    text: "No actions match: nothing proposed or written yet.",
                    testid: "journal-empty",
                    columns: if undo { 8 } else { 7 },
                }
                scroll_label="Actions journal"
                paging=paging
            >
                <th scope="col">"#"</th>
                <th scope="col">"Proposed"</th>
                <th scope="col">"Machine · tag"</th>
                <th scope="col">"Change"</th>
                <th scope="col">"Rule"</th>
                <th scope="col">"Outcome"</th>
                <th scope="col">"High-risk before → after"</th>
                {undo.then(|| view! { <th scope="col">"Undo"</th> })}
            </PagedTable>
        </div>
    }
}

#[component]
fn JournalFilter(filter: ActionFilter) -> impl IntoView {
    let machine = filter.machine.clone().unwrap_or_default();
    let state = filter.state.map(|s| s.as_str()).unwrap_or_default();
    // No router in the browser: a filter is a page load of its link.
    let go = |f: ActionFilter| crate::nav::go(&href(&f));
    let keep = filter.clone();
    let live = use_live();
    // The machines come with the stream, after the first drawing.
    let hydrated = crate::live::use_hydrated();
    let options = move || {
        if hydrated.get() {
            live.machine_names()
        } else {
            Vec::new()
        }
    };
    view! {
        <div class="filters">
            <label>
                "Machine "
                <select data-testid="filter-machine" on:change=move |ev| {
                    let v = event_target_value(&ev);
                    go(ActionFilter { machine: Some(v), page: 0, ..filter.clone() });
                }>
                    <option value="" selected=machine.is_empty()>"All"</option>
                    {move || options().into_iter().map(|(id, name)| {
                        let sel = id == machine;
                        view! { <option value=id.clone() selected=sel>{format!("{id} · {name}")}</option> }
                    }).collect_view()}
                </select>
            </label>
            <label>
                "Outcome "
                <select data-testid="filter-state" on:change=move |ev| {
                    let v = event_target_value(&ev);
                    go(ActionFilter { state: ActionState::parse(&v), page: 0, ..keep.clone() });
                }>
                    <option value="" selected=state.is_empty()>"All"</option>
                    {ActionState::ALL.into_iter().map(|s| view! {
                        <option value=s.as_str() selected=s.as_str() == state>{s.label()}</option>
                    }).collect_view()}
                </select>
            </label>
        </div>
    }
}

/// "CAS_01 · Speed setpoint (600–1200 RPM, at most 100 a step)".
pub fn writable_text(t: &WritableTag) -> String {
    let unit = if t.unit.is_empty() {
        String::new()
    } else {
        format!(" {}", t.unit)
    };
    // Limits come from the plant file as typed: shown as typed.
    format!(
        "{} · {} ({}–{}{unit}, at most {} a step)",
        t.machine, t.label, t.min, t.max, t.max_step
    )
}

/// A person's own proposal: a writable tag, a value and why. It waits for
/// approval like a rule's, and passes the same envelope.
#[component]
fn ProposeForm(tags: Vec<WritableTag>, act: Act, draft: Draft) -> impl IntoView {
    if tags.is_empty() {
        return None;
    }
    let Draft {
        chosen,
        value,
        reason,
    } = draft;
    let open = !value.get_untracked().is_empty() || !reason.get_untracked().is_empty();
    let tags = StoredValue::new(tags);
    let now = move || {
        tags.with_value(|t| {
            t.get(chosen.get()).map(|t| match t.value {
                Some(v) => format!("now {}", format_number(v)),
                None => "not read yet".into(),
            })
        })
    };
    let options = tags.with_value(|t| {
        t.iter()
            .enumerate()
            .map(|(i, t)| {
                let sel = i == chosen.get_untracked();
                view! { <option value=i.to_string() selected=sel>{writable_text(t)}</option> }
            })
            .collect_view()
    });
    let parsed = move || value.with(|v| v.trim().parse::<f64>().ok().filter(|v| v.is_finite()));
    Some(view! {
        <details class="propose" data-testid="propose" open=open>
            <summary class="button" data-testid="propose-open">"Propose a change yourself…"</summary>
            <form class="propose-form" on:submit=move |ev| {
                ev.prevent_default();
                let Some(v) = parsed() else { return };
                let Some((machine, tag)) = tags.with_value(|t| {
                    t.get(chosen.get_untracked()).map(|t| (t.machine.clone(), t.tag.clone()))
                }) else { return };
                act.propose.dispatch(ProposeAction {
                    machine,
                    tag,
                    value: v,
                    reason: reason.get_untracked(),
                });
            }>
                <label>
                    "Setpoint "
                    <select data-testid="propose-tag" on:change=move |ev| {
                        chosen.set(event_target_value(&ev).parse().unwrap_or(0));
                    }>{options}</select>
                </label>
                <label>
                    "New value "
                    <input type="number" step="any" inputmode="decimal" required
                        data-testid="propose-value"
                        prop:value=move || value.get()
                        on:input=move |ev| value.set(event_target_value(&ev))/>
                    <span class="muted" data-testid="propose-now">{now}</span>
                </label>
                <label class="grow">
                    "Why "
                    <input type="text" required maxlength="500" data-testid="propose-reason"
                        prop:value=move || reason.get()
                        on:input=move |ev| reason.set(event_target_value(&ev))/>
                </label>
                <button class="button big" type="submit" data-testid="propose-submit"
                    disabled=move || act.busy() || parsed().is_none()
                        || reason.with(|r| r.trim().is_empty())>
                    "Propose"
                </button>
            </form>
        </details>
    })
}

#[component]
fn AlarmRow(a: ActionView, act: Act) -> impl IntoView {
    let id = a.id;
    let text = format!(
        "Write #{id} to {} {} ({}) failed: {}",
        a.machine,
        a.tag_label,
        change_text(&a),
        a.detail.clone().unwrap_or_default()
    );
    view! {
        <div class="alarm" role="alert" data-testid="write-alarm">
            <span>{text}</span>
            {can(Permission::Acknowledge).then(|| view! {
                <button class="button" data-testid="acknowledge" disabled=move || act.busy()
                    on:click=move |_| { act.ack.dispatch(AcknowledgeAction { id }); }>
                    "Acknowledge"
                </button>
            })}
        </div>
    }
}

#[component]
fn ModeRow(m: MachineMode, act: Act) -> impl IntoView {
    let allowed = can(Permission::SwitchWriteMode);
    let current = m.mode;
    let buttons = WriteMode::ALL
        .into_iter()
        .map(|mode| {
            let machine = m.machine.clone();
            let on = mode == current;
            view! {
                <button
                    class=if on { "button primary" } else { "button" }
                    aria-pressed=if on { "true" } else { "false" }
                    data-testid=format!("mode-{}-{}", m.machine, mode.as_str())
                    disabled=move || !allowed || on || act.busy()
                    on:click=move |_| {
                        if confirm_mode(&machine, mode) {
                            act.mode.dispatch(SetWriteMode { machine: machine.clone(), mode });
                        }
                    }>
                    {mode.label()}
                </button>
            }
        })
        .collect_view();
    view! {
        <tr data-testid="mode-row" data-machine=m.machine.clone() data-mode=current.as_str()>
            <th scope="row">{format!("{} · {}", m.machine, m.name)}</th>
            <td class="segmented" role="group" aria-label=format!("Write mode of {}", m.machine)>{buttons}</td>
        </tr>
    }
}

/// Asks before handing a machine's setpoints to CellGuard (in the browser).
fn confirm_mode(machine: &str, mode: WriteMode) -> bool {
    if mode != WriteMode::Automatic {
        return true;
    }
    #[cfg(feature = "hydrate")]
    {
        web_sys::window()
            .and_then(|w| {
                w.confirm_with_message(&format!(
                    "Let CellGuard write {machine}'s setpoints without asking? \
                     Every write still stays inside the safety envelope."
                ))
                .ok()
            })
            .unwrap_or(false)
    }
    #[cfg(not(feature = "hydrate"))]
    {
        let _ = machine;
        false
    }
}

#[component]
fn PendingCard(a: ActionView, act: Act, now_ms: i64) -> impl IntoView {
    let id = a.id;
    let allowed = can(Permission::ApproveActions);
    let rejecting = RwSignal::new(false);
    let reason = RwSignal::new(String::new());
    view! {
        <article class="pending-card" data-testid="pending-action" data-id=id>
            <header class="card-head">
                <b>{format!("{} · {}", a.machine, a.tag_label)}</b>
                <span class="change" data-testid="pending-change">{change_text(&a)}</span>
            </header>
            <p class="rationale">{a.rationale.clone()}</p>
            <p class="muted">{proposal_text(&a, now_ms)}</p>
            {allowed.then(|| view! {
                <div class="decide">
                    <button class="button primary big" data-testid="approve" disabled=move || act.busy()
                        on:click=move |_| { act.approve.dispatch(ApproveAction { id }); }>
                        "Approve and write"
                    </button>
                    <button class="button big" data-testid="reject" disabled=move || act.busy()
                        on:click=move |_| rejecting.update(|r| *r = !*r)>
                        "Reject…"
                    </button>
                </div>
                <Show when=move || rejecting.get()>
                    <form class="reject-form" on:submit=move |ev| {
                        ev.prevent_default();
                        act.reject.dispatch(RejectAction { id, reason: reason.get_untracked() });
                    }>
                        <label>
                            "Why reject? "
                            <input type="text" required maxlength="500" data-testid="reject-reason"
                                prop:value=move || reason.get()
                                on:input=move |ev| reason.set(event_target_value(&ev))/>
                        </label>
                        <button class="button" type="submit" data-testid="confirm-reject"
                            disabled=move || act.busy() || reason.with(|r| r.trim().is_empty())>
                            "Reject"
                        </button>
                    </form>
                </Show>
            })}
        </article>
    }
}

#[component]
fn HistoryRow(a: ActionView, act: Act, undo: bool) -> impl IntoView {
    let id = a.id;
    // The badge says the state; the line under it says by whom and why.
    let outcome = match (&a.decided_by, &a.detail) {
        (Some(by), Some(d)) => format!("by {by}: {d}"),
        (Some(by), None) => format!("by {by}"),
        (None, Some(d)) => d.clone(),
        (None, None) => String::new(),
    };
    let read_back = a
        .read_back
        .map(|r| format!(" · read back {}", format_number(r)))
        .unwrap_or_default();
    let can_undo = undo && a.state.written();
    view! {
        <tr data-testid="journal-row" data-id=id data-state=a.state.as_str()>
            <td>{id}</td>
            <td>{format_time(a.created_ms)}</td>
            <td>{format!("{} · {}", a.machine, a.tag_label)}</td>
            <td>{change_text(&a)}</td>
            <td>
                <b>{a.rule.clone()}</b>
                <div class="muted">{a.observed.clone()}</div>
            </td>
            <td>
                <span class=state_class(a.state) data-testid="journal-state">{a.state.label()}</span>
                <div class="muted">{outcome}{read_back}</div>
            </td>
            <td data-testid="journal-effect">{effect_text(a.effect)}</td>
            {undo.then(|| view! {
                <td>
                    {can_undo.then(|| view! {
                        <button class="button" data-testid="undo" disabled=move || act.busy()
                            on:click=move |_| { act.undo.dispatch(UndoAction { id }); }>
                            "Undo"
                        </button>
                    })}
                </td>
            })}
        </tr>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_reads_as_the_filter_its_links_write() {
        use crate::components::paged_table::params;
        let q = params(&[("machine", "CAS_01"), ("state", "verified"), ("page", "3")]);
        let f = filter_of(&q);
        assert_eq!(
            f,
            ActionFilter {
                machine: Some("CAS_01".into()),
                state: Some(ActionState::Verified),
                page: 2,
            }
        );
        assert_eq!(href(&f), "/actions?machine=CAS_01&state=verified&page=3");
        let q = params(&[("machine", ""), ("state", "nonsense"), ("page", "0")]);
        assert_eq!(filter_of(&q), ActionFilter::default());
    }

    #[test]
    fn links_keep_the_filter_and_leave_out_page_one() {
        let mut f = ActionFilter::default();
        assert_eq!(href(&f), "/actions");
        f.machine = Some("CAS_01".into());
        f.state = Some(ActionState::Verified);
        f.page = 2;
        assert_eq!(href(&f), "/actions?machine=CAS_01&state=verified&page=3");
        assert_eq!(
            export_href(&f),
            "/api/v1/export/actions.csv?machine=CAS_01&state=verified"
        );
    }

    #[test]
    fn a_proposal_says_who_or_which_rule_and_what_it_saw() {
        let mut a = ActionView {
            id: 1,
            created_ms: 0,
            machine: "CAS_01".into(),
            tag: "speed_setpoint".into(),
            tag_label: "Speed setpoint".into(),
            unit: "RPM".into(),
            rule: "manual".into(),
            rationale: "why".into(),
            observed: String::new(),
            from: 1000.0,
            to: 950.0,
            state: ActionState::Pending,
            decided_by: None,
            decided_ms: None,
            detail: None,
            read_back: None,
            effect: None,
            proposed_by: "sally".into(),
        };
        let t = proposal_text(&a, 0);
        assert!(t.starts_with("Proposed by sally · "), "{t}");
        a.proposed_by = "rule:cas-speed".into();
        a.observed = "9 of the last 30 cells high-risk".into();
        let t = proposal_text(&a, 0);
        assert!(
            t.starts_with("Rule cas-speed: 9 of the last 30 cells high-risk · "),
            "{t}"
        );
        assert_eq!(change_text(&a), "1000 → 950.0 RPM");
    }

    #[test]
    fn a_writable_tag_reads_with_its_limits() {
        let t = WritableTag {
            machine: "CAS_01".into(),
            tag: "speed_setpoint".into(),
            label: "Speed setpoint".into(),
            unit: "RPM".into(),
            min: 600.0,
            max: 1200.0,
            max_step: 100.0,
            value: Some(1000.0),
        };
        assert_eq!(
            writable_text(&t),
            "CAS_01 · Speed setpoint (600–1200 RPM, at most 100 a step)"
        );
    }

    #[test]
    fn effects_and_changes_read_as_words() {
        assert_eq!(effect_text(None), "—");
        let t = effect_text(Some((0.3, 0.1)));
        assert!(t.contains('→'), "{t}");
        assert_ne!(effect_text(Some((0.3, 0.1))), effect_text(Some((0.1, 0.3))));
    }
}
