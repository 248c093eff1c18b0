//! `/quality`: how risky the cells are right now: totals, the score distribution,
//! the high-risk cells waiting for short-term testing and a card per lot. Refetched
//! live as cells are inspected and scored.
//!
//! All of it is server HTML (the histogram an SVG drawn by plotters on the server);
//! everything under the heading is a live region, rendered again by the server and
//! put in place as cells are pushed, so the page ships none of its code.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::get_quality;
use crate::components::live_region::{LiveRegion, RegionTrigger};
use crate::components::model_health::HealthWarning;
use crate::components::risk_badge::{BandBadge, TierBadge};
use crate::components::risk_chart::histogram_svg;
use crate::error::ServiceError;
use crate::fmt::{encode_query_value, format_score, format_share, format_time};
use crate::quality::{Band, CellSummary, LotView, QualityOverview};

/// The quality overview page: the overview as first loaded arrives in the island's
/// props.
#[component]
pub fn QualityPage() -> impl IntoView {
    let overview = Resource::new(|| (), |_| get_quality());
    view! {
        <Title text="Quality · CellGuard"/>
        <section class="quality-page" aria-labelledby="quality-title">
            <h1 id="quality-title">"Cell quality"</h1>
            <Suspense fallback=|| view! { <p class="loading">"Loading quality data…"</p> }>
                {move || overview.get().map(|initial| view! { <QualityLive initial=initial/> })}
            </Suspense>
        </section>
    }
}

/// The overview, live: the server renders it, and the page fetches it again (at most
/// once a second) as cells are pushed.
#[component]
fn QualityLive(initial: Result<QualityOverview, ServiceError>) -> impl IntoView {
    let trigger = RegionTrigger::AnyCell { every_ms: 1_000 };
    view! {
        <LiveRegion id="quality".to_string() trigger=trigger>
            {match initial {
                Ok(q) => view! { <Overview q=q/> }.into_any(),
                Err(e) => view! {
                    <p class="error" role="alert">{format!("Quality data is not available: {e}")}</p>
                }
                .into_any(),
            }}
        </LiveRegion>
    }
}

#[component]
fn Overview(q: QualityOverview) -> impl IntoView {
    let model_line = match (&q.model, q.threshold) {
        (Some(m), Some(t)) => format!("Scored by {m} · threshold {}", format_score(t)),
        (Some(m), None) => format!("Scored by {m}"),
        _ => "No active model: cells are not scored.".to_owned(),
    };
    let high_share = format_share((q.scored > 0).then(|| q.high as f64 / q.scored as f64));
    let svg = histogram_svg(&q.histogram, q.threshold, (720, 300));
    view! {
        <p class="model-line">{model_line}</p>
        {q.rescoring.as_ref().map(|r| view! {
            <p class="notice" role="status" data-testid="rescoring">{r.text()}</p>
        })}
        <HealthWarning health=q.health.clone()/>
        <div class="totals" data-testid="totals">
            <Total label="Cells" value=q.cells.to_string() href="/cells"/>
            <Total label="Scored" value=q.scored.to_string()/>
            <Total label="Incomplete" value=q.incomplete.to_string() href="/cells?band=incomplete"/>
            <Total
                label="High risk"
                value=format!("{} ({high_share})", q.high)
                href="/cells?band=high"
                alarm={q.high > 0}
            />
        </div>
        <div class="quality-grid">
            <figure class="chart" data-testid="histogram">
                <figcaption><span class="chart-title">"Risk score distribution"</span></figcaption>
                <div class="chart-svg" inner_html=svg></div>
            </figure>
            <HighWaiting cells=q.high_waiting/>
        </div>
        <h2>"Lots"</h2>
        {if q.lots.is_empty() {
            view! { <p class="empty">"No lots yet. Cells appear here once inspected or imported."</p> }.into_any()
        } else {
            view! {
                <div class="grid lots">
                    {q.lots.into_iter().map(|lot| view! { <LotCard lot=lot/> }).collect_view()}
                </div>
            }.into_any()
        }}
    }
}

#[component]
fn Total(
    label: &'static str,
    value: String,
    #[prop(optional)] href: Option<&'static str>,
    #[prop(optional)] alarm: bool,
) -> impl IntoView {
    let class = if alarm { "total total-alarm" } else { "total" };
    let inner = view! {
        <span class="total-label">{label}</span>
        <span class="total-value" data-testid=format!("total-{}", label.to_lowercase().replace(' ', "-"))>{value}</span>
    };
    match href {
        Some(href) => view! { <a class=class href=href>{inner}</a> }.into_any(),
        None => view! { <div class=class>{inner}</div> }.into_any(),
    }
}

#[component]
fn HighWaiting(cells: Vec<CellSummary>) -> impl IntoView {
    let count = cells.len();
    view! {
        <section class="panel waiting" aria-labelledby="waiting-title" data-testid="high-waiting">
            <h2 id="waiting-title">"High-risk cells waiting for short-term testing"</h2>
            {if cells.is_empty() {
                view! { <p class="empty">"None waiting."</p> }.into_any()
            } else {
                view! {
                    <ul class="tap-list">
                        {cells.into_iter().map(|c| view! {
                            <li>
                                <a href=format!("/cells/{}", encode_query_value(&c.serial)) class="tap-row">
                                    <span class="tap-main">{c.serial.clone()}</span>
                                    <span class="tap-sub">{format!("Lot {}", c.lot)}</span>
                                    <span class="tap-score">{c.score.map(format_score).unwrap_or_else(|| "—".into())}</span>
                                    <BandBadge band=Some(Band::High)/>
                                </a>
                            </li>
                        }).collect_view()}
                    </ul>
                    <p class="muted">{format!("{count} shown, newest first.")} " " <a href="/cells?band=high">"All high-risk cells"</a></p>
                }.into_any()
            }}
        </section>
    }
}

#[component]
fn LotCard(lot: LotView) -> impl IntoView {
    let share = format_share(lot.share());
    let href = format!("/cells?lot={}", encode_query_value(&lot.lot));
    let advice = lot
        .tier
        .map(|t| t.recommendation())
        .unwrap_or("no cell scored yet");
    let id = lot.lot.clone();
    let LotView {
        lot: name,
        order,
        product,
        cells,
        scored,
        high,
        tier,
        updated_ms,
    } = lot;
    view! {
        <a href=href class="card lot-card" data-testid="lot-card" data-lot=id>
            <div class="card-head">
                <div>
                    <div class="machine-id">{name}</div>
                    <div class="machine-name">{format!("Order {order} · {product}")}</div>
                </div>
                <TierBadge tier=tier/>
            </div>
            <div class="lot-share">
                <span class="num">{share}</span>
                <span class="unit">" high risk"</span>
            </div>
            <p class="advice">{advice}</p>
            <dl class="lot-counts">
                <div><dt>"Cells"</dt><dd>{cells}</dd></div>
                <div><dt>"Scored"</dt><dd>{scored}</dd></div>
                <div><dt>"High"</dt><dd>{high}</dd></div>
            </dl>
            <div class="age">{format!("last activity {}", format_time(updated_ms))}</div>
        </a>
    }
}
