"""A regressor's validation predictions, scored without predicting a second time.

With the ensemble on (small and medium data), the search keeps each fold's validation
predictions (_prediction_store.py) and also scores the fold with the run's scikit-learn
scorer: both called ``predict`` on the same rows. On a few hundred rows that second pass
through the pipeline's transforms and model was a fifth of a fold's time. ``Predicted``
stands in for the fitted regressor in the scorer's call, so the score comes from the very
predictions that are kept: the same numbers, one ``predict``. Classifiers keep both calls:
their scorers may use ``predict`` (a tuned threshold, an SVM's own labels) where the
ensemble keeps ``predict_proba``.
"""

from __future__ import annotations

from typing import Any

from sklearn.base import BaseEstimator, RegressorMixin


class Predicted(RegressorMixin, BaseEstimator):
    """Returns ``values``, the predictions a fitted regressor made for the rows scored."""

    def __init__(self, values: Any) -> None:
        self.values = values

    def predict(self, X: Any) -> Any:
        if len(X) != len(self.values):
            raise ValueError(f"{len(self.values)} predictions were made for other rows than "
                             f"these {len(X)}")
        return self.values
