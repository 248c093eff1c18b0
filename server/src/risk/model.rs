//! A trained risk model: loading an artifact folder and scoring cells (pure, no I/O
//! beyond [`Model::load`]).
//!
//! Two kinds share one interface:
//!
//! - **Logistic**: features are standardised with the stored training mean and
//!   standard deviation, and `p = sigmoid(intercept + Σ w_j·z_j)`. The weights come
//!   from smartcore's `LogisticRegression` at training time and are stored as plain
//!   numbers. A feature's contribution is `w_j·z_j` in log-odds, so the
//!   contributions plus [`Model::intercept`] are the logit of `p`.
//! - **Forest**: smartcore `RandomForestRegressor`s trained on 0/1 labels (stored as
//!   a few equally sized chunks of trees, averaged); the probability is the mean
//!   tree output clamped to [0, 1]. A feature's contribution is its exact Tree SHAP
//!   value from the cell's own paths through the trees ([`super::shap`]): the
//!   contributions add up to `p` minus the forest's expected score on the training
//!   rows ([`Model::base`]). The node covers this needs are counted on the training
//!   rows when the forest is trained and stored beside the trees.
//!
//! Missing values: a missing *required* feature (in-process and final inspections)
//! refuses to score; a missing optional one (outgoing inspection) is replaced by its
//! training mean and reported as imputed.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use smartcore::ensemble::random_forest_regressor::RandomForestRegressor;
use smartcore::linalg::basic::arrays::{Array, MutArray};
use smartcore::linalg::basic::matrix::DenseMatrix;

use super::shap::{Explainer, Paths, Tree};
use crate::quality::{CellRecord, index_of};

/// The smartcore version this build links and writes into every artifact. Tree
/// models saved by another version may not load, so such artifacts are refused.
pub const SMARTCORE_VERSION: &str = "0.7.0";
/// Version of the `model.json` layout.
pub const FORMAT: u32 = 1;
/// File holding the model in an artifact folder.
pub const MODEL_FILE: &str = "model.json";

/// The smartcore forest type the artifacts hold.
pub(crate) type Forest = RandomForestRegressor<f64, f64, DenseMatrix<f64>, Vec<f64>>;

/// Kind of model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Standardised logistic regression.
    Logistic,
    /// Random forest regressor on 0/1 labels.
    Forest,
}

impl Kind {
    /// Lower-case name, as in file and folder names.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Logistic => "logistic",
            Kind::Forest => "forest",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One input of a model: a catalogue measurement and its training statistics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureSpec {
    /// Catalogue measurement name, e.g. `k_value`.
    pub name: String,
    /// Whether a cell without it cannot be scored.
    pub required: bool,
    /// Mean on the training rows (also the value imputed when missing).
    pub mean: f64,
    /// Standard deviation on the training rows (1 for a constant feature).
    pub std: f64,
}

/// A score and what drove it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Scored {
    /// Probability that the cell is defective.
    pub p: f64,
    /// Per feature, signed: log-odds `w·z` (logistic, adding up to the logit minus
    /// the intercept) or Tree SHAP values (forest, adding up to `p` minus the
    /// expected score). Both are [`Model::base`] away from the model's output.
    pub contributions: Vec<f64>,
    /// Per feature: the value was missing and the training mean was used.
    pub imputed: Vec<bool>,
}

/// Required features that a cell lacks, by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Missing(pub Vec<String>);

impl fmt::Display for Missing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "missing required measurement(s): {}", self.0.join(", "))
    }
}

impl std::error::Error for Missing {}

/// Why an artifact folder could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// The file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not valid JSON or not a model.
    #[error("{} is not a valid model file: {source}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: serde_json::Error,
    },
    /// The model was saved by another smartcore version.
    #[error(
        "{} was saved with smartcore {found}, but this build uses smartcore {expected}; \
         retrain it with `cellguard train`",
        path.display()
    )]
    SmartcoreVersion {
        /// The file.
        path: PathBuf,
        /// Version recorded in the file.
        found: String,
        /// Version of this build.
        expected: &'static str,
    },
    /// The file uses a layout this build does not read.
    #[error("{} has model format {found}; this build reads format {expected}", path.display())]
    Format {
        /// The file.
        path: PathBuf,
        /// Format recorded in the file.
        found: u64,
        /// Format this build reads.
        expected: u32,
    },
    /// The file parses but its content is inconsistent.
    #[error("{}: {reason}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

/// Reusable buffers for scoring many cells without allocating per cell.
#[derive(Debug)]
pub struct Scratch {
    scored: Scored,
    /// One-row input of the forest (raw values, imputed).
    row: Option<DenseMatrix<f64>>,
    /// The same row for the explainer, and its path buffers.
    raw: Vec<f64>,
    paths: Paths,
}

#[derive(Debug)]
enum Params {
    Logistic {
        intercept: f64,
        weights: Vec<f64>,
    },
    Forest {
        importances: Vec<f64>,
        chunks: Vec<Forest>,
        explainer: Explainer,
    },
}

/// A loaded (or freshly trained) risk model.
#[derive(Debug)]
pub struct Model {
    name: String,
    kind: Kind,
    fingerprint: String,
    version: String,
    threshold: f64,
    features: Vec<FeatureSpec>,
    /// Catalogue slot of each feature (checked at construction).
    slots: Vec<usize>,
    params: Params,
}

// ----- file layout -------------------------------------------------------------

#[derive(Serialize)]
struct FileOut<'a> {
    format: u32,
    name: &'a str,
    kind: Kind,
    smartcore_version: &'static str,
    fingerprint: &'a str,
    threshold: f64,
    features: &'a [FeatureSpec],
    #[serde(skip_serializing_if = "Option::is_none")]
    logistic: Option<LogisticOut<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    forest: Option<ForestOut<'a>>,
}

#[derive(Serialize)]
struct LogisticOut<'a> {
    intercept: f64,
    weights: &'a [f64],
}

#[derive(Serialize)]
struct ForestOut<'a> {
    importances: &'a [f64],
    chunks: &'a [Forest],
    /// Per tree (the chunks' trees in order), per node: training rows that reached
    /// the node.
    covers: Vec<Vec<u64>>,
}

#[derive(Deserialize)]
struct FileIn {
    name: String,
    kind: Kind,
    fingerprint: String,
    threshold: f64,
    features: Vec<FeatureSpec>,
    logistic: Option<LogisticIn>,
    forest: Option<ForestIn>,
}

#[derive(Deserialize)]
struct LogisticIn {
    intercept: f64,
    weights: Vec<f64>,
}

#[derive(Deserialize)]
struct ForestIn {
    importances: Vec<f64>,
    chunks: Vec<Forest>,
    covers: Option<Vec<Vec<u64>>>,
}

fn sigmoid(l: f64) -> f64 {
    if l >= 0.0 {
        1.0 / (1.0 + (-l).exp())
    } else {
        let e = l.exp();
        e / (1.0 + e)
    }
}

/// The mean tree output of a forest stored in chunks, for the rows of `x`.
fn forest_predict(chunks: &[Forest], x: &DenseMatrix<f64>) -> Option<Vec<f64>> {
    let mut sum: Option<Vec<f64>> = None;
    for c in chunks {
        let y = c.predict(x).ok()?;
        match &mut sum {
            None => sum = Some(y),
            Some(s) => s.iter_mut().zip(&y).for_each(|(a, b)| *a += b),
        }
    }
    let n = chunks.len() as f64;
    sum.map(|mut s| {
        s.iter_mut().for_each(|v| *v = (*v / n).clamp(0.0, 1.0));
        s
    })
}

/// The trees of a forest chunk as serialised by smartcore 0.7, checked so that a
/// damaged file is refused at load instead of panicking or looping when scoring.
fn chunk_trees(chunk: &serde_json::Value, n_features: usize) -> Result<Vec<Tree>, String> {
    let forest = chunk
        .get("forest_regressor")
        .filter(|f| !f.is_null())
        .ok_or("a forest chunk is not fitted")?;
    let num = forest
        .get("num_features")
        .and_then(serde_json::Value::as_u64);
    if num != Some(n_features as u64) {
        return Err(format!(
            "a forest chunk expects {num:?} features, the model lists {n_features}"
        ));
    }
    let trees = Tree::from_smartcore(chunk, n_features)?;
    if trees.is_empty() {
        return Err("a forest chunk has no trees".into());
    }
    Ok(trees)
}

/// The trees of every chunk of a forest, in order, checked.
fn forest_trees(chunks: &[serde_json::Value], n_features: usize) -> Result<Vec<Tree>, String> {
    let mut all = Vec::new();
    for chunk in chunks {
        all.extend(chunk_trees(chunk, n_features)?);
    }
    Ok(all)
}

/// The explainer of a forest: its trees with their covers, either counted on the
/// training rows or as stored.
fn explainer(mut trees: Vec<Tree>, covers: Covers<'_>) -> Result<Explainer, String> {
    match covers {
        Covers::Count(rows) => trees.iter_mut().for_each(|t| t.count_covers(rows)),
        Covers::Stored(stored) => {
            if stored.len() != trees.len() {
                return Err(format!(
                    "{} node covers for {} trees",
                    stored.len(),
                    trees.len()
                ));
            }
            for (t, (tree, counts)) in trees.iter_mut().zip(stored).enumerate() {
                let counts: Vec<f64> = counts.iter().map(|&n| n as f64).collect();
                tree.set_covers(&counts)
                    .map_err(|e| format!("tree {t}: {e}"))?;
            }
        }
    }
    Explainer::new(trees)
}

/// Where a forest's node covers come from.
#[derive(Clone, Copy)]
enum Covers<'a> {
    /// Counted on these training rows (raw values, complete).
    Count(&'a [Vec<f64>]),
    /// As stored in a model file: per tree, per node.
    Stored(&'a [Vec<u64>]),
}

impl Model {
    /// A logistic model from its parameters (the training side).
    pub(crate) fn logistic(
        features: Vec<FeatureSpec>,
        intercept: f64,
        weights: Vec<f64>,
        threshold: f64,
        fingerprint: &str,
    ) -> Result<Model, String> {
        Self::build(
            String::new(),
            Kind::Logistic,
            fingerprint.to_owned(),
            threshold,
            features,
            Params::Logistic { intercept, weights },
        )
    }

    /// A forest model from its chunks of trees and the rows they were trained on
    /// (raw values aligned to `features`), on which the node covers of the exact
    /// reasons are counted (the training side).
    pub(crate) fn forest(
        features: Vec<FeatureSpec>,
        importances: Vec<f64>,
        chunks: Vec<Forest>,
        training_rows: &[Vec<f64>],
        threshold: f64,
        fingerprint: &str,
    ) -> Result<Model, String> {
        let json = chunks
            .iter()
            .map(serde_json::to_value)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| e.to_string())?;
        let trees = forest_trees(&json, features.len())?;
        let explainer = explainer(trees, Covers::Count(training_rows))?;
        Self::build(
            String::new(),
            Kind::Forest,
            fingerprint.to_owned(),
            threshold,
            features,
            Params::Forest {
                importances,
                chunks,
                explainer,
            },
        )
    }

    fn build(
        name: String,
        kind: Kind,
        fingerprint: String,
        threshold: f64,
        features: Vec<FeatureSpec>,
        params: Params,
    ) -> Result<Model, String> {
        if features.is_empty() {
            return Err("the model has no features".into());
        }
        let mut slots = Vec::with_capacity(features.len());
        for f in &features {
            let slot = index_of(&f.name)
                .ok_or_else(|| format!("feature `{}` is not a known measurement", f.name))?;
            if slots.contains(&slot) {
                return Err(format!("feature `{}` is listed twice", f.name));
            }
            if !f.mean.is_finite() || !f.std.is_finite() || f.std <= 0.0 {
                return Err(format!("feature `{}` has an invalid mean or std", f.name));
            }
            slots.push(slot);
        }
        if !threshold.is_finite() {
            return Err("the threshold is not a number".into());
        }
        let n = features.len();
        match &params {
            Params::Logistic { intercept, weights } => {
                if weights.len() != n {
                    return Err(format!("{} weights for {n} features", weights.len()));
                }
                if !intercept.is_finite() || !weights.iter().all(|w| w.is_finite()) {
                    return Err("a logistic weight is not a number".into());
                }
            }
            Params::Forest {
                importances,
                chunks,
                ..
            } => {
                if importances.len() != n {
                    return Err(format!(
                        "{} importances for {n} features",
                        importances.len()
                    ));
                }
                if chunks.is_empty() {
                    return Err("the forest has no trees".into());
                }
            }
        }
        let version = format!("{kind}-{}", fingerprint.get(..12).unwrap_or(&fingerprint));
        Ok(Model {
            name,
            kind,
            fingerprint,
            version,
            threshold,
            features,
            slots,
            params,
        })
    }

    /// Loads `dir/model.json`. Refuses files written by another smartcore version or
    /// model format, and files whose content does not hang together.
    pub fn load(dir: &Path) -> Result<Model, ModelError> {
        let path = dir.join(MODEL_FILE);
        let text = std::fs::read_to_string(&path).map_err(|source| ModelError::Io {
            path: path.clone(),
            source,
        })?;
        let parse = |source| ModelError::Parse {
            path: path.clone(),
            source,
        };
        let invalid = |reason: String| ModelError::Invalid {
            path: path.clone(),
            reason,
        };
        let value: serde_json::Value = serde_json::from_str(&text).map_err(parse)?;
        // Version checks come first: an older file may not even have today's layout.
        let found = value
            .get("smartcore_version")
            .and_then(serde_json::Value::as_str)
            .unwrap_or("unknown");
        if found != SMARTCORE_VERSION {
            return Err(ModelError::SmartcoreVersion {
                path,
                found: found.to_owned(),
                expected: SMARTCORE_VERSION,
            });
        }
        let format = value.get("format").and_then(serde_json::Value::as_u64);
        if format != Some(u64::from(FORMAT)) {
            return Err(ModelError::Format {
                path,
                found: format.unwrap_or(0),
                expected: FORMAT,
            });
        }
        let n_features = value
            .get("features")
            .and_then(serde_json::Value::as_array)
            .map_or(0, Vec::len);
        // The trees are checked (and read for the explainer, once) before smartcore
        // sees them.
        let trees = match value
            .pointer("/forest/chunks")
            .and_then(serde_json::Value::as_array)
        {
            Some(chunks) => Some(forest_trees(chunks, n_features).map_err(invalid)?),
            None => None,
        };
        let file: FileIn = serde_json::from_value(value).map_err(parse)?;
        let params = match (file.kind, file.logistic, file.forest, trees) {
            (Kind::Logistic, Some(l), _, _) => Params::Logistic {
                intercept: l.intercept,
                weights: l.weights,
            },
            (Kind::Forest, _, Some(f), Some(trees)) => {
                let covers = f.covers.ok_or_else(|| {
                    invalid(
                        "the forest has no node covers (it was saved before reasons came from \
                         the cell's own paths); retrain it with `cellguard train`"
                            .into(),
                    )
                })?;
                let explainer = explainer(trees, Covers::Stored(&covers)).map_err(invalid)?;
                Params::Forest {
                    importances: f.importances,
                    chunks: f.chunks,
                    explainer,
                }
            }
            (kind, _, _, _) => return Err(invalid(format!("no `{kind}` parameters"))),
        };
        Self::build(
            file.name,
            file.kind,
            file.fingerprint,
            file.threshold,
            file.features,
            params,
        )
        .map_err(invalid)
    }

    /// The `model.json` text of this model.
    pub fn to_json(&self) -> serde_json::Result<String> {
        self.to_json_named(&self.name)
    }

    /// The `model.json` text of this model under another artifact name.
    pub fn to_json_named(&self, name: &str) -> serde_json::Result<String> {
        let (logistic, forest) = match &self.params {
            Params::Logistic { intercept, weights } => (
                Some(LogisticOut {
                    intercept: *intercept,
                    weights,
                }),
                None,
            ),
            Params::Forest {
                importances,
                chunks,
                explainer,
            } => {
                let covers = explainer
                    .trees()
                    .iter()
                    .map(|t| t.covers().iter().map(|&n| n as u64).collect())
                    .collect();
                (
                    None,
                    Some(ForestOut {
                        importances,
                        chunks,
                        covers,
                    }),
                )
            }
        };
        serde_json::to_string(&FileOut {
            format: FORMAT,
            name,
            kind: self.kind,
            smartcore_version: SMARTCORE_VERSION,
            fingerprint: &self.fingerprint,
            threshold: self.threshold,
            features: &self.features,
            logistic,
            forest,
        })
    }

    /// Artifact name, e.g. `default-logistic`.
    pub fn name(&self) -> &str {
        &self.name
    }

    pub(crate) fn set_threshold(&mut self, threshold: f64) {
        self.threshold = threshold;
    }

    /// Kind and training-data fingerprint, e.g. `logistic-3f2a9c01b4de`.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// SHA-256 of the training data (hex).
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// Kind of model.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// Cells scoring at or above this are high risk.
    pub fn threshold(&self) -> f64 {
        self.threshold
    }

    /// The inputs, in the order [`Model::score`] expects them.
    pub fn features(&self) -> &[FeatureSpec] {
        &self.features
    }

    /// The logistic intercept (log-odds of a cell at the training means).
    pub fn intercept(&self) -> Option<f64> {
        match &self.params {
            Params::Logistic { intercept, .. } => Some(*intercept),
            Params::Forest { .. } => None,
        }
    }

    /// What a cell's contributions start from: the logistic intercept (log-odds;
    /// intercept + contributions = logit of `p`) or the forest's expected score on
    /// its training rows (expected + contributions = `p`).
    pub fn base(&self) -> f64 {
        match &self.params {
            Params::Logistic { intercept, .. } => *intercept,
            Params::Forest { explainer, .. } => explainer.expected(),
        }
    }

    /// Per feature: logistic weight (per standard deviation) or forest importance.
    pub fn weights(&self) -> &[f64] {
        match &self.params {
            Params::Logistic { weights, .. } => weights,
            Params::Forest { importances, .. } => importances,
        }
    }

    /// The cell's values aligned to [`Model::features`].
    pub fn features_from_record(&self, r: &CellRecord) -> Vec<Option<f64>> {
        self.slots
            .iter()
            .map(|&s| r.values.get(s).copied().flatten())
            .collect()
    }

    /// Buffers for [`Model::score_with`].
    pub fn scratch(&self) -> Scratch {
        let n = self.features.len();
        Scratch {
            scored: Scored {
                p: 0.0,
                contributions: Vec::with_capacity(n),
                imputed: Vec::with_capacity(n),
            },
            row: match self.params {
                Params::Logistic { .. } => None,
                Params::Forest { .. } => DenseMatrix::new(1, n, vec![0.0; n], false).ok(),
            },
            raw: Vec::with_capacity(n),
            paths: match &self.params {
                Params::Logistic { .. } => Paths::default(),
                Params::Forest { explainer, .. } => explainer.paths(),
            },
        }
    }

    /// Scores one cell; `x` is aligned to [`Model::features`] (a value beyond the end
    /// of `x` counts as missing).
    pub fn score(&self, x: &[Option<f64>]) -> Result<Scored, Missing> {
        let mut s = self.scratch();
        self.score_with(x, &mut s)?;
        Ok(s.scored)
    }

    /// Scores one cell into reusable buffers: the hot path. Allocates nothing for a
    /// logistic model; a forest allocates its one-value output per chunk of trees,
    /// and walks every node of every tree once for the exact contributions.
    pub fn score_with<'s>(
        &self,
        x: &[Option<f64>],
        scratch: &'s mut Scratch,
    ) -> Result<&'s Scored, Missing> {
        let value = |j: usize| x.get(j).copied().flatten().filter(|v| v.is_finite());
        if self
            .features
            .iter()
            .enumerate()
            .any(|(j, f)| f.required && value(j).is_none())
        {
            return Err(self.missing(x));
        }
        let out = &mut scratch.scored;
        out.contributions.clear();
        out.imputed.clear();
        match &self.params {
            Params::Logistic { intercept, weights } => {
                let mut logit = *intercept;
                for ((j, f), w) in self.features.iter().enumerate().zip(weights) {
                    let v = value(j);
                    let z = (v.unwrap_or(f.mean) - f.mean) / f.std;
                    let c = w * z;
                    logit += c;
                    out.contributions.push(c);
                    out.imputed.push(v.is_none());
                }
                out.p = sigmoid(logit);
            }
            Params::Forest {
                chunks, explainer, ..
            } => {
                let n = self.features.len();
                // A scratch made for another model is resized, not trusted.
                if scratch.row.as_ref().is_none_or(|r| r.shape() != (1, n)) {
                    scratch.row = DenseMatrix::new(1, n, vec![0.0; n], false).ok();
                }
                scratch.raw.clear();
                for (j, f) in self.features.iter().enumerate() {
                    let v = value(j);
                    let raw = v.unwrap_or(f.mean);
                    if let Some(row) = scratch.row.as_mut() {
                        row.set((0, j), raw);
                    }
                    scratch.raw.push(raw);
                    out.imputed.push(v.is_none());
                }
                explainer.explain(&scratch.raw, &mut out.contributions, &mut scratch.paths);
                out.p = scratch
                    .row
                    .as_ref()
                    .and_then(|row| forest_predict(chunks, row))
                    .and_then(|p| p.first().copied())
                    .unwrap_or(f64::NAN);
            }
        }
        Ok(&scratch.scored)
    }

    fn missing(&self, x: &[Option<f64>]) -> Missing {
        Missing(
            self.features
                .iter()
                .enumerate()
                .filter(|(j, f)| {
                    f.required && x.get(*j).copied().flatten().is_none_or(|v| !v.is_finite())
                })
                .map(|(_, f)| f.name.clone())
                .collect(),
        )
    }

    /// Probabilities of complete rows of raw values aligned to [`Model::features`]. A
    /// row of the wrong length scores NaN.
    pub fn score_batch(&self, rows: &[Vec<f64>]) -> Vec<f64> {
        let n = self.features.len();
        match &self.params {
            Params::Logistic { intercept, weights } => rows
                .iter()
                .map(|r| {
                    if r.len() != n {
                        return f64::NAN;
                    }
                    let logit = self
                        .features
                        .iter()
                        .zip(weights)
                        .zip(r)
                        .fold(*intercept, |acc, ((f, w), v)| {
                            acc + w * (v - f.mean) / f.std
                        });
                    sigmoid(logit)
                })
                .collect(),
            Params::Forest { chunks, .. } => {
                let good: Vec<usize> = (0..rows.len()).filter(|&i| rows[i].len() == n).collect();
                let mut out = vec![f64::NAN; rows.len()];
                if good.is_empty() {
                    return out;
                }
                let flat: Vec<f64> = good.iter().flat_map(|&i| rows[i].iter().copied()).collect();
                let scored = DenseMatrix::new(good.len(), n, flat, false)
                    .ok()
                    .and_then(|m| forest_predict(chunks, &m));
                if let Some(p) = scored {
                    for (&i, p) in good.iter().zip(p) {
                        out[i] = p;
                    }
                }
                out
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str, required: bool, mean: f64, std: f64) -> FeatureSpec {
        FeatureSpec {
            name: name.into(),
            required,
            mean,
            std,
        }
    }

    fn small() -> Model {
        Model::logistic(
            vec![
                spec("k_value", true, 1.0, 0.5),
                spec("acir", true, 20.0, 2.0),
                spec("weight", false, 70.0, 0.25),
            ],
            -2.0,
            vec![1.5, 0.5, -0.25],
            0.3,
            "0123456789abcdef0123456789abcdef",
        )
        .expect("valid model")
    }

    #[test]
    fn logistic_scores_by_hand() {
        let m = small();
        assert_eq!(m.version(), "logistic-0123456789ab");
        let s = m
            .score(&[Some(2.0), Some(21.0), Some(70.5)])
            .expect("complete");
        // z = (2, 0.5, 2): contributions 3.0, 0.25, -0.5; logit = 0.75.
        assert_eq!(s.contributions, vec![3.0, 0.25, -0.5]);
        assert!((s.p - 1.0 / (1.0 + (-0.75f64).exp())).abs() < 1e-15);
        assert_eq!(s.imputed, vec![false; 3]);
        let logit = m.intercept().expect("logistic") + s.contributions.iter().sum::<f64>();
        assert!((logit - (s.p / (1.0 - s.p)).ln()).abs() < 1e-12);
        // The scratch path gives the same, repeatedly.
        let mut scratch = m.scratch();
        for _ in 0..3 {
            let t = m.score_with(&[Some(2.0), Some(21.0), Some(70.5)], &mut scratch);
            assert_eq!(t, Ok(&s));
        }
        assert_eq!(m.score_batch(&[vec![2.0, 21.0, 70.5], vec![1.0]]).len(), 2);
        assert_eq!(m.score_batch(&[vec![2.0, 21.0, 70.5]])[0], s.p);
        assert!(m.score_batch(&[vec![1.0]])[0].is_nan());
    }

    #[test]
    fn missing_required_refuses_and_missing_optional_is_imputed() {
        let m = small();
        let err = m
            .score(&[None, Some(20.0), None])
            .expect_err("k_value missing");
        assert_eq!(err, Missing(vec!["k_value".into()]));
        assert_eq!(err.to_string(), "missing required measurement(s): k_value");
        let err = m.score(&[None]).expect_err("short input");
        assert_eq!(err.0, vec!["k_value".to_owned(), "acir".to_owned()]);
        let s = m
            .score(&[Some(1.0), Some(20.0), None])
            .expect("optional missing");
        assert_eq!(s.imputed, vec![false, false, true]);
        assert_eq!(s.contributions, vec![0.0, 0.0, 0.0]);
        assert!((s.p - 1.0 / (1.0 + 2.0f64.exp())).abs() < 1e-15);
    }

    #[test]
    fn features_come_from_catalogue_slots() {
        let m = small();
        let mut r = CellRecord::new("S1", "L1", "1");
        r.set("k_value", 0.7);
        r.set("weight", 70.1);
        assert_eq!(
            m.features_from_record(&r),
            vec![Some(0.7), None, Some(70.1)]
        );
    }

    #[test]
    fn inconsistent_models_are_refused() {
        let bad = |features, weights| Model::logistic(features, 0.0, weights, 0.5, "ab");
        assert!(bad(vec![spec("nope", true, 0.0, 1.0)], vec![1.0]).is_err());
        assert!(bad(vec![spec("acir", true, 0.0, 0.0)], vec![1.0]).is_err());
        assert!(bad(vec![spec("acir", true, 0.0, 1.0)], vec![1.0, 2.0]).is_err());
        assert!(bad(vec![], vec![]).is_err());
    }

    fn saved(text: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join(MODEL_FILE), text).expect("writes");
        dir
    }

    #[test]
    fn load_round_trips_and_names_the_file_on_errors() {
        let m = small();
        let dir = saved(&m.to_json_named("unit-logistic").expect("json"));
        let back = Model::load(dir.path()).expect("loads");
        assert_eq!(back.name(), "unit-logistic");
        assert_eq!(back.features(), m.features());
        assert_eq!(back.threshold(), 0.3);

        let empty = tempfile::tempdir().expect("temp dir");
        let e = Model::load(empty.path()).expect_err("no file");
        assert!(matches!(e, ModelError::Io { .. }));
        assert!(e.to_string().contains("model.json"), "{e}");

        let e = Model::load(saved("{ not json").path()).expect_err("garbage");
        assert!(matches!(e, ModelError::Parse { .. }), "{e}");
        assert!(e.to_string().contains("model.json"));
    }

    #[test]
    fn models_from_another_smartcore_version_are_refused() {
        let json = small().to_json().expect("json");
        let other = json.replace(
            "\"smartcore_version\":\"0.7.0\"",
            "\"smartcore_version\":\"0.5.4\"",
        );
        assert_ne!(json, other);
        let e = Model::load(saved(&other).path()).expect_err("old version");
        assert!(matches!(e, ModelError::SmartcoreVersion { ref found, .. } if found == "0.5.4"));
        let text = e.to_string();
        assert!(
            text.contains("0.5.4")
                && text.contains(SMARTCORE_VERSION)
                && text.contains("model.json")
        );
        let e = Model::load(saved(&json.replace("\"format\":1", "\"format\":9")).path())
            .expect_err("future format");
        assert!(matches!(e, ModelError::Format { found: 9, .. }));
    }

    #[test]
    fn the_recorded_smartcore_version_is_the_linked_one() {
        let lock = include_str!("../../../Cargo.lock");
        let at = lock
            .find("name = \"smartcore\"\nversion = \"")
            .expect("smartcore in Cargo.lock");
        let rest = &lock[at + "name = \"smartcore\"\nversion = \"".len()..];
        let version = &rest[..rest.find('"').expect("quoted")];
        assert_eq!(version, SMARTCORE_VERSION);
    }

    #[test]
    fn damaged_forests_are_refused_at_load() {
        use smartcore::ensemble::random_forest_regressor::RandomForestRegressorParameters;
        let rows: Vec<Vec<f64>> = (0..200)
            .map(|i| vec![f64::from(i), f64::from(i % 7)])
            .collect();
        let y: Vec<f64> = (0..200).map(|i| f64::from(u8::from(i > 150))).collect();
        let x = DenseMatrix::from_2d_vec(&rows).expect("matrix");
        let p = RandomForestRegressorParameters::default()
            .with_n_trees(3)
            .with_max_depth(4)
            .with_seed(1);
        let forest = Forest::fit(&x, &y, p).expect("fits");
        let m = Model::forest(
            vec![
                spec("k_value", true, 100.0, 57.0),
                spec("acir", true, 3.0, 2.0),
            ],
            vec![0.9, 0.1],
            vec![forest],
            &rows,
            0.5,
            "feedbeef0000feedbeef",
        )
        .expect("valid");
        let high = m.score(&[Some(190.0), Some(1.0)]).expect("scores").p;
        let low = m.score(&[Some(10.0), Some(1.0)]).expect("scores").p;
        assert!(high > 0.8 && low < 0.2, "{high} {low}");
        let json = m.to_json().expect("json");
        let back = Model::load(saved(&json).path()).expect("loads");
        assert_eq!(
            back.score(&[Some(190.0), Some(1.0)]).expect("scores").p,
            high
        );

        // Exact reasons: the contributions add up to p minus the expected score, which
        // is the mean score of the training rows; the loaded model explains the same.
        let mean = m.score_batch(&rows).iter().sum::<f64>() / rows.len() as f64;
        assert!((m.base() - mean).abs() < 1e-12, "{} vs {mean}", m.base());
        for x in [
            [Some(190.0), Some(1.0)],
            [Some(10.0), Some(3.0)],
            [Some(160.0), Some(6.0)],
        ] {
            let s = m.score(&x).expect("scores");
            let sum: f64 = s.contributions.iter().sum();
            assert!((m.base() + sum - s.p).abs() < 1e-12, "{x:?}");
            assert_eq!(back.score(&x).expect("scores"), s);
        }
        assert_eq!(back.base(), m.base());
        // k_value (the only signal) carries the high cell's risk.
        let s = m.score(&[Some(190.0), Some(1.0)]).expect("scores");
        assert!(s.contributions[0] > 0.5 && s.contributions[0].abs() > s.contributions[1].abs());

        // Covers: missing (an artifact from before exact reasons), short or not adding up.
        let v: serde_json::Value = serde_json::from_str(&json).expect("json");
        let mut old = v.clone();
        old["forest"]
            .as_object_mut()
            .expect("object")
            .remove("covers");
        let e = Model::load(saved(&old.to_string()).path()).expect_err("no covers");
        assert!(e.to_string().contains("retrain"), "{e}");
        let mut short = v.clone();
        short["forest"]["covers"]
            .as_array_mut()
            .expect("array")
            .pop();
        let e = Model::load(saved(&short.to_string()).path()).expect_err("2 covers, 3 trees");
        assert!(e.to_string().contains("node covers for"), "{e}");
        let mut off = v.clone();
        off["forest"]["covers"][0][0] = serde_json::json!(1);
        let e = Model::load(saved(&off.to_string()).path()).expect_err("root ≠ children");
        assert!(matches!(e, ModelError::Invalid { .. }), "{e}");

        let mut v: serde_json::Value = serde_json::from_str(&json).expect("json");
        v["forest"]["chunks"][0]["forest_regressor"]["trees"][0]["nodes"][0]["split_feature"] =
            serde_json::json!(5);
        let e = Model::load(saved(&v.to_string()).path()).expect_err("bad split feature");
        assert!(matches!(e, ModelError::Invalid { .. }), "{e}");
        let mut v: serde_json::Value = serde_json::from_str(&json).expect("json");
        v["forest"]["chunks"][0]["forest_regressor"]["trees"][0]["nodes"][0]["true_child"] =
            serde_json::json!(0);
        assert!(Model::load(saved(&v.to_string()).path()).is_err());
    }
}
