//! `cellguard import FILE`: checks a dataset file and writes it all, or nothing,
//! with a progress bar.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use indicatif::{ProgressBar, ProgressStyle};

use super::ImportArgs;
use crate::quality::dataset;
use crate::quality::settings::QualitySettings;
use crate::quality::store::QualityStore;
use crate::services::quality::{IngestFailure, Quality};
use crate::storage::sqlite::SqliteStore;

/// Runs the import; an invalid file prints every problem and writes nothing.
pub async fn run(quality: &QualitySettings, args: &ImportArgs) -> anyhow::Result<()> {
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg:10} [{bar:30}] {pos}/{len}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.enable_steady_tick(Duration::from_millis(120));
    bar.set_message("reading");
    let path = args.file.clone();
    let cfg = quality.clone();
    let records = tokio::task::spawn_blocking(move || dataset::read_file(&path, &cfg))
        .await
        .context("reading the file")?;
    let records = match records {
        Ok(r) => r,
        Err(errs) => {
            bar.finish_and_clear();
            anyhow::bail!(
                "{} was not imported; nothing was written:\n{errs}",
                args.file.display()
            );
        }
    };
    let sqlite = SqliteStore::open_in(&args.data_dir)
        .await
        .with_context(|| format!("opening the database in {}", args.data_dir.display()))?;
    let quality = Quality::open(
        Arc::new(quality.clone()),
        QualityStore::new(sqlite.pool().clone()),
    )
    .await
    .context("opening the quality records")?;
    let progress = |stage: &str, done: u64, total: u64| {
        bar.set_message(stage.to_owned());
        bar.set_length(total);
        bar.set_position(done);
    };
    let report = quality.import(&records, args.dry_run, &progress).await;
    bar.finish_and_clear();
    match report {
        Ok(r) => {
            if r.committed {
                let file = args.file.display().to_string();
                super::users::audit(
                    &crate::auth::Access::new(sqlite.pool().clone()),
                    app::auth::AuditAction::DataImported,
                    &file,
                    format!(
                        "{} cells ({} new), {} inspections",
                        r.rows, r.new_cells, r.inspections
                    ),
                )
                .await?;
            }
            let verb = if r.committed {
                "imported"
            } else {
                "would import"
            };
            println!(
                "{}: {verb} {} cells ({} new), {} inspections ({} already present), lots: {}",
                args.file.display(),
                r.rows,
                r.new_cells,
                r.inspections,
                r.duplicates,
                r.lots.join(", ")
            );
            Ok(())
        }
        Err(IngestFailure::Invalid(errors)) => {
            let lines: Vec<String> = errors
                .iter()
                .map(|e| format!("cell {}: {e}", e.key.as_deref().unwrap_or("?")))
                .collect();
            anyhow::bail!(
                "{} was not imported; nothing was written:\n{}",
                args.file.display(),
                lines.join("\n")
            )
        }
        Err(e) => Err(anyhow::anyhow!(
            "{} was not imported; nothing was written: {e}",
            args.file.display()
        )),
    }
}
