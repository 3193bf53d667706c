"""Gradient boosting on adult: how much do the model library and the category encoding matter?

    .venv/bin/python benchmarks/adult_models.py            # about 2 minutes on 2 cores
    .venv/bin/python benchmarks/adult_models.py --seeds 10 # + FLAML's choice over seeds

adult is the task where FLAML (its LightGBM) beat text2ml's HistGradientBoosting at 120 s.
This script fits fixed configurations on the benchmark's training rows (the same split as
``run_benchmarks.py``) and scores them on the held-out rows, once each (every model here is
deterministic for its ``random_state``). It compares, for HistGradientBoosting and LightGBM,
categories given as ordinal codes (ordered numbers: the catalog's tree encoding before
LightGBM was added) with categories typed as pandas categories (split as categories: the
encoding now), plus FLAML's chosen configuration of the recorded 120 s run. Fit times are
single-threaded and printed for scale only; the held-out ROC AUC is the figure. Writes
``benchmarks/results/adult-models-<id>.json``.

``--seeds N`` also refits FLAML's chosen configuration on both the catalog's encoding and
FLAML's own data handling (its ``DataTransformer``), with LightGBM's default seeds (no
``random_state``: what FLAML fits) and with ``random_state`` 0..N-1: the configuration
samples half the columns per tree, so its held-out score depends on the seed.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import pandas as pd  # noqa: E402
from _common import load_frame, load_tasks, positive_label, split  # noqa: E402

# FLAML's best configuration at 120 s (run 20261121T123342Z, benchmarks/results).
FLAML_120S = {"colsample_bytree": 0.5129, "learning_rate": 0.2125, "max_bin": 1023,
              "min_child_samples": 17, "n_estimators": 57, "num_leaves": 30,
              "reg_alpha": 0.9840, "reg_lambda": 0.5458}


def _as_strings(frame: pd.DataFrame) -> pd.DataFrame:
    """As the catalog's encodings see categories: strings, missing as its own category."""
    return frame.astype(object).fillna("missing").astype(str)


def _encodings(train: pd.DataFrame, test: pd.DataFrame) -> dict[str, tuple[Any, Any]]:
    """Both encodings of the categorical columns, fitted on the training rows."""
    from sklearn.preprocessing import OrdinalEncoder

    categorical = [c for c in train if not pd.api.types.is_numeric_dtype(train[c])]
    encoder = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1)
    codes_train, codes_test = train.copy(), test.copy()
    codes_train[categorical] = encoder.fit_transform(_as_strings(train[categorical]))
    codes_test[categorical] = encoder.transform(_as_strings(test[categorical]))
    typed_train, typed_test = codes_train.copy(), codes_test.copy()
    for column in categorical:
        kinds = pd.CategoricalDtype(sorted(codes_train[column].unique()))
        typed_train[column] = codes_train[column].astype(kinds)
        typed_test[column] = codes_test[column].astype(kinds)
    return {"ordinal codes": (codes_train, codes_test),
            "pandas categories": (typed_train, typed_test)}


def _models() -> dict[str, Any]:
    import lightgbm as lgb
    from sklearn.ensemble import HistGradientBoostingClassifier as HGB

    hgb = {"max_leaf_nodes": 31, "min_samples_leaf": 20, "l2_regularization": 1.0,
           "early_stopping": False, "random_state": 0}
    return {
        "HGB defaults": lambda: HGB(random_state=0),
        "HGB lr 0.05, 400 iterations": lambda: HGB(learning_rate=0.05, max_iter=400, **hgb),
        "HGB lr 0.03, 700 iterations, max_features 0.5": lambda: HGB(
            learning_rate=0.03, max_iter=700, max_features=0.5, **hgb),
        "LightGBM defaults": lambda: lgb.LGBMClassifier(n_jobs=1, random_state=0, verbose=-1),
        "LightGBM catalog defaults": lambda: lgb.LGBMClassifier(
            n_estimators=200, learning_rate=0.05, num_leaves=31, min_child_samples=20,
            colsample_bytree=0.8, reg_lambda=1.0, n_jobs=1, random_state=0, verbose=-1),
        "LightGBM lr 0.02, 1500 trees, 15 leaves": lambda: lgb.LGBMClassifier(
            learning_rate=0.02, n_estimators=1500, num_leaves=15, colsample_bytree=0.5,
            min_child_samples=50, n_jobs=1, random_state=0, verbose=-1),
        "LightGBM FLAML's 120 s choice": lambda: lgb.LGBMClassifier(
            **FLAML_120S, n_jobs=1, random_state=0, verbose=-1),
    }


def _seed_spread(train: pd.DataFrame, test: pd.DataFrame, y_train: pd.Series,
                 y_test: pd.Series, typed: tuple[Any, Any], seeds: int) -> list[dict]:
    """FLAML's configuration, refitted per data handling and seed (see the docstring)."""
    import lightgbm as lgb
    from flaml.automl.data import DataTransformer
    from sklearn.metrics import roc_auc_score

    transformer = DataTransformer()
    flaml_train, _ = transformer.fit_transform(train.copy(), y_train.copy(), "classification")
    handlings = {"text2ml's pandas categories": typed,
                 "FLAML's DataTransformer": (flaml_train, transformer.transform(test.copy()))}
    rows = []
    for handling, (X_train, X_test) in handlings.items():
        for seed in [None, *range(seeds)]:
            model = lgb.LGBMClassifier(**FLAML_120S, n_jobs=1, random_state=seed, verbose=-1)
            auc = roc_auc_score(y_test, model.fit(X_train, y_train).predict_proba(X_test)[:, 1])
            rows.append({"data": handling, "random_state": seed,
                         "held_out_roc_auc": round(float(auc), 5)})
        scores = [r["held_out_roc_auc"] for r in rows if r["data"] == handling]
        print(f"FLAML's choice, {handling:28s} LightGBM's default seeds {scores[0]:.5f}, "
              f"random_state 0..{seeds - 1}: {min(scores[1:]):.5f}-{max(scores[1:]):.5f}",
              flush=True)
    return rows


def main() -> None:
    import argparse

    from sklearn.metrics import roc_auc_score

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=0,
                        help="also refit FLAML's choice with this many seeds (needs flaml)")
    args = parser.parse_args()
    if args.seeds:
        try:
            import flaml  # noqa: F401
        except ImportError:
            parser.error("--seeds refits FLAML's choice with FLAML's own data handling, which "
                         "needs FLAML: pip install -e '.[bench]'")

    task = next(t for t in load_tasks() if t["name"] == "adult")
    train, test = split(task, load_frame(task))
    target = task["target"]
    positive = positive_label(task, train[target])
    y_train, y_test = train[target] == positive, test[target] == positive
    encodings = _encodings(train.drop(columns=target), test.drop(columns=target))
    rows = []
    for model_name, make in _models().items():
        for encoding, (X_train, X_test) in encodings.items():
            began = time.perf_counter()
            model = make().fit(X_train, y_train)
            seconds = time.perf_counter() - began
            auc = roc_auc_score(y_test, model.predict_proba(X_test)[:, 1])
            rows.append({"model": model_name, "categories": encoding,
                         "held_out_roc_auc": round(float(auc), 4),
                         "fit_seconds": round(seconds, 1)})
            print(f"{model_name:48s} {encoding:18s} ROC AUC {auc:.4f}  ({seconds:.1f} s)",
                  flush=True)
    seeds = []
    if args.seeds:
        seeds = _seed_spread(train.drop(columns=target), test.drop(columns=target), y_train,
                             y_test, encodings["pandas categories"], args.seeds)
    run_id = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    out = HERE / "results" / f"adult-models-{run_id}.json"
    out.write_text(json.dumps({"run_id": run_id, "rows": rows, "seeds": seeds,
                               "train_rows": len(train), "test_rows": len(test)}, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
