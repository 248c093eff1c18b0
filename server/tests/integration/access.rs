//! Who may do what, over real HTTP: every server function and REST route tried
//! by nobody, by each role and by an ingestion token. Allowed requests succeed;
//! the rest get 401/403 and change nothing. Sessions expire, tampered cookies
//! are refused, guessing is slowed down, and the audit trail records it all.

use std::time::Duration;

use app::auth::{AuditAction, AuditFilter, Permission, Role, Scope};
use app::quality::CellFilter;
use serde_json::{Value, json};

use app::mes::OutboxList;
use cellguard::mes::contract::MessageKind;
use cellguard::mes::outbox::Message;
use cellguard::mes::sim::Fault;

use crate::common::{PASSWORD, default_plant, sign_in_as, spawn_app, token_client};

/// One request of the table.
struct Call {
    /// What it needs (`None`: anyone, even nobody).
    needs: Option<Permission>,
    method: &'static str,
    path: &'static str,
    form: Vec<(&'static str, String)>,
    json: Option<Value>,
    /// Answers besides success that show the request passed the access layer
    /// (the call names something that does not exist, so it changes nothing).
    also: &'static [u16],
}

fn server_fn(needs: Option<Permission>, name: &'static str, form: &[(&'static str, &str)]) -> Call {
    Call {
        needs,
        method: "POST",
        path: name,
        form: form.iter().map(|(k, v)| (*k, (*v).to_owned())).collect(),
        json: None,
        also: &[],
    }
}

/// A server function called on something that does not exist: allowed callers
/// get one of `also` (not found, conflict, unprocessable), the others 401 or 403.
fn server_fn_on_nothing(
    needs: Permission,
    name: &'static str,
    form: &[(&'static str, &str)],
    also: &'static [u16],
) -> Call {
    Call {
        also,
        ..server_fn(Some(needs), name, form)
    }
}

fn rest(needs: Permission, method: &'static str, path: &'static str, json: Option<Value>) -> Call {
    Call {
        needs: Some(needs),
        method,
        path,
        form: Vec::new(),
        json,
        also: &[],
    }
}

fn inspection(serial: &str) -> Value {
    json!({"key": format!("{serial}:IPQC"), "serial": serial, "order": "98765", "lot": "LT-A",
           "product": "HC", "stage": "IPQC", "station": "BENCH_1", "ts": "2026-11-25T10:00:00Z",
           "measurements": [{"name": "coating_weight", "value": 21.0}]})
}

/// Who tries: nobody, each role, a station's token.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Who {
    Nobody,
    Person(Role),
    IngestToken,
}

impl Who {
    fn allows(self, p: Option<Permission>) -> bool {
        match (self, p) {
            (_, None) => true,
            (Who::Nobody, Some(_)) => false,
            (Who::Person(r), Some(p)) => r.allows(p),
            (Who::IngestToken, Some(p)) => Scope::Ingest.allows(p),
        }
    }

    fn tag(self) -> String {
        match self {
            Who::Nobody => "nobody".into(),
            Who::Person(r) => r.as_str().replace('_', "-"),
            Who::IngestToken => "token".into(),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_and_server_function_checks_the_role() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut plant = default_plant();
    plant.simulator.cells_per_minute = 0.0;
    let (app, base) = spawn_app(dir.path(), plant).await;
    let active_before = app.quality.active_name();
    // Outbox messages for the admin to retry and discard; the MES is down so
    // they stay where they are.
    app.mes_sim
        .as_ref()
        .expect("the default plant embeds the MES")
        .set_fault(Fault::Down);
    let msg = |key: &str| Message {
        kind: MessageKind::OrderConfirmation,
        key: key.into(),
        subject: "98765".into(),
        body: "{}".into(),
    };
    app.mes
        .outbox
        .push(&[msg("acl-dead"), msg("acl-discard")], 1)
        .await
        .expect("queued");
    let (waiting, _) = app
        .mes
        .outbox
        .list(OutboxList::Pending, 0, 10)
        .await
        .expect("waiting");
    let id_of = |key: &str| waiting.iter().find(|e| e.key == key).expect("queued").id;
    app.mes
        .outbox
        .dead(id_of("acl-dead"), Some(400), "refused", 2)
        .await
        .expect("dead");
    let discard_id = id_of("acl-discard").to_string();

    // Every server function the app registers must be in this table.
    let mut fns = vec![
        server_fn(Some(Permission::View), "/api/fn/line", &[]),
        server_fn(
            Some(Permission::View),
            "/api/fn/history",
            &[("machine", "CAS_01"), ("range", "Live")],
        ),
        server_fn(Some(Permission::View), "/api/fn/quality", &[]),
        server_fn(
            Some(Permission::View),
            "/api/fn/cells",
            &[("filter[page]", "0")],
        ),
        server_fn(
            Some(Permission::View),
            "/api/fn/cell",
            &[("serial", "NOPE")],
        ),
        server_fn(Some(Permission::View), "/api/fn/models", &[]),
        server_fn(
            Some(Permission::PromoteModels),
            "/api/fn/promote",
            &[("name", "default-logistic")],
        ),
        server_fn(None, "/api/fn/me", &[]),
        server_fn(
            Some(Permission::ViewAudit),
            "/api/fn/audit",
            &[("filter[page]", "0")],
        ),
        server_fn(Some(Permission::ManageUsers), "/api/fn/users", &[]),
        server_fn(Some(Permission::View), "/api/fn/alarms", &[]),
        server_fn(
            Some(Permission::View),
            "/api/fn/alarm_journal",
            &[("filter[kind]", "raised")],
        ),
        server_fn_on_nothing(
            Permission::Acknowledge,
            "/api/fn/acknowledge_alarm",
            &[("id", "999999")],
            &[404],
        ),
        server_fn_on_nothing(
            Permission::ShelveAlarms,
            "/api/fn/shelve_alarm",
            &[("id", "999999"), ("hours", "1"), ("reason", "access table")],
            &[404],
        ),
        server_fn_on_nothing(
            Permission::ShelveAlarms,
            "/api/fn/unshelve_alarm",
            &[("id", "999999")],
            &[404],
        ),
        server_fn_on_nothing(
            Permission::RemoveAlarmsFromService,
            "/api/fn/remove_alarm_from_service",
            &[("id", "999999"), ("reason", "access table")],
            &[404],
        ),
        server_fn_on_nothing(
            Permission::RemoveAlarmsFromService,
            "/api/fn/return_alarm_to_service",
            &[("id", "999999")],
            &[404],
        ),
        server_fn(
            Some(Permission::View),
            "/api/fn/spc_chart",
            &[("query[measurement]", "ocv")],
        ),
        server_fn(Some(Permission::View), "/api/fn/spc_capability", &[]),
        // No cells yet: there are no limits to freeze.
        server_fn_on_nothing(
            Permission::ManageSpcLimits,
            "/api/fn/freeze_spc_limits",
            &[("query[measurement]", "ocv"), ("note", "access table")],
            &[409],
        ),
        server_fn(Some(Permission::View), "/api/fn/orders", &[]),
        server_fn(Some(Permission::View), "/api/fn/refresh_orders", &[]),
        server_fn(
            Some(Permission::View),
            "/api/fn/outbox",
            &[("list", "dead"), ("page", "0")],
        ),
        server_fn(Some(Permission::ManageOutbox), "/api/fn/retry_message", &[]),
        server_fn(
            Some(Permission::ManageOutbox),
            "/api/fn/discard_message",
            &[("id", &discard_id)],
        ),
        server_fn(
            Some(Permission::View),
            "/api/fn/actions",
            &[("filter[page]", "0")],
        ),
        server_fn(
            Some(Permission::SwitchWriteMode),
            "/api/fn/set_write_mode",
            &[("machine", "CAS_01"), ("mode", "advisory")],
        ),
        server_fn_on_nothing(
            Permission::ApproveActions,
            "/api/fn/propose_action",
            &[
                ("machine", "CAS_01"),
                ("tag", "speed"),
                ("value", "900"),
                ("reason", "access table"),
            ],
            &[422],
        ),
        server_fn_on_nothing(
            Permission::ApproveActions,
            "/api/fn/approve_action",
            &[("id", "999999")],
            &[404],
        ),
        server_fn_on_nothing(
            Permission::ApproveActions,
            "/api/fn/reject_action",
            &[("id", "999999"), ("reason", "access table")],
            &[404],
        ),
        server_fn_on_nothing(
            Permission::ApproveActions,
            "/api/fn/undo_action",
            &[("id", "999999")],
            &[404],
        ),
        server_fn_on_nothing(
            Permission::Acknowledge,
            "/api/fn/acknowledge_action",
            &[("id", "999999")],
            &[404],
        ),
        server_fn(
            Some(Permission::ManageUsers),
            "/api/fn/set_role",
            &[("username", "test-viewer"), ("role", "viewer")],
        ),
        server_fn(
            Some(Permission::ManageUsers),
            "/api/fn/set_disabled",
            &[("username", "test-operator"), ("disabled", "false")],
        ),
    ];
    let registered: Vec<String> = leptos::server_fn::axum::server_fn_paths()
        .map(|(p, _)| p.to_owned())
        .collect();
    let mut listed: Vec<&str> = fns.iter().map(|c| c.path).collect();
    listed.push("/api/fn/add_user");
    for p in &registered {
        assert!(
            listed.contains(&p.as_str()),
            "server function {p} is missing from the access table"
        );
    }

    let whos = [
        Who::Nobody,
        Who::Person(Role::Viewer),
        Who::Person(Role::Operator),
        Who::Person(Role::Supervisor),
        Who::Person(Role::QualityEngineer),
        Who::Person(Role::Admin),
        Who::IngestToken,
    ];
    // Every principal signs in first, so their users exist before the table runs.
    let mut clients = Vec::new();
    for who in whos {
        let client = match who {
            Who::Nobody => reqwest::Client::new(),
            Who::Person(r) => sign_in_as(&app, &base, r).await,
            Who::IngestToken => token_client(&app, "station-9").await,
        };
        clients.push((who, client));
    }
    let users_before = app.access.users.list().await.expect("users").len();

    let csv = "serial,lot,order,coating_weight\nIMP-1,LT-I,98765,21.0\n";
    for (who, client) in &clients {
        let tag = who.tag();
        let mut calls: Vec<Call> = std::mem::take(&mut fns);
        calls.push(Call {
            needs: Some(Permission::ManageUsers),
            method: "POST",
            path: "/api/fn/add_user",
            form: vec![
                ("username", format!("added-by-{tag}")),
                ("role", "viewer".into()),
                ("password", PASSWORD.into()),
            ],
            json: None,
            also: &[],
        });
        calls.push(rest(
            Permission::View,
            "GET",
            "/api/v1/export/cells.csv",
            None,
        ));
        calls.push(rest(
            Permission::ViewAudit,
            "GET",
            "/api/v1/export/audit.csv",
            None,
        ));
        calls.push(rest(Permission::View, "GET", "/api/v1/openapi.json", None));
        calls.push(rest(
            Permission::View,
            "GET",
            "/api/v1/export/actions.csv",
            None,
        ));
        calls.push(rest(
            Permission::View,
            "GET",
            "/api/v1/export/alarms.csv",
            None,
        ));
        calls.push(rest(
            Permission::View,
            "GET",
            "/api/v1/export/spc-chart.csv?measurement=ocv",
            None,
        ));
        calls.push(rest(
            Permission::View,
            "GET",
            "/api/v1/export/spc-capability.csv",
            None,
        ));
        calls.push(rest(Permission::ReadMetrics, "GET", "/metrics", None));
        calls.push(rest(Permission::View, "GET", "/api/v1/live", None));
        calls.push(rest(
            Permission::IngestInspections,
            "POST",
            "/api/v1/inspections",
            Some(inspection(&format!("ACL-{tag}"))),
        ));
        calls.push(Call {
            needs: Some(Permission::ImportData),
            method: "POST",
            path: "/api/v1/imports?name=x.csv&dry_run=true",
            form: Vec::new(),
            json: None,
            also: &[],
        });
        for call in &calls {
            let url = format!("{base}{}", call.path);
            let req = match call.method {
                "GET" => client.get(&url),
                _ if call.path.starts_with("/api/v1/imports") => {
                    client.post(&url).body(csv.as_bytes().to_vec())
                }
                _ if call.json.is_some() => client.post(&url).json(&call.json),
                _ => client.post(&url).form(&call.form),
            };
            let resp = req.send().await.expect("request");
            let status = resp.status();
            let expect_ok = who.allows(call.needs);
            if expect_ok {
                assert!(
                    status.is_success() || call.also.contains(&status.as_u16()),
                    "{tag} {} {}: expected success, got {status}: {}",
                    call.method,
                    call.path,
                    resp.text().await.unwrap_or_default()
                );
            } else {
                let want = if *who == Who::Nobody { 401 } else { 403 };
                assert_eq!(
                    status.as_u16(),
                    want,
                    "{tag} {} {}: expected {want}",
                    call.method,
                    call.path
                );
            }
        }
        // Put the server-function part back for the next principal.
        fns = calls
            .into_iter()
            .filter(|c| c.path.starts_with("/api/fn/") && c.path != "/api/fn/add_user")
            .collect();
    }

    // Nothing changed but what was allowed: one user added (by the admin), cells
    // only from those who may ingest, the same active model.
    let users = app.access.users.list().await.expect("users");
    assert_eq!(users.len(), users_before + 1);
    assert!(users.iter().any(|u| u.username == "added-by-admin"));
    let mut serials: Vec<String> = app
        .quality
        .store()
        .cells(&CellFilter {
            page_size: 100,
            ..Default::default()
        })
        .await
        .expect("cells")
        .rows
        .into_iter()
        .map(|c| c.serial)
        .collect();
    serials.sort();
    assert_eq!(
        serials,
        vec!["ACL-admin", "ACL-quality-engineer", "ACL-token"]
    );
    assert_eq!(app.quality.active_name(), active_before);

    // Refusals are in the audit trail, with who and from where.
    let denied = app
        .access
        .audit
        .page(&app::auth::AuditFilter {
            action: Some(AuditAction::Denied),
            actor: Some("test-viewer".into()),
            page_size: 100,
            ..Default::default()
        })
        .await
        .expect("audit");
    assert!(denied.total > 0);
    assert_eq!(denied.entries[0].source, "127.0.0.1");

    // Pages: nobody is sent to the sign-in page, which is itself public.
    let nobody = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let r = nobody
        .get(format!("{base}/cells?band=high"))
        .send()
        .await
        .expect("page");
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/signin?next=/cells%3Fband%3Dhigh");
    let r = nobody
        .get(format!("{base}/signin"))
        .send()
        .await
        .expect("signin");
    assert_eq!(r.status(), 200);
    let headers = r.headers().clone();
    assert!(
        headers["content-security-policy"]
            .to_str()
            .expect("csp")
            .contains("frame-ancestors 'none'")
    );
    assert_eq!(headers["x-frame-options"], "DENY");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_expire_and_tampered_cookies_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut plant = default_plant();
    plant.simulator.cells_per_minute = 0.0;
    plant.access.session_idle = Duration::from_secs(3);
    let (app, base) = spawn_app(dir.path(), plant).await;
    app.access
        .users
        .add("sam", Role::Supervisor, PASSWORD)
        .await
        .expect("user");

    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let r = client
        .post(format!("{base}/api/v1/session"))
        .form(&[
            ("username", "sam"),
            ("password", PASSWORD),
            ("next", "/quality"),
        ])
        .send()
        .await
        .expect("sign-in");
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/quality");
    let cookie = r.headers()["set-cookie"]
        .to_str()
        .expect("cookie")
        .to_owned();
    assert!(cookie.starts_with("cellguard_session="), "{cookie}");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");
    assert!(
        !cookie.contains("Secure"),
        "plain HTTP: no Secure flag ({cookie})"
    );
    let value = cookie
        .split(';')
        .next()
        .expect("pair")
        .trim_start_matches("cellguard_session=")
        .to_owned();

    let me = |v: String| {
        let client = client.clone();
        let base = base.clone();
        async move {
            client
                .post(format!("{base}/api/fn/quality"))
                .header("cookie", format!("cellguard_session={v}"))
                .send()
                .await
                .expect("request")
                .status()
                .as_u16()
        }
    };
    assert_eq!(me(value.clone()).await, 200);

    // The same request sent by a page of another site (or another port on this
    // host) is refused, cookie or not.
    for (name, v) in [
        ("origin", "http://127.0.0.1:9999"),
        ("sec-fetch-site", "same-site"),
    ] {
        let r = client
            .post(format!("{base}/api/fn/quality"))
            .header("cookie", format!("cellguard_session={value}"))
            .header(name, v)
            .send()
            .await
            .expect("request");
        assert_eq!(r.status(), 403, "{name}: {v}");
    }

    // One character changed: another (unknown) session id.
    let mut tampered: Vec<char> = value.chars().collect();
    tampered[3] = if tampered[3] == 'A' { 'B' } else { 'A' };
    assert_eq!(me(tampered.into_iter().collect()).await, 401);
    assert_eq!(me("garbage".into()).await, 401);

    // Idle past the limit: the session is gone.
    tokio::time::sleep(Duration::from_millis(3500)).await;
    assert_eq!(me(value).await, 401);

    // A wrong password sends the form back with the reason, and no cookie.
    let r = client
        .post(format!("{base}/api/v1/session"))
        .form(&[("username", "sam"), ("password", "wrong password!")])
        .send()
        .await
        .expect("sign-in");
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/signin?error=refused");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_trusted_proxy_each_client_is_throttled_and_audited_by_its_own_address() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut plant = default_plant();
    plant.simulator.cells_per_minute = 0.0;
    // The test client connects from loopback: it plays the reverse proxy.
    plant.access.trusted_proxies = vec!["127.0.0.0/8".parse().expect("cidr")];
    let (app, base) = spawn_app(dir.path(), plant).await;
    app.access
        .users
        .add("quinn", Role::QualityEngineer, PASSWORD)
        .await
        .expect("user");
    let client = reqwest::Client::new();
    let attempt = |from: &'static str, pw: &'static str| {
        let client = client.clone();
        let base = base.clone();
        async move {
            client
                .post(format!("{base}/api/v1/session"))
                .header("x-forwarded-for", from)
                .json(&json!({"username": "quinn", "password": pw}))
                .send()
                .await
                .expect("sign-in")
                .status()
        }
    };
    for _ in 0..cellguard::auth::throttle::NAME_BURST {
        assert_eq!(attempt("203.0.113.7", "not the password").await, 401);
    }
    assert_eq!(
        attempt("203.0.113.7", PASSWORD).await,
        429,
        "the guesser waits"
    );
    // Another client behind the same proxy is not held up by the guesser.
    assert_eq!(attempt("198.51.100.9", PASSWORD).await, 200);
    let failed = app
        .access
        .audit
        .page(&AuditFilter {
            action: Some(AuditAction::SignInFailed),
            page_size: 100,
            ..AuditFilter::default()
        })
        .await
        .expect("audit")
        .entries;
    assert!(!failed.is_empty());
    assert!(
        failed.iter().all(|e| e.source == "203.0.113.7"),
        "{:?}",
        failed.iter().map(|e| &e.source).collect::<Vec<_>>()
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guessing_is_slowed_down_and_everything_is_audited() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut plant = default_plant();
    plant.simulator.cells_per_minute = 0.0;
    let (app, base) = spawn_app(dir.path(), plant).await;
    app.access
        .users
        .add("quinn", Role::QualityEngineer, PASSWORD)
        .await
        .expect("user");
    let client = reqwest::Client::new();
    let attempt = |pw: &'static str| {
        let client = client.clone();
        let base = base.clone();
        async move {
            client
                .post(format!("{base}/api/v1/session"))
                .json(&json!({"username": "quinn", "password": pw}))
                .send()
                .await
                .expect("sign-in")
        }
    };
    for _ in 0..cellguard::auth::throttle::NAME_BURST {
        assert_eq!(attempt("not the password").await.status(), 401);
    }
    // Now even the right password waits: the bucket is empty.
    let r = attempt(PASSWORD).await;
    assert_eq!(r.status(), 429);
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .expect("header")
        .parse()
        .expect("seconds");
    assert!(retry >= 1);

    // A role change and a promotion by an admin, each recorded.
    let admin = sign_in_as(&app, &base, Role::Admin).await;
    let r = admin
        .post(format!("{base}/api/fn/set_role"))
        .form(&[("username", "quinn"), ("role", "supervisor")])
        .send()
        .await
        .expect("set_role");
    assert_eq!(r.status(), 200);
    let r = admin
        .post(format!("{base}/api/fn/promote"))
        .form(&[("name", "default-forest")])
        .send()
        .await
        .expect("promote");
    assert_eq!(r.status(), 200);
    // Demoting the last admin is refused with the reason.
    let r = admin
        .post(format!("{base}/api/fn/set_role"))
        .form(&[("username", "test-admin"), ("role", "viewer")])
        .send()
        .await
        .expect("set_role");
    assert_eq!(r.status(), 409);
    assert!(r.text().await.expect("text").contains("last enabled admin"));

    let csv = admin
        .get(format!("{base}/api/v1/export/audit.csv"))
        .send()
        .await
        .expect("export")
        .text()
        .await
        .expect("text");
    for needle in [
        "quinn,,sign_in_failed",
        "quinn,,sign_in_throttled",
        "test-admin,admin,sign_in,",
        "test-admin,admin,role_changed,quinn,quality_engineer → supervisor,127.0.0.1",
        "test-admin,admin,model_promoted,default-forest,default-logistic → default-forest,127.0.0.1",
    ] {
        assert!(csv.contains(needle), "{needle:?} missing from\n{csv}");
    }
    // Filtered by action, through the same query the audit page uses.
    let only = admin
        .get(format!(
            "{base}/api/v1/export/audit.csv?action=role_changed"
        ))
        .send()
        .await
        .expect("export")
        .text()
        .await
        .expect("text");
    assert_eq!(only.lines().count(), 2, "{only}");
    app.stop().await;
}

/// Reads a live stream until it ends; panics if it is still open after `limit`.
async fn ends_within(resp: &mut reqwest::Response, limit: Duration, what: &str) {
    let end = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(end, resp.chunk()).await {
            Err(_) => panic!("{what}: the live stream is still open after {limit:?}"),
            Ok(Ok(Some(_))) => {}
            Ok(Ok(None) | Err(_)) => return,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_stream_closes_soon_after_its_user_is_disabled_or_signs_out() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut plant = default_plant();
    plant.simulator.cells_per_minute = 0.0;
    let (app, base) = spawn_app(dir.path(), plant).await;
    let open = |client: reqwest::Client| {
        let base = base.clone();
        async move {
            let r = client
                .get(format!("{base}/api/v1/live?view=events"))
                .send()
                .await
                .expect("stream");
            assert_eq!(r.status(), 200);
            r
        }
    };
    // Disabled while watching.
    let client = sign_in_as(&app, &base, Role::Supervisor).await;
    let mut stream = open(client).await;
    stream.chunk().await.expect("first frame");
    app.access
        .users
        .set_disabled("test-supervisor", true)
        .await
        .expect("disabled");
    ends_within(&mut stream, Duration::from_secs(5), "disabled").await;

    // Signed out in another tab.
    let client = sign_in_as(&app, &base, Role::Viewer).await;
    let mut stream = open(client.clone()).await;
    stream.chunk().await.expect("first frame");
    let r = client
        .delete(format!("{base}/api/v1/session"))
        .send()
        .await
        .expect("sign out");
    assert_eq!(r.status(), 204);
    ends_within(&mut stream, Duration::from_secs(5), "signed out").await;
    app.stop().await;
}
