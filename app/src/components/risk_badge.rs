//! Badges that say a risk in a word and a colour (never a colour alone): a cell's
//! band, a lot's tier, a measurement's verdict.

use leptos::prelude::*;

use crate::quality::{Band, LotTier, Verdict};

/// Word and CSS class of a cell's band; a cell without a score is incomplete.
pub fn band_word(band: Option<Band>) -> (&'static str, &'static str) {
    match band {
        Some(Band::High) => ("HIGH", "risk-high"),
        Some(Band::Low) => ("LOW", "risk-low"),
        None => ("INCOMPLETE", "risk-none"),
    }
}

/// Word and CSS class of a lot's tier; a lot without scored cells is not rated.
pub fn tier_word(tier: Option<LotTier>) -> (&'static str, &'static str) {
    match tier {
        Some(LotTier::High) => (LotTier::High.label(), "risk-high"),
        Some(LotTier::Moderate) => (LotTier::Moderate.label(), "risk-moderate"),
        Some(LotTier::Low) => (LotTier::Low.label(), "risk-low"),
        None => ("Not rated", "risk-none"),
    }
}

/// A cell's band as a badge.
#[component]
pub fn BandBadge(band: Option<Band>) -> impl IntoView {
    let (word, class) = band_word(band);
    view! { <span class=format!("badge {class}") data-testid="band">{word}</span> }
}

/// A lot's tier as a badge.
#[component]
pub fn TierBadge(tier: Option<LotTier>) -> impl IntoView {
    let (word, class) = tier_word(tier);
    view! { <span class=format!("badge {class}") data-testid="tier">{word}</span> }
}

/// A measurement's verdict: a fail is a word and a mark, not only red.
#[component]
pub fn VerdictBadge(verdict: Verdict) -> impl IntoView {
    match verdict {
        Verdict::Pass => view! { <span class="verdict verdict-pass">"PASS"</span> }.into_any(),
        Verdict::Fail => view! { <span class="verdict verdict-fail">"✖ FAIL"</span> }.into_any(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_band_and_tier_has_a_word() {
        assert_eq!(band_word(Some(Band::High)).0, "HIGH");
        assert_eq!(band_word(None).0, "INCOMPLETE");
        assert_eq!(
            tier_word(Some(LotTier::Moderate)),
            ("Moderate", "risk-moderate")
        );
        assert_eq!(tier_word(None).1, "risk-none");
    }
}
