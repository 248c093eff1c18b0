//! `/machines/:id`: every numeric tag of one machine as a trend over a chosen range.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;
use leptos_router::hooks::{use_params_map, use_query_map};

use crate::api::get_history;
use crate::components::chart::trend_svg;
use crate::components::machine_card::{age_text, state_badge};
use crate::line::{HistoryRange, MachineView, Quality, Series, merge_band, merge_trend};
use crate::live::use_live;
use crate::pages::overview::LineLoader;

/// The machine page.
#[component]
pub fn MachinePage() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let id = Memo::new(move |_| params.with(|p| p.get("id").unwrap_or_default()));
    let range = Memo::new(move |_| {
        query.with(|q| HistoryRange::from_slug(&q.get("range").unwrap_or_default()))
    });
    view! {
        <Title text=move || format!("{} · CellGuard", id.get())/>
        <LineLoader>
            <MachineDetail id=id range=range/>
        </LineLoader>
    }
}

/// Seconds between the machine page's history refresh ticks.
const REFRESH_TICK_SECS: u32 = 30;

#[component]
fn MachineDetail(id: Memo<String>, range: Memo<HistoryRange>) -> impl IntoView {
    let live = use_live();
    // This machine only: another machine's scan does not touch the page.
    let slot = Memo::new(move |_| live.machine(&id.get()));
    let machine = Memo::new(move |_| slot.get().map(|m| m.get()));
    // Longer ranges are fetched again (every 30 s, a week or more every 5 min): the
    // live buffer holds only the last two minutes, so without this the rest of the
    // window would stand still. A tick every 30 s; the resource's key changes (and it
    // fetches) every `refresh_secs / 30` ticks.
    let refresh = RwSignal::new(0u32);
    #[cfg(feature = "hydrate")]
    if let Ok(handle) = set_interval_with_handle(
        move || refresh.update(|n| *n = n.wrapping_add(1)),
        std::time::Duration::from_secs(u64::from(REFRESH_TICK_SECS)),
    ) {
        on_cleanup(move || handle.clear());
    }
    let history = Resource::new(
        move || {
            let r = range.get();
            let round = r
                .refresh_secs()
                .map_or(0, |secs| refresh.get() / (secs / REFRESH_TICK_SECS).max(1));
            (id.get(), r, round)
        },
        |(id, r, _)| get_history(id, r),
    );
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
                let href = format!("/machines/{}?range={}", id.get(), r.slug());
                let current = range.get() == r;
                view! {
                    <A href=href attr:class=if current { "range current" } else { "range" } attr:aria-current=current.then_some("true")>
                        {r.label()}
                    </A>
                }
            })
            .collect_view()
    };
    view! {
        <section class="detail">
            <A href="/" attr:class="back">"← Line"</A>
            {header}
            <nav class="ranges" aria-label="Time range">{ranges}</nav>
            // A transition keeps the charts on screen while a range is fetched again.
            <Transition fallback=|| view! { <p class="loading">"Loading history…"</p> }>
                {move || {
                    history.get().map(|r| match r {
                        Ok(series) => view! { <div class="charts"><Charts machine=machine id=id range=range series=series/></div> }.into_any(),
                        Err(e) => view! { <p class="error" role="alert">{format!("History is not available: {e}")}</p> }.into_any(),
                    })
                }}
            </Transition>
        </section>
    }
}

#[component]
fn Charts(
    machine: Memo<Option<MachineView>>,
    id: Memo<String>,
    range: Memo<HistoryRange>,
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
                    let r = range.get();
                    let now = live.now_ms.get();
                    let window = r.window_ms();
                    let spacing = if r == HistoryRange::Live { 0 } else { window / 600 };
                    let live_pts = live.trend(&id.get(), &tag);
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
