//! `/alarms`: the standing and suppressed alarms (live, with every decision a
//! person's role allows), ISA-18.2's alarm rates, and the journal of every
//! transition, newest first. The journal's filter lives in the URL query; the CSV
//! download uses the same filter.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;
use leptos_router::params::ParamsMap;

use crate::alarm::metrics::Load;
use crate::alarm::view::{AlarmEventView, AlarmRates, JournalFilter, JournalPage};
use crate::alarm::{Priority, Source};
use crate::api::{get_alarm_board, get_alarm_journal};
use crate::components::alarm_panel::{AlarmPanel, PanelMode, priority_class};
use crate::components::paged_table::{CsvLink, query_date, query_text};
use crate::fmt::{
    format_number, format_time, parse_date, parse_date_end, query_string, server_message,
};

/// The journal's filter as the URL holds it (dates `YYYY-MM-DD`, UTC, both ends
/// included).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JournalQuery {
    /// Source, or any.
    pub source: Option<Source>,
    /// Priority, or any.
    pub priority: Option<Priority>,
    /// Machine, or any (empty).
    pub machine: String,
    /// Transition kind, or any (empty).
    pub kind: String,
    /// First day.
    pub from: String,
    /// Last day.
    pub to: String,
    /// Older than this line (the next page).
    pub before: Option<i64>,
}

/// The transitions the journal names, with their labels.
pub const KINDS: [(&str, &str); 7] = [
    ("raised", "Raised"),
    ("cleared", "Cleared"),
    ("acknowledged", "Acknowledged"),
    ("shelved", "Shelved"),
    ("unshelved", "Unshelved"),
    ("removed_from_service", "Out of service"),
    ("returned_to_service", "Back in service"),
];

fn kind_label(kind: &str) -> &str {
    KINDS
        .iter()
        .find(|(k, _)| *k == kind)
        .map_or(kind, |(_, l)| l)
}

impl JournalQuery {
    /// Reads the query; anything malformed is left out rather than refused.
    pub fn from_params(q: &ParamsMap) -> Self {
        let kind = query_text(q, "kind");
        Self {
            source: Source::parse(&query_text(q, "source")),
            priority: Priority::parse(&query_text(q, "priority")),
            machine: query_text(q, "machine"),
            kind: if KINDS.iter().any(|(k, _)| *k == kind) {
                kind
            } else {
                String::new()
            },
            from: query_date(q, "from"),
            to: query_date(q, "to"),
            before: query_text(q, "before")
                .parse()
                .ok()
                .filter(|b: &i64| *b > 0),
        }
    }

    /// The server-side filter.
    pub fn filter(&self) -> JournalFilter {
        JournalFilter {
            source: self.source,
            priority: self.priority,
            machine: (!self.machine.is_empty()).then(|| self.machine.clone()),
            kind: (!self.kind.is_empty()).then(|| self.kind.clone()),
            from_ms: parse_date(&self.from),
            to_ms: parse_date_end(&self.to),
            before: self.before,
        }
    }

    fn pairs(&self) -> Vec<(&'static str, String)> {
        vec![
            (
                "source",
                self.source
                    .map(|s| s.as_str().to_owned())
                    .unwrap_or_default(),
            ),
            (
                "priority",
                self.priority
                    .map(|p| p.as_str().to_owned())
                    .unwrap_or_default(),
            ),
            ("machine", self.machine.clone()),
            ("kind", self.kind.clone()),
            ("from", self.from.clone()),
            ("to", self.to.clone()),
        ]
    }

    /// Link to the newest lines of this filter.
    pub fn newest_href(&self) -> String {
        format!("/alarms{}#journal", query_string(&self.pairs()))
    }

    /// Link to the lines older than `before` with this filter.
    pub fn older_href(&self, before: i64) -> String {
        let mut p = self.pairs();
        p.push(("before", before.to_string()));
        format!("/alarms{}#journal", query_string(&p))
    }

    /// The CSV of every line of this filter.
    pub fn export_href(&self) -> String {
        let f = self.filter();
        let mut q = JournalFilter { before: None, ..f }.to_query();
        if !q.is_empty() {
            q.insert(0, '?');
        }
        format!("/api/v1/export/alarms.csv{q}")
    }

    /// Whether anything is filtered.
    pub fn is_filtered(&self) -> bool {
        self.pairs().iter().any(|(_, v)| !v.is_empty())
    }
}

/// The alarms page (server only; its panel is an island).
#[component]
pub fn AlarmsPage() -> impl IntoView {
    let q = use_query_map().with_untracked(JournalQuery::from_params);
    let board = Resource::new(|| (), |_| get_alarm_board());
    let journal = {
        let f = q.filter();
        Resource::new(move || f.clone(), get_alarm_journal)
    };
    let export = q.export_href();
    view! {
        <Title text="Alarms · CellGuard"/>
        <section class="alarms-page" aria-labelledby="alarms-page-title">
            <div class="page-head">
                <h1 id="alarms-page-title">"Alarms"</h1>
            </div>
            <Suspense fallback=|| view! { <p class="loading">"Loading the alarms…"</p> }>
                {move || board.get().map(|r| match r {
                    Ok(b) => {
                        let rates = b.rates.clone();
                        view! {
                            <Rates r=rates/>
                            <AlarmPanel initial=b mode=PanelMode::Full/>
                        }.into_any()
                    }
                    Err(e) => view! {
                        <p class="error" role="alert">{format!("The alarms are not available: {}", server_message(&e))}</p>
                    }.into_any(),
                })}
            </Suspense>
            <div class="page-head" id="journal">
                <h2>"Journal"</h2>
                {CsvLink {
                    href: Signal::stored(export),
                    file: "alarms.csv",
                    testid: "alarms-export",
                    label: "Download CSV",
                }
                .button()}
            </div>
            <Filters q=q.clone()/>
            <Suspense fallback=|| view! { <p class="loading">"Loading the journal…"</p> }>
                {move || journal.get().map(|r| match r {
                    Ok(page) => view! { <Journal page=page q=q.clone()/> }.into_any(),
                    Err(e) => view! {
                        <p class="error" role="alert" data-testid="journal-error">
                            {format!("The journal is not available: {}", server_message(&e))}
                        </p>
                    }.into_any(),
                })}
            </Suspense>
        </section>
    }
}

/// ISA-18.2's figures: alarms per hour and per 10 minutes, the busiest 10 minutes.
#[component]
fn Rates(r: AlarmRates) -> impl IntoView {
    let (class, note) = match r.load {
        Load::Acceptable => (
            "rate rate-ok",
            "within ISA-18.2's target (about 1 per 10 minutes)",
        ),
        Load::Manageable => ("rate rate-ok", "manageable (up to 2 per 10 minutes)"),
        Load::OverTarget => (
            "rate rate-warn",
            "over ISA-18.2's target: review the noisiest alarms",
        ),
        Load::Flood => (
            "rate rate-bad",
            "an alarm flood (more than 10 per 10 minutes)",
        ),
    };
    view! {
        <div class="rates" data-testid="alarm-rates">
            <div class=class>
                <span class="rate-label">{format!("Per 10 min (last {} h)", r.window_hours)}</span>
                <span class="rate-value" data-testid="rate-ten">{format_number(r.per_ten_minutes)}</span>
                <span class="rate-note">{note}</span>
            </div>
            <div class="rate">
                <span class="rate-label">"Per hour"</span>
                <span class="rate-value">{format_number(r.per_hour)}</span>
            </div>
            <div class="rate">
                <span class="rate-label">"Busiest 10 min"</span>
                <span class="rate-value" data-testid="rate-peak">{r.peak_ten_minutes}</span>
            </div>
        </div>
    }
}

#[component]
fn Filters(q: JournalQuery) -> impl IntoView {
    view! {
        <form method="get" action="/alarms#journal" class="filters" aria-label="Filter the alarm journal">
            <label>"Source"
                <select name="source" data-testid="journal-source">
                    <option value="" selected=q.source.is_none()>"Any"</option>
                    {Source::ALL.into_iter().map(|s| view! {
                        <option value=s.as_str() selected=q.source == Some(s)>{s.label()}</option>
                    }).collect_view()}
                </select>
            </label>
            <label>"Priority"
                <select name="priority" data-testid="journal-priority">
                    <option value="" selected=q.priority.is_none()>"Any"</option>
                    {Priority::ALL.into_iter().map(|p| view! {
                        <option value=p.as_str() selected=q.priority == Some(p)>{p.label()}</option>
                    }).collect_view()}
                </select>
            </label>
            <label>"What"
                <select name="kind" data-testid="journal-kind">
                    <option value="" selected=q.kind.is_empty()>"Any"</option>
                    {KINDS.into_iter().map(|(k, l)| view! {
                        <option value=k selected=q.kind == k>{l}</option>
                    }).collect_view()}
                </select>
            </label>
            <label>"Machine"
                <input type="text" name="machine" value=q.machine.clone() autocomplete="off" autocapitalize="none" spellcheck="false"/>
            </label>
            <label>"From (UTC)" <input type="date" name="from" value=q.from.clone()/></label>
            <label>"To (UTC)" <input type="date" name="to" value=q.to.clone()/></label>
            <div class="filter-actions">
                <button type="submit" class="button primary">"Apply"</button>
                {q.is_filtered().then(|| view! { <a href="/alarms#journal" class="button">"Clear"</a> })}
            </div>
        </form>
    }
}

#[component]
fn Journal(page: JournalPage, q: JournalQuery) -> impl IntoView {
    if page.events.is_empty() {
        let text = if q.is_filtered() || q.before.is_some() {
            "No journal lines match this filter."
        } else {
            "Nothing has happened yet."
        };
        return view! { <p class="muted" data-testid="no-journal">{text}</p> }.into_any();
    }
    let older = page.next_before.map(|b| {
        view! { <a class="button" href=q.older_href(b) data-testid="journal-older">"Older →"</a> }
    });
    let newer = q.before.is_some().then(|| {
        view! { <a class="button" href=q.newest_href()>"← Newest"</a> }
    });
    view! {
        <div class="table-scroll" role="region" aria-label="Alarm journal" tabindex="0">
            <table class="cells-table journal-table" data-testid="journal">
                <thead>
                    <tr>
                        <th scope="col">"Time"</th>
                        <th scope="col">"What"</th>
                        <th scope="col">"Alarm"</th>
                        <th scope="col">"Priority"</th>
                        <th scope="col">"Value"</th>
                        <th scope="col">"Who"</th>
                        <th scope="col">"Comment"</th>
                    </tr>
                </thead>
                <tbody>
                    {page.events.into_iter().map(|e| view! { <JournalRow e=e/> }).collect_view()}
                </tbody>
            </table>
        </div>
        <nav class="pager" aria-label="Journal pages">{newer}{older}</nav>
    }
    .into_any()
}

#[component]
fn JournalRow(e: AlarmEventView) -> impl IntoView {
    view! {
        <tr data-testid="journal-row" data-kind=e.kind.clone() data-alarm=e.alarm_id.to_string()>
            <td class="col-time">{format_time(e.ts_ms)}</td>
            <td>{kind_label(&e.kind).to_owned()}</td>
            <td>{e.label}</td>
            <td><span class=priority_class(e.priority)>{e.priority.label()}</span></td>
            <td>{e.value.map(format_number).unwrap_or_else(|| "—".into())}</td>
            <td>{e.user.unwrap_or_else(|| "system".into())}</td>
            <td>{e.comment.unwrap_or_default()}</td>
        </tr>
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::components::paged_table::params;

    #[test]
    fn the_query_becomes_the_journal_filter_and_back() {
        let q = JournalQuery::from_params(&params(&[
            ("source", "limit"),
            ("priority", "HIGH"),
            ("kind", "acknowledged"),
            ("machine", "CAS_01"),
            ("from", "1970-01-02"),
            ("before", "40"),
        ]));
        let f = q.filter();
        assert_eq!(f.source, Some(Source::Limit));
        assert_eq!(f.priority, Some(Priority::High));
        assert_eq!(f.kind.as_deref(), Some("acknowledged"));
        assert_eq!(f.machine.as_deref(), Some("CAS_01"));
        assert_eq!(f.from_ms, Some(86_400_000));
        assert_eq!(f.before, Some(40));
        assert_eq!(
            q.export_href(),
            "/api/v1/export/alarms.csv?source=limit&priority=high&machine=CAS_01&kind=acknowledged&from_ms=86400000",
            "the export has the filter but not the page"
        );
        assert!(
            q.older_href(12).ends_with("&before=12#journal"),
            "{}",
            q.older_href(12)
        );
    }

    #[test]
    fn unknown_values_are_left_out() {
        let q = JournalQuery::from_params(&params(&[
            ("kind", "exploded"),
            ("source", "x"),
            ("before", "-3"),
        ]));
        assert_eq!(q, JournalQuery::default());
        assert!(!q.is_filtered());
        assert_eq!(q.export_href(), "/api/v1/export/alarms.csv");
    }
}
