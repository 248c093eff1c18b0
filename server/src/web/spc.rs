//! The SPC service behind the server functions, and its CSV exports: the
//! capability table of a product and the points of one chart.

use app::api::service::{ServiceError, SpcService};
use app::auth::Caller;
use app::spc::view::{CapabilityTable, ChartQuery, LimitsVersion, SpcChartView};
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::audit::inert;
use crate::spc::Spc;

#[async_trait::async_trait]
impl SpcService for Spc {
    async fn chart(&self, query: ChartQuery) -> Result<SpcChartView, ServiceError> {
        Spc::chart(self, query).await
    }
    async fn freeze(
        &self,
        by: &Caller,
        query: ChartQuery,
        note: String,
    ) -> Result<LimitsVersion, ServiceError> {
        Spc::freeze(self, by, query, note).await
    }
    async fn capability(&self, product: Option<String>) -> Result<CapabilityTable, ServiceError> {
        Spc::capability_table(self, product).await
    }
}

/// The product of the capability export.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ProductQuery {
    /// A product id (absent: the plant's default product).
    pub product: Option<String>,
}

fn opt(v: Option<f64>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

/// The capability table as CSV, worst Cpk first.
pub fn capability_csv(t: &CapabilityTable) -> Result<Vec<u8>, csv::Error> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record([
        "product",
        "measurement",
        "stage",
        "unit",
        "n",
        "mean",
        "sigma_within",
        "sigma_overall",
        "lsl",
        "usl",
        "cp",
        "cpk",
        "cpk_ci_low",
        "cpk_ci_high",
        "pp",
        "ppk",
        "anderson_darling_p",
        "normal",
        "note",
    ])?;
    for r in &t.rows {
        let c = r.capability.as_ref();
        w.write_record([
            inert(&t.product),
            r.measurement.clone(),
            r.stage.clone(),
            r.unit.clone(),
            r.n.to_string(),
            opt(c.map(|c| c.mean)),
            opt(c.map(|c| c.sigma_within)),
            opt(c.map(|c| c.sigma_overall)),
            opt(c.and_then(|c| c.spec.lsl)),
            opt(c.and_then(|c| c.spec.usl)),
            opt(c.and_then(|c| c.cp)),
            opt(c.map(|c| c.cpk)),
            opt(c.map(|c| c.cpk_ci.low)),
            opt(c.map(|c| c.cpk_ci.high)),
            opt(c.and_then(|c| c.pp)),
            opt(c.map(|c| c.ppk)),
            opt(c.map(|c| c.normality.p_value)),
            c.map(|c| c.normality.normal.to_string())
                .unwrap_or_default(),
            inert(
                r.note
                    .as_deref()
                    .or(c.and_then(|c| c.note.as_deref()))
                    .unwrap_or(""),
            ),
        ])?;
    }
    w.into_inner().map_err(|e| csv::Error::from(e.into_error()))
}

/// A chart's points as CSV: each with its limits, z and the rules it takes part in.
pub fn chart_csv(v: &SpcChartView) -> Result<Vec<u8>, csv::Error> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record([
        "index", "point", "at", "ts_ms", "n", "value", "centre", "lcl", "ucl", "z", "rules",
    ])?;
    for p in v.chart.iter().flat_map(|c| &c.points) {
        let meta = v.meta.get(p.index);
        let mut rules: Vec<&str> = v
            .violations
            .iter()
            .filter(|x| x.points.contains(&p.index))
            .map(|x| x.rule.code())
            .collect();
        rules.sort_unstable();
        rules.dedup();
        w.write_record([
            p.index.to_string(),
            inert(meta.map_or("", |m| m.label.as_str())),
            meta.map(|m| crate::clock::format_time(m.ts_ms))
                .unwrap_or_default(),
            meta.map(|m| m.ts_ms.to_string()).unwrap_or_default(),
            p.n.to_string(),
            p.value.to_string(),
            p.centre.to_string(),
            p.lcl.to_string(),
            p.ucl.to_string(),
            p.z.to_string(),
            rules.join(" "),
        ])?;
    }
    w.into_inner().map_err(|e| csv::Error::from(e.into_error()))
}

/// The capability table of a product as CSV
///
/// Every catalogue measurement's Cp, Cpk (with its 95 % interval), Pp, Ppk and
/// normality test on the newest 1 000 values, worst Cpk first. Needs any signed-in
/// person.
#[utoipa::path(
    get,
    path = "/api/v1/export/spc-capability.csv",
    tag = "spc",
    params(ProductQuery),
    responses(
        (status = 200, description = "product,measurement,stage,unit,n,mean,sigma_within,sigma_overall,lsl,usl,cp,cpk,cpk_ci_low,cpk_ci_high,pp,ppk,anderson_darling_p,normal,note", body = String, content_type = "text/csv"),
        (status = 400, description = "A query field is not understood", body = app::error::Problem),
        (status = 422, description = "The product is not in the plant file", body = app::error::Problem),
        (status = 503, description = "Storage unavailable; retry later", body = app::error::Problem),
    ),
    security(("session" = [])),
)]
pub async fn export_capability(
    State(state): State<super::WebState>,
    Query(q): Query<ProductQuery>,
) -> Response {
    match state.spc.capability_table(q.product).await {
        Ok(t) => super::csv_attachment("spc-capability.csv", "spc capability", capability_csv(&t)),
        Err(e) => e.into_response(),
    }
}

/// One control chart's points as CSV
///
/// The chart the query names (as the SPC chart page's URL does): each point with its
/// centre line, control limits, z and the run rules it takes part in. Needs any
/// signed-in person.
#[utoipa::path(
    get,
    path = "/api/v1/export/spc-chart.csv",
    tag = "spc",
    params(ChartQuery),
    responses(
        (status = 200, description = "index,point,at,ts_ms,n,value,centre,lcl,ucl,z,rules", body = String, content_type = "text/csv"),
        (status = 400, description = "A query field is not understood", body = app::error::Problem),
        (status = 404, description = "Unknown machine", body = app::error::Problem),
        (status = 422, description = "A query field is not acceptable (named)", body = app::error::Problem),
        (status = 503, description = "Storage unavailable; retry later", body = app::error::Problem),
    ),
    security(("session" = [])),
)]
pub async fn export_chart(
    State(state): State<super::WebState>,
    Query(q): Query<ChartQuery>,
) -> Response {
    match state.spc.chart(q).await {
        Ok(v) => super::csv_attachment("spc-chart.csv", "spc chart", chart_csv(&v)),
        Err(e) => e.into_response(),
    }
}
