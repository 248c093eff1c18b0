//! Training the risk models on labelled cells, and writing their artifacts.
//!
//! - Features: every catalogue measurement present in the labelled data; required
//!   ones (in-process and final inspections) must be present for a row to be used,
//!   optional ones (outgoing inspection) are imputed with the training mean.
//! - Split by lot, never by row: cells of one lot share materials and machine
//!   state, so a random row split would leak. Lots are ordered by a seeded hash and
//!   about 20 % go to validation (threshold choice) and 20 % to test (reported
//!   metrics); the rest train.
//! - Two models from the same rows: a standardised logistic regression and a
//!   random forest regressor on 0/1 labels (see [`super::model`]).
//! - Deterministic: the same records, seed and options give the same models,
//!   threshold and metrics (only the timings differ).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Instant;

use serde::Serialize;
use sha2::{Digest, Sha256};
use smartcore::ensemble::random_forest_regressor::RandomForestRegressorParameters;
use smartcore::linalg::basic::arrays::Array;
use smartcore::linalg::basic::matrix::DenseMatrix;
use smartcore::linear::logistic_regression::{LogisticRegression, LogisticRegressionParameters};

use super::drift::Baseline;
use super::metrics::{self, ThresholdPolicy};
use super::model::{FeatureSpec, Forest, Kind, Model};
use crate::quality::{CATALOGUE, CellRecord};
use crate::util::hex;

/// Fewest lots a dataset must span: at least three to train, one to validate, one to test.
pub const MIN_LOTS: usize = 5;
/// Points kept of each curve in `metrics.json`.
pub const CURVE_POINTS: usize = 200;
/// Bins of the calibration curve.
pub const CALIBRATION_BINS: usize = 10;

/// Forest settings. Shallow trees and large leaves keep artifacts at a few MB.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ForestOptions {
    /// Trees in all.
    pub n_trees: usize,
    /// Trees fitted per smartcore call (progress is reported between calls).
    pub chunk: usize,
    /// Deepest level of a tree.
    pub max_depth: u16,
    /// Fewest training rows in a leaf.
    pub min_samples_leaf: usize,
    /// Features tried per split (default: √features).
    pub m: Option<usize>,
}

impl Default for ForestOptions {
    fn default() -> Self {
        Self {
            n_trees: 100,
            chunk: 10,
            max_depth: 10,
            min_samples_leaf: 20,
            m: None,
        }
    }
}

/// Training settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrainOptions {
    /// Seed of the lot split and the forest.
    pub seed: u64,
    /// How the threshold is chosen on the validation lots.
    pub policy: ThresholdPolicy,
    /// Share of lots held out for choosing the threshold.
    pub validation_share: f64,
    /// Share of lots held out for the reported metrics.
    pub test_share: f64,
    /// L2 penalty of the logistic regression (on the summed log loss).
    pub logistic_alpha: f64,
    /// Forest settings.
    pub forest: ForestOptions,
}

impl TrainOptions {
    /// Defaults with this seed and threshold policy.
    pub fn new(seed: u64, policy: ThresholdPolicy) -> Self {
        Self {
            seed,
            policy,
            validation_share: 0.2,
            test_share: 0.2,
            logistic_alpha: 1.0,
            forest: ForestOptions::default(),
        }
    }
}

/// Why training failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TrainError {
    /// No labelled row has any measurement.
    #[error("no labelled cells with measurements: nothing to train on")]
    NoFeatures,
    /// Too few lots for a lot split.
    #[error(
        "the data spans {found} lot(s) with usable labelled cells; at least {needed} are needed"
    )]
    TooFewLots {
        /// Lots found.
        found: usize,
        /// Lots needed.
        needed: usize,
    },
    /// A split has no defective (or no good) cells.
    #[error("the {split} lots have no {what} cells; add lots or change the seed")]
    OneClass {
        /// `train`, `validation` or `test`.
        split: &'static str,
        /// `defective` or `good`.
        what: &'static str,
    },
    /// smartcore refused the data.
    #[error("fitting the {kind} model failed: {reason}")]
    Fit {
        /// Which model.
        kind: Kind,
        /// smartcore's message.
        reason: String,
    },
    /// The fitted model scores nonsense (non-finite scores).
    #[error("the {kind} model produced no usable scores on the validation lots")]
    Scores {
        /// Which model.
        kind: Kind,
    },
}

/// Lots per split.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Split {
    /// Lots the models learn from.
    pub train: Vec<String>,
    /// Lots the threshold is chosen on.
    pub validation: Vec<String>,
    /// Lots the reported metrics come from.
    pub test: Vec<String>,
}

/// The confusion matrix at the chosen threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ConfusionCounts {
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

/// One calibration bin.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CalibrationPoint {
    /// Lower score edge.
    pub lo: f64,
    /// Upper score edge.
    pub hi: f64,
    /// Cells in the bin.
    pub count: u64,
    /// Mean score in the bin.
    pub mean_score: f64,
    /// Share defective in the bin.
    pub observed_rate: f64,
}

/// A point of the precision–recall curve.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PrPoint {
    /// Share of defective cells flagged.
    pub recall: f64,
    /// Share of flagged cells that are defective.
    pub precision: f64,
}

/// A point of the ROC curve.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RocPoint {
    /// Share of good cells flagged.
    pub fpr: f64,
    /// Share of defective cells flagged.
    pub tpr: f64,
}

/// Held-out metrics of one model: the content of `metrics.json`. Threshold-free
/// figures and the confusion matrix come from the test lots; the threshold from the
/// validation lots. `None` (JSON `null`) where a figure is undefined.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Metrics {
    /// Precision–recall AUC (average precision).
    pub pr_auc: Option<f64>,
    /// ROC AUC.
    pub roc_auc: Option<f64>,
    /// Brier score.
    pub brier: Option<f64>,
    /// Share of defective test cells.
    pub base_rate: Option<f64>,
    /// Operating threshold.
    pub threshold: f64,
    /// Recall at the threshold.
    pub recall: Option<f64>,
    /// Flag rate at the threshold.
    pub flag_rate: Option<f64>,
    /// Share of good cells flagged.
    pub producers_risk: Option<f64>,
    /// Share of defective cells passed.
    pub consumers_risk: Option<f64>,
    /// Precision at the threshold.
    pub precision: Option<f64>,
    /// Recall when at most 10 % of cells may be flagged.
    pub recall_at_10pct_flag_rate: Option<f64>,
    /// Counts at the threshold.
    pub confusion: ConfusionCounts,
    /// Calibration curve (empty bins left out).
    pub calibration: Vec<CalibrationPoint>,
    /// Precision–recall curve, at most [`CURVE_POINTS`] points.
    pub pr_curve: Vec<PrPoint>,
    /// ROC curve, at most [`CURVE_POINTS`] points.
    pub roc_curve: Vec<RocPoint>,
    /// Training rows.
    pub n_train: usize,
    /// Validation rows.
    pub n_val: usize,
    /// Test rows.
    pub n_test: usize,
    /// Training lots.
    pub lots_train: usize,
    /// Validation lots.
    pub lots_val: usize,
    /// Test lots.
    pub lots_test: usize,
    /// Wall time of fitting this model.
    pub training_seconds: f64,
    /// PR AUC on the validation lots: what the champion is chosen by.
    pub val_pr_auc: Option<f64>,
    /// Brier score on the validation lots: breaks a tie in PR AUC.
    pub val_brier: Option<f64>,
}

/// A trained model and its held-out metrics.
#[derive(Debug)]
pub struct TrainedModel {
    /// The model (unnamed until written).
    pub model: Model,
    /// Its metrics.
    pub metrics: Metrics,
}

/// Everything training produced.
#[derive(Debug)]
pub struct TrainOutcome {
    /// SHA-256 over the records (see [`fingerprint`]).
    pub fingerprint: String,
    /// Options used.
    pub options: TrainOptions,
    /// Lots per split.
    pub split: Split,
    /// Records given.
    pub rows: usize,
    /// Rows without a label.
    pub skipped_unlabelled: usize,
    /// Labelled rows missing a required measurement.
    pub skipped_missing_required: usize,
    /// The standardised logistic regression.
    pub logistic: TrainedModel,
    /// The random forest.
    pub forest: TrainedModel,
    /// The data file, when trained from one (recorded in the model card).
    pub source: Option<PathBuf>,
    /// The training rows' distribution of each feature (for drift).
    pub baseline: Baseline,
}

impl TrainOutcome {
    /// Both models, logistic first.
    pub fn models(&self) -> [&TrainedModel; 2] {
        [&self.logistic, &self.forest]
    }

    /// The champion of this training (see [`champion`]) and why it won.
    pub fn champion(&self) -> Champion {
        let candidates: Vec<Candidate> = self
            .models()
            .iter()
            .map(|t| Candidate {
                kind: t.model.kind(),
                pr_auc: t.metrics.val_pr_auc,
                brier: t.metrics.val_brier,
            })
            .collect();
        champion(&candidates)
    }
}

/// Validation PR AUCs closer than this are a tie (the pages show three decimals),
/// broken by the lower validation Brier score.
pub const CHAMPION_TIE: f64 = 0.001;

/// One model's validation figures, as the champion is chosen from them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Candidate {
    /// Its kind.
    pub kind: Kind,
    /// PR AUC on the validation lots.
    pub pr_auc: Option<f64>,
    /// Brier score on the validation lots.
    pub brier: Option<f64>,
}

/// The model a training recommends, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Champion {
    /// The winner's kind.
    pub kind: Kind,
    /// Why it won, in the figures of every candidate.
    pub reason: String,
}

/// The champion among `candidates` (at least one): the highest PR AUC on the
/// validation lots, a tie within [`CHAMPION_TIE`] going to the lower Brier score,
/// then to the first. The test lots play no part: they stay a fair estimate of the
/// winner. A figure that could not be computed ranks below any that could.
pub fn champion(candidates: &[Candidate]) -> Champion {
    let key = |v: Option<f64>| v.filter(|v| v.is_finite());
    let mut best = 0;
    for (i, c) in candidates.iter().enumerate().skip(1) {
        let b = &candidates[best];
        let better = match (key(c.pr_auc), key(b.pr_auc)) {
            (Some(x), Some(y)) if (x - y).abs() < CHAMPION_TIE => {
                match (key(c.brier), key(b.brier)) {
                    (Some(x), Some(y)) => x < y,
                    (Some(_), None) => true,
                    _ => false,
                }
            }
            (Some(x), Some(y)) => x > y,
            (Some(_), None) => true,
            _ => false,
        };
        if better {
            best = i;
        }
    }
    let winner = candidates.get(best).copied().unwrap_or(Candidate {
        kind: Kind::Logistic,
        pr_auc: None,
        brier: None,
    });
    let figures = |f: fn(&Candidate) -> Option<f64>, digits: usize| {
        candidates
            .iter()
            .map(|c| {
                let v = key(f(c)).map_or_else(|| "n/a".to_owned(), |v| format!("{v:.digits$}"));
                format!("{} {v}", c.kind)
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    let tied = candidates.iter().enumerate().any(|(i, c)| {
        i != best
            && matches!((key(c.pr_auc), key(winner.pr_auc)),
                (Some(x), Some(y)) if (x - y).abs() < CHAMPION_TIE)
    });
    let reason = if candidates.len() < 2 {
        "the only model trained".to_owned()
    } else if tied {
        format!(
            "PR AUC on the validation lots tied within {CHAMPION_TIE} ({}); the lower Brier \
             score won ({})",
            figures(|c| c.pr_auc, 3),
            figures(|c| c.brier, 4)
        )
    } else {
        format!(
            "the highest PR AUC on the validation lots ({})",
            figures(|c| c.pr_auc, 3)
        )
    };
    Champion {
        kind: winner.kind,
        reason,
    }
}

/// A deterministic digest of records: SHA-256 over the catalogue's column names and
/// every field of every record, each length-prefixed, floats by their bit pattern.
/// The same cells give the same fingerprint whether they came from CSV or .xlsx.
pub fn fingerprint(records: &[CellRecord]) -> String {
    fn text(h: &mut Sha256, s: &str) {
        h.update((s.len() as u64).to_le_bytes());
        h.update(s.as_bytes());
    }
    let mut h = Sha256::new();
    text(&mut h, "cellguard-records-v1");
    h.update((CATALOGUE.len() as u64).to_le_bytes());
    for d in CATALOGUE {
        text(&mut h, d.name);
    }
    h.update((records.len() as u64).to_le_bytes());
    for r in records {
        for s in [&r.serial, &r.lot, &r.order, &r.product] {
            text(&mut h, s);
        }
        match r.produced_ms {
            Some(t) => {
                h.update([1]);
                h.update(t.to_le_bytes());
            }
            None => h.update([0]),
        }
        h.update((r.values.len() as u64).to_le_bytes());
        for v in &r.values {
            match v {
                Some(v) => {
                    h.update([1]);
                    h.update(v.to_bits().to_le_bytes());
                }
                None => h.update([0]),
            }
        }
        h.update([match r.label {
            None => 0,
            Some(false) => 1,
            Some(true) => 2,
        }]);
    }
    hex(&h.finalize())
}

/// Splits lots: ordered by SHA-256 of (seed as 8 little-endian bytes, lot name), the
/// first `test_share` go to test, the next `validation_share` to validation (each at
/// least one lot), the rest to training. Each list comes back sorted by name.
pub fn split_lots<'a>(
    lots: impl IntoIterator<Item = &'a str>,
    seed: u64,
    validation_share: f64,
    test_share: f64,
) -> Result<Split, TrainError> {
    let unique: BTreeSet<&str> = lots.into_iter().collect();
    let n = unique.len();
    if n < MIN_LOTS {
        return Err(TrainError::TooFewLots {
            found: n,
            needed: MIN_LOTS,
        });
    }
    let mut keyed: Vec<([u8; 32], &str)> = unique
        .into_iter()
        .map(|lot| {
            let mut h = Sha256::new();
            h.update(seed.to_le_bytes());
            h.update(lot.as_bytes());
            (h.finalize().into(), lot)
        })
        .collect();
    keyed.sort_unstable();
    let count = |share: f64| ((n as f64 * share).round() as usize).max(1);
    let n_test = count(test_share);
    let n_val = count(validation_share).min(n - n_test - 1);
    let take = |range: std::ops::Range<usize>| {
        let mut v: Vec<String> = keyed[range].iter().map(|(_, l)| (*l).to_owned()).collect();
        v.sort_unstable();
        v
    };
    Ok(Split {
        test: take(0..n_test),
        validation: take(n_test..n_test + n_val),
        train: take(n_test + n_val..n),
    })
}

/// Rows of one split: raw values (optional ones imputed) and labels.
struct Rows {
    x: Vec<Vec<f64>>,
    y: Vec<bool>,
}

impl Rows {
    fn check(&self, split: &'static str) -> Result<(), TrainError> {
        if !self.y.iter().any(|&l| l) {
            return Err(TrainError::OneClass {
                split,
                what: "defective",
            });
        }
        if self.y.iter().all(|&l| l) {
            return Err(TrainError::OneClass {
                split,
                what: "good",
            });
        }
        Ok(())
    }
}

fn matrix(rows: &[Vec<f64>], f: impl Fn(usize, f64) -> f64) -> Result<DenseMatrix<f64>, String> {
    let m = rows.first().map_or(0, Vec::len);
    let flat: Vec<f64> = rows
        .iter()
        .flat_map(|r| r.iter().enumerate().map(|(j, &v)| f(j, v)))
        .collect();
    DenseMatrix::new(rows.len(), m, flat, false).map_err(|e| e.to_string())
}

fn fit_logistic(
    features: &[FeatureSpec],
    train: &Rows,
    alpha: f64,
    fingerprint: &str,
) -> Result<Model, TrainError> {
    let fail = |reason: String| TrainError::Fit {
        kind: Kind::Logistic,
        reason,
    };
    let x = matrix(&train.x, |j, v| (v - features[j].mean) / features[j].std).map_err(fail)?;
    let y: Vec<u32> = train.y.iter().map(|&l| u32::from(l)).collect();
    let params = LogisticRegressionParameters::default().with_alpha(alpha);
    let lr = LogisticRegression::fit(&x, &y, params).map_err(|e| fail(e.to_string()))?;
    if lr.classes().as_slice() != [0, 1] {
        return Err(fail(format!("unexpected classes {:?}", lr.classes())));
    }
    let coef = lr.coefficients();
    let weights: Vec<f64> = (0..features.len()).map(|j| *coef.get((0, j))).collect();
    let intercept = *lr.intercept().get((0, 0));
    Model::logistic(features.to_vec(), intercept, weights, 0.5, fingerprint).map_err(fail)
}

fn fit_forest(
    features: &[FeatureSpec],
    train: &Rows,
    opts: &TrainOptions,
    fingerprint: &str,
    progress: &dyn Fn(&str, u64, u64),
) -> Result<Model, TrainError> {
    let fail = |reason: String| TrainError::Fit {
        kind: Kind::Forest,
        reason,
    };
    let fo = opts.forest;
    let x = matrix(&train.x, |_, v| v).map_err(fail)?;
    let y: Vec<f64> = train.y.iter().map(|&l| f64::from(u8::from(l))).collect();
    let total = fo.n_trees.max(1);
    let chunk = fo.chunk.clamp(1, total);
    let mut chunks: Vec<Forest> = Vec::new();
    let mut importances = vec![0.0; features.len()];
    let mut done = 0;
    progress("forest trees", 0, total as u64);
    while done < total {
        let n = chunk.min(total - done);
        // smartcore seeds tree t of a call with seed + t: offset each call by the
        // trees before it so that no two trees share a seed.
        let mut p = RandomForestRegressorParameters::default()
            .with_n_trees(n)
            .with_max_depth(fo.max_depth)
            .with_min_samples_leaf(fo.min_samples_leaf)
            .with_seed(opts.seed.wrapping_mul(1_000_003).wrapping_add(done as u64));
        if let Some(m) = fo.m {
            p = p.with_m(m.clamp(1, features.len()));
        }
        let forest = Forest::fit(&x, &y, p).map_err(|e| fail(e.to_string()))?;
        let imp = forest
            .compute_feature_importances()
            .map_err(|e| fail(e.to_string()))?;
        for (a, b) in importances.iter_mut().zip(imp) {
            *a += b * n as f64;
        }
        chunks.push(forest);
        done += n;
        progress("forest trees", done as u64, total as u64);
    }
    let sum: f64 = importances.iter().sum();
    if sum > 0.0 {
        importances.iter_mut().for_each(|v| *v /= sum);
    }
    Model::forest(
        features.to_vec(),
        importances,
        chunks,
        &train.x,
        0.5,
        fingerprint,
    )
    .map_err(fail)
}

/// Keeps at most `max` points, evenly spaced, always the first and the last.
fn thin<T: Copy>(points: Vec<T>, max: usize) -> Vec<T> {
    if points.len() <= max || max < 2 {
        return points;
    }
    let last = points.len() - 1;
    (0..max)
        .map(|k| points[(k * last + (max - 1) / 2) / (max - 1)])
        .collect()
}

/// Precision–recall and ROC curves, one point per distinct score (then thinned).
fn curves(scores: &[f64], labels: &[bool]) -> (Vec<PrPoint>, Vec<RocPoint>) {
    let pos = labels.iter().filter(|&&l| l).count() as f64;
    let neg = labels.len() as f64 - pos;
    if pos == 0.0 || neg == 0.0 {
        return (Vec::new(), Vec::new());
    }
    let mut pr = Vec::new();
    let mut roc = vec![RocPoint { fpr: 0.0, tpr: 0.0 }];
    for (tp, fp) in metrics::sweep(scores, labels) {
        pr.push(PrPoint {
            recall: tp / pos,
            precision: tp / (tp + fp),
        });
        roc.push(RocPoint {
            fpr: fp / neg,
            tpr: tp / pos,
        });
    }
    (thin(pr, CURVE_POINTS), thin(roc, CURVE_POINTS))
}

struct SplitSizes {
    n: [usize; 3],
    lots: [usize; 3],
}

fn evaluate(
    model: &mut Model,
    validation: &Rows,
    test: &Rows,
    policy: ThresholdPolicy,
    sizes: &SplitSizes,
    seconds: f64,
) -> Result<Metrics, TrainError> {
    let kind = model.kind();
    let val_scores = model.score_batch(&validation.x);
    let threshold = metrics::choose_threshold(&val_scores, &validation.y, policy)
        .ok_or(TrainError::Scores { kind })?;
    let val_pr_auc = metrics::average_precision(&val_scores, &validation.y);
    let val_brier = metrics::brier(&val_scores, &validation.y);
    model.set_threshold(threshold);
    let s = model.score_batch(&test.x);
    let y = &test.y;
    let c = metrics::confusion(&s, y, threshold);
    let (pr_curve, roc_curve) = curves(&s, y);
    Ok(Metrics {
        pr_auc: metrics::average_precision(&s, y),
        roc_auc: metrics::roc_auc(&s, y),
        brier: metrics::brier(&s, y),
        base_rate: metrics::base_rate(y),
        threshold,
        recall: c.recall(),
        flag_rate: c.flag_rate(),
        producers_risk: c.producers_risk(),
        consumers_risk: c.consumers_risk(),
        precision: c.precision(),
        recall_at_10pct_flag_rate: metrics::recall_at_flag_rate(&s, y, 0.10),
        confusion: ConfusionCounts {
            tp: c.tp,
            fp: c.fp,
            tn: c.tn,
            fn_: c.fn_,
        },
        calibration: metrics::calibration(&s, y, CALIBRATION_BINS)
            .into_iter()
            .map(|b| CalibrationPoint {
                lo: b.lo,
                hi: b.hi,
                count: b.count,
                mean_score: b.mean_score,
                observed_rate: b.observed_rate,
            })
            .collect(),
        pr_curve,
        roc_curve,
        n_train: sizes.n[0],
        n_val: sizes.n[1],
        n_test: sizes.n[2],
        lots_train: sizes.lots[0],
        lots_val: sizes.lots[1],
        lots_test: sizes.lots[2],
        training_seconds: seconds,
        val_pr_auc,
        val_brier,
    })
}

/// Trains both models. `progress(stage, done, total)` is called as work proceeds
/// (stages `logistic`, `forest trees`, `evaluation`).
pub fn train(
    records: &[CellRecord],
    opts: &TrainOptions,
    progress: &dyn Fn(&str, u64, u64),
) -> Result<TrainOutcome, TrainError> {
    let fingerprint = fingerprint(records);
    let finite = |r: &CellRecord, slot: usize| {
        r.values
            .get(slot)
            .copied()
            .flatten()
            .filter(|v| v.is_finite())
    };

    // Features: catalogue measurements present in some labelled row.
    let labelled: Vec<&CellRecord> = records.iter().filter(|r| r.label.is_some()).collect();
    let slots: Vec<usize> = (0..CATALOGUE.len())
        .filter(|&s| labelled.iter().any(|r| finite(r, s).is_some()))
        .collect();
    if slots.is_empty() {
        return Err(TrainError::NoFeatures);
    }
    let required: Vec<bool> = slots
        .iter()
        .map(|&s| CATALOGUE[s].required_for_scoring())
        .collect();
    let usable: Vec<&CellRecord> = labelled
        .iter()
        .copied()
        .filter(|r| {
            slots
                .iter()
                .zip(&required)
                .all(|(&s, &req)| !req || finite(r, s).is_some())
        })
        .collect();
    let skipped_unlabelled = records.len() - labelled.len();
    let skipped_missing_required = labelled.len() - usable.len();

    let split = split_lots(
        usable.iter().map(|r| r.lot.as_str()),
        opts.seed,
        opts.validation_share,
        opts.test_share,
    )?;
    let which: BTreeMap<&str, usize> = [&split.train, &split.validation, &split.test]
        .iter()
        .enumerate()
        .flat_map(|(k, lots)| lots.iter().map(move |l| (l.as_str(), k)))
        .collect();
    let mut parts: [Vec<&CellRecord>; 3] = Default::default();
    for r in &usable {
        if let Some(&k) = which.get(r.lot.as_str()) {
            parts[k].push(r);
        }
    }

    // Standardisation on the training rows only (present values; population std).
    let features: Vec<FeatureSpec> = slots
        .iter()
        .zip(&required)
        .map(|(&s, &req)| {
            let vals: Vec<f64> = parts[0].iter().filter_map(|r| finite(r, s)).collect();
            let n = vals.len() as f64;
            let mean = if vals.is_empty() {
                0.0
            } else {
                vals.iter().sum::<f64>() / n
            };
            let var = if vals.is_empty() {
                0.0
            } else {
                vals.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n
            };
            let std = var.sqrt();
            FeatureSpec {
                name: CATALOGUE[s].name.to_owned(),
                required: req,
                mean,
                std: if std.is_finite() && std > 1e-12 {
                    std
                } else {
                    1.0
                },
            }
        })
        .collect();
    let rows = |part: &[&CellRecord]| Rows {
        x: part
            .iter()
            .map(|r| {
                slots
                    .iter()
                    .zip(&features)
                    .map(|(&s, f)| finite(r, s).unwrap_or(f.mean))
                    .collect()
            })
            .collect(),
        y: part.iter().map(|r| r.label == Some(true)).collect(),
    };
    // What the line is compared with later: the training rows' own values, before
    // imputation, in production order (stretches of consecutive cells are measured).
    let mut by_time = parts[0].clone();
    by_time.sort_by_key(|r| r.produced_ms.unwrap_or(i64::MAX));
    let baseline = Baseline::of(
        &features.iter().map(|f| f.name.clone()).collect::<Vec<_>>(),
        &by_time
            .iter()
            .map(|r| slots.iter().map(|&s| finite(r, s)).collect())
            .collect::<Vec<_>>(),
    );
    let [train_rows, val_rows, test_rows] = [rows(&parts[0]), rows(&parts[1]), rows(&parts[2])];
    train_rows.check("train")?;
    val_rows.check("validation")?;
    test_rows.check("test")?;
    let sizes = SplitSizes {
        n: [train_rows.y.len(), val_rows.y.len(), test_rows.y.len()],
        lots: [split.train.len(), split.validation.len(), split.test.len()],
    };

    progress("logistic", 0, 1);
    let t = Instant::now();
    let mut logistic = fit_logistic(&features, &train_rows, opts.logistic_alpha, &fingerprint)?;
    let logistic_seconds = t.elapsed().as_secs_f64();
    progress("logistic", 1, 1);

    let t = Instant::now();
    let mut forest = fit_forest(&features, &train_rows, opts, &fingerprint, progress)?;
    let forest_seconds = t.elapsed().as_secs_f64();

    progress("evaluation", 0, 2);
    let lm = evaluate(
        &mut logistic,
        &val_rows,
        &test_rows,
        opts.policy,
        &sizes,
        logistic_seconds,
    )?;
    progress("evaluation", 1, 2);
    let fm = evaluate(
        &mut forest,
        &val_rows,
        &test_rows,
        opts.policy,
        &sizes,
        forest_seconds,
    )?;
    progress("evaluation", 2, 2);

    Ok(TrainOutcome {
        fingerprint,
        options: *opts,
        split,
        rows: records.len(),
        skipped_unlabelled,
        skipped_missing_required,
        logistic: TrainedModel {
            model: logistic,
            metrics: lm,
        },
        forest: TrainedModel {
            model: forest,
            metrics: fm,
        },
        source: None,
        baseline,
    })
}

// ----- artifacts ---------------------------------------------------------------

#[cfg(test)]
mod tests {
    use std::sync::OnceLock;

    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    use super::*;
    use crate::risk::artifacts::write_artifacts;
    use crate::risk::model::Missing;

    const POLICY: ThresholdPolicy = ThresholdPolicy::RecallWithinFlagRate {
        recall: 0.8,
        max_flag_rate: 0.25,
    };

    fn options(seed: u64) -> TrainOptions {
        TrainOptions {
            forest: ForestOptions {
                n_trees: 12,
                chunk: 4,
                max_depth: 6,
                min_samples_leaf: 20,
                m: None,
            },
            ..TrainOptions::new(seed, POLICY)
        }
    }

    fn normal(rng: &mut StdRng) -> f64 {
        let u: f64 = rng.random_range(f64::EPSILON..1.0);
        let v: f64 = rng.random();
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }

    /// Cells over `lots` lots. With `signal`, the defect log-odds rise with the
    /// K-value and the leakage current (plus noise); without, labels are coin flips
    /// at a similar rate. OCV re-check (optional) is missing for a third of cells.
    fn synthetic(lots: usize, per_lot: usize, seed: u64, signal: bool) -> Vec<CellRecord> {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut out = Vec::with_capacity(lots * per_lot);
        for l in 0..lots {
            let lot = format!("L{l:03}");
            let shift = 0.2 * normal(&mut rng);
            for i in 0..per_lot {
                let mut r = CellRecord::new(&format!("{lot}-{i:04}"), &lot, "900001");
                let zk = normal(&mut rng) + shift;
                let zl = normal(&mut rng);
                r.set("k_value", 1.0 + 0.3 * zk);
                r.set("leakage_current", 3.0 + zl);
                r.set("acir", 20.0 + 1.5 * normal(&mut rng));
                r.set("capacity", 5.2 + 0.05 * normal(&mut rng));
                if rng.random::<f64>() < 0.67 {
                    r.set("ocv_recheck", 3.65 + 0.005 * normal(&mut rng));
                }
                let logit = if signal {
                    -3.4 + 1.8 * zk + 1.4 * zl + 0.7 * normal(&mut rng)
                } else {
                    -2.0
                };
                r.label = Some(rng.random::<f64>() < 1.0 / (1.0 + (-logit).exp()));
                out.push(r);
            }
        }
        out
    }

    fn data() -> &'static [CellRecord] {
        static DATA: OnceLock<Vec<CellRecord>> = OnceLock::new();
        DATA.get_or_init(|| synthetic(12, 250, 11, true))
    }

    fn trained() -> &'static TrainOutcome {
        static OUT: OnceLock<TrainOutcome> = OnceLock::new();
        OUT.get_or_init(|| train(data(), &options(7), &|_, _, _| {}).expect("trains"))
    }

    #[test]
    fn both_models_beat_the_base_rate_and_noise_does_not() {
        let o = trained();
        for t in o.models() {
            let m = &t.metrics;
            let base = m.base_rate.expect("base rate");
            let pr = m.pr_auc.expect("pr auc");
            assert!(base > 0.03 && base < 0.3, "base rate {base}");
            assert!(
                pr >= 3.0 * base,
                "{}: PR AUC {pr} vs base rate {base}",
                t.model.kind()
            );
            assert!(m.roc_auc.expect("roc auc") > 0.75);
            assert!(m.pr_curve.len() <= CURVE_POINTS && m.roc_curve.len() <= CURVE_POINTS);
            assert!(!m.calibration.is_empty());
        }
        // A constant score only reaches the base rate...
        let test: BTreeSet<&str> = o.split.test.iter().map(String::as_str).collect();
        let labels: Vec<bool> = data()
            .iter()
            .filter(|r| test.contains(r.lot.as_str()))
            .map(|r| r.label == Some(true))
            .collect();
        let constant = vec![0.1; labels.len()];
        let base = metrics::base_rate(&labels).expect("base rate");
        assert!(metrics::average_precision(&constant, &labels).expect("ap") < 3.0 * base);
        // ...and models trained where the measurements carry no signal stay far below the bar.
        let noise = train(&synthetic(12, 250, 12, false), &options(7), &|_, _, _| {})
            .expect("trains on noise");
        for t in noise.models() {
            let m = &t.metrics;
            let (pr, base) = (m.pr_auc.expect("pr auc"), m.base_rate.expect("base"));
            assert!(
                pr < 3.0 * base,
                "{}: noise PR AUC {pr}, base {base}",
                t.model.kind()
            );
        }
    }

    #[test]
    fn the_split_never_puts_a_lot_in_two_splits() {
        let names: Vec<String> = (0..40).map(|i| format!("LOT-{i}")).collect();
        for seed in 0..20 {
            let s = split_lots(names.iter().map(String::as_str), seed, 0.2, 0.2).expect("splits");
            let all: Vec<&String> = s.train.iter().chain(&s.validation).chain(&s.test).collect();
            let unique: BTreeSet<&String> = all.iter().copied().collect();
            assert_eq!(all.len(), names.len());
            assert_eq!(unique.len(), names.len());
            assert_eq!((s.validation.len(), s.test.len()), (8, 8));
        }
        // Five lots still give every split one; four are refused.
        let five = split_lots(["a", "b", "c", "d", "e", "a"], 1, 0.2, 0.2).expect("five");
        assert_eq!(
            (five.train.len(), five.validation.len(), five.test.len()),
            (3, 1, 1)
        );
        assert_eq!(
            split_lots(["a", "b", "c", "d"], 1, 0.2, 0.2),
            Err(TrainError::TooFewLots {
                found: 4,
                needed: MIN_LOTS
            })
        );
        // The trained models' rows follow their lots.
        let o = trained();
        let lots = |v: &[String]| v.iter().cloned().collect::<BTreeSet<String>>();
        let (tr, va, te) = (
            lots(&o.split.train),
            lots(&o.split.validation),
            lots(&o.split.test),
        );
        assert!(tr.is_disjoint(&va) && tr.is_disjoint(&te) && va.is_disjoint(&te));
        let count = |set: &BTreeSet<String>| data().iter().filter(|r| set.contains(&r.lot)).count();
        let m = &o.logistic.metrics;
        assert_eq!(
            (m.n_train, m.n_val, m.n_test),
            (count(&tr), count(&va), count(&te))
        );
    }

    #[test]
    fn saved_models_load_and_score_identically() {
        let o = trained();
        let dir = tempfile::tempdir().expect("temp dir");
        let written = write_artifacts(o, dir.path(), "unit").expect("writes");
        assert_eq!(written.len(), 2);
        // Writing again replaces the folders cleanly.
        write_artifacts(o, dir.path(), "unit").expect("rewrites");
        for (t, path) in o.models().into_iter().zip(&written) {
            for f in [
                "model.json",
                "metrics.json",
                "meta.json",
                "split.json",
                "MODEL_CARD.md",
            ] {
                assert!(path.join(f).is_file(), "{f}");
            }
            let loaded = Model::load(path).expect("loads");
            assert_eq!(loaded.name(), format!("unit-{}", t.model.kind()));
            assert_eq!(loaded.version(), t.model.version());
            assert_eq!(loaded.threshold(), t.model.threshold());
            assert_eq!(loaded.features(), t.model.features());
            for r in data() {
                let x = t.model.features_from_record(r);
                let a = t.model.score(&x).expect("scores");
                let b = loaded.score(&x).expect("scores");
                assert_eq!(a, b);
            }
            let metrics: serde_json::Value = serde_json::from_str(
                &std::fs::read_to_string(path.join("metrics.json")).expect("reads"),
            )
            .expect("json");
            for key in [
                "pr_auc",
                "roc_auc",
                "brier",
                "base_rate",
                "threshold",
                "recall",
                "flag_rate",
                "producers_risk",
                "consumers_risk",
                "precision",
                "recall_at_10pct_flag_rate",
                "confusion",
                "calibration",
                "pr_curve",
                "roc_curve",
                "n_train",
                "n_val",
                "n_test",
                "lots_train",
                "lots_val",
                "lots_test",
                "training_seconds",
            ] {
                assert!(metrics.get(key).is_some(), "metrics.json lacks {key}");
            }
            assert!(metrics["confusion"].get("fn").is_some());
            let split: serde_json::Value = serde_json::from_str(
                &std::fs::read_to_string(path.join("split.json")).expect("reads"),
            )
            .expect("json");
            assert_eq!(split["test"], serde_json::json!(o.split.test));
        }
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .expect("lists")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
    }

    #[test]
    fn single_and_batch_scores_agree_and_missing_values_are_handled() {
        let o = trained();
        for t in o.models() {
            let model = &t.model;
            let rows: Vec<Vec<Option<f64>>> = data()
                .iter()
                .take(50)
                .map(|r| model.features_from_record(r))
                .collect();
            // Batch rows are complete: impute as scoring does.
            let complete: Vec<Vec<f64>> = rows
                .iter()
                .map(|x| {
                    x.iter()
                        .zip(model.features())
                        .map(|(v, f)| v.unwrap_or(f.mean))
                        .collect()
                })
                .collect();
            let batch = model.score_batch(&complete);
            for (x, b) in rows.iter().zip(&batch) {
                let s = model.score(x).expect("scores");
                assert!((s.p - b).abs() < 1e-12, "{} vs {b}", s.p);
            }
            let names: Vec<&str> = model.features().iter().map(|f| f.name.as_str()).collect();
            let k = names.iter().position(|&n| n == "k_value").expect("k_value");
            let ocv = names
                .iter()
                .position(|&n| n == "ocv_recheck")
                .expect("ocv_recheck");
            assert!(model.features()[k].required && !model.features()[ocv].required);
            let mut x = rows[0].clone();
            x[k] = None;
            assert_eq!(model.score(&x), Err(Missing(vec!["k_value".into()])));
            x[k] = Some(f64::NAN);
            assert!(model.score(&x).is_err());
            let mut x = rows[0].clone();
            x[ocv] = None;
            let s = model.score(&x).expect("optional may be missing");
            assert!(s.imputed[ocv] && s.imputed.iter().filter(|&&i| i).count() == 1);
            match model.kind() {
                // A value at the training mean moves the logit by nothing.
                Kind::Logistic => assert_eq!(s.contributions[ocv], 0.0),
                // The mean is a value like any other for the trees; the reasons still
                // add up to the score.
                Kind::Forest => {
                    let sum: f64 = s.contributions.iter().sum();
                    assert!((model.base() + sum - s.p).abs() < 1e-9);
                }
            }
        }
    }

    #[test]
    fn training_is_deterministic_for_a_seed() {
        let a = trained();
        let b = train(data(), &options(7), &|_, _, _| {}).expect("trains");
        assert_eq!(a.fingerprint, b.fingerprint);
        assert_eq!(a.split, b.split);
        for (x, y) in a.models().into_iter().zip(b.models()) {
            assert_eq!(
                x.model.to_json().expect("json"),
                y.model.to_json().expect("json")
            );
            let strip = |m: &Metrics| Metrics {
                training_seconds: 0.0,
                ..m.clone()
            };
            assert_eq!(strip(&x.metrics), strip(&y.metrics));
        }
        let c = train(data(), &options(8), &|_, _, _| {}).expect("trains");
        assert_eq!(a.fingerprint, c.fingerprint);
        assert_ne!(a.split, c.split);
        // The fingerprint follows the data.
        let mut changed = data().to_vec();
        changed[0].label = changed[0].label.map(|l| !l);
        assert_ne!(fingerprint(&changed), a.fingerprint);
    }

    #[test]
    fn the_champion_has_the_best_validation_pr_auc_and_a_tie_goes_to_the_brier_score() {
        let c = |kind, pr_auc: Option<f64>, brier: Option<f64>| Candidate {
            kind,
            pr_auc,
            brier,
        };
        let won = champion(&[
            c(Kind::Logistic, Some(0.58), Some(0.030)),
            c(Kind::Forest, Some(0.61), Some(0.040)),
        ]);
        assert_eq!(won.kind, Kind::Forest);
        assert_eq!(
            won.reason,
            "the highest PR AUC on the validation lots (logistic 0.580, forest 0.610)"
        );
        // Within 0.001: the lower Brier score wins, whichever comes first.
        let tie = champion(&[
            c(Kind::Logistic, Some(0.6104), Some(0.0301)),
            c(Kind::Forest, Some(0.6100), Some(0.0299)),
        ]);
        assert_eq!(tie.kind, Kind::Forest);
        assert!(tie.reason.contains("tied within 0.001"), "{}", tie.reason);
        assert!(tie.reason.contains("logistic 0.0301, forest 0.0299"));
        let tie = champion(&[
            c(Kind::Logistic, Some(0.6100), Some(0.0299)),
            c(Kind::Forest, Some(0.6104), Some(0.0301)),
        ]);
        assert_eq!(tie.kind, Kind::Logistic);
        // A figure that could not be computed never wins.
        let missing = champion(&[
            c(Kind::Logistic, None, None),
            c(Kind::Forest, Some(0.2), Some(0.1)),
        ]);
        assert_eq!(missing.kind, Kind::Forest);
        assert!(missing.reason.contains("logistic n/a"));
        let nan = champion(&[
            c(Kind::Logistic, Some(0.3), Some(0.1)),
            c(Kind::Forest, Some(f64::NAN), Some(0.0)),
        ]);
        assert_eq!(nan.kind, Kind::Logistic);
        assert_eq!(
            champion(&[c(Kind::Forest, None, None)]).reason,
            "the only model trained"
        );
    }

    #[test]
    fn a_training_names_its_champion_from_the_validation_lots() {
        let t = trained();
        let won = t.champion();
        let [l, f] = t.models();
        let (lv, fv) = (
            l.metrics.val_pr_auc.expect("logistic validation PR AUC"),
            f.metrics.val_pr_auc.expect("forest validation PR AUC"),
        );
        if (lv - fv).abs() >= CHAMPION_TIE {
            let expect = if lv > fv {
                Kind::Logistic
            } else {
                Kind::Forest
            };
            assert_eq!(won.kind, expect);
        }
        assert!(won.reason.contains("validation lots"), "{}", won.reason);
        assert!(l.metrics.val_brier.is_some() && f.metrics.val_brier.is_some());
    }

    #[test]
    fn logistic_contributions_and_intercept_make_the_logit() {
        let m = &trained().logistic.model;
        let intercept = m.intercept().expect("logistic");
        for r in data().iter().take(200) {
            let s = m.score(&m.features_from_record(r)).expect("scores");
            let logit = intercept + s.contributions.iter().sum::<f64>();
            assert!((logit - (s.p / (1.0 - s.p)).ln()).abs() < 1e-9);
        }
        // The signal features dominate and push risk up.
        let w = |name: &str| {
            let j = m
                .features()
                .iter()
                .position(|f| f.name == name)
                .expect("feature");
            m.weights()[j]
        };
        assert!(w("k_value") > 1.0 && w("leakage_current") > 0.8);
        assert!(w("acir").abs() < 0.5);
        assert!(trained().forest.model.intercept().is_none());
    }

    #[test]
    fn unusable_data_is_refused_with_a_reason() {
        // No defective cells anywhere.
        let mut none = synthetic(6, 40, 3, true);
        none.iter_mut().for_each(|r| r.label = Some(false));
        assert!(matches!(
            train(&none, &options(1), &|_, _, _| {}),
            Err(TrainError::OneClass {
                what: "defective",
                ..
            })
        ));
        // Rows missing a required measurement or a label are skipped and counted.
        let mut rows = synthetic(4, 30, 3, true);
        rows[0].values[crate::quality::index_of("acir").expect("acir")] = None;
        rows[1].label = None;
        assert_eq!(
            train(&rows, &options(1), &|_, _, _| {}).err(),
            Some(TrainError::TooFewLots {
                found: 4,
                needed: MIN_LOTS
            })
        );
        let o = trained();
        assert_eq!((o.skipped_unlabelled, o.skipped_missing_required), (0, 0));
        let mut rows = data().to_vec();
        rows[0].values[crate::quality::index_of("acir").expect("acir")] = None;
        rows[1].label = None;
        let o = train(&rows, &options(7), &|_, _, _| {}).expect("trains");
        assert_eq!((o.skipped_unlabelled, o.skipped_missing_required), (1, 1));
        assert_eq!(
            train(&[], &options(1), &|_, _, _| {}).err(),
            Some(TrainError::NoFeatures)
        );
    }

    #[test]
    fn curves_are_thinned_to_the_limit() {
        let scores: Vec<f64> = (0..5000).map(|i| f64::from(i) / 5000.0).collect();
        let labels: Vec<bool> = (0..5000).map(|i| i % 7 == 0).collect();
        let (pr, roc) = curves(&scores, &labels);
        assert_eq!((pr.len(), roc.len()), (CURVE_POINTS, CURVE_POINTS));
        assert_eq!(roc.first().map(|p| (p.fpr, p.tpr)), Some((0.0, 0.0)));
        assert_eq!(roc.last().map(|p| (p.fpr, p.tpr)), Some((1.0, 1.0)));
        assert_eq!(pr.last().map(|p| p.recall), Some(1.0));
    }
}
