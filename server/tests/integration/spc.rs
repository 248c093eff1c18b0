//! SPC end to end: the simulator builds a shifted process (capacity up by 1 Ah after
//! 60 cells), its control chart shows the Nelson violations on the shifted points;
//! a quality engineer freezes the limits over HTTP (a supervisor may not, a note is
//! required), the freeze is audited, and the frozen chart raises an SPC alarm; the
//! chart and the capability table export as CSV; a bad query is refused naming its
//! field; the values query reads the time index and stops at the values shown.

use std::time::Duration;

use app::auth::Role;
use app::spc::Rule;
use app::spc::view::{ChartQuery, LimitsOrigin, SpcChartView};
use cellguard::runtime::Running;
use cellguard::sim::settings::ProcessShift;
use sqlx::Row;

use crate::actions::until;
use crate::common::{default_plant, sign_in_as, spawn_app};

const SHIFT_AFTER: u64 = 60;

fn capacity() -> ChartQuery {
    ChartQuery {
        measurement: Some("capacity".into()),
        ..ChartQuery::default()
    }
}

async fn chart(app: &Running, q: ChartQuery) -> SpcChartView {
    app.spc.chart(q).await.expect("chart")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shifted_process_breaks_nelson_rules_and_its_frozen_chart_raises_an_spc_alarm() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut plant = default_plant();
    plant.simulator.cells_per_minute = 1_200.0;
    plant.simulator.cells_per_lot = 1_000_000;
    plant.simulator.seed = Some(5);
    plant.simulator.shift = Some(ProcessShift {
        measurement: "capacity".into(),
        after_cells: SHIFT_AFTER,
        by: 1.0,
    });
    plant.mes.embedded = false;
    plant.alarms.check_every = Duration::from_millis(200);
    let (app, base) = spawn_app(dir.path(), plant).await;

    until("120 capacity values", Duration::from_secs(60), async || {
        chart(&app, capacity()).await.values >= 120
    })
    .await;
    let v = chart(&app, capacity()).await;
    let c = v.chart.as_ref().expect("a chart");
    assert!(matches!(v.origin, Some(LimitsOrigin::Baseline(_))));
    assert_eq!(c.points.len(), v.values);
    assert_eq!(v.meta.len(), v.values);
    // The baseline (the first 25 cells) is before the shift: every point from the
    // shift on is far above the centre, and N1 names them.
    let shifted: Vec<usize> = c
        .points
        .iter()
        .filter(|p| p.index >= SHIFT_AFTER as usize + 5)
        .map(|p| p.index)
        .collect();
    assert!(shifted.len() >= 50, "{} shifted points", shifted.len());
    let n1: Vec<usize> = v
        .violations
        .iter()
        .filter(|x| x.rule == Rule::N1)
        .map(|x| x.at)
        .collect();
    let caught = shifted.iter().filter(|i| n1.contains(i)).count();
    assert!(
        caught * 10 >= shifted.len() * 9,
        "N1 on {caught} of {} shifted points",
        shifted.len()
    );
    assert!(
        v.violations
            .iter()
            .any(|x| x.rule == Rule::N2 && x.points.len() == 9),
        "9 in a row above the centre"
    );
    let cap = v.capability.as_ref().expect("capability against the spec");
    assert_eq!(cap.n, v.values);

    // Freezing: a supervisor may not; a quality engineer must say why.
    let form = |note: &str| {
        vec![
            ("query[measurement]", "capacity".to_string()),
            ("query[baseline_first]", "25".to_string()),
            ("note", note.to_string()),
        ]
    };
    let supervisor = sign_in_as(&app, &base, Role::Supervisor).await;
    let r = supervisor
        .post(format!("{base}/api/fn/freeze_spc_limits"))
        .form(&form("mine"))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 403);
    let qe = sign_in_as(&app, &base, Role::QualityEngineer).await;
    let r = qe
        .post(format!("{base}/api/fn/freeze_spc_limits"))
        .form(&form("  "))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap_or_default().contains("note"));
    assert!(
        app.spc
            .store()
            .versions("measurement:HC/capacity:imr")
            .await
            .expect("versions")
            .is_empty()
    );
    let r = qe
        .post(format!("{base}/api/fn/freeze_spc_limits"))
        .form(&form("baseline before the coater change"))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
    let versions = app
        .spc
        .store()
        .versions("measurement:HC/capacity:imr")
        .await
        .expect("versions");
    assert_eq!(versions.len(), 1);
    assert_eq!(versions[0].version, 1);
    assert_eq!(versions[0].by, "test-quality_engineer");
    let frozen = chart(&app, capacity()).await;
    assert_eq!(frozen.origin, Some(LimitsOrigin::Frozen(1)));
    assert_eq!(frozen.chart.expect("chart").limits, versions[0].limits);

    // Audited.
    let admin = sign_in_as(&app, &base, Role::Admin).await;
    let audit = admin
        .get(format!(
            "{base}/api/v1/export/audit.csv?action=spc_limits_frozen"
        ))
        .send()
        .await
        .expect("get")
        .text()
        .await
        .expect("text");
    assert!(audit.contains("measurement:HC/capacity:imr"), "{audit}");
    assert!(
        audit.contains("version 1 from the first 25 points"),
        "{audit}"
    );

    // The frozen chart's newest point breaks N1: an SPC alarm stands.
    let key = "spc:measurement:HC/capacity:imr";
    until("the SPC alarm", Duration::from_secs(20), async || {
        app.alarms
            .board()
            .await
            .expect("board")
            .standing
            .iter()
            .any(|a| a.key == key)
    })
    .await;
    let board = app.alarms.board().await.expect("board");
    let alarm = board.standing.iter().find(|a| a.key == key).expect("alarm");
    assert_eq!(alarm.source, app::alarm::Source::Spc);
    assert!(alarm.message.contains("N1"), "{}", alarm.message);
    assert!(
        alarm.message.contains("/spc/chart?measurement=capacity"),
        "{}",
        alarm.message
    );

    // CSV: the chart's points and the capability table; a bad query names its field.
    let viewer = sign_in_as(&app, &base, Role::Viewer).await;
    let csv = viewer
        .get(format!(
            "{base}/api/v1/export/spc-chart.csv?measurement=capacity&values=100"
        ))
        .send()
        .await
        .expect("get");
    assert_eq!(csv.status(), 200);
    let text = csv.text().await.expect("text");
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("index,point,at,ts_ms,n,value,centre,lcl,ucl,z,rules")
    );
    assert_eq!(lines.count(), 100);
    assert!(text.contains("N1"));
    let r = viewer
        .get(format!(
            "{base}/api/v1/export/spc-chart.csv?measurement=capacity&kind=pie"
        ))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap_or_default().contains("kind"));
    let r = viewer
        .get(format!(
            "{base}/api/v1/export/spc-chart.csv?measurement=volume"
        ))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 422);
    let table = viewer
        .get(format!("{base}/api/v1/export/spc-capability.csv"))
        .send()
        .await
        .expect("get")
        .text()
        .await
        .expect("text");
    assert!(table.starts_with("product,measurement,stage"));
    assert!(
        table.lines().any(|l| l.starts_with("HC,capacity,FQC")),
        "{table}"
    );

    // The values query walks the inspections' time index and sorts nothing.
    let plan: Vec<String> = sqlx::query(sqlx::AssertSqlSafe(format!(
        "EXPLAIN QUERY PLAN {}",
        cellguard::spc::store::VALUES_SQL
    )))
    .bind(0_i64)
    .bind(i64::MAX)
    .bind("capacity")
    .bind("HC")
    .bind(100_i64)
    .fetch_all(app.quality.store().pool())
    .await
    .expect("plan")
    .iter()
    .map(|r| r.get::<String, _>(3))
    .collect();
    assert!(plan[0].contains("USING INDEX inspections_ts"), "{plan:?}");
    assert!(plan.iter().all(|l| !l.contains("TEMP B-TREE")), "{plan:?}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_machine_tag_is_charted_from_the_historian_and_the_table_is_worst_cpk_first() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut plant = default_plant();
    plant.simulator.cells_per_minute = 600.0;
    plant.mes.embedded = false;
    let (app, _base) = spawn_app(dir.path(), plant).await;
    // The last 5 minutes in 300 buckets: one a second, from the raw history.
    let q = ChartQuery {
        machine: Some("CAS_01".into()),
        tag: Some("temperature".into()),
        from_ms: Some(cellguard::clock::now_ms() - 300_000),
        values: Some(300),
        ..ChartQuery::default()
    };
    until("a tag chart", Duration::from_secs(30), async || {
        app.spc.chart(q.clone()).await.is_ok_and(|v| v.values >= 3)
    })
    .await;
    let v = chart(&app, q.clone()).await;
    assert!(v.capability.is_none(), "no spec limits for a tag");
    assert!(v.title.starts_with("CAS_01"));
    let e = app
        .spc
        .chart(ChartQuery {
            kind: Some("xbar-r".into()),
            ..q
        })
        .await
        .expect_err("tags are I-MR only");
    assert!(e.to_string().contains("kind"), "{e}");

    until("capability rows", Duration::from_secs(30), async || {
        app.spc
            .capability_table(None)
            .await
            .is_ok_and(|t| t.rows.iter().filter(|r| r.capability.is_some()).count() >= 5)
    })
    .await;
    let t = app.spc.capability_table(None).await.expect("table");
    assert_eq!(t.product, "HC");
    let cpks: Vec<f64> = t
        .rows
        .iter()
        .filter_map(|r| r.capability.as_ref().map(|c| c.cpk))
        .collect();
    assert!(
        cpks.windows(2).all(|w| w[0] <= w[1]),
        "worst first: {cpks:?}"
    );
    assert!(!t.tags.is_empty());
    let e = app
        .spc
        .capability_table(Some("XX".into()))
        .await
        .expect_err("no such product");
    assert!(e.to_string().contains("product"), "{e}");
    app.stop().await;
}
