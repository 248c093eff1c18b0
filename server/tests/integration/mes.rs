//! The MES over real HTTP: CellGuard against the MES simulator (in this process,
//! or with CellGuard as its own process so it can be killed), with production
//! running on the simulated line and a real SQLite file. Outages, a kill during an
//! outage, refused messages, a refused token and throttling: every message
//! arrives exactly once, in the end.

use std::collections::{BTreeMap, HashSet};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use app::api::service::MesService;
use app::mes::{MesLinkState, OrderState, OutboxList};
use cellguard::config::Settings;
use cellguard::mes::settings::Secret;
use cellguard::mes::sim::{Fault, MesSim};
use cellguard::runtime::Running;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::common::{default_plant, free_port, spawn_app, test_caller};

const TOKEN: &str = "mes-test-token";

/// An MES simulator on loopback, owned by the test.
struct Mes {
    sim: MesSim,
    tasks: TaskTracker,
    shutdown: CancellationToken,
}

impl Mes {
    async fn start() -> Mes {
        let (tasks, shutdown) = (TaskTracker::new(), CancellationToken::new());
        let any = ([127, 0, 0, 1], 0).into();
        let sim = MesSim::start(any, any, TOKEN.into(), 7, Fault::None, &tasks, &shutdown)
            .await
            .expect("MES simulator");
        Mes {
            sim,
            tasks,
            shutdown,
        }
    }

    async fn stop(self) {
        self.shutdown.cancel();
        self.tasks.close();
        self.tasks.wait().await;
    }
}

/// The default plant talking to `mes` with short intervals; `cells_per_minute`
/// of production.
fn plant_for(mes: &MesSim, cells_per_minute: f64) -> Settings {
    let mut plant = default_plant();
    plant.simulator.cells_per_minute = cells_per_minute;
    plant.mes.embedded = false;
    plant.mes.url = Some(mes.url().parse().expect("the simulator's URL"));
    plant.mes.token = Secret::new(TOKEN);
    plant.mes.orders_interval = Duration::from_millis(500);
    plant.mes.machine_data_interval = Duration::from_secs(1);
    plant.mes.confirmation_interval = Duration::from_secs(1);
    plant.mes.retry_min = Duration::from_millis(50);
    plant.mes.retry_max = Duration::from_secs(1);
    plant.mes.timeout = Duration::from_secs(2);
    plant
}

/// Waits (at most `limit`) until `cond` holds; says what it waited for if not.
async fn until(what: &str, limit: Duration, mut cond: impl AsyncFnMut() -> bool) {
    let start = Instant::now();
    while start.elapsed() < limit {
        if cond().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("waited {limit:?} for {what}");
}

/// Every outbox row: key → (state, created_ms).
async fn outbox_rows(pool: &sqlx::SqlitePool) -> BTreeMap<String, (String, i64)> {
    let rows: Vec<(String, String, i64)> =
        sqlx::query_as("SELECT idem_key, state, created_ms FROM mes_outbox")
            .fetch_all(pool)
            .await
            .expect("outbox");
    rows.into_iter().map(|(k, s, c)| (k, (s, c))).collect()
}

async fn pending(app: &Running) -> u64 {
    app.mes.outbox.depth().await.expect("depth").pending
}

/// Interval starts of each machine's reports, in order.
fn machine_intervals(keys: &[String]) -> BTreeMap<String, Vec<i64>> {
    let mut out: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for k in keys {
        if let Some(rest) = k.strip_prefix("machine-data:")
            && let Some((machine, start)) = rest.rsplit_once(':')
        {
            out.entry(machine.to_owned())
                .or_default()
                .push(start.parse().expect("start"));
        }
    }
    for v in out.values_mut() {
        v.sort_unstable();
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_message_arrives_exactly_once_after_an_mes_outage() {
    let mes = Mes::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let (app, _) = spawn_app(dir.path(), plant_for(&mes.sim, 600.0)).await;

    until(
        "the first deliveries",
        Duration::from_secs(60),
        async || {
            let s = mes.sim.summary();
            s.machine_data >= 3 && s.quality_results >= 1
        },
    )
    .await;
    let down_at = cellguard::clock::now_ms();
    mes.sim.set_fault(Fault::Down);
    until(
        "the outage to be seen",
        Duration::from_secs(30),
        async || app.mes.status().state == MesLinkState::Down && pending(&app).await >= 10,
    )
    .await;
    // Production goes on while the MES is away.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let queued_in_outage = pending(&app).await;
    let up_at = cellguard::clock::now_ms();
    mes.sim.set_fault(Fault::None);
    until(
        "the backlog to drain",
        Duration::from_secs(60),
        async || {
            app.mes.status().state == MesLinkState::Up
                && app
                    .mes
                    .outbox
                    .depth()
                    .await
                    .expect("depth")
                    .oldest_ms
                    .is_none_or(|t| t > up_at)
        },
    )
    .await;
    let pool = app.mes.outbox.pool().clone();
    app.stop().await;

    let received: HashSet<String> = mes.sim.keys().into_iter().collect();
    let rows = outbox_rows(&pool).await;
    let summary = mes.sim.summary();
    assert_eq!(summary.duplicates, 0, "{summary:?}");
    assert!(queued_in_outage >= 10, "{queued_in_outage} queued");
    let mut from_outage = 0;
    for (key, (state, created)) in &rows {
        match state.as_str() {
            "delivered" => assert!(received.contains(key), "{key} delivered but not received"),
            "pending" => assert!(
                *created > up_at,
                "{key} from before the outage's end left behind"
            ),
            other => panic!("{key} is {other}"),
        }
        if (down_at..up_at).contains(created) {
            from_outage += 1;
            assert_eq!(state, "delivered", "{key} queued during the outage");
        }
    }
    assert!(from_outage >= 10, "{from_outage} messages from the outage");
    for key in &received {
        assert!(rows.contains_key(key), "{key} received but never queued");
    }
    // Every machine reported every interval, outage or not.
    let keys: Vec<String> = rows.keys().cloned().collect();
    for (machine, starts) in machine_intervals(&keys) {
        for w in starts.windows(2) {
            assert_eq!(w[1] - w[0], 1000, "{machine}: a gap after {}", w[0]);
        }
    }
    // Every kind arrived, with the contract's content.
    assert!(summary.quality_results > 0 && summary.order_confirmations > 0);
    let qr = mes
        .sim
        .keys()
        .into_iter()
        .find(|k| k.starts_with("quality-result:"))
        .and_then(|k| mes.sim.body(&k))
        .expect("a quality result");
    assert_eq!(qr["production_order"], "98765");
    assert!(
        qr["risk"]["decision"]
            .as_str()
            .is_some_and(|d| d.contains("recommended") || d.contains("safe"))
    );
    assert!(!qr["test_results"].as_array().expect("tests").is_empty());
    mes.stop().await;
}

fn spawn_cellguard(plant_file: &std::path::Path, data: &std::path::Path, mes: &MesSim) -> Child {
    Command::new(env!("CARGO_BIN_EXE_cellguard"))
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .arg("--config")
        .arg(plant_file)
        .arg("serve")
        .arg("--data-dir")
        .arg(data)
        .env("LEPTOS_SITE_ADDR", format!("127.0.0.1:{}", free_port()))
        .env("CELLGUARD_MES_URL", mes.url())
        .env("CELLGUARD_MES_TOKEN", TOKEN)
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("start cellguard")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_lost_when_cellguard_is_killed_during_an_outage() {
    let mes = Mes::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let shipped =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../config/plant.toml"))
            .expect("plant");
    let text = shipped
        .replacen("cells_per_minute = 30", "cells_per_minute = 600", 1)
        .replacen("orders_interval_s = 30", "orders_interval_s = 0.5", 1)
        .replacen(
            "machine_data_interval_s = 60",
            "machine_data_interval_s = 1",
            1,
        )
        .replacen(
            "confirmation_interval_s = 60",
            "confirmation_interval_s = 1",
            1,
        )
        .replacen("retry_min_ms = 500", "retry_min_ms = 50", 1)
        .replacen("retry_max_ms = 60000", "retry_max_ms = 1000", 1);
    assert_ne!(text, shipped);
    let plant_file = dir.path().join("plant.toml");
    std::fs::write(&plant_file, text).expect("write plant");
    let data = dir.path().join("data");

    let mut child = spawn_cellguard(&plant_file, &data, &mes.sim);
    until(
        "the first deliveries",
        Duration::from_secs(90),
        async || mes.sim.summary().quality_results >= 2,
    )
    .await;
    mes.sim.set_fault(Fault::Down);
    tokio::time::sleep(Duration::from_secs(3)).await;
    child.kill().expect("kill -9");
    child.wait().expect("reaped");

    // What the killed process had committed and not delivered.
    let store = cellguard::storage::sqlite::SqliteStore::open_in(&data)
        .await
        .expect("reopen the database");
    let before = outbox_rows(store.pool()).await;
    let waiting: Vec<String> = before
        .iter()
        .filter(|(_, (s, _))| s == "pending")
        .map(|(k, _)| k.clone())
        .collect();
    assert!(
        waiting.len() >= 5,
        "{} waiting after the kill",
        waiting.len()
    );
    store.pool().close().await;

    // Restarted while the MES is still away, then the MES returns.
    let mut child = spawn_cellguard(&plant_file, &data, &mes.sim);
    tokio::time::sleep(Duration::from_secs(2)).await;
    mes.sim.set_fault(Fault::None);
    until(
        "the waiting messages to arrive",
        Duration::from_secs(90),
        async || {
            let got: HashSet<String> = mes.sim.keys().into_iter().collect();
            waiting.iter().all(|k| got.contains(k))
        },
    )
    .await;
    child.kill().expect("kill");
    child.wait().expect("reaped");

    let summary = mes.sim.summary();
    assert_eq!(summary.duplicates, 0, "{summary:?}");
    let store = cellguard::storage::sqlite::SqliteStore::open_in(&data)
        .await
        .expect("reopen");
    let after = outbox_rows(store.pool()).await;
    let received: HashSet<String> = mes.sim.keys().into_iter().collect();
    for key in before.keys() {
        assert!(after.contains_key(key), "{key} vanished from the outbox");
    }
    for (key, (state, _)) in &after {
        if state == "delivered" {
            assert!(received.contains(key), "{key}");
        }
    }
    mes.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_message_is_a_dead_letter_with_the_reason_and_the_queue_moves_on() {
    let mes = Mes::start().await;
    mes.sim.set_fault(Fault::Reject {
        key: "quality-result:".into(),
    });
    let dir = tempfile::tempdir().expect("tempdir");
    let (app, _) = spawn_app(dir.path(), plant_for(&mes.sim, 600.0)).await;
    until("a dead letter", Duration::from_secs(60), async || {
        app.mes.outbox.depth().await.expect("depth").dead >= 2
    })
    .await;
    let (dead, _) = app
        .mes
        .outbox
        .list(OutboxList::Dead, 0, 50)
        .await
        .expect("dead letters");
    assert!(dead.iter().all(|d| d.kind == "quality_result"));
    let reason = dead[0].last_error.clone().unwrap_or_default();
    assert_eq!(dead[0].last_status, Some(400));
    assert!(reason.contains("unknown material"), "{reason}");
    // Messages behind it were not held up.
    until(
        "machine data after the refusal",
        Duration::from_secs(30),
        async || mes.sim.summary().machine_data >= 3,
    )
    .await;
    assert_eq!(mes.sim.summary().quality_results, 0);

    // Once the MES accepts them, a person retries the dead letters.
    mes.sim.set_fault(Fault::None);
    let (dead, _) = app
        .mes
        .outbox
        .list(OutboxList::Dead, 0, 200)
        .await
        .expect("dead letters");
    let n = app.mes.retry(&test_caller(), None).await.expect("retried");
    assert!(n >= dead.len() as u64 && n >= 2);
    until(
        "every retried message",
        Duration::from_secs(30),
        async || {
            let got: HashSet<String> = mes.sim.keys().into_iter().collect();
            dead.iter().all(|d| got.contains(&d.key))
        },
    )
    .await;
    assert_eq!(mes.sim.summary().duplicates, 0);
    app.stop().await;
    mes.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_the_mes_keeps_failing_holds_up_only_its_entity_then_is_a_dead_letter() {
    let mes = Mes::start().await;
    // The MES cannot take CAS_01's machine data; everything else is fine.
    mes.sim.set_fault(Fault::Fail {
        key: "machine-data:CAS_01:".into(),
    });
    let dir = tempfile::tempdir().expect("tempdir");
    let mut plant = plant_for(&mes.sim, 600.0);
    plant.mes.max_attempts = 3;
    let (app, _) = spawn_app(dir.path(), plant).await;
    until(
        "CAS_01's first report given up on",
        Duration::from_secs(60),
        async || app.mes.outbox.depth().await.expect("depth").dead >= 1,
    )
    .await;
    // The others flowed meanwhile: results, and the other machines' data.
    until(
        "the other machines' data and the cells' results",
        Duration::from_secs(30),
        async || {
            let keys = mes.sim.keys();
            let s = mes.sim.summary();
            s.quality_results >= 5
                && keys.iter().any(|k| k.starts_with("machine-data:FORM_01:"))
                && keys.iter().any(|k| k.starts_with("machine-data:EOL_01:"))
        },
    )
    .await;
    assert!(
        !mes.sim
            .keys()
            .iter()
            .any(|k| k.starts_with("machine-data:CAS_01:")),
        "the failing entity never got through"
    );
    let (dead, _) = app
        .mes
        .outbox
        .list(OutboxList::Dead, 0, 50)
        .await
        .expect("dead letters");
    assert!(
        dead.iter()
            .all(|d| d.key.starts_with("machine-data:CAS_01:"))
    );
    assert_eq!(dead[0].last_status, Some(500));
    let reason = dead[0].last_error.clone().unwrap_or_default();
    assert!(reason.contains("gave up after 3 attempt(s)"), "{reason}");
    assert!(reason.contains("500"), "{reason}");
    app.stop().await;
    mes.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_to_a_sign_on_page_is_never_taken_for_a_delivery() {
    let mes = Mes::start().await;
    mes.sim.set_fault(Fault::Redirect);
    // The sign-on page answers 200 to a GET, as a proxy's would.
    let page = reqwest::get(format!("{}/sso/login", mes.sim.url()))
        .await
        .expect("sign-on page");
    assert_eq!(page.status(), 200);
    let dir = tempfile::tempdir().expect("tempdir");
    let (app, _) = spawn_app(dir.path(), plant_for(&mes.sim, 600.0)).await;
    until("a dead letter", Duration::from_secs(60), async || {
        app.mes.outbox.depth().await.expect("depth").dead >= 1
    })
    .await;
    let (dead, _) = app
        .mes
        .outbox
        .list(OutboxList::Dead, 0, 50)
        .await
        .expect("dead letters");
    assert_eq!(dead[0].last_status, Some(302));
    let reason = dead[0].last_error.clone().unwrap_or_default();
    assert!(
        reason.contains("/sso/login"),
        "the Location is named: {reason}"
    );
    let s = mes.sim.summary();
    assert_eq!(
        (s.machine_data, s.quality_results),
        (0, 0),
        "nothing reached the MES"
    );
    app.stop().await;
    mes.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_token_is_a_clear_error_not_a_retry_storm() {
    let mes = Mes::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut plant = plant_for(&mes.sim, 600.0);
    plant.mes.token = Secret::new("not-the-token");
    let (app, _) = spawn_app(dir.path(), plant).await;
    until("the refusal to show", Duration::from_secs(30), async || {
        app.mes.status().state == MesLinkState::Unauthorized
    })
    .await;
    let start = cellguard::clock::now_ms();
    tokio::time::sleep(Duration::from_secs(6)).await;
    let status = app.mes.status();
    assert_eq!(status.state, MesLinkState::Unauthorized);
    let error = status.error.unwrap_or_default();
    assert!(error.contains("token") && error.contains("401"), "{error}");
    assert!(
        !error.contains("not-the-token"),
        "the token never shows: {error}"
    );
    let requests = mes
        .sim
        .requests()
        .into_iter()
        .filter(|r| r.at_ms >= start)
        .count();
    let queued = pending(&app).await;
    // Back-off: a handful of attempts, though messages keep coming (a storm
    // would be one attempt per message).
    assert!(requests <= 30, "{requests} requests in 6 s");
    assert!(
        queued > requests as u64,
        "{queued} queued, {requests} requests"
    );
    assert_eq!(app.mes.outbox.depth().await.expect("depth").dead, 0);
    app.stop().await;
    mes.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_waits_as_the_mes_tells() {
    let mes = Mes::start().await;
    mes.sim.set_fault(Fault::Throttle { retry_after_s: 2 });
    let dir = tempfile::tempdir().expect("tempdir");
    let (app, _) = spawn_app(dir.path(), plant_for(&mes.sim, 0.0)).await;
    until(
        "two attempts at one message",
        Duration::from_secs(30),
        async || {
            let reqs = mes.sim.requests();
            reqs.iter()
                .filter(|r| r.key.is_some())
                .filter(|r| reqs.iter().filter(|o| o.key == r.key).count() >= 2)
                .count()
                >= 2
        },
    )
    .await;
    let reqs = mes.sim.requests();
    let first = reqs.iter().find(|r| r.key.is_some()).expect("a message");
    let attempts: Vec<i64> = reqs
        .iter()
        .filter(|r| r.key == first.key)
        .map(|r| r.at_ms)
        .collect();
    assert_eq!(first.status, 429);
    for w in attempts.windows(2) {
        assert!(w[1] - w[0] >= 1_950, "retried after {} ms", w[1] - w[0]);
    }
    mes.sim.set_fault(Fault::None);
    until(
        "delivery after the throttle",
        Duration::from_secs(30),
        async || mes.sim.summary().machine_data >= 1,
    )
    .await;
    app.stop().await;
    mes.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cells_belong_to_the_active_order_and_its_progress_moves() {
    let mes = Mes::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let (app, _) = spawn_app(dir.path(), plant_for(&mes.sim, 600.0)).await;
    until("orders and cells", Duration::from_secs(60), async || {
        let v = app.mes.orders().await.expect("orders");
        v.orders
            .iter()
            .any(|o| o.order.id == "98765" && o.active && o.produced >= 5)
    })
    .await;
    let v = app.mes.orders().await.expect("orders");
    let first = &v.orders[0];
    assert_eq!(
        (
            first.order.id.as_str(),
            first.order.product.as_str(),
            first.order.planned_quantity
        ),
        ("98765", "HC", 2000)
    );
    let next = v
        .orders
        .iter()
        .find(|o| o.order.id == "98766")
        .expect("98766");
    assert_eq!(
        (
            next.order.product.as_str(),
            next.order.planned_quantity,
            next.order.state
        ),
        ("SC", 1500, OrderState::Released)
    );
    assert!(v.status.orders_fetched_ms.is_some());
    let produced = first.produced;
    until("progress", Duration::from_secs(30), async || {
        let v = app.mes.orders().await.expect("orders");
        v.orders[0].produced > produced
    })
    .await;
    // The MES hears about it.
    until("a confirmation", Duration::from_secs(30), async || {
        mes.sim
            .orders()
            .iter()
            .any(|o| o.id == "98765" && o.produced_quantity >= produced)
    })
    .await;
    app.stop().await;
    mes.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_simulator_checks_tokens_keeps_messages_and_goes_down_for_real() {
    let mes = Mes::start().await;
    let http = reqwest::Client::new();
    let url = |p: &str| format!("{}{p}", mes.sim.url());
    let r = http
        .get(url("/api/v1/production-orders"))
        .send()
        .await
        .expect("orders");
    assert_eq!(r.status(), 401);
    let r = http
        .get(url("/api/v1/production-orders"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("orders");
    assert_eq!(r.status(), 200);
    let body: serde_json::Value = r.json().await.expect("json");
    let ids: Vec<&str> = body["production_orders"]
        .as_array()
        .expect("orders")
        .iter()
        .filter_map(|o| o["id"].as_str())
        .collect();
    assert!(ids.contains(&"98765") && ids.contains(&"98766"), "{ids:?}");

    let confirm = serde_json::json!({"production_order": "98765", "produced_quantity": 3,
        "high_risk_quantity": 1, "scrapped_quantity": 0, "confirmed_at": "2026-12-01T10:00:00Z"});
    for expect in [201, 200] {
        let r = http
            .post(url("/api/v1/order-confirmations"))
            .bearer_auth(TOKEN)
            .header("Idempotency-Key", "c-1")
            .json(&confirm)
            .send()
            .await
            .expect("post");
        assert_eq!(r.status(), expect);
    }
    assert_eq!(mes.sim.summary().duplicates, 1);
    let r = http
        .post(url("/api/v1/machine-data"))
        .bearer_auth(TOKEN)
        .header("Idempotency-Key", "m-1")
        .json(&serde_json::json!({"equipment_id": "CAS_01"}))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 400);
    assert!(r.text().await.expect("text").contains("interval_start"));

    // The admin endpoint switches faults; down means the port is closed.
    let admin = format!("http://{}/admin/fault", mes.sim.admin_addr);
    http.put(&admin)
        .json(&serde_json::json!({"fault": "down"}))
        .send()
        .await
        .expect("fault");
    let mut refused = false;
    for _ in 0..50 {
        match reqwest::Client::new()
            .get(url("/api/v1/production-orders"))
            .send()
            .await
        {
            Err(e) if e.is_connect() => {
                refused = true;
                break;
            }
            _ => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
    assert!(refused, "the port stays closed while down");
    http.put(&admin)
        .json(&serde_json::json!({"fault": "none"}))
        .send()
        .await
        .expect("fault");
    until(
        "the port to open again",
        Duration::from_secs(10),
        async || {
            reqwest::Client::new()
                .get(url("/api/v1/production-orders"))
                .bearer_auth(TOKEN)
                .send()
                .await
                .is_ok_and(|r| r.status() == 200)
        },
    )
    .await;
    mes.stop().await;
}
