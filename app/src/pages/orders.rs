//! `/orders`: the production orders from the MES, the active one first, with
//! planned vs produced vs high-risk counts and progress, live as cells arrive;
//! each order's cells are one tap away. When the MES cannot be reached the page
//! says how old its orders are.
//!
//! The heading is server HTML; the "Fetch from MES now" button, what it says when
//! it fails, the staleness notice and the cards are one island (the button's fetch
//! refetches the cards).

use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::{RefreshOrders, get_orders};
use crate::error::ServiceError;
use crate::fmt::format_age;
use crate::fmt::{encode_query_value, format_share, format_time, server_message};
use crate::live::use_live;
use crate::mes::{MesLinkState, MesStatus, OrderState, OrderView, OrdersView};

/// What the page says about the age of its orders, if anything needs saying.
pub fn staleness_text(status: &MesStatus, now_ms: i64) -> Option<String> {
    if status.state == MesLinkState::Disabled {
        return Some("No MES is configured: there are no production orders.".into());
    }
    if !status.orders_stale() {
        return None;
    }
    let why = match status.state {
        MesLinkState::Unauthorized => "The MES refuses CellGuard's token",
        MesLinkState::Connecting => "The MES has not answered yet",
        _ => "The MES cannot be reached",
    };
    Some(match status.orders_fetched_ms {
        // The age only once the browser knows the time (not in the first render).
        Some(ms) if now_ms > 0 => format!(
            "{why}: these orders are from {} ({}).",
            format_time(ms),
            format_age(now_ms - ms)
        ),
        Some(ms) => format!("{why}: these orders are from {}.", format_time(ms)),
        None => format!("{why}: no orders have been fetched yet."),
    })
}

fn state_class(s: OrderState) -> &'static str {
    match s {
        OrderState::Running => "risk-low",
        OrderState::Held => "risk-moderate",
        OrderState::Aborted => "risk-high",
        OrderState::Released | OrderState::Planned | OrderState::Completed => "risk-none",
    }
}

/// The orders page: the orders as first loaded arrive in the island's props.
#[component]
pub fn OrdersPage() -> impl IntoView {
    let orders = Resource::new(|| (), |_| get_orders());
    let title = || view! { <h1 id="orders-title">"Production orders"</h1> };
    view! {
        <Title text="Production orders · CellGuard"/>
        <section class="orders-page" aria-labelledby="orders-title">
            <Suspense fallback=move || view! {
                <div class="page-head">{title()}</div>
                <p class="loading">"Loading orders…"</p>
            }>
                {move || orders.get().map(|initial| view! { <OrdersLive initial=initial>{title()}</OrdersLive> })}
            </Suspense>
        </section>
    }
}

/// The orders, live: fetched again as cells arrive (at most every 2 s), when new
/// orders came in from the MES and after "Fetch from MES now". `children` is the
/// heading, next to the button.
#[island(lazy)]
fn OrdersLive(initial: Result<OrdersView, ServiceError>, children: Children) -> impl IntoView {
    let live = use_live();
    // The pushed status, once the server's drawing is hydrated.
    let hydrated = crate::live::use_hydrated();
    let refresh = ServerAction::<RefreshOrders>::new();
    let orders = RwSignal::new(initial);
    #[cfg(feature = "hydrate")]
    {
        use std::time::Duration;

        let cells_tick =
            crate::components::cell_refresh::use_cell_refresh(Duration::from_secs(2), |_| true);
        let fetched = Memo::new(move |_| {
            live.mes
                .with(|m| m.as_ref().and_then(|m| m.orders_fetched_ms))
        });
        crate::components::cell_refresh::refetch_on(
            orders,
            move || {
                cells_tick.track();
                fetched.track();
                refresh.version().track();
            },
            get_orders,
        );
    }
    let refresh_error = move || {
        refresh.value().get().and_then(Result::err).map(|e| {
            view! {
                <p class="error" role="alert">{format!("The orders were not fetched: {}", server_message(&e))}</p>
            }
        })
    };
    let body = move || match orders.get() {
        Ok(v) => {
            // The live status is newer than the one fetched with the page.
            let initial = v.status;
            let stale = move || {
                // Ages need the browser's clock: none in the server's drawing.
                if !hydrated.get() {
                    return None;
                }
                let status = live.mes.get().unwrap_or_else(|| initial.clone());
                staleness_text(&status, live.now_ms.get()).map(|t| {
                    view! {
                        <p class="notice" role="status" data-testid="orders-stale">{t}</p>
                    }
                })
            };
            view! {
                {stale}
                <OrderCards orders=v.orders/>
            }
            .into_any()
        }
        Err(e) => view! {
            <p class="error" role="alert" data-testid="orders-error">
                {format!("Orders are not available: {}", server_message(&e))}
            </p>
        }
        .into_any(),
    };
    view! {
        <div class="page-head">
            {children()}
            <button
                class="button"
                on:click=move |_| { refresh.dispatch(RefreshOrders {}); }
                disabled=move || refresh.pending().get()
                data-testid="orders-refresh"
            >
                "Fetch from MES now"
            </button>
        </div>
        <div aria-live="polite">{refresh_error}</div>
        {body}
    }
}

#[component]
fn OrderCards(orders: Vec<OrderView>) -> impl IntoView {
    if orders.is_empty() {
        return view! { <p class="empty" data-testid="no-orders">"The MES has sent no orders for this line."</p> }.into_any();
    }
    view! {
        <div class="grid orders-grid">
            {orders.into_iter().map(|o| view! { <OrderCard o=o/> }).collect_view()}
        </div>
    }
    .into_any()
}

#[component]
fn OrderCard(o: OrderView) -> impl IntoView {
    let progress = o.progress();
    let pct = format!("{:.0}%", progress * 100.0);
    // High-risk share of the cells this line has seen (and scored).
    let high_share = (o.produced > 0).then(|| o.high_risk as f64 / o.produced as f64);
    let cells_href = format!("/cells?order={}", encode_query_value(&o.order.id));
    let planned = match (o.order.planned_start_ms, o.order.planned_end_ms) {
        (Some(s), Some(e)) => format!("Planned {} – {}", format_time(s), format_time(e)),
        (Some(s), None) => format!("Planned from {}", format_time(s)),
        _ => "No planned dates".into(),
    };
    let state = o.order.state;
    let class = if o.active {
        "card order-card order-active"
    } else {
        "card order-card"
    };
    view! {
        <article class=class data-testid="order-card" data-order=o.order.id.clone()>
            <div class="card-head">
                <div>
                    <div class="machine-id">{format!("Order {}", o.order.id)}</div>
                    <div class="machine-name">{format!("{} ({})", o.order.product_name, o.order.product)}</div>
                </div>
                <span class=format!("badge {}", state_class(state)) data-testid="order-state">
                    {if o.active { "Producing".to_owned() } else { state.label().to_owned() }}
                </span>
            </div>
            <div class="progress" role="progressbar"
                aria-valuemin="0" aria-valuemax=o.order.planned_quantity.to_string()
                aria-valuenow=o.produced_total().to_string()
                aria-label=format!("Order {} progress", o.order.id)>
                <div class="progress-bar" style=format!("width: {:.1}%", progress * 100.0)></div>
            </div>
            <dl class="lot-counts">
                <div><dt>"Produced"</dt><dd data-testid="order-produced">{format!("{} / {}", o.produced_total(), o.order.planned_quantity)}</dd></div>
                <div><dt>"Progress"</dt><dd data-testid="order-progress">{pct}</dd></div>
                <div><dt>"High-risk"</dt><dd data-testid="order-high">{format!("{} ({})", o.high_risk, format_share(high_share))}</dd></div>
                <div><dt>"Scrapped"</dt><dd data-testid="order-scrapped">{o.scrapped}</dd></div>
            </dl>
            <p class="muted order-dates">
                {planned}{format!(" · priority {}", o.order.priority)}
                {(o.produced != o.produced_total()).then(|| format!(" · {} seen on this line, the rest confirmed by the MES", o.produced))}
            </p>
            <a href=cells_href class="button" data-testid="order-cells">"Cells of this order →"</a>
        </article>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_says_how_old_its_orders_are_when_the_mes_is_away() {
        let mut s = MesStatus::new(MesLinkState::Up, 0);
        s.orders_fetched_ms = Some(1_000);
        assert_eq!(staleness_text(&s, 61_000), None);
        s.state = MesLinkState::Down;
        let t = staleness_text(&s, 1_000 + 5 * 60_000).expect("text");
        assert!(t.starts_with("The MES cannot be reached"), "{t}");
        assert!(t.contains("5 min ago"), "{t}");
        let t = staleness_text(&s, 0).expect("text");
        assert!(!t.contains("ago"), "no age before the clock is known: {t}");
        s.orders_fetched_ms = None;
        assert!(staleness_text(&s, 0).expect("text").contains("no orders"));
        s.state = MesLinkState::Unauthorized;
        assert!(staleness_text(&s, 0).expect("text").contains("token"));
        s.state = MesLinkState::Disabled;
        assert!(staleness_text(&s, 0).expect("text").contains("No MES"));
    }
}
