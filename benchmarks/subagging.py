"""Would averaging the final pipeline over subsamples ("subagging") help on small data?

    .venv/bin/python benchmarks/subagging.py /tmp/text2ml-bench-RUN-ID-xxxx \
        --tasks tips boston_housing --budget 120

On a few hundred rows a fitted pipeline varies with the rows it saw; bagging its fits on
subsamples (AutoGluon keeps its k fold models for this reason) trades that variance for
the bias of fitting on fewer rows. This script takes the final program text2ml wrote in a
run of ``run_benchmarks.py`` (its work folder must still exist) and scores, by a 5-fold CV
repeated twice on the protocol's *training* rows (seed 7, not the search's folds; the
held-out rows are never read), the pipeline as written and the same pipeline fitted 10
times on 80 % subsamples without replacement with the predictions (probabilities) averaged;
likewise each member of an ensemble. The hyperparameters were chosen on the same rows, so
both scores are optimistic alike: only their difference is read.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, clone

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _perf_common as perf  # noqa: E402
from _common import is_classification, load_tasks, positive_label, score  # noqa: E402

N_FITS, FRACTION, CV_SEED = 10, 0.8, 7


class _Subagged(BaseEstimator):
    """``estimator`` fitted on ``N_FITS`` subsamples, predictions averaged; DataFrames are
    passed through as they are (scikit-learn's Bagging* estimators turn them into arrays,
    which a ColumnTransformer selecting columns by name cannot take)."""

    def __init__(self, estimator: Any = None) -> None:
        self.estimator = estimator

    def fit(self, X: pd.DataFrame, y: pd.Series) -> _Subagged:
        rng = np.random.default_rng(0)
        size = int(FRACTION * len(X))
        self.fits_ = []
        for _ in range(N_FITS):
            rows = rng.choice(len(X), size, replace=False)
            self.fits_.append(clone(self.estimator).fit(X.iloc[rows], y.iloc[rows]))
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return np.mean([f.predict(X) for f in self.fits_], axis=0)


class _SubaggedClassifier(ClassifierMixin, _Subagged):
    """Probabilities averaged; the class with the highest mean probability is predicted."""

    def fit(self, X: pd.DataFrame, y: pd.Series) -> _SubaggedClassifier:
        super().fit(X, y)
        self.classes_ = self.fits_[0].classes_
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        return np.mean([f.predict_proba(X) for f in self.fits_], axis=0)

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return self.classes_[self.predict_proba(X).argmax(axis=1)]


class _SubaggedRegressor(RegressorMixin, _Subagged):
    pass


def subagged(estimator: Any, classification: bool) -> _Subagged:
    """An unfitted subagging of ``estimator`` (a copy of it)."""
    return (_SubaggedClassifier if classification else _SubaggedRegressor)(clone(estimator))


def cv_score(task: dict[str, Any], estimator: Any, X: pd.DataFrame, y: pd.Series) -> float:
    """The task's metric (benchmarks' own ``score``), mean over the folds."""
    from sklearn.model_selection import RepeatedKFold, RepeatedStratifiedKFold

    classification = is_classification(task)
    splitter = (RepeatedStratifiedKFold if classification else RepeatedKFold)(
        n_splits=5, n_repeats=2, random_state=CV_SEED)
    pos = positive_label(task, y)
    scores = []
    for fit_rows, test_rows in splitter.split(X, y):
        fitted = clone(estimator).fit(X.iloc[fit_rows], y.iloc[fit_rows])
        X_test = X.iloc[test_rows]
        proba = fitted.predict_proba(X_test) if task["metric"] == "roc_auc" else None
        pred = None if proba is not None else fitted.predict(X_test)
        scores.append(score(task, y.iloc[test_rows], pred, proba,
                            getattr(fitted, "classes_", None), pos))
    return float(np.mean(scores))


def final_pipeline(work: Path, task: dict[str, Any], budget: int) -> tuple[Any, Any, Any]:
    """(pipeline, X, y): text2ml's program run up to its own validation, on the training rows."""
    program = next((work / f"b{budget}" / task["name"] / "text2ml" / "run").glob("*/program.py"))
    source = program.read_text().split("# Validate as the search did")[0]
    train = pd.read_pickle(work / "splits" / task["name"] / "train.pkl")
    namespace: dict[str, Any] = {task["var"]: train}
    exec(compile(source, str(program), "exec"), namespace)  # noqa: S102 - our own program
    return namespace["pipeline"], namespace["X"], namespace["y"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("work", type=Path, help="a run_benchmarks.py work folder")
    parser.add_argument("--tasks", nargs="+", default=["tips", "boston_housing"])
    parser.add_argument("--budget", type=int, default=120)
    args = parser.parse_args(argv)
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)  # one thread per fit, as in text2ml's workers
    run = perf.new_run("subagging", sys.argv[1:] if argv is None else argv)
    tasks = {t["name"]: t for t in load_tasks()}
    for name in args.tasks:
        task = tasks[name]
        pipeline, X, y = final_pipeline(args.work, task, args.budget)
        parts = [("pipeline", pipeline), *getattr(pipeline, "estimators", [])]
        for part, estimator in parts:
            row: dict[str, Any] = {"task": name, "budget": args.budget, "part": part,
                                   "metric": task["metric"]}
            for label, candidate in (("as_is", estimator),
                                     ("subagged", subagged(estimator, is_classification(task)))):
                started = time.perf_counter()
                row[label] = cv_score(task, candidate, X, y)
                row[label + "_seconds"] = round(time.perf_counter() - started, 2)
            run["measurements"].append(row)
            perf.save(run)
            print(f"{name:15s} {part:10s} {task['metric']}: as is {row['as_is']:.4f}, "
                  f"subagged {row['subagged']:.4f}", flush=True)
    print("results:", perf.finish(run))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
