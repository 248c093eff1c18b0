//! `/cells/:serial`: one cell: what to do with it (the recommendation of its risk
//! band), why (the measurements that drove the score), every measurement by stage
//! against its limits, and the machine values at each station it passed.
//!
//! The page is server HTML; everything under the back link is a live region,
//! rendered again by the server whenever the line inspects or scores this cell (an
//! unknown serial shows the cell as soon as it is seen).

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

use crate::api::get_cell;
use crate::components::live_region::{LiveRegion, RegionTrigger};
use crate::components::reason_bars::{ReasonBars, signed};
use crate::components::risk_badge::VerdictBadge;
use crate::error::ServiceError;
use crate::fmt::format_number;
use crate::fmt::{encode_query_value, format_score, format_time};
use crate::quality::{
    Band, CellDetail, ContextValue, Explanation, InspectionView, MeasurementView, ScoreView, Stage,
    Verdict,
};

/// Contributions shown in the reasons list.
const TOP_REASONS: usize = 8;

/// `"High risk — short-term testing recommended"`.
pub fn recommendation_text(band: Band) -> String {
    let word = match band {
        Band::High => "High risk",
        Band::Low => "Low risk",
    };
    format!("{word} — {}", band.recommendation())
}

/// Spec limits as text: `19.6 – 20.4`, `≥ 0.5`, `≤ 300`, `—`.
pub fn limits_text(lsl: Option<f64>, usl: Option<f64>) -> String {
    match (lsl, usl) {
        (Some(l), Some(u)) => format!("{} – {}", format_number(l), format_number(u)),
        (Some(l), None) => format!("≥ {}", format_number(l)),
        (None, Some(u)) => format!("≤ {}", format_number(u)),
        (None, None) => "—".into(),
    }
}

fn stage_title(stage: Stage) -> &'static str {
    match stage {
        Stage::Ipqc => "IPQC · in-process (electrode, assembly, filling)",
        Stage::Fqc => "FQC · final (formation, aging, end-of-line)",
        Stage::Oqc => "OQC · outgoing",
    }
}

/// The cell page: the serial is read here, on the server; the cell as first loaded
/// arrives in the island's props.
#[component]
pub fn CellDetailPage() -> impl IntoView {
    let serial = use_params_map().with_untracked(|p| p.get("serial").unwrap_or_default());
    let cell = {
        let serial = serial.clone();
        Resource::new(|| (), move |_| get_cell(serial.clone()))
    };
    view! {
        <Title text=format!("{serial} · CellGuard")/>
        <section class="detail cell-detail">
            <a href="/cells" class="back">"← Cells"</a>
            <Suspense fallback=|| view! { <p class="loading">"Loading the cell…"</p> }>
                {move || {
                    let serial = serial.clone();
                    cell.get().map(move |initial| view! { <CellLive serial=serial initial=initial/> })
                }}
            </Suspense>
        </section>
    }
}

/// The cell, live: the server renders it, and the page fetches it again (at most
/// once a second) when the line inspects or scores this serial.
#[component]
fn CellLive(serial: String, initial: Result<Option<CellDetail>, ServiceError>) -> impl IntoView {
    let trigger = RegionTrigger::Cell {
        serial: serial.clone(),
        every_ms: 1_000,
    };
    view! {
        <LiveRegion id="cell".to_string() trigger=trigger>
            {match initial {
                Ok(Some(d)) => view! { <CellView d=d/> }.into_any(),
                Ok(None) => view! {
                    <div class="notice" role="alert" data-testid="unknown-cell">
                        <h1>"Unknown cell"</h1>
                        <p>{format!("No cell has the serial “{serial}”.")}</p>
                        <a href="/cells" class="button">"Search the cells table"</a>
                    </div>
                }
                .into_any(),
                Err(e) => view! {
                    <p class="error" role="alert">{format!("The cell is not available: {e}")}</p>
                }
                .into_any(),
            }}
        </LiveRegion>
    }
}

#[component]
fn CellView(d: CellDetail) -> impl IntoView {
    let s = d.summary;
    let lot_href = format!("/cells?lot={}", encode_query_value(&s.lot));
    view! {
        <div class="detail-head">
            <div>
                <h1 data-testid="serial">{s.serial.clone()}</h1>
                <div class="cell-ids">
                    <span>"Lot " <a href=lot_href>{s.lot.clone()}</a></span>
                    <span>{format!("Order {}", s.order)}</span>
                    <span>{format!("Product {}", s.product)}</span>
                </div>
                <div class="age">{format!("first seen {} · last inspection {}", format_time(s.created_ms), format_time(s.updated_ms))}</div>
            </div>
        </div>
        {s.short_term_failed.map(|failed| view! {
            <p class=if failed { "test-result test-failed" } else { "test-result test-passed" } data-testid="short-term">
                {if failed {
                    "Short-term test done: FAILED — the cell is defective, whatever its score."
                } else {
                    "Short-term test done: passed."
                }}
            </p>
        })}
        {match d.score {
            Some(score) => view! { <Recommendation score=score/> }.into_any(),
            None => view! { <Incomplete missing=d.missing/> }.into_any(),
        }}
        <h2>"Measurements"</h2>
        {Stage::ALL
            .into_iter()
            .map(|stage| {
                let inspections: Vec<InspectionView> =
                    d.inspections.iter().filter(|i| i.stage == stage).cloned().collect();
                view! { <StageSection stage=stage inspections=inspections/> }
            })
            .collect_view()}
        <MachineContext values=d.context/>
    }
}

#[component]
fn Recommendation(score: ScoreView) -> impl IntoView {
    let class = match score.band {
        Band::High => "recommendation risk-high",
        Band::Low => "recommendation risk-low",
    };
    let word = match score.band {
        Band::High => "HIGH RISK",
        Band::Low => "LOW RISK",
    };
    let reasons: Vec<_> = score.reasons.iter().take(TOP_REASONS).cloned().collect();
    let explanation = score.explanation();
    let note = reasons_note(&score);
    let base = score.base.map(|b| b.to_string());
    let rest = score.rest().map(|r| r.to_string());
    view! {
        <div class=class role="status" data-testid="recommendation" data-band=score.band.as_str()>
            <div class="rec-word">{word}</div>
            <div class="rec-text">{recommendation_text(score.band)}</div>
            <div class="rec-figures">
                <span>"Score " <strong data-testid="score">{format_score(score.score)}</strong></span>
                <span>"Threshold " <strong>{format_score(score.threshold)}</strong></span>
            </div>
        </div>
        <p class="muted model-line">
            {format!("Model {} · version {} · scored {}", score.model, score.model_version, format_time(score.scored_ms))}
        </p>
        <section
            class="panel"
            aria-labelledby="reasons-title"
            data-testid="reasons"
            data-explanation=explanation_name(explanation)
            data-base=base
            data-rest=rest
        >
            <h2 id="reasons-title">{reasons_title(explanation)}</h2>
            <ReasonBars reasons=reasons effects=explanation != Explanation::Distance/>
            <p class="muted reasons-note">{note}</p>
        </section>
    }
}

fn explanation_name(e: Explanation) -> &'static str {
    match e {
        Explanation::LogOdds => "log-odds",
        Explanation::Paths => "paths",
        Explanation::Distance => "distance",
    }
}

/// The reasons panel's heading.
pub fn reasons_title(e: Explanation) -> &'static str {
    match e {
        Explanation::LogOdds => "Why: the measurements that moved the score most",
        Explanation::Paths => "Why: each measurement's share of this score",
        Explanation::Distance => "Why: important measurements furthest from usual",
    }
}

/// What the bars measure and what they add up to, under the reasons.
pub fn reasons_note(score: &ScoreView) -> String {
    let listed: f64 = score.reasons.iter().map(|r| r.contribution).sum();
    match (score.explanation(), score.base, score.rest()) {
        (Explanation::Paths, Some(base), Some(rest)) => format!(
            "Exact shares along this cell's own paths through the trees (Tree SHAP), in \
             score points: a typical training cell scores {}; the measurements listed add \
             {}, the others {}, making {}.",
            format_score(base),
            signed(listed),
            signed(rest),
            format_score(score.score),
        ),
        (Explanation::LogOdds, Some(base), Some(rest)) => format!(
            "In log-odds (w × standardised value): a cell at the training means starts at \
             {}; the measurements listed add {}, the others {}.",
            signed(base),
            signed(listed),
            signed(rest),
        ),
        (Explanation::LogOdds, _, _) => {
            "In log-odds (w × standardised value), from a cell at the training means.".into()
        }
        _ => "Scored before reasons came from the cell's own paths: importance × distance \
              from the training mean, whose sign only says which side of usual."
            .into(),
    }
}

#[component]
fn Incomplete(missing: Vec<String>) -> impl IntoView {
    let text = if missing.is_empty() {
        "Incomplete — not scored yet.".to_owned()
    } else {
        format!("Incomplete — missing: {}", missing.join(", "))
    };
    view! {
        <div class="recommendation risk-none" role="status" data-testid="recommendation" data-band="incomplete">
            <div class="rec-word">"NOT SCORED"</div>
            <div class="rec-text">{text}</div>
            <div class="rec-figures">"A score needs every required in-process and final measurement."</div>
        </div>
    }
}

#[component]
fn StageSection(stage: Stage, inspections: Vec<InspectionView>) -> impl IntoView {
    let fails: usize = inspections
        .iter()
        .flat_map(|i| &i.measurements)
        .filter(|m| m.verdict == Verdict::Fail)
        .count();
    view! {
        <section class="panel stage" data-testid="stage" data-stage=stage.as_str()>
            <h3>
                {stage_title(stage)}
                {(fails > 0).then(|| view! { <span class="verdict verdict-fail">{format!("✖ {fails} out of spec")}</span> })}
            </h3>
            {if inspections.is_empty() {
                view! { <p class="empty">{format!("No {} inspection yet.", stage.as_str())}</p> }.into_any()
            } else {
                inspections.into_iter().map(|i| view! { <Inspection i=i/> }).collect_view().into_any()
            }}
        </section>
    }
}

#[component]
fn Inspection(i: InspectionView) -> impl IntoView {
    view! {
        <div class="inspection">
            <div class="muted">{format!("{} · {}", i.station, format_time(i.ts_ms))}</div>
            <table class="measurements">
                <thead>
                    <tr>
                        <th scope="col">"Measurement"</th>
                        <th scope="col" class="col-num">"Value"</th>
                        <th scope="col">"Limits"</th>
                        <th scope="col">"Verdict"</th>
                    </tr>
                </thead>
                <tbody>
                    {i.measurements.into_iter().map(|m| view! { <MeasurementRow m=m/> }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}

#[component]
fn MeasurementRow(m: MeasurementView) -> impl IntoView {
    let class = match m.verdict {
        Verdict::Pass => "pass",
        Verdict::Fail => "fail",
    };
    view! {
        <tr class=class data-measurement=m.name.clone()>
            <th scope="row">{m.label.clone()}</th>
            <td class="col-num"><span class="num-sm">{format_number(m.value)}</span> " " <span class="unit">{m.unit.clone()}</span></td>
            <td>{limits_text(m.lsl, m.usl)} " " <span class="unit">{m.unit.clone()}</span></td>
            <td><VerdictBadge verdict=m.verdict/></td>
        </tr>
    }
}

#[component]
fn MachineContext(values: Vec<ContextValue>) -> impl IntoView {
    view! {
        <section class="panel" aria-labelledby="context-title">
            <h2 id="context-title">"Machine values when the cell passed each station"</h2>
            {if values.is_empty() {
                view! { <p class="empty">"No machine values were recorded for this cell."</p> }.into_any()
            } else {
                view! {
                    <table class="context">
                        <thead>
                            <tr>
                                <th scope="col">"Machine"</th>
                                <th scope="col">"Tag"</th>
                                <th scope="col" class="col-num">"Value"</th>
                                <th scope="col">"Time"</th>
                            </tr>
                        </thead>
                        <tbody>
                            {values.into_iter().map(|v| view! {
                                <tr>
                                    <td><a href=format!("/machines/{}", encode_query_value(&v.machine))>{v.machine.clone()}</a></td>
                                    <td>{v.tag.clone()}</td>
                                    <td class="col-num">{format_number(v.value)} " " <span class="unit">{v.unit.clone()}</span></td>
                                    <td>{format_time(v.ts_ms)}</td>
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
    fn the_recommendation_says_band_and_action() {
        assert_eq!(
            recommendation_text(Band::High),
            "High risk — short-term testing recommended"
        );
        assert_eq!(
            recommendation_text(Band::Low),
            "Low risk — safe for all usage"
        );
    }

    #[test]
    fn limits_read_as_ranges_or_bounds() {
        assert_eq!(limits_text(Some(19.6), Some(20.4)), "19.60 – 20.40");
        assert_eq!(limits_text(Some(0.5), None), "≥ 0.500");
        assert_eq!(limits_text(None, Some(300.0)), "≤ 300.0");
        assert_eq!(limits_text(None, None), "—");
    }

    #[test]
    fn the_reasons_note_says_what_the_bars_add_up_to() {
        let mut s =
            crate::quality::tests::scored("forest-0123456789ab", 0.31, Some(0.05), &[0.2, 0.05]);
        assert_eq!(
            reasons_note(&s),
            "Exact shares along this cell's own paths through the trees (Tree SHAP), in score \
             points: a typical training cell scores 0.050; the measurements listed add +0.250, \
             the others +0.010, making 0.310."
        );
        assert_eq!(
            reasons_title(s.explanation()),
            "Why: each measurement's share of this score"
        );
        s.base = None;
        assert!(reasons_note(&s).starts_with("Scored before reasons came from"));
        s.model_version = "logistic-0123456789ab".into();
        assert!(reasons_note(&s).starts_with("In log-odds"));
    }
}
