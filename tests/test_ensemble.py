"""Caruana ensemble selection (ensemble.py) and the ensemble program (_ensemble_program.py):
the fast fold metrics agree with scikit-learn, the selection blends only when it helps, the
program runs standalone and reproduces both the selection's score and the refitted
pipeline's predictions, and engine runs on small data pick an ensemble or say why not."""

from __future__ import annotations

import json
import os
import pickle
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pytest
from _programs import run_standalone
from sklearn import metrics as skm
from sklearn.datasets import load_diabetes, make_classification, make_friedman1

import text2ml_jupyter
from text2ml_jupyter._ensemble_program import assemble_ensemble_program
from text2ml_jupyter.candidates import Candidate
from text2ml_jupyter._refit import refit_program
from text2ml_jupyter._blend_selection import FoldScorer, blend_threshold, caruana, select
from text2ml_jupyter._prediction_store import PredictionStore, fold_outputs, pack_predictions
from text2ml_jupyter.ensemble import RESERVE_SHARE, threshold_of
from text2ml_jupyter.evaluation import Evaluation
from text2ml_jupyter.metrics import get_metric
from text2ml_jupyter.search import score_folds
from text2ml_jupyter.spec import TaskSpec


# --------------------------------------------------------------------------- fold metrics

def _folds(n: int, k: int) -> list[np.ndarray]:
    return np.array_split(np.random.default_rng(k).permutation(n), k)


@pytest.mark.parametrize("metric", ["rmse", "mae", "r2"])
def test_fold_scorer_matches_sklearn_regression(metric: str) -> None:
    rng = np.random.default_rng(0)
    y = rng.normal(size=90)
    pred = y + rng.normal(scale=0.5, size=90)
    sizes = [30, 30, 30]
    scorer = FoldScorer(metric, "regression", y, sizes)
    fn = {"rmse": skm.root_mean_squared_error, "mae": skm.mean_absolute_error,
          "r2": skm.r2_score}[metric]
    expected = np.mean([fn(y[i:i + 30], pred[i:i + 30]) for i in (0, 30, 60)])
    assert scorer(pred[:, None]) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("metric", ["accuracy", "balanced_accuracy", "f1", "roc_auc",
                                    "log_loss"])
@pytest.mark.parametrize("k", [2, 3])
def test_fold_scorer_matches_sklearn_classification(metric: str, k: int) -> None:
    rng = np.random.default_rng(k)
    classes = ["ant", "bee", "cat"][:k]
    n = 120
    y = rng.choice(classes, n)
    logits = rng.normal(size=(n, k)) + 1.5 * (y[:, None] == np.array(classes))
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    sizes = [40, 40, 40]
    pos = "bee" if k == 2 else None
    scorer = FoldScorer(metric, "binary" if k == 2 else "multiclass", y, sizes, classes, pos)
    thresholds = [None, 0.3] if k == 2 and metric in ("accuracy", "f1",
                                                     "balanced_accuracy") else [None]
    for threshold in thresholds:
        values = []
        for s in (0, 40, 80):
            yt, p = y[s:s + 40], proba[s:s + 40]
            if threshold is None:
                yp = np.asarray(classes)[p.argmax(axis=1)]
            else:
                yp = np.where(p[:, 1] >= threshold, "bee", "ant")
            if metric == "accuracy":
                values.append(skm.accuracy_score(yt, yp))
            elif metric == "balanced_accuracy":
                values.append(skm.balanced_accuracy_score(yt, yp))
            elif metric == "f1":
                values.append(skm.f1_score(yt, yp, pos_label="bee") if k == 2
                              else skm.f1_score(yt, yp, average="macro"))
            elif metric == "roc_auc":
                values.append(skm.roc_auc_score(yt, p[:, 1]) if k == 2 else
                              skm.roc_auc_score(yt, p, multi_class="ovr", labels=classes))
            else:
                values.append(skm.log_loss(yt, p, labels=classes))
        assert scorer(proba, threshold) == pytest.approx(float(np.mean(values)), abs=1e-9)


# --------------------------------------------------------------------------- selection

def _payload(outputs: np.ndarray, folds: list[np.ndarray],
             classes: list[Any] | None = None) -> dict[str, Any]:
    """What a worker sends: per fold (positions, outputs, classes), packed."""
    out = outputs if outputs.ndim == 2 else outputs[:, None]
    return pack_predictions([(f, out[f].astype(np.float32), classes) for f in folds])


def _store(direction: str, trials: list[tuple[int, float, str, np.ndarray]],
           folds: list[np.ndarray], classes: list[Any] | None = None) -> PredictionStore:
    store = PredictionStore(direction)
    for number, value, model, outputs in trials:
        store.add(number, value, {"model": model, "preprocess": "p", "features": "f",
                                  "postprocess": "none", f"model.{model}.n": number},
                  _payload(outputs, folds, classes))
    return store


def _cv(y: np.ndarray, pred: np.ndarray, folds: list[np.ndarray]) -> float:
    return float(np.mean([np.sqrt(np.mean((pred[f] - y[f]) ** 2)) for f in folds]))


def test_selection_blends_independent_errors() -> None:
    rng = np.random.default_rng(0)
    n = 300
    y = rng.normal(size=n) * 10
    folds = _folds(n, 5)
    a = y + rng.normal(scale=3, size=n)  # two models as good, with independent errors
    b = y + rng.normal(scale=3, size=n)
    c = y + rng.normal(scale=6, size=n)
    trials = sorted([(0, _cv(y, a, folds), "forest", a), (1, _cv(y, b, folds), "ridge", b),
                     (2, _cv(y, c, folds), "knn", c)], key=lambda t: t[1])
    store = _store("minimize", trials, folds)
    best = trials[0]
    picked = select(store.entries(), y, metric="rmse", task_type="regression",
                    best=(best[0], best[1]))
    weights = dict(picked.members)
    assert set(weights) >= {0, 1}, picked
    assert picked.members[0][0] == best[0]  # best trial first
    assert picked.score < best[1] - 0.3  # averaging two independent errors: ~ 3 / sqrt(2)
    blend = sum(w * {0: a, 1: b, 2: c}[t] for t, w in picked.members) / sum(weights.values())
    assert picked.score == pytest.approx(_cv(y, blend, folds), rel=1e-5)


def test_selection_keeps_the_single_best_when_blending_does_not_help() -> None:
    rng = np.random.default_rng(1)
    n = 300
    y = rng.normal(size=n) * 10
    folds = _folds(n, 5)
    noise = rng.normal(size=n)
    a = y + 1.0 * noise  # the others make the same errors, only larger
    b = y + 2.0 * noise
    c = y + 3.0 * noise + 0.5
    trials = [(4, _cv(y, a, folds), "forest", a), (7, _cv(y, b, folds), "ridge", b),
              (9, _cv(y, c, folds), "knn", c)]
    store = _store("minimize", trials, folds)
    picked = select(store.entries(), y, metric="rmse", task_type="regression",
                    best=(4, trials[0][1]))
    assert picked.members == [(4, 1)]
    assert picked.score == trials[0][1]


def test_selection_with_string_labels_and_thresholds() -> None:
    rng = np.random.default_rng(2)
    n = 400
    classes = ["no", "yes"]
    y = np.where(rng.random(n) < 0.3, "yes", "no")
    folds = _folds(n, 5)
    signal = (y == "yes").astype(float)

    def member(scale: float) -> np.ndarray:
        p = 1 / (1 + np.exp(-(3 * signal - 1.5 + rng.normal(scale=scale, size=n))))
        return np.column_stack([1 - p, p])

    outs = [member(1.5), member(1.5), member(1.5)]
    thresholds = [0.35, None, 0.45]
    scorer = FoldScorer("f1", "binary", y[np.concatenate(folds)], [len(f) for f in folds],
                        classes, "yes")
    singles = [scorer(o[np.concatenate(folds)], t) for o, t in zip(outs, thresholds, strict=True)]
    order = np.argsort(singles)[::-1]
    store = PredictionStore("maximize")
    for i in order:
        store.add(int(i), singles[i], {"model": f"m{i}", "postprocess": "t"},
                  _payload(outs[i], folds, classes))
    entries = store.entries()
    for e in entries:
        e.threshold = thresholds[e.number]
    best = (int(order[0]), singles[order[0]])
    picked = select(entries, y, metric="f1", task_type="binary", pos_label="yes", best=best)
    assert len(picked.members) >= 2 and picked.score > best[1]
    # the blend's score: the members' weighted mean probability against their weighted
    # mean threshold (0.5 for the member without one)
    numbers = [t for t, _ in picked.members]
    weights = [w for _, w in picked.members]
    blend = sum(w * outs[t] for t, w in picked.members) / sum(weights)
    threshold = blend_threshold([thresholds[t] for t in numbers], weights)
    assert picked.score == pytest.approx(scorer(blend[np.concatenate(folds)], threshold),
                                         abs=1e-6)


def test_caruana_is_greedy_with_replacement() -> None:
    y = np.array([0.0, 0.0, 0.0, 0.0])
    outputs = [np.array([[1.0], [1.0], [1.0], [1.0]]), np.array([[-3.0], [-3.0], [-3.0],
                                                                  [-3.0]])]
    scorer = FoldScorer("mae", "regression", y, [2, 2])
    weights, score = caruana(outputs, scorer, maximize=False, steps=10)
    assert weights == {0: 3, 1: 1} and score == 0.0  # (3 * 1 - 3) / 4 = 0


def test_caruana_keeps_the_members_refits_within_the_time_left() -> None:
    y = np.zeros(4)
    outputs = [np.full((4, 1), 1.0), np.full((4, 1), -1.0), np.full((4, 1), -1.2)]
    scorer = FoldScorer("mae", "regression", y, [4])  # one fold: a holdout split
    assert caruana(outputs, scorer, maximize=False, steps=4) == ({0: 1, 1: 1}, 0.0)
    # member 1 refits too slowly for the 5 s left: member 2 replaces it; with 2 s, alone
    weights, score = caruana(outputs, scorer, maximize=False, steps=4,
                             costs=[2.0, 9.0, 3.0], max_cost=5.0)
    assert weights == {0: 1, 2: 1} and score == pytest.approx(0.1)
    weights, score = caruana(outputs, scorer, maximize=False, steps=4,
                             costs=[2.0, 9.0, 3.0], max_cost=2.0)
    assert weights == {0: 1} and score == 1.0


def test_caruana_breaks_ties_by_the_tiebreak() -> None:
    y = np.array([0, 0, 1, 1])
    sure = np.array([[0.9, 0.1], [0.9, 0.1], [0.1, 0.9], [0.1, 0.9]])
    unsure = np.array([[0.6, 0.4], [0.6, 0.4], [0.4, 0.6], [0.4, 0.6]])
    accuracy = FoldScorer("accuracy", "binary", y, [4], [0, 1], 1)
    log_loss = FoldScorer("log_loss", "binary", y, [4], [0, 1], 1)
    # both are right on every row: without a tiebreak the first (better-ranked) one stays
    assert caruana([unsure, sure], accuracy, maximize=True, steps=3) == ({0: 1}, 1.0)
    # with the log loss, the surer one is chosen, and adding the unsure one never helps
    weights, score = caruana([unsure, sure], accuracy, maximize=True, steps=3,
                             tiebreak=log_loss)
    assert weights == {1: 1} and score == 1.0


def _tied_trials() -> tuple[np.ndarray, list[np.ndarray], list[np.ndarray], list[Any]]:
    """Three classifiers right on all 200 rows: trial 0 unsure everywhere (p = 0.6 for the
    right class), trials 1 and 2 sure on alternate rows (0.95) and unsure on the others
    (0.55), so that their blend (0.75 everywhere) is surer than either."""
    n = 200
    y = np.where(np.arange(n) % 4 < 2, "a", "b")
    alternate = np.arange(n) % 2 == 0
    outs = []
    for right in (np.full(n, 0.6), np.where(alternate, 0.95, 0.55),
                  np.where(alternate, 0.55, 0.95)):
        p_b = np.where(y == "b", right, 1 - right)
        outs.append(np.column_stack([1 - p_b, p_b]))
    return y, outs, _folds(n, 5), ["a", "b"]


def _tied_store(outs: list[np.ndarray], folds: list[np.ndarray], classes: list[Any]
                ) -> PredictionStore:
    store = PredictionStore("maximize")
    for i, out in enumerate(outs):  # every trial has CV accuracy 1.0; trial 0 ranks first
        store.add(i, 1.0, {"model": f"m{i}", "postprocess": "none"},
                  _payload(out, folds, classes))
    return store


def test_selection_prefers_the_surer_blend_when_accuracy_ties() -> None:
    y, outs, folds, classes = _tied_trials()
    entries = _tied_store(outs, folds, classes).entries()
    picked = select(entries, y, metric="accuracy", task_type="binary", pos_label="b",
                    best=(1, 1.0))
    assert picked.tied and picked.score == 1.0
    assert sorted(t for t, _ in picked.members) == [1, 2]
    # ROC AUC is not a count of hits: a tie there keeps the best trial, as before
    picked = select(entries, y, metric="roc_auc", task_type="binary", pos_label="b",
                    best=(1, 1.0))
    assert picked.members == [(1, 1)] and not picked.tied


def test_the_surest_of_tied_trials_counts_as_the_best() -> None:
    import text2ml_jupyter.ensemble as ensemble

    y, outs, folds, classes = _tied_trials()
    store = _tied_store(outs, folds, classes)
    trials = [SimpleNamespace(number=i, value=1.0) for i in range(3)]
    trials.append(SimpleNamespace(number=3, value=0.9))
    spec = SimpleNamespace(task_type="binary", metric="accuracy", pos_label="b")
    notes: list[str] = []
    ordered = ensemble.surest_first(store, trials, spec, lambda: y, notes)
    assert [t.number for t in ordered] == [1, 2, 0, 3]  # 1 and 2 tie on log loss
    assert "3 trials tie the best CV accuracy" in notes[0] and "trial 1 is the surest" \
        in notes[0]
    # a metric that does not count hits, or regression: the order stays
    for changed in ({"metric": "roc_auc"}, {"task_type": "regression", "metric": "rmse"}):
        kept = ensemble.surest_first(store, trials, SimpleNamespace(**{**vars(spec),
                                                                       **changed}),
                                     lambda: y, [])
        assert kept is trials


def test_selection_on_a_holdout_split_within_the_time_left() -> None:
    rng = np.random.default_rng(3)
    n = 400
    y = rng.normal(size=n) * 10
    holdout = [rng.permutation(n)[:100]]  # the one validation fold of a holdout split
    a, b, c = (y + rng.normal(scale=3, size=n) for _ in range(3))
    trials = sorted([(0, _cv(y, a, holdout), "hgb", a), (1, _cv(y, b, holdout), "lgbm", b),
                     (2, _cv(y, c, holdout), "forest", c)], key=lambda t: t[1])
    store = _store("minimize", trials, holdout)
    best = (trials[0][0], trials[0][1])
    picked = select(store.entries(), y, metric="rmse", task_type="regression", best=best)
    assert len(picked.members) == 3 and picked.score < best[1]
    slow = trials[2][0]
    picked = select(store.entries(), y, metric="rmse", task_type="regression", best=best,
                    seconds=lambda number: 50.0 if number == slow else 1.0, max_seconds=10.0)
    assert {t for t, _ in picked.members} == {trials[0][0], trials[1][0]}
    picked = select(store.entries(), y, metric="rmse", task_type="regression", best=best,
                    seconds=lambda number: 6.0, max_seconds=10.0)
    assert picked.members == [(best[0], 1)] and picked.score == best[1]


def test_trials_keep_predictions_unless_they_score_on_a_sample() -> None:
    from text2ml_jupyter._prediction_store import enabled

    assert enabled(Evaluation(n_splits=5, stratified=True, n_repeats=3), 800, 2)
    assert enabled(Evaluation(n_splits=3, stratified=False), 20_000, 1)
    assert enabled(Evaluation(n_splits=1, stratified=True, holdout=True), 125_000, 2)
    assert not enabled(Evaluation(n_splits=1, stratified=True, holdout=True,
                                  sample_rows=125_000), 1_000_000, 2)
    # 100 classes on 20,000 rows: 8 MB per trial, too much to keep 30 of in the caller
    assert not enabled(Evaluation(n_splits=3, stratified=True), 20_000, 100)
    assert enabled(Evaluation(n_splits=5, stratified=True, n_repeats=3), 2_000, 100)


def test_store_keeps_the_best_and_each_model_best() -> None:
    folds = _folds(20, 2)
    store = PredictionStore("maximize", keep=3)
    for i in range(10):
        store.add(i, float(i), {"model": "a" if i else "b"}, _payload(np.zeros(20), folds))
    store.add(99, 5.5, {"model": "c"}, {"kind": "labels"})  # no probabilities: not kept
    assert [e.number for e in store.entries()] == [9, 8, 7, 0]


def test_the_store_saves_what_it_keeps_and_a_resume_takes_it_back(tmp_path: Path) -> None:
    """The kept trials' predictions are also files in the run folder (private, plain
    arrays); a trial that drops out of the kept ones loses its file; ``restore`` takes back
    the files of the study's trials, with the study's values, and skips what it cannot
    read."""
    import optuna

    folder = tmp_path / "predictions"
    folds = _folds(20, 2)
    rng = np.random.default_rng(0)
    outputs = {i: rng.normal(size=(20, 3)) for i in range(6)}
    store = PredictionStore("maximize", keep=3, folder=folder)
    for i in range(6):
        store.add(i, float(i), {"model": "a" if i else "b"},
                  _payload(outputs[i], folds, ["x", "y", "z"]))
    assert sorted(p.name for p in folder.iterdir()) == ["0.npz", "3.npz", "4.npz", "5.npz"]
    assert all(oct(p.stat().st_mode & 0o777) == "0o600" for p in folder.iterdir())
    (folder / "4.npz").write_bytes(b"cut short")  # damaged: that trial is no member
    (folder / "notes.npz").write_text("not ours")

    trials = [optuna.trial.create_trial(params={}, distributions={}, value=v)
              for v in (1.0, 2.0, 3.0, 4.0, 5.0, 6.0)]
    for number, trial in enumerate(trials):
        trial.number = number  # as the study numbers them
    again = PredictionStore("maximize", keep=3, folder=folder)
    assert again.restore(trials[1:]) == 2  # trials 3 and 5 (4 is damaged, 0 not given)
    restored = {e.number: e for e in again.entries()}
    assert sorted(restored) == [3, 5] and restored[5].value == 6.0
    assert again.restore(trials[:1]) == 1  # 0: what else the study holds
    assert {e.number: e for e in again.entries()}[0].classes == ["x", "y", "z"]
    original = {e.number: e for e in store.entries()}
    np.testing.assert_array_equal(restored[5].rows, original[5].rows)
    np.testing.assert_array_equal(restored[5].values, original[5].values)
    assert PredictionStore("maximize").restore(trials) == 0  # no folder: nothing saved


def test_score_folds_returns_the_validation_predictions() -> None:
    from sklearn.linear_model import LogisticRegression

    X, y = make_classification(n_samples=60, random_state=0)
    X, y = pd.DataFrame(X), pd.Series(np.where(y == 1, "yes", "no"))
    splits = list(Evaluation(n_splits=3, stratified=True, n_repeats=2).splitter().split(X, y))
    task = SimpleNamespace(metric="accuracy", task_type="binary", pos_label="yes")
    out = score_folds(LogisticRegression(), X, y, splits, task, lambda v, f: False,
                      predictions=True)
    oof = out["predictions"]
    assert oof["classes"] == ["no", "yes"] and oof["sizes"] == [20] * 6
    rows = np.frombuffer(oof["rows"], dtype=np.int32)
    values = np.frombuffer(oof["values"], dtype=np.float32).reshape(-1, 2)
    assert np.array_equal(rows, np.concatenate([v for _, v in splits]))
    scorer = FoldScorer("accuracy", "binary", y.to_numpy()[rows], oof["sizes"],
                        oof["classes"], "yes")
    assert scorer(values.astype(float)) == pytest.approx(out["score"], abs=1e-12)
    assert len(oof["values"]) + len(oof["rows"]) < 2_000  # small: bytes, float32, int32
    assert "predictions" not in score_folds(LogisticRegression(), X, y, splits, task,
                                            lambda v, f: False)
    none = fold_outputs(SimpleNamespace(predict=lambda X: X), X.iloc[:3], [0, 1, 2], "binary")
    assert none[1] is None and pack_predictions([none]) == {"kind": "labels"}


@pytest.mark.parametrize("metric", ["rmse", "mae", "r2"])
def test_score_folds_predicts_a_regression_fold_once(metric: str) -> None:
    from sklearn.linear_model import Ridge
    from sklearn.model_selection import cross_val_score

    calls = []

    class CountedRidge(Ridge):
        def predict(self, X):
            calls.append(len(X))
            return super().predict(X)

    X, y = make_friedman1(n_samples=80, random_state=0)
    X, y = pd.DataFrame(X), pd.Series(y)
    evaluation = Evaluation(n_splits=4, stratified=False, n_repeats=2)
    splits = list(evaluation.splitter().split(X, y))
    task = SimpleNamespace(metric=metric, task_type="regression", pos_label=None)
    kept = score_folds(CountedRidge(), X, y, splits, task, lambda v, f: False,
                       predictions=True)
    assert calls == [20] * 8  # one predict per fold serves the score and the kept outputs
    plain = score_folds(Ridge(), X, y, splits, task, lambda v, f: False)
    expected = get_metric(metric).from_scorer("regression", float(np.mean(cross_val_score(
        Ridge(), X, y, cv=evaluation.splitter(),
        scoring=get_metric(metric).scorer("regression")))))
    assert kept["score"] == plain["score"] == pytest.approx(expected, abs=1e-12)
    oof = kept["predictions"]
    values = np.frombuffer(oof["values"], dtype=np.float32)
    rows = np.frombuffer(oof["rows"], dtype=np.int32)
    first = Ridge().fit(X.iloc[splits[0][0]], y.iloc[splits[0][0]]).predict(X.iloc[splits[0][1]])
    np.testing.assert_allclose(values[:20], first, rtol=1e-6)
    assert np.array_equal(rows, np.concatenate([v for _, v in splits]))


@pytest.mark.parametrize(("metric", "model"), [
    *[(m, "logistic") for m in ("accuracy", "balanced_accuracy", "f1", "roc_auc", "log_loss")],
    *[(m, "linear_svc") for m in ("accuracy", "f1", "roc_auc")],  # no predict_proba
])
def test_score_folds_transforms_a_classification_fold_once(metric: str, model: str) -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import LinearSVC

    calls = []

    class CountedScaler(StandardScaler):
        def transform(self, X, copy=None):
            calls.append(len(X))
            return super().transform(X, copy=copy)

    def pipeline(scaler):
        last = LogisticRegression() if model == "logistic" else LinearSVC(random_state=0)
        return make_pipeline(scaler, "passthrough", last)

    X, y = make_classification(n_samples=90, random_state=1)
    X, y = pd.DataFrame(X), pd.Series(np.where(y == 1, "yes", "no"))
    evaluation = Evaluation(n_splits=3, stratified=True, n_repeats=2)
    splits = list(evaluation.splitter().split(X, y))
    task = SimpleNamespace(metric=metric, task_type="binary", pos_label="yes")
    kept = score_folds(pipeline(CountedScaler()), X, y, splits, task, lambda v, f: False,
                       predictions=True)
    # the validation rows (30 of 90) pass through the transforms once per fold
    assert [n for n in calls if n == 30] == [30] * 6
    plain = score_folds(pipeline(StandardScaler()), X, y, splits, task, lambda v, f: False)
    expected = get_metric(metric).from_scorer("binary", float(np.mean(cross_val_score(
        pipeline(StandardScaler()), X, y, cv=evaluation.splitter(),
        scoring=get_metric(metric).scorer("binary", "yes")))))
    assert kept["score"] == plain["score"] == pytest.approx(expected, abs=1e-12)
    oof = kept["predictions"]
    if model == "linear_svc":  # no probabilities to blend: not an ensemble member
        assert oof == {"kind": "labels"}
        return
    values = np.frombuffer(oof["values"], dtype=np.float32).reshape(-1, 2)
    train, valid = splits[0]
    first = pipeline(StandardScaler()).fit(X.iloc[train], y.iloc[train])
    np.testing.assert_allclose(values[:30], first.predict_proba(X.iloc[valid]), rtol=1e-6)
    assert oof["classes"] == ["no", "yes"]


def test_a_classifier_that_is_not_a_pipeline_is_scored_as_it_is() -> None:
    from sklearn.linear_model import LogisticRegression

    from text2ml_jupyter._predicted import Pretransformed, pretransformed

    X, y = make_classification(n_samples=40, random_state=0)
    fitted = LogisticRegression().fit(X, y)
    assert pretransformed(fitted, X) is fitted
    stand_in = pretransformed(_around(fitted), X[:10])
    assert isinstance(stand_in, Pretransformed)
    np.testing.assert_array_equal(stand_in.predict(X[:10]), fitted.predict(X[:10]))
    with pytest.raises(ValueError, match="10 rows were prepared, not these 5"):
        stand_in.predict_proba(X[:5])


def _around(fitted: Any) -> Any:
    from sklearn.pipeline import Pipeline

    return Pipeline([("features", "passthrough"), ("model", fitted)])


# --------------------------------------------------------------------------- the program

PREPROCESS = '''\
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

SCALE = True


def build_preprocess(trial, columns):
    numeric = make_pipeline(SimpleImputer(strategy=trial.suggest_categorical(
        "impute", ["median", "mean"])), StandardScaler() if SCALE else "passthrough")
    return ColumnTransformer([
        ("num", numeric, columns["numeric"]),
        ("cat", OneHotEncoder(handle_unknown="ignore"), columns["categorical"]),
    ])
'''

FEATURES = 'def build_features(trial):\n    return "passthrough"\n'

FOREST = '''\
from sklearn.ensemble import {cls}


def build_model(trial):
    return {cls}(n_estimators=trial.suggest_int("n", 10, 40), random_state=0)
'''

LINEAR = '''\
from sklearn.linear_model import {cls}


def build_model(trial):
    return {cls}({arg}=trial.suggest_float("c", 0.01, 10.0, log=True))
'''

NONE = "def build_postprocess(trial, pipeline):\n    return pipeline\n"

THRESHOLD = '''\
from sklearn.model_selection import FixedThresholdClassifier


def build_postprocess(trial, pipeline):
    return FixedThresholdClassifier(pipeline, threshold=trial.suggest_float(
        "threshold", 0.1, 0.9), pos_label="yes", response_method="predict_proba")
'''


def _data(kind: str) -> tuple[pd.DataFrame, TaskSpec]:
    if kind == "regression":
        df = load_diabetes(as_frame=True).frame.iloc[:240].copy()
        df["sex"] = np.where(df["sex"] > 0, "m", "f")
        roles = {c: "numeric" for c in df.columns}
        roles.update({"sex": "categorical", "target": "target"})
        return df, TaskSpec(text="Predict progression.", target="target",
                            task_type="regression", metric="rmse", direction="minimize",
                            columns=roles, n_rows=len(df))
    X, y = make_classification(n_samples=240, n_features=4, n_informative=3, n_redundant=0,
                               weights=[0.7], flip_y=0.1, random_state=0)
    df = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    df["shade"] = np.random.default_rng(0).choice(["dark", "light"], len(df))
    df["label"] = np.where(y == 1, "yes", "no").astype(object)
    roles = {"a": "numeric", "b": "numeric", "c": "numeric", "d": "numeric",
             "shade": "categorical", "label": "target"}
    return df, TaskSpec(text="Predict the label, F1.", target="label", task_type="binary",
                        metric="f1", direction="maximize", columns=roles, pos_label="yes",
                        classes=["no", "yes"], n_rows=len(df))


def _members(kind: str) -> list[tuple[dict[str, Any], int, Any]]:
    pre = Candidate("preprocess", "impute_scale", PREPROCESS, "Impute and scale.")
    feat = Candidate("features", "passthrough", FEATURES, "No feature step")
    none = Candidate("postprocess", "none", NONE, "as is")
    if kind == "regression":
        models = [(Candidate("model", "forest", FOREST.format(cls="RandomForestRegressor"),
                             "random forest"), {"n": 25}, none, {}),
                  (Candidate("model", "ridge", LINEAR.format(cls="Ridge", arg="alpha"),
                             "ridge"), {"c": 0.5}, none, {})]
    else:
        thr = Candidate("postprocess", "decision_threshold", THRESHOLD, "tuned threshold")
        models = [(Candidate("model", "forest", FOREST.format(cls="RandomForestClassifier"),
                             "random forest"), {"n": 25}, thr, {"threshold": 0.35}),
                  (Candidate("model", "logistic", LINEAR.format(cls="LogisticRegression",
                                                                arg="C"), "logistic"),
                   {"c": 0.5}, none, {}),
                  (Candidate("model", "logistic", LINEAR.format(cls="LogisticRegression",
                                                                arg="C"), "logistic"),
                   {"c": 2.0}, thr, {"threshold": 0.4})]
    out = []
    for i, (model, mp, post, pp) in enumerate(models):
        chosen = {"preprocess": (pre, {"impute": "median" if i else "mean"}),
                  "features": (feat, {}), "model": (model, mp), "postprocess": (post, pp)}
        params = {slot: c.name for slot, (c, _) in chosen.items()}
        trial = SimpleNamespace(number=10 + i, value=0.5 + i, params=params)
        out.append((chosen, 2 if i == 0 else 1, trial))
    return out


def _oof(chosen: dict[str, Any], spec: TaskSpec, X: pd.DataFrame, y: pd.Series,
         splits: list[Any]) -> np.ndarray:
    """A member's out-of-fold outputs, as the search's score_folds records them."""
    import optuna

    from text2ml_jupyter._building import build_parts

    chain = [(slot, c.name, c.source, params) for slot, (c, params) in chosen.items()]
    parts = build_parts(chain, lambda s, n, params: optuna.trial.FixedTrial(params),
                        spec.columns_by_role())
    out = score_folds(parts["postprocess"], X, y, splits, spec, lambda v, f: False,
                      predictions=True)["predictions"]
    return np.frombuffer(out["values"], dtype=np.float32).reshape(-1, out["width"])


@pytest.mark.parametrize("kind", ["regression", "binary"])
def test_ensemble_program_runs_standalone_and_reproduces_the_refit(kind: str,
                                                                   tmp_path: Path) -> None:
    data, spec = _data(kind)
    evaluation = Evaluation(n_splits=4, stratified=kind == "binary", seed=3, n_repeats=2)
    members = _members(kind)
    program = assemble_ensemble_program(spec, members, evaluation=evaluation,
                                        data_name="table", run_id="run-1", score=0.5)
    code = program.code
    # readable: one cell per member, builders renamed, imports once, the vote
    roles = [c.role for c in program.cells]
    assert roles == ["summary", "setup", *["member"] * len(members), "pipeline", "predict"]
    for i in range(1, len(members) + 1):
        assert f"def build_model_{i}():" in code and f"def build_preprocess_{i}(" in code
        assert f"SCALE_{i} = True" in code  # module-level names get the member's suffix
    assert code.count("from sklearn.impute import SimpleImputer") == 1
    assert "text2ml_jupyter" not in code
    if kind == "regression":
        assert "VotingRegressor(" in code and "weights=[2, 1]" in code
        assert "FixedThresholdClassifier" not in code
    else:
        assert 'voting="soft"' in code and "weights=[2, 1, 1]" in code
        # the members' thresholds left them: one threshold on the vote, their weighted mean
        assert code.count("FixedThresholdClassifier(") == 1
        expected = blend_threshold([0.35, None, 0.4], [2, 1, 1])
        assert f"threshold={expected!r}" in code
        assert "def build_postprocess_1" not in code and "def build_postprocess_2" in code

    # the program's own CV equals the ensemble's score on the members' out-of-fold outputs
    rows = data[spec.target].notna()
    X, y = data.loc[rows, spec.features], data.loc[rows, spec.target]
    splits = list(evaluation.splitter().split(X, y))
    outs = [_oof(chosen, spec, X, y, splits).astype(float) for chosen, _, _ in members]
    weights = [w for _, w, _ in members]
    blend = sum(w * o for w, o in zip(weights, outs, strict=True)) / sum(weights)
    positions = np.concatenate([v for _, v in splits])
    scorer = FoldScorer(spec.metric, spec.task_type, y.to_numpy()[positions],
                        [len(v) for _, v in splits], spec.classes, spec.pos_label)
    thresholds = [threshold_of(*c["postprocess"]) for c, _, _ in members] \
        if kind == "binary" else [None] * len(members)
    expected_score = scorer(blend, blend_threshold(thresholds, weights))

    report, lines = run_standalone(code, data, tmp_path, data_name="table", report="""\
        p = namespace["pipeline"]
        X = namespace["X"]
        out = {"scores": [float(s) for s in namespace["scores"]],
               "pred": [str(v) for v in p.predict(X)]}
        if hasattr(p, "predict_proba"):
            out["proba"] = p.predict_proba(X).tolist()
        print(json.dumps(out))
        """)
    metric = get_metric(spec.metric)
    printed = metric.from_scorer(spec.task_type, float(np.mean(report["scores"])))
    assert printed == pytest.approx(expected_score, rel=1e-5)
    assert any(re.match(rf"Validation {re.escape(spec.metric_label())}: {printed:.4f}", line)
               for line in lines)

    # the engine's refit (worker code) builds the same pipeline: the same predictions
    class Context:
        @staticmethod
        def load(path: str) -> pd.DataFrame:
            return data

    refitted = refit_program(Context(), data_path="x", build_code=program.build_code,
                             data_name="table", pipeline_name="pipeline")
    assert refitted["settings"] == {}  # no early-stopped boosting to fix
    fitted = pickle.loads(refitted["pipeline"])
    assert [str(v) for v in fitted.predict(X)] == report["pred"]
    if kind == "binary":
        assert list(fitted.classes_) == ["no", "yes"]
        np.testing.assert_allclose(fitted.predict_proba(X), report["proba"], atol=1e-12)
        assert set(report["pred"]) <= {"no", "yes"}
    assert [m["trial"] for m in program.members] == [10, 11, 12][:len(members)]


def test_ensemble_program_renames_clashing_imports_per_member() -> None:
    data, spec = _data("regression")
    members = _members("regression")
    alias = Candidate("features", "np_alias", "import numpy as pd\n\n\ndef build_features("
                      "trial):\n    return 'passthrough' if pd.pi > 3 else None\n", "alias")
    chosen = dict(members[1][0])
    chosen["features"] = (alias, {})
    members[1] = (chosen, 1, members[1][2])
    program = assemble_ensemble_program(spec, members, evaluation=Evaluation(
        n_splits=3, stratified=False, n_repeats=2))
    compile(program.code, "program", "exec")
    namespace: dict[str, Any] = {"df": data}
    exec(compile(program.build_code, "program", "exec"), namespace)  # noqa: S102
    assert namespace["pipeline"].fit(namespace["X"], namespace["y"]).predict(
        namespace["X"]).shape == (len(data),)


# --------------------------------------------------------------------------- end to end

def _run_program(result: Any, data: pd.DataFrame, tmp_path: Path) -> dict[str, Any]:
    data.to_pickle(tmp_path / "data.pkl")
    script = (
        "import json, sys\nimport pandas as pd\n"
        f"{result.data_name} = pd.read_pickle(sys.argv[1])\n"
        "exec(compile(sys.argv[2], 'program', 'exec'))\n"
        f"p = {result.pipeline_name}\n"
        "print(json.dumps({'scores': [float(s) for s in scores], "
        "'pred': [str(v) for v in p.predict(X.head(25))]}))\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = subprocess.run([sys.executable, "-I", "-c", script, str(tmp_path / "data.pkl"),
                          result.code], capture_output=True, text=True, timeout=300,
                         cwd=tmp_path, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def _check_result(result: Any, data: pd.DataFrame, tmp_path: Path) -> None:
    notes = " ".join(result.notes)
    saved = json.loads((result.run_dir / "result.json").read_text())
    assert saved["members"] == json.loads(json.dumps(result.members, default=str))
    report = _run_program(result, data, tmp_path)
    features = data.drop(columns=[result.spec.target]).head(25)
    assert [str(v) for v in result.pipeline.predict(features)] == report["pred"]
    metric = get_metric(result.metric)
    printed = metric.from_scorer(result.spec.task_type, float(np.mean(report["scores"])))
    if result.members:
        assert len(result.members) >= 2
        assert "ensemble of" in notes and "optimistic" in notes
        assert "Voting" in result.code and "def build_model_2(" in result.code
        for m in result.members:
            assert f"trial {m['trial']}" in notes
        assert "an ensemble of" in result.summary()
        assert result.best_params == result.members[0]["params"]
        # the program's CV is the ensemble's score (float32 predictions: up to rounding;
        # a member fitted otherwise than its trial, as once with a dropped rescaling, is not)
        assert printed == pytest.approx(result.best_score, rel=1e-5)
        best = result.study.best_value
        assert metric.better(result.best_score, best)
    else:
        assert "found no blend better" in notes or "ensemble" in notes
        assert "Voting" not in result.code
        assert printed == pytest.approx(result.best_score, abs=1e-9)


def test_engine_run_regression_small_data(tmp_path: Path) -> None:
    frame = load_diabetes(as_frame=True).frame
    result = text2ml_jupyter.run("Predict the disease progression target.", frame,
                                 time_budget=22, target="target", run_dir=tmp_path / "runs",
                                 seed=0)
    assert result.evaluation.n_repeats > 1
    assert result.elapsed < 2 * 22
    _check_result(result, frame, tmp_path)


def test_a_resume_blends_the_earlier_sessions_trials_too(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The kept predictions outlive the session in the run folder: a resume (here from
    the folder, as after a kernel restart) offers the selection the earlier trials as well
    as its own, and its program reproduces the result."""
    from text2ml_jupyter import ensemble

    frame = load_diabetes(as_frame=True).frame
    first = text2ml_jupyter.run("Predict the disease progression target.", frame,
                                time_budget=10, target="target", run_dir=tmp_path / "runs",
                                seed=0)
    earlier = {t.number for t in first.study.trials}
    saved = {int(p.stem) for p in (first.run_dir / "predictions").glob("*.npz")}
    assert saved and saved <= earlier
    offered: list[set[int]] = []
    select = ensemble.select

    def spy(entries: list[Any], *args: Any, **kwargs: Any) -> Any:
        offered.append({e.number for e in entries})
        return select(entries, *args, **kwargs)

    monkeypatch.setattr(ensemble, "select", spy)
    again = text2ml_jupyter.resume(str(first.run_dir), frame, time_budget=10)
    assert len(again.study.trials) > len(earlier)
    (pool,) = offered
    assert pool & earlier and pool - earlier  # both sessions' trials
    _check_result(again, frame, tmp_path)


def test_engine_run_on_a_holdout_split(tmp_path: Path) -> None:
    """Above 20,000 rows trials score on one holdout split: their predictions on its
    validation rows feed the selection, and the program reproduces the blend's score."""
    X, y = make_friedman1(n_samples=21_000, n_features=8, noise=1.0, random_state=0)
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(8)]).assign(y=y)
    result = text2ml_jupyter.run("Predict y.", frame, time_budget=25, target="y",
                                 run_dir=tmp_path / "runs", seed=0)
    assert result.evaluation.holdout and not result.evaluation.sample_rows
    assert "nsemble" in " ".join(result.notes)  # the selection ran, blended or not
    _check_result(result, frame, tmp_path)
    # an early-stopped boosting member runs its trial's iterations (as the single best)
    stopped = [m for m in result.members
               if result.study.trials[m["trial"]].user_attrs.get("n_iter")]
    assert ("iterations (each member's)" in result.code) == bool(stopped)


def test_engine_run_string_labels_with_a_threshold(tmp_path: Path) -> None:
    X, y = make_classification(n_samples=500, n_features=6, n_informative=4, n_redundant=0,
                               weights=[0.75], flip_y=0.08, random_state=1)
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(6)])
    frame["answer"] = np.where(y == 1, "yes", "no")
    result = text2ml_jupyter.run("Predict answer. Optimize F1, positive class yes.", frame,
                                 time_budget=22, run_dir=tmp_path / "runs", seed=0)
    assert result.spec.task_type == "binary" and result.metric == "f1"
    assert any(c.name == "decision_threshold" for c in result.candidates)
    _check_result(result, frame, tmp_path)
    assert set(result.pipeline.predict(frame.head(30))) <= {"yes", "no"}


@pytest.mark.parametrize("direction", ["minimize", "maximize"])
def test_the_search_reserves_refit_time_for_an_ensembles_members(direction: str) -> None:
    """With predictions kept, the reserve covers the best trial of every model (an
    ensemble's members come from those), not only the best trial."""
    import optuna

    from text2ml_jupyter.search import Budget, Search, create_study, expected_refit_seconds

    study = create_study(direction=direction, seed=0)
    good, bad = (1.0, 2.0) if direction == "minimize" else (2.0, 1.0)
    for model, value, fit in [("forest", good, 3.0), ("forest", bad, 9.0),
                              ("ridge", bad, 1.0), ("svr", bad, 2.0)]:
        study.add_trial(optuna.trial.create_trial(
            params={"model": model},
            distributions={"model": optuna.distributions.CategoricalDistribution(
                ["forest", "ridge", "svr"])},
            value=value, user_attrs={"fit_seconds": fit}))
    pool = SimpleNamespace(start_seconds=0.0)
    budget = Budget(1000.0)
    search = Search(study, pool, {}, job={}, budget=budget, refit_scale=1.25)
    search._update_reserve()
    assert budget.reserve == pytest.approx(expected_refit_seconds(3.0, 1.25) + 0.5)
    # a caller that imports what loading needs only after the refit keeps time for that
    search = Search(study, pool, {}, job={}, budget=budget, refit_scale=1.25, load_seconds=4.0)
    search._update_reserve()
    assert budget.reserve == pytest.approx(expected_refit_seconds(3.0, 1.25) + 0.5 + 4.0)
    search = Search(study, pool, {}, job={}, budget=budget, refit_scale=1.25,
                    predictions=object())
    search._update_reserve()
    assert budget.reserve == pytest.approx(
        sum(expected_refit_seconds(f, 1.25) for f in (3.0, 1.0, 2.0)) + 0.5)
    # the other models' share is capped: it would cut a short search in half
    short = Budget(25.0)
    search = Search(study, pool, {}, job={}, budget=short, refit_scale=1.25,
                    predictions=object())
    search._update_reserve()
    assert short.reserve == pytest.approx(
        expected_refit_seconds(3.0, 1.25) + RESERVE_SHARE * 25.0 + 0.5)


@pytest.mark.parametrize("direction", ["minimize", "maximize"])
def test_a_best_trial_too_slow_to_refit_leaves_the_reserve_to_the_one_refitted(
        direction: str) -> None:
    """The reserve is at most half the budget. When the best trial's refit needs more, it
    can never be refitted, so the search keeps time only for the trial the refit takes
    instead, and goes on: it does not stop at half the budget for a refit that won't
    happen (diamonds at 30 s ended at 0.66 x its budget)."""
    import optuna

    from text2ml_jupyter._refit import refit_in_time
    from text2ml_jupyter.search import Budget, Search, create_study, expected_refit_seconds

    study = create_study(direction=direction, seed=0)
    ranks = [1.0, 2.0, 3.0, 4.0] if direction == "minimize" else [4.0, 3.0, 2.0, 1.0]
    # best first: a blend too slow for half of 30 s, a boosting model, a forest, a ridge
    for model, value, fit in zip(["blend", "boosting", "forest", "ridge"], ranks,
                                 [12.0, 2.0, 3.0, 0.2], strict=True):
        study.add_trial(optuna.trial.create_trial(
            params={"model": model},
            distributions={"model": optuna.distributions.CategoricalDistribution(
                ["blend", "boosting", "forest", "ridge"])},
            value=value, user_attrs={"fit_seconds": fit}))
    pool = SimpleNamespace(start_seconds=1.0)
    budget = Budget(30.0)
    refit = lambda fit: expected_refit_seconds(fit, 1.25)  # noqa: E731
    assert refit(12.0) + 1.5 > 15.0  # the blend's refit does not fit in half the budget
    Search(study, pool, {}, job={}, budget=budget, refit_scale=1.25)._update_reserve()
    assert budget.reserve == pytest.approx(refit(2.0) + 1.5)  # the boosting model's
    assert budget.reserve < 15.0
    # with that much time left, the refit takes that very trial
    notes: list[str] = []
    chosen = refit_in_time(study.trials, Budget(budget.reserve), 1.25, notes)
    assert chosen[0].params["model"] == "boosting"
    assert "trial 1's" in notes[0]
    # an ensemble's members: the other models' best trials, within their share
    Search(study, pool, {}, job={}, budget=budget, refit_scale=1.25,
           predictions=object())._update_reserve()
    assert budget.reserve == pytest.approx(
        refit(2.0) + min(refit(12.0) + refit(3.0) + refit(0.2), RESERVE_SHARE * 30) + 1.5)
    # a shorter budget: only the ridge fits in half of it (at least 2 s are kept)
    short = Budget(8.0)
    Search(study, pool, {}, job={}, budget=short, refit_scale=1.25)._update_reserve()
    assert refit(0.2) + 1.5 < 2.0 and short.reserve == pytest.approx(2.0)
    # no trial fits: the reserve stays at its cap, as before
    shortest = Budget(2.5)
    Search(study, pool, {}, job={}, budget=shortest, refit_scale=1.25)._update_reserve()
    assert shortest.reserve == pytest.approx(1.25)
