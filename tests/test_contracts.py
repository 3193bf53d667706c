"""Slot contracts (static checks), metrics and the validation protocol."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import (KFold, RepeatedKFold, RepeatedStratifiedKFold,
                                     StratifiedKFold, StratifiedShuffleSplit)

from text2ml_jupyter.errors import CandidateError, Text2MLError
from text2ml_jupyter.evaluation import Evaluation, choose_evaluation
from text2ml_jupyter.metrics import METRICS, get_metric
from text2ml_jupyter.slots import FEATURES, MODEL, POSTPROCESS, PREPROCESS, check_source

GOOD_MODEL = """
from sklearn.ensemble import RandomForestClassifier

def build_model(trial):
    return RandomForestClassifier(n_estimators=trial.suggest_int("n_estimators", 10, 50))
"""


def test_a_good_candidate_passes():
    check_source(MODEL, GOOD_MODEL)
    check_source(FEATURES, "def build_features(trial):\n    return 'passthrough'\n")
    check_source(POSTPROCESS, "def build_postprocess(trial, pipeline):\n    return pipeline\n")


@pytest.mark.parametrize("slot, source, reason", [
    (MODEL, "def build_model(trial:\n", "syntax error on line 1"),
    (MODEL, "def make_model(trial):\n    pass\n", r"does not define build_model\(trial\)"),
    (PREPROCESS, "def build_preprocess(trial):\n    pass\n",
     r"must take \(trial, columns\), not \(trial\)"),
    (MODEL, "import os\ndef build_model(trial):\n    pass\n", "imports 'os'"),
    (MODEL, "from subprocess import run\ndef build_model(trial):\n    pass\n",
     "imports 'subprocess'"),
    (MODEL, "from . import x\ndef build_model(trial):\n    pass\n", "relative imports"),
    (MODEL, "def build_model(trial):\n    return eval('1')\n", r"calls eval\(\)"),
    (MODEL, "def build_model(trial):\n    open('/etc/passwd')\n", r"calls open\(\)"),
    (MODEL, "def build_model(trial):\n    return ().__class__.__bases__\n", "dunder attribute"),
    (MODEL, "import sklearnx\ndef build_model(trial):\n    pass\n", "imports 'sklearnx'"),
])
def test_contract_violations_have_precise_reasons(slot, source, reason):
    with pytest.raises(CandidateError, match=reason):
        check_source(slot, source)


def test_metric_lookup_and_fit():
    assert get_metric("ROC-AUC").name == "roc_auc"
    assert get_metric("mean absolute error").name == "mae"
    assert get_metric("R²").name == "r2"
    with pytest.raises(Text2MLError, match="Unknown metric 'precision@k'"):
        get_metric("precision@k")
    with pytest.raises(Text2MLError, match="RMSE does not fit a binary task"):
        get_metric("rmse", "binary")


def test_scorers_report_natural_units():
    from sklearn.dummy import DummyRegressor

    X, y = pd.DataFrame({"a": [0, 1, 2, 3]}), pd.Series([1.0, 2.0, 3.0, 6.0])
    model = DummyRegressor().fit(X, y)  # predicts the mean, 3.0
    rmse = get_metric("rmse")
    value = rmse.from_scorer("regression", rmse.scorer("regression")(model, X, y))
    assert value == pytest.approx(np.sqrt(np.mean((y - 3.0) ** 2)))
    assert rmse.better(1.0, 2.0) and not get_metric("f1").better(0.5, 0.6)


def test_f1_uses_the_positive_label():
    from sklearn.dummy import DummyClassifier

    X, y = pd.DataFrame({"a": range(4)}), pd.Series(["ham", "spam", "ham", "ham"])
    model = DummyClassifier(strategy="constant", constant="ham").fit(X, y)
    f1 = get_metric("f1")
    assert f1.scorer("binary", pos_label="ham")(model, X, y) == pytest.approx(6 / 7)
    assert f1.scorer("binary", pos_label="spam")(model, X, y) == 0.0
    imports, expression = f1.scorer_code("binary", "spam")
    assert expression == "make_scorer(f1_score, pos_label='spam')"
    assert set(METRICS) == {"accuracy", "balanced_accuracy", "f1", "roc_auc", "log_loss",
                            "rmse", "mae", "r2"}


def test_evaluation_by_size():
    budget = {"classification": True, "time_budget": 60}
    tiny = choose_evaluation(pd.Series([0, 1] * 125), **budget)
    assert (tiny.n_splits, tiny.n_repeats, tiny.holdout) == (5, 5, False)
    assert len(list(tiny.splitter().split(np.zeros(250), np.arange(250) % 2))) == 25
    small = choose_evaluation(pd.Series(np.arange(251) % 2), **budget)
    assert (small.n_splits, small.n_repeats, small.holdout) == (5, 3, False)
    assert isinstance(small.splitter(), RepeatedStratifiedKFold)
    assert small.describe() == "5-fold cross-validation repeated 3 times (seed 0)"
    assert len(list(small.splitter().split(np.zeros(251), np.arange(251) % 2))) == 15
    assert choose_evaluation(pd.Series(np.arange(1_000) % 2), **budget).n_repeats == 3
    two = choose_evaluation(pd.Series(np.arange(1_500) % 2), **budget)
    assert (two.n_splits, two.n_repeats) == (5, 2)
    once = choose_evaluation(pd.Series(np.arange(3_000) % 2), **budget)
    assert (once.n_splits, once.n_repeats) == (5, 1)
    assert isinstance(once.splitter(), StratifiedKFold)
    assert once.describe() == "5-fold cross-validation (seed 0)"
    medium = choose_evaluation(pd.Series(np.arange(10_000) % 2), **budget)
    assert (medium.n_splits, medium.n_repeats) == (3, 1)
    large = choose_evaluation(pd.Series(np.arange(30_000) % 3), **budget)
    assert large.holdout and large.n_repeats == 1
    assert isinstance(large.splitter(), StratifiedShuffleSplit)
    regression = choose_evaluation(pd.Series(np.linspace(0, 1, 50)), classification=False,
                                   time_budget=30)
    assert isinstance(regression.splitter(), RepeatedKFold)
    single = choose_evaluation(pd.Series(np.linspace(0, 1, 50)), classification=False,
                               n_repeats=1, time_budget=30)
    assert isinstance(single.splitter(), KFold) and single.n_repeats == 1
    # A short run, or one that does not say its budget: one pass, so trials finish in time.
    for short in ({"time_budget": 15}, {}):
        quick = choose_evaluation(pd.Series([0, 1] * 100), classification=True, **short)
        assert quick.n_repeats == 1 and isinstance(quick.splitter(), StratifiedKFold)


def test_evaluation_round_trips_and_reads_old_run_folders():
    for evaluation in (Evaluation(5, True, seed=2, n_repeats=3), Evaluation(3, False),
                       Evaluation(1, True, holdout=True)):
        assert Evaluation(**evaluation.to_dict()) == evaluation
    # a run folder written before repeats existed has no n_repeats: one pass of k-fold CV
    old = {"n_splits": 5, "stratified": True, "seed": 0, "holdout": False, "test_size": 0.2}
    assert Evaluation(**old).n_repeats == 1
    for bad in ({"n_repeats": 0}, {"n_repeats": 2.0}, {"n_repeats": True},
                {"holdout": True, "n_repeats": 2}):
        with pytest.raises(TypeError):  # resuming reports it as a damaged run folder
            Evaluation(**{**old, **bad})


@pytest.mark.parametrize("evaluation", [
    Evaluation(n_splits=3, stratified=True, seed=7),
    Evaluation(n_splits=3, stratified=False, seed=7),
    Evaluation(n_splits=5, stratified=True, seed=7, n_repeats=3),
    Evaluation(n_splits=4, stratified=False, seed=7, n_repeats=2),
    Evaluation(n_splits=1, stratified=True, seed=7, holdout=True),
])
def test_evaluation_code_builds_the_same_splitter(evaluation):
    line, expression = evaluation.splitter_code()
    namespace: dict = {}
    exec(line, namespace)
    built = eval(expression, namespace)
    y = pd.Series([0, 1] * 30)
    ours = [v.tolist() for _, v in evaluation.splitter().split(y, y)]
    theirs = [v.tolist() for _, v in built.split(y, y)]
    assert ours == theirs
    assert len(ours) == evaluation.n_fits


def test_small_classes_reduce_folds_or_explain():
    y = pd.Series(["a"] * 20 + ["b"] * 3)
    assert choose_evaluation(y, classification=True).n_splits == 3
    with pytest.raises(Text2MLError, match="class 'c' of the target has a single example"):
        choose_evaluation(pd.Series(["a"] * 10 + ["b"] * 10 + ["c"]), classification=True)
    with pytest.raises(Text2MLError, match="Only 6 usable rows"):
        choose_evaluation(pd.Series([0.1, 0.2, 0.3, 0.4, 0.5, 0.6]), classification=False)
