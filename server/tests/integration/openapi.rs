//! Real error answers against the OpenAPI document: each body must be exactly
//! what the document says for its route and status (no field it does not name,
//! every field it requires, the right types), so the document cannot drift from
//! the bodies the handlers and the door send.

use crate::common::{self, default_plant, sign_in_as, token_client};
use app::auth::Role;
use reqwest::{Method, Response};
use serde_json::{Value, json};

/// Follows a `$ref` to its schema in the document.
fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let name = r
                .strip_prefix("#/components/schemas/")
                .unwrap_or_else(|| panic!("unexpected reference {r}"));
            let target = &doc["components"]["schemas"][name];
            assert!(target.is_object(), "{r} is not in the document");
            resolve(doc, target)
        }
        None => schema,
    }
}

fn type_matches(name: &str, v: &Value) -> bool {
    match name {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "integer" => v.is_i64() || v.is_u64(),
        "number" => v.is_number(),
        "boolean" => v.is_boolean(),
        "null" => v.is_null(),
        other => panic!("schema type {other} not understood"),
    }
}

/// Whether `v` is exactly what `schema` describes. Objects are closed: a field
/// the schema does not list is a mismatch, as is a missing required one.
fn conforms(doc: &Value, schema: &Value, v: &Value, at: &str) -> Result<(), String> {
    let schema = resolve(doc, schema);
    if let Some(options) = schema.get("oneOf").and_then(Value::as_array) {
        let fits: Vec<_> = options.iter().map(|o| conforms(doc, o, v, at)).collect();
        let n = fits.iter().filter(|r| r.is_ok()).count();
        return match n {
            1 => Ok(()),
            0 => Err(format!(
                "{at}: {v} fits none of oneOf: {:?}",
                fits.into_iter().filter_map(Result::err).collect::<Vec<_>>()
            )),
            _ => Err(format!("{at}: {v} fits {n} of oneOf")),
        };
    }
    match schema.get("type") {
        Some(Value::String(t)) if !type_matches(t, v) => {
            return Err(format!("{at}: {v} is not {t}"));
        }
        Some(Value::Array(ts))
            if !ts
                .iter()
                .filter_map(Value::as_str)
                .any(|t| type_matches(t, v)) =>
        {
            return Err(format!("{at}: {v} is none of {ts:?}"));
        }
        _ => {}
    }
    if let Some(options) = schema.get("enum").and_then(Value::as_array)
        && !options.contains(v)
    {
        return Err(format!("{at}: {v} is not one of {options:?}"));
    }
    if let Some(min) = schema.get("minimum").and_then(Value::as_f64)
        && v.as_f64().is_some_and(|x| x < min)
    {
        return Err(format!("{at}: {v} is below {min}"));
    }
    if let (Some(items), Some(values)) = (schema.get("items"), v.as_array()) {
        for (i, item) in values.iter().enumerate() {
            conforms(doc, items, item, &format!("{at}[{i}]"))?;
        }
    }
    if let Some(fields) = v.as_object() {
        let properties = schema["properties"].as_object();
        for name in schema["required"].as_array().into_iter().flatten() {
            let name = name.as_str().unwrap_or_default();
            if !fields.contains_key(name) {
                return Err(format!("{at}: required field {name} is missing from {v}"));
            }
        }
        for (name, value) in fields {
            let Some(field) = properties.and_then(|p| p.get(name)) else {
                return Err(format!("{at}: field {name} is not in the schema"));
            };
            conforms(doc, field, value, &format!("{at}.{name}"))?;
        }
    }
    Ok(())
}

/// Checks an answer against what the document says `method path` answers with
/// its status, and returns its JSON body (Null for other media types).
async fn documented(doc: &Value, method: Method, path: &str, r: Response) -> Value {
    let status = r.status().as_u16().to_string();
    let op = &doc["paths"][path][method.as_str().to_lowercase()];
    assert!(op.is_object(), "{method} {path} is not documented");
    let answer = &op["responses"][&status];
    assert!(
        answer.is_object(),
        "{method} {path} answered {status}, which the document does not list"
    );
    let media = r
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .unwrap_or_default()
        .trim()
        .to_owned();
    let content = &answer["content"][&media];
    assert!(
        content.is_object(),
        "{method} {path} {status} answered {media:?}; the document says {}",
        answer["content"]
    );
    if media != "application/json" {
        return Value::Null;
    }
    let body: Value = r.json().await.expect("a JSON body");
    if let Err(e) = conforms(doc, &content["schema"], &body, "body") {
        panic!("{method} {path} {status}: {e}");
    }
    body
}

#[tokio::test]
async fn error_answers_are_exactly_what_the_openapi_document_says() {
    let doc: Value =
        serde_json::from_str(&cellguard::web::openapi::document()).expect("the document");
    // The check is strict: a missing required field or an unlisted one fails.
    let problems = json!({"$ref": "#/components/schemas/Problems"});
    let old_503 = json!({"errors": [{"field": "(server)", "message": "retry later"}]});
    assert!(conforms(&doc, &problems, &old_503, "body").is_err());
    let problem = json!({"$ref": "#/components/schemas/Problem"});
    let extra = json!({"error": "sign in first", "status": 401, "kind": "Unauthenticated", "x": 1});
    assert!(conforms(&doc, &problem, &extra, "body").is_err());
    let door = json!({"$ref": "#/components/schemas/DoorError"});
    assert!(conforms(&doc, &door, &json!({"error": "no", "status": 401}), "body").is_err());

    let dir = tempfile::tempdir().expect("dir");
    let (app, base) = common::spawn_app(dir.path(), default_plant()).await;
    let anonymous = reqwest::Client::new();
    let inspections = "/api/v1/inspections";

    // Nobody signed in: the boundary error's body.
    let r = anonymous
        .get(format!("{base}/api/v1/export/cells.csv"))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 401);
    let body = documented(&doc, Method::GET, "/api/v1/export/cells.csv", r).await;
    assert_eq!(body["kind"], "Unauthenticated");
    assert_eq!(body["status"], 401);

    // An unknown token: the door's own message.
    let r = anonymous
        .post(format!("{base}{inspections}"))
        .bearer_auth("cgt_unknown")
        .json(&json!({}))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 401);
    let body = documented(&doc, Method::POST, inspections, r).await;
    assert!(body["error"].is_string(), "{body}");

    // A token whose scope does not allow the route.
    let station = token_client(&app, "station").await;
    let r = station
        .get(format!("{base}/api/v1/export/audit.csv"))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 403);
    let body = documented(&doc, Method::GET, "/api/v1/export/audit.csv", r).await;
    assert_eq!(body["kind"], "Forbidden");

    // Ingestion: not JSON (400), a bad inspection (422), too large (413).
    let r = station
        .post(format!("{base}{inspections}"))
        .body("{nope")
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 400);
    documented(&doc, Method::POST, inspections, r).await;
    let bad = json!({"key": "K1", "serial": "S-1", "order": "98765", "lot": "LT-1",
        "product": "HC", "stage": "FQC", "station": "BENCH_1", "ts": "2026-11-25T10:00:00Z",
        "measurements": [{"name": "capacity", "value": "high"}]});
    let r = station
        .post(format!("{base}{inspections}"))
        .json(&bad)
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 422);
    let body = documented(&doc, Method::POST, inspections, r).await;
    assert_eq!(body["errors"][0]["record"], 0, "{body}");
    let r = station
        .post(format!("{base}{inspections}"))
        .header("content-type", "application/json")
        .body(vec![b' '; 3 * 1024 * 1024])
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 413);
    documented(&doc, Method::POST, inspections, r).await;

    // A signed-in viewer: the role does not allow ingestion; a cross-site post is refused.
    let viewer = sign_in_as(&app, &base, Role::Viewer).await;
    let r = viewer
        .post(format!("{base}{inspections}"))
        .json(&bad)
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 403);
    let body = documented(&doc, Method::POST, inspections, r).await;
    assert_eq!(body["kind"], "Forbidden");
    let r = viewer
        .post(format!("{base}{inspections}"))
        .header("sec-fetch-site", "cross-site")
        .json(&bad)
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 403);
    let body = documented(&doc, Method::POST, inspections, r).await;
    assert!(body.get("kind").is_none(), "{body}");

    // Sign-in: a malformed body (400), a wrong password (401).
    let session = "/api/v1/session";
    let r = anonymous
        .post(format!("{base}{session}"))
        .header("content-type", "application/json")
        .body("{")
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 400);
    documented(&doc, Method::POST, session, r).await;
    let r = anonymous
        .post(format!("{base}{session}"))
        .json(&json!({"username": "test-viewer", "password": "wrong"}))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 401);
    documented(&doc, Method::POST, session, r).await;

    app.stop().await;
}
