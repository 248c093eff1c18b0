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
            Some(s) => (s.to_ascii_uppercase(), StateClass::of(Some(s)).css()),
            None => ("UNKNOWN".into(), StateClass::Unknown.css()),
        },
    }
}

/// How long ago a machine was last read: "updated 3 s ago", or "no data yet".
pub fn age_text(last_update_ms: i64, now_ms: i64) -> String {
    if last_update_ms == 0 {
        "no data yet".to_string()
    } else {
        format!("updated {}", format_age(now_ms - last_update_ms))
    }
}

/// One machine's card; `id` selects it from the live store. The card follows its
/// own machine only; the age and the staleness of its values follow the shared
/// clock without drawing the card again.
#[component]
pub fn MachineCard(id: String) -> impl IntoView {
    let live = use_live();
    let slot = {
        let id = id.clone();
        Memo::new(move |_| live.machine(&id))
    };
    let machine = move || slot.get().map(|m| m.get());
    let href = format!("/machines/{id}");
    // The sparkline redraws when its trend moves, not on every scan.
    let spark_tag = Memo::new(move |_| {
        slot.get().and_then(|m| {
            m.with(|m| {
                m.tags
                    .iter()
                    .find(|t| t.key && t.numeric)
                    .map(|t| (t.name.clone(), t.label.clone(), t.unit.clone()))
            })
        })
    });
    let spark = {
        let id = id.clone();
        move || {
            spark_tag.get().map(|(tag, label, unit)| {
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
                machine()
                    .map(|m| {
                        let (word, class) = state_badge(&m);
                        let last = m.last_update_ms();
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
                                        let (quality, ts_ms, stale_after_ms) = (t.quality, t.ts_ms, t.stale_after_ms);
                                        let q = move || quality.at_age(live.now_ms.get() - ts_ms, stale_after_ms);
                                        let shown = t.value.as_ref().map(|v| v.display()).unwrap_or_else(|| "—".into());
                                        view! {
                                            <div class=move || format!("value q-{}", q().label().replace(' ', "-")) data-tag=t.name.clone()>
                                                <dt>{t.label.clone()}</dt>
                                                <dd>
                                                    <span class="num" data-testid="value">{shown}</span>
                                                    <span class="unit">{t.unit.clone()}</span>
                                                    {move || (q() != crate::line::Quality::Good).then(|| view! { <span class="quality">{q().label()}</span> })}
                                                </dd>
                                            </div>
                                        }
                                    })
                                    .collect_view()}
                            </dl>
                            <div class="age" data-testid="age">
                                {move || age_text(last, live.now_ms.get())}
                            </div>
                        }
                    })
            }}
            {spark}
        </a>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_age_says_when_a_machine_was_last_read() {
        assert_eq!(age_text(0, 5_000), "no data yet");
        assert_eq!(age_text(1_000, 4_500), "updated 3 s ago");
        assert_eq!(age_text(1_000, 1_100), "updated just now");
    }
}
