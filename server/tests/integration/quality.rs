//! The quality API over real HTTP on a real SQLite file: ingestion (idempotent,
//! all or nothing, field-named errors, size limit), imports with preview, export,
//! scoring by the shipped model, and the simulated stations posting cells.

use std::time::Duration;

use crate::common::{self, default_plant, sign_in_as};
use app::auth::Role;
use app::quality::{Band, CellFilter};
use cellguard::quality::dataset::write_csv;
use cellguard::risk::model::Model;
use cellguard::runtime::Running;
use cellguard::sim::cells::dataset;
use serde_json::{Value, json};

async fn spawn_app(data_dir: &std::path::Path, cells_per_minute: f64) -> (Running, String) {
    let mut plant = default_plant();
    plant.simulator.cells_per_minute = cells_per_minute;
    common::spawn_app(data_dir, plant).await
}

fn inspection(key: &str, serial: &str, stage: &str, measurements: Value) -> Value {
    json!({"key": key, "serial": serial, "order": "98765", "lot": "LT-1", "product": "HC",
           "stage": stage, "station": "BENCH_1", "ts": "2026-11-25T10:00:00Z",
           "measurements": measurements})
}

/// Every IPQC and FQC measurement of a cell, from the simulated process.
fn full_cell(serial: &str) -> Vec<Value> {
    let rec = &dataset(1, 11)[0];
    ["IPQC", "FQC", "OQC"]
        .iter()
        .map(|stage| {
            let ms: Vec<Value> = cellguard::quality::CATALOGUE
                .iter()
                .zip(&rec.values)
                .filter(|(d, _)| d.stage.as_str() == *stage)
                .filter_map(|(d, v)| v.map(|v| json!({"name": d.name, "value": v})))
                .collect();
            inspection(&format!("{serial}:{stage}"), serial, stage, json!(ms))
        })
        .collect()
}

async fn count_cells(app: &Running) -> u64 {
    app.quality
        .store()
        .cells(&CellFilter {
            page_size: 10,
            ..Default::default()
        })
        .await
        .expect("cells")
        .total
}

#[tokio::test]
async fn ingestion_is_idempotent_all_or_nothing_and_scores_cells() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (app, base) = spawn_app(dir.path(), 0.0).await;
    // A station's client: an ingestion token, no session.
    let client = common::token_client(&app, "bench-1").await;
    let url = format!("{base}/api/v1/inspections");
    let stages = full_cell("S-1");

    // IPQC alone: stored, not scored (FQC is required).
    let r = client
        .post(&url)
        .json(&stages[0])
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 201);
    let cell = app
        .quality
        .store()
        .cell("S-1")
        .await
        .expect("db")
        .expect("cell");
    assert!(cell.score.is_none());
    assert!(
        cell.missing.iter().any(|m| m == "k_value"),
        "{:?}",
        cell.missing
    );

    // FQC and OQC in one batch: scored, with reasons.
    let r = client
        .post(&url)
        .json(&json!([stages[1], stages[2]]))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 201);
    let cell = app
        .quality
        .store()
        .cell("S-1")
        .await
        .expect("db")
        .expect("cell");
    let score = cell.score.expect("scored once FQC arrived");
    assert!((0.0..=1.0).contains(&score.score));
    assert_eq!(score.model, "default-logistic");
    assert!(!score.reasons.is_empty());
    assert_eq!(cell.inspections.len(), 3);

    // A resend changes nothing.
    let r = client
        .post(&url)
        .json(&stages[1])
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["duplicates"], 1);
    assert_eq!(body["created"], 0);

    // The same key with other content: 409, and the good record beside it is not written.
    let mut changed = stages[1].clone();
    changed["measurements"][0]["value"] = json!(1.0);
    let fresh = full_cell("S-2");
    let r = client
        .post(&url)
        .json(&json!([fresh[0], changed]))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 409);
    assert!(app.quality.store().cell("S-2").await.expect("db").is_none());

    // Another product for a known cell: 409, with both products named.
    let mut other = stages[1].clone();
    other["key"] = json!("S-1:FQC:again");
    other["product"] = json!("SC");
    let r = client.post(&url).json(&other).send().await.expect("post");
    assert_eq!(r.status(), 409);
    let body: Value = r.json().await.expect("json");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("is product HC")),
        "{body}"
    );

    // Invalid fields: 422 naming record and field; nothing written.
    let mut bad = fresh[1].clone();
    bad["measurements"][0]["value"] = json!("high");
    let r = client
        .post(&url)
        .json(&json!([fresh[0], bad]))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 422);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["errors"][0]["record"], 1);
    assert_eq!(body["errors"][0]["field"], "[1]");
    let mut bad = fresh[1].clone();
    bad["measurements"][1]["name"] = json!("kvalue");
    let r = client
        .post(&url)
        .json(&json!([fresh[0], bad]))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 422);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["errors"][0]["field"], "[1].measurements[1].name");
    assert_eq!(count_cells(&app).await, 1);

    // Not JSON: 400. Too large: 413. Neither writes.
    let r = client.post(&url).body("{nope").send().await.expect("post");
    assert_eq!(r.status(), 400);
    let r = client
        .post(&url)
        .header("content-type", "application/json")
        .body(vec![b' '; 3 * 1024 * 1024])
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 413);
    assert_eq!(count_cells(&app).await, 1);

    // The contract is published to people signed in (the station's token may only post).
    let r = client
        .get(format!("{base}/api/v1/openapi.json"))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 403);
    let viewer = sign_in_as(&app, &base, Role::Viewer).await;
    let doc: Value = viewer
        .get(format!("{base}/api/v1/openapi.json"))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert!(doc["paths"]["/api/v1/inspections"]["post"].is_object());
    app.stop().await;
}

#[tokio::test]
async fn imports_preview_then_write_all_or_nothing_and_export() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (app, base) = spawn_app(dir.path(), 0.0).await;
    let client = sign_in_as(&app, &base, Role::QualityEngineer).await;
    let records = dataset(400, 5);
    let mut csv = Vec::new();
    write_csv(&mut csv, &records).expect("csv");

    // A file with one bad cell: every problem by row and column, nothing written.
    let text = String::from_utf8(csv.clone()).expect("utf8");
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let header: Vec<&str> = lines[0].split(',').collect();
    let k = header
        .iter()
        .position(|h| *h == "k_value")
        .expect("k_value column");
    let mut cells: Vec<String> = lines[7].split(',').map(str::to_owned).collect();
    cells[k] = "n/a".into();
    lines[7] = cells.join(",");
    let r = client
        .post(format!("{base}/api/v1/imports?name=bad.csv"))
        .body(lines.join("\n"))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 422);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["errors"][0]["row"], 8);
    assert_eq!(body["errors"][0]["column"], "k_value");
    assert_eq!(count_cells(&app).await, 0);

    // Preview: nothing written.
    let r = client
        .post(format!("{base}/api/v1/imports?name=cells.csv&dry_run=true"))
        .body(csv.clone())
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 200);
    let report: Value = r.json().await.expect("json");
    assert_eq!(report["committed"], false);
    assert_eq!(report["new_cells"], 400);
    assert_eq!(count_cells(&app).await, 0);

    // Import: every cell, scored.
    let r = client
        .post(format!("{base}/api/v1/imports?name=cells.csv"))
        .body(csv.clone())
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 200);
    let report: Value = r.json().await.expect("json");
    assert_eq!(report["committed"], true);
    assert_eq!(count_cells(&app).await, 400);
    let high = app
        .quality
        .store()
        .cells(&CellFilter {
            band: Some("high".into()),
            page_size: 200,
            ..Default::default()
        })
        .await
        .expect("cells");
    assert!(high.total > 0, "some cells are high risk");
    assert!(high.rows.iter().all(|c| c.band == Some(Band::High)));

    // Importing again changes nothing.
    let r = client
        .post(format!("{base}/api/v1/imports?name=cells.csv"))
        .body(csv)
        .send()
        .await
        .expect("post");
    let report: Value = r.json().await.expect("json");
    assert_eq!(report["inspections"], 0);
    assert_eq!(count_cells(&app).await, 400);

    // Export: readable times, the score beside the data.
    let lot = &records[0].lot;
    let text = client
        .get(format!("{base}/api/v1/export/cells.csv?lot={lot}"))
        .send()
        .await
        .expect("get")
        .text()
        .await
        .expect("text");
    let mut rows = text.lines();
    let head = rows.next().expect("header");
    assert!(
        head.starts_with("serial,lot,order,product,produced_at,"),
        "{}",
        &text[..text.len().min(300)]
    );
    assert!(head.ends_with(",label,score,band,model,scored_at"));
    let first = rows.next().expect("a row");
    assert!(first.contains("T") && first.contains("Z,"), "{first}");
    assert!(text.lines().skip(1).all(|l| l.contains(lot.as_str())));

    // Promoting the forest is recorded and re-scores every cell with it.
    use app::api::service::QualityService;
    app.quality
        .promote("default-forest", &common::test_caller())
        .await
        .expect("promotes");
    rescored(&app.quality).await;
    let models = app.quality.models().await.expect("models");
    assert_eq!(models.switches[0].from, "default-logistic");
    assert_eq!(models.switches[0].to, "default-forest");
    assert!(
        models
            .models
            .iter()
            .any(|m| m.name == "default-forest" && m.active)
    );
    let cell = app
        .quality
        .store()
        .cell(&records[0].serial)
        .await
        .expect("db")
        .expect("cell");
    let score = cell.score.expect("scored");
    assert_eq!(score.model, "default-forest");
    // Its reasons are the cell's own paths through the trees (Tree SHAP): they start
    // from the forest's expected score, and the page says so and what they add up to.
    let forest = Model::load(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../model-artifacts/default-forest"),
    )
    .expect("loads");
    assert_eq!(score.base, Some(forest.base()));
    assert_eq!(score.explanation(), app::quality::Explanation::Paths);
    let all = forest
        .score(&forest.features_from_record(&records[0]))
        .expect("scores");
    assert!((forest.base() + all.contributions.iter().sum::<f64>() - score.score).abs() < 1e-9);
    let top = score.reasons.first().expect("reasons");
    assert!(
        all.contributions
            .iter()
            .all(|c| c.abs() <= top.contribution.abs() + 1e-12),
        "the first reason is the largest share"
    );
    let page = client
        .get(format!("{base}/cells/{}", records[0].serial))
        .send()
        .await
        .expect("get")
        .text()
        .await
        .expect("text");
    assert!(page.contains(r#"data-explanation="paths""#), "{page}");
    assert!(
        page.contains("Why: each measurement&#x27;s share of this score")
            || page.contains("Why: each measurement's share of this score")
    );
    // The file's short-term test outcome is kept with the cell.
    assert_eq!(cell.summary.short_term_failed, records[0].label);
    assert!(
        app.quality
            .promote("../etc", &common::test_caller())
            .await
            .is_err()
    );
    app.stop().await;
}

/// Waits for the re-scoring after a promotion to end; it says so on the page.
async fn rescored(quality: &cellguard::services::quality::Quality) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        if quality.rescoring().is_some_and(|r| r.finished) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "re-scoring has not finished: {:?}",
            quality.rescoring()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A quality service on the database in `data`, with the shipped logistic model
/// and a copy of it trained (by its fingerprint) on other data, in `models`.
async fn open_quality(
    data: &std::path::Path,
    models: &std::path::Path,
) -> std::sync::Arc<cellguard::services::quality::Quality> {
    use cellguard::quality::settings::QualitySettings;
    use cellguard::quality::store::QualityStore;
    use cellguard::services::quality::Quality;
    let shipped = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../model-artifacts/default-logistic");
    for name in ["default-logistic", "retrained-logistic"] {
        let to = models.join(name);
        if to.exists() {
            continue;
        }
        std::fs::create_dir_all(&to).expect("mkdir");
        for f in std::fs::read_dir(&shipped).expect("shipped model") {
            let f = f.expect("entry").path();
            let mut text = std::fs::read_to_string(&f).expect("read");
            if name == "retrained-logistic" {
                text = text.replace("0efa6924344b", "1efa6924344b");
            }
            std::fs::write(to.join(f.file_name().expect("name")), text).expect("write");
        }
    }
    let cfg = QualitySettings {
        models_dir: models.to_owned(),
        active_model: "default-logistic".into(),
        ..QualitySettings::default()
    };
    let sqlite = cellguard::storage::sqlite::SqliteStore::open_in(data)
        .await
        .expect("database");
    std::sync::Arc::new(
        Quality::open(
            std::sync::Arc::new(cfg),
            QualityStore::new(sqlite.pool().clone()),
        )
        .await
        .expect("opens"),
    )
}

#[tokio::test]
async fn rescoring_after_a_promotion_runs_in_batches_and_resumes_after_a_stop() {
    use app::api::service::QualityService;
    use tokio_util::sync::CancellationToken;
    let dir = tempfile::tempdir().expect("tempdir");
    let (data, models) = (dir.path().join("data"), dir.path().join("models"));
    std::fs::create_dir_all(&data).expect("mkdir");
    let quality = open_quality(&data, &models).await;
    let records = dataset(3000, 5);
    quality
        .import(&records, false, &|_, _, _| {})
        .await
        .expect("imports");
    let old = Model::load(&models.join("default-logistic")).expect("loads");
    let new = Model::load(&models.join("retrained-logistic")).expect("loads");
    assert_ne!(old.version(), new.version());
    let store = quality.store().clone();
    assert_eq!(
        store.scored_with(old.version()).await.expect("db"),
        (3000, 3000)
    );
    // Each batch starts where the last ended and counts come from an index: neither
    // reads the whole table, however many cells there are.
    use cellguard::quality::store::{NOT_SCORED_WITH_SQL, SCORED_WITH_SQL};
    let pool =
        sqlx::SqlitePool::connect(&format!("sqlite://{}", data.join("cellguard.db").display()))
            .await
            .expect("pool");
    let plan = |sql: &'static str| {
        let pool = pool.clone();
        async move {
            let rows: Vec<(i64, i64, i64, String)> =
                sqlx::query_as(sqlx::AssertSqlSafe(format!("EXPLAIN QUERY PLAN {sql}")))
                    .fetch_all(&pool)
                    .await
                    .expect("plan");
            rows.into_iter().map(|r| r.3).collect::<Vec<_>>().join("\n")
        }
    };
    let next = plan(NOT_SCORED_WITH_SQL).await;
    assert!(
        next.contains("SEARCH c USING INTEGER PRIMARY KEY (rowid>?)"),
        "{next}"
    );
    assert!(
        next.contains("SEARCH s USING INDEX sqlite_autoindex_scores_1 (serial=?)"),
        "{next}"
    );
    assert!(!next.contains("TEMP B-TREE"), "{next}");
    let count = plan(SCORED_WITH_SQL).await;
    assert!(
        count.contains("USING COVERING INDEX scores_version (model_version=?)"),
        "{count}"
    );

    // The promotion answers at once; nothing is re-scored inside it.
    quality
        .promote("retrained-logistic", &common::test_caller())
        .await
        .expect("promotes");
    let shown = quality.rescoring().expect("re-scoring shown");
    assert_eq!((shown.done, shown.total, shown.finished), (0, 3000, false));
    assert_eq!(store.scored_with(new.version()).await.expect("db").0, 0);
    let overview = quality.overview().await.expect("overview");
    assert_eq!(overview.rescoring.as_ref().map(|r| r.percent()), Some(0));

    // Stopped after its first batch or so: what it wrote stays, whole batches of it.
    let stop = CancellationToken::new();
    let job = tokio::spawn(std::sync::Arc::clone(&quality).run_rescoring(stop.clone()));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while quality.rescoring().is_none_or(|r| r.done == 0) {
        assert!(tokio::time::Instant::now() < deadline, "no batch re-scored");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    stop.cancel();
    job.await.expect("the job ends on shutdown");
    let (done, total) = store.scored_with(new.version()).await.expect("db");
    assert!(done > 0 && done < total, "{done} of {total}");
    assert_eq!(done % 500, 0, "a batch is written whole or not at all");
    assert_eq!(
        store.scored_with(old.version()).await.expect("db").0,
        total - done
    );
    let shown = quality.rescoring().expect("still shown");
    assert_eq!((shown.done, shown.finished), (done, false));
    let first = store
        .not_scored_with(new.version(), 0, 1)
        .await
        .expect("db");
    assert_eq!(first.len(), 1, "the rest is still to do");
    drop(quality);

    // After a restart the last promoted model is active and the job resumes.
    let quality = open_quality(&data, &models).await;
    assert_eq!(quality.active_name(), "retrained-logistic");
    let stop = CancellationToken::new();
    let job = tokio::spawn(std::sync::Arc::clone(&quality).run_rescoring(stop.clone()));
    rescored(&quality).await;
    let shown = quality.rescoring().expect("shown");
    assert_eq!((shown.done, shown.total), (3000, 3000));
    assert_eq!(
        store.scored_with(new.version()).await.expect("db"),
        (3000, 3000)
    );
    assert!(
        quality
            .overview()
            .await
            .expect("overview")
            .rescoring
            .is_none()
    );
    assert!(
        quality
            .models()
            .await
            .expect("models")
            .rescoring
            .is_some_and(|r| r.finished)
    );
    stop.cancel();
    job.await.expect("ends");
}

#[tokio::test]
async fn a_switch_another_process_recorded_is_followed_and_rescored() {
    use app::quality::ModelSwitch;
    use tokio_util::sync::CancellationToken;
    let dir = tempfile::tempdir().expect("tempdir");
    let (data, models) = (dir.path().join("data"), dir.path().join("models"));
    std::fs::create_dir_all(&data).expect("mkdir");
    let quality = open_quality(&data, &models).await;
    quality
        .import(&dataset(600, 6), false, &|_, _, _| {})
        .await
        .expect("imports");
    let stop = CancellationToken::new();
    let job = tokio::spawn(std::sync::Arc::clone(&quality).run_rescoring(stop.clone()));
    // What `cellguard train --promote` writes, from outside this process.
    let record = |to: &str| ModelSwitch {
        ts_ms: 1,
        from: "default-logistic".into(),
        to: to.into(),
        by: "cli:test".into(),
    };
    // A model that cannot be loaded leaves the active one as it was.
    quality
        .store()
        .record_switch(&record("no-such-model"))
        .await
        .expect("db");
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(quality.active_name(), "default-logistic");
    quality
        .store()
        .record_switch(&record("retrained-logistic"))
        .await
        .expect("db");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while quality.active_name() != "retrained-logistic" {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the switch was not followed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    rescored(&quality).await;
    let new = Model::load(&models.join("retrained-logistic")).expect("loads");
    assert_eq!(
        quality
            .store()
            .scored_with(new.version())
            .await
            .expect("db"),
        (600, 600)
    );
    stop.cancel();
    job.await.expect("ends");
}

#[tokio::test]
async fn simulated_stations_post_cells_that_get_scored() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (app, _base) = spawn_app(dir.path(), 1200.0).await;
    let mut scored = 0;
    for _ in 0..100 {
        scored = app
            .quality
            .store()
            .cells(&CellFilter {
                band: Some("low".into()),
                page_size: 1,
                ..Default::default()
            })
            .await
            .expect("cells")
            .total;
        if scored >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        scored >= 3,
        "cells flow through the stations and get scored"
    );
    let page = app
        .quality
        .store()
        .cells(&CellFilter {
            page_size: 50,
            ..Default::default()
        })
        .await
        .expect("cells");
    let done = page
        .rows
        .iter()
        .find(|c| c.stages.len() == 3)
        .expect("a cell through all three stages");
    let detail = app
        .quality
        .store()
        .cell(&done.serial)
        .await
        .expect("db")
        .expect("cell");
    let machines: Vec<&str> = detail.context.iter().map(|c| c.machine.as_str()).collect();
    assert!(machines.contains(&"CAS_01") && machines.contains(&"FORM_01"));
    assert!(
        app.truth.get(&done.serial).is_some(),
        "ground truth kept aside"
    );
    app.stop().await;
}

#[tokio::test]
async fn the_models_page_reads_an_artifact_again_only_when_its_files_change() {
    use app::api::service::QualityService;
    let dir = tempfile::tempdir().expect("tempdir");
    let models = dir.path().join("models");
    let shipped = common::default_plant()
        .quality
        .models_dir
        .join("default-logistic");
    let copy = models.join("default-logistic");
    std::fs::create_dir_all(&copy).expect("mkdir");
    for f in std::fs::read_dir(&shipped).expect("shipped") {
        let f = f.expect("entry").path();
        std::fs::copy(&f, copy.join(f.file_name().expect("name"))).expect("copy");
    }
    let mut plant = common::default_plant();
    plant.simulator.cells_per_minute = 0.0;
    plant.quality.models_dir = models;
    let (app, _base) = common::spawn_app(&dir.path().join("data"), plant).await;

    let first = app.quality.models().await.expect("models");
    let reads = app.quality.model_view_reads();
    let again = app.quality.models().await.expect("models");
    assert_eq!(first.models, again.models);
    assert_eq!(
        app.quality.model_view_reads(),
        reads,
        "unchanged files are shown from memory"
    );

    // New figures in metrics.json: read again, and shown.
    let path = copy.join("metrics.json");
    let mut metrics: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("read")).expect("json");
    metrics["pr_auc"] = json!(0.123_456);
    std::fs::write(&path, serde_json::to_string_pretty(&metrics).expect("json")).expect("write");
    let after = app.quality.models().await.expect("models");
    assert_eq!(app.quality.model_view_reads(), reads + 1);
    assert_eq!(after.models[0].metrics.pr_auc, 0.123_456);
    app.stop().await;
}
