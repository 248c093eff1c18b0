//! `/models`: every trained risk model with its held-out figures and curves, a
//! side-by-side comparison of two, making one active (with a confirmation), the
//! history of switches and the models that failed to load.
//!
//! The page is rendered on the server: cards, figures, curves and history ship no
//! code. Two things are islands: the "Make active" control of each card (inside
//! [`PromoteScope`], which shares one promote action between them and shows its
//! error) and the comparison's two pickers with their table ([`CompareTable`]).
//! A model made active reloads the page, so every part shows the new state.

use leptos::prelude::*;
use leptos_meta::Title;
use serde::{Deserialize, Serialize};

use crate::api::{PromoteModel, get_models};
use crate::auth::Permission;
use crate::components::live_region::{LiveRegion, RegionTrigger};
use crate::components::model_health::HealthPanel;
use crate::components::risk_chart::{calibration_svg, pr_curve_svg};
use crate::fmt::{format_score, format_share, format_time};
use crate::quality::{
    ConfusionView, ModelMetrics, ModelSwitch, ModelView, ModelsView, Rescoring, champion_not_active,
};
use crate::session::can;

/// Which way a metric is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Better {
    /// Larger is better.
    Higher,
    /// Smaller is better.
    Lower,
    /// A property of the data or a choice, not a quality.
    Neither,
}

/// How a metric is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shown {
    Ratio,
    Share,
    Count,
}

/// One row of the metrics table.
pub struct MetricRow {
    /// Label.
    pub label: &'static str,
    /// What it means, in a few words.
    pub hint: &'static str,
    /// Which way is better.
    pub better: Better,
    get: fn(&ModelMetrics) -> f64,
    shown: Shown,
}

impl MetricRow {
    /// The metric's value for `m`.
    pub fn value(&self, m: &ModelMetrics) -> f64 {
        (self.get)(m)
    }
    /// The metric's value for `m` as text.
    pub fn text(&self, m: &ModelMetrics) -> String {
        let v = self.value(m);
        match self.shown {
            Shown::Ratio => format_score(v),
            Shown::Share => format_share(Some(v)),
            Shown::Count => format!("{v:.0}"),
        }
    }
}

/// The metrics the models page shows, in order.
pub const METRICS: &[MetricRow] = &[
    MetricRow {
        label: "PR AUC",
        hint: "precision–recall area; what matters for rare defects",
        better: Better::Higher,
        get: |m| m.pr_auc,
        shown: Shown::Ratio,
    },
    MetricRow {
        label: "ROC AUC",
        hint: "ranking of defective above good cells",
        better: Better::Higher,
        get: |m| m.roc_auc,
        shown: Shown::Ratio,
    },
    MetricRow {
        label: "Brier score",
        hint: "error of the probabilities",
        better: Better::Lower,
        get: |m| m.brier,
        shown: Shown::Ratio,
    },
    MetricRow {
        label: "Base rate",
        hint: "defective share of the test lots",
        better: Better::Neither,
        get: |m| m.base_rate,
        shown: Shown::Share,
    },
    MetricRow {
        label: "Threshold",
        hint: "score at or above which a cell is high risk",
        better: Better::Neither,
        get: |m| m.threshold,
        shown: Shown::Ratio,
    },
    MetricRow {
        label: "Recall",
        hint: "defective cells caught",
        better: Better::Higher,
        get: |m| m.recall,
        shown: Shown::Share,
    },
    MetricRow {
        label: "Precision",
        hint: "flagged cells that are defective",
        better: Better::Higher,
        get: |m| m.precision,
        shown: Shown::Share,
    },
    MetricRow {
        label: "Flag rate",
        hint: "cells sent to short-term testing",
        better: Better::Neither,
        get: |m| m.flag_rate,
        shown: Shown::Share,
    },
    MetricRow {
        label: "Producer's risk",
        hint: "good cells flagged (needless tests)",
        better: Better::Lower,
        get: |m| m.producers_risk,
        shown: Shown::Share,
    },
    MetricRow {
        label: "Consumer's risk",
        hint: "defective cells passed (misses)",
        better: Better::Lower,
        get: |m| m.consumers_risk,
        shown: Shown::Share,
    },
    MetricRow {
        label: "Test cells",
        hint: "held-out cells behind these figures",
        better: Better::Neither,
        get: |m| m.n_test as f64,
        shown: Shown::Count,
    },
];

/// Which of two values is better: `Some(0)` for `a`, `Some(1)` for `b`, `None` for a
/// tie, a metric without a direction, or a value that is not a number.
pub fn better_of(better: Better, a: f64, b: f64) -> Option<usize> {
    if !(a.is_finite() && b.is_finite()) || a == b {
        return None;
    }
    match better {
        Better::Higher => Some(if a > b { 0 } else { 1 }),
        Better::Lower => Some(if a < b { 0 } else { 1 }),
        Better::Neither => None,
    }
}

/// The models page (server only).
#[component]
pub fn ModelsPage() -> impl IntoView {
    let models = Resource::new(|| (), |_| get_models());
    view! {
        <Title text="Models · CellGuard"/>
        <section class="models-page" aria-labelledby="models-title">
            <h1 id="models-title">"Risk models"</h1>
            <Suspense fallback=|| view! { <p class="loading">"Loading models…"</p> }>
                {move || {
                    models.get().map(|r| match r {
                        Ok(v) => view! {
                            {v.rescoring.clone().map(|r| view! { <RescoringNotice r=r/> })}
                            <PromoteScope><Models v=v/></PromoteScope>
                        }.into_any(),
                        Err(e) => view! {
                            <p class="error" role="alert">{format!("Models are not available: {e}")}</p>
                        }.into_any(),
                    })
                }}
            </Suspense>
        </section>
    }
}

/// How far re-scoring after the last promotion is, refreshed as cells are scored.
#[component]
fn RescoringNotice(r: Rescoring) -> impl IntoView {
    let trigger = RegionTrigger::AnyCell { every_ms: 1_000 };
    view! {
        <LiveRegion id="rescoring".to_string() trigger=trigger>
            <p class=if r.finished { "muted" } else { "notice" } role="status" data-testid="rescoring">
                {r.text()}
            </p>
        </LiveRegion>
    }
}

/// A promote action that reloads the page once a model has been made active: the
/// server then renders the new active model, notice and history.
fn promote_action() -> ServerAction<PromoteModel> {
    let promote = ServerAction::<PromoteModel>::new();
    Effect::new(move || {
        if matches!(promote.value().get(), Some(Ok(()))) {
            crate::nav::reload();
        }
    });
    promote
}

/// One promote action for every card's control (a switch in flight disables them
/// all), and its error above the models. The children are server HTML.
#[island(lazy)]
fn PromoteScope(children: Children) -> impl IntoView {
    let promote = promote_action();
    provide_context(promote);
    view! {
        {move || promote.value().get().and_then(|r| r.err()).map(|e| view! {
            <p class="error" role="alert">{format!("The model was not made active: {e}")}</p>
        })}
        {children()}
    }
}

#[component]
fn Models(v: ModelsView) -> impl IntoView {
    let has_active = v.models.iter().any(|m| m.active);
    let active_metrics = v
        .models
        .iter()
        .find(|m| m.active)
        .map(|m| m.metrics.clone());
    let compare: Vec<CompareModel> = v.models.iter().map(CompareModel::of).collect();
    let not_champion = champion_not_active(&v.models).map(|(champion, reason)| {
        let active = v
            .models
            .iter()
            .find(|m| m.active)
            .map(|m| m.name.clone())
            .unwrap_or_default();
        format!(
            "{active} is active, but the training that made it chose {champion}: {reason}. \
             Compare the two below before making it active."
        )
    });
    view! {
        {not_champion.map(|text| view! {
            <p class="notice" role="status" data-testid="champion-warning">{text}</p>
        })}
        {(!has_active && !v.models.is_empty()).then(|| view! {
            <p class="notice" role="status">"No model is active: cells are not scored until one is made active."</p>
        })}
        {v.health.map(|h| view! { <HealthPanel health=h test=active_metrics/> })}
        {if v.models.is_empty() {
            view! { <p class="empty">"No trained model is installed. Train one with “cellguard train”."</p> }.into_any()
        } else {
            view! {
                <div class="model-cards">
                    {v.models.into_iter().map(|m| view! { <ModelCard m=m/> }).collect_view()}
                </div>
            }.into_any()
        }}
        {(compare.len() >= 2).then(|| view! {
            <section class="panel" aria-labelledby="compare-title">
                <h2 id="compare-title">"Compare two models"</h2>
                <CompareTable models=compare/>
            </section>
        })}
        <Switches switches=v.switches/>
        {(!v.broken.is_empty()).then(|| view! {
            <section class="panel" aria-labelledby="broken-title" data-testid="broken-models">
                <h2 id="broken-title">"Models that could not be loaded"</h2>
                <ul class="broken">
                    {v.broken.into_iter().map(|(name, reason)| view! {
                        <li><strong>{name}</strong> ": " {reason}</li>
                    }).collect_view()}
                </ul>
            </section>
        })}
    }
}

#[component]
fn ModelCard(m: ModelView) -> impl IntoView {
    let met = &m.metrics;
    let pr = pr_curve_svg(
        &met.pr_curve,
        met.base_rate,
        Some((met.recall, met.precision)),
        (440, 330),
    );
    let cal = calibration_svg(&met.calibration, (440, 330));
    let action = if m.active {
        view! { <span class="badge risk-low" data-testid="active">"ACTIVE"</span> }.into_any()
    } else if can(Permission::PromoteModels) {
        view! { <PromoteControl name=m.name.clone()/> }.into_any()
    } else {
        ().into_any()
    };
    view! {
        <article class={if m.active { "panel model-card active" } else { "panel model-card" }} data-testid="model-card" data-model=m.name.clone()>
            <div class="card-head">
                <div>
                    <h2>{m.name.clone()}</h2>
                    <div class="muted">{format!("{} · version {} · trained {}", m.kind, m.version, m.created)}</div>
                    {m.champion.then(|| view! {
                        <span class="badge champion" data-testid="champion">"CHAMPION"</span>
                    })}
                </div>
                <div class="model-action">{action}</div>
            </div>
            <div class="model-body">
                <MetricsTable m=m.metrics.clone()/>
                <Confusion c=m.metrics.confusion/>
            </div>
            <div class="model-charts">
                <figure class="chart">
                    <figcaption><span class="chart-title">"Precision–recall"</span></figcaption>
                    <div class="chart-svg" inner_html=pr></div>
                </figure>
                <figure class="chart">
                    <figcaption><span class="chart-title">"Calibration"</span></figcaption>
                    <div class="chart-svg" inner_html=cal></div>
                </figure>
            </div>
            <p class="muted">{format!("Reads {} features.", m.features.len())}</p>
            {m.champion_reason.clone().map(|reason| view! {
                <p class="muted" data-testid="champion-reason">
                    {if m.champion {
                        format!("Champion of its training: {reason}.")
                    } else {
                        format!("Not its training's champion, which won on {reason}.")
                    }}
                </p>
            })}
        </article>
    }
}

/// "Make active" on a card that is not the active model, with its confirmation.
/// Rendered only for a role that may promote; the server checks again.
#[island(lazy)]
fn PromoteControl(name: String) -> impl IntoView {
    // The scope's action; one of its own should the card ever stand outside it.
    let promote = use_context::<ServerAction<PromoteModel>>().unwrap_or_else(promote_action);
    let confirming = RwSignal::new(false);
    let name = StoredValue::new(name);
    let pending = promote.pending();
    move || {
        if confirming.get() {
            view! {
                <div class="confirm" role="alertdialog" aria-label="Confirm model switch">
                    <p>{format!("Make {} the active model? Every cell is then scored again with it, in the background.", name.get_value())}</p>
                    <button class="button primary" disabled=move || pending.get() on:click=move |_| {
                        confirming.set(false);
                        promote.dispatch(PromoteModel { name: name.get_value() });
                    }>"Yes, make active"</button>
                    <button class="button" on:click=move |_| confirming.set(false)>"Cancel"</button>
                </div>
            }
            .into_any()
        } else {
            view! {
                <button class="button" disabled=move || pending.get() on:click=move |_| confirming.set(true)>
                    "Make active"
                </button>
            }
            .into_any()
        }
    }
}

#[component]
fn MetricsTable(m: ModelMetrics) -> impl IntoView {
    view! {
        <table class="metrics">
            <tbody>
                {METRICS.iter().map(|row| view! {
                    <tr>
                        <th scope="row">{row.label}<span class="hint">{row.hint}</span></th>
                        <td class="col-num">{row.text(&m)}</td>
                    </tr>
                }).collect_view()}
            </tbody>
        </table>
    }
}

#[component]
fn Confusion(c: ConfusionView) -> impl IntoView {
    view! {
        <div class="confusion" role="table" aria-label="Confusion matrix at the threshold">
            <div role="row" class="cm-row">
                <div role="columnheader" class="cm-corner">"At the threshold"</div>
                <div role="columnheader">"Defective"</div>
                <div role="columnheader">"Good"</div>
            </div>
            <div role="row" class="cm-row">
                <div role="rowheader">"Flagged high"</div>
                <div role="cell" class="cm-ok"><strong>{c.tp}</strong> "caught"</div>
                <div role="cell" class="cm-bad"><strong>{c.fp}</strong> "needless tests"</div>
            </div>
            <div role="row" class="cm-row">
                <div role="rowheader">"Passed low"</div>
                <div role="cell" class="cm-bad"><strong>{c.fn_}</strong> "missed"</div>
                <div role="cell" class="cm-ok"><strong>{c.tn}</strong> "correctly passed"</div>
            </div>
        </div>
    }
}

/// What the comparison needs of a model: its name and each metric of [`METRICS`],
/// in order, as a value (`None` when not a number) and as text. Worked out on the
/// server, so the island carries neither the curves nor the formatting.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompareModel {
    /// The model's name.
    pub name: String,
    /// One `(value, text)` per row of [`METRICS`].
    pub figures: Vec<(Option<f64>, String)>,
}

impl CompareModel {
    /// The comparison's figures of `m`.
    pub fn of(m: &ModelView) -> Self {
        Self {
            name: m.name.clone(),
            figures: METRICS
                .iter()
                .map(|row| {
                    let v = row.value(&m.metrics);
                    (v.is_finite().then_some(v), row.text(&m.metrics))
                })
                .collect(),
        }
    }
}

/// The two pickers and the side-by-side table of the models they name.
#[island(lazy)]
fn CompareTable(models: Vec<CompareModel>) -> impl IntoView {
    let names: Vec<String> = models.iter().map(|m| m.name.clone()).collect();
    let models = StoredValue::new(models);
    let a = RwSignal::new(names.first().cloned().unwrap_or_default());
    let b = RwSignal::new(names.get(1).cloned().unwrap_or_default());
    let picker = move |label: &'static str, sel: RwSignal<String>| {
        let names = names.clone();
        view! {
            <label>{label}
                <select on:change=move |ev| sel.set(event_target_value(&ev))>
                    {names.into_iter().map(|n| {
                        let selected = sel.get_untracked() == n;
                        view! { <option value=n.clone() selected=selected>{n.clone()}</option> }
                    }).collect_view()}
                </select>
            </label>
        }
    };
    let table = move || {
        let (na, nb) = (a.get(), b.get());
        models.with_value(|ms| {
            let ma = ms.iter().find(|m| m.name == na)?.clone();
            let mb = ms.iter().find(|m| m.name == nb)?.clone();
            Some(view! {
                <table class="compare" data-testid="compare">
                    <thead>
                        <tr>
                            <th scope="col">"Metric"</th>
                            <th scope="col" class="col-num">{ma.name.clone()}</th>
                            <th scope="col" class="col-num">{mb.name.clone()}</th>
                        </tr>
                    </thead>
                    <tbody>
                        {METRICS.iter().zip(ma.figures).zip(mb.figures).map(|((row, (va, ta)), (vb, tb))| {
                            let win = better_of(row.better, va.unwrap_or(f64::NAN), vb.unwrap_or(f64::NAN));
                            let cell = |i: usize, text: String| {
                                let best = win == Some(i);
                                view! {
                                    <td class={if best { "col-num better" } else { "col-num" }}>
                                        {text} {best.then(|| view! { <span class="better-mark">" ✔ better"</span> })}
                                    </td>
                                }
                            };
                            view! {
                                <tr>
                                    <th scope="row">{row.label}</th>
                                    {cell(0, ta)}
                                    {cell(1, tb)}
                                </tr>
                            }
                        }).collect_view()}
                    </tbody>
                </table>
            })
        })
    };
    view! {
        <div class="filters">
            {picker("First", a)}
            {picker("Second", b)}
        </div>
        {table}
    }
}

#[component]
fn Switches(switches: Vec<ModelSwitch>) -> impl IntoView {
    view! {
        <section class="panel" aria-labelledby="switches-title">
            <h2 id="switches-title">"Active model history"</h2>
            {if switches.is_empty() {
                view! { <p class="empty">"The active model has not been switched yet."</p> }.into_any()
            } else {
                view! {
                    <table class="switches">
                        <thead><tr><th scope="col">"When"</th><th scope="col">"From → to"</th><th scope="col">"By"</th></tr></thead>
                        <tbody>
                            {switches.into_iter().map(|s| view! {
                                <tr>
                                    <td>{format_time(s.ts_ms)}</td>
                                    <td>{format!("{} → {}", if s.from.is_empty() { "none" } else { &s.from }, s.to)}</td>
                                    <td>{s.by}</td>
                                </tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any()
            }}
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_better_model_depends_on_the_metric() {
        assert_eq!(better_of(Better::Higher, 0.6, 0.5), Some(0));
        assert_eq!(better_of(Better::Lower, 0.06, 0.05), Some(1));
        assert_eq!(better_of(Better::Neither, 0.1, 0.2), None);
        assert_eq!(better_of(Better::Higher, 0.5, 0.5), None);
        assert_eq!(better_of(Better::Higher, f64::NAN, 0.5), None);
    }

    #[test]
    fn metrics_are_written_as_ratios_shares_or_counts() {
        let m = ModelMetrics {
            pr_auc: 0.62,
            recall: 0.578,
            n_test: 2865,
            ..ModelMetrics::default()
        };
        let text = |label: &str| {
            METRICS
                .iter()
                .find(|r| r.label == label)
                .map(|r| r.text(&m))
        };
        assert_eq!(text("PR AUC").as_deref(), Some("0.620"));
        assert_eq!(text("Recall").as_deref(), Some("58 %"));
        assert_eq!(text("Test cells").as_deref(), Some("2865"));
        assert_eq!(METRICS.len(), 11);
    }

    #[test]
    fn the_comparison_gets_every_figure_and_survives_its_props() {
        let m = ModelView {
            name: "default-forest".into(),
            kind: "forest".into(),
            version: "v1".into(),
            created: "2026-06-01T00:00:00Z".into(),
            active: false,
            features: Vec::new(),
            metrics: ModelMetrics {
                pr_auc: 0.62,
                brier: f64::NAN,
                ..ModelMetrics::default()
            },
            card: String::new(),
            champion: true,
            champion_reason: None,
            fingerprint: String::new(),
        };
        let c = CompareModel::of(&m);
        assert_eq!(c.figures.len(), METRICS.len());
        assert_eq!(c.figures[0], (Some(0.62), "0.620".to_owned()));
        assert_eq!(c.figures[2].0, None, "not a number is no value");
        // An island's props travel as JSON: a NaN would not come back.
        let json = serde_json::to_string(&c).expect("serializes");
        assert_eq!(serde_json::from_str::<CompareModel>(&json).ok(), Some(c));
    }
}
