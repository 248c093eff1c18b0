//! A machine's card on the line overview: state, key values, freshness, sparkline.

use leptos::prelude::*;

use crate::components::chart::sparkline_svg;
use crate::fmt::format_age;
use crate::line::{LinkState, MachineView, StateClass, merge_trend};
use crate::live::use_live;

/// The state word and its colour class, taking the link into account.
pub fn state_badge(m: &MachineView) -> (String, &'static str) {
    match m.link.state {
        LinkState::CommLost => ("COMM LOST".into(), "fault"),
        LinkState::Connecting => ("CONNECTING".into(), "unknown"),
        LinkState::Online => match m.state() {
            Some(s) => (s.to_uppercase(), StateClass::of(Some(s)).css()),
            None => ("UNKNOWN".into(), StateClass::Unknown.css()),
        },
    }
}

/// One machine's card; `id` selects it from the live store.
#[component]
pub fn MachineCard(id: String) -> impl IntoView {
    let live = use_live();
    let machine = {
        let id = id.clone();
        Memo::new(move |_| {
            live.line.with(|l| {
                l.as_ref()
                    .and_then(|l| l.machines.iter().find(|m| m.id == id).cloned())
            })
        })
    };
    let href = format!("/machines/{id}");
    let spark_tag = move || {
        machine.with(|m| {
            m.as_ref()
                .and_then(|m| m.tags.iter().find(|t| t.key && t.numeric))
                .map(|t| (t.name.clone(), t.label.clone(), t.unit.clone()))
        })
    };
    let spark = {
        let id = id.clone();
        move || {
            spark_tag().map(|(tag, label, unit)| {
                // One point a second, like the stored history it continues.
                let pts = merge_trend(&[], &live.trend(&id, &tag), i64::MIN, 1000);
                view! {
                    <div class="spark">
                        <div class="spark-label">{format!("{label} · last 2 min")} {(!unit.is_empty()).then(|| format!(" ({unit})"))}</div>
                        <div class="spark-svg" inner_html=sparkline_svg(&pts, (320, 56))></div>
                    </div>
                }
            })
        }
    };
    view! {
        <a class="card" href=href data-testid="machine-card" data-machine=id.clone()>
            {move || {
                machine
                    .get()
                    .map(|m| {
                        let (word, class) = state_badge(&m);
                        let now = live.now_ms.get();
                        let age = now - m.last_update_ms();
                        let keys: Vec<_> = m.tags.iter().filter(|t| t.key).cloned().collect();
                        view! {
                            <div class="card-head">
                                <div>
                                    <div class="machine-id">{m.id.clone()}</div>
                                    <div class="machine-name">{m.name.clone()}</div>
                                </div>
                                <div class=format!("state state-{class}") data-testid="state">{word}</div>
                            </div>
                            <dl class="values">
                                {keys
                                    .into_iter()
                                    .map(|t| {
                                        let q = t.quality.at_age(now - t.ts_ms, t.stale_after_ms);
                                        let shown = t.value.as_ref().map(|v| v.display()).unwrap_or_else(|| "—".into());
                                        view! {
                                            <div class=format!("value q-{}", q.label().replace(' ', "-")) data-tag=t.name.clone()>
                                                <dt>{t.label.clone()}</dt>
                                                <dd>
                                                    <span class="num" data-testid="value">{shown}</span>
                                                    <span class="unit">{t.unit.clone()}</span>
                                                    {(q != crate::line::Quality::Good).then(|| view! { <span class="quality">{q.label()}</span> })}
                                                </dd>
                                            </div>
                                        }
                                    })
                                    .collect_view()}
                            </dl>
                            <div class="age" data-testid="age">
                                {if m.last_update_ms() == 0 { "no data yet".to_string() } else { format!("updated {}", format_age(age)) }}
                            </div>
                        }
                    })
            }}
            {spark}
        </a>
    }
}
