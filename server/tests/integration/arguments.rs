//! Malformed arguments at the boundary: every registered server function is
//! called with an argument that does not parse (or is missing) and answers 422
//! naming that argument, never a 500, and nothing changes.

use app::actions::ActionFilter;
use app::auth::{AuditFilter, Role};
use app::mes::OutboxList;
use app::quality::CellFilter;
use serde_json::Value;

use crate::common::{default_plant, sign_in_as, spawn_app};

/// Server functions without arguments read any body as "no arguments", so a
/// malformed argument cannot be sent to them.
const WITHOUT_ARGUMENTS: [&str; 8] = [
    "/api/fn/line",
    "/api/fn/alarms",
    "/api/fn/quality",
    "/api/fn/models",
    "/api/fn/me",
    "/api/fn/users",
    "/api/fn/orders",
    "/api/fn/refresh_orders",
];

/// A function, its form, and the argument the answer must name.
type Case = (
    &'static str,
    Vec<(&'static str, &'static str)>,
    &'static str,
);

/// What the app holds that a server function could change.
#[derive(Debug, PartialEq)]
struct State {
    users: Vec<(String, Role, bool)>,
    cells: u64,
    actions: u64,
    audit: u64,
    outbox: Vec<u64>,
    modes: Vec<(String, app::actions::WriteMode)>,
    model: String,
}

async fn state(app: &cellguard::runtime::Running) -> State {
    let users = app
        .access
        .users
        .list()
        .await
        .expect("users")
        .into_iter()
        .map(|u| (u.username, u.role, u.disabled))
        .collect();
    let cells = app
        .quality
        .store()
        .cells(&CellFilter::default())
        .await
        .expect("cells")
        .total;
    let (_, actions) = app
        .actions
        .store()
        .page(&ActionFilter::default())
        .await
        .expect("actions");
    let audit = app
        .access
        .audit
        .page(&AuditFilter::default())
        .await
        .expect("audit")
        .total;
    let mut outbox = Vec::new();
    for list in [OutboxList::Pending, OutboxList::Dead] {
        let (_, n) = app.mes.outbox.list(list, 0, 10).await.expect("outbox");
        outbox.push(n);
    }
    let modes = app.actions.store().modes().await.expect("modes");
    State {
        users,
        cells,
        actions,
        audit,
        outbox,
        modes,
        model: app.quality.active_name(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_server_function_answers_a_malformed_argument_with_422_naming_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut plant = default_plant();
    plant.simulator.cells_per_minute = 0.0;
    let (app, base) = spawn_app(dir.path(), plant).await;
    // An admin may call every function, so each answer is about the arguments.
    let client = sign_in_as(&app, &base, Role::Admin).await;

    let table: Vec<Case> = vec![
        (
            "/api/fn/history",
            vec![("machine", "CAS_01"), ("range", "Forever")],
            "range",
        ),
        (
            "/api/fn/cells",
            vec![("filter[page]", "abc")],
            "filter.page",
        ),
        ("/api/fn/cell", vec![], "serial"),
        ("/api/fn/promote", vec![], "name"),
        ("/api/fn/audit", vec![("filter[page]", "-1")], "filter.page"),
        (
            "/api/fn/alarm_journal",
            vec![("filter[before]", "x")],
            "filter.before",
        ),
        ("/api/fn/acknowledge_alarm", vec![("id", "x")], "id"),
        (
            "/api/fn/shelve_alarm",
            vec![("id", "1"), ("hours", "soon"), ("reason", "r")],
            "hours",
        ),
        ("/api/fn/unshelve_alarm", vec![("id", "")], "id"),
        (
            "/api/fn/remove_alarm_from_service",
            vec![("id", "1")],
            "reason",
        ),
        ("/api/fn/return_alarm_to_service", vec![("id", "1.5")], "id"),
        (
            "/api/fn/spc_chart",
            vec![("query[values]", "many")],
            "query.values",
        ),
        (
            "/api/fn/freeze_spc_limits",
            vec![
                ("query[measurement]", "ocv"),
                ("query[n]", "x"),
                ("note", "n"),
            ],
            "query.n",
        ),
        ("/api/fn/spc_capability", vec![("product", "XX")], "product"),
        (
            "/api/fn/add_user",
            vec![
                ("username", "mallory"),
                ("role", "root"),
                ("password", "long enough password"),
            ],
            "role",
        ),
        (
            "/api/fn/set_role",
            vec![("username", "test-admin"), ("role", "god")],
            "role",
        ),
        (
            "/api/fn/set_disabled",
            vec![("username", "test-admin"), ("disabled", "maybe")],
            "disabled",
        ),
        (
            "/api/fn/outbox",
            vec![("list", "dead"), ("page", "abc")],
            "page",
        ),
        ("/api/fn/retry_message", vec![("id", "abc")], "id"),
        ("/api/fn/discard_message", vec![("id", "abc")], "id"),
        (
            "/api/fn/actions",
            vec![("filter[page]", "x")],
            "filter.page",
        ),
        (
            "/api/fn/propose_action",
            vec![
                ("machine", "CAS_01"),
                ("tag", "speed_setpoint"),
                ("value", "abc"),
                ("reason", "boundary test"),
            ],
            "value",
        ),
        ("/api/fn/approve_action", vec![("id", "abc")], "id"),
        ("/api/fn/reject_action", vec![("id", "1")], "reason"),
        ("/api/fn/undo_action", vec![("id", "1.5")], "id"),
        ("/api/fn/acknowledge_action", vec![("id", "")], "id"),
        (
            "/api/fn/set_write_mode",
            vec![("machine", "CAS_01"), ("mode", "turbo")],
            "mode",
        ),
    ];

    // The table covers every registered server function.
    for (path, _) in leptos::server_fn::axum::server_fn_paths() {
        assert!(
            table.iter().any(|(p, _, _)| *p == path) || WITHOUT_ARGUMENTS.contains(&path),
            "server function {path} is missing from the malformed-argument table"
        );
    }

    let before = state(&app).await;
    for (path, form, field) in &table {
        let r = client
            .post(format!("{base}{path}"))
            .form(form)
            .send()
            .await
            .expect("request");
        let status = r.status();
        let body: Value = r.json().await.expect("a JSON error");
        assert_eq!(status.as_u16(), 422, "{path}: {body}");
        assert_eq!(body["status"], 422, "{path}: {body}");
        assert_eq!(
            body["kind"]["Invalid"]["field"], *field,
            "{path} must name {field}: {body}"
        );
        let message = body["error"].as_str().expect("a message");
        assert!(message.starts_with(field), "{path}: {message}");
    }
    assert_eq!(
        state(&app).await,
        before,
        "a refused call changed something"
    );
    app.stop().await;
}
