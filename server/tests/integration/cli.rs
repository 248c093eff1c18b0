//! The binary itself: a bad plant file stops start-up with file, line and field.

use std::process::Command;

#[test]
fn serve_refuses_to_start_with_a_bad_plant_file_and_says_where() {
    let dir = tempfile::tempdir().expect("tempdir");
    let plant = dir.path().join("plant.toml");
    let good =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../config/plant.toml"))
            .expect("default plant");
    std::fs::write(&plant, good.replacen("type = \"f32\"", "type = \"f33\"", 1)).expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_cellguard"))
        .arg("--config")
        .arg(&plant)
        .arg("serve")
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .env("LEPTOS_SITE_ADDR", "127.0.0.1:0")
        .output()
        .expect("run cellguard");
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("{}:", plant.display())), "{err}");
    assert!(err.contains("devices[0].tags[0].type"), "{err}");
    assert!(err.contains("f33"), "{err}");
    assert!(
        !dir.path().join("data").exists(),
        "nothing is written before the plant file is valid"
    );
}

#[test]
fn check_config_accepts_the_default_plant() {
    let out = Command::new(env!("CARGO_BIN_EXE_cellguard"))
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .arg("check-config")
        .output()
        .expect("run cellguard");
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("ok (3 devices"));
}
