"""A fold's validation rows, scored without a second pass through the fitted pipeline.

With the ensemble on (small and medium data), the search keeps each fold's validation
predictions (_prediction_store.py) and also scores the fold with the run's scikit-learn
scorer. Both used to start from the raw rows, so the pipeline's transforms (imputing,
encoding, scaling) ran twice on them; on a few hundred rows that second pass was a fifth
of a fold's time. The scorer now gets a stand-in for the fitted pipeline:

- ``Predicted`` for a regressor: the very predictions that are kept (one ``predict``);
- ``Pretransformed`` for a classifier: the pipeline's last step on the rows transformed
  once. Its ``predict``, ``predict_proba`` and ``decision_function`` are the last step's,
  as the pipeline's are, so the scorer can still use ``predict`` (an SVM's own labels)
  where the ensemble keeps ``predict_proba``.

Either way the score is the same number as with the fitted pipeline itself.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils.metaestimators import available_if


def _check_rows(expected: int, X: Any) -> None:
    if len(X) != expected:
        raise ValueError(f"{expected} rows were prepared, not these {len(X)}")


class Predicted(RegressorMixin, BaseEstimator):
    """Returns ``values``, the predictions a fitted regressor made for the rows scored."""

    def __init__(self, values: Any) -> None:
        self.values = values

    def predict(self, X: Any) -> Any:
        _check_rows(len(self.values), X)
        return self.values


def _final_has(method: str) -> Callable[[Any], bool]:
    return lambda self: hasattr(self.final, method)


class Pretransformed(ClassifierMixin, BaseEstimator):
    """A fitted classification pipeline's last step (``final``) on ``Xt``, the rows scored
    already passed through the steps before it."""

    def __init__(self, final: Any, Xt: Any, n_rows: int) -> None:
        self.final = final
        self.Xt = Xt
        self.n_rows = n_rows

    @property
    def classes_(self) -> Any:
        return self.final.classes_

    def predict(self, X: Any) -> Any:
        _check_rows(self.n_rows, X)
        return self.final.predict(self.Xt)

    @available_if(_final_has("predict_proba"))
    def predict_proba(self, X: Any) -> Any:
        _check_rows(self.n_rows, X)
        return self.final.predict_proba(self.Xt)

    @available_if(_final_has("decision_function"))
    def decision_function(self, X: Any) -> Any:
        _check_rows(self.n_rows, X)
        return self.final.decision_function(self.Xt)


def pretransformed(fitted: Any, X: Any) -> Any:
    """``fitted`` ready to score ``X``: a ``Pretransformed`` for a Pipeline (the steps
    before its last transform ``X`` here, once, as ``Pipeline.predict`` would), else
    ``fitted`` itself (a wrapper such as a decision threshold decides how its inner
    pipeline is called)."""
    from sklearn.pipeline import Pipeline

    if not isinstance(fitted, Pipeline):
        return fitted
    return Pretransformed(fitted[-1], fitted[:-1].transform(X), len(X))
