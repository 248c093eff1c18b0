//! `cellguard train`: the progress bar and the summary printed after training.

use anyhow::Context as _;

use super::TrainArgs;
use crate::quality::settings::QualitySettings;
use crate::risk::artifacts::{fmt_opt, fmt_pct, write_artifacts};
use crate::risk::train::{TrainOptions, train};

/// `cellguard train`: reads the data file, trains both models with a progress bar,
/// writes their artifacts and prints a summary.
pub fn run(quality: &QualitySettings, args: &TrainArgs) -> anyhow::Result<()> {
    use indicatif::{ProgressBar, ProgressStyle};

    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{prefix:>13} [{bar:32}] {pos}/{len} {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_prefix("reading");
    bar.set_length(1);
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    let records = crate::quality::dataset::read_file(&args.data, quality)
        .map_err(|e| anyhow::anyhow!("{}:\n{e}", args.data.display()))?;
    bar.set_position(1);

    let opts = TrainOptions::new(args.seed, quality.threshold);
    let mut outcome = train(&records, &opts, &|stage, done, total| {
        bar.set_prefix(stage.to_owned());
        bar.set_length(total);
        bar.set_position(done);
    })
    .with_context(|| format!("training on {}", args.data.display()))?;
    bar.finish_and_clear();
    outcome.source = Some(args.data.clone());

    let dir = args
        .out
        .clone()
        .unwrap_or_else(|| quality.models_dir.clone());
    let written = write_artifacts(&outcome, &dir, &args.name)?;

    println!(
        "{} cells ({} skipped: {} unlabelled, {} missing a required measurement); lots train/validation/test: {}/{}/{}",
        outcome.rows,
        outcome.skipped_unlabelled + outcome.skipped_missing_required,
        outcome.skipped_unlabelled,
        outcome.skipped_missing_required,
        outcome.split.train.len(),
        outcome.split.validation.len(),
        outcome.split.test.len()
    );
    println!(
        "{:<10} {:>7} {:>7} {:>9} {:>9} {:>7} {:>9} {:>8}",
        "model", "PR AUC", "ROC AUC", "base rate", "threshold", "recall", "flag rate", "fit s"
    );
    for t in outcome.models() {
        let m = &t.metrics;
        println!(
            "{:<10} {:>7} {:>7} {:>9} {:>9.4} {:>7} {:>9} {:>8.2}",
            t.model.kind().as_str(),
            fmt_opt(m.pr_auc, 3),
            fmt_opt(m.roc_auc, 3),
            fmt_pct(m.base_rate),
            m.threshold,
            fmt_pct(m.recall),
            fmt_pct(m.flag_rate),
            m.training_seconds
        );
    }
    for p in written {
        println!("wrote {}", p.display());
    }
    Ok(())
}
