"""Postprocess candidates: wrap the whole pipeline. Returning it unchanged comes first; then
a tuned decision threshold (binary, for metrics that depend on it), probability calibration
(log loss), clipping to the target's range and a log-target transform (regression)."""

from __future__ import annotations

from ..candidates import Candidate
from ._catalog_common import LOG_TARGET_MIN_SKEW, Profile, candidate

SLOT = "postprocess"

_NONE = '''
def build_postprocess(trial, pipeline):
    return pipeline
'''

_THRESHOLD = '''
from sklearn.model_selection import FixedThresholdClassifier


def build_postprocess(trial, pipeline):
    # Predict the positive class when its probability clears a tuned threshold, not 0.5.
    return FixedThresholdClassifier(
        pipeline,
        threshold=trial.suggest_float("threshold", $low, $high),
        pos_label=$pos_label,
        response_method="predict_proba",
    )
'''

_CALIBRATED = '''
from sklearn.calibration import CalibratedClassifierCV


def build_postprocess(trial, pipeline):
    # Recalibrate the probabilities on internal folds.
    method = trial.suggest_categorical("method", ["sigmoid", "isotonic"])
    return CalibratedClassifierCV(pipeline, method=method, cv=3)
'''

_CLIP = '''
import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin, clone


class ClipToTargetRange(RegressorMixin, BaseEstimator):
    """Keeps the predictions within the range of the training target."""

    def __init__(self, estimator):
        self.estimator = estimator

    def fit(self, X, y):
        self.estimator_ = clone(self.estimator).fit(X, y)
        self.low_, self.high_ = float(np.min(y)), float(np.max(y))
        return self

    def predict(self, X):
        return np.clip(self.estimator_.predict(X), self.low_, self.high_)


def build_postprocess(trial, pipeline):
    return ClipToTargetRange(pipeline)
'''

_LOG_TARGET = '''
import numpy as np
from sklearn.compose import TransformedTargetRegressor


def build_postprocess(trial, pipeline):
    # The target is non-negative and right-skewed: fit on log(1 + y), predict back.
    return TransformedTargetRegressor(regressor=pipeline, func=np.log1p, inverse_func=np.expm1)
'''


def postprocess_candidates(profile: Profile) -> list[Candidate]:
    """The pipeline as is first, then the wrappers that can improve this task's metric."""
    found = [candidate(SLOT, "none", "no postprocessing", _NONE)]
    if profile.binary and profile.metric in ("f1", "balanced_accuracy", "accuracy"):
        # F1 and balanced accuracy favour a lower threshold on the rarer class; for accuracy
        # 0.5 is right for calibrated probabilities, so only a narrow range is searched.
        low, high, default = (0.3, 0.7, 0.5) if profile.metric == "accuracy" else (0.1, 0.8, 0.4)
        found.append(candidate(SLOT, "decision_threshold", "tuned decision threshold",
                               _THRESHOLD, {"threshold": default}, low=low, high=high,
                               pos_label=repr(profile.pos_label)))
    if profile.classification and profile.metric == "log_loss":
        found.append(candidate(SLOT, "calibrated", "probability calibration", _CALIBRATED,
                               {"method": "sigmoid"}))
    if profile.regression:
        if _skewed_non_negative(profile):
            found.append(candidate(SLOT, "log_target", "model log(1 + target)", _LOG_TARGET))
        found.append(candidate(SLOT, "clip_to_target_range",
                               "clip predictions to the training target range", _CLIP))
    return found


def _skewed_non_negative(profile: Profile) -> bool:
    return (profile.target_min is not None and profile.target_min >= 0
            and profile.target_skew is not None and profile.target_skew >= LOG_TARGET_MIN_SKEW)
