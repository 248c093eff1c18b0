//! Does the active model still fit the line? Over real HTTP on a real SQLite file:
//! cells made like the training data read as stable, with live figures from their
//! short-term results; newer cells with a shifted measurement read as drift (worst
//! first) on the models page and the quality overview, and raise a drift alarm. The
//! two queries behind it read only the newest cells, through their indexes.

use std::time::Duration;

use app::alarm::Source;
use app::auth::Role;
use cellguard::quality::CellRecord;
use cellguard::quality::dataset::write_csv;
use cellguard::quality::store::{LABELLED_SQL, RECENT_SQL};
use cellguard::sim::cells::dataset;
use sqlx::Row;

use crate::actions::until;
use crate::common::{default_plant, sign_in_as, spawn_app};

const DAY_MS: i64 = 86_400_000;

async fn import(client: &reqwest::Client, base: &str, records: &[CellRecord]) {
    let mut csv = Vec::new();
    write_csv(&mut csv, records).expect("csv");
    let r = client
        .post(format!("{base}/api/v1/imports?name=cells.csv"))
        .body(csv)
        .send()
        .await
        .expect("post");
    let status = r.status();
    assert_eq!(status, 200, "{}", r.text().await.unwrap_or_default());
}

/// The server's rendering of `path`.
async fn page(client: &reqwest::Client, base: &str, path: &str) -> String {
    let r = client
        .get(format!("{base}{path}"))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 200, "{path}");
    r.text().await.expect("text")
}

async fn plan(pool: &sqlx::SqlitePool, sql: &str, binds: (&str, u32)) -> String {
    let q = sqlx::AssertSqlSafe(format!("EXPLAIN QUERY PLAN {sql}"));
    let rows = if sql.matches('?').count() == 2 {
        sqlx::query(q)
            .bind(binds.0)
            .bind(binds.1)
            .fetch_all(pool)
            .await
    } else {
        sqlx::query(q).bind(binds.1).fetch_all(pool).await
    }
    .expect("plan");
    rows.iter()
        .map(|r| r.get::<String, _>("detail"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shifted_measurement_is_drift_on_the_pages_and_raises_a_drift_alarm() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut plant = default_plant();
    plant.simulator.cells_per_minute = 0.0;
    plant.mes.embedded = false;
    plant.alarms.check_every = Duration::from_millis(200);
    let (app, base) = spawn_app(dir.path(), plant).await;
    let engineer = sign_in_as(&app, &base, Role::QualityEngineer).await;

    // 600 cells made like the training data (another seed), a year ago, each with
    // its short-term result.
    let mut like = dataset(600, 21);
    for r in &mut like {
        r.produced_ms = r.produced_ms.map(|t| t - 365 * DAY_MS);
    }
    import(&engineer, &base, &like).await;
    let h = app
        .quality
        .health()
        .await
        .expect("measured")
        .expect("an active model");
    assert_eq!(h.model, "default-logistic");
    assert!(
        h.has_baseline,
        "the shipped model has its training baseline"
    );
    assert_eq!((h.window, h.cells), (500, 500));
    assert_eq!(h.drift.len(), 21, "every feature of the model");
    assert!(
        h.drift
            .windows(2)
            .all(|w| (w[0].shifted(), w[0].psi) >= (w[1].shifted(), w[1].psi)),
        "worst first"
    );
    // A window of 500 cells is part of a day and of a lot: what moves by the hour or
    // by lot has a large PSI, like the training data's own stretches of 500 cells.
    let ambient = h
        .drift
        .iter()
        .find(|d| d.feature == "ambient_temperature")
        .expect("ambient temperature");
    assert!(ambient.psi > 0.25 && !ambient.shifted(), "{ambient:?}");
    assert!(
        h.shifted().next().is_none(),
        "cells like the training data: {:?}",
        h.drift
    );
    let p = h.performance;
    assert!(p.labelled > 400 && p.labelled <= 500, "{p:?}");
    assert!(p.defective > 0, "{p:?}");
    let base_rate = p.defective as f64 / p.labelled as f64;
    assert!(p.pr_auc.expect("PR AUC") > 2.0 * base_rate, "{p:?}");
    assert!(p.recall.is_some() && p.flag_rate.is_some(), "{p:?}");
    assert_eq!(p.recall_target, Some(0.8));

    // 500 newer cells whose capacity reads three standard deviations higher.
    let caps: Vec<f64> = like.iter().filter_map(|r| r.get("capacity")).collect();
    let mean = caps.iter().sum::<f64>() / caps.len() as f64;
    let sd = (caps.iter().map(|c| (c - mean).powi(2)).sum::<f64>() / caps.len() as f64).sqrt();
    let mut shifted = dataset(500, 22);
    for r in &mut shifted {
        r.serial = format!("X{}", r.serial);
        r.lot = format!("X{}", r.lot);
        if let Some(c) = r.get("capacity") {
            r.set("capacity", c + 3.0 * sd);
        }
    }
    import(&engineer, &base, &shifted).await;
    let h = app
        .quality
        .health()
        .await
        .expect("measured")
        .expect("an active model");
    assert_eq!(h.drift[0].feature, "capacity", "{:?}", h.drift);
    assert!(h.drift[0].shifted(), "{:?}", h.drift[0]);
    assert!(
        !h.drift[1].shifted(),
        "only capacity moved: {:?}",
        h.drift[1]
    );

    // The models page shows it, worst first; the quality overview warns.
    let models = page(&engineer, &base, "/models").await;
    assert!(
        models.contains("data-testid=\"drift-table\""),
        "no drift table"
    );
    let first_row = models
        .find("data-feature=")
        .map(|i| &models[i..i + 30])
        .unwrap_or_default();
    assert!(first_row.contains("capacity"), "{first_row}");
    assert!(models.contains("data-testid=\"live-recall\""));
    let quality = page(&engineer, &base, "/quality").await;
    assert!(
        quality.contains("data-testid=\"drift-warning\""),
        "no warning"
    );
    assert!(
        quality.contains("Capacity (PSI"),
        "the warning names capacity"
    );

    // A drift alarm stands, naming the feature.
    let key = "drift:default-logistic";
    until("the drift alarm", Duration::from_secs(20), async || {
        app.alarms
            .board()
            .await
            .is_ok_and(|b| b.standing.iter().any(|a| a.key == key))
    })
    .await;
    let board = app.alarms.board().await.expect("board");
    let alarm = board.standing.iter().find(|a| a.key == key).expect("alarm");
    assert_eq!(alarm.source, Source::Drift);
    assert!(
        alarm.message.starts_with("Capacity (PSI"),
        "{}",
        alarm.message
    );

    // Both queries read the newest cells through an index, whatever the history.
    let pool = app.quality.store().pool();
    let labelled = plan(pool, LABELLED_SQL, ("default-logistic", 500)).await;
    assert!(labelled.contains("cells_labelled"), "{labelled}");
    let recent = plan(pool, RECENT_SQL, ("", 500)).await;
    assert!(recent.contains("cells_created"), "{recent}");
    assert!(recent.contains("inspections_serial"), "{recent}");
    app.stop().await;
}
