//! The shipped default models: reproducible from the documented commands
//! (`simulate dataset --cells 20000 --seed 7`, `train --seed 7`), loadable, and far
//! better than the base rate on held-out lots.

use std::path::{Path, PathBuf};

use cellguard::quality::settings::QualitySettings;
use cellguard::risk::artifacts::write_artifacts;
use cellguard::risk::model::Model;
use cellguard::risk::train::{ForestOptions, TrainOptions, fingerprint, train};
use cellguard::sim::cells::dataset;

fn artifacts() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../model-artifacts")
}

fn json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn the_shipped_models_come_from_the_documented_commands() {
    let records = dataset(20_000, 7);
    let print = fingerprint(&records);
    for kind in ["logistic", "forest"] {
        let dir = artifacts().join(format!("default-{kind}"));
        let meta = json(&dir.join("meta.json"));
        assert_eq!(
            meta["fingerprint"].as_str(),
            Some(print.as_str()),
            "default-{kind} was trained on other data than `simulate dataset --cells 20000 --seed 7`"
        );
        let model = Model::load(&dir).expect("the shipped model loads");
        let metrics = json(&dir.join("metrics.json"));
        let pr_auc = metrics["pr_auc"].as_f64().expect("pr_auc");
        let base = metrics["base_rate"].as_f64().expect("base_rate");
        assert!(
            pr_auc >= 3.0 * base,
            "default-{kind}: PR AUC {pr_auc} is not 3× the base rate {base}"
        );
        assert!(
            (model.threshold() - metrics["threshold"].as_f64().expect("threshold")).abs() < 1e-12
        );
    }
    // That training's champion is the best on the validation lots, as its
    // meta.json, its figures and the model card say. (It is the forest; the
    // configured default stays the logistic model for now, and the models page says
    // its training chose another.)
    use cellguard::risk::model::Kind;
    use cellguard::risk::train::{Candidate, champion};
    let candidates: Vec<Candidate> = [Kind::Logistic, Kind::Forest]
        .into_iter()
        .map(|kind| {
            let m = json(&artifacts().join(format!("default-{kind}/metrics.json")));
            Candidate {
                kind,
                pr_auc: m["val_pr_auc"].as_f64(),
                brier: m["val_brier"].as_f64(),
            }
        })
        .collect();
    assert!(
        candidates
            .iter()
            .all(|c| c.pr_auc.is_some() && c.brier.is_some())
    );
    let won = champion(&candidates);
    for kind in ["logistic", "forest"] {
        let dir = artifacts().join(format!("default-{kind}"));
        let meta = json(&dir.join("meta.json"));
        assert_eq!(meta["champion"].as_bool(), Some(kind == won.kind.as_str()));
        assert_eq!(meta["champion_reason"].as_str(), Some(won.reason.as_str()));
        let card = std::fs::read_to_string(dir.join("MODEL_CARD.md")).expect("card");
        assert!(
            card.contains(&won.reason),
            "default-{kind}'s card gives the reason"
        );
    }

    // Retraining gives the same logistic model, byte for byte (the forest is left
    // small here: its determinism is a unit test, and it is slow in debug builds).
    let mut opts = TrainOptions::new(7, QualitySettings::default().threshold);
    opts.forest = ForestOptions {
        n_trees: 4,
        chunk: 4,
        ..ForestOptions::default()
    };
    let outcome = train(&records, &opts, &|_, _, _| {}).expect("trains");
    let out = tempfile::tempdir().expect("tempdir");
    write_artifacts(&outcome, out.path(), "default").expect("writes");
    let again = std::fs::read(out.path().join("default-logistic/model.json")).expect("written");
    let shipped = std::fs::read(artifacts().join("default-logistic/model.json")).expect("shipped");
    assert!(
        again == shipped,
        "retraining changed default-logistic/model.json"
    );
    // So does the training baseline drift is measured against (the same rows for
    // both models).
    for kind in ["logistic", "forest"] {
        let again = std::fs::read(out.path().join(format!("default-{kind}/baseline.json")))
            .expect("written");
        let shipped = std::fs::read(artifacts().join(format!("default-{kind}/baseline.json")))
            .expect("shipped with its baseline");
        assert!(
            again == shipped,
            "retraining changed default-{kind}/baseline.json"
        );
    }
}
