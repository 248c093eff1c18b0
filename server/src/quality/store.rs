//! Cells, inspections, context and scores in SQLite (the same file as the history).

use std::collections::BTreeMap;
use std::sync::Arc;

use app::quality::{
    Band, CellDetail, CellFilter, CellPage, CellSummary, ContextValue, InspectionView, LotTier,
    LotView, MeasurementView, ModelSwitch, Reason, ScoreView, Stage, TierBounds, Verdict,
};
use sqlx::sqlite::SqlitePool;
use sqlx::{QueryBuilder, Row, Sqlite};

use super::ingest::Inspection;
use super::{CATALOGUE, CellRecord, def, index_of};
use app::api::service::ServiceError;

/// The newest cells with every measurement (see [`QualityStore::recent_records`]).
pub const RECENT_SQL: &str = "WITH recent AS (SELECT serial, lot, order_id, product, created_ms, \
     short_term_failed FROM cells ORDER BY created_ms DESC LIMIT ?) \
     SELECT r.serial, r.lot, r.order_id, r.product, r.created_ms, r.short_term_failed, \
     m.name, m.value FROM recent r \
     LEFT JOIN inspections i ON i.serial = r.serial \
     LEFT JOIN measurements m ON m.inspection_id = i.id \
     ORDER BY r.created_ms DESC, r.serial, i.ts_ms, i.id";

/// The newest labelled cells a model scored (see [`QualityStore::labelled_scores`]).
pub const LABELLED_SQL: &str = "SELECT s.score, c.short_term_failed FROM cells c \
     JOIN scores s ON s.serial = c.serial \
     WHERE c.short_term_failed IS NOT NULL AND s.model = ? AND s.score IS NOT NULL \
     ORDER BY c.created_ms DESC LIMIT ?";

/// Largest page of the cells table.
pub const MAX_PAGE: u32 = 200;
/// The re-scoring job's next cells: after a position, by the cells' rowid, each
/// looked up in `scores` by its key (a query plan test holds it to that).
pub const NOT_SCORED_WITH_SQL: &str = "SELECT c.rowid AS pos, c.serial FROM cells c \
     LEFT JOIN scores s ON s.serial = c.serial \
     WHERE c.rowid > ? AND s.model_version IS NOT ? ORDER BY c.rowid LIMIT ?";
/// Cells scored with a model version (counted on `scores_version`) and in all.
pub const SCORED_WITH_SQL: &str = "SELECT (SELECT COUNT(*) FROM scores WHERE model_version = ?), \
     (SELECT COUNT(*) FROM cells)";

/// Why the quality store (cells, inspections, scores, model switches) failed.
#[derive(Debug, thiserror::Error)]
pub enum QualityStoreError {
    /// The database reported an error.
    #[error("quality store: {0}")]
    Database(#[from] sqlx::Error),
}

impl From<QualityStoreError> for ServiceError {
    fn from(e: QualityStoreError) -> Self {
        tracing::error!(error = %e, "quality store failed");
        ServiceError::unavailable("the quality store")
    }
}

/// Why an ingestion was refused as a whole.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// A key was reused for different content, or a cell changed lot or order.
    #[error("record {record}: {message}")]
    Conflict {
        /// Index in the batch.
        record: usize,
        /// What clashes.
        message: String,
    },
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] QualityStoreError),
}

impl From<sqlx::Error> for IngestError {
    fn from(e: sqlx::Error) -> Self {
        IngestError::Store(QualityStoreError::Database(e))
    }
}

/// What an ingestion did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct IngestOutcome {
    /// Inspections written.
    pub created: u64,
    /// Inspections already present with the same key and content.
    pub duplicates: u64,
    /// Cells new to the database.
    pub new_cells: u64,
    /// Serials that got new data (to re-score), in first-seen order.
    #[serde(skip)]
    pub touched: Vec<String>,
    /// Per record: `created` or `duplicate`.
    pub results: Vec<RecordResult>,
}

/// The outcome of one record.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct RecordResult {
    /// Its key.
    pub key: String,
    /// Its cell.
    pub serial: String,
    /// `created` or `duplicate`.
    #[schema(schema_with = record_status_schema)]
    pub status: &'static str,
}

/// The schema of [`RecordResult::status`].
fn record_status_schema() -> utoipa::openapi::schema::Object {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(["created", "duplicate"]))
        .description(Some("`created` or `duplicate`."))
        .build()
}

/// A score (or the lack of one) to store for a cell.
#[derive(Debug, Clone, PartialEq)]
pub enum ScoreState {
    /// Scored.
    Scored(ScoreView),
    /// Required features missing.
    Incomplete {
        /// Model asked.
        model: String,
        /// Its version.
        model_version: String,
        /// Missing feature names.
        missing: Vec<String>,
        /// When checked.
        at_ms: i64,
    },
}

type Tx = sqlx::Transaction<'static, Sqlite>;

/// Whether record `i`'s key is already stored with the same content; the same key
/// with other content is a conflict.
async fn is_duplicate(tx: &mut Tx, i: usize, ins: &Inspection) -> Result<bool, IngestError> {
    let existing: Option<(String, String)> =
        sqlx::query_as("SELECT digest, serial FROM inspections WHERE idem_key = ?")
            .bind(&ins.key)
            .fetch_optional(&mut **tx)
            .await?;
    match existing {
        None => Ok(false),
        Some((digest, _)) if digest == ins.digest => Ok(true),
        Some((_, serial)) => Err(IngestError::Conflict {
            record: i,
            message: format!(
                "key {:?} was already used for different content (cell {serial})",
                ins.key
            ),
        }),
    }
}

/// Whether record `i`'s cell is known; a known cell with another lot, order or
/// product is a conflict (limits and verdicts depend on the product).
async fn cell_exists(tx: &mut Tx, i: usize, ins: &Inspection) -> Result<bool, IngestError> {
    let cell: Option<(String, String, String)> =
        sqlx::query_as("SELECT lot, order_id, product FROM cells WHERE serial = ?")
            .bind(&ins.serial)
            .fetch_optional(&mut **tx)
            .await?;
    let conflict = |message: String| Err(IngestError::Conflict { record: i, message });
    match cell {
        None => Ok(false),
        Some((lot, order, _)) if lot != ins.lot || order != ins.order => conflict(format!(
            "cell {} belongs to lot {lot}, order {order}",
            ins.serial
        )),
        Some((_, _, product)) if product != ins.product => conflict(format!(
            "cell {} is product {product}; this record is for {} (name the product)",
            ins.serial, ins.product
        )),
        Some(_) => Ok(true),
    }
}

/// Why cells are being scored: decides whether scores may be reported to the MES
/// (which ones are, `mes::report::report_cell` decides).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScoreReason {
    /// New inspections arrived through the API (production).
    Ingested,
    /// A dataset was imported (history): nothing is reported.
    Imported,
    /// Another model was made active: cells whose band changed are reported.
    ModelChanged,
}

/// The quality tables.
#[derive(Debug, Clone)]
pub struct QualityStore {
    pool: SqlitePool,
    /// Set when the MES gets quality results: woken after each queued batch.
    mes: Option<Arc<tokio::sync::Notify>>,
}

fn db(e: sqlx::Error) -> QualityStoreError {
    QualityStoreError::Database(e)
}

impl QualityStore {
    /// On the pool of the history store (same file, migrated there).
    pub fn new(pool: SqlitePool) -> Self {
        Self { pool, mes: None }
    }

    /// Queues a quality result for the MES with every reported score (in the
    /// score's own transaction) and wakes `wake` after each batch.
    pub fn reporting_to_mes(mut self, wake: Arc<tokio::sync::Notify>) -> Self {
        self.mes = Some(wake);
        self
    }

    /// The pool (shared with the audit trail).
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Writes a checked batch in one transaction: all of it or, on any conflict,
    /// nothing.
    pub async fn ingest(
        &self,
        batch: &[Inspection],
        now_ms: i64,
    ) -> Result<IngestOutcome, IngestError> {
        let mut out = IngestOutcome::default();
        // Take the write lock up front: a transaction that reads first and writes later
        // fails with "database is locked" when another writer commits in between.
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        for (i, ins) in batch.iter().enumerate() {
            if is_duplicate(&mut tx, i, ins).await? {
                out.duplicates += 1;
                // A resend re-scores: scoring may have failed after the first commit.
                if !out.touched.contains(&ins.serial) {
                    out.touched.push(ins.serial.clone());
                }
                out.results.push(RecordResult {
                    key: ins.key.clone(),
                    serial: ins.serial.clone(),
                    status: "duplicate",
                });
                continue;
            }
            match cell_exists(&mut tx, i, ins).await? {
                true => {
                    sqlx::query(
                        "UPDATE cells SET updated_ms = max(updated_ms, ?), created_ms = min(created_ms, ?), \
                         short_term_failed = coalesce(?, short_term_failed) WHERE serial = ?",
                    )
                    .bind(ins.ts_ms)
                    .bind(ins.ts_ms)
                    .bind(ins.short_term_failed)
                    .bind(&ins.serial)
                    .execute(&mut *tx)
                    .await?;
                }
                false => {
                    sqlx::query(
                        "INSERT INTO cells (serial, lot, order_id, product, created_ms, updated_ms, \
                         short_term_failed) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    )
                    .bind(&ins.serial)
                    .bind(&ins.lot)
                    .bind(&ins.order)
                    .bind(&ins.product)
                    .bind(ins.ts_ms)
                    .bind(ins.ts_ms)
                    .bind(ins.short_term_failed)
                    .execute(&mut *tx)
                    .await?;
                    out.new_cells += 1;
                }
            }
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO inspections (idem_key, digest, serial, stage, station, ts_ms, \
                 received_ms) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
            )
            .bind(&ins.key)
            .bind(&ins.digest)
            .bind(&ins.serial)
            .bind(ins.stage.as_str())
            .bind(&ins.station)
            .bind(ins.ts_ms)
            .bind(now_ms)
            .fetch_one(&mut *tx)
            .await?;
            if !ins.measurements.is_empty() {
                let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new(
                    "INSERT INTO measurements (inspection_id, name, unit, value, lsl, usl, pass) ",
                );
                qb.push_values(&ins.measurements, |mut b, m| {
                    b.push_bind(id)
                        .push_bind(&m.name)
                        .push_bind(&m.unit)
                        .push_bind(m.value)
                        .push_bind(m.lsl)
                        .push_bind(m.usl)
                        .push_bind(m.verdict == Verdict::Pass);
                });
                qb.build().execute(&mut *tx).await?;
            }
            if !ins.context.is_empty() {
                let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new(
                    "INSERT OR REPLACE INTO cell_context (serial, machine, tag, unit, value, ts_ms) ",
                );
                qb.push_values(&ins.context, |mut b, c| {
                    b.push_bind(&ins.serial)
                        .push_bind(&c.machine)
                        .push_bind(&c.tag)
                        .push_bind(&c.unit)
                        .push_bind(c.value)
                        .push_bind(c.ts_ms);
                });
                qb.build().execute(&mut *tx).await?;
            }
            out.created += 1;
            out.results.push(RecordResult {
                key: ins.key.clone(),
                serial: ins.serial.clone(),
                status: "created",
            });
            if !out.touched.contains(&ins.serial) {
                out.touched.push(ins.serial.clone());
            }
        }
        tx.commit().await?;
        Ok(out)
    }

    /// What [`QualityStore::ingest`] would do, without writing: (new cells,
    /// duplicates). Conflicts are reported as they would be.
    pub async fn preview(&self, batch: &[Inspection]) -> Result<(u64, u64), IngestError> {
        let mut tx = self.pool.begin().await?;
        let mut new_cells = std::collections::HashSet::new();
        let mut dupes = 0;
        for (i, ins) in batch.iter().enumerate() {
            if is_duplicate(&mut tx, i, ins).await? {
                dupes += 1;
            }
            if !cell_exists(&mut tx, i, ins).await? {
                new_cells.insert(ins.serial.as_str());
            }
        }
        tx.rollback().await?;
        Ok((new_cells.len() as u64, dupes))
    }

    /// A cell's latest value of every measurement, as a flat record.
    pub async fn record(&self, serial: &str) -> Result<Option<CellRecord>, QualityStoreError> {
        let Some(row) = sqlx::query(
            "SELECT lot, order_id, product, created_ms, short_term_failed FROM cells WHERE serial = ?",
        )
        .bind(serial)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?
        else {
            return Ok(None);
        };
        let mut r = CellRecord::new(serial, row.get("lot"), row.get("order_id"));
        r.product = row.get("product");
        r.produced_ms = Some(row.get("created_ms"));
        r.label = row.get::<Option<bool>, _>("short_term_failed");
        let rows: Vec<(String, f64)> = sqlx::query_as(
            "SELECT m.name, m.value FROM measurements m JOIN inspections i ON i.id = m.inspection_id \
             WHERE i.serial = ? ORDER BY i.ts_ms, i.id",
        )
        .bind(serial)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        for (name, value) in rows {
            r.set(&name, value);
        }
        Ok(Some(r))
    }

    /// The newest `n` cells as flat records (the latest value of each measurement),
    /// newest first: what drift compares with a model's training data. Reads `n`
    /// cells through `cells_created` and their inspections through
    /// `inspections_serial`, whatever the history kept.
    pub async fn recent_records(&self, n: u32) -> Result<Vec<CellRecord>, QualityStoreError> {
        let rows = sqlx::query(RECENT_SQL)
            .bind(n)
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        let mut out: Vec<CellRecord> = Vec::new();
        for row in rows {
            let serial: String = row.get("serial");
            if out.last().is_none_or(|r| r.serial != serial) {
                let mut r = CellRecord::new(&serial, row.get("lot"), row.get("order_id"));
                r.product = row.get("product");
                r.produced_ms = Some(row.get("created_ms"));
                r.label = row.get::<Option<bool>, _>("short_term_failed");
                out.push(r);
            }
            if let (Some(name), Some(value), Some(r)) = (
                row.get::<Option<String>, _>("name"),
                row.get::<Option<f64>, _>("value"),
                out.last_mut(),
            ) {
                r.set(&name, value);
            }
        }
        Ok(out)
    }

    /// `(score, failed the short-term test)` of the newest `n` cells whose result
    /// has arrived and that `model` scored, newest first (through `cells_labelled`).
    pub async fn labelled_scores(
        &self,
        model: &str,
        n: u32,
    ) -> Result<Vec<(f64, bool)>, QualityStoreError> {
        sqlx::query_as(LABELLED_SQL)
            .bind(model)
            .bind(n)
            .fetch_all(&self.pool)
            .await
            .map_err(db)
    }

    /// Stores the active model's verdicts on cells, in one transaction.
    pub async fn save_scores(
        &self,
        verdicts: &[(String, ScoreState)],
        why: ScoreReason,
    ) -> Result<(), QualityStoreError> {
        let report = self.mes.is_some() && why != ScoreReason::Imported;
        let mut queued = 0;
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await.map_err(db)?;
        for (serial, v) in verdicts {
            Self::save_one(&mut tx, serial, v).await?;
            if let (true, ScoreState::Scored(s)) = (report, v)
                && crate::mes::report::report_cell(&mut tx, serial, s, s.scored_ms)
                    .await
                    .map_err(db)?
            {
                queued += 1;
            }
        }
        tx.commit().await.map_err(db)?;
        if queued > 0
            && let Some(wake) = &self.mes
        {
            wake.notify_one();
        }
        Ok(())
    }

    async fn save_one(
        tx: &mut sqlx::Transaction<'_, Sqlite>,
        serial: &str,
        v: &ScoreState,
    ) -> Result<(), QualityStoreError> {
        let q = sqlx::query(
            "INSERT OR REPLACE INTO scores (serial, model, model_version, score, band, threshold, \
             reasons, missing, scored_ms, base) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(serial);
        let q = match v {
            ScoreState::Scored(s) => q
                .bind(&s.model)
                .bind(&s.model_version)
                .bind(s.score)
                .bind(s.band.as_str())
                .bind(s.threshold)
                .bind(serde_json::to_string(&s.reasons).unwrap_or_else(|_| "[]".into()))
                .bind("[]")
                .bind(s.scored_ms)
                .bind(s.base),
            ScoreState::Incomplete {
                model,
                model_version,
                missing,
                at_ms,
            } => q
                .bind(model)
                .bind(model_version)
                .bind(None::<f64>)
                .bind(None::<&str>)
                .bind(None::<f64>)
                .bind("[]")
                .bind(serde_json::to_string(missing).unwrap_or_else(|_| "[]".into()))
                .bind(*at_ms)
                .bind(None::<f64>),
        };
        q.execute(&mut **tx).await.map_err(db)?;
        Ok(())
    }

    /// Up to `limit` cells after the cell `after` (in storage order, 0 for the first)
    /// whose score is not from the model `version`, with their position: what the
    /// re-scoring job takes next. Passing the last position back resumes after it.
    pub async fn not_scored_with(
        &self,
        version: &str,
        after: i64,
        limit: u32,
    ) -> Result<Vec<(i64, String)>, QualityStoreError> {
        let rows = sqlx::query(NOT_SCORED_WITH_SQL)
            .bind(after)
            .bind(version)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        Ok(rows
            .iter()
            .map(|r| (r.get::<i64, _>("pos"), r.get::<String, _>("serial")))
            .collect())
    }

    /// Cells whose score is from the model `version`, and cells in all.
    pub async fn scored_with(&self, version: &str) -> Result<(u64, u64), QualityStoreError> {
        let (done, total): (i64, i64) = sqlx::query_as(SCORED_WITH_SQL)
            .bind(version)
            .fetch_one(&self.pool)
            .await
            .map_err(db)?;
        Ok((done.max(0) as u64, total.max(0) as u64))
    }

    fn filtered(qb: &mut QueryBuilder<Sqlite>, f: &CellFilter) {
        qb.push(" WHERE 1 = 1");
        if let Some(lot) = f.lot.as_deref().filter(|s| !s.is_empty()) {
            qb.push(" AND c.lot = ").push_bind(lot);
        }
        if let Some(order) = f.order.as_deref().filter(|s| !s.is_empty()) {
            qb.push(" AND c.order_id = ").push_bind(order);
        }
        match f.band.as_deref() {
            Some("high") => {
                qb.push(" AND s.band = 'high'");
            }
            Some("low") => {
                qb.push(" AND s.band = 'low'");
            }
            Some("incomplete") => {
                qb.push(" AND s.score IS NULL");
            }
            _ => {}
        }
        if let Some(from) = f.from_ms {
            qb.push(" AND c.created_ms >= ").push_bind(from);
        }
        if let Some(to) = f.to_ms {
            qb.push(" AND c.created_ms < ").push_bind(to);
        }
    }

    const SUMMARY_COLS: &'static str = "SELECT c.serial, c.lot, c.order_id, c.product, \
        c.created_ms, c.updated_ms, c.short_term_failed, s.score, s.band, \
        (SELECT group_concat(DISTINCT i.stage) FROM inspections i WHERE i.serial = c.serial) AS stages, \
        (SELECT count(*) FROM measurements m JOIN inspections i ON i.id = m.inspection_id \
         WHERE i.serial = c.serial AND m.pass = 0) AS failed \
        FROM cells c LEFT JOIN scores s ON s.serial = c.serial";

    fn summary(row: &sqlx::sqlite::SqliteRow) -> CellSummary {
        let stages: Option<String> = row.get("stages");
        let mut stages: Vec<Stage> = stages
            .unwrap_or_default()
            .split(',')
            .filter_map(Stage::parse)
            .collect();
        stages.sort();
        let band: Option<String> = row.get("band");
        CellSummary {
            serial: row.get("serial"),
            order: row.get("order_id"),
            lot: row.get("lot"),
            product: row.get("product"),
            created_ms: row.get("created_ms"),
            updated_ms: row.get("updated_ms"),
            stages,
            failed: row.get::<i64, _>("failed").try_into().unwrap_or(u32::MAX),
            short_term_failed: row.get("short_term_failed"),
            score: row.get("score"),
            band: band.as_deref().and_then(Band::parse),
        }
    }

    /// A page of cells, newest first.
    pub async fn cells(&self, f: &CellFilter) -> Result<CellPage, QualityStoreError> {
        let size = f.page_size.clamp(1, MAX_PAGE);
        let mut count: QueryBuilder<Sqlite> = QueryBuilder::new(
            "SELECT count(*) FROM cells c LEFT JOIN scores s ON s.serial = c.serial",
        );
        Self::filtered(&mut count, f);
        let total: i64 = count
            .build_query_scalar()
            .fetch_one(&self.pool)
            .await
            .map_err(db)?;
        let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new(Self::SUMMARY_COLS);
        Self::filtered(&mut qb, f);
        qb.push(" ORDER BY c.created_ms DESC, c.serial DESC LIMIT ")
            .push_bind(i64::from(size))
            .push(" OFFSET ")
            .push_bind(i64::from(f.page) * i64::from(size));
        let rows = qb.build().fetch_all(&self.pool).await.map_err(db)?;
        Ok(CellPage {
            rows: rows.iter().map(Self::summary).collect(),
            total: total.max(0) as u64,
            page: f.page,
            page_size: size,
        })
    }

    /// One cell's summary.
    pub async fn summary_of(&self, serial: &str) -> Result<Option<CellSummary>, QualityStoreError> {
        let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new(Self::SUMMARY_COLS);
        qb.push(" WHERE c.serial = ").push_bind(serial);
        let row = qb.build().fetch_optional(&self.pool).await.map_err(db)?;
        Ok(row.as_ref().map(Self::summary))
    }

    /// Everything about one cell.
    pub async fn cell(&self, serial: &str) -> Result<Option<CellDetail>, QualityStoreError> {
        let Some(summary) = self.summary_of(serial).await? else {
            return Ok(None);
        };
        let rows = sqlx::query(
            "SELECT i.id, i.stage, i.station, i.ts_ms, m.name, m.unit, m.value, m.lsl, m.usl, m.pass \
             FROM inspections i LEFT JOIN measurements m ON m.inspection_id = i.id \
             WHERE i.serial = ? ORDER BY i.ts_ms, i.id",
        )
        .bind(serial)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        let mut inspections: Vec<(i64, InspectionView)> = Vec::new();
        for r in &rows {
            let id: i64 = r.get("id");
            if inspections.last().is_none_or(|(last, _)| *last != id) {
                let stage: String = r.get("stage");
                inspections.push((
                    id,
                    InspectionView {
                        stage: Stage::parse(&stage).unwrap_or(Stage::Ipqc),
                        station: r.get("station"),
                        ts_ms: r.get("ts_ms"),
                        measurements: Vec::new(),
                    },
                ));
            }
            let name: Option<String> = r.get("name");
            if let (Some(name), Some((_, view))) = (name, inspections.last_mut()) {
                view.measurements.push(MeasurementView {
                    label: def(&name).map_or_else(|| name.clone(), |d| d.label.to_owned()),
                    name,
                    unit: r.get("unit"),
                    value: r.get("value"),
                    lsl: r.get("lsl"),
                    usl: r.get("usl"),
                    verdict: if r.get::<bool, _>("pass") {
                        Verdict::Pass
                    } else {
                        Verdict::Fail
                    },
                });
            }
        }
        for (_, v) in &mut inspections {
            v.measurements
                .sort_by_key(|m| index_of(&m.name).unwrap_or(usize::MAX));
        }
        let context: Vec<ContextValue> = sqlx::query(
            "SELECT machine, tag, unit, value, ts_ms FROM cell_context WHERE serial = ? \
             ORDER BY ts_ms, machine, tag",
        )
        .bind(serial)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?
        .iter()
        .map(|r| ContextValue {
            machine: r.get("machine"),
            tag: r.get("tag"),
            unit: r.get("unit"),
            value: r.get("value"),
            ts_ms: r.get("ts_ms"),
        })
        .collect();
        let score_row = sqlx::query(
            "SELECT model, model_version, score, band, threshold, reasons, missing, scored_ms, \
             base FROM scores WHERE serial = ?",
        )
        .bind(serial)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        let (score, missing) = match score_row {
            None => (None, Vec::new()),
            Some(r) => {
                let missing: Vec<String> =
                    serde_json::from_str(r.get::<&str, _>("missing")).unwrap_or_default();
                let score = match (
                    r.get::<Option<f64>, _>("score"),
                    r.get::<Option<f64>, _>("threshold"),
                ) {
                    (Some(score), Some(threshold)) => Some(ScoreView {
                        score,
                        band: Band::of(score, threshold),
                        threshold,
                        model: r.get("model"),
                        model_version: r.get("model_version"),
                        scored_ms: r.get("scored_ms"),
                        reasons: serde_json::from_str::<Vec<Reason>>(r.get::<&str, _>("reasons"))
                            .unwrap_or_default(),
                        base: r.get("base"),
                    }),
                    _ => None,
                };
                (score, missing)
            }
        };
        Ok(Some(CellDetail {
            summary,
            inspections: inspections.into_iter().map(|(_, v)| v).collect(),
            context,
            score,
            missing,
        }))
    }

    /// Counts, histogram, high-risk cells waiting and lot cards.
    pub async fn overview(
        &self,
        tiers: TierBounds,
        waiting: u32,
        lots: u32,
    ) -> Result<Overview, QualityStoreError> {
        let (cells, scored, high): (i64, i64, i64) = sqlx::query_as(
            "SELECT (SELECT count(*) FROM cells), \
             (SELECT count(*) FROM scores WHERE score IS NOT NULL), \
             (SELECT count(*) FROM scores WHERE band = 'high')",
        )
        .fetch_one(&self.pool)
        .await
        .map_err(db)?;
        let bins: Vec<(i64, i64)> = sqlx::query_as(
            "SELECT min(CAST(score * 10 AS INTEGER), 9) AS bin, count(*) FROM scores \
             WHERE score IS NOT NULL GROUP BY bin",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        let mut histogram = vec![0u64; 10];
        for (b, n) in bins {
            if let Some(slot) = usize::try_from(b).ok().and_then(|b| histogram.get_mut(b)) {
                *slot += n.max(0) as u64;
            }
        }
        let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new(Self::SUMMARY_COLS);
        qb.push(" WHERE s.band = 'high' AND (c.short_term_failed IS NULL) ORDER BY c.updated_ms DESC LIMIT ")
            .push_bind(i64::from(waiting));
        let high_waiting = qb
            .build()
            .fetch_all(&self.pool)
            .await
            .map_err(db)?
            .iter()
            .map(Self::summary)
            .collect();
        let lot_rows = sqlx::query(
            "SELECT c.lot, group_concat(DISTINCT c.order_id) AS orders, min(c.product) AS product, \
             count(*) AS cells, count(s.score) AS scored, \
             sum(CASE WHEN s.band = 'high' THEN 1 ELSE 0 END) AS high, max(c.updated_ms) AS updated \
             FROM cells c LEFT JOIN scores s ON s.serial = c.serial \
             GROUP BY c.lot ORDER BY updated DESC LIMIT ?",
        )
        .bind(i64::from(lots))
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        let lots = lot_rows
            .iter()
            .map(|r| {
                let scored = r.get::<i64, _>("scored").max(0) as u64;
                let high = r.get::<Option<i64>, _>("high").unwrap_or(0).max(0) as u64;
                LotView {
                    lot: r.get("lot"),
                    order: r.get::<Option<String>, _>("orders").unwrap_or_default(),
                    product: r.get::<Option<String>, _>("product").unwrap_or_default(),
                    cells: r.get::<i64, _>("cells").max(0) as u64,
                    scored,
                    high,
                    tier: LotTier::of(high, scored, tiers),
                    updated_ms: r.get::<Option<i64>, _>("updated").unwrap_or(0),
                }
            })
            .collect();
        Ok(Overview {
            cells: cells.max(0) as u64,
            scored: scored.max(0) as u64,
            high: high.max(0) as u64,
            histogram,
            high_waiting,
            lots,
        })
    }

    /// Cells matching a filter, with every measurement and the score, for export.
    pub async fn export_rows(&self, f: &CellFilter) -> Result<Vec<ExportRow>, QualityStoreError> {
        let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new(
            "SELECT c.serial, c.lot, c.order_id, c.product, c.created_ms, c.short_term_failed, \
             s.score, s.band, s.model, s.scored_ms FROM cells c LEFT JOIN scores s ON s.serial = c.serial",
        );
        Self::filtered(&mut qb, f);
        qb.push(" ORDER BY c.created_ms, c.serial");
        let rows = qb.build().fetch_all(&self.pool).await.map_err(db)?;
        let mut values: BTreeMap<String, Vec<Option<f64>>> = BTreeMap::new();
        let mut mq: QueryBuilder<Sqlite> = QueryBuilder::new(
            "SELECT i.serial, m.name, m.value FROM measurements m \
             JOIN inspections i ON i.id = m.inspection_id \
             JOIN cells c ON c.serial = i.serial LEFT JOIN scores s ON s.serial = c.serial",
        );
        Self::filtered(&mut mq, f);
        mq.push(" ORDER BY i.ts_ms, i.id");
        for r in mq.build().fetch_all(&self.pool).await.map_err(db)? {
            let serial: String = r.get("serial");
            let name: String = r.get("name");
            if let Some(i) = index_of(&name) {
                values
                    .entry(serial)
                    .or_insert_with(|| vec![None; CATALOGUE.len()])[i] = Some(r.get("value"));
            }
        }
        Ok(rows
            .iter()
            .map(|r| {
                let serial: String = r.get("serial");
                let mut rec = CellRecord::new(&serial, r.get("lot"), r.get("order_id"));
                rec.product = r.get("product");
                rec.produced_ms = Some(r.get("created_ms"));
                rec.label = r.get("short_term_failed");
                if let Some(v) = values.remove(&serial) {
                    rec.values = v;
                }
                ExportRow {
                    record: rec,
                    score: r.get("score"),
                    band: r.get("band"),
                    model: r.get("model"),
                    scored_ms: r.get("scored_ms"),
                }
            })
            .collect())
    }

    /// Records a switch of the active model.
    pub async fn record_switch(&self, s: &ModelSwitch) -> Result<(), QualityStoreError> {
        sqlx::query(
            "INSERT INTO model_switches (ts_ms, from_model, to_model, by_whom) VALUES (?, ?, ?, ?)",
        )
        .bind(s.ts_ms)
        .bind(&s.from)
        .bind(&s.to)
        .bind(&s.by)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(())
    }

    /// Switches, newest first.
    pub async fn switches(&self) -> Result<Vec<ModelSwitch>, QualityStoreError> {
        self.recent_switches(100).await
    }

    /// The newest switch, if any: what names the active model.
    pub async fn last_switch(&self) -> Result<Option<ModelSwitch>, QualityStoreError> {
        Ok(self.recent_switches(1).await?.pop())
    }

    async fn recent_switches(&self, limit: i64) -> Result<Vec<ModelSwitch>, QualityStoreError> {
        let rows = sqlx::query(
            "SELECT ts_ms, from_model, to_model, by_whom FROM model_switches ORDER BY id DESC LIMIT ?",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        Ok(rows
            .iter()
            .map(|r| ModelSwitch {
                ts_ms: r.get("ts_ms"),
                from: r.get("from_model"),
                to: r.get("to_model"),
                by: r.get("by_whom"),
            })
            .collect())
    }
}

/// The overview's database part.
#[derive(Debug, Clone, PartialEq)]
pub struct Overview {
    /// Cells seen.
    pub cells: u64,
    /// Cells scored.
    pub scored: u64,
    /// Scored high.
    pub high: u64,
    /// Score histogram, 10 bins.
    pub histogram: Vec<u64>,
    /// High-risk cells without a short-term test result yet.
    pub high_waiting: Vec<CellSummary>,
    /// Lot cards.
    pub lots: Vec<LotView>,
}

/// One exported cell.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportRow {
    /// The cell's values.
    pub record: CellRecord,
    /// Score, if scored.
    pub score: Option<f64>,
    /// Band, if scored.
    pub band: Option<String>,
    /// Model that scored it.
    pub model: Option<String>,
    /// When scored.
    pub scored_ms: Option<i64>,
}
