//! The whole app on a random port: pages, server functions, the live stream,
//! health endpoints and history in a real SQLite file.

use std::time::Duration;

use app::auth::Role;
use app::line::{LineView, LinkState, Series};
use app::live::LiveEvent;
use cellguard::runtime::Running;

use crate::common::{default_plant, sign_in_as};

async fn spawn_app(data_dir: &std::path::Path) -> Running {
    crate::common::spawn_app(data_dir, default_plant()).await.0
}

async fn wait_ready(client: &reqwest::Client, base: &str) -> serde_json::Value {
    for _ in 0..100 {
        let r = client
            .get(format!("{base}/readyz"))
            .send()
            .await
            .expect("readyz");
        assert_eq!(r.status(), 200);
        let body: serde_json::Value = r.json().await.expect("json");
        let plcs = body["plcs"].as_array().cloned().unwrap_or_default();
        if plcs.len() == 3 && plcs.iter().all(|p| p["link"] == "online") {
            return body;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the line never became ready");
}

/// Reads server-sent events until `n` data lines arrived.
async fn read_events(resp: &mut reqwest::Response, n: usize) -> Vec<LiveEvent> {
    let mut buf = String::new();
    let mut out = Vec::new();
    while out.len() < n {
        let chunk = tokio::time::timeout(Duration::from_secs(10), resp.chunk())
            .await
            .expect("an event within 10 s")
            .expect("stream ok")
            .expect("stream open");
        buf.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buf.find("\n\n") {
            let frame: String = buf.drain(..end + 2).collect();
            for line in frame.lines() {
                if let Some(data) = line.strip_prefix("data:") {
                    out.push(serde_json::from_str(data.trim_start()).expect("a live event"));
                }
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_app_serves_the_line_live_and_keeps_history() {
    let dir = tempfile::tempdir().expect("tempdir");
    let app = spawn_app(dir.path()).await;
    let base = format!("http://{}", app.addr);
    let client = sign_in_as(&app, &base, Role::Viewer).await;

    assert_eq!(
        client
            .get(format!("{base}/healthz"))
            .send()
            .await
            .expect("healthz")
            .text()
            .await
            .expect("text"),
        "ok"
    );
    let ready = wait_ready(&client, &base).await;
    assert_eq!(ready["database"], true);

    // The overview is rendered on the server with every machine.
    let page = client.get(format!("{base}/")).send().await.expect("page");
    assert_eq!(page.status(), 200);
    let html = page.text().await.expect("html");
    for id in ["CAS_01", "FORM_01", "EOL_01"] {
        assert!(html.contains(id), "{id} missing from the overview");
    }
    assert!(
        html.contains("/pkg/cellguard.js"),
        "hydration script missing"
    );

    // The server function behind it.
    let line: LineView = client
        .post(format!("{base}/api/fn/line"))
        .header("content-type", "application/x-www-form-urlencoded")
        .send()
        .await
        .expect("line")
        .json()
        .await
        .expect("line json");
    assert_eq!(line.machines.len(), 3);
    assert!(
        line.machines
            .iter()
            .all(|m| m.link.state == LinkState::Online)
    );

    // The live stream starts with a snapshot and then carries values.
    let mut sse = client
        .get(format!("{base}/api/v1/live"))
        .send()
        .await
        .expect("live");
    assert_eq!(sse.headers()["content-type"], "text/event-stream");
    let events = read_events(&mut sse, 4).await;
    assert!(
        matches!(events[0], LiveEvent::Snapshot { .. }),
        "{:?}",
        events[0]
    );
    assert!(
        events[1..]
            .iter()
            .any(|e| matches!(e, LiveEvent::Values { .. }))
    );
    drop(sse);

    // History reaches SQLite and comes back as series.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let series: Vec<Series> = client
        .post(format!("{base}/api/fn/history"))
        .form(&[("machine", "CAS_01"), ("range", "Live")])
        .send()
        .await
        .expect("history")
        .json()
        .await
        .expect("history json");
    let speed = series
        .iter()
        .find(|s| s.tag == "speed")
        .expect("speed series");
    assert!(!speed.points.is_empty(), "no stored speed history");

    // An unknown machine is a clear error, not a crash.
    let bad = client
        .post(format!("{base}/api/fn/history"))
        .form(&[("machine", "NOPE"), ("range", "Live")])
        .send()
        .await
        .expect("history");
    assert!(bad.status().is_server_error() || bad.status().is_client_error());
    assert!(bad.text().await.expect("text").contains("unknown machine"));

    app.stop().await;

    // Stopping flushed the last batch into the file.
    let store = cellguard::storage::sqlite::SqliteStore::open_in(dir.path())
        .await
        .expect("reopen");
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM samples")
        .fetch_one(store.pool())
        .await
        .expect("count");
    assert!(n > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_run_side_by_side() {
    let (a, b) = (
        tempfile::tempdir().expect("tempdir"),
        tempfile::tempdir().expect("tempdir"),
    );
    let one = spawn_app(a.path()).await;
    let two = spawn_app(b.path()).await;
    assert_ne!(one.addr, two.addr);
    let client = reqwest::Client::new();
    wait_ready(&client, &format!("http://{}", one.addr)).await;
    wait_ready(&client, &format!("http://{}", two.addr)).await;
    one.stop().await;
    two.stop().await;
}
