//! The standing alarms, live: most urgent first, each with what to do and, for a
//! person allowed to, acknowledge in one tap (a comment is optional). On `/alarms`
//! the panel also shelves, takes out of service and lists the suppressed alarms.
//! The list is fetched again when the stream says an alarm changed and after every
//! decision made here.

use leptos::prelude::*;

use crate::alarm::view::{AlarmBoard, AlarmView};
use crate::alarm::{Priority, State};
use crate::api::{
    AcknowledgeAlarm, RemoveAlarmFromService, ReturnAlarmToService, ShelveAlarm, UnshelveAlarm,
};
use crate::auth::Permission;
use crate::error::ServiceError;
use crate::fmt::{format_number, format_time, server_message};
use crate::session::can;

/// How much the panel shows and offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum PanelMode {
    /// The shift board: the standing alarms (at most `max`), acknowledge only.
    Board {
        /// Rows shown (the rest are counted, with a link to `/alarms`).
        max: usize,
    },
    /// `/alarms`: every standing and suppressed alarm, every decision.
    Full,
}

#[derive(Clone, Copy)]
struct Decide {
    ack: ServerAction<AcknowledgeAlarm>,
    shelve: ServerAction<ShelveAlarm>,
    unshelve: ServerAction<UnshelveAlarm>,
    remove: ServerAction<RemoveAlarmFromService>,
    restore: ServerAction<ReturnAlarmToService>,
}

impl Decide {
    fn busy(&self) -> bool {
        self.ack.pending().get()
            || self.shelve.pending().get()
            || self.unshelve.pending().get()
            || self.remove.pending().get()
            || self.restore.pending().get()
    }

    fn error(&self) -> Option<String> {
        let e = |r: Option<Result<AlarmView, ServiceError>>, what: &str| {
            r.and_then(Result::err)
                .map(|e| format!("{what}: {}", server_message(&e)))
        };
        e(self.ack.value().get(), "Not acknowledged")
            .or_else(|| e(self.shelve.value().get(), "Not shelved"))
            .or_else(|| e(self.unshelve.value().get(), "Not unshelved"))
            .or_else(|| e(self.remove.value().get(), "Not taken out of service"))
            .or_else(|| e(self.restore.value().get(), "Not returned to service"))
    }
}

/// The CSS class of a priority's badge.
pub fn priority_class(p: Priority) -> &'static str {
    match p {
        Priority::Urgent => "prio prio-urgent",
        Priority::High => "prio prio-high",
        Priority::Medium => "prio prio-medium",
        Priority::Low => "prio prio-low",
    }
}

/// The standing alarms (and on `/alarms` the suppressed ones), live. Lazy: its
/// code (the decisions and their server functions) is a part of its own that only
/// the pages showing it fetch.
#[island(lazy)]
pub fn AlarmPanel(initial: AlarmBoard, mode: PanelMode) -> impl IntoView {
    let act = Decide {
        ack: ServerAction::<AcknowledgeAlarm>::new(),
        shelve: ServerAction::<ShelveAlarm>::new(),
        unshelve: ServerAction::<UnshelveAlarm>::new(),
        remove: ServerAction::<RemoveAlarmFromService>::new(),
        restore: ServerAction::<ReturnAlarmToService>::new(),
    };
    let data = RwSignal::new(initial);
    #[cfg(feature = "hydrate")]
    {
        let live = crate::live::use_live();
        let version = Memo::new(move |_| live.alarms.with(|a| a.map(|a| a.version)));
        let fresh = RwSignal::new(None::<Result<AlarmBoard, ServiceError>>);
        crate::components::cell_refresh::refetch_on(
            fresh,
            move || {
                // Read, not `track()`: a memo nobody reads is never computed, so it
                // would never notice the stream's change (nor wake this effect).
                version.with(|_| ());
                act.ack.version().track();
                act.shelve.version().track();
                act.unshelve.version().track();
                act.remove.version().track();
                act.restore.version().track();
            },
            move || async { Some(crate::api::get_alarm_board().await) },
        );
        // A failed refetch keeps what is shown.
        Effect::new(move |_| {
            if let Some(Ok(b)) = fresh.get() {
                data.set(b);
            }
        });
    }
    let (max, full) = match mode {
        PanelMode::Board { max } => (max, false),
        PanelMode::Full => (usize::MAX, true),
    };
    let rows = move || {
        data.with(|b| {
            b.standing
                .iter()
                .take(max)
                .cloned()
                .map(|a| view! { <AlarmRow a=a act=act full=full max_hours=b.max_shelve_hours/> })
                .collect_view()
        })
    };
    let more = move || {
        data.with(|b| {
            (b.standing.len() > max).then(|| {
                let n = b.standing.len() - max;
                view! {
                    <a class="more-alarms" href="/alarms" data-testid="more-alarms">
                        {format!("{n} more standing alarm{} →", if n == 1 { "" } else { "s" })}
                    </a>
                }
            })
        })
    };
    let counts = move || {
        data.with(|b| {
            Priority::ALL
                .into_iter()
                .filter(|p| b.summary.by_priority.get(*p) > 0)
                .map(|p| {
                    let n = b.summary.by_priority.get(p);
                    view! {
                        <span class=priority_class(p) data-testid="alarm-count" data-priority=p.as_str()>
                            {format!("{n} {}", p.label())}
                        </span>
                    }
                })
                .collect_view()
        })
    };
    let suppressed = move || {
        full.then(|| {
            data.with(|b| {
                let list = b
                    .suppressed
                    .iter()
                    .cloned()
                    .map(|a| view! { <SuppressedRow a=a act=act/> })
                    .collect_view();
                view! {
                    <h2 class="panel-sub">"Shelved and out of service"</h2>
                    {if b.suppressed.is_empty() {
                        view! { <p class="muted" data-testid="no-suppressed">"None."</p> }.into_any()
                    } else {
                        view! { <ul class="alarm-list" data-testid="suppressed">{list}</ul> }.into_any()
                    }}
                }
            })
        })
    };
    let hydrated = crate::live::use_hydrated();
    view! {
        <section class="panel alarm-panel" aria-labelledby="alarms-title" data-testid="alarm-panel" data-hydrated=move || hydrated.get().to_string()>
            <div class="panel-head">
                <h2 id="alarms-title">
                    {if full { "Standing alarms" } else { "Alarms" }}
                </h2>
                <span class="alarm-counts">{counts}</span>
                {(!full).then(|| view! { <a class="panel-link" href="/alarms">"Journal"</a> })}
            </div>
            {move || act.error().map(|t| view! { <p class="error" role="alert" data-testid="alarm-error">{t}</p> })}
            {move || {
                if data.with(|b| b.standing.is_empty()) {
                    view! { <p class="all-clear" data-testid="no-alarms">"No standing alarms."</p> }.into_any()
                } else {
                    view! { <ul class="alarm-list" data-testid="standing">{rows}</ul> }.into_any()
                }
            }}
            {more}
            {suppressed}
        </section>
    }
}

fn value_text(a: &AlarmView) -> String {
    match a.value {
        Some(v) if a.unit.is_empty() => format_number(v),
        Some(v) => format!("{} {}", format_number(v), a.unit),
        None => String::new(),
    }
}

#[component]
fn AlarmRow(a: AlarmView, act: Decide, full: bool, max_hours: f64) -> impl IntoView {
    let id = a.id;
    let comment = RwSignal::new(String::new());
    let reason = RwSignal::new(String::new());
    let hours = RwSignal::new(String::from("1"));
    let unacked = a.state != State::Acked;
    let state_class = match a.state {
        State::Unacked => "alarm alarm-unacked",
        State::ClearedUnacked => "alarm alarm-cleared",
        _ => "alarm alarm-acked",
    };
    let since = a.raised_ms.unwrap_or(a.changed_ms);
    let ack = (unacked && can(Permission::Acknowledge)).then(|| {
        view! {
            <div class="alarm-ack">
                <input type="text" class="alarm-comment" placeholder="Comment (optional)"
                    aria-label="Comment" maxlength="500" data-testid="alarm-comment"
                    prop:value=move || comment.get()
                    on:input=move |e| comment.set(event_target_value(&e))/>
                <button class="button primary" data-testid="acknowledge-alarm"
                    disabled=move || act.busy()
                    on:click=move |_| {
                        let c = comment.get_untracked();
                        act.ack.dispatch(AcknowledgeAlarm {
                            id,
                            comment: (!c.trim().is_empty()).then_some(c),
                        });
                    }>
                    "Acknowledge"
                </button>
            </div>
        }
    });
    let manage = full.then(|| {
        let shelve = can(Permission::ShelveAlarms).then(|| {
            view! {
                <label class="shelve-hours">"Hours"
                    <input type="number" min="0.25" step="0.25" max=max_hours.to_string()
                        data-testid="shelve-hours"
                        prop:value=move || hours.get()
                        on:input=move |e| hours.set(event_target_value(&e))/>
                </label>
                <button class="button" data-testid="shelve-alarm" disabled=move || act.busy()
                    on:click=move |_| {
                        let h = hours.get_untracked().trim().parse::<f64>().unwrap_or(f64::NAN);
                        act.shelve.dispatch(ShelveAlarm { id, hours: h, reason: reason.get_untracked() });
                    }>
                    "Shelve"
                </button>
            }
        });
        let remove = can(Permission::RemoveAlarmsFromService).then(|| {
            view! {
                <button class="button" data-testid="remove-alarm" disabled=move || act.busy()
                    on:click=move |_| {
                        act.remove.dispatch(RemoveAlarmFromService { id, reason: reason.get_untracked() });
                    }>
                    "Out of service"
                </button>
            }
        });
        (can(Permission::ShelveAlarms) || can(Permission::RemoveAlarmsFromService)).then(|| {
            view! {
                <div class="alarm-manage">
                    <input type="text" placeholder="Reason (to shelve or take out of service)"
                        aria-label="Reason" data-testid="alarm-reason"
                        prop:value=move || reason.get()
                        on:input=move |e| reason.set(event_target_value(&e))/>
                    {shelve}
                    {remove}
                </div>
            }
        })
    });
    view! {
        <li class=state_class data-testid="alarm" data-key=a.key.clone() data-state=a.state.as_str() data-priority=a.priority.as_str()>
            <div class="alarm-line">
                <span class=priority_class(a.priority)>{a.priority.label()}</span>
                <span class="alarm-label">{a.label.clone()}</span>
                <span class="alarm-value" data-testid="alarm-value">{value_text(&a)}</span>
            </div>
            <p class="alarm-message">{a.message.clone()}</p>
            <p class="alarm-meta">
                <span class="alarm-state" data-testid="alarm-state">{a.state.label()}</span>
                {format!(" · since {}", format_time(since))}
                {a.acked_by.clone().filter(|_| a.state == State::Acked).map(|who| {
                    let note = a.comment.clone().map(|c| format!(" — “{c}”")).unwrap_or_default();
                    format!(" · acknowledged by {who}{note}")
                })}
            </p>
            {ack}
            {manage}
        </li>
    }
}

#[component]
fn SuppressedRow(a: AlarmView, act: Decide) -> impl IntoView {
    let id = a.id;
    let (why, button) =
        match a.state {
            State::Shelved => (
                format!(
                    "Shelved until {}: {}",
                    a.shelved_until_ms.map(format_time).unwrap_or_default(),
                    a.shelve_reason.clone().unwrap_or_default()
                ),
                can(Permission::ShelveAlarms).then(|| {
                    view! {
                <button class="button" data-testid="unshelve-alarm" disabled=move || act.busy()
                    on:click=move |_| { act.unshelve.dispatch(UnshelveAlarm { id }); }>
                    "Unshelve"
                </button>
            }.into_any()
                }),
            ),
            _ => (
                format!(
                    "Out of service: {}",
                    a.out_of_service_reason.clone().unwrap_or_default()
                ),
                can(Permission::RemoveAlarmsFromService).then(|| {
                    view! {
                <button class="button" data-testid="return-alarm" disabled=move || act.busy()
                    on:click=move |_| { act.restore.dispatch(ReturnAlarmToService { id }); }>
                    "Return to service"
                </button>
            }.into_any()
                }),
            ),
        };
    view! {
        <li class="alarm alarm-suppressed" data-testid="alarm" data-key=a.key.clone() data-state=a.state.as_str()>
            <div class="alarm-line">
                <span class=priority_class(a.priority)>{a.priority.label()}</span>
                <span class="alarm-label">{a.label.clone()}</span>
            </div>
            <p class="alarm-meta">{why}</p>
            {button}
        </li>
    }
}
