//! `/machines/:id`: every numeric tag of one machine as a trend over a chosen range.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};

use crate::api::get_history;
use crate::components::chart::trend_svg;
use crate::components::machine_card::{age_text, state_badge};
use crate::line::{HistoryRange, LineView, MachineView, Quality, Series, merge_band, merge_trend};
use crate::live::use_live;
use crate::pages::overview::{adopt_initial, line_loader};

/// The machine page: the route and the range are read here, on the server; the
/// machine's line view and its history for the range arrive in the island's props.
#[component]
pub fn MachinePage() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let id = params.with_untracked(|p| p.get("id").unwrap_or_default());
    let range =
        query.with_untracked(|q| HistoryRange::from_slug(&q.get("range").unwrap_or_default()));
    let history = {
        let id = id.clone();
        Resource::new(|| (), move |_| get_history(id.clone(), range))
    };
    view! {
        <Title text=format!("{id} · CellGuard")/>
        {line_loader(move |line| {
            let id = id.clone();
            view! {
                <Suspense fallback=|| view! { <p class="loading">"Loading history…"</p> }>
                    {
                        let id = id.clone();
                        let line = line.clone();
                        move || history.get().map(|r| {
                            let (series, error) = match r {
                                Ok(s) => (s, None),
                                Err(e) => (Vec::new(), Some(e.to_string())),
                            };
                            view! { <MachineDetail line=line.clone() id=id.clone() range=range series=series error=error/> }
                        })
                    }
                </Suspense>
            }
            .into_any()
        })}
    }
}

/// Seconds between the machine page's history refresh ticks.
#[cfg(feature = "hydrate")]
const REFRESH_TICK_SECS: u32 = 30;

/// The machine, live: its state, link health and one chart per numeric tag, the
/// range's history (fetched again while the page is open) continued by the stream.
#[island(lazy)]
fn MachineDetail(
    line: LineView,
    id: String,
    range: HistoryRange,
    series: Vec<Series>,
    error: Option<String>,
) -> impl IntoView {
    adopt_initial(line);
    let live = use_live();
    let id = StoredValue::new(id);
    // This machine only: another machine's scan does not touch the page.
    let slot = Memo::new(move |_| live.machine(&id.read_value()));
    let machine = Memo::new(move |_| slot.get().map(|m| m.get()));
    let history = RwSignal::new(match error {
        Some(e) => Err(e),
        None => Ok(series),
    });
    // Longer ranges are fetched again (every 30 s, a week or more every 5 min): the
    // live buffer holds only the last two minutes, so without this the rest of the
    // window would stand still.
    #[cfg(feature = "hydrate")]
    if let Some(secs) = range.refresh_secs() {
        let ticks = (secs / REFRESH_TICK_SECS).max(1);
        let count = StoredValue::new(0u32);
        if let Ok(handle) = set_interval_with_handle(
            move || {
                count.update_value(|n| *n = n.wrapping_add(1));
                if count.get_value().is_multiple_of(ticks) {
                    let id = id.get_value();
                    leptos::task::spawn_local(async move {
                        match get_history(id, range).await {
                            Ok(s) => history.set(Ok(s)),
                            // A failed refresh keeps the charts shown.
                            Err(e) => leptos::logging::warn!("history refresh failed: {e}"),
                        }
                    });
                }
            },
            std::time::Duration::from_secs(u64::from(REFRESH_TICK_SECS)),
        ) {
            on_cleanup(move || handle.clear());
        }
    }
    let header = move || {
        machine.get().map(|m| {
            let (word, class) = state_badge(&m);
            let last = m.last_update_ms();
            view! {
                <div class="detail-head">
                    <div>
                        <h1>{m.id.clone()} <span class="machine-name">{m.name.clone()}</span></h1>
                        <div class="age">{move || age_text(last, live.now_ms.get())}</div>
                        {m.link.error.clone().map(|e| view! { <div class="link-error" role="alert">{format!("PLC link: {e}")}</div> })}
                        {link_health(&m.link)}
                    </div>
                    <div class=format!("state state-{class}") data-testid="state">{word}</div>
                </div>
            }
        })
    };
    let ranges = move || {
        HistoryRange::ALL
            .into_iter()
            .map(|r| {
                let href = format!("/machines/{}?range={}", id.read_value(), r.slug());
                let current = range == r;
                view! {
                    <a href=href class=if current { "range current" } else { "range" } aria-current=current.then_some("page")>
                        {r.label()}
                    </a>
                }
            })
            .collect_view()
    };
    view! {
        <section class="detail">
            <a href="/" class="back">"← Line"</a>
            {header}
            <nav class="ranges" aria-label="Time range">{ranges}</nav>
            {move || match history.get() {
                Ok(series) => view! { <div class="charts"><Charts machine=machine id=id range=range series=series/></div> }.into_any(),
                Err(e) => view! { <p class="error" role="alert">{format!("History is not available: {e}")}</p> }.into_any(),
            }}
        </section>
    }
}

#[component]
fn Charts(
    machine: Memo<Option<MachineView>>,
    id: StoredValue<String>,
    range: HistoryRange,
    series: Vec<Series>,
) -> impl IntoView {
    let live = use_live();
    let series = StoredValue::new(series);
    let tags = series.with_value(|s| {
        s.iter()
            .map(|s| (s.tag.clone(), s.label.clone(), s.unit.clone()))
            .collect::<Vec<_>>()
    });
    if tags.is_empty() {
        return view! { <p class="empty">"This machine has no numeric tags."</p> }.into_any();
    }
    tags.into_iter()
        .map(|(tag, label, unit)| {
            let current = {
                let tag = tag.clone();
                move || {
                    machine.with(|m| {
                        m.as_ref()
                            .and_then(|m| m.tags.iter().find(|t| t.name == tag))
                            .map(|t| {
                                let q = t.quality.at_age(live.now_ms.get() - t.ts_ms, t.stale_after_ms);
                                let v = t.value.as_ref().map(|v| v.display()).unwrap_or_else(|| "—".into());
                                (v, q)
                            })
                    })
                }
            };
            let tag_for_reason = tag.clone();
            let refused_reason = move |tag: &str| {
                machine.with(|m| {
                    m.as_ref()?
                        .link
                        .refused
                        .iter()
                        .find(|p| p.tag == tag)
                        .map(|p| p.reason.clone())
                })
            };
            let svg = {
                let tag = tag.clone();
                let unit = unit.clone();
                move || {
                    let r = range;
                    let now = live.now_ms.get();
                    let window = r.window_ms();
                    let spacing = if r == HistoryRange::Live { 0 } else { window / 600 };
                    let live_pts = live.trend(&id.read_value(), &tag);
                    let from = now - window;
                    let (pts, band) = series.with_value(|s| {
                        s.iter()
                            .find(|s| s.tag == tag)
                            .map(|s| (merge_trend(&s.points, &live_pts, from, spacing), merge_band(&s.band, &live_pts, from)))
                            .unwrap_or_else(|| (merge_trend(&[], &live_pts, from, spacing), Vec::new()))
                    });
                    trend_svg(&pts, &band, now, window, &unit, (720, 260))
                }
            };
            view! {
                <figure class="chart" data-testid="chart" data-tag=tag.clone()>
                    <figcaption>
                        <span class="chart-title">{label}</span>
                        {move || current().map(|(v, q)| view! {
                            <span class=format!("chart-value q-{}", q.label().replace(' ', "-"))>
                                {v} " " {unit.clone()}
                                {(q != Quality::Good).then(|| view! { <span class="quality">{q.label()}</span> })}
                            </span>
                        })}
                        {move || refused_reason(&tag_for_reason).map(|r| view! { <span class="tag-problem" data-testid="tag-problem">{r}</span> })}
                    </figcaption>
                    <div class="chart-svg" inner_html=svg></div>
                </figure>
            }
        })
        .collect_view()
        .into_any()
}

/// The scan rates achieved and the tags the PLC refuses, under the machine's name.
fn link_health(link: &crate::line::Link) -> impl IntoView + use<> {
    let rates = (!link.scans.is_empty()).then(|| {
        let text = link
            .scans
            .iter()
            .map(|r| {
                let late = if r.late > 0 {
                    format!(", {} late", r.late)
                } else {
                    String::new()
                };
                format!(
                    "{}: {} of {} scans/s{late}",
                    r.group,
                    crate::fmt::format_number(r.achieved_per_s),
                    crate::fmt::format_number(r.target_per_s)
                )
            })
            .collect::<Vec<_>>()
            .join(" · ");
        let late = link.scans.iter().any(|r| r.late > 0);
        view! {
            <div class=if late { "scan-rates late" } else { "scan-rates" } data-testid="scan-rates">{text}</div>
        }
    });
    let refused = (!link.refused.is_empty()).then(|| {
        let items = link
            .refused
            .iter()
            .map(|p| view! { <li><b>{p.tag.clone()}</b> ": " {p.reason.clone()}</li> })
            .collect_view();
        view! {
            <details class="refused" data-testid="refused-tags">
                <summary>{format!("The PLC refuses {} tag(s)", link.refused.len())}</summary>
                <ul>{items}</ul>
            </details>
        }
    });
    (rates, refused)
}
