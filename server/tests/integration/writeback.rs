//! The write path against a PLC that other hands touch: a second Modbus client
//! (the "HMI") moves the setpoint and the machine's state between proposal and
//! approval, in a thousand seeded interleavings; and CellGuard killed with
//! SIGKILL in the middle of a write settles the journal from the PLC at restart.

use std::time::Duration;

use app::actions::{ActionState, WriteMode};
use app::api::service::ActionsService;
use app::fmt::format_number;
use rand::{Rng, SeedableRng};
use tokio_modbus::prelude::*;

use crate::actions::{rig, until};
use crate::common::{plant, start_line_with, test_caller};
use crate::testplc::{Hold, TestPlc};

/// Register 0: the machine's state; register 1: the speed setpoint.
const STATE: u16 = 0;
const SETPOINT: u16 = 1;
const EXECUTE: u16 = 6;
const HELD: u16 = 5;
const STOPPED: u16 = 2;

/// One machine on the test PLC, scanned every 5 s: between scans CellGuard's
/// picture of the setpoint is as old as the last scan or its own last read.
fn hmi_plant(port: u16, timeout_ms: u64) -> String {
    format!(
        r#"
[writeback]
min_interval_s = 0
default_mode = "advisory"
allowed_states = ["Execute", "Held"]
[[devices]]
id = "M1"
host = "127.0.0.1"
port = {port}
unit_id = 1
timeout_ms = {timeout_ms}
scan_groups = [{{ name = "slow", period_ms = 5000 }}]
[[devices.tags]]
name = "state"
table = "holding"
address = {STATE}
type = "u16"
scan_group = "slow"
states = {{ "{EXECUTE}" = "Execute", "{HELD}" = "Held", "{STOPPED}" = "Stopped" }}
[[devices.tags]]
name = "speed_setpoint"
table = "holding"
address = {SETPOINT}
type = "u16"
unit = "RPM"
scan_group = "slow"
access = "read_write"
min = 500.0
max = 2000.0
max_step = 100.0
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_hmi_moving_the_setpoint_and_state_never_leads_to_a_write_outside_the_envelope() {
    let plc = TestPlc::start(&[(STATE, EXECUTE), (SETPOINT, 1000)]).await;
    let settings = plant(&hmi_plant(plc.addr.port(), 1000));
    let (line, _rx) = start_line_with(settings.plant, &[], 91).await;
    let r = rig(line, settings.writeback).await;
    assert_eq!(r.actions.mode("M1"), WriteMode::Advisory);
    r.wait_readable("M1", "speed_setpoint").await;
    let mut hmi = tcp::connect_slave(plc.addr, Slave(1))
        .await
        .expect("HMI connects");
    let caller = test_caller();
    let mut rng = rand::rngs::SmallRng::seed_from_u64(20_261_202);
    let (mut verified, mut refused, mut moved) = (0, 0, 0);
    let rounds = 1_000;
    let setpoint = r
        .line
        .plant
        .tag_named("M1", "speed_setpoint")
        .expect("tag")
        .id;
    let state = r.line.plant.tag_named("M1", "state").expect("tag").id;
    let mut round = 0;
    let mut attempts = 0;
    while round < rounds {
        attempts += 1;
        assert!(attempts < 10 * rounds, "too many proposals refused");
        // Now and then the machine runs again (else most rounds would be refused).
        if rng.random_bool(0.3) {
            plc.set(STATE, EXECUTE);
        }
        // Propose from what CellGuard knows (as old as its last read).
        let known = r
            .line
            .bus
            .tag(setpoint)
            .and_then(|l| l.value)
            .and_then(|v| v.as_f64())
            .expect("a reading");
        let ask = (known + f64::from(rng.random_range(-150i16..=150))).clamp(400.0, 2100.0);
        let Ok(p) = r
            .actions
            .propose(&caller, "M1", "speed_setpoint", ask, "adversarial round")
            .await
        else {
            // Refused at proposal (no change, or a state known to forbid it): the
            // machine runs again, and CellGuard reads it before the next try.
            plc.set(STATE, EXECUTE);
            r.line.writers.read(state).await.expect("read the state");
            r.line
                .writers
                .read(setpoint)
                .await
                .expect("read the setpoint");
            continue;
        };
        // The HMI, between proposal and approval.
        if rng.random_bool(0.5) {
            let v = rng.random_range(300u16..=2300);
            hmi.write_single_register(SETPOINT, v)
                .await
                .expect("transport")
                .expect("HMI write");
            moved += 1;
        }
        if rng.random_bool(0.3) {
            let s = [EXECUTE, HELD, STOPPED][rng.random_range(0..3)];
            hmi.write_single_register(STATE, s)
                .await
                .expect("transport")
                .expect("HMI write");
        }
        let (plc_before, state_before) = (plc.register(SETPOINT), plc.register(STATE));
        let writes_before = plc.writes().len();
        r.actions.approve(&caller, p.id).await.expect("approved");
        let done = r.settled(p.id).await;
        let writes = plc.writes();
        match done.state {
            ActionState::Verified => {
                verified += 1;
                assert_eq!(writes.len(), writes_before + 1, "round {round}: one write");
                let w = writes.last().expect("the write");
                let (old, new) = (w.before[usize::from(SETPOINT)], w.words[0]);
                assert_eq!(f64::from(new), p.to, "round {round}");
                assert_eq!(old, plc_before, "round {round}: nothing else moved it");
            }
            ActionState::Refused => {
                refused += 1;
                assert_eq!(
                    writes.len(),
                    writes_before,
                    "round {round}: nothing written"
                );
                let detail = done.detail.clone().unwrap_or_default();
                let named = format!(
                    "speed_setpoint = {}, machine state {}",
                    format_number(f64::from(plc_before)),
                    match state_before {
                        EXECUTE => "Execute",
                        HELD => "Held",
                        _ => "Stopped",
                    }
                );
                assert!(
                    detail.contains(&named),
                    "round {round}: the refusal names the fresh values ({named}): {detail}"
                );
            }
            other => panic!("round {round}: {other:?} {:?}", done.detail),
        }
        round += 1;
    }
    // Every write CellGuard made, checked against the registers just before it.
    let writes = plc.writes();
    for w in &writes {
        assert_eq!(w.address, SETPOINT);
        let (old, new) = (
            f64::from(w.before[usize::from(SETPOINT)]),
            f64::from(w.words[0]),
        );
        let state = w.before[usize::from(STATE)];
        assert!(
            state == EXECUTE || state == HELD,
            "written in state {state}"
        );
        assert!((new - old).abs() <= 100.0, "step {old} → {new}");
        // Inside [500, 2000], or (when the HMI left it outside) no further out.
        assert!(
            (old.min(500.0)..=old.max(2000.0)).contains(&new),
            "further outside [500, 2000]: {old} → {new}"
        );
    }
    eprintln!(
        "{rounds} rounds: {verified} verified, {refused} refused on fresh values, \
         the HMI moved the setpoint in {moved}"
    );
    assert_eq!(writes.len(), verified);
    assert!(verified > 100 && refused > 100, "both outcomes exercised");
    r.stop().await;
    plc.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_value_the_register_cannot_hold_is_refused_with_its_range() {
    // A u16 setpoint with scale 0.1: the register holds 0 to 6553.5.
    let plc = TestPlc::start(&[(STATE, EXECUTE), (SETPOINT, 65_000)]).await;
    let text = hmi_plant(plc.addr.port(), 1000)
        .replace(
            "min = 500.0\nmax = 2000.0",
            "scale = 0.1\nmin = 0.0\nmax = 9000.0",
        )
        .replace("max_step = 100.0", "max_step = 2000.0");
    let settings = plant(&text);
    let (line, _rx) = start_line_with(settings.plant, &[], 92).await;
    let r = rig(line, settings.writeback).await;
    r.wait_readable("M1", "speed_setpoint").await;
    let caller = test_caller();
    let p = r
        .actions
        .propose(&caller, "M1", "speed_setpoint", 7000.0, "past the register")
        .await
        .expect("the envelope allows it");
    r.actions.approve(&caller, p.id).await.expect("approved");
    let done = r.settled(p.id).await;
    assert_eq!(done.state, ActionState::Refused, "{:?}", done.detail);
    let detail = done.detail.unwrap_or_default();
    assert!(detail.contains("0 to 6553.5"), "{detail}");
    assert!(plc.writes().is_empty(), "never saturated and written");
    assert_eq!(plc.register(SETPOINT), 65_000);
    r.stop().await;
    plc.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tag_without_verify_ends_written_not_verified() {
    let plc = TestPlc::start(&[(STATE, EXECUTE), (SETPOINT, 1000)]).await;
    let text = hmi_plant(plc.addr.port(), 1000)
        .replace("max_step = 100.0", "max_step = 100.0\nverify = false");
    let settings = plant(&text);
    let (line, _rx) = start_line_with(settings.plant, &[], 93).await;
    let r = rig(line, settings.writeback).await;
    r.wait_readable("M1", "speed_setpoint").await;
    let caller = test_caller();
    let p = r
        .actions
        .propose(&caller, "M1", "speed_setpoint", 950.0, "slower")
        .await
        .expect("proposed");
    r.actions.approve(&caller, p.id).await.expect("approved");
    let done = r.settled(p.id).await;
    assert_eq!(done.state, ActionState::Written, "{:?}", done.detail);
    assert_eq!(done.read_back, Some(950.0));
    assert!(
        done.detail.unwrap_or_default().contains("not verified"),
        "the journal says it was not checked"
    );
    r.stop().await;
    plc.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_four_eyes_the_proposer_cannot_approve_their_own_change() {
    let plc = TestPlc::start(&[(STATE, EXECUTE), (SETPOINT, 1000)]).await;
    let text = hmi_plant(plc.addr.port(), 1000).replace(
        "min_interval_s = 0",
        "min_interval_s = 0\nfour_eyes = [\"M1\"]",
    );
    let settings = plant(&text);
    let (line, _rx) = start_line_with(settings.plant, &[], 94).await;
    let r = rig(line, settings.writeback).await;
    r.wait_readable("M1", "speed_setpoint").await;
    let proposer = test_caller();
    let p = r
        .actions
        .propose(&proposer, "M1", "speed_setpoint", 950.0, "slower")
        .await
        .expect("proposed");
    let e = r
        .actions
        .approve(&proposer, p.id)
        .await
        .expect_err("not by the proposer");
    assert!(e.to_string().contains("second person"), "{e}");
    let e = r
        .actions
        .set_mode(&proposer, "M1", WriteMode::Automatic)
        .await
        .expect_err("no automatic mode where a second person must approve");
    assert!(e.to_string().contains("second person"), "{e}");
    let mut second = test_caller();
    second.principal = app::auth::Principal::User {
        id: 1,
        username: "second".into(),
        role: app::auth::Role::Supervisor,
    };
    r.actions.approve(&second, p.id).await.expect("approved");
    let done = r.settled(p.id).await;
    assert_eq!(done.state, ActionState::Verified, "{:?}", done.detail);
    assert_eq!(plc.register(SETPOINT), 950);
    r.stop().await;
    plc.stop();
}

/// A running `cellguard serve` child on the test PLC.
struct Child {
    process: tokio::process::Child,
    base: String,
    http: reqwest::Client,
}

async fn serve(dir: &std::path::Path, config: &std::path::Path) -> Child {
    let port = crate::common::free_port();
    let process = tokio::process::Command::new(env!("CARGO_BIN_EXE_cellguard"))
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .arg("--config")
        .arg(config)
        .arg("serve")
        .arg("--data-dir")
        .arg(dir)
        .env("LEPTOS_SITE_ADDR", format!("127.0.0.1:{port}"))
        .env("CELLGUARD_ADMIN_PASSWORD", crate::common::PASSWORD)
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("cellguard starts");
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .expect("client");
    until("cellguard serving", Duration::from_secs(60), async || {
        http.post(format!("{base}/api/v1/session"))
            .json(&serde_json::json!({ "username": "admin", "password": crate::common::PASSWORD }))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
    })
    .await;
    Child {
        process,
        base,
        http,
    }
}

impl Child {
    async fn call(&self, function: &str, form: &[(&str, &str)]) -> serde_json::Value {
        let r = self
            .http
            .post(format!("{}/api/fn/{function}", self.base))
            .form(form)
            .send()
            .await
            .expect("request");
        assert!(r.status().is_success(), "{function}: {}", r.status());
        r.json().await.expect("json")
    }
}

/// The journal row of action `id`, read from the file.
async fn journal(dir: &std::path::Path, id: i64) -> (String, Option<String>, Option<f64>) {
    let url = format!("sqlite://{}?mode=ro", dir.join("cellguard.db").display());
    let pool = sqlx::SqlitePool::connect(&url)
        .await
        .expect("open the journal");
    let row: (String, Option<String>, Option<f64>) =
        sqlx::query_as("SELECT state, detail, read_back FROM actions WHERE id = ?")
            .bind(id)
            .fetch_one(&pool)
            .await
            .expect("row");
    pool.close().await;
    row
}

/// Kills CellGuard with SIGKILL while the PLC holds the write sequence at `hold`,
/// restarts it, and returns the journal row once it is settled and the register
/// as an independent client reads it.
async fn killed_during(hold: Hold) -> ((String, Option<String>, Option<f64>), u16) {
    let plc = TestPlc::start(&[(STATE, EXECUTE), (SETPOINT, 1000)]).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("plant.toml");
    // Long timeouts: the held request is still waiting when the process dies.
    std::fs::write(&config, hmi_plant(plc.addr.port(), 30_000)).expect("write config");
    let data = dir.path().join("data");
    let mut child = serve(&data, &config).await;
    // Wait for a first scan, then propose and approve over HTTP.
    let mut id = 0;
    until("a proposal accepted", Duration::from_secs(30), async || {
        let r = child
            .http
            .post(format!("{}/api/fn/propose_action", child.base))
            .form(&[
                ("machine", "M1"),
                ("tag", "speed_setpoint"),
                ("value", "950"),
                ("reason", "kill test"),
            ])
            .send()
            .await
            .expect("request");
        if r.status() != 200 {
            return false;
        }
        id = r.json::<serde_json::Value>().await.expect("json")["id"]
            .as_i64()
            .expect("id");
        true
    })
    .await;
    plc.hold(hold);
    let held = plc.held.notified();
    let v = child
        .call("approve_action", &[("id", &id.to_string())])
        .await;
    // The answer comes before the write ends (the writer may have started it).
    assert!(
        v["state"] == "approved" || v["state"] == "writing",
        "the answer comes before the write: {v}"
    );
    tokio::time::timeout(Duration::from_secs(20), held)
        .await
        .expect("the write sequence reached the held request");
    child.process.start_kill().expect("SIGKILL");
    let _ = child.process.wait().await;
    let (state, ..) = journal(&data, id).await;
    assert_eq!(state, "writing", "killed mid-write");

    plc.hold(Hold::Nothing);
    let child = serve(&data, &config).await;
    let mut row = None;
    until(
        "the interrupted write settled",
        Duration::from_secs(30),
        async || {
            let r = journal(&data, id).await;
            let done = r.0 != "writing" && r.0 != "approved";
            row = Some(r);
            done
        },
    )
    .await;
    // An independent read of the register, over a connection of our own.
    let mut ctx = tcp::connect_slave(plc.addr, Slave(1))
        .await
        .expect("connect");
    let words = ctx
        .read_holding_registers(SETPOINT, 1)
        .await
        .expect("transport")
        .expect("no exception");
    drop(child);
    plc.stop();
    (row.expect("row"), words[0])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_before_the_write_the_journal_says_nothing_was_written_and_what_the_plc_holds() {
    let ((state, detail, read_back), register) = killed_during(Hold::FreshRead(SETPOINT)).await;
    assert_eq!(register, 1000, "the PLC was never written");
    assert_eq!(state, "failed");
    assert_eq!(read_back, Some(f64::from(register)));
    let detail = detail.unwrap_or_default();
    assert!(detail.contains("stopped during the write"), "{detail}");
    assert!(detail.contains("read 1000"), "{detail}");
    assert!(detail.contains("not the value approved"), "{detail}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_before_the_read_back_the_journal_says_what_the_plc_holds() {
    let ((state, detail, read_back), register) = killed_during(Hold::ReadBack(SETPOINT)).await;
    assert_eq!(register, 950, "the write reached the PLC");
    assert_eq!(state, "failed");
    assert_eq!(read_back, Some(f64::from(register)));
    let detail = detail.unwrap_or_default();
    assert!(detail.contains("read 950"), "{detail}");
    assert!(detail.contains("(the value approved)"), "{detail}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rule_whose_plc_is_down_proposes_nothing_says_why_and_keeps_the_others_going() {
    let plc = TestPlc::start(&[(STATE, EXECUTE), (SETPOINT, 1000)]).await;
    let one = hmi_plant(plc.addr.port(), 300);
    // M2: the same machine on a port nothing listens on, listed first.
    let devices = one.find("[[devices]]").expect("devices");
    let dead = one[devices..]
        .replace("id = \"M1\"", "id = \"M2\"")
        .replace(
            &format!("port = {}", plc.addr.port()),
            &format!("port = {}", crate::common::free_port()),
        );
    let rule = |name: &str, machine: &str| {
        format!(
            "[[writeback.rules]]\nname = \"{name}\"\nmachine = \"{machine}\"\ntag = \"speed_setpoint\"\n\
             when = {{ high_risk_share = {{ last = 20, above = 0.2 }} }}\nchange = {{ step = -50.0 }}\n\
             rationale = \"scrap rising\"\n"
        )
    };
    let text = format!(
        "{}{}{}{dead}{}",
        &one[..devices],
        rule("dead-plc", "M2"),
        rule("live-plc", "M1"),
        &one[devices..]
    );
    let settings = plant(&text);
    let (line, _rx) = start_line_with(settings.plant, &[], 95).await;
    let r = rig(line, settings.writeback).await;
    r.wait_readable("M1", "speed_setpoint").await;
    let proposed = r
        .actions
        .evaluate(cellguard::clock::now_ms())
        .await
        .expect("one rule's dead PLC does not fail the evaluation");
    assert!(proposed.is_empty());
    let held = r.actions.held();
    let why = held.get("dead-plc").expect("the dead rule says why");
    assert!(why.contains("M2.speed_setpoint"), "{why}");
    assert!(!held.contains_key("live-plc"), "{held:?}");
    let (rows, total) = r
        .actions
        .store()
        .page(&app::actions::ActionFilter::default())
        .await
        .expect("journal");
    assert_eq!(
        (rows.len(), total),
        (0, 0),
        "nothing journalled for a tag never read"
    );
    r.stop().await;
    plc.stop();
}
