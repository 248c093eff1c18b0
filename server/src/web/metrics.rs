//! `/metrics`: operational figures in the Prometheus text format, for a scraper
//! with a `metrics` token (or anyone signed in): the MES outbox's depth, its
//! oldest message's age, dead letters, deliveries and the MES link; each PLC's
//! link and acquisition counters.

use app::line::LinkState;
use app::mes::MesLinkState;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

use super::WebState;
use crate::clock::now_ms;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Machine {
    machine: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MachineFailure {
    machine: String,
    kind: String,
}

/// Each PLC's acquisition counters since start, by machine (and failures by kind).
fn plc_counters(registry: &mut Registry, state: &WebState) {
    use crate::acquisition::FAILURE_KINDS;
    use prometheus_client::metrics::counter::Counter;
    use std::sync::atomic::Ordering::Relaxed;
    type Of = fn(&crate::acquisition::DeviceStats) -> u64;
    let counters: [(&str, &str, Of); 6] = [
        ("plc_scans", "Scans read completely", |s| {
            s.scans.load(Relaxed)
        }),
        (
            "plc_missed_scans",
            "Scan slots skipped because a scan ran late",
            |s| s.missed.load(Relaxed),
        ),
        (
            "plc_late_scans",
            "Scans that ended after the next was due",
            |s| s.late.load(Relaxed),
        ),
        ("plc_reconnects", "Connections opened", |s| {
            s.connects.load(Relaxed)
        }),
        (
            "plc_refused_reads",
            "Block reads the PLC refused (exception or short reply)",
            |s| s.refused_reads.load(Relaxed),
        ),
        ("plc_values", "Values published", |s| s.values.load(Relaxed)),
    ];
    let devices = &state.line.plant().devices;
    for (name, help, of) in counters {
        let family: Family<Machine, Counter> = Family::default();
        for (d, s) in devices.iter().zip(&state.plc_stats) {
            family
                .get_or_create(&Machine {
                    machine: d.machine.clone(),
                })
                .inc_by(of(s));
        }
        registry.register(name, help, family);
    }
    let failures: Family<MachineFailure, Counter> = Family::default();
    for (d, s) in devices.iter().zip(&state.plc_stats) {
        for (kind, n) in FAILURE_KINDS.iter().zip(&s.failures_by_kind) {
            failures
                .get_or_create(&MachineFailure {
                    machine: d.machine.clone(),
                    kind: (*kind).to_owned(),
                })
                .inc_by(n.load(Relaxed));
        }
    }
    registry.register(
        "plc_failures",
        "Failed connections and connects, by kind (timeout, closed, refused, mismatch, transport, resolve)",
        failures,
    );
}

/// Operational figures in the Prometheus text format
///
/// Read at each request (the outbox from the database): `cellguard_mes_outbox_depth`,
/// `cellguard_mes_outbox_oldest_age_seconds`, `cellguard_mes_dead_letters`,
/// `cellguard_mes_delivered`, `cellguard_mes_link_up`, `cellguard_mes_orders_age_seconds`
/// and `cellguard_plc_link_up{machine}`; counters per PLC since start
/// `cellguard_plc_scans_total`, `_missed_scans_total`, `_late_scans_total`,
/// `_reconnects_total`, `_refused_reads_total`, `_values_total` and
/// `cellguard_plc_failures_total{machine,kind}`. Needs a `metrics` token or any signed-in
/// person.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    responses(
        (status = 200, description = "Prometheus text exposition format 0.0.4", body = String, content_type = "text/plain; version=0.0.4"),
    ),
    security(("token" = []), ("session" = [])),
)]
pub async fn metrics(State(state): State<WebState>) -> Response {
    let mut registry = Registry::with_prefix("cellguard");
    let status = state.mes.status();
    let depth = state.mes.outbox.depth().await.ok();
    let gauge = |v: i64| {
        let g: Gauge = Gauge::default();
        g.set(v);
        g
    };
    let float = |v: f64| {
        let g: Gauge<f64, AtomicU64> = Gauge::default();
        g.set(v);
        g
    };
    let (queued, dead, oldest_ms) = depth
        .map_or((status.queued, status.dead, status.oldest_ms), |d| {
            (d.pending, d.dead, d.oldest_ms)
        });
    let as_i64 = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    registry.register(
        "mes_outbox_depth",
        "Messages waiting for delivery to the MES",
        gauge(as_i64(queued)),
    );
    registry.register(
        "mes_outbox_oldest_age_seconds",
        "Age of the oldest message waiting for the MES (0 when none waits)",
        float(oldest_ms.map_or(0.0, |ms| (now_ms() - ms).max(0) as f64 / 1000.0)),
    );
    registry.register(
        "mes_dead_letters",
        "Messages the MES refused, waiting for a person",
        gauge(as_i64(dead)),
    );
    registry.register(
        "mes_delivered",
        "Messages delivered to the MES since start",
        gauge(as_i64(status.delivered)),
    );
    registry.register(
        "mes_link_up",
        "1 while the last exchange with the MES succeeded",
        gauge(i64::from(status.state == MesLinkState::Up)),
    );
    registry.register(
        "mes_orders_age_seconds",
        "Age of the production orders last fetched (-1: never)",
        float(
            status
                .orders_fetched_ms
                .map_or(-1.0, |ms| (now_ms() - ms).max(0) as f64 / 1000.0),
        ),
    );
    let plc: Family<Machine, Gauge> = Family::default();
    for d in &state.line.plant().devices {
        let up = state
            .line
            .bus()
            .link(d.id)
            .is_some_and(|l| l.state == LinkState::Online);
        plc.get_or_create(&Machine {
            machine: d.machine.clone(),
        })
        .set(i64::from(up));
    }
    registry.register("plc_link_up", "1 while a PLC link is online", plc);
    plc_counters(&mut registry, &state);
    let mut body = String::new();
    if encode(&mut body, &registry).is_err() {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
        .into_response()
}
