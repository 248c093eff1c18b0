//! The quality service: ingestion (validate → store → score → announce), imports,
//! the active model and its promotion, and the views the pages ask for.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use app::api::service::{QualityService, ServiceError};
use app::auth::{AuditAction, Caller};
use app::quality::{
    Band, CellDetail, CellFilter, CellPage, CellSummary, ConfusionView, FeatureDrift, ImportReport,
    LivePerformance, ModelHealth, ModelMetrics, ModelSwitch, ModelView, ModelsView,
    QualityOverview, Reason, Rescoring, ScoreView,
};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use crate::audit::{AuditEvent, AuditLog};
use crate::clock::now_ms;
use crate::quality::ingest::{self, FieldError, InspectionIn};
use crate::quality::settings::QualitySettings;
use crate::quality::settings::ThresholdPolicy;
use crate::quality::store::QualityStoreError;
use crate::quality::store::{IngestError, IngestOutcome, QualityStore, ScoreReason, ScoreState};
use crate::quality::{CellRecord, def};
use crate::risk::drift::{self, BASELINE_FILE, Baseline};
use crate::risk::model::{Model, ModelError, Scratch};

/// Reasons kept per score.
const REASONS: usize = 6;
/// Cells announced to browsers per scoring round at most (an import scores 500 at a
/// time); open pages refetch on any announcement, so the rest still show.
const ANNOUNCE_CAP: usize = 200;
/// Cells re-scored per batch after a switch of the active model: each batch is one
/// transaction, and the job can stop between two.
const RESCORE_BATCH: u32 = 500;
/// Wait before the re-scoring job tries again after a storage failure.
const RESCORE_RETRY: std::time::Duration = std::time::Duration::from_secs(5);
/// How often the re-scoring job looks for a switch another process recorded
/// (`cellguard train --promote`).
const FOLLOW_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// Why an ingestion failed.
#[derive(Debug, thiserror::Error)]
pub enum IngestFailure {
    /// The body is invalid; nothing was written.
    #[error("invalid inspections")]
    Invalid(Vec<FieldError>),
    /// A key or a cell clashes with stored data; nothing was written.
    #[error("record {record}: {message}")]
    Conflict {
        /// Index in the batch.
        record: usize,
        /// What clashes.
        message: String,
    },
    /// Storage failed.
    #[error("storage: {0}")]
    Store(#[from] QualityStoreError),
}

impl From<IngestError> for IngestFailure {
    fn from(e: IngestError) -> Self {
        match e {
            IngestError::Conflict { record, message } => {
                IngestFailure::Conflict { record, message }
            }
            IngestError::Store(s) => IngestFailure::Store(s),
        }
    }
}

/// Longest a measured [`ModelHealth`] is shown before it is measured again.
const HEALTH_EVERY_MS: i64 = 15_000;

/// The active model, loaded, with its training baseline when the artifact has one.
struct Active {
    model: Arc<Model>,
    baseline: Option<Arc<Baseline>>,
}

impl Active {
    /// Loads the artifact folder `dir`. A missing or unreadable `baseline.json` (an
    /// artifact older than drift) leaves drift unmeasured, never the model unloaded.
    fn load(dir: &Path) -> Result<Self, ModelError> {
        let model = Model::load(dir)?;
        let path = dir.join(BASELINE_FILE);
        let baseline = match std::fs::read_to_string(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => {
                tracing::warn!(file = %path.display(), error = %e, "cannot read the training baseline; drift is not measured");
                None
            }
            Ok(text) => match serde_json::from_str::<Baseline>(&text) {
                Ok(b)
                    if b.features
                        .iter()
                        .map(|f| &f.name)
                        .eq(model.features().iter().map(|f| &f.name)) =>
                {
                    Some(Arc::new(b))
                }
                Ok(_) => {
                    tracing::warn!(file = %path.display(), "the training baseline lists other features than the model; drift is not measured");
                    None
                }
                Err(e) => {
                    tracing::warn!(file = %path.display(), error = %e, "the training baseline is not valid; drift is not measured");
                    None
                }
            },
        };
        Ok(Self {
            model: Arc::new(model),
            baseline,
        })
    }
}

/// Whether `model` (with `baseline`) still fits the line, from the newest `recent`
/// records and the `(score, failed)` pairs of the newest labelled cells (pure).
pub fn model_health(
    name: &str,
    model: &Model,
    baseline: Option<&Baseline>,
    recent: &[CellRecord],
    labelled: &[(f64, bool)],
    cfg: &QualitySettings,
    now_ms: i64,
) -> ModelHealth {
    let rows: Vec<Vec<Option<f64>>> = recent
        .iter()
        .map(|r| model.features_from_record(r))
        .collect();
    let mut drift: Vec<FeatureDrift> = baseline
        .map(|b| b.drift(&rows))
        .unwrap_or_default()
        .into_iter()
        .map(|d| FeatureDrift {
            label: def(&d.name).map_or_else(|| d.name.clone(), |def| def.label.to_owned()),
            feature: d.name,
            psi: d.psi,
            usual: d.usual,
        })
        .collect();
    // The worst first: the shifted features, then by PSI.
    drift.sort_by(|a, b| {
        b.shifted()
            .cmp(&a.shifted())
            .then_with(|| b.psi.total_cmp(&a.psi))
    });
    let p = drift::performance(labelled, model.threshold());
    ModelHealth {
        model: name.to_owned(),
        window: u64::from(cfg.drift_cells),
        cells: recent.len() as u64,
        has_baseline: baseline.is_some(),
        drift,
        performance: LivePerformance {
            window: u64::from(cfg.performance_cells),
            labelled: p.labelled,
            defective: p.defective,
            pr_auc: p.pr_auc,
            recall: p.recall,
            flag_rate: p.flag_rate,
            recall_target: match cfg.threshold {
                ThresholdPolicy::RecallWithinFlagRate { recall, .. } => Some(recall),
                ThresholdPolicy::CostRatio { .. } => None,
            },
        },
        measured_ms: now_ms,
    }
}

/// Cells, scores and models.
pub struct Quality {
    cfg: Arc<QualitySettings>,
    store: QualityStore,
    models_dir: PathBuf,
    active: RwLock<Option<Active>>,
    active_name: RwLock<String>,
    events: broadcast::Sender<CellSummary>,
    scoring: tokio::sync::Mutex<()>,
    audit: AuditLog,
    /// The last measured health of the active model.
    health: tokio::sync::Mutex<Option<ModelHealth>>,
    /// The models page's view of each artifact folder, while its files are unchanged.
    views: std::sync::Mutex<HashMap<PathBuf, CachedView>>,
    /// Artifact folders read for the models page (each read parses the model).
    view_reads: AtomicU64,
    /// The re-scoring job's progress: the one running, or the last since start.
    rescoring: std::sync::Mutex<Option<Rescoring>>,
    /// Wakes the re-scoring job (a model was promoted).
    rescore_wake: tokio::sync::Notify,
    /// A switch recorded elsewhere whose model could not be loaded (not tried again).
    refused_switch: std::sync::Mutex<Option<ModelSwitch>>,
}

/// Files of an artifact folder the models page shows; a change of any is a new view.
const VIEW_FILES: [&str; 5] = [
    crate::risk::model::MODEL_FILE,
    "metrics.json",
    "meta.json",
    "MODEL_CARD.md",
    BASELINE_FILE,
];

/// Modification time and length of each of [`VIEW_FILES`] (`None`: absent).
type Stamp = Vec<Option<(std::time::SystemTime, u64)>>;

fn stamp(dir: &Path) -> Stamp {
    VIEW_FILES
        .iter()
        .map(|f| {
            std::fs::metadata(dir.join(f))
                .ok()
                .and_then(|m| Some((m.modified().ok()?, m.len())))
        })
        .collect()
}

/// One folder's view (or why it cannot be loaded) and the files it was read from.
struct CachedView {
    stamp: Stamp,
    view: Result<ModelView, String>,
}

impl Quality {
    /// Opens the service: the active model is the last promoted one, else the
    /// configured one. A model that cannot be loaded leaves cells unscored (shown as
    /// incomplete with the reason logged), never scored by something else.
    pub async fn open(
        cfg: Arc<QualitySettings>,
        store: QualityStore,
    ) -> Result<Self, QualityStoreError> {
        let name = store
            .last_switch()
            .await?
            .map_or_else(|| cfg.active_model.clone(), |s| s.to);
        let models_dir = cfg.models_dir.clone();
        let active = match Active::load(&models_dir.join(&name)) {
            Ok(a) => Some(a),
            Err(e) => {
                tracing::error!(model = %name, error = %e, "the active model cannot be loaded; cells stay unscored");
                None
            }
        };
        let (events, _) = broadcast::channel(1024);
        let audit = AuditLog::new(store.pool().clone());
        Ok(Self {
            audit,
            cfg,
            store,
            models_dir,
            active: RwLock::new(active),
            active_name: RwLock::new(name),
            events,
            scoring: tokio::sync::Mutex::new(()),
            health: tokio::sync::Mutex::new(None),
            views: std::sync::Mutex::new(HashMap::new()),
            view_reads: AtomicU64::new(0),
            rescoring: std::sync::Mutex::new(None),
            rescore_wake: tokio::sync::Notify::new(),
            refused_switch: std::sync::Mutex::new(None),
        })
    }

    /// The re-scoring job: after each promotion (and once at start, which resumes
    /// one a stop interrupted) it scores every cell whose score is not from the
    /// active model, [`RESCORE_BATCH`] at a time, until none is left or `shutdown`.
    /// Cells keep the model version they were scored with, so a batch written is
    /// never redone and a table part re-scored is never shown as final: pages show
    /// [`Quality::rescoring`] until it ends.
    pub async fn run_rescoring(self: Arc<Self>, shutdown: CancellationToken) {
        loop {
            // Registered before looking, so a promotion during a pass is not missed.
            let woken = self.rescore_wake.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            match self.rescore_pass(&shutdown).await {
                Ok(()) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "re-scoring stopped by a storage failure; trying again");
                    tokio::select! {
                        () = tokio::time::sleep(RESCORE_RETRY) => continue,
                        () = shutdown.cancelled() => return,
                    }
                }
            }
            loop {
                tokio::select! {
                    () = &mut woken => break,
                    () = tokio::time::sleep(FOLLOW_EVERY) => {
                        if self.follow_recorded_switch().await {
                            break;
                        }
                    }
                    () = shutdown.cancelled() => return,
                }
            }
        }
    }

    /// Follows a switch another process recorded in the database (`cellguard train
    /// --promote`): when the newest names another model than the active one, that
    /// model is loaded and made active. Whether it switched.
    async fn follow_recorded_switch(&self) -> bool {
        let last = match self.store.last_switch().await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the recorded model switches");
                return false;
            }
        };
        let Some(last) = last else {
            return false;
        };
        let refused = || {
            self.refused_switch
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
        };
        if last.to == self.active_name() || refused().as_ref() == Some(&last) {
            return false;
        }
        let dir = self.models_dir.join(&last.to);
        let loaded = tokio::task::spawn_blocking(move || Active::load(&dir)).await;
        match loaded {
            Ok(Ok(active)) => {
                self.make_active(&last.to, active);
                tracing::info!(from = %last.from, to = %last.to, by = %last.by, "active model switched by another process");
                true
            }
            Ok(Err(e)) => {
                tracing::error!(model = %last.to, error = %e, "a recorded switch names a model that cannot be loaded; the active model stays");
                *refused() = Some(last);
                false
            }
            Err(e) => {
                tracing::error!(error = %e, "model loading task failed");
                false
            }
        }
    }

    /// One pass of the re-scoring job over every cell not scored with the active
    /// model. Returns early (keeping the progress shown) on shutdown or when
    /// another model was made active meanwhile (the next pass takes that one).
    async fn rescore_pass(&self, shutdown: &CancellationToken) -> Result<(), QualityStoreError> {
        let Some(model) = self.model() else {
            return Ok(());
        };
        let version = model.version().to_owned();
        let name = self.active_name();
        let (done, total) = self.store.scored_with(&version).await?;
        if done >= total {
            // Nothing to do; a promotion's "0 % done" ends here too.
            if self.rescoring_now().is_some() {
                self.set_rescoring(&name, done, total);
            }
            return Ok(());
        }
        tracing::info!(model = %name, done, total, "re-scoring the cells not scored with the active model");
        self.set_rescoring(&name, done, total);
        let mut after = 0;
        loop {
            if shutdown.is_cancelled() {
                return Ok(());
            }
            if self.model().is_none_or(|m| m.version() != version) {
                // Another model was promoted: its wake-up starts the next pass.
                self.rescore_wake.notify_one();
                return Ok(());
            }
            let batch = self
                .store
                .not_scored_with(&version, after, RESCORE_BATCH)
                .await?;
            let Some(&(last, _)) = batch.last() else {
                break;
            };
            after = last;
            let serials: Vec<String> = batch.into_iter().map(|(_, s)| s).collect();
            self.score_and_save(&serials, ScoreReason::ModelChanged)
                .await?;
            let (done, total) = self.store.scored_with(&version).await?;
            // Progress first: a page refreshed by the announcement shows it.
            self.set_rescoring(&name, done, total);
            self.announce(&serials).await?;
        }
        let (done, total) = self.store.scored_with(&version).await?;
        tracing::info!(model = %name, done, total, "re-scoring finished");
        // Every cell was visited: it has ended, whatever a cell without data gave.
        if let Ok(mut r) = self.rescoring.lock() {
            *r = Some(Rescoring {
                model: name,
                done,
                total,
                finished: true,
            });
        }
        // Every cell changed score: the next look at the model's fit measures them.
        *self.health.lock().await = None;
        Ok(())
    }

    /// Scores with `active` under `name` from now on.
    fn make_active(&self, name: &str, active: Active) {
        if let Ok(mut a) = self.active.write() {
            *a = Some(active);
        }
        if let Ok(mut n) = self.active_name.write() {
            name.clone_into(&mut n);
        }
    }

    /// Shows `done` of `total` cells scored with `model` (finished when all are;
    /// cells that arrive meanwhile are scored with it as they come).
    fn set_rescoring(&self, model: &str, done: u64, total: u64) {
        if let Ok(mut r) = self.rescoring.lock() {
            *r = Some(Rescoring {
                model: model.to_owned(),
                done,
                total,
                finished: done >= total,
            });
        }
    }

    /// The re-scoring job's progress: running, or the last one since start.
    pub fn rescoring(&self) -> Option<Rescoring> {
        self.rescoring.lock().ok().and_then(|r| r.clone())
    }

    /// The progress while a re-scoring runs (`None` once it has finished).
    fn rescoring_now(&self) -> Option<Rescoring> {
        self.rescoring().filter(|r| !r.finished)
    }

    /// Whether the active model still fits the line: drift of each feature over the
    /// newest `drift_cells` cells, live figures over the newest `performance_cells`
    /// labelled ones. Measured at most every 15 s (pages and the alarm probe ask
    /// more often); `None` without a loadable model.
    pub async fn health(&self) -> Result<Option<ModelHealth>, QualityStoreError> {
        let Some((model, baseline)) = self.active.read().ok().and_then(|a| {
            a.as_ref()
                .map(|a| (Arc::clone(&a.model), a.baseline.clone()))
        }) else {
            return Ok(None);
        };
        let name = self.active_name();
        let mut cached = self.health.lock().await;
        let now = now_ms();
        if let Some(h) = cached.as_ref()
            && h.model == name
            && (0..HEALTH_EVERY_MS).contains(&(now - h.measured_ms))
        {
            return Ok(Some(h.clone()));
        }
        let recent = self.store.recent_records(self.cfg.drift_cells).await?;
        let labelled = self
            .store
            .labelled_scores(&name, self.cfg.performance_cells)
            .await?;
        let h = model_health(
            &name,
            &model,
            baseline.as_deref(),
            &recent,
            &labelled,
            &self.cfg,
            now,
        );
        *cached = Some(h.clone());
        Ok(Some(h))
    }

    /// Artifact folders read (model parsed) for the models page since start: a
    /// folder whose files did not change is shown from memory.
    pub fn model_view_reads(&self) -> u64 {
        self.view_reads.load(Ordering::Relaxed)
    }

    /// The models page's view of the artifact folder `dir`: from memory while its
    /// files keep their time and size, else read again (off the async threads:
    /// loading a forest parses megabytes of JSON).
    async fn model_view_of(&self, dir: &Path, active: &str) -> Result<ModelView, String> {
        let now = stamp(dir);
        let lock = || {
            self.views
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
        };
        if let Some(c) = lock().get(dir)
            && c.stamp == now
        {
            return c.view.clone();
        }
        self.view_reads.fetch_add(1, Ordering::Relaxed);
        let (dir2, active2) = (dir.to_owned(), active.to_owned());
        let view = tokio::task::spawn_blocking(move || model_view(&dir2, &active2))
            .await
            .unwrap_or_else(|e| Err(e.to_string()));
        lock().insert(
            dir.to_owned(),
            CachedView {
                stamp: now,
                view: view.clone(),
            },
        );
        view
    }

    /// [`Quality::health`] for a page: a failure is logged and shows as no figures.
    async fn health_for_page(&self) -> Option<ModelHealth> {
        self.health().await.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "cannot measure the active model's health");
            None
        })
    }

    /// Cell updates, for the live stream.
    pub fn subscribe(&self) -> broadcast::Receiver<CellSummary> {
        self.events.subscribe()
    }

    /// The store.
    pub fn store(&self) -> &QualityStore {
        &self.store
    }

    /// Every cell of the filter with its score, for the CSV export.
    pub async fn export_rows(
        &self,
        f: &CellFilter,
    ) -> Result<Vec<crate::quality::store::ExportRow>, ServiceError> {
        Ok(self.store.export_rows(f).await?)
    }

    /// The configuration.
    pub fn config(&self) -> &QualitySettings {
        &self.cfg
    }

    fn model(&self) -> Option<Arc<Model>> {
        self.active
            .read()
            .ok()
            .and_then(|a| a.as_ref().map(|a| Arc::clone(&a.model)))
    }

    /// The active model's name.
    pub fn active_name(&self) -> String {
        self.active_name
            .read()
            .map(|n| n.clone())
            .unwrap_or_default()
    }

    /// Validates, stores and scores a batch from the API: all of it or nothing.
    pub async fn ingest(&self, batch: Vec<InspectionIn>) -> Result<IngestOutcome, IngestFailure> {
        ingest::check_batch_size(batch.len()).map_err(IngestFailure::Invalid)?;
        let checked =
            ingest::validate(batch, &self.cfg, now_ms()).map_err(IngestFailure::Invalid)?;
        let outcome = self.store.ingest(&checked, now_ms()).await?;
        // The data is committed: a scoring failure must not read as "nothing written".
        // A resend of the same records re-scores (duplicates count as touched).
        if let Err(e) = self.rescore(&outcome.touched, ScoreReason::Ingested).await {
            tracing::error!(error = %e, cells = outcome.touched.len(), "stored, but scoring failed; a resend re-scores");
        }
        Ok(outcome)
    }

    /// Checks a dataset's records and, unless `dry_run`, writes them all (or none)
    /// and scores their cells. `progress` hears (stage, done, total).
    pub async fn import(
        &self,
        records: &[CellRecord],
        dry_run: bool,
        progress: &(dyn Fn(&str, u64, u64) + Sync),
    ) -> Result<ImportReport, IngestFailure> {
        let now = now_ms();
        let mut batch = Vec::new();
        for r in records {
            batch.extend(ingest::from_record(r, "import", now));
        }
        progress("checking", 0, records.len() as u64);
        let checked = ingest::validate(batch, &self.cfg, now)
            .map_err(|errs| IngestFailure::Invalid(errs.into_iter().take(100).collect()))?;
        let mut lots: Vec<String> = records.iter().map(|r| r.lot.clone()).collect();
        lots.sort();
        lots.dedup();
        let preview = records
            .iter()
            .take(10)
            .map(|r| {
                (
                    r.serial.clone(),
                    r.lot.clone(),
                    r.order.clone(),
                    r.values.iter().filter(|v| v.is_some()).count() as u32,
                )
            })
            .collect();
        let mut report = ImportReport {
            committed: false,
            rows: records.len() as u64,
            new_cells: 0,
            inspections: checked.len() as u64,
            duplicates: 0,
            lots,
            preview,
        };
        if dry_run {
            let (new_cells, dupes) = self.store.preview(&checked).await?;
            report.new_cells = new_cells;
            report.duplicates = dupes;
            report.inspections -= dupes;
            return Ok(report);
        }
        progress("writing", 0, checked.len() as u64);
        let outcome = self.store.ingest(&checked, now).await?;
        progress("writing", checked.len() as u64, checked.len() as u64);
        report.committed = true;
        report.new_cells = outcome.new_cells;
        report.inspections = outcome.created;
        report.duplicates = outcome.duplicates;
        // Score from the database so a cell's earlier inspections count too.
        let total = outcome.touched.len() as u64;
        for (i, chunk) in outcome.touched.chunks(500).enumerate() {
            if let Err(e) = self.rescore(chunk, ScoreReason::Imported).await {
                tracing::error!(error = %e, "imported, but scoring failed; importing the file again re-scores");
                break;
            }
            progress("scoring", ((i + 1) * 500).min(total as usize) as u64, total);
        }
        // Many cells at once, all scored now: the next look at the model's fit
        // measures them (not a look taken while they were being scored).
        *self.health.lock().await = None;
        Ok(report)
    }

    /// Scores `serials` with the active model, stores the verdicts (reporting
    /// them to the MES as `why` allows) and announces the cells.
    pub async fn rescore(
        &self,
        serials: &[String],
        why: ScoreReason,
    ) -> Result<(), QualityStoreError> {
        self.score_and_save(serials, why).await?;
        self.announce(serials).await
    }

    /// [`Quality::rescore`] without the announcement.
    async fn score_and_save(
        &self,
        serials: &[String],
        why: ScoreReason,
    ) -> Result<(), QualityStoreError> {
        if serials.is_empty() {
            return Ok(());
        }
        // One scorer at a time: read → score → save must not interleave with another
        // for the same cell, or an older verdict could be saved last.
        let _turn = self.scoring.lock().await;
        let model = self.model();
        let name = self.active_name();
        let mut verdicts = Vec::with_capacity(serials.len());
        let mut scratch = model.as_ref().map(|m| m.scratch());
        for serial in serials {
            let Some(record) = self.store.record(serial).await? else {
                continue;
            };
            let state = match (&model, &mut scratch) {
                (Some(m), Some(s)) => score_record(m, &record, s, now_ms()),
                _ => ScoreState::Incomplete {
                    model: name.clone(),
                    model_version: String::new(),
                    missing: vec!["(no loadable model)".into()],
                    at_ms: now_ms(),
                },
            };
            verdicts.push((serial.clone(), state));
        }
        self.store.save_scores(&verdicts, why).await
    }

    /// Tells the live stream about the newest [`ANNOUNCE_CAP`] of `serials`.
    async fn announce(&self, serials: &[String]) -> Result<(), QualityStoreError> {
        if self.events.receiver_count() > 0 {
            for serial in serials.iter().rev().take(ANNOUNCE_CAP).rev() {
                if let Some(summary) = self.store.summary_of(serial).await? {
                    let _ = self.events.send(summary);
                }
            }
        }
        Ok(())
    }
}

/// What the models page shows of one artifact folder.
fn model_view(dir: &Path, active: &str) -> Result<ModelView, String> {
    {
        let model = Model::load(dir).map_err(|e| e.to_string())?;
        let read_json = |file: &str| -> serde_json::Value {
            std::fs::read_to_string(dir.join(file))
                .ok()
                .and_then(|t| serde_json::from_str(&t).ok())
                .unwrap_or(serde_json::Value::Null)
        };
        let m = read_json("metrics.json");
        let meta = read_json("meta.json");
        let f = |k: &str| {
            m.get(k)
                .and_then(serde_json::Value::as_f64)
                .unwrap_or(f64::NAN)
        };
        let u = |v: &serde_json::Value, k: &str| {
            v.get(k).and_then(serde_json::Value::as_u64).unwrap_or(0)
        };
        let conf = m.get("confusion").cloned().unwrap_or_default();
        let list = |k: &str| {
            m.get(k)
                .and_then(serde_json::Value::as_array)
                .cloned()
                .unwrap_or_default()
        };
        let num = |v: &serde_json::Value, k: &str| {
            v.get(k).and_then(serde_json::Value::as_f64).unwrap_or(0.0)
        };
        let metrics = ModelMetrics {
            pr_auc: f("pr_auc"),
            roc_auc: f("roc_auc"),
            brier: f("brier"),
            base_rate: f("base_rate"),
            threshold: model.threshold(),
            recall: f("recall"),
            precision: f("precision"),
            flag_rate: f("flag_rate"),
            producers_risk: f("producers_risk"),
            consumers_risk: f("consumers_risk"),
            confusion: ConfusionView {
                tp: u(&conf, "tp"),
                fp: u(&conf, "fp"),
                tn: u(&conf, "tn"),
                fn_: u(&conf, "fn"),
            },
            pr_curve: list("pr_curve")
                .iter()
                .map(|p| (num(p, "recall"), num(p, "precision")))
                .collect(),
            calibration: list("calibration")
                .iter()
                .map(|b| (num(b, "mean_score"), num(b, "observed_rate"), u(b, "count")))
                .collect(),
            n_test: u(&m, "n_test"),
        };
        let name = model.name().to_owned();
        Ok(ModelView {
            active: name == active,
            kind: model.kind().as_str().to_owned(),
            version: model.version().to_owned(),
            created: meta
                .get("created")
                .and_then(serde_json::Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            features: model.features().iter().map(|f| f.name.clone()).collect(),
            metrics,
            card: std::fs::read_to_string(dir.join("MODEL_CARD.md")).unwrap_or_default(),
            champion: meta
                .get("champion")
                .and_then(serde_json::Value::as_bool)
                .unwrap_or(false),
            champion_reason: meta
                .get("champion_reason")
                .and_then(serde_json::Value::as_str)
                .map(str::to_owned),
            fingerprint: meta
                .get("fingerprint")
                .and_then(serde_json::Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            name,
        })
    }
}

/// Scores one record with `model` into a storable verdict.
pub fn score_record(
    model: &Model,
    record: &CellRecord,
    scratch: &mut Scratch,
    at_ms: i64,
) -> ScoreState {
    let x = model.features_from_record(record);
    match model.score_with(&x, scratch) {
        Err(missing) => ScoreState::Incomplete {
            model: model.name().to_owned(),
            model_version: model.version().to_owned(),
            missing: missing.0,
            at_ms,
        },
        // Never call a cell low-risk on a number that is not one.
        Ok(scored) if !scored.p.is_finite() => ScoreState::Incomplete {
            model: model.name().to_owned(),
            model_version: model.version().to_owned(),
            missing: vec!["(the model gave no valid score)".into()],
            at_ms,
        },
        Ok(scored) => {
            let mut reasons: Vec<Reason> = model
                .features()
                .iter()
                .zip(&x)
                .enumerate()
                .map(|(i, (f, v))| {
                    let d = def(&f.name);
                    Reason {
                        feature: f.name.clone(),
                        label: d.map_or_else(|| f.name.clone(), |d| d.label.to_owned()),
                        value: v.unwrap_or(f.mean),
                        unit: d.map(|d| d.unit.to_owned()).unwrap_or_default(),
                        contribution: scored.contributions.get(i).copied().unwrap_or(0.0),
                        imputed: scored.imputed.get(i).copied().unwrap_or(false),
                    }
                })
                .collect();
            reasons.sort_by(|a, b| b.contribution.abs().total_cmp(&a.contribution.abs()));
            reasons.truncate(REASONS);
            let threshold = model.threshold();
            ScoreState::Scored(ScoreView {
                score: scored.p,
                band: Band::of(scored.p, threshold),
                threshold,
                model: model.name().to_owned(),
                model_version: model.version().to_owned(),
                scored_ms: at_ms,
                reasons,
                base: Some(model.base()),
            })
        }
    }
}

fn unavailable(e: QualityStoreError) -> ServiceError {
    ServiceError::from(e)
}

#[async_trait::async_trait]
impl QualityService for Quality {
    async fn overview(&self) -> Result<QualityOverview, ServiceError> {
        let tiers = self.cfg.tiers;
        let o = self
            .store
            .overview(tiers, 20, 24)
            .await
            .map_err(unavailable)?;
        let model = self.model();
        Ok(QualityOverview {
            cells: o.cells,
            scored: o.scored,
            incomplete: o.cells.saturating_sub(o.scored),
            high: o.high,
            histogram: o.histogram,
            threshold: model.as_ref().map(|m| m.threshold()),
            model: model.as_ref().map(|_| self.active_name()),
            high_waiting: o.high_waiting,
            lots: o.lots,
            tiers,
            health: self.health_for_page().await,
            rescoring: self.rescoring_now(),
        })
    }

    async fn cells(&self, filter: CellFilter) -> Result<CellPage, ServiceError> {
        self.store.cells(&filter).await.map_err(unavailable)
    }

    async fn cell(&self, serial: &str) -> Result<Option<CellDetail>, ServiceError> {
        self.store.cell(serial).await.map_err(unavailable)
    }

    async fn models(&self) -> Result<ModelsView, ServiceError> {
        let active = self.active_name();
        let mut models = Vec::new();
        let mut broken = Vec::new();
        let mut dirs: Vec<PathBuf> = std::fs::read_dir(&self.models_dir)
            .map(|rd| {
                rd.filter_map(Result::ok)
                    .map(|e| e.path())
                    .filter(|p| p.join("model.json").is_file())
                    .collect()
            })
            .unwrap_or_default();
        dirs.sort();
        for dir in dirs {
            let name = dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let view = self.model_view_of(&dir, &active).await;
            match view {
                Ok(mut v) => {
                    // The folder is the model's name: promotion and "active" use it.
                    v.active = name == active;
                    v.name = name;
                    models.push(v);
                }
                Err(reason) => {
                    tracing::warn!(model = %name, error = %reason, "model cannot be loaded");
                    broken.push((name, "cannot be loaded (the server log says why)".into()));
                }
            }
        }
        let switches = self.store.switches().await.map_err(unavailable)?;
        Ok(ModelsView {
            models,
            broken,
            switches,
            health: self.health_for_page().await,
            rescoring: self.rescoring(),
        })
    }

    async fn promote(&self, name: &str, by: &Caller) -> Result<(), ServiceError> {
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            || name.starts_with('.')
        {
            return Err(ServiceError::UnknownModel(name.to_owned()));
        }
        let dir = self.models_dir.join(name);
        if !dir.join("model.json").is_file() {
            return Err(ServiceError::UnknownModel(name.to_owned()));
        }
        let loaded = tokio::task::spawn_blocking(move || Active::load(&dir))
            .await
            .map_err(|e| {
                tracing::error!(model = %name, error = %e, "model loading task failed");
                ServiceError::unavailable("the model loader")
            })?
            .map_err(|e| {
                tracing::warn!(model = %name, error = %e, "model cannot be promoted");
                ServiceError::BadModel {
                    name: name.to_owned(),
                    reason: "it cannot be loaded (the server log says why)".into(),
                }
            })?;
        let version = loaded.model.version().to_owned();
        let from = self.active_name();
        self.store
            .record_switch(&ModelSwitch {
                ts_ms: now_ms(),
                from: from.clone(),
                to: name.to_owned(),
                by: by.principal.actor(),
            })
            .await
            .map_err(unavailable)?;
        self.audit
            .record(AuditEvent::by(
                &by.principal,
                &by.source,
                AuditAction::ModelPromoted,
                name,
                format!("{from} → {name}"),
            ))
            .await?;
        self.make_active(name, loaded);
        tracing::info!(from = %from, to = %name, by = %by.principal.actor(), "active model switched");
        // The cells are re-scored in the background (`run_rescoring`): a request
        // cancelled now leaves nothing half done.
        match self.store.scored_with(&version).await {
            Ok((done, total)) => self.set_rescoring(name, done, total),
            Err(e) => tracing::warn!(error = %e, "cannot count the cells to re-score"),
        }
        self.rescore_wake.notify_one();
        Ok(())
    }
}
