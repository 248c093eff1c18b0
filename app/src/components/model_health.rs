//! Does the active model still fit the line? A warning for the quality overview and
//! the full account for the models page: each feature's drift (PSI between the
//! training data and the newest cells, the worst first) and the live figures on
//! the cells whose short-term result has arrived, beside the test figures.
//! Server-rendered; no code of its own in the browser.

use leptos::prelude::*;

use crate::fmt::{format_score, format_share, format_time};
use crate::quality::{
    FeatureDrift, MIN_DEFECTIVE_FOR_RECALL, ModelHealth, ModelMetrics, PSI_WARN, USUAL_MARGIN,
};

/// PSI below which a feature reads as stable.
const PSI_STABLE: f64 = 0.1;

/// How a feature's drift reads.
pub fn psi_reading(d: &FeatureDrift) -> (&'static str, &'static str) {
    if d.shifted() {
        ("shifted", "risk-high")
    } else if d.psi >= PSI_STABLE && d.usual.is_some_and(|u| d.psi <= USUAL_MARGIN * u) {
        ("as in training", "risk-low")
    } else if d.psi >= PSI_STABLE {
        ("moderate shift", "risk-moderate")
    } else {
        ("stable", "risk-low")
    }
}

/// What the warning says, or `None` when the model fits (pure).
pub fn warning_text(h: &ModelHealth) -> Vec<String> {
    let mut out = Vec::new();
    let shifted: Vec<String> = h
        .shifted()
        .take(3)
        .map(|d| format!("{} (PSI {:.2})", d.label, d.psi))
        .collect();
    if !shifted.is_empty() {
        let more = h.shifted().count().saturating_sub(3);
        out.push(format!(
            "The line has moved from {}'s training data: {}{} over the newest {} cells.",
            h.model,
            shifted.join(", "),
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            },
            h.cells
        ));
    }
    let p = &h.performance;
    if p.recall_low() {
        out.push(format!(
            "Live recall is {} of the {} cells that failed the short-term test, below the target {}.",
            format_share(p.recall),
            p.defective,
            format_share(p.recall_target)
        ));
    }
    out
}

/// The warning on the quality overview: nothing when the model fits.
#[component]
pub fn HealthWarning(health: Option<ModelHealth>) -> impl IntoView {
    let lines = health.as_ref().map(warning_text).unwrap_or_default();
    (!lines.is_empty()).then(|| {
        view! {
            <div class="notice" role="status" data-testid="drift-warning">
                {lines.into_iter().map(|l| view! { <p>{l}</p> }).collect_view()}
                <a href="/models#model-health">"What moved, on the models page"</a>
            </div>
        }
    })
}

/// The models page's account of the active model's fit; `test` is its model
/// card's held-out figures.
#[component]
pub fn HealthPanel(health: ModelHealth, test: Option<ModelMetrics>) -> impl IntoView {
    let p = health.performance;
    let drift = if !health.has_baseline {
        view! {
            <p class="muted">"This model's artifact has no training distribution (trained before drift was measured): retrain it to see drift."</p>
        }
        .into_any()
    } else if health.cells == 0 {
        view! { <p class="muted">"No cells yet to compare with the training data."</p> }.into_any()
    } else {
        view! {
            <table class="cells-table" data-testid="drift-table">
                <thead><tr>
                    <th>"Measurement"</th><th>"PSI"</th>
                    <th>{format!("Largest in {} training cells in a row", health.cells)}</th>
                    <th>"Reading"</th>
                </tr></thead>
                <tbody>
                    {health.drift.iter().map(|d| {
                        let (reading, class) = psi_reading(d);
                        view! {
                            <tr data-feature=d.feature.clone() data-shifted=d.shifted().to_string()>
                                <td>{d.label.clone()}</td>
                                <td class="num-sm" data-testid="psi">{format!("{:.3}", d.psi)}</td>
                                <td class="num-sm">{d.usual.map(|u| format!("{u:.3}")).unwrap_or_else(|| "—".into())}</td>
                                <td><span class=format!("badge {class}")>{reading}</span></td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        }
        .into_any()
    };
    let test_share = |f: fn(&ModelMetrics) -> f64| {
        test.as_ref()
            .map(|m| format_share(Some(f(m))))
            .unwrap_or_else(|| "—".into())
    };
    let test_ratio = |f: fn(&ModelMetrics) -> f64| {
        test.as_ref()
            .map(|m| format_score(f(m)))
            .unwrap_or_else(|| "—".into())
    };
    let judged = if p.defective < MIN_DEFECTIVE_FOR_RECALL {
        format!(
            "Recall is judged against the target from {MIN_DEFECTIVE_FOR_RECALL} failed cells on ({} so far).",
            p.defective
        )
    } else {
        String::new()
    };
    view! {
        <section class="panel" id="model-health" aria-labelledby="health-title" data-testid="model-health">
            <h2 id="health-title">{format!("Does {} still fit the line?", health.model)}</h2>
            {warning_text(&health).into_iter().map(|l| view! { <p class="notice" role="status">{l}</p> }).collect_view()}
            <h3>"Drift: the newest cells against the training data"</h3>
            <p class="muted">{format!(
                "Population stability index per measurement over the newest {} of {} cells, beside the largest one that as many training cells in a row showed (a measurement that moves by the hour or by lot shows a large one with nothing changed); shifted: above {PSI_WARN} and {USUAL_MARGIN} times that. Worst first; measured {}.{}",
                health.cells, health.window, format_time(health.measured_ms),
                if health.judged() { "" } else { " No shift is called before the window is full." }
            )}</p>
            {drift}
            <h3>"Live performance"</h3>
            <p class="muted">{format!(
                "On the newest {} of at most {} cells whose short-term result has arrived ({} failed), at the active threshold. Meaningful when the tested cells are not chosen by their score.",
                p.labelled, p.window, p.defective
            )}</p>
            <table class="cells-table" data-testid="live-performance">
                <thead><tr><th>""</th><th>"Live"</th><th>"Test lots (model card)"</th></tr></thead>
                <tbody>
                    <tr><td>"PR AUC"</td><td class="num-sm" data-testid="live-pr-auc">{p.pr_auc.map(format_score).unwrap_or_else(|| "—".into())}</td><td class="num-sm">{test_ratio(|m| m.pr_auc)}</td></tr>
                    <tr><td>{format!("Recall (target {})", format_share(p.recall_target))}</td><td class="num-sm" data-testid="live-recall">{format_share(p.recall)}{p.recall_low().then(|| view! { " " <span class="badge risk-high">"below target"</span> })}</td><td class="num-sm">{test_share(|m| m.recall)}</td></tr>
                    <tr><td>"Flag rate"</td><td class="num-sm" data-testid="live-flag-rate">{format_share(p.flag_rate)}</td><td class="num-sm">{test_share(|m| m.flag_rate)}</td></tr>
                </tbody>
            </table>
            {(!judged.is_empty()).then(|| view! { <p class="muted">{judged}</p> })}
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quality::LivePerformance;

    fn health(psis: &[f64], recall: Option<f64>, defective: u64) -> ModelHealth {
        ModelHealth {
            model: "m".into(),
            window: 500,
            cells: 500,
            has_baseline: true,
            drift: psis
                .iter()
                .enumerate()
                .map(|(i, &psi)| FeatureDrift {
                    feature: format!("f{i}"),
                    label: format!("F{i}"),
                    psi,
                    usual: None,
                })
                .collect(),
            performance: LivePerformance {
                window: 500,
                labelled: 100,
                defective,
                pr_auc: Some(0.5),
                recall,
                flag_rate: Some(0.2),
                recall_target: Some(0.8),
            },
            measured_ms: 1,
        }
    }

    #[test]
    fn a_fitting_model_warns_of_nothing() {
        assert!(warning_text(&health(&[0.2, 0.05], Some(0.9), 30)).is_empty());
        assert!(
            warning_text(&health(&[], Some(0.1), 3)).is_empty(),
            "too few failed cells"
        );
        let mut young = health(&[0.9], Some(0.9), 30);
        young.cells = 499;
        assert!(
            warning_text(&young).is_empty(),
            "the window is not full yet"
        );
    }

    #[test]
    fn the_warning_names_the_shifted_features_and_a_low_recall() {
        let w = warning_text(&health(&[0.9, 0.6, 0.5, 0.3, 0.1], Some(0.5), 20));
        assert_eq!(w.len(), 2);
        assert!(
            w[0].contains(
                "F0 (PSI 0.90), F1 (PSI 0.60), F2 (PSI 0.50) and 1 more over the newest 500 cells"
            ),
            "{}",
            w[0]
        );
        assert!(w[1].contains("20 cells"), "{}", w[1]);
        let d = |psi, usual| FeatureDrift {
            feature: "x".into(),
            label: "X".into(),
            psi,
            usual,
        };
        assert_eq!(psi_reading(&d(0.3, None)).0, "shifted");
        assert_eq!(psi_reading(&d(0.5, Some(0.2))).0, "shifted");
        assert_eq!(psi_reading(&d(0.3, Some(0.5))).0, "as in training");
        assert_eq!(psi_reading(&d(0.7, Some(0.5))).0, "as in training");
        assert_eq!(psi_reading(&d(0.25, None)).0, "moderate shift");
        assert_eq!(psi_reading(&d(0.05, None)).0, "stable");
    }
}
