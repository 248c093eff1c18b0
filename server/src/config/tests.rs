//! The loader's tests: every error names the file, line and field. The helpers
//! here serve the owners' settings tests too.

use std::path::Path;

use super::*;

/// A valid plant file with one device and one tag.
pub(crate) const MINIMAL: &str = r#"
[[devices]]
id = "M1"
host = "127.0.0.1"
port = 1502
scan_groups = [{ name = "fast", period_ms = 100 }]

[[devices.tags]]
name = "speed"
table = "holding"
address = 0
type = "f32"
scan_group = "fast"
"#;

/// The settings of [`MINIMAL`].
pub(crate) fn minimal() -> Settings {
    parse(Path::new("plant.toml"), MINIMAL, &no_env).expect("the minimal plant is valid")
}

/// No environment overrides.
pub(crate) fn no_env(_: &str) -> Option<String> {
    None
}

/// The errors loading `text` gives (it must give some).
pub(crate) fn errors(text: &str) -> Vec<ConfigError> {
    match parse(Path::new("plant.toml"), text, &no_env) {
        Ok(_) => panic!("expected errors for:\n{text}"),
        Err(e) => e.0,
    }
}

/// The one error loading `text` gives.
pub(crate) fn one_error(text: &str) -> ConfigError {
    let e = errors(text);
    assert_eq!(e.len(), 1, "{e:?}");
    e.into_iter().next().expect("one error")
}

/// [`MINIMAL`] with one more tag.
pub(crate) fn with_tag(extra: &str) -> String {
    format!("{MINIMAL}\n[[devices.tags]]\n{extra}\n")
}

#[test]
fn the_minimal_plant_loads() {
    let p = parse(Path::new("plant.toml"), MINIMAL, &no_env).expect("valid");
    assert_eq!(p.plant.devices[0].tags[0].width(), 2);
    assert_eq!(p.plant.devices[0].name, "M1");
}

#[test]
fn the_shipped_default_plant_is_valid() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/plant.toml");
    let p = load(&path, &no_env).unwrap_or_else(|e| panic!("{e}"));
    let ids: Vec<_> = p.plant.devices.iter().map(|d| d.machine.as_str()).collect();
    assert_eq!(ids, ["CAS_01", "FORM_01", "EOL_01"]);
    for d in &p.plant.devices {
        assert!(d.state_tag().is_some(), "{} has a state tag", d.machine);
    }
    let rules: Vec<_> = p.writeback.rules.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(
        rules,
        ["cas-speed-on-high-risk", "form-current-on-low-efficiency"]
    );
    let cas = p.plant.device_named("CAS_01").expect("CAS_01").id;
    assert_eq!(p.writeback.mode_of(cas), app::actions::WriteMode::Advisory);
}

#[test]
fn an_unknown_type_names_the_field_and_line() {
    let e = one_error(&MINIMAL.replace("type = \"f32\"", "type = \"f33\""));
    assert_eq!(e.field, "devices[0].tags[0].type");
    assert_eq!(e.line, 12);
    assert!(e.message.contains("f33"), "{}", e.message);
    assert!(e.to_string().starts_with("plant.toml:12:"), "{e}");
}

#[test]
fn an_unknown_field_is_refused() {
    let e =
        one_error(&MINIMAL.replace("scan_group = \"fast\"", "scan_group = \"fast\"\nscal = 2.0"));
    assert!(e.message.contains("scal"), "{}", e.message);
    assert_eq!(e.line, 14);
}

#[test]
fn a_toml_syntax_error_has_a_line() {
    let e = one_error("[[devices]\nid = 1");
    assert_eq!(e.line, 1);
}

/// Each remaining validation rule: (edit of MINIMAL, field named, words in the message).
#[test]
fn every_other_validation_error_names_its_field() {
    let w = |extra: &str| {
        MINIMAL.replace(
            "scan_group = \"fast\"",
            &format!("scan_group = \"fast\"\n{extra}"),
        )
    };
    let cases: Vec<(String, &str, &str)> = vec![
        (
            MINIMAL.replace("id = \"M1\"", "id = \"M 1\""),
            "devices[0].id",
            "must be letters",
        ),
        (
            MINIMAL.replace("host = \"127.0.0.1\"", "host = \" \""),
            "devices[0].host",
            "must not be empty",
        ),
        (
            MINIMAL.replace("port = 1502", "port = 0"),
            "devices[0].port",
            "1..=65535",
        ),
        (
            MINIMAL.replace("port = 1502", "port = 1502\ntimeout_ms = 0"),
            "devices[0].timeout_ms",
            "at least 1",
        ),
        (
            MINIMAL.replace("port = 1502", "port = 1502\nconnect_timeout_ms = 0"),
            "devices[0].connect_timeout_ms",
            "at least 1",
        ),
        (
            MINIMAL.replace("period_ms = 100", "period_ms = 0"),
            "devices[0].scan_groups[0].period_ms",
            "at least 1",
        ),
        (
            MINIMAL.replace(
                "[{ name = \"fast\", period_ms = 100 }]",
                "[{ name = \"fast\", period_ms = 100 }, { name = \"fast\", period_ms = 5 }]",
            ),
            "devices[0].scan_groups[1].name",
            "duplicate scan group",
        ),
        (
            MINIMAL.replace("type = \"f32\"", "type = \"bit\""),
            "devices[0].tags[0].bit",
            "needs `bit`",
        ),
        (
            MINIMAL.replace("type = \"f32\"", "type = \"bit\"\nbit = 16"),
            "devices[0].tags[0].bit",
            "outside 0..=15",
        ),
        (
            MINIMAL.replace("type = \"f32\"", "type = \"string\""),
            "devices[0].tags[0].length",
            "needs `length`",
        ),
        (w("scale = 0.0"), "devices[0].tags[0].scale", "non-zero"),
        (w("offset = inf"), "devices[0].tags[0].offset", "finite"),
        (
            MINIMAL.replace("table = \"holding\"", "table = \"input\"")
                + "access = \"read_write\"\nmin = 0.0\nmax = 1.0\nmax_step = 1.0\n",
            "devices[0].tags[0].access",
            "read-only",
        ),
        (
            w("access = \"read_write\"\nmin = 5.0\nmax = 1.0\nmax_step = 1.0"),
            "devices[0].tags[0].max",
            "below min",
        ),
        (
            w("access = \"read_write\"\nmin = 0.0\nmax = 1.0\nmax_step = 0.0"),
            "devices[0].tags[0].max_step",
            "greater than 0",
        ),
        (
            w("states = {}"),
            "devices[0].tags[0].type",
            "integer register",
        ),
        (
            MINIMAL.replace("type = \"f32\"", "type = \"u16\"")
                + "states = { \"x\" = \"Execute\" }\n",
            "devices[0].tags[0].states.x",
            "not an integer",
        ),
        (
            w("sim = { follows = \"nope\" }"),
            "devices[0].tags[0].sim.follows",
            "unknown tag",
        ),
        (
            w("sim = { sensitivity = { nope = 1.0 } }"),
            "devices[0].tags[0].sim.sensitivity.nope",
            "unknown tag",
        ),
        (
            format!("[history]\nbatch_size = 0\n{MINIMAL}"),
            "history.batch_size",
            "at least 1",
        ),
        (
            format!("[history]\nflush_interval_ms = 0\n{MINIMAL}"),
            "history.flush_interval_ms",
            "at least 1",
        ),
        (
            format!("[quality]\ntiers = {{ high = 0.1, moderate = 0.2 }}\n{MINIMAL}"),
            "quality.tiers.moderate",
            "below tiers.high",
        ),
        (
            format!("[quality]\ndefault_product = \"XX\"\n{MINIMAL}"),
            "quality.default_product",
            "not among",
        ),
        (
            format!(
                "[[quality.products]]\nid = \"HC\"\nname = \"H\"\nlimits.kvalue = {{ usl = 1 }}\n{MINIMAL}"
            ),
            "quality.products[0].limits.kvalue",
            "not a known measurement",
        ),
        (
            format!(
                "[[quality.products]]\nid = \"HC\"\nname = \"H\"\nlimits.ocv = {{ lsl = 4.0 }}\n{MINIMAL}"
            ),
            "quality.products[0].limits.ocv",
            "above upper limit",
        ),
        (
            format!("[quality]\nthreshold = {{ recall = 1.5 }}\n{MINIMAL}"),
            "quality.threshold.recall",
            "share",
        ),
        (
            format!("[simulator]\ncells_per_minute = -1\n{MINIMAL}"),
            "simulator.cells_per_minute",
            "between 0",
        ),
        (
            format!("[simulator]\ncells_per_lot = 0\n{MINIMAL}"),
            "simulator.cells_per_lot",
            "between 1",
        ),
        (
            format!("[access]\nsession_idle_minutes = 0\n{MINIMAL}"),
            "access.session_idle_minutes",
            "between 0.01",
        ),
        (
            format!("[writeback]\nmin_interval_s = -1\n{MINIMAL}"),
            "writeback.min_interval_s",
            "between 0",
        ),
        (
            format!("[writeback]\nallowed_states = [\"Running\"]\n{MINIMAL}"),
            "writeback.allowed_states[0]",
            "not a PackML state",
        ),
        (
            format!("[writeback]\nmodes = {{ M9 = \"automatic\" }}\n{MINIMAL}"),
            "writeback.modes.M9",
            "not a device",
        ),
        (
            format!("[writeback]\nfour_eyes = [\"M9\"]\n{MINIMAL}"),
            "writeback.four_eyes[0]",
            "not a device",
        ),
        (
            format!(
                "[writeback]\nmodes = {{ M1 = \"automatic\" }}\nfour_eyes = [\"M1\"]\n{MINIMAL}"
            ),
            "writeback.four_eyes[0]",
            "automatic mode",
        ),
        (
            format!(
                "[[writeback.rules]]\nname = \"r\"\nmachine = \"M1\"\ntag = \"speed\"\nwhen = {{ high_risk_share = {{ last = 20, above = 0.2 }} }}\nchange = {{ step = -5.0 }}\nrationale = \"why\"\n{MINIMAL}"
            ),
            "writeback.rules[0].tag",
            "not writable",
        ),
        (
            format!(
                "[[writeback.rules]]\nname = \"r\"\nmachine = \"M9\"\ntag = \"speed\"\nwhen = {{ high_risk_share = {{ last = 20, above = 0.2 }} }}\nchange = {{ step = -5.0 }}\nrationale = \"why\"\n{MINIMAL}"
            ),
            "writeback.rules[0].machine",
            "not a device",
        ),
        (
            format!(
                "[[writeback.rules]]\nname = \"r\"\nmachine = \"M1\"\ntag = \"speed\"\nwhen = {{ high_risk_share = {{ last = 20, above = 1.5 }} }}\nchange = {{ step = -5.0 }}\nrationale = \"why\"\n{MINIMAL}"
            ),
            "writeback.rules[0].when",
            "share",
        ),
        (
            format!(
                "[[writeback.rules]]\nname = \"r\"\nmachine = \"M1\"\ntag = \"speed\"\nwhen = {{ high_risk_share = {{ last = 20, above = 0.2 }} }}\nchange = {{ step = -5.0 }}\nrationale = \" \"\n{MINIMAL}"
            ),
            "writeback.rules[0].rationale",
            "must say why",
        ),
    ];
    for (text, field, words) in cases {
        let e = errors(&text);
        assert!(
            e.iter()
                .any(|e| e.field == field && e.message.contains(words) && e.line > 0),
            "expected {field} ({words}) in {e:#?}\nfor:\n{text}"
        );
    }
}

#[test]
fn environment_overrides_host_and_port() {
    let env = |k: &str| match k {
        "CELLGUARD_DEVICE_M1_HOST" => Some("10.1.2.3".to_owned()),
        "CELLGUARD_DEVICE_M1_PORT" => Some("5020".to_owned()),
        _ => None,
    };
    let p = parse(Path::new("p"), MINIMAL, &env).expect("valid");
    assert_eq!(
        (p.plant.devices[0].host.as_str(), p.plant.devices[0].port),
        ("10.1.2.3", 5020)
    );
}

#[test]
fn the_mes_url_and_token_come_from_the_environment_and_the_token_never_prints() {
    let env = |k: &str| match k {
        "CELLGUARD_MES_URL" => Some("https://mes.plant.local:8443/".to_owned()),
        "CELLGUARD_MES_TOKEN" => Some("s3cr3t-token".to_owned()),
        _ => None,
    };
    let text = format!("{MINIMAL}\n[mes]\nembedded = true\n");
    let p = parse(Path::new("p"), &text, &env).expect("valid");
    assert!(!p.mes.embedded, "an MES URL in the environment wins");
    assert_eq!(
        p.mes.url.as_ref().map(url::Url::as_str),
        Some("https://mes.plant.local:8443/")
    );
    assert_eq!(p.mes.token.expose(), "s3cr3t-token");
    // Neither the runtime settings nor the file type written back out show it.
    let written = crate::mes::settings::MesConfig {
        token: p.mes.token.clone(),
        ..Default::default()
    };
    let shown = format!("{:?} {}", p.mes, toml::to_string(&written).expect("toml"));
    assert!(!shown.contains("s3cr3t"), "{shown}");
    assert!(p.mes.enabled());
}

#[test]
fn a_bad_port_in_the_environment_names_the_variable() {
    let env = |k: &str| (k == "CELLGUARD_DEVICE_M1_PORT").then(|| "http".to_owned());
    let e = match parse(Path::new("p"), MINIMAL, &env) {
        Err(e) => e.0,
        Ok(_) => panic!("expected an error"),
    };
    assert_eq!(e[0].field, "CELLGUARD_DEVICE_M1_PORT");
}

#[test]
fn a_missing_file_is_a_clear_error() {
    let e = load(Path::new("/nonexistent/plant.toml"), &no_env).expect_err("error");
    assert!(e.to_string().contains("cannot read the plant file"));
}
