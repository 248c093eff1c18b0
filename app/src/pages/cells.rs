//! `/cells`: the cells table. The filter (lot, order, band, dates) and the page live
//! in the URL query, so a link or the back button brings the same view back; the CSV
//! download uses the same filter.
//!
//! The page reads the query on the server: the heading, the CSV link (a plain
//! download that needs no wasm) and the filter form (a plain GET form: applying it
//! is a page load) are server HTML. The table is a live region, rendered again by
//! the server as cells arrive.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;
use leptos_router::params::ParamsMap;

use crate::api::get_cells;
use crate::components::live_region::{LiveRegion, RegionTrigger};
use crate::components::paged_table::{
    CsvLink, Empty, PagedTable, Paging, page_href, query_date, query_page, query_text,
};
use crate::components::risk_badge::BandBadge;
use crate::error::ServiceError;
use crate::fmt::{
    encode_query_value, format_date, format_score, format_time, parse_date, parse_date_end,
    query_string,
};
use crate::quality::{Band, CellFilter, CellPage, CellSummary};

/// Rows per page.
pub const PAGE_SIZE: u32 = 50;
/// The table's filter as the URL query holds it: dates as `YYYY-MM-DD` (UTC, both
/// ends included), the page counted from 1.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CellQuery {
    /// Exact lot.
    pub lot: String,
    /// Exact production order.
    pub order: String,
    /// `high`, `low`, `incomplete` or empty for any.
    pub band: String,
    /// First day, `YYYY-MM-DD`.
    pub from: String,
    /// Last day, `YYYY-MM-DD`.
    pub to: String,
    /// Page, from 1.
    pub page: u32,
}

impl CellQuery {
    /// Reads the query; anything malformed is left out rather than refused.
    pub fn from_params(q: &ParamsMap) -> Self {
        let band = query_text(q, "band").to_ascii_lowercase();
        let band = if band == "incomplete" || Band::parse(&band).is_some() {
            band
        } else {
            String::new()
        };
        Self {
            lot: query_text(q, "lot"),
            order: query_text(q, "order"),
            band,
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

    fn opt(s: &str) -> Option<String> {
        (!s.is_empty()).then(|| s.to_owned())
    }

    /// The server-side filter of this query.
    pub fn filter(&self) -> CellFilter {
        CellFilter {
            lot: Self::opt(&self.lot),
            order: Self::opt(&self.order),
            band: Self::opt(&self.band),
            from_ms: self.start_ms(),
            to_ms: self.end_ms(),
            page: self.page.saturating_sub(1),
            page_size: PAGE_SIZE,
        }
    }

    /// Whether anything is filtered.
    pub fn is_filtered(&self) -> bool {
        !(self.lot.is_empty()
            && self.order.is_empty()
            && self.band.is_empty()
            && self.from.is_empty()
            && self.to.is_empty())
    }

    /// Link to page `page` (from 1) of this filter.
    pub fn href(&self, page: u32) -> String {
        page_href(
            "/cells",
            &[
                ("lot", self.lot.clone()),
                ("order", self.order.clone()),
                ("band", self.band.clone()),
                ("from", self.from.clone()),
                ("to", self.to.clone()),
            ],
            page,
        )
    }

    /// The CSV export of every row of this filter (not only this page).
    pub fn export_href(&self) -> String {
        let ms = |v: Option<i64>| v.map(|v| v.to_string()).unwrap_or_default();
        format!(
            "/api/v1/export/cells.csv{}",
            query_string(&[
                ("lot", self.lot.clone()),
                ("order", self.order.clone()),
                ("band", self.band.clone()),
                ("from_ms", ms(self.start_ms())),
                ("to_ms", ms(self.end_ms())),
            ])
        )
    }
}

/// The cells page: the query is read here, on the server; the first page of rows
/// arrives in the table island's props.
#[component]
pub fn CellsPage() -> impl IntoView {
    let q = use_query_map().with_untracked(CellQuery::from_params);
    let cells = {
        let filter = q.filter();
        Resource::new(|| (), move |_| get_cells(filter.clone()))
    };
    let export = CsvLink {
        href: Signal::from(q.export_href()),
        file: "cells.csv",
        testid: "export",
        label: "Download CSV",
    };
    view! {
        <Title text="Cells · CellGuard"/>
        <section class="cells-page" aria-labelledby="cells-title">
            <div class="page-head">
                <h1 id="cells-title">"Cells"</h1>
                {export.button()}
            </div>
            <Filters q=q.clone()/>
            <Suspense fallback=|| view! { <p class="loading">"Loading cells…"</p> }>
                {move || {
                    let q = q.clone();
                    cells.get().map(move |initial| view! { <CellsTable q=q initial=initial/> })
                }}
            </Suspense>
        </section>
    }
}

/// The table, live: a busy line pushes a cell a second, and the server renders the
/// table again for the page every few seconds.
#[component]
fn CellsTable(q: CellQuery, initial: Result<CellPage, ServiceError>) -> impl IntoView {
    let trigger = RegionTrigger::AnyCell { every_ms: 3_000 };
    view! {
        <LiveRegion id="cells".to_string() trigger=trigger>
            {match initial {
                Ok(page) => view! { <CellTable page=page q=q/> }.into_any(),
                Err(e) => view! {
                    <p class="error" role="alert">{format!("Cells are not available: {e}")}</p>
                }
                .into_any(),
            }}
        </LiveRegion>
    }
}

/// The filter as a plain GET form: applying it loads the page with the new query
/// (the page number left out, so it starts at the first).
#[component]
fn Filters(q: CellQuery) -> impl IntoView {
    let band = q.band.clone();
    let band_option = move |value: &'static str, label: &'static str| {
        let selected = band == value;
        view! { <option value=value selected=selected>{label}</option> }
    };
    view! {
        <form method="get" action="/cells" class="filters" aria-label="Filter cells">
            <label>"Lot" <input type="text" name="lot" value=q.lot.clone() autocomplete="off"/></label>
            <label>"Order" <input type="text" name="order" value=q.order.clone() autocomplete="off"/></label>
            <label>"Risk"
                <select name="band">
                    {band_option("", "Any")}
                    {band_option("high", "High")}
                    {band_option("low", "Low")}
                    {band_option("incomplete", "Incomplete")}
                </select>
            </label>
            <label>"From (UTC)" <input type="date" name="from" value=q.from.clone()/></label>
            <label>"To (UTC)" <input type="date" name="to" value=q.to.clone()/></label>
            <div class="filter-actions">
                <button type="submit" class="button primary">"Apply"</button>
                {q.is_filtered().then(|| view! { <a href="/cells" class="button">"Clear"</a> })}
            </div>
        </form>
    }
}

#[component]
fn CellTable(page: CellPage, q: CellQuery) -> impl IntoView {
    let text = if page.total > 0 {
        "No rows on this page."
    } else if q.is_filtered() {
        "No cells match this filter."
    } else {
        "No cells yet. They appear as the line inspects them, or import a file."
    };
    let paging = Paging::new(page.total, page.page_size, u64::from(page.page) + 1, |p| {
        q.href(p)
    });
    view! {
        <PagedTable
            rows=page.rows
            row=|c| view! { <CellRow c=c/> }
            class="cells-table"
            testid="cells-table"
            count=format!("{} cells", page.total)
            count_testid="cell-count"
            empty=Empty::Note { text, testid: "no-cells" }
            paging=paging
        >
            <th scope="col">"Serial"</th>
            <th scope="col">"Lot"</th>
            <th scope="col" class="col-opt">"Order"</th>
            <th scope="col" class="col-opt">"Product"</th>
            <th scope="col" class="col-opt">"Stages"</th>
            <th scope="col">"Produced"</th>
            <th scope="col" class="col-num">"Fails"</th>
            <th scope="col" class="col-num">"Score"</th>
            <th scope="col">"Risk"</th>
        </PagedTable>
    }
}

#[component]
fn CellRow(c: CellSummary) -> impl IntoView {
    let href = format!("/cells/{}", encode_query_value(&c.serial));
    let serial = c.serial.clone();
    let stages = c
        .stages
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(" · ");
    let band_class = match c.band {
        Some(Band::High) => "row-high",
        Some(Band::Low) => "row-low",
        None => "row-none",
    };
    view! {
        <tr class=band_class data-testid="cell-row" data-serial=c.serial.clone()>
            <td class="col-serial"><a href=href class="row-link">{serial}</a></td>
            <td>{c.lot.clone()}</td>
            <td class="col-opt">{c.order.clone()}</td>
            <td class="col-opt">{c.product.clone()}</td>
            <td class="col-opt">{if stages.is_empty() { "—".to_owned() } else { stages }}</td>
            <td title=format_time(c.created_ms)>{format_date(c.created_ms)}</td>
            <td class={if c.failed > 0 { "col-num fails" } else { "col-num" }}>{c.failed}</td>
            <td class="col-num">{c.score.map(format_score).unwrap_or_else(|| "—".into())}</td>
            <td><BandBadge band=c.band/></td>
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
        let q = CellQuery::from_params(&params(&[
            ("lot", "L2606-001"),
            ("band", "HIGH"),
            ("from", "2026-06-01"),
            ("to", "2026-06-01"),
            ("page", "3"),
        ]));
        let f = q.filter();
        assert_eq!(f.lot.as_deref(), Some("L2606-001"));
        assert_eq!(f.order, None);
        assert_eq!(f.band.as_deref(), Some("high"));
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
        let q = CellQuery::from_params(&params(&[
            ("band", "medium"),
            ("from", "yesterday"),
            ("page", "0"),
        ]));
        assert_eq!(
            q,
            CellQuery {
                page: 1,
                ..CellQuery::default()
            }
        );
        assert!(!q.is_filtered());
        let q = CellQuery::from_params(&params(&[("page", "-4"), ("band", "incomplete")]));
        assert_eq!(q.page, 1);
        assert_eq!(q.filter().band.as_deref(), Some("incomplete"));
    }

    #[test]
    fn links_keep_the_filter_and_change_only_the_page() {
        let q = CellQuery::from_params(&params(&[("lot", "L 1"), ("band", "low"), ("page", "2")]));
        assert_eq!(q.href(3), "/cells?lot=L%201&band=low&page=3");
        assert_eq!(q.href(1), "/cells?lot=L%201&band=low");
        assert_eq!(CellQuery::default().href(1), "/cells");
    }

    #[test]
    fn the_export_link_carries_the_same_filter_in_ms() {
        let q = CellQuery::from_params(&params(&[("order", "98765"), ("from", "1970-01-02")]));
        assert_eq!(
            q.export_href(),
            "/api/v1/export/cells.csv?order=98765&from_ms=86400000"
        );
        assert_eq!(
            CellQuery::default().export_href(),
            "/api/v1/export/cells.csv"
        );
    }
}
