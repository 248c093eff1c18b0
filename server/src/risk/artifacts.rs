//! Model artifacts: what `cellguard train` writes beside each trained model
//! (`model.json`, `metrics.json`, `meta.json`, `split.json`, `MODEL_CARD.md`), each
//! folder written beside its destination and swapped in whole.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::Serialize;

use super::drift::BASELINE_FILE;
use super::metrics::ThresholdPolicy;
use super::model::{FeatureSpec, Kind, MODEL_FILE, SMARTCORE_VERSION};
use super::train::{TrainOutcome, TrainedModel};

fn policy_json(p: ThresholdPolicy) -> serde_json::Value {
    match p {
        ThresholdPolicy::RecallWithinFlagRate {
            recall,
            max_flag_rate,
        } => serde_json::json!({
            "kind": "recall_within_flag_rate",
            "recall": recall,
            "max_flag_rate": max_flag_rate,
        }),
        ThresholdPolicy::CostRatio { miss_cost } => serde_json::json!({
            "kind": "cost_ratio",
            "miss_cost": miss_cost,
        }),
    }
}

fn policy_text(p: ThresholdPolicy) -> String {
    match p {
        ThresholdPolicy::RecallWithinFlagRate {
            recall,
            max_flag_rate,
        } => format!(
            "the highest threshold that catches {:.0} % of defective validation cells, \
             provided it flags at most {:.0} % of cells (otherwise the threshold at that cap)",
            recall * 100.0,
            max_flag_rate * 100.0
        ),
        ThresholdPolicy::CostRatio { miss_cost } => format!(
            "the threshold with the lowest cost on the validation lots, a missed defective \
             cell costing {miss_cost} needless tests"
        ),
    }
}

pub(crate) fn fmt_opt(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(|| "n/a".to_owned(), |v| format!("{v:.digits$}"))
}

pub(crate) fn fmt_pct(v: Option<f64>) -> String {
    v.map_or_else(|| "n/a".to_owned(), |v| format!("{:.1} %", v * 100.0))
}

fn model_card(o: &TrainOutcome, t: &TrainedModel, name: &str, command: &str) -> String {
    let m = &t.metrics;
    let model = &t.model;
    let kind_text = match model.kind() {
        Kind::Logistic => {
            "A logistic regression on standardised measurements (smartcore `LogisticRegression`, \
             L2-penalised). Each feature's contribution to a score is its weight times its \
             standardised value, in log-odds."
        }
        Kind::Forest => {
            "A random forest of regression trees fitted to 0/1 outcomes (smartcore \
             `RandomForestRegressor`); the score is the mean tree output. Feature contributions \
             shown with a score are exact Tree SHAP values along the cell's own paths through \
             the trees (node covers counted on the training rows and stored with the trees): \
             they add up to the score minus the mean score of the training cells."
        }
    };
    let mut features: Vec<(&FeatureSpec, f64)> = model
        .features()
        .iter()
        .zip(model.weights().iter().copied())
        .collect();
    features.sort_by(|a, b| b.1.abs().total_cmp(&a.1.abs()));
    let weight_head = match model.kind() {
        Kind::Logistic => "weight (log-odds per σ)",
        Kind::Forest => "importance",
    };
    let mut s = String::new();
    let _ = writeln!(s, "# Model card: {name}\n");
    let _ = writeln!(
        s,
        "**Purpose.** Estimates the probability that a lithium-ion cell fails its short-term \
         test, from its in-process (IPQC) and final (FQC) inspection data, refined by outgoing \
         (OQC) data when present. Cells scoring at or above the threshold are high risk \
         (short-term testing recommended); the share of high-risk cells sets a lot's tier.\n"
    );
    let _ = writeln!(s, "**Model.** {kind_text}\n");
    let _ = writeln!(
        s,
        "| | |\n|---|---|\n| version | `{}` |\n| smartcore | {SMARTCORE_VERSION} |\n| \
         training data fingerprint | `{}` |\n| seed | {} |\n| reproduce | `{command}` |\n",
        model.version(),
        o.fingerprint,
        o.options.seed
    );
    let champion = o.champion();
    let _ = writeln!(s, "## Champion\n");
    if champion.kind == model.kind() {
        let _ = writeln!(
            s,
            "**The champion of this training**: {}. It is the model to make active.\n",
            champion.reason
        );
    } else {
        let _ = writeln!(
            s,
            "**Not the champion of this training**: `{}` is ({}).\n",
            name.strip_suffix(model.kind().as_str()).map_or_else(
                || champion.kind.to_string(),
                |p| format!("{p}{}", champion.kind)
            ),
            champion.reason
        );
    }
    let _ = writeln!(
        s,
        "The champion has the highest PR AUC on the validation lots (a tie within {} goes \
         to the lower Brier score); the test lots below play no part in the choice.\n",
        super::train::CHAMPION_TIE
    );
    let _ = writeln!(
        s,
        "| model | validation PR AUC | validation Brier | test PR AUC |\n|---|---|---|---|"
    );
    for t in o.models() {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} |",
            t.model.kind(),
            fmt_opt(t.metrics.val_pr_auc, 3),
            fmt_opt(t.metrics.val_brier, 4),
            fmt_opt(t.metrics.pr_auc, 3)
        );
    }
    let _ = writeln!(s);
    let _ = writeln!(s, "## Data and split\n");
    let _ = writeln!(
        s,
        "{} cells read; {} without a label and {} missing a required measurement were left \
         out. The split is by lot (cells of one lot never appear in two splits): {} lots \
         ({} cells) train, {} lots ({} cells) choose the threshold, {} lots ({} cells) give \
         the metrics below. Lots per split are listed in `split.json`. Standardisation \
         statistics come from the training lots only; a missing optional measurement is \
         replaced by its training mean.\n",
        o.rows,
        o.skipped_unlabelled,
        o.skipped_missing_required,
        m.lots_train,
        m.n_train,
        m.lots_val,
        m.n_val,
        m.lots_test,
        m.n_test
    );
    let _ = writeln!(s, "## Metrics on the test lots\n");
    let _ = writeln!(s, "| metric | value |\n|---|---|");
    let rows = [
        ("PR AUC (average precision)", fmt_opt(m.pr_auc, 3)),
        ("ROC AUC", fmt_opt(m.roc_auc, 3)),
        ("Brier score", fmt_opt(m.brier, 4)),
        ("base rate (defective share)", fmt_pct(m.base_rate)),
        ("threshold", format!("{:.4}", m.threshold)),
        ("recall at threshold", fmt_pct(m.recall)),
        ("precision at threshold", fmt_pct(m.precision)),
        ("flag rate at threshold", fmt_pct(m.flag_rate)),
        (
            "producer's risk (good cells flagged)",
            fmt_pct(m.producers_risk),
        ),
        (
            "consumer's risk (defective cells passed)",
            fmt_pct(m.consumers_risk),
        ),
        (
            "recall at 10 % flag rate",
            fmt_pct(m.recall_at_10pct_flag_rate),
        ),
        (
            "confusion (tp / fp / tn / fn)",
            format!(
                "{} / {} / {} / {}",
                m.confusion.tp, m.confusion.fp, m.confusion.tn, m.confusion.fn_
            ),
        ),
    ];
    for (k, v) in rows {
        let _ = writeln!(s, "| {k} | {v} |");
    }
    let _ = writeln!(
        s,
        "\nCalibration, precision–recall and ROC curves are in `metrics.json`.\n"
    );
    let _ = writeln!(s, "## Threshold policy\n");
    let _ = writeln!(s, "Threshold: {}.\n", policy_text(o.options.policy));
    let _ = writeln!(s, "## Features\n");
    let _ = writeln!(
        s,
        "| measurement | required | mean | std | {weight_head} |\n|---|---|---|---|---|"
    );
    for (f, w) in features {
        let _ = writeln!(
            s,
            "| {} | {} | {:.6} | {:.6} | {:.4} |",
            f.name,
            if f.required { "yes" } else { "no" },
            f.mean,
            f.std,
            w
        );
    }
    let _ = writeln!(s, "\n## Limitations\n");
    let _ = writeln!(
        s,
        "- Learned from the lots above only: a new product, recipe, material supplier or \
         measurement change can move scores without warning. Retrain and compare before \
         promoting.\n\
         - The scores are estimates of the short-term test outcome, not of field life; they \
         are only as good as the labels.\n\
         - The test metrics come from {} lots; with few defective cells they vary noticeably \
         from one split to another.\n\
         - Cells without every required measurement are not scored.\n\
         - Tree models are tied to smartcore {SMARTCORE_VERSION}; artifacts from another \
         version are refused and must be retrained.",
        m.lots_test
    );
    s
}

fn write_file(dir: &Path, name: &str, text: &str) -> anyhow::Result<()> {
    let path = dir.join(name);
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))
}

fn to_json<T: Serialize>(v: &T) -> anyhow::Result<String> {
    let mut s = serde_json::to_string_pretty(v).context("serialising")?;
    s.push('\n');
    Ok(s)
}

/// Writes `<dir>/<name>-logistic/` and `<dir>/<name>-forest/`, each with
/// `model.json`, `metrics.json`, `meta.json`, `split.json`, `baseline.json` (the
/// training distribution of each feature, for drift) and `MODEL_CARD.md`. Each
/// folder is written beside its destination and then swapped in, so a reader never
/// sees half an artifact. Returns the folders.
pub fn write_artifacts(
    outcome: &TrainOutcome,
    dir: &Path,
    name: &str,
) -> anyhow::Result<Vec<PathBuf>> {
    let plain = !name.is_empty()
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    anyhow::ensure!(
        plain,
        "model name `{name}`: use letters, digits, `-`, `_` and `.` only"
    );
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let created = jiff::Timestamp::now().to_string();
    let command = format!(
        "cellguard train --data {} --name {name} --seed {}",
        outcome
            .source
            .as_deref()
            .map_or_else(|| "FILE".to_owned(), |p| p.display().to_string()),
        outcome.options.seed
    );
    let split_json = serde_json::json!({
        "seed": outcome.options.seed,
        "lot_column": "lot",
        "label_column": crate::quality::LABEL_COLUMN,
        "features": outcome.logistic.model.features().iter()
            .map(|f| serde_json::json!({"name": f.name, "required": f.required}))
            .collect::<Vec<_>>(),
        "train": outcome.split.train,
        "validation": outcome.split.validation,
        "test": outcome.split.test,
    });
    let champion = outcome.champion();
    let mut written = Vec::new();
    for t in outcome.models() {
        let kind = t.model.kind();
        let full = format!("{name}-{kind}");
        let target = dir.join(&full);
        let staging = dir.join(format!(".{full}.new"));
        let old = dir.join(format!(".{full}.old"));
        for p in [&staging, &old] {
            if p.exists() {
                std::fs::remove_dir_all(p).with_context(|| format!("removing {}", p.display()))?;
            }
        }
        std::fs::create_dir_all(&staging)
            .with_context(|| format!("creating {}", staging.display()))?;

        // The model as written carries its artifact name.
        let model_json = t
            .model
            .to_json_named(&full)
            .context("serialising the model")?;
        write_file(&staging, MODEL_FILE, &(model_json + "\n"))?;
        write_file(&staging, "metrics.json", &to_json(&t.metrics)?)?;
        let meta = serde_json::json!({
            "name": full,
            "kind": kind,
            "version": t.model.version(),
            "smartcore_version": SMARTCORE_VERSION,
            "format": super::model::FORMAT,
            "created": created,
            "fingerprint": outcome.fingerprint,
            "fingerprint_method": "sha256 over the catalogue columns and every field of every record (see risk::train::fingerprint)",
            "seed": outcome.options.seed,
            "policy": policy_json(outcome.options.policy),
            "threshold": t.model.threshold(),
            "lots": {
                "train": outcome.split.train.len(),
                "validation": outcome.split.validation.len(),
                "test": outcome.split.test.len(),
            },
            "rows": {
                "read": outcome.rows,
                "skipped_unlabelled": outcome.skipped_unlabelled,
                "skipped_missing_required": outcome.skipped_missing_required,
                "train": t.metrics.n_train,
                "validation": t.metrics.n_val,
                "test": t.metrics.n_test,
            },
            "features": t.model.features().iter().map(|f| f.name.as_str()).collect::<Vec<_>>(),
            "parameters": match kind {
                Kind::Logistic => serde_json::json!({"alpha": outcome.options.logistic_alpha}),
                Kind::Forest => serde_json::to_value(outcome.options.forest)?,
            },
            "command": command,
            "champion": champion.kind == kind,
            "champion_reason": champion.reason,
        });
        write_file(&staging, "meta.json", &to_json(&meta)?)?;
        write_file(&staging, "split.json", &to_json(&split_json)?)?;
        write_file(&staging, BASELINE_FILE, &to_json(&outcome.baseline)?)?;
        write_file(
            &staging,
            "MODEL_CARD.md",
            &model_card(outcome, t, &full, &command),
        )?;

        if target.exists() {
            std::fs::rename(&target, &old)
                .with_context(|| format!("moving {} aside", target.display()))?;
        }
        std::fs::rename(&staging, &target)
            .with_context(|| format!("writing {}", target.display()))?;
        if old.exists() {
            std::fs::remove_dir_all(&old).with_context(|| format!("removing {}", old.display()))?;
        }
        written.push(target);
    }
    Ok(written)
}
