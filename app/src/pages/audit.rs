//! `/audit`: the audit trail, newest first, for supervisors, quality engineers and
//! admins. The filter (actor, action, dates) and the page live in the URL query, as
//! on the cells page; the CSV download uses the same filter.
//!
//! Nothing here changes while the page is open, so none of it is an island: the
//! page is rendered on the server and ships no code. The filter is a plain GET
//! form and every pager link a page load.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;
use leptos_router::params::ParamsMap;

use crate::api::get_audit;
use crate::auth::{AuditAction, AuditEntryView, AuditFilter, AuditPage as Page, Permission, Role};
use crate::components::paged_table::{
    CsvLink, Empty, PagedTable, Paging, page_href, query_date, query_page, query_text,
};
use crate::fmt::{format_time, parse_date, parse_date_end, query_string, server_message};
use crate::session::{NotAllowed, can};

/// Rows per page.
pub const PAGE_SIZE: u32 = 50;
/// The trail's filter as the URL query holds it: dates as `YYYY-MM-DD` (UTC, both
/// ends included), the page counted from 1.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditQuery {
    /// Exact actor.
    pub actor: String,
    /// Exact action, or `None` for any.
    pub action: Option<AuditAction>,
    /// First day, `YYYY-MM-DD`.
    pub from: String,
    /// Last day, `YYYY-MM-DD`.
    pub to: String,
    /// Page, from 1.
    pub page: u32,
}

impl AuditQuery {
    /// Reads the query; anything malformed is left out rather than refused.
    pub fn from_params(q: &ParamsMap) -> Self {
        Self {
            actor: query_text(q, "actor"),
            action: AuditAction::parse(&query_text(q, "action").to_ascii_lowercase()),
            from: query_date(q, "from"),
            to: query_date(q, "to"),
            page: query_page(q),
        }
    }

    fn start_ms(&self) -> Option<i64> {
        parse_date(&self.from)
    }

    fn end_ms(&self) -> Option<i64> {
        parse_date_end(&self.to)
    }

    fn action_name(&self) -> String {
        self.action
            .map(|a| a.as_str().to_owned())
            .unwrap_or_default()
    }

    /// The server-side filter of this query.
    pub fn filter(&self) -> AuditFilter {
        AuditFilter {
            actor: (!self.actor.is_empty()).then(|| self.actor.clone()),
            action: self.action,
            from_ms: self.start_ms(),
            to_ms: self.end_ms(),
            page: self.page.saturating_sub(1),
            page_size: PAGE_SIZE,
        }
    }

    /// Whether anything is filtered.
    pub fn is_filtered(&self) -> bool {
        !(self.actor.is_empty()
            && self.action.is_none()
            && self.from.is_empty()
            && self.to.is_empty())
    }

    /// Link to page `page` (from 1) of this filter.
    pub fn href(&self, page: u32) -> String {
        page_href(
            "/audit",
            &[
                ("actor", self.actor.clone()),
                ("action", self.action_name()),
                ("from", self.from.clone()),
                ("to", self.to.clone()),
            ],
            page,
        )
    }

    /// The CSV export of every entry of this filter (not only this page).
    pub fn export_href(&self) -> String {
        let ms = |v: Option<i64>| v.map(|v| v.to_string()).unwrap_or_default();
        format!(
            "/api/v1/export/audit.csv{}",
            query_string(&[
                ("actor", self.actor.clone()),
                ("action", self.action_name()),
                ("from_ms", ms(self.start_ms())),
                ("to_ms", ms(self.end_ms())),
            ])
        )
    }
}

/// How the trail names a recorded role or token scope: the role's label, or the
/// stored name as it is (a token scope such as `ingest`); `—` when not known.
pub fn role_text(role: Option<&str>) -> String {
    match role {
        Some(r) => Role::parse(r).map_or_else(|| r.to_owned(), |r| r.label().to_owned()),
        None => "—".into(),
    }
}

/// Whether an entry records something refused or failed (marked in the table).
fn is_refusal(a: AuditAction) -> bool {
    matches!(
        a,
        AuditAction::Denied | AuditAction::SignInFailed | AuditAction::SignInThrottled
    )
}

/// The audit trail page (server only): the query is read once, as the page loads.
#[component]
pub fn AuditPage() -> impl IntoView {
    if !can(Permission::ViewAudit) {
        return view! { <NotAllowed what="read the audit trail"/> }.into_any();
    }
    let q = use_query_map().with_untracked(AuditQuery::from_params);
    let entries = {
        let filter = q.filter();
        Resource::new(move || filter.clone(), get_audit)
    };
    let export = q.export_href();
    view! {
        <Title text="Audit trail · CellGuard"/>
        <section class="audit-page" aria-labelledby="audit-title">
            <div class="page-head">
                <h1 id="audit-title">"Audit trail"</h1>
                {CsvLink {
                    href: Signal::stored(export),
                    file: "audit.csv",
                    testid: "audit-export",
                    label: "Download CSV",
                }
                .button()}
            </div>
            <Filters q=q.clone()/>
            <Suspense fallback=|| view! { <p class="loading">"Loading the audit trail…"</p> }>
                {move || {
                    entries.get().map(|r| match r {
                        Ok(page) => view! { <AuditTable page=page q=q.clone()/> }.into_any(),
                        Err(e) => view! {
                            <p class="error" role="alert" data-testid="audit-error">
                                {format!("The audit trail is not available: {}", server_message(&e))}
                            </p>
                        }.into_any(),
                    })
                }}
            </Suspense>
        </section>
    }
    .into_any()
}

/// The filter: a plain GET form, so applying it loads `/audit?…` (no code needed).
#[component]
fn Filters(q: AuditQuery) -> impl IntoView {
    let current = q.action;
    view! {
        <form method="get" action="/audit" class="filters" aria-label="Filter the audit trail">
            <label>"Actor"
                <input
                    type="text"
                    name="actor"
                    value=q.actor.clone()
                    autocomplete="off"
                    autocapitalize="none"
                    spellcheck="false"
                    data-testid="audit-actor"
                />
            </label>
            <label>"Action"
                <select name="action" data-testid="audit-action">
                    <option value="" selected=current.is_none()>"Any"</option>
                    {AuditAction::ALL.into_iter().map(|a| view! {
                        <option value=a.as_str() selected=current == Some(a)>{a.label()}</option>
                    }).collect_view()}
                </select>
            </label>
            <label>"From (UTC)" <input type="date" name="from" value=q.from.clone()/></label>
            <label>"To (UTC)" <input type="date" name="to" value=q.to.clone()/></label>
            <div class="filter-actions">
                <button type="submit" class="button primary">"Apply"</button>
                {q.is_filtered().then(|| view! { <a href="/audit" class="button">"Clear"</a> })}
            </div>
        </form>
    }
}

#[component]
fn AuditTable(page: Page, q: AuditQuery) -> impl IntoView {
    let text = if page.total > 0 {
        "No entries on this page."
    } else if q.is_filtered() {
        "No audit entries match this filter."
    } else {
        "The audit trail is empty."
    };
    let count = if page.total == 1 {
        "1 entry".to_owned()
    } else {
        format!("{} entries", page.total)
    };
    let paging = Paging::new(page.total, page.page_size, u64::from(page.page) + 1, |p| {
        q.href(p)
    })
    .labels("← Newer", "Older →");
    view! {
        <PagedTable
            rows=page.entries
            row=|e| view! { <AuditRow e=e/> }
            class="cells-table audit-table"
            testid="audit-table"
            count=count
            count_testid="audit-count"
            empty=Empty::Note { text, testid: "no-audit" }
            scroll_label="Audit entries"
            paging=paging
        >
            <th scope="col">"Time"</th>
            <th scope="col">"Actor"</th>
            <th scope="col">"Role"</th>
            <th scope="col">"Action"</th>
            <th scope="col">"Target"</th>
            <th scope="col">"Detail"</th>
            <th scope="col">"Source"</th>
        </PagedTable>
    }
}

#[component]
fn AuditRow(e: AuditEntryView) -> impl IntoView {
    let or_dash = |s: String| {
        if s.trim().is_empty() {
            "—".to_owned()
        } else {
            s
        }
    };
    view! {
        <tr
            class=if is_refusal(e.action) { "row-high" } else { "" }
            data-testid="audit-row"
            data-action=e.action.as_str()
        >
            <td class="col-time">{format_time(e.at_ms)}</td>
            <td class="col-actor">{or_dash(e.actor)}</td>
            <td class="col-role">{role_text(e.role.as_deref())}</td>
            <td class="col-action">{e.action.label()}</td>
            <td class="col-target">{or_dash(e.target)}</td>
            <td class="col-detail">{or_dash(e.detail)}</td>
            <td class="col-source">{or_dash(e.source)}</td>
        </tr>
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::components::paged_table::params;
    use crate::fmt::MS_PER_DAY;

    #[test]
    fn the_query_becomes_the_server_filter() {
        let q = AuditQuery::from_params(&params(&[
            ("actor", " anna "),
            ("action", "ROLE_CHANGED"),
            ("from", "2026-06-01"),
            ("to", "2026-06-01"),
            ("page", "3"),
        ]));
        let f = q.filter();
        assert_eq!(f.actor.as_deref(), Some("anna"));
        assert_eq!(f.action, Some(AuditAction::RoleChanged));
        assert_eq!(f.from_ms, Some(1_780_272_000_000));
        assert_eq!(
            f.to_ms,
            Some(1_780_272_000_000 + MS_PER_DAY),
            "the last day is included"
        );
        assert_eq!(f.page, 2, "the URL counts pages from 1");
        assert_eq!(f.page_size, PAGE_SIZE);
    }

    #[test]
    fn malformed_query_values_are_ignored() {
        let q = AuditQuery::from_params(&params(&[
            ("action", "launched"),
            ("from", "yesterday"),
            ("page", "0"),
        ]));
        assert_eq!(
            q,
            AuditQuery {
                page: 1,
                ..AuditQuery::default()
            }
        );
        assert!(!q.is_filtered());
        assert_eq!(
            q.filter(),
            AuditFilter {
                page_size: PAGE_SIZE,
                ..AuditFilter::default()
            }
        );
    }

    #[test]
    fn links_keep_the_filter_and_change_only_the_page() {
        let q = AuditQuery::from_params(&params(&[
            ("actor", "token:station 1"),
            ("action", "denied"),
            ("page", "2"),
        ]));
        assert_eq!(
            q.href(3),
            "/audit?actor=token%3Astation%201&action=denied&page=3"
        );
        assert_eq!(q.href(1), "/audit?actor=token%3Astation%201&action=denied");
        assert_eq!(AuditQuery::default().href(1), "/audit");
    }

    #[test]
    fn the_export_link_carries_the_same_filter_in_ms() {
        let q = AuditQuery::from_params(&params(&[
            ("action", "role_changed"),
            ("from", "1970-01-02"),
            ("to", "1970-01-02"),
            ("page", "4"),
        ]));
        assert_eq!(
            q.export_href(),
            "/api/v1/export/audit.csv?action=role_changed&from_ms=86400000&to_ms=172800000"
        );
        assert_eq!(
            AuditQuery::default().export_href(),
            "/api/v1/export/audit.csv"
        );
    }

    #[test]
    fn roles_read_as_labels_and_scopes_as_they_are() {
        assert_eq!(role_text(Some("quality_engineer")), "Quality engineer");
        assert_eq!(role_text(Some("ingest")), "ingest");
        assert_eq!(role_text(None), "—");
    }
}
