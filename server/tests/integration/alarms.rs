//! Alarms end to end: a value read over real Modbus TCP beyond a tag limit raises an
//! alarm, a person acknowledges it over HTTP with a comment, it clears when the value
//! comes back through its deadband, and the journal, its CSV and the audit trail
//! show it all; shelving needs a supervisor and a reason and outlives a restart; a
//! PLC that does not answer raises its comm alarm.

use std::time::Duration;

use app::alarm::State;
use app::alarm::view::{AlarmBoard, AlarmView, JournalFilter};
use cellguard::runtime::Running;

use crate::common::{free_port, plant, sign_in_as, spawn_app};
use crate::testplc::TestPlc;
use app::auth::Role;

/// Register 0: temperature in tenths of a degree.
const TEMP: u16 = 0;

fn alarm_plant(port: u16) -> String {
    format!(
        r#"
[alarms]
check_every_s = 0.2
max_shelve_hours = 2
[[devices]]
id = "M1"
host = "127.0.0.1"
port = {port}
timeout_ms = 500
reconnect_max_ms = 500
scan_groups = [{{ name = "fast", period_ms = 100 }}]
[[devices.tags]]
name = "temperature"
label = "Temperature"
table = "holding"
address = {TEMP}
type = "u16"
scale = 0.1
unit = "°C"
scan_group = "fast"
alarms = {{ hi = 50.0, hihi = 60.0, deadband = 1.0, action = "check the chiller" }}
"#
    )
}

async fn board(app: &Running) -> AlarmBoard {
    app.alarms.board().await.expect("board")
}

fn find<'a>(b: &'a AlarmBoard, key: &str) -> Option<&'a AlarmView> {
    b.standing
        .iter()
        .chain(&b.suppressed)
        .find(|a| a.key == key)
}

/// Waits (10 s at most) until alarm `key` is in `state` (`None`: not standing).
async fn until_state(app: &Running, key: &str, state: Option<State>) -> AlarmBoard {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let b = board(app).await;
        if find(&b, key).map(|a| a.state) == state {
            return b;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{key} never became {state:?}: {:?}",
            find(&b, key)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

const HI: &str = "limit:M1/temperature/hi";

#[tokio::test]
async fn a_limit_alarm_is_raised_acknowledged_with_a_comment_and_cleared_and_the_journal_shows_all_three()
 {
    let plc = TestPlc::start(&[(TEMP, 450)]).await;
    let dir = tempfile::tempdir().expect("dir");
    let (app, base) = spawn_app(dir.path(), plant(&alarm_plant(plc.addr.port()))).await;
    let b = board(&app).await;
    assert!(b.standing.is_empty(), "{:?}", b.standing);

    plc.set(TEMP, 553);
    let b = until_state(&app, HI, Some(State::Unacked)).await;
    let hi = find(&b, HI).expect("hi");
    assert!(
        (hi.value.unwrap_or(0.0) - 55.3).abs() < 1e-9,
        "the value that raised it"
    );
    assert!(hi.message.contains("check the chiller"), "{}", hi.message);
    assert!(
        find(&b, "limit:M1/temperature/hihi").is_none(),
        "HiHi is not reached"
    );
    assert_eq!(b.summary.unacked, 1);
    let id = hi.id;

    // A viewer may not acknowledge; an operator may, with a comment.
    let viewer = sign_in_as(&app, &base, Role::Viewer).await;
    let r = viewer
        .post(format!("{base}/api/fn/acknowledge_alarm"))
        .form(&[("id", id.to_string())])
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 403);
    let operator = sign_in_as(&app, &base, Role::Operator).await;
    let r = operator
        .post(format!("{base}/api/fn/acknowledge_alarm"))
        .form(&[
            ("id", id.to_string()),
            ("comment", "chiller restarted".into()),
        ])
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
    let b = until_state(&app, HI, Some(State::Acked)).await;
    let hi = find(&b, HI).expect("hi");
    assert_eq!(hi.acked_by.as_deref(), Some("test-operator"));
    assert_eq!(hi.comment.as_deref(), Some("chiller restarted"));
    // Acknowledged twice: refused, and said why.
    let r = operator
        .post(format!("{base}/api/fn/acknowledge_alarm"))
        .form(&[("id", id.to_string())])
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 409);

    // Inside the deadband it stays; through it, it clears (and, acknowledged, leaves the board).
    plc.set(TEMP, 495);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        find(&board(&app).await, HI).map(|a| a.state),
        Some(State::Acked)
    );
    plc.set(TEMP, 485);
    until_state(&app, HI, None).await;

    let page = app
        .alarms
        .journal(&JournalFilter::default())
        .await
        .expect("journal");
    let kinds: Vec<&str> = page
        .events
        .iter()
        .filter(|e| e.alarm_id == id)
        .map(|e| e.kind.as_str())
        .collect();
    assert_eq!(kinds, ["cleared", "acknowledged", "raised"], "newest first");
    let acked = page
        .events
        .iter()
        .find(|e| e.kind == "acknowledged")
        .expect("acknowledged");
    assert_eq!(acked.user.as_deref(), Some("test-operator"));
    assert_eq!(acked.comment.as_deref(), Some("chiller restarted"));

    // The CSV has the same lines, filtered as asked.
    let csv = operator
        .get(format!("{base}/api/v1/export/alarms.csv?kind=acknowledged"))
        .send()
        .await
        .expect("csv")
        .text()
        .await
        .expect("text");
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 2, "{csv}");
    assert!(
        lines[1].contains("acknowledged") && lines[1].contains("chiller restarted"),
        "{csv}"
    );
    let bad = operator
        .get(format!("{base}/api/v1/export/alarms.csv?priority=extreme"))
        .send()
        .await
        .expect("csv");
    assert_eq!(bad.status(), 400, "an unknown priority is refused");

    let audit = app
        .access
        .audit
        .export(&Default::default())
        .await
        .expect("audit");
    assert!(
        audit
            .iter()
            .any(|e| e.action == app::auth::AuditAction::AlarmAcknowledged
                && e.actor == "test-operator"),
        "the acknowledgement is audited"
    );
    app.stop().await;
    plc.stop();
}

#[tokio::test]
async fn shelving_needs_a_supervisor_and_a_reason_and_outlives_a_restart() {
    let plc = TestPlc::start(&[(TEMP, 650)]).await;
    let dir = tempfile::tempdir().expect("dir");
    let text = alarm_plant(plc.addr.port());
    let (app, base) = spawn_app(dir.path(), plant(&text)).await;
    let hihi = "limit:M1/temperature/hihi";
    let b = until_state(&app, hihi, Some(State::Unacked)).await;
    let id = find(&b, hihi).expect("hihi").id;

    let operator = sign_in_as(&app, &base, Role::Operator).await;
    let shelve = |c: &reqwest::Client, hours: &str, reason: &str| {
        c.post(format!("{base}/api/fn/shelve_alarm"))
            .form(&[
                ("id", id.to_string()),
                ("hours", hours.into()),
                ("reason", reason.into()),
            ])
            .send()
    };
    assert_eq!(
        shelve(&operator, "1", "sensor swap")
            .await
            .expect("post")
            .status(),
        403
    );
    let supervisor = sign_in_as(&app, &base, Role::Supervisor).await;
    let r = shelve(&supervisor, "1", "  ").await.expect("post");
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap_or_default().contains("reason"));
    let r = shelve(&supervisor, "3", "sensor swap").await.expect("post");
    assert_eq!(r.status(), 422, "over the 2 h maximum");
    let r = shelve(&supervisor, "1", "sensor swap").await.expect("post");
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
    let b = until_state(&app, hihi, Some(State::Shelved)).await;
    assert_eq!(b.summary.shelved, 1);
    assert!(b.standing.iter().all(|a| a.key != hihi));
    app.stop().await;

    // After a restart the shelf still holds, and the condition (still beyond) too.
    let (app, _base) = spawn_app(dir.path(), plant(&text)).await;
    let b = board(&app).await;
    let a = find(&b, hihi).expect("hihi");
    assert_eq!(a.state, State::Shelved);
    assert_eq!(a.shelve_reason.as_deref(), Some("sensor swap"));
    let journal = app
        .alarms
        .journal(&JournalFilter::default())
        .await
        .expect("journal");
    assert_eq!(
        journal
            .events
            .iter()
            .filter(|e| e.alarm_id == id && e.kind == "raised")
            .count(),
        1,
        "the restart raised nothing again"
    );
    app.stop().await;
    plc.stop();
}

#[tokio::test]
async fn a_plc_that_does_not_answer_raises_its_comm_alarm() {
    let dir = tempfile::tempdir().expect("dir");
    let (app, _base) = spawn_app(dir.path(), plant(&alarm_plant(free_port()))).await;
    let b = until_state(&app, "comm:M1", Some(State::Unacked)).await;
    let comm = find(&b, "comm:M1").expect("comm");
    assert_eq!(comm.priority, app::alarm::Priority::High);
    assert!(comm.message.contains("check the PLC"), "{}", comm.message);
    app.stop().await;
}
