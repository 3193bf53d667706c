"""Greedy ensemble selection (Caruana et al. 2004) on the trials' validation predictions.

``FoldScorer`` scores a blend with the run's metric per fold and averages over folds, as the
search scores a trial; ``caruana`` adds members greedily (with replacement) and keeps the
best prefix; ``select`` builds the pool from the kept predictions and accepts a blend only
when it beats the best single trial (or, for a metric that counts hits, ties it with a
lower log loss).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ._prediction_store import OOF
from .metrics import REGRESSION, get_metric

POOL_SIZE = 15  # best distinct trials in the pool (+ the best of every other model)
STEPS = 25  # greedy steps (members with replacement); the best prefix is kept
# Metrics that count hits: on a few hundred rows many trials and blends score the same, and
# the log loss (how sure the right answers are) decides between them.
COUNTING = frozenset({"accuracy", "balanced_accuracy", "f1"})


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
    pool = comparable(pool)
    first = pool[0]
    if len(pool) < 2:
        return alone
    y_values = np.asarray(y)[first.rows]
    scorer = FoldScorer(metric, task_type, y_values, first.sizes, first.classes, pos_label)
    tiebreak = None
    if task_type != REGRESSION and scorer.name in COUNTING:
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


def comparable(entries: Sequence[OOF]) -> list[OOF]:
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
