//! `/`: the shift board. What a supervisor needs first on a tablet, live and
//! readable from two metres: standing alarms by priority with acknowledge in one
//! tap, each machine's state and key values, and what waits for a person
//! (corrective actions to approve, high-risk cells for short-term testing), the
//! active order's progress and the current lot's risk tier.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::actions::{ActionFilter, ActionsView};
use crate::api::{get_actions, get_alarm_board, get_line, get_orders, get_quality};
use crate::components::alarm_panel::{AlarmPanel, PanelMode};
use crate::components::live_region::{LiveRegion, RegionTrigger};
use crate::components::machine_card::MachineCard;
use crate::components::risk_badge::TierBadge;
use crate::error::ServiceError;
use crate::fmt::{format_number, format_share, server_message};
use crate::line::LineView;
use crate::live::use_live;
use crate::mes::OrdersView;
use crate::quality::QualityOverview;

/// Standing alarms the board lists before it links to the rest.
pub const BOARD_ALARMS: usize = 4;
/// High-risk cells the board names.
const BOARD_CELLS: usize = 4;
/// Pending actions the board names.
const BOARD_ACTIONS: usize = 3;

/// Loads the line view on the server and renders `page` with it (an island that
/// takes the view as its first state). Rendered only on the server: the browser
/// gets the view inside the island's props.
pub fn line_loader(page: impl Fn(LineView) -> AnyView + Send + Sync + 'static) -> impl IntoView {
    let initial = Resource::new(|| (), |_| get_line());
    view! {
        <Suspense fallback=|| view! { <p class="loading">"Loading the line…"</p> }>
            {move || {
                initial.get().map(|r| match r {
                    Ok(line) => page(line),
                    Err(e) => view! { <p class="error" role="alert">{format!("The line could not be loaded: {e}")}</p> }.into_any(),
                })
            }}
        </Suspense>
    }
}

/// Hands a server-rendered line view to the page's live store, so an island draws
/// in the browser what the server drew. A lazy island hydrates after the stream may
/// have brought newer values: they, and the clock (ages and staleness are drawn
/// from it), are set back to the server's for a moment, and the stream's next values
/// (every 500 ms at most) and the clock's next tick bring them forward again.
pub fn adopt_initial(line: LineView) {
    let now = line.now_ms;
    use_live().adopt(line, now);
}

/// `/`: the shift board.
#[component]
pub fn OverviewPage() -> impl IntoView {
    let board = Resource::new(|| (), |_| get_alarm_board());
    view! {
        <Title text="Shift board · CellGuard"/>
        <div class="shift-board">
            <Suspense fallback=|| view! { <p class="loading">"Loading the alarms…"</p> }>
                {move || board.get().map(|r| match r {
                    Ok(b) => view! { <AlarmPanel initial=b mode=PanelMode::Board { max: BOARD_ALARMS }/> }.into_any(),
                    Err(e) => view! {
                        <p class="error" role="alert">{format!("The alarms are not available: {}", server_message(&e))}</p>
                    }.into_any(),
                })}
            </Suspense>
            {line_loader(|line| view! { <MachineGrid line=line/> }.into_any())}
            <LiveRegion id="board-work".to_owned() trigger=RegionTrigger::Work { every_ms: 2_000 }>
                <WorkPanel/>
            </LiveRegion>
        </div>
    }
}

/// The cards, following the stream.
#[island]
fn MachineGrid(line: LineView) -> impl IntoView {
    adopt_initial(line);
    let live = use_live();
    // Changes only when a snapshot adds, removes or reorders machines.
    let ids = Memo::new(move |_| live.machine_ids());
    view! {
        <section class="grid" aria-label="Machines">
            <For each=move || ids.get() key=|id| id.clone() let:id>
                <MachineCard id=id/>
            </For>
        </section>
    }
}

/// What waits for a person, rendered on the server (the region around it fetches
/// it again when cells or actions change).
#[component]
fn WorkPanel() -> impl IntoView {
    let actions = Resource::new(|| (), |_| get_actions(ActionFilter::default()));
    let quality = Resource::new(|| (), |_| get_quality());
    let orders = Resource::new(|| (), |_| get_orders());
    view! {
        <section class="board-work" aria-label="Waiting for a person">
            <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
                {move || actions.get().map(|r| view! { <ActionsWaiting r=r/> })}
                {move || quality.get().map(|r| view! { <CellsWaiting r=r/> })}
                {move || orders.get().map(|r| view! { <OrderProgress r=r/> })}
                {move || quality.get().map(|r| view! { <CurrentLot r=r/> })}
            </Suspense>
        </section>
    }
}

fn unavailable(what: &str, e: &ServiceError) -> AnyView {
    view! { <p class="error">{format!("{what}: {}", server_message(e))}</p> }.into_any()
}

#[component]
fn ActionsWaiting(r: Result<ActionsView, ServiceError>) -> impl IntoView {
    let body = match r {
        Err(e) => unavailable("Actions not available", &e),
        Ok(v) if v.pending.is_empty() => {
            view! { <p class="muted big-zero" data-testid="board-actions-none">"None waiting."</p> }
                .into_any()
        }
        Ok(v) => {
            let n = v.pending.len();
            view! {
                <p class="big-count" data-testid="board-actions-count">{n}</p>
                <ul class="work-list">
                    {v.pending.into_iter().take(BOARD_ACTIONS).map(|a| view! {
                        <li>{format!("{} · {} {} → {}", a.machine, a.tag, format_number(a.from), format_number(a.to))}</li>
                    }).collect_view()}
                </ul>
            }
            .into_any()
        }
    };
    view! {
        <a class="work-card" href="/actions" data-testid="board-actions">
            <h2>"Corrective actions waiting"</h2>
            {body}
        </a>
    }
}

#[component]
fn CellsWaiting(r: Result<QualityOverview, ServiceError>) -> impl IntoView {
    let body = match r {
        Err(e) => unavailable("Quality not available", &e),
        Ok(q) if q.high_waiting.is_empty() => {
            view! { <p class="muted big-zero" data-testid="board-cells-none">"None waiting."</p> }
                .into_any()
        }
        Ok(q) => {
            let n = q.high_waiting.len();
            view! {
                <p class="big-count" data-testid="board-cells-count">{n}</p>
                <ul class="work-list">
                    {q.high_waiting.into_iter().take(BOARD_CELLS).map(|c| view! {
                        <li>{c.serial}</li>
                    }).collect_view()}
                </ul>
            }
            .into_any()
        }
    };
    view! {
        <a class="work-card" href="/cells?band=high" data-testid="board-cells">
            <h2>"High-risk cells to test"</h2>
            {body}
        </a>
    }
}

#[component]
fn OrderProgress(r: Result<OrdersView, ServiceError>) -> impl IntoView {
    let body = match r {
        Err(e) => unavailable("Orders not available", &e),
        Ok(v) => match v.orders.into_iter().find(|o| o.active) {
            None => view! { <p class="muted">"No active order."</p> }.into_any(),
            Some(o) => {
                let pct = o.progress() * 100.0;
                view! {
                    <p class="order-id">{format!("{} · {}", o.order.id, o.order.product_name)}</p>
                    <div class="progress" role="progressbar" aria-valuemin="0" aria-valuemax="100"
                        aria-valuenow=format!("{pct:.0}") data-testid="board-order-progress">
                        <span style=format!("width: {pct:.1}%")></span>
                    </div>
                    <p class="order-count">
                        {format!("{} of {} cells ({pct:.0} %)", o.produced_total(), o.order.planned_quantity)}
                    </p>
                }
                .into_any()
            }
        },
    };
    view! {
        <a class="work-card" href="/orders" data-testid="board-order">
            <h2>"Active order"</h2>
            {body}
        </a>
    }
}

#[component]
fn CurrentLot(r: Result<QualityOverview, ServiceError>) -> impl IntoView {
    let body = match r {
        Err(e) => unavailable("Lots not available", &e),
        Ok(q) => match q.lots.into_iter().next() {
            None => view! { <p class="muted">"No lot yet."</p> }.into_any(),
            Some(l) => {
                let share = l.share();
                view! {
                    <p class="order-id">{format!("Lot {}", l.lot)}</p>
                    <TierBadge tier=l.tier/>
                    <p class="order-count">{format!("{} high-risk of {} scored", format_share(share), l.scored)}</p>
                    <p class="muted">{l.tier.map(|t| t.recommendation()).unwrap_or("not scored yet")}</p>
                }
                .into_any()
            }
        },
    };
    view! {
        <a class="work-card" href="/quality" data-testid="board-lot">
            <h2>"Current lot"</h2>
            {body}
        </a>
    }
}
