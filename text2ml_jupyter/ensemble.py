"""Caruana ensemble selection of the final pipeline.

On a few hundred rows, the trial with the best mean CV score is partly the one that fitted
these particular folds best (the winner's curse). Greedy ensemble selection (Caruana et al.
2004: with replacement, on validation predictions) averages several good trials instead;
benchmarks/selection_study.py measured it: a lower held-out RMSE on boston_housing in 3 of 3
studies, never significantly worse elsewhere, and the single best when nothing helps. On
larger data the trials' holdout predictions serve the same way (as in auto-sklearn), and a
blend of different boosting libraries can beat each alone. The members are chosen within
the time left for their refit.

The parts:

- worker side: ``fold_outputs`` / ``pack_predictions``, called by ``search.score_folds`` when
  asked: each fold's validation predictions (``predict_proba`` for classifiers, ``predict``
  for regressors) as float32 with the validation row positions, packed as bytes;
- caller side: ``PredictionStore`` keeps them in memory for the best ~30 trials (and the best
  trial of every model candidate), never in the Optuna journal, with a copy in the run
  folder (_saved_predictions.py) so that a resume can blend the earlier trials too;
- ``caruana`` / ``select``: the greedy selection, scored with the run's metric per fold and
  averaged like the trials' CV (``FoldScorer``), returning (trial, integer weight) pairs;
- ``refit_ensemble``: what ``_refit.refit_best`` calls first: select, assemble the ensemble
  program (_ensemble_program.py), refit it in a worker; ``None`` means "refit the single best
  as before" (one member, no time, or a failure, with a note saying which).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .metrics import REGRESSION, get_metric

POOL_SIZE = 15  # best distinct trials in the pool (+ the best of every other model)
# Metrics that count hits: on a few hundred rows many trials and blends score the same, and
# the log loss (how sure the right answers are) decides between them.
_COUNTING = frozenset({"accuracy", "balanced_accuracy", "f1"})
STEPS = 25  # greedy steps (members with replacement); the best prefix is kept
KEEP = 30  # trials whose predictions the caller keeps (+ the best of every model)
# The share of the budget the search sets aside for refitting an ensemble's other members
# (beside the best trial's refit): more would cut the search short on larger data.
RESERVE_SHARE = 0.2
# Bytes of one trial's kept predictions (float32 outputs and int32 rows) at most: 30+
# trials' worth stay in the caller's memory (100 classes on 20,000 rows would be 8 MB each).
MAX_TRIAL_BYTES = 2 * 2**20
_REFIT_OVERHEAD = 1.0  # seconds: assembling the program, shipping the fitted pipeline back


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


# ---------------------------------------------------------------- scoring

class FoldScorer:
    """The run's metric on combined validation outputs: per fold, then the mean over
    folds, as the search scores a trial (natural units: RMSE positive). Fast numpy
    versions of the scikit-learn metrics: the greedy loop scores thousands of blends."""

    def __init__(self, metric: str, task_type: str, y_true: Any, sizes: Sequence[int],
                 classes: list[Any] | None = None, pos_label: Any = None) -> None:
        import numpy as np

        self.metric = get_metric(metric)
        self.name = self.metric.name
        self.task_type = task_type
        self.sizes = np.asarray(sizes, dtype=np.int64)
        self.n_folds = len(self.sizes)
        self.fold = np.repeat(np.arange(self.n_folds), self.sizes)
        self.starts = np.concatenate([[0], np.cumsum(self.sizes)[:-1]])
        if task_type == REGRESSION:
            self.y = np.asarray(y_true, dtype=np.float64)
            means = np.bincount(self.fold, self.y, self.n_folds) / self.sizes
            self.ss_tot = np.bincount(self.fold, (self.y - means[self.fold]) ** 2,
                                      self.n_folds)
            return
        self.classes = list(classes or [])
        index = {c: i for i, c in enumerate(self.classes)}
        self.yi = np.asarray([index[v] for v in y_true], dtype=np.int64)
        self.k = len(self.classes)
        self.pos = index.get(pos_label, 1) if self.k == 2 else None

    @property
    def maximize(self) -> bool:
        return self.metric.direction == "maximize"

    def __call__(self, values: Any, threshold: float | None = None) -> float:
        """Mean over folds of the metric of ``values`` (rows x width: probabilities of the
        classes, or one column of predictions); ``threshold``: binary only, predict the
        positive class when its probability reaches it (else the most probable class)."""
        import numpy as np

        name, fold, n = self.name, self.fold, self.n_folds
        if self.task_type == REGRESSION:
            err = values[:, 0] - self.y
            if name == "mae":
                return float(np.mean(np.bincount(fold, np.abs(err), n) / self.sizes))
            sse = np.bincount(fold, err * err, n)
            if name == "rmse":
                return float(np.mean(np.sqrt(sse / self.sizes)))
            with np.errstate(divide="ignore", invalid="ignore"):  # r2, finite as sklearn
                r2 = np.where(self.ss_tot > 0, 1 - sse / np.where(self.ss_tot > 0,
                                                                  self.ss_tot, 1),
                              np.where(sse == 0, 1.0, 0.0))
            return float(np.mean(r2))
        if name == "log_loss":
            p = values / values.sum(axis=1, keepdims=True)
            eps = np.finfo(np.float64).eps
            picked = np.clip(p[np.arange(len(p)), self.yi], eps, 1 - eps)
            return float(np.mean(np.bincount(fold, -np.log(picked), n) / self.sizes))
        if name == "roc_auc":
            return float(np.mean([self._auc(values[s:s + m], self.yi[s:s + m])
                                  for s, m in zip(self.starts, self.sizes, strict=True)]))
        if threshold is not None and self.pos is not None:
            pred = np.where(values[:, self.pos] >= threshold, self.pos, 1 - self.pos)
        else:
            pred = np.argmax(values, axis=1)
        hit = pred == self.yi
        if name == "accuracy":
            return float(np.mean(np.bincount(fold, hit, n) / self.sizes))
        k = self.k
        support = np.bincount(fold * k + self.yi, minlength=n * k).reshape(n, k)
        tp = np.bincount(fold * k + self.yi, hit, n * k).reshape(n, k)
        if name == "balanced_accuracy":  # mean recall over the classes each fold has
            with np.errstate(divide="ignore", invalid="ignore"):
                recall = np.where(support > 0, tp / np.maximum(support, 1), np.nan)
            return float(np.mean(np.nanmean(recall, axis=1)))
        predicted = np.bincount(fold * k + pred, minlength=n * k).reshape(n, k)
        denominator = support + predicted  # 2tp + fp + fn
        f1 = np.where(denominator > 0, 2 * tp / np.maximum(denominator, 1), 0.0)
        if self.pos is not None:  # binary F1 of the positive class
            return float(np.mean(f1[:, self.pos]))
        present = denominator > 0  # macro F1 over the labels in y_true or y_pred
        return float(np.mean(np.sum(f1 * present, axis=1) / np.maximum(present.sum(1), 1)))

    def _auc(self, proba: Any, yi: Any) -> float:
        """ROC AUC of one fold: binary on the second class's column (as scikit-learn's
        scorer), else one-vs-rest macro."""
        import numpy as np
        from scipy.stats import rankdata

        def binary(score: Any, positive: Any) -> float:
            n_pos = int(positive.sum())
            n_neg = len(positive) - n_pos
            if not n_pos or not n_neg:
                return math.nan
            ranks = rankdata(score)
            return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))

        if self.k == 2:
            return binary(proba[:, 1], yi == 1)
        return float(np.nanmean([binary(proba[:, c], yi == c) for c in range(self.k)]))


# ---------------------------------------------------------------- the selection

def blend_threshold(thresholds: Sequence[float | None], weights: Sequence[float]) -> float | None:
    """The vote's decision threshold: the weighted mean of the members' (0.5 for a member
    without one), or None when no member has one (the most probable class wins)."""
    if all(t is None for t in thresholds):
        return None
    total = float(sum(weights))
    return sum(w * (0.5 if t is None else t) for t, w in zip(thresholds, weights,
                                                            strict=True)) / total


def caruana(outputs: Sequence[Any], score: Callable[[Any, float | None], float], *,
            maximize: bool, thresholds: Sequence[float | None] | None = None,
            steps: int = STEPS, costs: Sequence[float] | None = None,
            max_cost: float = math.inf, tiebreak: Callable[[Any], float] | None = None
            ) -> tuple[dict[int, int], float]:
    """Greedy ensemble selection with replacement: at each step add the member (an index
    into ``outputs``, the pool best first) whose addition scores best on the validation
    outputs; keep the best prefix. Returns ({index: weight}, its score). With ``costs``
    (each output's refit seconds), a member whose refit would bring the chosen ones' sum
    above ``max_cost`` is not added (adding one again costs nothing). ``tiebreak`` (lower
    is better) orders blends whose scores are equal (``select`` passes the log loss when
    the metric counts hits, which ties often on a few hundred rows)."""
    thresholds = list(thresholds) if thresholds is not None else [None] * len(outputs)
    costs = list(costs) if costs is not None else [0.0] * len(outputs)
    sign = 1.0 if maximize else -1.0
    total = 0.0 * outputs[0]
    weights: dict[int, int] = {}
    spent = 0.0
    nothing = (-math.inf, -math.inf)
    best_key, best_weights = nothing, {}
    for step in range(steps):
        tried = []
        for i, out in enumerate(outputs):
            if i not in weights and spent + costs[i] > max_cost:
                tried.append(nothing)
                continue
            w = {**weights, i: weights.get(i, 0) + 1}
            thr = blend_threshold([thresholds[j] for j in w], list(w.values()))
            blend = (total + out) / (step + 1)
            value = score(blend, thr)
            second = -tiebreak(blend) if tiebreak is not None else 0.0
            tried.append((sign * value, second) if math.isfinite(value) else nothing)
        i = max(range(len(tried)), key=lambda j: (tried[j], -j))  # ties: the better trial
        if tried[i][0] == -math.inf:
            break  # nothing fits the time left
        if i not in weights:
            spent += costs[i]
        weights[i] = weights.get(i, 0) + 1
        total = total + outputs[i]
        if _beats(tried[i], best_key):
            best_key, best_weights = tried[i], dict(weights)
    return best_weights, sign * best_key[0]


def _beats(key: tuple[float, float], other: tuple[float, float]) -> bool:
    """(score, tiebreak) keys, higher better: a better score, or an equal one (to float
    rounding) with a better tiebreak."""
    if key[0] > other[0] + 1e-12:
        return True
    return abs(key[0] - other[0]) <= 1e-12 and key[1] > other[1] + 1e-12


@dataclass
class Selection:
    """The chosen members (trial number, integer weight), best trial first, and the
    ensemble's CV score on the validation predictions (optimistic: the weights were
    chosen on them)."""

    members: list[tuple[int, int]]
    score: float
    pool: list[int] = field(default_factory=list)
    # The blend ties the best trial's score and was chosen for its lower CV log loss.
    tied: bool = False


def select(entries: Sequence[OOF], y: Any, *, metric: str, task_type: str,
           pos_label: Any = None, best: tuple[int, float] | None = None,
           pool_size: int = POOL_SIZE, steps: int = STEPS,
           seconds: Callable[[int], float] | None = None,
           max_seconds: float = math.inf) -> Selection:
    """Caruana selection over ``entries`` (best first). The pool: the ``pool_size`` best
    distinct trials plus the best trial of every other model candidate, all on the same
    folds (and classes). ``best`` is the study's best (trial number, CV score): an
    ensemble must score strictly better than it, else the selection is that trial alone.
    ``seconds(trial number)``: a member's expected refit; the members' sum stays within
    ``max_seconds``."""
    import numpy as np

    if best is None:
        best = (entries[0].number, entries[0].value) if entries else (-1, math.nan)
    alone = Selection([(best[0], 1)], best[1])
    pool = _pool(entries, pool_size)
    if len(pool) < 2:
        return alone
    pool = _comparable(pool)
    first = pool[0]
    if len(pool) < 2:
        return alone
    y_values = np.asarray(y)[first.rows]
    scorer = FoldScorer(metric, task_type, y_values, first.sizes, first.classes, pos_label)
    tiebreak = None
    if task_type != REGRESSION and scorer.name in _COUNTING:
        tiebreak = FoldScorer("log_loss", task_type, y_values, first.sizes, first.classes,
                              pos_label)
    thresholds = [e.threshold if task_type == "binary" else None for e in pool]
    costs = [seconds(e.number) if seconds else 0.0 for e in pool]
    weights, value = caruana([e.values for e in pool], scorer, maximize=scorer.maximize,
                             thresholds=thresholds, steps=steps, costs=costs,
                             max_cost=max_seconds, tiebreak=tiebreak)
    numbers = [e.number for e in pool]
    if len(weights) < 2 or not math.isfinite(value):
        return Selection([(best[0], 1)], best[1], numbers)
    better = value > best[1] if scorer.maximize else value < best[1]
    tied = False
    if not better and tiebreak is not None and abs(value - best[1]) <= 1e-12:
        # Equal hits: the blend must be surer of them than the best trial alone.
        alone_values = next((e.values for e in pool if e.number == best[0]), None)
        blend = sum(pool[i].values * w for i, w in weights.items()) / sum(weights.values())
        tied = better = alone_values is not None and tiebreak(blend) < tiebreak(alone_values)
    if not better:
        return Selection([(best[0], 1)], best[1], numbers)
    members = [(pool[i].number, weights[i]) for i in sorted(weights)]  # best trial first
    return Selection(members, value, numbers, tied)


def _comparable(entries: Sequence[OOF]) -> list[OOF]:
    """The entries on the first one's folds and classes (an earlier session's trials may
    have scored on other folds): only their predictions line up row by row."""
    import numpy as np

    first = entries[0]
    return [e for e in entries if e.sizes == first.sizes and e.classes == first.classes
            and e.values.shape == first.values.shape and np.array_equal(e.rows, first.rows)]


def _pool(entries: Sequence[OOF], size: int) -> list[OOF]:
    seen: set[Any] = set()
    unique = []
    for e in entries:  # an enqueued default re-run has the same params: once
        key = tuple(sorted((k, repr(v)) for k, v in e.params.items()))
        if key not in seen:
            seen.add(key)
            unique.append(e)
    top = unique[:size]
    models = {e.params.get("model") for e in top}
    for e in unique[size:]:
        if e.params.get("model") not in models:
            models.add(e.params.get("model"))
            top.append(e)
    return top


# ---------------------------------------------------------------- the engine's hook

def threshold_of(candidate: Any, params: dict[str, Any]) -> float | None:
    """A postprocess member's decision threshold (a ``FixedThresholdClassifier`` with a
    searched ``threshold``, as the catalog's), else None."""
    value = params.get("threshold")
    if "FixedThresholdClassifier" in candidate.source and isinstance(value, (int, float)) \
            and not isinstance(value, bool):
        return float(value)
    return None


def member_choices(accepted: dict[str, list[Any]], params: dict[str, Any]) -> dict[str, Any]:
    """Slot -> (candidate, its own hyperparameters) of a trial's params, as the program is
    assembled from them (the ensemble's members and ``_refit.refit_best``'s options;
    KeyError: not accepted)."""
    from .search import local_params
    from .slots import SLOTS

    chosen = {}
    for slot in SLOTS:
        found = [c for c in accepted.get(slot.name, []) if c.name == params.get(slot.name)]
        if not found:
            raise KeyError(f"{slot.name}.{params.get(slot.name)}")
        chosen[slot.name] = (found[0], local_params(found[0], params))
    return chosen


def members_as_fitted(accepted: dict[str, list[Any]], members: list[tuple[Any, int]]
                      ) -> tuple[list[tuple[dict[str, Any], int, Any]], str]:
    """Each member's slot choices as its trial fitted them, with its weight and trial, and
    a note naming the members that differ from their trial's params. On large all-numeric
    tables a trial fits a rescaling before a tree as ``numbers_as_is`` (``_lean.py``); its
    predictions, which the selection blended, are that fit's, so the member must be too,
    as the single best's refit is (``_refit.refit_best``)."""
    from ._lean import without_scaling

    chosen, lean = [], []
    for trial, weight in members:
        params, note = without_scaling(dict(trial.params), accepted)
        if note:
            lean.append(str(trial.number))
        chosen.append((member_choices(accepted, params), weight, trial))
    if not lean:
        return chosen, ""
    trials = f"trial {lean[0]}" if len(lean) == 1 else f"trials {', '.join(lean)}"
    return chosen, (f"The members from {trials} rescaled the numbers before a tree model; on "
                    "a table this large their trials fitted the numbers as they are, and so "
                    "do those members, without copies of the table.")


def refit_ensemble(store: PredictionStore | None, complete: list[Any],
                   accepted: dict[str, list[Any]], spec: Any, evaluation: Any, *, pool: Any,
                   job: dict[str, Any], budget: Any, data_name: str, pipeline_name: str,
                   run_id: str, expected_refit: Callable[[Any], float],
                   notes: list[str], target: Callable[[], Any] | None = None
                   ) -> tuple[Any, ...] | None:
    """Select an ensemble from the stored validation predictions and refit its program
    on all rows, as ``_refit.refit_best`` returns it: (program, (pipeline, blob), score,
    params, notes). None when the best single pipeline should be refitted instead (one
    member, not enough time, or a failure); ``notes`` then says why. ``target``: the
    trials' target, read once for this and ``surest_first`` (``target_loader``)."""
    if store is None or not len(store) or not complete:
        return None
    best = complete[0]
    by_number = {t.number: t for t in complete}
    try:
        entries = [e for e in store.entries() if e.number in by_number]
        for e in entries:
            if spec.task_type == "binary":
                chosen = member_choices(accepted, e.params)
                e.threshold = threshold_of(*chosen["postprocess"])
        left = budget.remaining() - _REFIT_OVERHEAD
        y = (target or target_loader(spec, evaluation, job))()
        selection = select(entries, y, metric=spec.metric,
                           task_type=spec.task_type, pos_label=spec.pos_label,
                           best=(best.number, best.value),
                           seconds=lambda n: expected_refit(by_number[n]), max_seconds=left)
    except Exception as exc:  # noqa: BLE001 - the single best remains
        notes.append(f"Ensemble selection failed ({type(exc).__name__}: {exc}); the best "
                     "single pipeline was refitted.")
        return None
    if len(selection.members) < 2:
        earlier = "" if any(e.number == best.number for e in entries) else (
            " (the best trial's predictions were not kept: it ran in another process, or "
            "in an earlier session whose predictions were not saved)")
        notes.append(f"Ensemble selection (greedy, on the validation predictions of "
                     f"{len(selection.pool)} trials) found no blend better than the best "
                     f"single pipeline{earlier}, among members whose refits fit the "
                     f"{max(0, left):.0f} s left: trial {best.number} was refitted.")
        return None
    members = [(by_number[n], w) for n, w in selection.members]
    seconds = sum(expected_refit(t) for t, _ in members)
    described = _describe(members, spec)
    if seconds > budget.remaining():
        notes.append(f"An ensemble of {described} scored better in CV "
                     f"({selection.score:.4f}), but refitting its {len(members)} pipelines "
                     f"would take about {seconds:.0f} s, more than the budget had left: the "
                     "best single pipeline was refitted.")
        return None
    from ._ensemble_program import assemble_ensemble_program, member_variable
    from ._refit import refit_in_worker, with_settings

    try:
        chosen, lean = members_as_fitted(accepted, members)
        program = assemble_ensemble_program(
            spec, chosen, evaluation=evaluation, data_name=data_name,
            pipeline_name=pipeline_name, run_id=run_id, score=selection.score,
            n_candidates={s: len(c) for s, c in accepted.items()})
        # early-stopped boosting runs its trial's iterations, as the single best's does
        iterations = {member_variable(i): int(t.user_attrs["n_iter"])
                      for i, (t, _) in enumerate(members, 1) if t.user_attrs.get("n_iter")}
        fitted, pipeline, kept, note = refit_in_worker(
            pool, {"data_path": job["refit_data_path"], "build_code": program.build_code,
                   "data_name": data_name, "pipeline_name": pipeline_name,
                   "member_iterations": iterations},
            deadline=budget.end, pipeline_name=pipeline_name,
            origins=[c.origin for member, _, _ in chosen for c, _ in member.values()])
        program = with_settings(program, fitted["settings"], pipeline_name, None)
    except Exception as exc:  # noqa: BLE001 - any failure: the single best remains
        notes.append(f"Refitting the ensemble of {described} failed ({exc}); the best single "
                     "pipeline was refitted.")
        return None
    own = ", ".join(f"trial {t.number}: {t.value:.4f}" for t, _ in members)
    label = get_metric(spec.metric).label
    why = (f" It ties the best single pipeline's CV {label} ({selection.score:.4f}) with a "
           "lower CV log loss: it is surer of the same right answers." if selection.tied
           else f" Its CV {label} {selection.score:.4f} is optimistic (the weights were "
           "chosen on the same predictions).")
    notes.append(f"The pipeline is an ensemble of {described}: a weighted vote chosen by "
                 f"greedy ensemble selection on the trials' validation predictions.{why} "
                 f"The members' own CV scores: {own}.")
    return (program, (pipeline, kept), selection.score, dict(members[0][0].params),
            notes + [n for n in (lean, note) if n])


def surest_first(store: PredictionStore | None, complete: list[Any], spec: Any,
                 target: Callable[[], Any], notes: list[str]) -> list[Any]:
    """``complete`` (best first), with the trials that tie the best score reordered by
    their CV log loss, surest first, when the metric counts hits (accuracy, F1): on a few
    hundred rows many trials are right on the same rows, and the earliest of them is not
    the best of them. Unchanged otherwise, or without their kept predictions. ``target``
    gives the trials' target (``target_loader``), read only when trials tie."""
    if store is None or len(complete) < 2 or spec.task_type == REGRESSION \
            or spec.metric not in _COUNTING:
        return complete
    tied = {t.number for t in complete if abs(t.value - complete[0].value) <= 1e-12}
    kept = [e for e in store.entries() if e.number in tied]
    if len(kept) < 2:
        return complete
    kept = _comparable(kept)
    first = kept[0]
    y = target()[first.rows]
    log_loss = FoldScorer("log_loss", spec.task_type, y, first.sizes, first.classes,
                          spec.pos_label)
    losses = {e.number: log_loss(e.values) for e in kept}
    if complete[0].number not in losses:
        return complete  # the first best cannot be compared: it stays first
    ordered = sorted((t for t in complete if t.number in losses),
                     key=lambda t: losses[t.number])
    if ordered[0] is complete[0]:
        return complete
    notes.append(f"{len(tied)} trials tie the best CV {get_metric(spec.metric).label} "
                 f"({complete[0].value:.4f}); trial {ordered[0].number} is the surest of "
                 f"them (CV log loss {losses[ordered[0].number]:.4f}, against "
                 f"{losses[complete[0].number]:.4f} for trial {complete[0].number}, the "
                 "earliest of them), so it counts as the best.")
    return ordered + [t for t in complete if t.number not in losses]


def _describe(members: list[tuple[Any, int]], spec: Any) -> str:
    parts = [f"trial {t.number} ({t.params.get('model')}, weight {w})" for t, w in members]
    return f"{len(members)} pipelines: " + ", ".join(parts)


def target_loader(spec: Any, evaluation: Any, job: dict[str, Any]) -> Callable[[], Any]:
    """The target the trials scored on, read from the data the caller shipped on the first
    call and kept: the tie-break and the selection both need it."""
    from functools import cache

    @cache
    def target() -> Any:
        from ._shipping import read_frame
        from .spec import training_data

        X, y = evaluation.sample(*training_data(spec, read_frame(job["data_path"])))
        return y.to_numpy()

    return target
