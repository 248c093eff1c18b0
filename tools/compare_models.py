#!/usr/bin/env python3
"""Reference models for CellGuard's risk models, on the same data and lot split.

Reads a dataset CSV (the `cellguard simulate dataset` / `import` format) and the
`split.json` that `cellguard train` writes into each artifact folder, rebuilds the
same rows (labelled, every required measurement present, optional ones imputed with
the training mean), and trains:

- scikit-learn LogisticRegression on standardised features (C=1, the same L2 penalty
  as CellGuard's logistic model),
- scikit-learn RandomForestRegressor on 0/1 labels with CellGuard's forest settings,
- xgboost XGBClassifier (binary:logistic, histogram trees).

Everything runs on one thread, like CellGuard's training. Prints one JSON object on
stdout: per model PR AUC (average precision) and ROC AUC on the test lots, training
seconds, and single-row predict latency (median and p99 over many calls on one row).

Usage: compare_models.py --data cells.csv --split model-artifacts/default-logistic/split.json
"""

import argparse
import csv
import json
import math
import sys
import time

import numpy as np
from sklearn.ensemble import RandomForestRegressor
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, roc_auc_score
from sklearn.preprocessing import StandardScaler
from xgboost import XGBClassifier

TRUE = {"1", "true", "yes", "fail", "failed"}
FALSE = {"0", "false", "no", "pass", "passed"}


def number(text):
    text = text.strip()
    if not text:
        return None
    try:
        v = float(text)
    except ValueError:
        return None
    return v if math.isfinite(v) else None


def load_rows(path, split):
    features = split["features"]
    names = [f["name"] for f in features]
    required = [bool(f["required"]) for f in features]
    lot_col = split.get("lot_column", "lot")
    label_col = split.get("label_column", "label")
    which = {}
    for part in ("train", "validation", "test"):
        for lot in split[part]:
            which[lot] = part
    parts = {p: ([], []) for p in ("train", "validation", "test")}
    with open(path, newline="", encoding="utf-8") as f:
        for rec in csv.DictReader(f):
            label = (rec.get(label_col) or "").strip().lower()
            if label in TRUE:
                y = 1
            elif label in FALSE:
                y = 0
            else:
                continue
            x = [number(rec.get(n) or "") for n in names]
            if any(v is None and req for v, req in zip(x, required)):
                continue
            part = which.get(rec.get(lot_col, ""))
            if part is None:
                continue
            parts[part][0].append(x)
            parts[part][1].append(y)
    # Impute optional features with the training mean of the present values.
    train_x = parts["train"][0]
    means = []
    for j in range(len(names)):
        present = [r[j] for r in train_x if r[j] is not None]
        means.append(sum(present) / len(present) if present else 0.0)
    out = {}
    for p, (xs, ys) in parts.items():
        arr = np.array(
            [[means[j] if v is None else v for j, v in enumerate(r)] for r in xs],
            dtype=np.float64,
        ).reshape(len(xs), len(names))
        out[p] = (arr, np.array(ys, dtype=np.int32))
    return names, out


def latency(predict, row, calls):
    """Median and p99 wall time of one single-row predict call, in microseconds."""
    for _ in range(20):
        predict(row)
    times = []
    for _ in range(calls):
        t = time.perf_counter_ns()
        predict(row)
        times.append(time.perf_counter_ns() - t)
    times.sort()
    return times[len(times) // 2] / 1000.0, times[min(len(times) - 1, int(len(times) * 0.99))] / 1000.0


def evaluate(name, fit, score, single, data, calls):
    (xtr, ytr), (xte, yte) = data["train"], data["test"]
    t = time.perf_counter()
    model = fit(xtr, ytr)
    seconds = time.perf_counter() - t
    s = score(model, xte)
    med, p99 = latency(lambda r: single(model, r), xte[:1], calls)
    return {
        "model": name,
        "pr_auc": float(average_precision_score(yte, s)),
        "roc_auc": float(roc_auc_score(yte, s)),
        "training_seconds": seconds,
        "single_row_us_median": med,
        "single_row_us_p99": p99,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", required=True, help="dataset CSV")
    ap.add_argument("--split", required=True, help="split.json from an artifact folder")
    ap.add_argument("--calls", type=int, default=2000, help="single-row calls timed per model")
    ap.add_argument("--trees", type=int, default=100, help="random forest trees")
    ap.add_argument("--max-depth", type=int, default=10, help="random forest depth")
    ap.add_argument("--min-samples-leaf", type=int, default=20, help="random forest leaf size")
    args = ap.parse_args()

    with open(args.split, encoding="utf-8") as f:
        split = json.load(f)
    seed = int(split.get("seed", 7))
    names, data = load_rows(args.data, split)
    for p, (x, y) in data.items():
        if len(y) == 0 or y.min() == y.max():
            sys.exit(f"the {p} lots need both good and defective cells")

    scaler = StandardScaler().fit(data["train"][0])

    def fit_logistic(x, y):
        return LogisticRegression(C=1.0, max_iter=2000).fit(scaler.transform(x), y)

    def fit_forest(x, y):
        return RandomForestRegressor(
            n_estimators=args.trees,
            max_depth=args.max_depth,
            min_samples_leaf=args.min_samples_leaf,
            max_features="sqrt",
            n_jobs=1,
            random_state=seed,
        ).fit(x, y.astype(np.float64))

    def fit_xgb(x, y):
        return XGBClassifier(
            n_estimators=300,
            max_depth=4,
            learning_rate=0.05,
            subsample=0.8,
            colsample_bytree=0.8,
            objective="binary:logistic",
            tree_method="hist",
            n_jobs=1,
            random_state=seed,
        ).fit(x, y)

    results = [
        evaluate(
            "sklearn-logistic",
            fit_logistic,
            lambda m, x: m.predict_proba(scaler.transform(x))[:, 1],
            lambda m, r: m.predict_proba(scaler.transform(r))[0, 1],
            data,
            args.calls,
        ),
        evaluate(
            "sklearn-forest",
            fit_forest,
            lambda m, x: np.clip(m.predict(x), 0.0, 1.0),
            lambda m, r: m.predict(r)[0],
            data,
            args.calls,
        ),
        evaluate(
            "xgboost",
            fit_xgb,
            lambda m, x: m.predict_proba(x)[:, 1],
            lambda m, r: m.predict_proba(r)[0, 1],
            data,
            args.calls,
        ),
    ]
    yte = data["test"][1]
    print(
        json.dumps(
            {
                "features": names,
                "n_train": int(len(data["train"][1])),
                "n_test": int(len(yte)),
                "base_rate": float(yte.mean()),
                "threads": 1,
                "models": results,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
