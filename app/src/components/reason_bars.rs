//! Why a cell scored as it did: one signed horizontal bar per measurement, risk-
//! raising contributions to the right, risk-lowering ones to the left, each with its
//! number and a word, and imputed values marked.

use leptos::prelude::*;

use crate::fmt::format_number;
use crate::quality::Reason;

/// Bar length as a percentage of one half of the track (the largest |c| fills it).
pub fn bar_percent(contribution: f64, largest: f64) -> f64 {
    if !(contribution.is_finite() && largest.is_finite() && largest > 0.0) {
        return 0.0;
    }
    (contribution.abs() / largest * 100.0).clamp(0.0, 100.0)
}

/// `+0.82` / `−0.31`, with a real minus sign.
pub fn signed(v: f64) -> String {
    if !v.is_finite() {
        return "—".into();
    }
    let s = format_number(v.abs());
    if v < 0.0 {
        format!("−{s}")
    } else {
        format!("+{s}")
    }
}

/// The reasons list.
#[component]
pub fn ReasonBars(
    reasons: Vec<Reason>,
    /// Whether contributions are signed effects on the risk (log-odds or Tree SHAP)
    /// or only distances from usual (forest scores stored before exact reasons).
    #[prop(default = true)]
    effects: bool,
) -> impl IntoView {
    if reasons.is_empty() {
        return view! { <p class="empty">"The model gave no reasons for this score."</p> }
            .into_any();
    }
    let largest = reasons
        .iter()
        .map(|r| r.contribution.abs())
        .filter(|c| c.is_finite())
        .fold(0.0, f64::max);
    view! {
        <ol class="reasons">
            {reasons
                .into_iter()
                .map(|r| {
                    let pct = bar_percent(r.contribution, largest);
                    let raises = r.contribution > 0.0;
                    let (side, effect) = match (raises, effects) {
                        (true, true) => ("up", "raises risk"),
                        (false, true) => ("down", "lowers risk"),
                        (true, false) => ("up", "above usual"),
                        (false, false) => ("down", "below usual"),
                    };
                    view! {
                        <li class=format!("reason reason-{side}") data-feature=r.feature.clone()>
                            <div class="reason-text">
                                <span class="reason-label">{r.label.clone()}</span>
                                <span class="reason-value">
                                    {format_number(r.value)} " " {r.unit.clone()}
                                    {r.imputed.then(|| view! {
                                        <span class="imputed" title="Missing; filled with the training mean">"imputed"</span>
                                    })}
                                </span>
                            </div>
                            <div class="reason-track" aria-hidden="true">
                                <div class="reason-bar" style=format!("width: {:.1}%", pct / 2.0)></div>
                            </div>
                            <div class="reason-effect">
                                <strong>{signed(r.contribution)}</strong>
                                " " {effect}
                            </div>
                        </li>
                    }
                })
                .collect_view()}
        </ol>
    }
    .into_any()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_scale_to_the_largest_contribution() {
        assert_eq!(bar_percent(2.0, 4.0), 50.0);
        assert_eq!(bar_percent(-4.0, 4.0), 100.0);
        assert_eq!(bar_percent(1.0, 0.0), 0.0);
        assert_eq!(bar_percent(f64::NAN, 1.0), 0.0);
    }

    #[test]
    fn contributions_carry_their_sign() {
        assert_eq!(signed(0.823), "+0.823");
        assert_eq!(signed(-1.5), "−1.50");
        assert_eq!(signed(f64::INFINITY), "—");
    }
}
