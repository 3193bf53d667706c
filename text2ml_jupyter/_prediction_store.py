"""The trials' validation predictions, kept for ensemble selection.

- worker side: ``fold_outputs`` / ``pack_predictions``, called by ``search.score_folds`` when
  asked: each fold's validation predictions (``predict_proba`` for classifiers, ``predict``
  for regressors) as float32 with the validation row positions, packed as bytes;
- caller side: ``PredictionStore`` keeps them in memory for the best ~30 trials (and the best
  trial of every model candidate), never in the Optuna journal, with a copy in the run
  folder (_saved_predictions.py) so that a resume can blend the earlier trials too.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .metrics import REGRESSION

KEEP = 30  # trials whose predictions the caller keeps (+ the best of every model)
# Bytes of one trial's kept predictions (float32 outputs and int32 rows) at most: 30+
# trials' worth stay in the caller's memory (100 classes on 20,000 rows would be 8 MB each).
MAX_TRIAL_BYTES = 2 * 2**20


def enabled(evaluation: Any, n_rows: int, width: int) -> bool:
    """Whether trials keep their validation predictions: whenever they score on all rows
    (k-fold CV, or one holdout split as auto-sklearn's ensembles use), not on a sample of
    large data, whose ensemble refit would hold several models on all rows; and only while
    one trial's predictions (``width`` outputs per row: the classes, or 1) stay small, as
    the caller keeps 30 or more of them."""
    rows = n_rows * evaluation.test_size if evaluation.holdout else n_rows
    return not evaluation.sample_rows and rows * (width + 1) * 4 <= MAX_TRIAL_BYTES


# ---------------------------------------------------------------- worker side

def fold_outputs(fitted: Any, X_valid: Any, valid: Any, task_type: str) -> tuple[Any, ...]:
    """(positions, outputs or None, classes) of one fold: class probabilities for a
    classifier (None without predict_proba: labels cannot be averaged), predictions for a
    regressor, as float32."""
    import numpy as np

    positions = np.asarray(valid, dtype=np.int32)
    if task_type == REGRESSION:
        out = np.asarray(fitted.predict(X_valid), dtype=np.float32).reshape(len(positions), -1)
        return positions, out, None
    if not hasattr(fitted, "predict_proba"):
        return positions, None, None
    proba = np.asarray(fitted.predict_proba(X_valid), dtype=np.float32)
    return positions, proba, np.asarray(fitted.classes_).tolist()


def pack_predictions(folds: list[tuple[Any, ...]]) -> dict[str, Any]:
    """The folds' outputs as a small payload: bytes, fold sizes, classes (plain values)."""
    import numpy as np

    if not folds or any(out is None for _, out, _ in folds):
        return {"kind": "labels"}  # no probabilities: not an ensemble member
    classes = folds[0][2]
    if any(c != classes for _, _, c in folds):
        return {"kind": "labels"}  # a fold without some class: columns would not line up
    values = np.concatenate([out for _, out, _ in folds])
    return {"kind": "proba" if classes is not None else "values", "classes": classes,
            "sizes": [len(p) for p, _, _ in folds], "width": int(values.shape[1]),
            "rows": np.concatenate([p for p, _, _ in folds]).astype(np.int32).tobytes(),
            "values": values.astype(np.float32).tobytes()}


# ---------------------------------------------------------------- caller side: the store

@dataclass
class OOF:
    """One trial's validation predictions, unpacked."""

    number: int
    value: float
    params: dict[str, Any]
    classes: list[Any] | None
    sizes: list[int]
    rows: Any  # int32, the folds' validation positions one after the other
    values: Any  # float64 (rows, width)
    threshold: float | None = None  # a member's decision threshold (binary), if it has one

    @classmethod
    def unpack(cls, number: int, value: float, params: dict[str, Any],
               payload: dict[str, Any]) -> OOF:
        import numpy as np

        rows = np.frombuffer(payload["rows"], dtype=np.int32)
        values = np.frombuffer(payload["values"], dtype=np.float32).astype(np.float64)
        return cls(number, float(value), dict(params), payload.get("classes"),
                   list(payload["sizes"]), rows, values.reshape(len(rows), payload["width"]))


class PredictionStore:
    """Validation predictions of the best trials, in the caller's memory (the journal
    would bloat): the ``keep`` best and the best trial of every model candidate. With a
    ``folder`` (the run folder's ``predictions/``), the kept ones are also on disk, so
    that a resume blends them with its own trials (``restore``)."""

    def __init__(self, direction: str, keep: int = KEEP, folder: Path | None = None) -> None:
        self.maximize = direction == "maximize"
        self.keep = keep
        self.folder = folder
        self._items: dict[int, tuple[float, dict[str, Any], dict[str, Any]]] = {}
        self._lock = threading.Lock()

    def add(self, number: int, value: float, params: dict[str, Any],
            payload: dict[str, Any] | None, *, save: bool = True) -> None:
        if not payload or payload.get("kind") not in ("proba", "values") \
                or not math.isfinite(value):
            return
        with self._lock:
            self._items[number] = (float(value), dict(params), payload)
            ranked = self._ranked()
            kept = {n for n, _ in ranked[:self.keep]}
            best_of_model: dict[Any, int] = {}
            for n, (_, p, _) in ranked:
                best_of_model.setdefault(p.get("model"), n)
            kept |= set(best_of_model.values())
            dropped = set(self._items) - kept
            self._items = {n: item for n, item in self._items.items() if n in kept}
            if self.folder is not None:
                from . import _saved_predictions

                for n in dropped:
                    _saved_predictions.forget(self.folder, n)
                if save and number in kept:
                    _saved_predictions.save(self.folder, number, payload)

    def restore(self, trials: Sequence[Any]) -> int:
        """Take back the saved predictions of ``trials`` (complete trials of the study: a
        resume's earlier sessions), with the study's values and params; how many."""
        if self.folder is None:
            return 0
        from . import _saved_predictions

        saved = _saved_predictions.load_all(self.folder)
        found = [t for t in trials if t.number in saved and t.value is not None]
        for trial in found:
            self.add(trial.number, trial.value, trial.params, saved[trial.number], save=False)
        return len(found)

    def _ranked(self) -> list[tuple[int, tuple[float, dict[str, Any], dict[str, Any]]]]:
        sign = -1.0 if self.maximize else 1.0  # best first; ties by trial number
        return sorted(self._items.items(), key=lambda kv: (sign * kv[1][0], kv[0]))

    def entries(self) -> list[OOF]:
        """The kept trials, best first."""
        with self._lock:
            ranked = self._ranked()
        return [OOF.unpack(n, v, p, payload) for n, (v, p, payload) in ranked]

    def __len__(self) -> int:
        return len(self._items)
