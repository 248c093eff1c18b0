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

    // Acquisition's counters per PLC, for a scraper.
    let metrics = client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    for line in [
        "# TYPE cellguard_plc_scans counter",
        "cellguard_plc_reconnects_total{machine=\"CAS_01\"} 1",
        "cellguard_plc_failures_total{machine=\"EOL_01\",kind=\"timeout\"} 0",
    ] {
        assert!(metrics.contains(line), "{line} not in\n{metrics}");
    }

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
    // The link, MES and actions events can come first on a busy machine: eight
    // events hold a values event (one every 500 ms at most) whatever their order.
    let events = read_events(&mut sse, 8).await;
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
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM history")
        .fetch_one(store.pool())
        .await
        .expect("count");
    assert!(n > 0);
    // ... and the open minute and hour as rollup rows.
    for table in ["rollup_1m", "rollup_1h"] {
        let n: i64 =
            sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
                .fetch_one(store.pool())
                .await
                .expect("count");
        assert!(n > 0, "no rows in {table}");
    }
}

/// Reads `n` events from a gzip-compressed stream, decoding chunk by chunk: each
/// event must be readable as soon as its chunk arrives.
async fn read_gzip_events(resp: &mut reqwest::Response, n: usize) -> (Vec<LiveEvent>, usize) {
    use std::io::Write;
    let mut decoder = flate2::write::GzDecoder::new(Vec::new());
    let mut wire = 0;
    let mut buf = String::new();
    let mut out = Vec::new();
    while out.len() < n {
        let chunk = tokio::time::timeout(Duration::from_secs(10), resp.chunk())
            .await
            .expect("an event within 10 s")
            .expect("stream ok")
            .expect("stream open");
        wire += chunk.len();
        decoder.write_all(&chunk).expect("gzip");
        decoder.flush().expect("gzip");
        buf.push_str(&String::from_utf8_lossy(&std::mem::take(decoder.get_mut())));
        while let Some(end) = buf.find("\n\n") {
            let frame: String = buf.drain(..end + 2).collect();
            for line in frame.lines() {
                if let Some(data) = line.strip_prefix("data:") {
                    out.push(serde_json::from_str(data.trim_start()).expect("a live event"));
                }
            }
        }
    }
    (out, wire)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_live_stream_carries_what_a_page_shows_compressed_and_coalesced() {
    let dir = tempfile::tempdir().expect("tempdir");
    let app = spawn_app(dir.path()).await;
    let base = format!("http://{}", app.addr);
    let client = sign_in_as(&app, &base, Role::Viewer).await;
    wait_ready(&client, &base).await;
    let plant = default_plant().plant;

    // A machine page: that machine's every tag, gzip, at most every 500 ms.
    let mut sse = client
        .get(format!("{base}/api/v1/live?view=machine&machine=CAS_01"))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .expect("live");
    assert_eq!(sse.status(), 200);
    assert_eq!(sse.headers()["content-encoding"], "gzip");
    let started = std::time::Instant::now();
    // After the snapshot come the MES, actions and alarms events, then values.
    let (events, _) = read_gzip_events(&mut sse, 10).await;
    let LiveEvent::Snapshot { line } = &events[0] else {
        panic!("a snapshot first: {:?}", events[0])
    };
    assert_eq!(line.machines.len(), 3, "every machine is listed");
    let cas = plant.device_named("CAS_01").expect("CAS_01");
    for m in &line.machines {
        let expected = if m.id == "CAS_01" { cas.tags.len() } else { 0 };
        assert_eq!(m.tags.len(), expected, "{}", m.id);
    }
    let values: Vec<&LiveEvent> = events
        .iter()
        .filter(|e| matches!(e, LiveEvent::Values { .. }))
        .collect();
    assert!(values.len() >= 4, "{events:?}");
    for v in &values {
        let LiveEvent::Values { machine, .. } = v else {
            unreachable!()
        };
        assert_eq!(machine, "CAS_01");
    }
    // Four value events at most 2 a second take at least 1.5 s (10 scans a second
    // arrive in the meantime: they were coalesced).
    assert!(
        started.elapsed() >= Duration::from_millis(1400),
        "{:?}",
        started.elapsed()
    );
    drop(sse);

    // The overview: key tags and the state of each machine, plain text if asked so.
    let mut sse = client
        .get(format!("{base}/api/v1/live"))
        .send()
        .await
        .expect("live");
    assert!(sse.headers().get("content-encoding").is_none());
    let events = read_events(&mut sse, 1).await;
    let LiveEvent::Snapshot { line } = &events[0] else {
        panic!("a snapshot first")
    };
    for (m, d) in line.machines.iter().zip(&plant.devices) {
        let keys = d
            .tags
            .iter()
            .filter(|t| t.key || d.state_tag().map(|s| s.id) == Some(t.id))
            .count();
        assert_eq!(m.tags.len(), keys, "{}", m.id);
    }
    let sent: usize = line.machines.iter().map(|m| m.tags.len()).sum();
    assert!(sent < plant.tags().count(), "the overview leaves tags out");
    drop(sse);

    // A wrong subscription names its field and opens nothing.
    for (query, status, field) in [
        ("view=all", 422, "view"),
        ("view=machine", 422, "machine"),
        ("every_ms=5", 422, "every_ms"),
        ("view=machine&machine=NOPE", 404, "NOPE"),
    ] {
        let r = client
            .get(format!("{base}/api/v1/live?{query}"))
            .send()
            .await
            .expect("live");
        assert_eq!(r.status(), status, "{query}");
        assert!(r.text().await.expect("body").contains(field), "{query}");
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_ranges_come_from_the_rollups_with_their_spread() {
    let dir = tempfile::tempdir().expect("tempdir");
    let app = spawn_app(dir.path()).await;
    let base = format!("http://{}", app.addr);
    let client = sign_in_as(&app, &base, Role::Viewer).await;
    wait_ready(&client, &base).await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    for range in ["Live", "H24", "D30", "Y1"] {
        // Just after a minute begins, its first sample may still be on its way.
        let mut current = None;
        for _ in 0..20 {
            let series: Vec<Series> = client
                .post(format!("{base}/api/fn/history"))
                .form(&[("machine", "FORM_01"), ("range", range)])
                .send()
                .await
                .expect("history")
                .json()
                .await
                .expect("history json");
            let s = series
                .into_iter()
                .find(|s| s.tag == "current")
                .expect("current series");
            if !s.points.is_empty() {
                current = Some(s);
                break;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        let current = current.unwrap_or_else(|| panic!("{range}: no points"));
        assert!(
            current.points.len() <= 600,
            "{range}: {}",
            current.points.len()
        );
        assert_eq!(current.band.len(), current.points.len(), "{range}");
        for ((t, mean), (bt, lo, hi)) in current.points.iter().zip(&current.band) {
            assert_eq!(t, bt);
            assert!(lo <= mean && mean <= hi, "{range}: {lo} <= {mean} <= {hi}");
        }
    }
    app.stop().await;
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
