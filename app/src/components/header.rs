//! The top bar: product name, navigation (only what the role may use), the live
//! connection state and the signed-in person with sign-out.
//!
//! The bar itself is server-rendered HTML; what changes while a page is open (the
//! plant's name, the alarm and actions badges, the MES link and the stream's state)
//! are small islands. The navigation groups its destinations: the ones a supervisor
//! uses most stay in the bar at every width, the rest go under "More" on a tablet
//! (a checkbox and CSS: it opens before the app has loaded).

use leptos::prelude::*;
use leptos_router::components::A;

use crate::auth::Permission;
use crate::live::use_live;
use crate::mes::MesLinkState;
use crate::session::{can, use_me};

/// The header shown on every page of a signed-in person.
#[component]
pub fn Header() -> impl IntoView {
    view! {
        <header class="topbar">
            <A href="/" attr:class="brand">
                <span class="brand-mark" aria-hidden="true">"◆"</span>
                " CellGuard"
            </A>
            <PlantName/>
            <nav class="nav" aria-label="Main">
                <div class="nav-primary">
                    <A href="/" exact=true>
                        "Line"
                        <AlarmsBadge/>
                    </A>
                    <A href="/quality">"Quality"</A>
                    <A href="/cells">"Cells"</A>
                    <A href="/actions">
                        "Actions"
                        <ActionsBadge/>
                    </A>
                </div>
                <input type="checkbox" id="nav-more" class="nav-toggle" aria-label="More pages"/>
                <label for="nav-more" class="nav-more" data-testid="nav-more" aria-hidden="true">"More"</label>
                <div class="nav-secondary" data-testid="nav-secondary">
                    <A href="/alarms">"Alarms"</A>
                    <A href="/spc">"SPC"</A>
                    <A href="/orders">"Orders"</A>
                    <A href="/models">"Models"</A>
                    {can(Permission::ImportData).then(|| view! { <A href="/import">"Import"</A> })}
                    {can(Permission::ViewAudit).then(|| view! { <A href="/audit">"Audit"</A> })}
                    {can(Permission::ManageUsers).then(|| view! { <A href="/admin/users">"Users"</A> })}
                </div>
            </nav>
            <LinkStatus/>
            {use_me().map(|me| view! {
                <form method="post" action="/signout" class="whoami">
                    <span class="who" data-testid="whoami">
                        <b>{me.username.clone()}</b>
                        <span class="muted">{me.role.label()}</span>
                    </span>
                    <button class="button" type="submit" data-testid="signout">"Sign out"</button>
                </form>
            })}
        </header>
    }
}

/// The plant's name, once the line view or the stream has said it.
#[island]
fn PlantName() -> impl IntoView {
    let live = use_live();
    view! { <span class="plant">{move || live.plant.get().unwrap_or_default()}</span> }
}

/// Pending approvals and failed writes, on the Actions link.
#[island]
fn ActionsBadge() -> impl IntoView {
    let live = use_live();
    move || {
        live.actions.get().filter(|a| a.pending + a.alarms > 0).map(|a| {
            let (class, label) = if a.alarms > 0 {
                ("count alarm", format!("{} failed write(s), {} waiting", a.alarms, a.pending))
            } else {
                ("count", format!("{} waiting for approval", a.pending))
            };
            view! {
                <span class=class data-testid="actions-count" title=label.clone() aria-label=label>
                    {a.pending + a.alarms}
                </span>
            }
        })
    }
}

/// Unacknowledged alarms, on the Line link (the shift board lists them).
#[island]
fn AlarmsBadge() -> impl IntoView {
    let live = use_live();
    move || {
        live.alarms.get().filter(|a| a.unacked > 0).map(|a| {
            let urgent = a.by_priority.urgent + a.by_priority.high > 0;
            let label = format!(
                "{} unacknowledged alarm(s), {} standing",
                a.unacked, a.standing
            );
            view! {
                <span class=if urgent { "count alarm" } else { "count" } data-testid="alarms-count"
                    title=label.clone() aria-label=label>
                    {a.unacked}
                </span>
            }
        })
    }
}

/// The MES link (when one is configured) and the live stream's state. It opens the
/// page's stream when it hydrates: every signed-in page has it, once.
#[island]
fn LinkStatus() -> impl IntoView {
    let live = use_live();
    #[cfg(feature = "hydrate")]
    crate::live::start(live);
    view! {
        {move || live.mes.get().filter(|m| m.state != MesLinkState::Disabled).map(|m| {
            let label = m.label();
            let title = m.error.unwrap_or_default();
            view! {
                <a href="/mes" class=format!("conn mes-link conn-{}", m.state.css())
                    data-testid="mes-link-state" title=title>
                    <span class="dot" aria-hidden="true"></span>
                    {label}
                </a>
            }
        })}
        <span
            class=move || format!("conn conn-{}", live.conn.get().css())
            data-testid="connection"
            role="status"
        >
            <span class="dot" aria-hidden="true"></span>
            {move || live.conn.get().label()}
        </span>
    }
}
