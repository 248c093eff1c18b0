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

#[test]
fn train_promote_makes_the_champion_active_in_the_database_and_audits_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let csv = dir.path().join("cells.csv");
    let out = cellguard(
        dir.path(),
        &[
            "simulate",
            "dataset",
            "--cells",
            "6000",
            "--seed",
            "4",
            "--out",
            csv.to_str().expect("utf8"),
        ],
    );
    assert!(out.status.success(), "{out:?}");
    // A plant file whose models live in the temporary folder.
    let models = dir.path().join("models");
    let plant =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../config/plant.toml"))
            .expect("plant file")
            .replace(
                "models_dir = \"model-artifacts\"",
                &format!("models_dir = {:?}", models.to_str().expect("utf8")),
            );
    let config = dir.path().join("plant.toml");
    std::fs::write(&config, plant).expect("write");
    let train = |extra: &[&str]| {
        let mut args = vec![
            "train",
            "--data",
            csv.to_str().expect("utf8"),
            "--name",
            "t",
            "--promote",
        ];
        args.extend_from_slice(extra);
        Command::new(env!("CARGO_BIN_EXE_cellguard"))
            .args(&args)
            .env("CELLGUARD_CONFIG", &config)
            .env("CELLGUARD_DATA_DIR", dir.path().join("data"))
            .output()
            .expect("run cellguard")
    };
    // Promoting models a server would not find is refused before training.
    let elsewhere = dir.path().join("elsewhere");
    let out = train(&["--out", elsewhere.to_str().expect("utf8")]);
    assert!(!out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("quality.models_dir"));
    assert!(!elsewhere.exists());

    let out = train(&[]);
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let champion = stdout
        .lines()
        .find_map(|l| l.strip_prefix("champion: "))
        .and_then(|l| l.split(',').next())
        .expect("the champion is named")
        .to_owned();
    assert!(
        champion == "t-logistic" || champion == "t-forest",
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("made {champion} the active model")),
        "{stdout}"
    );
    let meta: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(models.join(&champion).join("meta.json")).expect("meta"),
    )
    .expect("json");
    assert_eq!(meta["champion"], true);

    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let sqlite = cellguard::storage::sqlite::SqliteStore::open_in(&dir.path().join("data"))
            .await
            .expect("db");
        let store = cellguard::quality::store::QualityStore::new(sqlite.pool().clone());
        let last = store.last_switch().await.expect("db").expect("a switch");
        assert_eq!(last.to, champion);
        assert_eq!(last.from, "default-logistic");
        assert!(last.by.starts_with("cli:"));
        let (audited,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM audit WHERE action = 'model_promoted' AND target = ?",
        )
        .bind(&champion)
        .fetch_one(sqlite.pool())
        .await
        .expect("audit");
        assert_eq!(audited, 1);
    });
    // Again: already active, nothing recorded twice.
    let out = train(&[]);
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("is already the active model"));
}
