//! Cell quality: the words and views shared by the server and the browser.
//!
//! Stages, verdicts, risk bands and lot tiers are defined once here; the server's
//! domain code and storage reuse them, the pages render them. Pure, no I/O.

use serde::{Deserialize, Serialize};

/// Where in the line an inspection was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub enum Stage {
    /// In-process quality control (electrode, assembly, filling).
    Ipqc,
    /// Final quality control (formation, aging, end-of-line test).
    Fqc,
    /// Outgoing quality control (before shipping).
    Oqc,
}

impl Stage {
    /// Every stage, in line order.
    pub const ALL: [Stage; 3] = [Stage::Ipqc, Stage::Fqc, Stage::Oqc];

    /// The stage's short name as written in files and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Ipqc => "IPQC",
            Stage::Fqc => "FQC",
            Stage::Oqc => "OQC",
        }
    }

    /// Parses `IPQC`, `FQC` or `OQC` (any case).
    pub fn parse(s: &str) -> Option<Stage> {
        Stage::ALL
            .into_iter()
            .find(|st| st.as_str().eq_ignore_ascii_case(s.trim()))
    }
}

/// A measurement against its spec limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Within limits.
    Pass,
    /// Outside a limit.
    Fail,
}

impl Verdict {
    /// Judges `value` against optional lower and upper limits (inclusive).
    pub fn judge(value: f64, lsl: Option<f64>, usl: Option<f64>) -> Verdict {
        let low_ok = lsl.is_none_or(|l| value >= l);
        let high_ok = usl.is_none_or(|u| value <= u);
        if value.is_finite() && low_ok && high_ok {
            Verdict::Pass
        } else {
            Verdict::Fail
        }
    }
}

/// A cell's risk band.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Band {
    /// Score at or above the model's threshold.
    High,
    /// Score below the threshold.
    Low,
}

impl Band {
    /// The band of `score` at `threshold`.
    pub fn of(score: f64, threshold: f64) -> Band {
        if score >= threshold {
            Band::High
        } else {
            Band::Low
        }
    }

    /// What the floor should do with such a cell.
    pub fn recommendation(self) -> &'static str {
        match self {
            Band::High => "short-term testing recommended",
            Band::Low => "safe for all usage",
        }
    }

    /// Lower-case name, as in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Band::High => "high",
            Band::Low => "low",
        }
    }

    /// Parses `high` or `low` (any case).
    pub fn parse(s: &str) -> Option<Band> {
        match s.trim().to_ascii_lowercase().as_str() {
            "high" => Some(Band::High),
            "low" => Some(Band::Low),
            _ => None,
        }
    }
}

/// Where a lot's high-risk share puts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LotTier {
    /// Share at or above the high bound.
    High,
    /// Share between the moderate and the high bound.
    Moderate,
    /// Share below the moderate bound.
    Low,
}

/// The bounds of the lot tiers, as shares of scored cells (configuration: the plant
/// file's `quality.tiers`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TierBounds {
    /// At or above: [`LotTier::High`] (default 0.20).
    pub high: f64,
    /// At or above (and below `high`): [`LotTier::Moderate`] (default 0.10).
    pub moderate: f64,
}

impl Default for TierBounds {
    fn default() -> Self {
        Self {
            high: 0.20,
            moderate: 0.10,
        }
    }
}

impl LotTier {
    /// The tier of a lot with `high` high-risk cells among `scored`; `None` before any
    /// cell of the lot is scored.
    pub fn of(high: u64, scored: u64, bounds: TierBounds) -> Option<LotTier> {
        if scored == 0 {
            return None;
        }
        let share = high as f64 / scored as f64;
        Some(if share >= bounds.high {
            LotTier::High
        } else if share >= bounds.moderate {
            LotTier::Moderate
        } else {
            LotTier::Low
        })
    }

    /// What to do with the lot.
    pub fn recommendation(self) -> &'static str {
        match self {
            LotTier::High => "short-term test recommended only",
            LotTier::Moderate => "moderate risk, further analysis",
            LotTier::Low => "low risk, safe for vehicle installation",
        }
    }

    /// A short label for badges.
    pub fn label(self) -> &'static str {
        match self {
            LotTier::High => "High",
            LotTier::Moderate => "Moderate",
            LotTier::Low => "Low",
        }
    }
}

/// One measurement of an inspection, with its limits and verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MeasurementView {
    /// Catalogue name, e.g. `k_value`.
    pub name: String,
    /// Human label, e.g. `K-value (self-discharge)`.
    pub label: String,
    /// Unit, e.g. `mV/day`.
    pub unit: String,
    /// Measured value.
    pub value: f64,
    /// Lower spec limit.
    pub lsl: Option<f64>,
    /// Upper spec limit.
    pub usl: Option<f64>,
    /// Against the limits.
    pub verdict: Verdict,
}

/// One inspection of a cell.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InspectionView {
    /// Stage.
    pub stage: Stage,
    /// Station (machine or test bench) that made it.
    pub station: String,
    /// When it was made (Unix ms).
    pub ts_ms: i64,
    /// Its measurements.
    pub measurements: Vec<MeasurementView>,
}

/// A machine value recorded when a cell passed a station.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContextValue {
    /// Machine id, e.g. `CAS_01`.
    pub machine: String,
    /// Tag name.
    pub tag: String,
    /// Unit.
    pub unit: String,
    /// Value.
    pub value: f64,
    /// When it was read (Unix ms).
    pub ts_ms: i64,
}

/// Why a score is what it is: one feature's share.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reason {
    /// Catalogue name.
    pub feature: String,
    /// Human label.
    pub label: String,
    /// The cell's value.
    pub value: f64,
    /// Unit.
    pub unit: String,
    /// Signed contribution, positive raising the risk: log-odds `w·z` for the linear
    /// model, the exact Tree SHAP value (score points) for the forest; see
    /// [`ScoreView::explanation`].
    pub contribution: f64,
    /// Whether the value was missing and filled with the training mean.
    pub imputed: bool,
}

/// A stored risk score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoreView {
    /// Estimated probability of a latent defect.
    pub score: f64,
    /// Band at the threshold.
    pub band: Band,
    /// The model's threshold.
    pub threshold: f64,
    /// Model name, e.g. `default-logistic`.
    pub model: String,
    /// Model version (training fingerprint).
    pub model_version: String,
    /// When scored (Unix ms).
    pub scored_ms: i64,
    /// Largest contributions first.
    pub reasons: Vec<Reason>,
    /// What the contributions of every feature start from: the linear model's
    /// intercept (they add up to the logit of the score) or the forest's expected
    /// score on its training cells (they add up to the score). `None` for scores
    /// stored before it was kept.
    #[serde(default)]
    pub base: Option<f64>,
}

/// What a score's reasons measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Explanation {
    /// Linear model: each measurement's `w·z` in log-odds.
    LogOdds,
    /// Tree model: each measurement's exact share of the score along the cell's own
    /// paths through the trees (Tree SHAP), in score points.
    Paths,
    /// A forest score stored before reasons were exact: importance × distance from
    /// the training mean, whose sign only says which side.
    Distance,
}

impl ScoreView {
    /// What the reasons measure, from the model kind and whether a base was kept.
    pub fn explanation(&self) -> Explanation {
        if self.model_version.starts_with("logistic") {
            Explanation::LogOdds
        } else if self.base.is_some() {
            Explanation::Paths
        } else {
            Explanation::Distance
        }
    }

    /// The measurements not among the reasons, together: the model's output (logit
    /// or score) minus the base minus the listed contributions.
    pub fn rest(&self) -> Option<f64> {
        let base = self.base?;
        let output = match self.explanation() {
            Explanation::LogOdds => (self.score / (1.0 - self.score)).ln(),
            Explanation::Paths => self.score,
            Explanation::Distance => return None,
        };
        let rest = output - base - self.reasons.iter().map(|r| r.contribution).sum::<f64>();
        rest.is_finite().then_some(rest)
    }
}

/// A cell in a table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CellSummary {
    /// Serial number.
    pub serial: String,
    /// Production order.
    pub order: String,
    /// Lot.
    pub lot: String,
    /// Product id.
    pub product: String,
    /// First seen (Unix ms).
    pub created_ms: i64,
    /// Last inspection (Unix ms).
    pub updated_ms: i64,
    /// Stages inspected so far.
    pub stages: Vec<Stage>,
    /// Measurements out of spec.
    pub failed: u32,
    /// The short-term test's outcome once known (`true`: failed).
    #[serde(default)]
    pub short_term_failed: Option<bool>,
    /// Score, when the cell has every required feature.
    pub score: Option<f64>,
    /// Band, when scored.
    pub band: Option<Band>,
}

/// Everything about one cell.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CellDetail {
    /// The table row.
    pub summary: CellSummary,
    /// Inspections in line order.
    pub inspections: Vec<InspectionView>,
    /// Machine values when the cell passed each station.
    pub context: Vec<ContextValue>,
    /// The active model's score, if complete.
    pub score: Option<ScoreView>,
    /// Required features still missing (empty once scored).
    pub missing: Vec<String>,
}

/// A lot card.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LotView {
    /// Lot id.
    pub lot: String,
    /// Production order(s) of its cells (usually one).
    pub order: String,
    /// Product id.
    pub product: String,
    /// Cells seen.
    pub cells: u64,
    /// Cells scored.
    pub scored: u64,
    /// Scored cells in the high band.
    pub high: u64,
    /// Tier, once any cell is scored.
    pub tier: Option<LotTier>,
    /// Last activity (Unix ms).
    pub updated_ms: i64,
}

impl LotView {
    /// High-risk share of scored cells.
    pub fn share(&self) -> Option<f64> {
        (self.scored > 0).then(|| self.high as f64 / self.scored as f64)
    }
}

/// The quality overview.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QualityOverview {
    /// Cells seen.
    pub cells: u64,
    /// Cells scored.
    pub scored: u64,
    /// Cells still missing required data.
    pub incomplete: u64,
    /// Scored cells in the high band.
    pub high: u64,
    /// Score histogram: `histogram[i]` counts scores in `[i/10, (i+1)/10)`.
    pub histogram: Vec<u64>,
    /// The active model's threshold.
    pub threshold: Option<f64>,
    /// The active model's name.
    pub model: Option<String>,
    /// High-risk cells awaiting short-term testing, newest first.
    pub high_waiting: Vec<CellSummary>,
    /// Lots, most recent first.
    pub lots: Vec<LotView>,
    /// The tier bounds in force.
    pub tiers: TierBounds,
    /// Whether the active model still fits the line (`None` without a model).
    pub health: Option<ModelHealth>,
    /// Cells being re-scored with the active model after a switch (`None`: every
    /// cell carries the active model's score).
    #[serde(default)]
    pub rescoring: Option<Rescoring>,
}

/// Re-scoring every cell with a newly active model, in batches in the background:
/// until it ends, counts and lot tiers mix the old model's scores and the new one's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rescoring {
    /// The model cells are re-scored with.
    pub model: String,
    /// Cells carrying its score.
    pub done: u64,
    /// Cells in all.
    pub total: u64,
    /// Whether it has ended (every cell carries the model's score).
    pub finished: bool,
}

impl Rescoring {
    /// Whole per cent of cells done, rounded down (100 only when all are).
    pub fn percent(&self) -> u64 {
        if self.total == 0 || self.done >= self.total {
            100
        } else {
            self.done * 100 / self.total
        }
    }

    /// What a page says of it.
    pub fn text(&self) -> String {
        if self.finished {
            format!(
                "Re-scoring finished: all {} cells carry {}'s score.",
                self.total, self.model
            )
        } else {
            format!(
                "Re-scoring with {}: {} % of cells done ({} of {}). Counts and lot tiers \
                 mix the previous model's scores with its own until it finishes.",
                self.model,
                self.percent(),
                self.done,
                self.total
            )
        }
    }
}

/// PSI above which a feature's population counts as shifted.
pub const PSI_WARN: f64 = 0.25;

/// One feature's drift between the model's training data and the newest cells.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureDrift {
    /// Catalogue measurement name.
    pub feature: String,
    /// Its label.
    pub label: String,
    /// Population stability index.
    pub psi: f64,
    /// The largest PSI a stretch of as many consecutive training cells showed (what
    /// a feature that moves by the hour or by lot shows with nothing changed);
    /// `None` for a baseline without it.
    pub usual: Option<f64>,
}

/// How far beyond the largest PSI of the training data's own stretches a feature's
/// PSI must be to count as shifted: a few dozen stretches do not show the largest
/// one the process makes with nothing changed, and a PSI near its ceiling (every
/// cell in one bin, about 8.3) cannot tell more.
pub const USUAL_MARGIN: f64 = 1.5;

impl FeatureDrift {
    /// Above [`PSI_WARN`] and [`USUAL_MARGIN`] times what the training data's own
    /// stretches of as many cells showed.
    pub fn shifted(&self) -> bool {
        self.psi > PSI_WARN && self.usual.is_none_or(|u| self.psi > USUAL_MARGIN * u)
    }
}

/// The active model's figures on the newest cells whose short-term result arrived.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct LivePerformance {
    /// Newest labelled cells looked at at most.
    pub window: u64,
    /// Labelled cells the active model scored, in the window.
    pub labelled: u64,
    /// Of them, failed the short-term test.
    pub defective: u64,
    /// Average precision.
    pub pr_auc: Option<f64>,
    /// Share of the failed ones it flagged high-risk.
    pub recall: Option<f64>,
    /// Share it flagged high-risk.
    pub flag_rate: Option<f64>,
    /// The recall the threshold policy aims at (none for a cost-ratio policy).
    pub recall_target: Option<f64>,
}

/// Failed cells needed before live recall is judged against the target.
pub const MIN_DEFECTIVE_FOR_RECALL: u64 = 10;

impl LivePerformance {
    /// Live recall is below the policy's target, on enough failed cells to say so.
    pub fn recall_low(&self) -> bool {
        match (self.recall, self.recall_target) {
            (Some(r), Some(t)) => self.defective >= MIN_DEFECTIVE_FOR_RECALL && r < t,
            _ => false,
        }
    }
}

/// Does the active model still fit the line?
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelHealth {
    /// The active model.
    pub model: String,
    /// Newest cells compared with the training data at most.
    pub window: u64,
    /// Cells compared (fewer while the line is young).
    pub cells: u64,
    /// Whether the model's artifact has its training distribution (older ones do not).
    pub has_baseline: bool,
    /// Per feature, the worst first.
    pub drift: Vec<FeatureDrift>,
    /// Live figures.
    pub performance: LivePerformance,
    /// When measured (Unix ms).
    pub measured_ms: i64,
}

impl ModelHealth {
    /// Whether the window is full: fewer cells than it holds are too few to call a
    /// population shifted (the PSIs are still shown).
    pub fn judged(&self) -> bool {
        self.cells >= self.window
    }

    /// Features whose population has shifted, the worst first (none before the
    /// window is full).
    pub fn shifted(&self) -> impl Iterator<Item = &FeatureDrift> {
        let judged = self.judged();
        self.drift.iter().filter(move |d| judged && d.shifted())
    }
}

/// Filter and page of the cells table.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CellFilter {
    /// Exact lot.
    pub lot: Option<String>,
    /// Exact production order.
    pub order: Option<String>,
    /// Band (`high`, `low`) or `incomplete`.
    pub band: Option<String>,
    /// Created at or after (Unix ms).
    pub from_ms: Option<i64>,
    /// Created before (Unix ms).
    pub to_ms: Option<i64>,
    /// 0-based page.
    pub page: u32,
    /// Rows per page (capped by the server).
    pub page_size: u32,
}

/// One page of cells.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CellPage {
    /// The rows.
    pub rows: Vec<CellSummary>,
    /// Rows matching the filter.
    pub total: u64,
    /// This page (0-based).
    pub page: u32,
    /// Rows per page.
    pub page_size: u32,
}

/// A figure that is undefined on the held-out lots (e.g. precision when nothing was
/// flagged) travels as JSON `null` and is shown as "—".
fn nan_if_null<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

/// A model's figures on its held-out lots.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ModelMetrics {
    /// Precision–recall AUC (average precision).
    #[serde(deserialize_with = "nan_if_null")]
    pub pr_auc: f64,
    /// ROC AUC.
    #[serde(deserialize_with = "nan_if_null")]
    pub roc_auc: f64,
    /// Brier score.
    #[serde(deserialize_with = "nan_if_null")]
    pub brier: f64,
    /// Share of defective cells in the held-out lots.
    #[serde(deserialize_with = "nan_if_null")]
    pub base_rate: f64,
    /// Operating threshold (chosen on the validation lots).
    #[serde(deserialize_with = "nan_if_null")]
    pub threshold: f64,
    /// Share of defective cells flagged at the threshold.
    #[serde(deserialize_with = "nan_if_null")]
    pub recall: f64,
    /// Share of flagged cells that are defective.
    #[serde(deserialize_with = "nan_if_null")]
    pub precision: f64,
    /// Share of all cells flagged.
    #[serde(deserialize_with = "nan_if_null")]
    pub flag_rate: f64,
    /// Share of good cells flagged (needless tests).
    #[serde(deserialize_with = "nan_if_null")]
    pub producers_risk: f64,
    /// Share of defective cells passed (misses).
    #[serde(deserialize_with = "nan_if_null")]
    pub consumers_risk: f64,
    /// Confusion matrix at the threshold.
    pub confusion: ConfusionView,
    /// Precision–recall curve: (recall, precision).
    pub pr_curve: Vec<(f64, f64)>,
    /// Calibration: (mean predicted, observed rate, cells) per bin.
    pub calibration: Vec<(f64, f64, u64)>,
    /// Held-out cells.
    pub n_test: u64,
}

/// Confusion counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ConfusionView {
    /// Defective and flagged.
    pub tp: u64,
    /// Good but flagged.
    pub fp: u64,
    /// Good and passed.
    pub tn: u64,
    /// Defective but passed.
    #[serde(rename = "fn")]
    pub fn_: u64,
}

/// A trained model as the models page shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelView {
    /// Artifact name, e.g. `default-logistic`.
    pub name: String,
    /// `logistic` or `forest`.
    pub kind: String,
    /// Version (training-data fingerprint).
    pub version: String,
    /// When trained (RFC 3339).
    pub created: String,
    /// Whether it scores cells now.
    pub active: bool,
    /// Features it reads, in order.
    pub features: Vec<String>,
    /// Its held-out figures.
    pub metrics: ModelMetrics,
    /// The model card (Markdown text).
    pub card: String,
    /// Whether its training chose it as the champion (on the validation lots).
    #[serde(default)]
    pub champion: bool,
    /// Why its training chose the champion it did (`None` for artifacts written
    /// before trainings chose one).
    #[serde(default)]
    pub champion_reason: Option<String>,
    /// Fingerprint of its training data: the models of one training share it.
    #[serde(default)]
    pub fingerprint: String,
}

/// The active model's warning when its own training chose another: the champion's
/// name and why, or `None` when the active model is its training's champion (or
/// none is known).
pub fn champion_not_active(models: &[ModelView]) -> Option<(String, String)> {
    let active = models.iter().find(|m| m.active)?;
    if active.champion || active.fingerprint.is_empty() {
        return None;
    }
    models
        .iter()
        .find(|m| m.champion && m.fingerprint == active.fingerprint)
        .map(|c| {
            (
                c.name.clone(),
                c.champion_reason.clone().unwrap_or_default(),
            )
        })
}

/// A recorded switch of the active model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelSwitch {
    /// When (Unix ms).
    pub ts_ms: i64,
    /// Previous active model.
    pub from: String,
    /// New active model.
    pub to: String,
    /// Who switched.
    pub by: String,
}

/// What the models page shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelsView {
    /// Every loadable model.
    pub models: Vec<ModelView>,
    /// Models that failed to load, with the reason.
    pub broken: Vec<(String, String)>,
    /// Switches of the active model, newest first.
    pub switches: Vec<ModelSwitch>,
    /// Whether the active model still fits the line.
    pub health: Option<ModelHealth>,
    /// Cells being re-scored with the active model, or the last re-scoring since
    /// start (`None`: none since start).
    #[serde(default)]
    pub rescoring: Option<Rescoring>,
}

/// Result of an import (or of its preview).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct ImportReport {
    /// Whether anything was written.
    pub committed: bool,
    /// Rows (cells) read.
    pub rows: u64,
    /// Cells new to the database.
    pub new_cells: u64,
    /// Inspections written (or that would be).
    pub inspections: u64,
    /// Inspections already present (same key), left alone.
    pub duplicates: u64,
    /// Lots in the file.
    pub lots: Vec<String>,
    /// The first rows, for the preview: serial, lot, order, measurements present.
    pub preview: Vec<(String, String, String, u32)>,
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A score of `version` with one ACIR reason per contribution.
    pub(crate) fn scored(
        version: &str,
        score: f64,
        base: Option<f64>,
        contributions: &[f64],
    ) -> ScoreView {
        ScoreView {
            score,
            band: Band::of(score, 0.5),
            threshold: 0.5,
            model: "m".into(),
            model_version: version.into(),
            scored_ms: 0,
            reasons: contributions
                .iter()
                .map(|&c| Reason {
                    feature: "acir".into(),
                    label: "ACIR".into(),
                    value: 1.0,
                    unit: "mΩ".into(),
                    contribution: c,
                    imputed: false,
                })
                .collect(),
            base,
        }
    }

    fn model(name: &str, fingerprint: &str, active: bool, champion: bool) -> ModelView {
        ModelView {
            name: name.into(),
            kind: "logistic".into(),
            version: String::new(),
            created: String::new(),
            active,
            features: Vec::new(),
            metrics: ModelMetrics::default(),
            card: String::new(),
            champion,
            champion_reason: Some(format!("{name} won")),
            fingerprint: fingerprint.into(),
        }
    }

    #[test]
    fn the_page_warns_only_when_the_active_models_own_training_chose_another() {
        let models = [
            model("a-logistic", "f1", true, false),
            model("a-forest", "f1", false, true),
            model("b-forest", "f2", false, true),
        ];
        assert_eq!(
            champion_not_active(&models),
            Some(("a-forest".into(), "a-forest won".into()))
        );
        let models = [
            model("a-logistic", "f1", true, true),
            model("b-forest", "f2", false, true),
        ];
        assert_eq!(champion_not_active(&models), None);
        // Another training's champion is no reason to warn.
        let models = [
            model("a-logistic", "f1", true, false),
            model("b-forest", "f2", false, true),
        ];
        assert_eq!(champion_not_active(&models), None);
        assert_eq!(champion_not_active(&[model("x", "f1", false, false)]), None);
    }

    #[test]
    fn re_scoring_says_how_far_it_is_and_never_rounds_up_to_done() {
        let r = Rescoring {
            model: "forest".into(),
            done: 999,
            total: 1000,
            finished: false,
        };
        assert_eq!(r.percent(), 99);
        assert!(
            r.text()
                .starts_with("Re-scoring with forest: 99 % of cells done (999 of 1000).")
        );
        let r = Rescoring { done: 410, ..r };
        assert_eq!(r.percent(), 41);
        let done = Rescoring {
            done: 1000,
            finished: true,
            ..r
        };
        assert_eq!(done.percent(), 100);
        assert_eq!(
            done.text(),
            "Re-scoring finished: all 1000 cells carry forest's score."
        );
    }

    #[test]
    fn the_reasons_not_listed_make_up_the_rest_of_the_output() {
        let forest = scored("forest-abc", 0.30, Some(0.05), &[0.2, -0.01]);
        assert_eq!(forest.explanation(), Explanation::Paths);
        assert!((forest.rest().expect("a rest") - 0.06).abs() < 1e-12);
        // logit(0.5) = 0: intercept −2 + 1.5 listed leaves 0.5 for the others.
        let linear = scored("logistic-abc", 0.5, Some(-2.0), &[1.5]);
        assert_eq!(linear.explanation(), Explanation::LogOdds);
        assert!((linear.rest().expect("a rest") - 0.5).abs() < 1e-12);
        let old = scored("forest-abc", 0.3, None, &[0.2]);
        assert_eq!(old.explanation(), Explanation::Distance);
        assert_eq!(old.rest(), None);
        assert_eq!(scored("logistic-abc", 1.0, Some(0.0), &[]).rest(), None);
    }

    #[test]
    fn verdict_limits_are_inclusive_and_optional() {
        assert_eq!(Verdict::judge(1.0, Some(1.0), Some(2.0)), Verdict::Pass);
        assert_eq!(Verdict::judge(2.0, Some(1.0), Some(2.0)), Verdict::Pass);
        assert_eq!(Verdict::judge(0.99, Some(1.0), None), Verdict::Fail);
        assert_eq!(Verdict::judge(1e9, Some(1.0), None), Verdict::Pass);
        assert_eq!(Verdict::judge(f64::NAN, None, None), Verdict::Fail);
    }

    #[test]
    fn lot_tiers_follow_the_bounds() {
        let b = TierBounds::default();
        assert_eq!(LotTier::of(0, 0, b), None);
        assert_eq!(LotTier::of(20, 100, b), Some(LotTier::High));
        assert_eq!(LotTier::of(19, 100, b), Some(LotTier::Moderate));
        assert_eq!(LotTier::of(10, 100, b), Some(LotTier::Moderate));
        assert_eq!(LotTier::of(9, 100, b), Some(LotTier::Low));
    }

    #[test]
    fn undefined_metrics_survive_the_wire() {
        let m = ModelMetrics {
            precision: f64::NAN,
            ..Default::default()
        };
        let text = serde_json::to_string(&m).expect("serialises");
        assert!(text.contains("\"precision\":null"));
        let back: ModelMetrics = serde_json::from_str(&text).expect("reads null back");
        assert!(back.precision.is_nan());
    }

    #[test]
    fn band_and_stage_round_trip() {
        assert_eq!(Band::of(0.5, 0.5), Band::High);
        assert_eq!(Band::of(0.49, 0.5), Band::Low);
        assert_eq!(Band::parse(" HIGH"), Some(Band::High));
        assert_eq!(Stage::parse("fqc"), Some(Stage::Fqc));
        assert_eq!(Stage::parse("EOL"), None);
        assert_eq!(
            serde_json::to_string(&Stage::Oqc).ok().as_deref(),
            Some("\"OQC\"")
        );
    }
}
