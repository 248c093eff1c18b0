//! The top bar: product name, navigation (only what the role may use), the live
//! connection state and the signed-in person with sign-out.

use leptos::prelude::*;
use leptos_router::components::A;

use crate::auth::Permission;
use crate::live::use_live;
use crate::mes::MesLinkState;
use crate::session::{can, use_me};

/// The header shown on every page.
#[component]
pub fn Header() -> impl IntoView {
    let live = use_live();
    let plant = move || live.plant.get().unwrap_or_default();
    view! {
        <header class="topbar">
            <A href="/" attr:class="brand">
                <span class="brand-mark" aria-hidden="true">"◆"</span>
                " CellGuard"
            </A>
            <span class="plant">{plant}</span>
            <nav class="nav" aria-label="Main">
                <A href="/" exact=true>"Line"</A>
                <A href="/orders">"Orders"</A>
                <A href="/quality">"Quality"</A>
                <A href="/cells">"Cells"</A>
                <A href="/models">"Models"</A>
                <A href="/actions">
                    "Actions"
                    {move || live.actions.get().filter(|a| a.pending + a.alarms > 0).map(|a| {
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
                    })}
                </A>
                {can(Permission::ImportData).then(|| view! { <A href="/import">"Import"</A> })}
                {can(Permission::ViewAudit).then(|| view! { <A href="/audit">"Audit"</A> })}
                {can(Permission::ManageUsers).then(|| view! { <A href="/admin/users">"Users"</A> })}
            </nav>
            {move || live.mes.get().filter(|m| m.state != MesLinkState::Disabled).map(|m| {
                let label = m.label();
                let title = m.error.unwrap_or_default();
                view! {
                    <A href="/mes" attr:class=format!("conn mes-link conn-{}", m.state.css())
                        attr:data-testid="mes-link-state" attr:title=title>
                        <span class="dot" aria-hidden="true"></span>
                        {label}
                    </A>
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
