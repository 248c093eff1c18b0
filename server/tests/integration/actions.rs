//! Corrective actions end to end: a proposal approved by a person is written to a
//! simulated PLC over Modbus TCP and read back; a PLC that answers an exception
//! leaves a failed, alarmed write; the same write works against pymodbus; and in
//! automatic mode a speed drift is detected and corrected until the high-risk
//! rate falls.

use std::sync::{Arc, PoisonError};
use std::time::Duration;

use app::actions::{ActionFilter, ActionState, Change, Condition, WriteMode};
use app::api::service::{ActionsService, ServiceError};
use app::auth::{AuditAction, AuditFilter};
use cellguard::actions::Actions;
use cellguard::actions::settings::{Rule, WritebackSettings};
use cellguard::audit::AuditLog;
use cellguard::config::Settings;
use cellguard::plant::{Access, Device};
use cellguard::storage::sqlite::SqliteStore;
use tokio_modbus::prelude::*;

use crate::common::{
    Line, default_plant, devices, free_port, plant, spawn_pymodbus, start_line, start_line_with,
    test_caller,
};

/// Polls `check` every 100 ms until it holds or `limit` passes.
pub(crate) async fn until(what: &str, limit: Duration, mut check: impl AsyncFnMut() -> bool) {
    let end = tokio::time::Instant::now() + limit;
    while !check().await {
        assert!(
            tokio::time::Instant::now() < end,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A line on simulators plus the actions service on a fresh SQLite file.
pub(crate) struct Rig {
    pub(crate) line: Line,
    pub(crate) actions: Actions,
    audit: AuditLog,
    shutdown: tokio_util::sync::CancellationToken,
    _dir: tempfile::TempDir,
}

pub(crate) async fn rig(line: Line, writeback: WritebackSettings) -> Rig {
    let dir = tempfile::tempdir().expect("tempdir");
    let sqlite = SqliteStore::open_in(dir.path()).await.expect("database");
    let pool = sqlite.pool().clone();
    let actions = Actions::open(
        Arc::new(line.plant.clone()),
        writeback,
        pool.clone(),
        Arc::clone(&line.bus),
        line.writers.clone(),
    )
    .await
    .expect("actions");
    let shutdown = tokio_util::sync::CancellationToken::new();
    tokio::spawn(actions.clone().run_writes(shutdown.clone()));
    Rig {
        line,
        actions,
        audit: AuditLog::new(pool),
        shutdown,
        _dir: dir,
    }
}

impl Rig {
    /// Keeps simulated machine `i` running, so its state allows writes.
    fn keep_running(&self, i: usize) {
        self.line.simulators[i]
            .sim
            .machine
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .force("Execute", 1e9);
    }

    /// The simulator's own register value of a tag.
    fn register(&self, i: usize, tag: &str) -> f64 {
        let sim = &self.line.simulators[i].sim;
        let ti = sim
            .device
            .tags
            .iter()
            .position(|t| t.name == tag)
            .expect("tag");
        sim.bank
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get_number(&sim.device, ti)
            .expect("a number")
    }

    /// Waits until a tag has a good reading and its machine reads `Execute`.
    pub(crate) async fn wait_readable(&self, machine: &str, tag: &str) {
        until(
            &format!("{machine}.{tag} read and its machine executing"),
            Duration::from_secs(20),
            async || {
                let v = self
                    .actions
                    .actions(ActionFilter::default())
                    .await
                    .expect("view");
                let read = v
                    .writable
                    .iter()
                    .any(|t| t.machine == machine && t.tag == tag && t.value.is_some());
                read && self.state_is_execute(machine)
            },
        )
        .await;
    }

    fn state_is_execute(&self, machine: &str) -> bool {
        let plant = &self.line.plant;
        let Some(st) = plant.device_named(machine).and_then(|d| d.state_tag()) else {
            return false;
        };
        self.line
            .bus
            .tag(st.id)
            .and_then(|l| l.value)
            .is_some_and(|v| v == app::line::Value::Text("Execute".into()))
    }

    pub(crate) async fn audited(&self, action: AuditAction) -> Vec<app::auth::AuditEntryView> {
        self.audit
            .page(&AuditFilter {
                action: Some(action),
                page_size: 100,
                ..AuditFilter::default()
            })
            .await
            .expect("audit")
            .entries
    }

    /// Waits until action `id`'s write has ended (approving only queues it),
    /// woken by the journal's published changes.
    pub(crate) async fn settled(&self, id: i64) -> app::actions::ActionView {
        let mut changes = self.actions.watch();
        let end = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            changes.borrow_and_update();
            let v = self.actions.store().get(id).await.expect("journal");
            let v = v.expect("the action");
            if !v.state.in_progress() {
                return v;
            }
            assert!(
                tokio::time::Instant::now() < end,
                "timed out waiting for action #{id}: {:?}",
                v.state
            );
            let _ = tokio::time::timeout(Duration::from_millis(50), changes.changed()).await;
        }
    }

    pub(crate) async fn stop(self) {
        self.shutdown.cancel();
        self.line.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approved_action_is_written_to_the_simulator_read_back_and_audited() {
    let (line, _rx) = start_line(61).await;
    let r = rig(line, default_plant().writeback).await;
    r.keep_running(0);
    assert_eq!(r.actions.mode("CAS_01"), WriteMode::Advisory);
    r.wait_readable("CAS_01", "speed_setpoint").await;
    let before = r.register(0, "speed_setpoint");
    let target = if before > 950.0 { 950.0 } else { before + 50.0 };

    // Bad input is refused with the field named, and writes nothing.
    let caller = test_caller();
    let e = r
        .actions
        .propose(&caller, "CAS_01", "speed", target, "test")
        .await
        .expect_err("a read-only tag");
    assert!(
        matches!(&e, ServiceError::Invalid { field, .. } if field == "tag"),
        "{e}"
    );
    let e = r
        .actions
        .propose(&caller, "CAS_01", "speed_setpoint", target, "  ")
        .await
        .expect_err("no reason");
    assert!(
        matches!(&e, ServiceError::Invalid { field, .. } if field == "reason"),
        "{e}"
    );
    assert_eq!(r.register(0, "speed_setpoint"), before);

    let p = r
        .actions
        .propose(
            &caller,
            "CAS_01",
            "speed_setpoint",
            target,
            "separator scrap rising",
        )
        .await
        .expect("proposed");
    assert_eq!(p.state, ActionState::Pending);
    assert_eq!(p.to, target);
    assert_eq!(r.actions.summary().pending, 1);
    let e = r
        .actions
        .propose(&caller, "CAS_01", "speed_setpoint", target, "twice")
        .await
        .expect_err("one waiting change per tag");
    assert!(e.to_string().contains("already waits"), "{e}");
    // Advisory: nothing is written until someone approves.
    assert_eq!(r.register(0, "speed_setpoint"), before);

    let queued = r.actions.approve(&caller, p.id).await.expect("approved");
    assert!(queued.state.in_progress(), "{:?}", queued.state);
    let done = r.settled(p.id).await;
    assert_eq!(done.state, ActionState::Verified, "{:?}", done.detail);
    assert_eq!(done.read_back, Some(target));
    assert_eq!(done.decided_by.as_deref(), Some("test"));
    // The simulator's own register holds the new setpoint.
    assert_eq!(r.register(0, "speed_setpoint"), target);
    assert_eq!(r.actions.summary().pending, 0);

    // Approving twice is refused, and a second write too soon is refused with why.
    assert!(r.actions.approve(&caller, p.id).await.is_err());
    let e = r
        .actions
        .propose(&caller, "CAS_01", "speed_setpoint", target - 20.0, "again")
        .await
        .expect_err("too soon");
    assert!(e.to_string().contains("too recently"), "{e}");

    let proposed = r.audited(AuditAction::ActionProposed).await;
    let approved = r.audited(AuditAction::ActionApproved).await;
    assert_eq!(proposed.len(), 1);
    assert_eq!(approved.len(), 1);
    assert!(approved[0].target.contains("CAS_01.speed_setpoint"));
    assert!(
        approved[0].detail.contains("queued"),
        "{}",
        approved[0].detail
    );
    let written = r.audited(AuditAction::SetpointWritten).await;
    assert_eq!(written.len(), 1);
    assert_eq!(written[0].actor, "test");
    assert!(
        written[0].detail.contains("verified"),
        "{}",
        written[0].detail
    );

    // The journal keeps the proposal with who, old → new and the outcome.
    let v = r
        .actions
        .actions(ActionFilter {
            machine: Some("CAS_01".into()),
            ..ActionFilter::default()
        })
        .await
        .expect("view");
    let row = v
        .history
        .iter()
        .find(|a| a.id == p.id)
        .expect("journal row");
    assert_eq!(row.state, ActionState::Verified);
    assert_eq!((row.from, row.to), (before, target));
    assert_eq!(row.rule, "manual");
    r.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plc_exception_fails_the_write_raises_an_alarm_until_acknowledged() {
    // The PLC write-protects the temperature setpoint the plant file calls writable:
    // it answers the write with a Modbus exception.
    let Settings {
        plant, writeback, ..
    } = default_plant();
    let simulated: Vec<Arc<Device>> = devices(&plant)
        .into_iter()
        .map(|d| {
            let mut d = (*d).clone();
            for t in &mut d.tags {
                if t.name == "temperature_setpoint" {
                    t.access = Access::Read;
                }
            }
            Arc::new(d)
        })
        .collect();
    let (line, _rx) = start_line_with(plant, &simulated, 62).await;
    let r = rig(line, writeback).await;
    r.keep_running(0);
    r.wait_readable("CAS_01", "temperature_setpoint").await;
    let before = r.register(0, "temperature_setpoint");
    let caller = test_caller();
    let p = r
        .actions
        .propose(
            &caller,
            "CAS_01",
            "temperature_setpoint",
            before - 1.0,
            "cooler casing",
        )
        .await
        .expect("proposed");
    r.actions.approve(&caller, p.id).await.expect("decided");
    let done = r.settled(p.id).await;
    assert_eq!(done.state, ActionState::Failed);
    let detail = done.detail.clone().unwrap_or_default();
    assert!(
        detail.contains("refused") && detail.to_lowercase().contains("address"),
        "the Modbus exception is shown: {detail}"
    );
    assert_eq!(r.register(0, "temperature_setpoint"), before);

    // The counts follow the journal row (published just after it is written).
    until("the alarm counted", Duration::from_secs(5), async || {
        r.actions.summary().alarms == 1
    })
    .await;
    let s = r.actions.summary();
    assert_eq!((s.pending, s.alarms), (0, 1));
    let v = r
        .actions
        .actions(ActionFilter::default())
        .await
        .expect("view");
    assert_eq!(v.alarms.len(), 1);
    assert_eq!(v.alarms[0].id, p.id);

    r.actions
        .acknowledge(&caller, p.id)
        .await
        .expect("acknowledged");
    assert_eq!(r.actions.summary().alarms, 0);
    assert!(r.actions.acknowledge(&caller, p.id).await.is_err());
    assert_eq!(r.audited(AuditAction::ActionAcknowledged).await.len(), 1);
    // Acquisition carries on: the PLC's connection owner is still reading.
    r.wait_readable("CAS_01", "temperature_setpoint").await;
    r.stop().await;
}

/// A pymodbus PLC (CDAB word order) with a writable speed setpoint.
const PY_PLANT: &str = r#"
[writeback]
min_interval_s = 0
[[devices]]
id = "PY"
host = "127.0.0.1"
port = 1
unit_id = 5
word_order = "CDAB"
address_base = "modicon"
timeout_ms = 1000
scan_groups = [{ name = "g", period_ms = 100 }]
[[devices.tags]]
name = "state"
table = "holding"
address = 40012
type = "u16"
scan_group = "g"
states = { "6" = "Execute" }
[[devices.tags]]
name = "speed_setpoint"
table = "holding"
address = 40016
type = "f32"
unit = "RPM"
scan_group = "g"
access = "read_write"
min = 500.0
max = 2000.0
max_step = 100.0
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approved_action_is_written_to_pymodbus_and_verified() {
    let port = free_port();
    let mut child = spawn_pymodbus(port, 5);
    let mut p: Settings = plant(PY_PLANT);
    p.plant.devices[0].port = port;
    // No simulated PLCs: acquisition polls pymodbus.
    let (line, _rx) = start_line_with(p.plant, &[], 63).await;
    let r = rig(line, p.writeback).await;
    until("pymodbus serving", Duration::from_secs(30), async || {
        r.state_is_execute("PY")
    })
    .await;
    r.wait_readable("PY", "speed_setpoint").await;
    let caller = test_caller();
    let a = r
        .actions
        .propose(&caller, "PY", "speed_setpoint", 1050.0, "interop")
        .await
        .expect("proposed");
    assert_eq!(a.from, 1000.0);
    r.actions.approve(&caller, a.id).await.expect("approved");
    let done = r.settled(a.id).await;
    assert_eq!(done.state, ActionState::Verified, "{:?}", done.detail);
    assert_eq!(done.read_back, Some(1050.0));

    // Read pymodbus's registers ourselves: 1050.0 in CDAB word order.
    let mut ctx = tcp::connect_slave(format!("127.0.0.1:{port}").parse().expect("addr"), Slave(5))
        .await
        .expect("connect");
    let words = ctx
        .read_holding_registers(15, 2)
        .await
        .expect("transport")
        .expect("no exception");
    let be = 1050.0f32.to_be_bytes();
    let expected = vec![
        u16::from_be_bytes([be[2], be[3]]),
        u16::from_be_bytes([be[0], be[1]]),
    ];
    assert_eq!(words, expected);
    let _ = ctx.disconnect().await;

    // Undo writes the value before as a new, audited action.
    let undone = r.actions.undo(&caller, a.id).await.expect("undone");
    let undone = r.settled(undone.id).await;
    assert_eq!(undone.state, ActionState::Verified, "{:?}", undone.detail);
    assert_eq!((undone.from, undone.to), (1050.0, 1000.0));
    assert_eq!(undone.rule, format!("undo of #{}", a.id));
    assert_eq!(r.audited(AuditAction::ActionUndone).await.len(), 1);
    r.stop().await;
    let _ = child.kill().await;
}

/// High-risk share of the cells built before and after `at_ms` (up to `n` each).
async fn share_around(app: &cellguard::runtime::Running, at_ms: i64, n: u32) -> (f64, f64) {
    app.actions
        .store()
        .effect(at_ms, n)
        .await
        .expect("effect")
        .expect("cells on both sides")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_automatic_mode_a_speed_drift_is_corrected_and_the_high_risk_rate_falls() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut plant = default_plant();
    plant.simulator.cells_per_minute = 600.0;
    // One lot for the whole test, so materials (which differ from lot to lot far
    // more than speed matters) cannot decide the comparison; a fixed seed.
    plant.simulator.cells_per_lot = 1_000_000;
    plant.simulator.seed = Some(11);
    plant.mes.embedded = false;
    let cas = plant.plant.device_named("CAS_01").expect("CAS_01");
    let (cas, speed) = (cas.id, cas.tag("speed_setpoint").expect("setpoint").id);
    let w = &mut plant.writeback;
    w.modes.insert(cas, WriteMode::Automatic);
    w.min_interval = Duration::from_secs(1);
    w.evaluate_every = Duration::from_millis(500);
    w.rules = vec![Rule {
        name: "cas-speed-on-high-risk".into(),
        tag: speed,
        when: Condition::HighRiskShare {
            last: 50,
            above: 0.12,
        },
        change: Change::Step(-100.0),
        rationale: "too many high-risk cells".into(),
        cooldown: Duration::from_secs(3),
    }];
    let (app, _base) = crate::common::spawn_app(dir.path(), plant).await;
    // Every machine keeps running: a stopped formation chamber changes the cells too.
    for s in &app.simulators {
        s.sim
            .machine
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .force("Execute", 1e9);
    }
    let cas = &app.simulators[0].sim;
    let speed_sp = cas
        .device
        .tags
        .iter()
        .position(|t| t.name == "speed_setpoint")
        .expect("tag");
    // The drift: someone (or something) runs the assembly machine at its limit.
    let drift_ms = cellguard::clock::now_ms();
    cas.bank.lock().unwrap_or_else(PoisonError::into_inner).put(
        &cas.device,
        speed_sp,
        &cellguard::modbus::codec::Raw::Number(1200.0),
    );

    // Detected and corrected: automatic writes bring the setpoint down. The PLC
    // holds the new value the moment it is written; the journal says Verified only
    // after the read-back, so wait for both (the last write's verification is
    // otherwise still in flight when the register already reads 800).
    let verified = async || {
        app.actions
            .store()
            .page(&ActionFilter {
                state: Some(ActionState::Verified),
                ..ActionFilter::default()
            })
            .await
            .expect("journal")
            .0
    };
    until(
        "automatic corrections down to 800 RPM or below, verified",
        Duration::from_secs(180),
        async || {
            cas.bank
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .get_number(&cas.device, speed_sp)
                .is_some_and(|v| v <= 800.0)
                && verified().await.len() >= 4
        },
    )
    .await;
    let corrected_ms = cellguard::clock::now_ms();
    let rows = verified().await;
    assert!(rows.len() >= 4, "at least 1200 → 1100 → 1000 → 900 → 800");
    assert!(rows.iter().all(|r| r.decided_by.as_deref() == Some("auto")));
    let first = rows.iter().map(|r| r.created_ms).min().expect("one");
    assert!(first > drift_ms);

    // Let the line build 300 cells at the corrected speed (the machine follows its
    // setpoint within seconds), then compare them with the cells of the drift.
    let settle_ms = corrected_ms + 3_000;
    until(
        "300 cells after the correction",
        Duration::from_secs(120),
        async || {
            app.actions
                .store()
                .effect(settle_ms, 300)
                .await
                .ok()
                .flatten()
                .is_some()
                && cellguard::clock::now_ms() > settle_ms + 32_000
        },
    )
    .await;
    let (during, _) = share_around(&app, first, 300).await;
    let (_, after) = share_around(&app, settle_ms, 300).await;
    eprintln!("high-risk share during the drift {during:.3}, after the correction {after:.3}");
    assert!(
        after < during,
        "the high-risk rate falls: {during:.3} during the drift, {after:.3} after"
    );
    app.stop().await;
}
