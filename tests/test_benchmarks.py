"""The benchmark harness's own arithmetic: the shared scoring, the paired bootstrap, the
"text2ml ≥ FLAML" and "≥ 0.97 × FLAML" counts of the README's tables, the phases of a
first-pipeline record, subagging.py's averaging and overhead.py's timing of the audit hook.
The published figures come from these functions, so they are tested like the package; the
benchmark runs themselves are not (they need ../shared and minutes).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import (accuracy_score, f1_score, mean_absolute_error, roc_auc_score,
                             root_mean_squared_error)

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

import _common  # noqa: E402
import first_pipeline  # noqa: E402
import overhead  # noqa: E402
import run_benchmarks  # noqa: E402
import splits_table  # noqa: E402

BINARY = {"name": "b", "type": "binary", "metric": "f1"}
AUC = {"name": "a", "type": "binary", "metric": "roc_auc"}
MULTI = {"name": "m", "type": "multiclass", "metric": "f1"}
ACCURACY = {"name": "p", "type": "multiclass", "metric": "accuracy"}
MAE = {"name": "t", "type": "regression", "metric": "mae"}
RMSE = {"name": "h", "type": "regression", "metric": "rmse"}


def _labels(n: int, seed: int, classes=("no", "yes")) -> np.ndarray:
    return np.random.default_rng(seed).choice(list(classes), size=n)


def test_score_is_the_metric_each_task_names():
    y, pred = _labels(60, 0), _labels(60, 1)
    assert _common.score(BINARY, y, pred, pos_label="no") == pytest.approx(
        f1_score(y, pred, pos_label="no"))
    y3, pred3 = _labels(60, 2, "abc"), _labels(60, 3, "abc")
    assert _common.score(MULTI, y3, pred3) == pytest.approx(
        f1_score(y3, pred3, average="macro"))
    assert _common.score(ACCURACY, y3, pred3) == pytest.approx(accuracy_score(y3, pred3))
    values = np.random.default_rng(4).normal(size=(2, 40))
    assert _common.score(MAE, values[0], values[1]) == pytest.approx(
        mean_absolute_error(values[0], values[1]))
    assert _common.score(RMSE, values[0], values[1]) == pytest.approx(
        root_mean_squared_error(values[0], values[1]))


def test_roc_auc_reads_the_positive_class_column_wherever_it_is():
    y = _labels(80, 5)
    p_yes = np.random.default_rng(6).random(80)
    proba = np.column_stack([p_yes, 1 - p_yes])  # columns in the order ["yes", "no"]
    expected = roc_auc_score(y == "yes", p_yes)
    assert _common.score(AUC, y, proba=proba, classes=["yes", "no"],
                         pos_label="yes") == pytest.approx(expected)
    with pytest.raises(ValueError, match="positive class"):
        _common.score(AUC, y, proba=proba, classes=["yes", "no"], pos_label="maybe")
    with pytest.raises(ValueError, match="probabilities"):
        _common.score(AUC, y, y_pred=y, pos_label="yes")


def test_direction_and_ratio_to_flaml():
    assert _common.at_least_as_good("f1", 0.75, 0.74)
    assert not _common.at_least_as_good("f1", 0.74, 0.75)
    assert _common.at_least_as_good("mae", 0.68, 0.70)
    assert not _common.at_least_as_good("rmse", 4.4, 4.3)
    assert _common.at_least_as_good("mae", 0.7, None) is None
    # above 1 when text2ml is better, for error metrics too (the README's tips figure)
    assert _common.relative("f1", 0.75, 0.80) == pytest.approx(0.9375)
    assert _common.relative("mae", 0.7127, 0.6821) == pytest.approx(0.9571, abs=1e-4)
    assert _common.relative("rmse", 4.0, 5.0) == pytest.approx(1.25)
    with pytest.raises(ValueError, match="unknown metric"):
        _common.direction("r3")


def _prediction(y_pred=None, proba=None, classes=None) -> dict:
    return {"y_pred": y_pred, "proba": proba, "classes": classes}


@pytest.mark.parametrize("task", [BINARY, ACCURACY, MAE, RMSE, AUC], ids=lambda t: t["metric"])
def test_bootstrap_of_one_system_against_itself_finds_nothing(task):
    y = _labels(50, 7) if task["type"] != "regression" else np.arange(50.0)
    pred = _prediction(_labels(50, 8) if task["type"] != "regression" else y + 1.0,
                       np.column_stack([np.linspace(0, 1, 50), np.linspace(1, 0, 50)]),
                       ["no", "yes"])
    found = run_benchmarks.paired_bootstrap(task, y, pred, pred, "yes", n=200)
    assert found["diff"] == 0.0
    assert found["ci95"] == [0.0, 0.0]
    assert not found["significant"]


@pytest.mark.parametrize("task", [BINARY, ACCURACY, MAE, RMSE, AUC], ids=lambda t: t["metric"])
def test_bootstrap_agrees_with_the_score_and_separates_a_clear_winner(task):
    rng = np.random.default_rng(9)
    n = 300
    if task["type"] == "regression":
        y = rng.normal(size=n)
        good = _prediction(y + rng.normal(scale=0.1, size=n))
        bad = _prediction(y + rng.normal(scale=1.0, size=n))
    else:
        y = rng.choice(["no", "yes"], size=n)
        hit = rng.random(n) < 0.9  # the good system is right on 90 % of rows, the bad on 55
        flip = {"no": "yes", "yes": "no"}
        good_labels = np.where(hit, y, [flip[v] for v in y])
        bad_labels = np.where(rng.random(n) < 0.55, y, [flip[v] for v in y])
        p_good = np.where(y == "yes", 0.7, 0.3) + rng.normal(scale=0.1, size=n)
        p_bad = rng.random(n)
        good = _prediction(good_labels, np.column_stack([1 - p_good, p_good]), ["no", "yes"])
        bad = _prediction(bad_labels, np.column_stack([1 - p_bad, p_bad]), ["no", "yes"])
    found = run_benchmarks.paired_bootstrap(task, y, good, bad, "yes", n=300)
    # the difference is the shared scoring's (the bootstrap's fast metric must agree)
    score = lambda p: _common.score(task, y, p["y_pred"], p["proba"], p["classes"],  # noqa: E731
                                    pos_label="yes")
    assert found["diff"] == pytest.approx(score(good) - score(bad))
    assert found["significant"]
    lo, hi = found["ci95"]
    if _common.direction(task["metric"]) == "maximize":
        assert 0 < lo <= found["diff"] <= hi
    else:
        assert lo <= found["diff"] <= hi < 0
    assert found["n_boot"] == 300


def _record(task: str, system: str, score: float | None, *, run_id: str = "r1",
            status: str = "ok", vs: dict | None = None) -> dict:
    return {"task": task, "system": system, "budget": 30.0, "score": score,
            "status": status, "run_id": run_id, "wall_time": 29.0 if status == "ok" else 40.0,
            "within_budget": status == "ok",
            **({"vs": vs} if vs else {})}


def test_comparison_words_use_the_bootstrap_of_that_very_baseline():
    flaml = _record("t", "flaml", 0.70)
    assert run_benchmarks._cmp("mae", _record("t", "text2ml", 0.70), flaml) == "tie"
    assert run_benchmarks._cmp("mae", _record("t", "text2ml", 0.71), flaml) == "worse"
    n_s = {"flaml": {"significant": False}}
    assert run_benchmarks._cmp("mae", _record("t", "text2ml", 0.69, vs=n_s),
                               flaml) == "better (n.s.)"
    sig = {"flaml": {"significant": True}}
    assert run_benchmarks._cmp("mae", _record("t", "text2ml", 0.69, vs=sig), flaml) == "better"
    # a bootstrap against another run's FLAML record says nothing about this one
    other = {"flaml": {"significant": False, "run_id": "r0"}}
    assert run_benchmarks._cmp("mae", _record("t", "text2ml", 0.69, vs=other),
                               flaml) == "better"
    assert run_benchmarks._cmp("mae", None, flaml) == "—"


TASKS = [{"name": "titanic", "metric": "f1"}, {"name": "tips", "metric": "mae"},
         {"name": "boston", "metric": "rmse"}, {"name": "adult", "metric": "roc_auc"}]


def test_results_table_counts_wins_the_floor_and_failed_calls(monkeypatch):
    monkeypatch.setattr(run_benchmarks, "load_tasks", lambda: TASKS)
    monkeypatch.setattr(run_benchmarks, "spread", lambda budget: [])
    latest = {}
    for task, ours, theirs in [("titanic", 0.76, 0.74),   # better
                               ("tips", 0.7127, 0.6821),  # worse, 0.957 x: below the floor
                               ("boston", 4.30, 4.25)]:   # worse, 0.988 x
        latest[(task, 30.0, "text2ml")] = _record(task, "text2ml", ours)
        latest[(task, 30.0, "flaml")] = _record(task, "flaml", theirs)
    # a text2ml call that failed counts as neither at least as good nor above the floor
    latest[("adult", 30.0, "text2ml")] = _record("adult", "text2ml", None, status="timeout")
    latest[("adult", 30.0, "flaml")] = _record("adult", "flaml", 0.929)
    runs = [{"run_id": "r1", "started": "now", "command": "run_benchmarks.py",
             "machine": {"nproc": 2, "cpu_model": "cpu", "python": "3.11"}, "versions": {}}]
    text = run_benchmarks.render(latest, runs)
    assert ("**text2ml ≥ FLAML on 1 of 4 at 30 s**; "
            "text2ml ≥ 0.97 × FLAML on 2 of 4 (lowest 0.9571 ×, tips)") in text
    assert "| tips | mae ↓ | 0.7127 | 0.6821 |" in text
    assert "adult / text2ml: **timeout**" in text
    assert "| adult | roc_auc ↑ | timeout | 0.9290 |" in text
    assert "40.0 (over 1.1×)" in text
    assert "text2ml within 1.1 × budget on 3 of 4" in text


def test_splits_table_judges_the_target_only_on_complete_splits(monkeypatch):
    names = ["titanic", "tips", "boston"]
    monkeypatch.setattr(splits_table, "load_tasks", lambda: [{"name": n} for n in names])

    def records(tips_score: float) -> dict:
        out = {}
        for name, metric, ours, theirs in [("titanic", "f1", 0.76, 0.74),
                                           ("tips", "mae", tips_score, 0.6821),
                                           ("boston", "rmse", 4.2, 4.4)]:
            for system, score in (("text2ml", ours), ("flaml", theirs)):
                out[(name, system)] = {"metric": metric, "score": score}
        return out

    partial = records(0.70)
    del partial[("boston", "text2ml")]
    table = splits_table.render({1: records(0.70), 2: records(0.7127), 3: partial}, 30.0)
    rows = {line.split(" | ")[0]: line for line in table.splitlines()[2:]}
    assert rows["| 1"].endswith("| 2 of 3 | 0.9744 (tips) | yes |")  # 6 of 7 rule: n - 1
    assert rows["| 2"].endswith("| 2 of 3 | 0.9571 (tips) | no |")  # below the floor
    assert rows["| 3"].endswith("| 1 of 2 | 0.9744 (tips) | — |")  # a task not run


def test_first_pipeline_phases_read_the_engine_clock():
    # wall is the benchmark's clock, elapsed the engine's: they differ by 0.05 s here
    events = [
        {"kind": "pool_init_start", "wall": 0.06}, {"kind": "pool_init_end", "wall": 0.25},
        {"kind": "stage", "stage": "understand", "elapsed": 0.25, "wall": 0.30},
        {"kind": "spec", "wall": 0.35},
        {"kind": "stage", "stage": "generate:preprocess", "elapsed": 0.32, "wall": 0.37},
        {"kind": "candidate", "key": "model.svc", "status": "passed", "test_seconds": 0.1,
         "wall": 0.5},
        {"kind": "candidate", "key": "model.rf", "status": "testing", "test_seconds": None,
         "wall": 0.5},
        {"kind": "stage", "stage": "search", "elapsed": 1.0, "wall": 1.05},
        {"kind": "trial", "state": "fail", "best": None, "elapsed": 1.5, "wall": 1.55,
         "model": "svc"},
        {"kind": "trial", "state": "complete", "best": 0.8, "elapsed": 2.0, "wall": 2.05,
         "model": "logistic_regression", "cpu_tree": 3.1},
    ]
    phases = first_pipeline.phases({"events": events})
    assert phases["understand"] == 0.25 and phases["search"] == 1.0
    assert phases["spec"] == pytest.approx(0.30)
    assert phases["generate"] == 0.32
    assert phases["first_trial_event"] == 1.5
    assert phases["first_complete"] == phases["first_best"] == 2.0
    assert phases["trials_before_first_complete"] == 1
    assert phases["first_complete_model"] == "logistic_regression"
    assert phases["first_complete_cpu"] == 3.1
    assert phases["pool_init"] == [0.01, 0.2]
    assert phases["candidate_tests"] == [["model.svc", 0.1]]
    assert first_pipeline.phases({"events": []})["first_complete"] is None


def test_the_split_is_the_protocols():
    frame = pd.DataFrame({"x": range(40), "y": ["a", "b"] * 20})
    task = {"target": "y", "type": "binary"}
    train, test = _common.split(task, frame)
    again, _ = _common.split(task, frame)
    assert len(test) == 10 and train.index.equals(again.index)  # 25 %, seeded
    assert test["y"].value_counts().to_dict() == {"a": 5, "b": 5}  # stratified
    other, _ = _common.split(task, frame, seed=1)
    assert not other.index.equals(train.index)


def test_subagging_averages_fits_on_subsamples_and_keeps_dataframes():
    import subagging
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LinearRegression, LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    rng = np.random.default_rng(0)
    X = pd.DataFrame({"x": rng.normal(size=50), "c": rng.choice(["a", "b"], size=50)})
    y = pd.Series(3 * X["x"] + (X["c"] == "a") + rng.normal(scale=0.1, size=50))
    columns = ColumnTransformer([("c", OneHotEncoder(), ["c"])], remainder="passthrough")
    bagged = subagging.subagged(make_pipeline(columns, LinearRegression()), False).fit(X, y)
    assert len(bagged.fits_) == subagging.N_FITS
    fits = np.array([f.predict(X) for f in bagged.fits_])
    assert not np.allclose(fits[0], fits[1])  # different rows, different fits
    np.testing.assert_allclose(bagged.predict(X), fits.mean(axis=0))

    labels = pd.Series(np.where(X["x"] > 0, "yes", "no"))
    voted = subagging.subagged(make_pipeline(columns, LogisticRegression()), True).fit(X, labels)
    proba = np.mean([f.predict_proba(X) for f in voted.fits_], axis=0)
    np.testing.assert_allclose(voted.predict_proba(X), proba)
    assert list(voted.predict(X)) == list(voted.classes_[proba.argmax(axis=1)])
    assert voted.score(X, labels) > 0.8  # a classifier: score is accuracy


def test_overhead_times_the_hook_the_worker_installs(tmp_path):
    # _Guard.hook became a factory of the installed closure (cb9d625); calling it as the
    # hook itself broke overhead.py's profile until session 28.
    costs = overhead.hook_event_cost(tmp_path, calls=2000)
    assert set(costs) == {"other", "exec", "open_read", "getattr"}
    assert all(0 <= seconds < 0.01 for seconds in costs.values())
    assert costs["open_read"] > 0  # a watched event: the path is checked, ~1 us a call

