//! The REST API's OpenAPI document, generated from the handlers' `#[utoipa::path]`
//! attributes and the types they take and return, and served at
//! `/api/v1/openapi.json`.
//!
//! `docs/openapi.json` is the committed copy of [`document`]. The tests below fail
//! when it differs from what the code generates (`CELLGUARD_BLESS=1 cargo test -p
//! server --lib openapi` rewrites it) and when a route of [`super::router`] is not
//! documented, or documented but not routed.

use std::sync::LazyLock;

use app::error::Problem;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::schema::{OneOfBuilder, Schema};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi as Document, Ref, RefOr};
use utoipa::{Modify, OpenApi, ToSchema};

use super::access::{DoorError, SESSION_COOKIE};
use super::{access, actions, alarms, health, live, metrics, quality, spc};

/// The document's description.
const DESCRIPTION: &str = "Ingestion of cell inspections (IPQC, FQC, OQC) from test \
    stations and the MES, dataset imports and exports, the live stream, sign-in, and the \
    operational endpoints. Spec limits and verdicts are applied by CellGuard from the \
    product's configured limits; every accepted inspection re-scores its cell with the \
    active risk model.";

/// The whole REST API: every route of the router except the pages, the server
/// functions behind them and the browser bundle.
#[derive(OpenApi)]
#[openapi(
    info(title = "CellGuard quality API", version = "1.0.0", description = DESCRIPTION),
    paths(
        quality::post_inspections,
        quality::post_import,
        quality::export_cells,
        actions::export_actions,
        alarms::export_alarms,
        spc::export_capability,
        spc::export_chart,
        access::export_audit,
        access::sign_in,
        access::sign_out,
        access::sign_out_form,
        live::stream,
        metrics::metrics,
        health::healthz,
        health::readyz,
        serve,
    ),
    // Types only named in parameters are not collected on their own.
    components(schemas(
        app::auth::AuditAction,
        app::actions::ActionState,
        app::alarm::Source,
        app::alarm::Priority
    )),
    modifiers(&SecuritySchemes, &DoorAnswers),
)]
pub struct ApiDoc;

/// A file sent as the body, as it is.
#[derive(ToSchema)]
#[schema(value_type = String, format = Binary)]
pub struct FileBytes(pub Vec<u8>);

/// The two ways in: an API token (bearer) or a person's session cookie.
struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, doc: &mut Document) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An API token (`cellguard token add NAME --scope ingest`), for \
                         stations and systems. A token may do its scope's one thing only.",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                SESSION_COOKIE,
                "A person's sign-in session, from POST /api/v1/session.",
            ))),
        );
    }
}

/// What the door ([`access::attach_caller`], [`access::guard`]) answers on every
/// route that needs a caller, so each operation need not repeat it. The door has
/// two bodies: a [`ServiceError`]'s ([`Problem`]) when nobody is signed in or the
/// role or scope does not allow the route, and its own [`DoorError`] for an
/// unknown token, a browser's cross-site request and a token check that could not
/// be made.
struct DoorAnswers;

/// One of the door's two error bodies.
fn problem_or_door_error() -> RefOr<Schema> {
    RefOr::T(Schema::OneOf(
        OneOfBuilder::new()
            .item(Ref::from_schema_name(Problem::name()))
            .item(Ref::from_schema_name(DoorError::name()))
            .build(),
    ))
}

impl Modify for DoorAnswers {
    fn modify(&self, doc: &mut Document) {
        let error = |description: &str| {
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(problem_or_door_error()))
                        .build(),
                )
                .build()
        };
        for item in doc.paths.paths.values_mut() {
            let ops = [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.delete,
                &mut item.patch,
            ];
            for op in ops.into_iter().flatten() {
                let guarded = op.security.as_ref().is_some_and(|s| !s.is_empty());
                if !guarded {
                    continue;
                }
                let responses = &mut op.responses.responses;
                responses.entry("401".into()).or_insert_with(|| {
                    error(
                        "Not signed in (a `Problem`), or the API token is unknown or \
                         revoked (a `DoorError`)",
                    )
                    .into()
                });
                responses.entry("403".into()).or_insert_with(|| {
                    error(
                        "Signed in, but the role or token scope does not allow this (a \
                         `Problem`), or a browser's cross-site request (a `DoorError`)",
                    )
                    .into()
                });
                // The door's token check may fail before the route's own 503.
                match responses.get_mut("503") {
                    Some(RefOr::T(r)) => {
                        r.description
                            .push_str(" (or, from the door: the API token could not be checked)");
                        let json = r
                            .content
                            .entry("application/json".into())
                            .or_insert_with(|| RefOr::T(ContentBuilder::new().build()));
                        if let RefOr::T(content) = json {
                            let door = Ref::from_schema_name(DoorError::name());
                            content.schema = Some(match content.schema.take() {
                                Some(own) => RefOr::T(Schema::OneOf(
                                    OneOfBuilder::new().item(own).item(door).build(),
                                )),
                                None => door.into(),
                            });
                        }
                    }
                    Some(RefOr::Ref(_)) => {}
                    None => {
                        responses.insert(
                            "503".into(),
                            ResponseBuilder::new()
                                .description("The API token could not be checked")
                                .content(
                                    "application/json",
                                    ContentBuilder::new()
                                        .schema(Some(Ref::from_schema_name(DoorError::name())))
                                        .build(),
                                )
                                .build()
                                .into(),
                        );
                    }
                }
            }
        }
    }
}

/// The document as served and committed: pretty JSON with a trailing newline.
pub fn document() -> String {
    match ApiDoc::openapi().to_pretty_json() {
        Ok(mut json) => {
            json.push('\n');
            json
        }
        // Plain data always serialises; answer something valid if it ever did not.
        Err(e) => format!("{{\"error\": {:?}}}\n", e.to_string()),
    }
}

static DOCUMENT: LazyLock<String> = LazyLock::new(document);

/// This document
///
/// OpenAPI 3.1, generated from the code. Needs any signed-in person.
#[utoipa::path(
    get,
    path = "/api/v1/openapi.json",
    tag = "operations",
    responses((status = 200, description = "OpenAPI 3.1", body = Object, content_type = "application/json")),
    security(("session" = [])),
)]
pub async fn serve() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        DOCUMENT.as_str(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::path::PathBuf;

    use app::auth::{Permission, Scope};
    use serde_json::Value;

    use super::*;
    use crate::quality::ingest;

    /// The committed copy, found from the directory cargo runs the test in (not the
    /// one baked in at compile time: a build shared by several checkouts must not
    /// write into another one's).
    fn committed_path() -> PathBuf {
        std::env::var_os("CARGO_MANIFEST_DIR")
            .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from)
            .join("../docs/openapi.json")
    }

    fn doc() -> Value {
        serde_json::from_str(&document()).expect("the document is JSON")
    }

    /// One REST route as the router registers it.
    #[derive(Debug)]
    struct Route {
        path: String,
        methods: Vec<&'static str>,
        permission: Option<String>,
    }

    /// Every `.route("path", ...)` of the router, read from its source: its path,
    /// its methods and the permission its `needs(...)` layer asks for. (axum cannot
    /// list a router's routes, and a list kept by hand would not fail when someone
    /// adds a route and forgets it.)
    fn routes_of_the_router() -> Vec<Route> {
        let source = include_str!("mod.rs");
        let start = source.find("pub fn router(").expect("the router function");
        let body = &source[start..];
        let body = &body[..body.find("\n}\n").expect("end of the router function")];
        let mut routes = Vec::new();
        for segment in body.split(".route(").skip(1) {
            let segment = segment.split(".with_state(").next().unwrap_or(segment);
            let path = segment
                .split('"')
                .nth(1)
                .expect("a route's first argument is its path")
                .to_owned();
            let methods = ["get", "post", "put", "delete", "patch"]
                .into_iter()
                .filter(|m| {
                    segment.match_indices(&format!("{m}(")).any(|(i, _)| {
                        !segment[..i]
                            .chars()
                            .next_back()
                            .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':')
                    })
                })
                .collect();
            let permission = segment
                .split("needs(Permission::")
                .nth(1)
                .and_then(|rest| rest.split(')').next())
                .map(str::to_owned);
            routes.push(Route {
                path,
                methods,
                permission,
            });
        }
        routes
    }

    fn operations(doc: &Value) -> BTreeSet<(String, String)> {
        doc["paths"]
            .as_object()
            .expect("paths")
            .iter()
            .flat_map(|(path, item)| {
                item.as_object()
                    .expect("a path item")
                    .keys()
                    .map(|m| (path.clone(), m.clone()))
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    #[test]
    fn committed_openapi_document_is_what_the_code_generates() {
        let generated = document();
        let path = committed_path();
        if std::env::var_os("CELLGUARD_BLESS").is_some_and(|v| v == "1") {
            std::fs::write(&path, &generated).expect("write docs/openapi.json");
            return;
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == generated,
            "docs/openapi.json differs from the document the code generates; \
             regenerate it with `CELLGUARD_BLESS=1 cargo test -p server --lib openapi` \
             and commit the result"
        );
    }

    #[test]
    fn every_route_of_the_router_is_documented_and_every_documented_one_routed() {
        let routes = routes_of_the_router();
        // The scan must see the router: a reformatted router must not pass empty.
        assert!(routes.len() >= 12, "found only {routes:?}");
        let routed: BTreeSet<(String, String)> = routes
            .iter()
            .flat_map(|r| r.methods.iter().map(|m| (r.path.clone(), (*m).to_owned())))
            .collect();
        for r in &routes {
            assert!(!r.methods.is_empty(), "no method found for {}", r.path);
        }
        let documented = operations(&doc());
        let missing: Vec<_> = routed.difference(&documented).collect();
        assert!(
            missing.is_empty(),
            "routes without documentation (add #[utoipa::path] and list them in ApiDoc): {missing:?}"
        );
        let stale: Vec<_> = documented.difference(&routed).collect();
        assert!(stale.is_empty(), "documented but not routed: {stale:?}");
    }

    #[test]
    fn guarded_routes_name_the_credentials_that_pass_their_guard() {
        let doc = doc();
        for r in routes_of_the_router() {
            let Some(perm) = &r.permission else { continue };
            let permission = Permission::ALL
                .into_iter()
                .find(|p| format!("{p:?}") == *perm)
                .unwrap_or_else(|| panic!("unknown permission {perm}"));
            let by_token = Scope::ALL.into_iter().any(|s| s.allows(permission));
            for m in &r.methods {
                let op = &doc["paths"][&r.path][*m];
                let schemes: BTreeSet<&str> = op["security"]
                    .as_array()
                    .unwrap_or_else(|| panic!("{m} {} has no security", r.path))
                    .iter()
                    .flat_map(|req| req.as_object().expect("requirement").keys())
                    .map(String::as_str)
                    .collect();
                assert!(schemes.contains("session"), "{m} {}: {schemes:?}", r.path);
                assert_eq!(
                    schemes.contains("token"),
                    by_token,
                    "{m} {}: a token {} pass {perm}",
                    r.path,
                    if by_token { "may" } else { "may not" }
                );
                for status in ["401", "403"] {
                    assert!(
                        op["responses"][status].is_object(),
                        "{m} {} {status}",
                        r.path
                    );
                }
            }
        }
    }

    #[test]
    fn schema_limits_are_the_validators_limits() {
        let doc = doc();
        let schemas = &doc["components"]["schemas"];
        let inspection = &schemas["Inspection"]["properties"];
        let n = |v: &Value| v.as_u64().and_then(|n| usize::try_from(n).ok());
        assert_eq!(
            n(&inspection["key"]["maxLength"]),
            Some(ingest::MAX_KEY_LEN)
        );
        for id in ["serial", "order", "lot", "station"] {
            assert_eq!(
                n(&inspection[id]["maxLength"]),
                Some(crate::quality::dataset::MAX_ID_LEN),
                "{id}"
            );
            assert_eq!(inspection[id]["pattern"], "^[A-Za-z0-9._/-]+$", "{id}");
        }
        assert_eq!(
            n(&inspection["measurements"]["maxItems"]),
            Some(ingest::MAX_MEASUREMENTS)
        );
        assert_eq!(
            n(&inspection["context"]["maxItems"]),
            Some(ingest::MAX_CONTEXT)
        );
        let body = &doc["paths"]["/api/v1/inspections"]["post"]["requestBody"]["content"]["application/json"]
            ["schema"];
        assert_eq!(n(&body["oneOf"][1]["maxItems"]), Some(ingest::MAX_BATCH));
        // The pattern says what check_id accepts.
        for ok in ["HC2611-000123", "L_1.a/b"] {
            assert!(crate::quality::dataset::check_id(ok).is_ok(), "{ok}");
        }
        for bad in ["a b", "a:b", "ä"] {
            assert!(crate::quality::dataset::check_id(bad).is_err(), "{bad}");
        }
        let names: Vec<&str> = schemas["Measurement"]["properties"]["name"]["enum"]
            .as_array()
            .expect("catalogue names")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        let catalogue: Vec<&str> = crate::quality::CATALOGUE.iter().map(|d| d.name).collect();
        assert_eq!(names, catalogue);
    }

    fn refs<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
        match v {
            Value::Object(map) => {
                if let Some(Value::String(r)) = map.get("$ref") {
                    out.push(r);
                }
                map.values().for_each(|v| refs(v, out));
            }
            Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }

    #[test]
    fn every_schema_reference_resolves() {
        let doc = doc();
        let mut found = Vec::new();
        refs(&doc, &mut found);
        assert!(!found.is_empty());
        for r in found {
            let name = r
                .strip_prefix("#/components/schemas/")
                .unwrap_or_else(|| panic!("unexpected reference {r}"));
            assert!(
                doc["components"]["schemas"][name].is_object(),
                "{r} is not in the document"
            );
        }
    }

    #[test]
    fn the_served_document_is_the_generated_one() {
        assert_eq!(*DOCUMENT, document());
        assert_eq!(doc()["openapi"], "3.1.0");
    }
}
