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

fn cellguard(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_cellguard"))
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .args(args)
        .env("CELLGUARD_DATA_DIR", dir.join("data"))
        .output()
        .expect("run cellguard")
}

#[test]
fn import_writes_every_row_or_none_and_train_reads_the_same_format() {
    let dir = tempfile::tempdir().expect("tempdir");
    let csv = dir.path().join("cells.csv");
    let out = cellguard(
        dir.path(),
        &[
            "simulate",
            "dataset",
            "--cells",
            "600",
            "--seed",
            "4",
            "--out",
            csv.to_str().expect("utf8"),
        ],
    );
    assert!(out.status.success(), "{out:?}");
    let text = std::fs::read_to_string(&csv).expect("dataset written");
    assert!(text.starts_with("serial,lot,order,product,produced_at,slurry_viscosity,"));

    // One bad value: refused with its row and column, nothing written.
    let bad = dir.path().join("bad.csv");
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    lines[3] = lines[3].replacen(",HC,", ",XX,", 1);
    std::fs::write(&bad, lines.join("\n")).expect("write");
    let out = cellguard(dir.path(), &["import", bad.to_str().expect("utf8")]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("row 4, column product"), "{err}");
    let out = cellguard(
        dir.path(),
        &["import", "--dry-run", csv.to_str().expect("utf8")],
    );
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("would import 600 cells (600 new)"));

    let out = cellguard(dir.path(), &["import", csv.to_str().expect("utf8")]);
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("imported 600 cells (600 new)"));
    let out = cellguard(dir.path(), &["import", csv.to_str().expect("utf8")]);
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains("(0 new), 0 inspections (1800 already present)"),
        "{out:?}"
    );

    // Too few lots to hold some out: a clear refusal, not a model.
    let models = dir.path().join("models");
    let out = cellguard(
        dir.path(),
        &[
            "train",
            "--data",
            csv.to_str().expect("utf8"),
            "--out",
            models.to_str().expect("utf8"),
        ],
    );
    assert!(!out.status.success(), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("lot"), "{err}");
    assert!(!models.exists(), "nothing written");
}
