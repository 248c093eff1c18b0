//! Statistical process control for quality engineers: control charts of any
//! catalogue measurement (from the quality records) or numeric machine tag (from the
//! historian's rollups), limits frozen as audited versions, the capability table of a
//! product, and the SPC alarm source (rule violations on charts with frozen limits).
//!
//! The statistics are `app::spc` (pure); [`analysis`] turns values into a chart
//! (pure); [`store`] reads values and keeps the versions; this module puts them
//! together behind the server functions.

pub mod analysis;
pub mod store;

use std::sync::Arc;

use app::auth::{AuditAction, Caller};
use app::error::ServiceError;
use app::spc::SpecLimits;
use app::spc::view::{
    CapabilityRow, CapabilityTable, ChartQuery, ChartSource, ChartSpec, Grouping, LimitsVersion,
    SpcChartView, TagRef, sort_worst_first,
};

use crate::audit::{AuditEvent, AuditLog};
use crate::clock::now_ms;
use crate::plant::Plant;
use crate::quality::settings::QualitySettings;
use crate::quality::{CATALOGUE, def};
use crate::storage::HistoryStore;
use analysis::{Value, analyse, capability_of};
use store::{SpcStore, SpcStoreError};

/// Values per measurement in the capability table (the newest).
pub const CAPABILITY_VALUES: u32 = 1_000;
/// A tag chart's window when the query gives no start: the last 8 hours (a shift).
const TAG_WINDOW_MS: i64 = 8 * 3_600_000;
/// Longest note kept with a frozen version.
const MAX_NOTE: usize = 500;

impl From<SpcStoreError> for ServiceError {
    fn from(e: SpcStoreError) -> Self {
        tracing::error!(error = %e, "spc store failed");
        ServiceError::unavailable("the SPC store")
    }
}

/// The SPC service (cheap to clone).
#[derive(Clone)]
pub struct Spc {
    inner: Arc<Inner>,
}

struct Inner {
    plant: Arc<Plant>,
    quality: Arc<QualitySettings>,
    store: SpcStore,
    history: Arc<dyn HistoryStore>,
    audit: AuditLog,
}

impl std::fmt::Debug for Spc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Spc").finish_non_exhaustive()
    }
}

/// What a chart's values are, besides the values.
struct Series {
    values: Vec<Value>,
    title: String,
    unit: String,
    spec: Option<SpecLimits>,
}

fn invalid(field: &str, reason: impl Into<String>) -> ServiceError {
    ServiceError::Invalid {
        field: field.into(),
        reason: reason.into(),
    }
}

impl Spc {
    /// The service on the shared database and the historian.
    pub fn new(
        plant: Arc<Plant>,
        quality: Arc<QualitySettings>,
        pool: sqlx::SqlitePool,
        history: Arc<dyn HistoryStore>,
    ) -> Self {
        Spc {
            inner: Arc::new(Inner {
                plant,
                quality,
                store: SpcStore::new(pool.clone()),
                history,
                audit: AuditLog::new(pool),
            }),
        }
    }

    /// The store (tests read it).
    pub fn store(&self) -> &SpcStore {
        &self.inner.store
    }

    fn spec_of(&self, q: &ChartQuery) -> Result<ChartSpec, ServiceError> {
        Ok(q.spec(&self.inner.quality.default_product)?)
    }

    /// The values of the chart `spec` asks for, oldest first.
    async fn series(&self, spec: &ChartSpec) -> Result<Series, ServiceError> {
        match &spec.source {
            ChartSource::Measurement { product, name } => {
                let p = self.inner.quality.product(product).ok_or_else(|| {
                    invalid(
                        "product",
                        format!("{product:?} is not a product of the plant file"),
                    )
                })?;
                let d = def(name).ok_or_else(|| {
                    invalid(
                        "measurement",
                        format!("{name:?} is not a catalogue measurement"),
                    )
                })?;
                let values = self
                    .inner
                    .store
                    .values(
                        &p.id,
                        d.name,
                        spec.from_ms.unwrap_or(i64::MIN),
                        spec.to_ms.unwrap_or(i64::MAX),
                        spec.values,
                    )
                    .await?;
                let (lsl, usl) = p.limits_of(d);
                let unit = match spec.kind {
                    app::spc::ChartKind::P => "share failing".to_string(),
                    app::spc::ChartKind::Np => "cells failing".to_string(),
                    _ => d.unit.to_string(),
                };
                Ok(Series {
                    values,
                    title: format!("{} · {}", d.label, p.name),
                    unit,
                    spec: (lsl.is_some() || usl.is_some()).then_some(SpecLimits { lsl, usl }),
                })
            }
            ChartSource::Tag { machine, tag } => {
                let t = self
                    .inner
                    .plant
                    .tag_named(machine, tag)
                    .filter(|t| t.is_numeric())
                    .ok_or_else(|| {
                        if self.inner.plant.device_named(machine).is_none() {
                            ServiceError::UnknownMachine(machine.clone())
                        } else {
                            invalid("tag", format!("{machine} has no numeric tag {tag:?}"))
                        }
                    })?;
                let to = spec.to_ms.unwrap_or_else(now_ms);
                let from = spec.from_ms.unwrap_or(to - TAG_WINDOW_MS);
                let buckets = self
                    .inner
                    .history
                    .trend(&[t.id], from, to, spec.values)
                    .await
                    .map_err(|e| {
                        tracing::error!(error = %e, "cannot read a tag's history for SPC");
                        ServiceError::unavailable("the history")
                    })?;
                let values = buckets
                    .into_iter()
                    .next()
                    .unwrap_or_default()
                    .into_iter()
                    .map(|b| Value {
                        ts_ms: b.t,
                        serial: String::new(),
                        lot: String::new(),
                        order: String::new(),
                        value: b.mean,
                        pass: true,
                    })
                    .collect();
                Ok(Series {
                    values,
                    title: format!("{machine} · {} (interval means)", t.label),
                    unit: t.unit.clone(),
                    spec: None,
                })
            }
        }
    }

    /// The chart `q` asks for.
    pub async fn chart(&self, q: ChartQuery) -> Result<SpcChartView, ServiceError> {
        let spec = self.spec_of(&q)?;
        self.chart_of(&spec, q).await
    }

    /// The chart of `spec`, checked from `q` (kept in the view as the page's URL).
    async fn chart_of(
        &self,
        spec: &ChartSpec,
        q: ChartQuery,
    ) -> Result<SpcChartView, ServiceError> {
        let key = spec.key();
        let series = self.series(spec).await?;
        let versions = self.inner.store.versions(&key).await?;
        let a = analyse(spec, &series.values, versions.first(), series.spec);
        let grouping = spec.grouping.map(|(g, n)| match g {
            Grouping::Cells => format!("{n} consecutive cells"),
            Grouping::Lot => "the cells of a lot".to_string(),
            Grouping::Order => "the cells of an order".to_string(),
        });
        let (chart, error) = match a.chart {
            Ok(c) => (Some(c), None),
            Err(e) => (None, Some(e)),
        };
        let (capability, capability_note) = match a.capability {
            Ok(c) => (Some(c), None),
            Err(e) => (None, Some(e)),
        };
        Ok(SpcChartView {
            query: q,
            key,
            title: series.title,
            kind: spec.kind,
            unit: series.unit,
            grouping,
            chart,
            error,
            meta: a.meta,
            rules: a.rules,
            violations: a.violations,
            origin: a.origin,
            versions,
            spec: series.spec,
            capability,
            capability_note,
            values: series.values.len(),
        })
    }

    /// Freezes the limits of the chart `q` asks for, computed from its baseline (the
    /// query's, else the default), with its rules, as the chart's next version;
    /// audited.
    pub async fn freeze(
        &self,
        by: &Caller,
        q: ChartQuery,
        note: String,
    ) -> Result<LimitsVersion, ServiceError> {
        let note = note.trim().to_string();
        if note.is_empty() {
            return Err(invalid("note", "say why these limits are frozen"));
        }
        if note.chars().count() > MAX_NOTE {
            return Err(invalid(
                "note",
                format!("is longer than {MAX_NOTE} characters"),
            ));
        }
        let mut spec = self.spec_of(&q)?;
        let series = self.series(&spec).await?;
        // Always from a baseline of the data: frozen limits are never re-frozen as they are.
        let baseline = spec.baseline.unwrap_or(app::spc::view::Baseline::First(
            app::spc::view::DEFAULT_BASELINE,
        ));
        spec.baseline = Some(baseline);
        let a = analyse(&spec, &series.values, None, series.spec);
        let chart = a
            .chart
            .map_err(|e| ServiceError::Conflict(format!("there are no limits to freeze: {e}")))?;
        let who = by.principal.actor();
        let v = LimitsVersion {
            chart: spec.key(),
            version: 0,
            limits: chart.limits,
            rules: a.rules,
            baseline: baseline.describe(),
            note: note.clone(),
            by: who,
            frozen_ms: now_ms(),
        };
        let v = self.inner.store.freeze(&spec.watched_query(), v).await?;
        let n = match v.limits.subgroup_size {
            app::spc::SubgroupSize::One => 1,
            app::spc::SubgroupSize::Constant(n) => n,
            app::spc::SubgroupSize::Variable { mean, .. } => mean.round().max(1.0) as usize,
        };
        let band = v.limits.band(n);
        let detail = match band {
            Ok(b) => format!(
                "version {} from {}: centre {}, LCL {}, UCL {}; rules {}; {}",
                v.version,
                v.baseline,
                b.centre,
                b.lcl,
                b.ucl,
                app::spc::view::rules_to_str(&v.rules),
                note
            ),
            Err(_) => format!("version {} from {}; {}", v.version, v.baseline, note),
        };
        let e = AuditEvent::by(
            &by.principal,
            &by.source,
            AuditAction::SpcLimitsFrozen,
            v.chart.clone(),
            detail,
        );
        if let Err(err) = self.inner.audit.record(e).await {
            tracing::warn!(error = %err, "cannot record frozen SPC limits in the audit trail");
        }
        Ok(v)
    }

    /// Every catalogue measurement's capability for `product` (absent: the default),
    /// worst Cpk first, and the machine tags that can be charted.
    pub async fn capability_table(
        &self,
        product: Option<String>,
    ) -> Result<CapabilityTable, ServiceError> {
        let q = &self.inner.quality;
        let id = product.unwrap_or_default();
        let p = q.product(id.trim()).ok_or_else(|| {
            invalid(
                "product",
                format!("{id:?} is not a product of the plant file"),
            )
        })?;
        let mut rows = Vec::with_capacity(CATALOGUE.len());
        for d in CATALOGUE {
            let values = self
                .inner
                .store
                .values(&p.id, d.name, i64::MIN, i64::MAX, CAPABILITY_VALUES)
                .await?;
            let (lsl, usl) = p.limits_of(d);
            let v: Vec<f64> = values.iter().map(|v| v.value).collect();
            let (capability, note) = if lsl.is_none() && usl.is_none() {
                (None, Some("no spec limits".to_string()))
            } else {
                match capability_of(&v, SpecLimits { lsl, usl }) {
                    Ok(c) => (Some(c), None),
                    Err(e) => (None, Some(e)),
                }
            };
            rows.push(CapabilityRow {
                measurement: d.name.to_string(),
                label: d.label.to_string(),
                stage: d.stage.as_str().to_string(),
                unit: d.unit.to_string(),
                n: v.len(),
                capability,
                note,
            });
        }
        sort_worst_first(&mut rows);
        let tags = self
            .inner
            .plant
            .devices
            .iter()
            .flat_map(|d| {
                d.tags.iter().filter(|t| t.is_numeric()).map(|t| TagRef {
                    machine: d.machine.clone(),
                    tag: t.name.clone(),
                    label: t.label.clone(),
                    unit: t.unit.clone(),
                })
            })
            .collect();
        Ok(CapabilityTable {
            product: p.id.clone(),
            products: q
                .products
                .iter()
                .map(|p| (p.id.clone(), p.name.clone()))
                .collect(),
            values: CAPABILITY_VALUES,
            rows,
            tags,
        })
    }

    /// The watched charts (frozen limits) and their analysis on the newest values.
    pub(crate) async fn watched(
        &self,
    ) -> Result<Vec<(ChartSpec, LimitsVersion, SpcChartView, Option<String>)>, ServiceError> {
        let mut out = Vec::new();
        for (q, v) in self.inner.store.watched().await? {
            let Ok(spec) = self.spec_of(&q) else {
                tracing::warn!(chart = %v.chart, "a watched SPC chart no longer fits the plant file");
                continue;
            };
            let machine = match &spec.source {
                ChartSource::Tag { machine, .. } => Some(machine.clone()),
                ChartSource::Measurement { .. } => None,
            };
            match self.chart_of(&spec, q).await {
                Ok(view) => out.push((spec, v, view, machine)),
                Err(e) => {
                    tracing::warn!(chart = %v.chart, error = %e, "cannot chart a watched SPC chart")
                }
            }
        }
        Ok(out)
    }
}
