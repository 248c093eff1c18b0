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

    // A running CellGuard loads models from its models_dir only.
    if args.promote
        && let Some(out) = args.out.as_ref().filter(|o| **o != quality.models_dir)
    {
        anyhow::bail!(
            "--promote: CellGuard loads models from {} (quality.models_dir), not from --out {}",
            quality.models_dir.display(),
            out.display()
        );
    }

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
    for p in &written {
        println!("wrote {}", p.display());
    }
    let champion = outcome.champion();
    let champion_name = format!("{}-{}", args.name, champion.kind);
    println!("champion: {champion_name}, by {}", champion.reason);
    if args.promote {
        tokio::runtime::Handle::current().block_on(promote(
            quality,
            &args.data_dir,
            &champion_name,
            &champion.reason,
        ))?;
    }
    Ok(())
}

/// Records `name` as the active model in the database under `data_dir`, and audits it.
async fn promote(
    quality: &QualitySettings,
    data_dir: &std::path::Path,
    name: &str,
    reason: &str,
) -> anyhow::Result<()> {
    use app::auth::AuditAction;
    use app::quality::ModelSwitch;

    use crate::audit::{AuditEvent, AuditLog};
    use crate::quality::store::QualityStore;

    let sqlite = crate::storage::sqlite::SqliteStore::open_in(data_dir)
        .await
        .with_context(|| format!("opening the database in {}", data_dir.display()))?;
    let store = QualityStore::new(sqlite.pool().clone());
    let from = store
        .last_switch()
        .await
        .context("reading the model switches")?
        .map_or_else(|| quality.active_model.clone(), |s| s.to);
    if from == name {
        println!("{name} is already the active model");
        return Ok(());
    }
    let by = format!(
        "cli:{}",
        std::env::var("USER").unwrap_or_else(|_| "unknown".into())
    );
    store
        .record_switch(&ModelSwitch {
            ts_ms: crate::clock::now_ms(),
            from: from.clone(),
            to: name.to_owned(),
            by: by.clone(),
        })
        .await
        .context("recording the switch")?;
    AuditLog::new(sqlite.pool().clone())
        .record(AuditEvent {
            actor: by,
            role: None,
            action: AuditAction::ModelPromoted,
            target: name.to_owned(),
            detail: format!("{from} → {name} (cellguard train --promote: {reason})"),
            source: "cli".into(),
        })
        .await
        .context("auditing the switch")?;
    println!(
        "made {name} the active model (was {from}); a CellGuard running on {} follows within \
         seconds and re-scores every cell in the background",
        data_dir.display()
    );
    Ok(())
}
