//! `/admin/users`: admins add people, change their roles and disable or enable
//! them. Every change goes to the server, which checks it and records it in the
//! audit trail; the list is fetched again after each one, so what is shown is
//! always what the server holds.
//!
//! The page component (server only) checks the role and writes the heading; the
//! rest is one island, [`UsersAdmin`]: the add-user form, the row controls and the
//! list they refetch all react in the browser.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::{AddUser, SetDisabled, SetRole, get_users};
use crate::auth::{MIN_PASSWORD_CHARS, Permission, Role, UserView};
use crate::components::paged_table::{Empty, PagedTable};
use crate::fmt::{format_date, format_time, server_message};
use crate::session::{NotAllowed, can, use_me};

/// A user's last sign-in: the time, or "never".
pub fn last_sign_in_text(ms: Option<i64>) -> String {
    ms.map_or_else(|| "never".to_owned(), format_time)
}

/// The row actions, shared by every row.
#[derive(Clone, Copy)]
struct RowActions {
    set_role: ServerAction<SetRole>,
    set_disabled: ServerAction<SetDisabled>,
    /// Whose role was changed last (for the error message).
    role_target: RwSignal<String>,
    /// Who was disabled (`true`) or enabled last (for the error message).
    disabled_target: RwSignal<(String, bool)>,
}

impl RowActions {
    fn busy(self) -> bool {
        self.set_role.pending().get() || self.set_disabled.pending().get()
    }
}

/// The users page (server only): who may manage users is decided here.
#[component]
pub fn UsersPage() -> impl IntoView {
    if !can(Permission::ManageUsers) {
        return view! { <NotAllowed what="manage users"/> }.into_any();
    }
    view! {
        <Title text="Users · CellGuard"/>
        <section class="users-page" aria-labelledby="users-title">
            <h1 id="users-title">"Users"</h1>
            <UsersAdmin/>
        </section>
    }
    .into_any()
}

/// The add-user form, the errors of the row controls and the list of users,
/// fetched again after every change (its first fetch comes with the page).
#[island(lazy)]
fn UsersAdmin() -> impl IntoView {
    let add = ServerAction::<AddUser>::new();
    let actions = RowActions {
        set_role: ServerAction::<SetRole>::new(),
        set_disabled: ServerAction::<SetDisabled>::new(),
        role_target: RwSignal::new(String::new()),
        disabled_target: RwSignal::new((String::new(), false)),
    };
    // Fetched again after every change, successful or not: a refused change puts
    // the row back to what the server holds.
    let users = Resource::new(
        move || {
            (
                add.version().get(),
                actions.set_role.version().get(),
                actions.set_disabled.version().get(),
            )
        },
        |_| get_users(),
    );
    let row_error = move || {
        let role = actions
            .set_role
            .value()
            .get()
            .and_then(Result::err)
            .map(|e| {
                format!(
                    "The role of {} was not changed: {}",
                    actions.role_target.get(),
                    server_message(&e)
                )
            });
        let disabled = actions
            .set_disabled
            .value()
            .get()
            .and_then(Result::err)
            .map(|e| {
                let (who, disable) = actions.disabled_target.get();
                let what = if disable { "disabled" } else { "enabled" };
                format!("{who} was not {what}: {}", server_message(&e))
            });
        role.into_iter()
            .chain(disabled)
            .map(|text| view! { <p class="error" role="alert" data-testid="user-error">{text}</p> })
            .collect_view()
    };
    let hydrated = crate::live::use_hydrated();
    view! {
        <div class="island-root" data-testid="users-island" data-hydrated=move || hydrated.get().to_string()>
        <AddUserForm add=add/>
        <div aria-live="polite">{row_error}</div>
        <Transition fallback=|| view! { <p class="loading">"Loading users…"</p> }>
            {move || {
                users.get().map(|r| match r {
                    Ok(list) => view! { <UsersTable users=list actions=actions/> }.into_any(),
                    Err(e) => view! {
                        <p class="error" role="alert" data-testid="users-error">
                            {format!("Users are not available: {}", server_message(&e))}
                        </p>
                    }.into_any(),
                })
            }}
        </Transition>
        </div>
    }
}

#[component]
fn AddUserForm(add: ServerAction<AddUser>) -> impl IntoView {
    let form: NodeRef<leptos::html::Form> = NodeRef::new();
    // The name being added, for the confirmation (the action forgets its input
    // once it has resolved).
    let adding = RwSignal::new(String::new());
    Effect::new(move || {
        if let Some(input) = add.input().get() {
            adding.set(input.username);
        }
    });
    // A user added: empty the form, so the password does not linger.
    Effect::new(move || {
        if matches!(add.value().get(), Some(Ok(())))
            && let Some(f) = form.get_untracked()
        {
            f.reset();
        }
    });
    let pending = add.pending();
    let outcome = move || {
        add.value().get().map(|r| match r {
            Ok(()) => view! {
                <p class="add-user-done" role="status" data-testid="add-user-done">
                    {format!("Added {}.", adding.get())}
                </p>
            }
            .into_any(),
            Err(e) => view! {
                <p class="error" role="alert" data-testid="add-user-error">
                    {format!("The user was not added: {}", server_message(&e))}
                </p>
            }
            .into_any(),
        })
    };
    let hint = format!("At least {MIN_PASSWORD_CHARS} characters.");
    view! {
        <section class="panel add-user" aria-labelledby="add-user-title">
            <h2 id="add-user-title">"Add user"</h2>
            <ActionForm action=add node_ref=form attr:class="filters add-user-form">
                <label>"Name"
                    <input
                        type="text"
                        name="username"
                        required
                        maxlength="64"
                        autocomplete="off"
                        autocapitalize="none"
                        spellcheck="false"
                        data-testid="new-username"
                    />
                </label>
                <label>"Role"
                    <select name="role" data-testid="new-role">
                        {Role::ALL.into_iter().map(|r| view! {
                            <option value=r.as_str() selected=r == Role::Viewer>{r.label()}</option>
                        }).collect_view()}
                    </select>
                </label>
                <label>"Password"
                    <input
                        type="password"
                        name="password"
                        required
                        autocomplete="new-password"
                        aria-describedby="new-password-hint"
                        data-testid="new-password"
                    />
                    <span class="hint" id="new-password-hint">{hint}</span>
                </label>
                <div class="filter-actions">
                    <button type="submit" class="button primary" disabled=move || pending.get() data-testid="add-user">
                        "Add user"
                    </button>
                </div>
            </ActionForm>
            <div aria-live="polite">{outcome}</div>
        </section>
    }
}

#[component]
fn UsersTable(users: Vec<UserView>, actions: RowActions) -> impl IntoView {
    let me = use_me().map(|m| m.username);
    let count = if users.len() == 1 {
        "1 user".to_owned()
    } else {
        format!("{} users", users.len())
    };
    view! {
        <PagedTable
            rows=users
            row=move |u: UserView| {
                let is_me = me.as_deref() == Some(u.username.as_str());
                view! { <UserRow u=u is_me=is_me actions=actions/> }
            }
            class="cells-table users-table"
            testid="users-table"
            count=count
            count_testid="user-count"
            empty=Empty::Note { text: "No users yet.", testid: "no-users" }
            scroll_label="Users"
        >
            <th scope="col">"Name"</th>
            <th scope="col">"Role"</th>
            <th scope="col" class="col-opt">"Created"</th>
            <th scope="col">"Last sign-in"</th>
            <th scope="col">"State"</th>
        </PagedTable>
    }
}

#[component]
fn UserRow(u: UserView, is_me: bool, actions: RowActions) -> impl IntoView {
    let name = StoredValue::new(u.username.clone());
    let role = u.role;
    let disabled = u.disabled;
    let on_role = move |ev: leptos::ev::Event| {
        let Some(new) = Role::parse(&event_target_value(&ev)) else {
            return;
        };
        if new != role {
            actions.role_target.set(name.get_value());
            actions.set_role.dispatch(SetRole {
                username: name.get_value(),
                role: new,
            });
        }
    };
    let on_toggle = move |_: leptos::ev::MouseEvent| {
        actions.disabled_target.set((name.get_value(), !disabled));
        actions.set_disabled.dispatch(SetDisabled {
            username: name.get_value(),
            disabled: !disabled,
        });
    };
    view! {
        <tr class=if disabled { "row-disabled" } else { "" } data-testid="user-row" data-username=u.username.clone()>
            <th scope="row" class="col-user">
                {u.username.clone()}
                {is_me.then(|| view! { <span class="muted">" (you)"</span> })}
            </th>
            <td>
                // `selected` shows the server's role before the app has loaded;
                // `prop:value` puts it back after every fetch (a refused change).
                <select
                    class="role-select"
                    aria-label=format!("Role of {}", u.username)
                    prop:value=role.as_str()
                    disabled=move || actions.busy()
                    on:change=on_role
                    data-testid="user-role"
                >
                    {Role::ALL.into_iter().map(|r| view! {
                        <option value=r.as_str() selected=r == role>{r.label()}</option>
                    }).collect_view()}
                </select>
            </td>
            <td class="col-opt" title=format_time(u.created_ms)>{format_date(u.created_ms)}</td>
            <td class="col-time">{last_sign_in_text(u.last_sign_in_ms)}</td>
            <td class="col-state">
                <span class="user-state" data-testid="user-state">
                    {if disabled {
                        view! { <span class="badge risk-none">"DISABLED"</span> }.into_any()
                    } else {
                        view! { <span>"Enabled"</span> }.into_any()
                    }}
                </span>
                <button
                    class="button"
                    type="button"
                    aria-label=format!("{} {}", if disabled { "Enable" } else { "Disable" }, u.username)
                    disabled=move || actions.busy()
                    on:click=on_toggle
                    data-testid="user-toggle"
                >
                    {if disabled { "Enable" } else { "Disable" }}
                </button>
            </td>
        </tr>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_errors_read_as_the_servers_message() {
        use crate::error::ServiceError;
        use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
        let e = ServiceError::Conflict("a user named anna already exists".into());
        assert_eq!(server_message(&e), "a user named anna already exists");
        let e = ServiceError::from_server_fn_error(ServerFnErrorErr::Request(
            "connection refused".into(),
        ));
        assert!(server_message(&e).contains("could not be reached"));
    }

    #[test]
    fn a_user_who_never_signed_in_says_so() {
        assert_eq!(last_sign_in_text(None), "never");
        assert_eq!(
            last_sign_in_text(Some(1_780_293_601_097)),
            "2026-06-01 06:00 UTC"
        );
    }
}
