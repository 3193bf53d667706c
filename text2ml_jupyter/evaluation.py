"""The validation protocol: which rows score a pipeline, identical in search and program.

Cross-validation on small and medium data (repeated with reshuffled folds on small data),
one holdout split on large data; stratified for classification; always seeded. The search
scores a trial fold by fold with exactly the splitter and scorer the generated program passes
to ``cross_val_score``, so the program reproduces the reported score.

Why repeats on small data: with a few hundred rows, one 5-fold split's score moves by more
than the differences between good pipelines, so a search that compares hundreds of trials on
it picks the one that fits those particular folds best (its score drops on new rows). The
mean over reshuffled splits is steadier; each trial costs more fits, which small data affords.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from .errors import Text2MLError

# Rows above which fewer folds, then a holdout split, keep each trial affordable.
_FIVE_FOLD_MAX_ROWS = 5_000
_THREE_FOLD_MAX_ROWS = 20_000
_HOLDOUT_SIZE = 0.2
# Rows up to which k-fold CV is repeated (reshuffled) 5 times, 3 times, then 2 times ...
# (5 on the smallest tables: their fits take milliseconds and their CV scores are the
# noisiest; measured in benchmarks/README.md, "Five repeats of k-fold CV on the smallest
# tables".)
_FIVE_REPEATS_MAX_ROWS = 250
_THREE_REPEATS_MAX_ROWS = 1_000
_TWO_REPEATS_MAX_ROWS = 2_000
# ... when the run's budget is at least this: repeats multiply a trial's cost, and a short
# run has time for only a few trials (too few to overfit the folds by selection), each of
# which must finish. Without a budget, one pass of k-fold CV.
_REPEATS_MIN_BUDGET = 20.0
# Rows above which trials score on a seeded sample of this many rows (a cheaper fidelity:
# a trial's cost stops growing with the data; the final pipeline is fitted on all rows).
_SAMPLE_ROWS = 125_000
_MIN_ROWS = 10  # fewer rows cannot both train a model and score it on unseen rows


@dataclass(frozen=True)
class Evaluation:
    """How a pipeline is scored: k-fold CV (``n_splits`` > 1), repeated ``n_repeats`` times
    with reshuffled folds, or one holdout split."""

    n_splits: int
    stratified: bool
    seed: int = 0
    holdout: bool = False
    test_size: float = _HOLDOUT_SIZE
    sample_rows: int | None = None  # score on a seeded sample of this many rows
    n_repeats: int = 1  # k-fold CV only; run folders written before repeats existed have 1

    def __post_init__(self) -> None:
        if isinstance(self.n_repeats, bool) or not isinstance(self.n_repeats, int) \
                or self.n_repeats < 1:
            raise TypeError(f"n_repeats must be a whole number >= 1, not {self.n_repeats!r}")
        if self.holdout and self.n_repeats != 1:
            raise TypeError("a holdout split is not repeated (n_repeats must be 1)")

    @property
    def n_fits(self) -> int:
        """How many fits score one pipeline (folds x repeats, or 1 for a holdout split)."""
        return 1 if self.holdout else self.n_splits * self.n_repeats

    def splitter(self) -> Any:
        from sklearn.model_selection import (KFold, RepeatedKFold, RepeatedStratifiedKFold,
                                             ShuffleSplit, StratifiedKFold,
                                             StratifiedShuffleSplit)

        if self.holdout:
            cls = StratifiedShuffleSplit if self.stratified else ShuffleSplit
            return cls(n_splits=1, test_size=self.test_size, random_state=self.seed)
        if self.n_repeats > 1:
            cls = RepeatedStratifiedKFold if self.stratified else RepeatedKFold
            return cls(n_splits=self.n_splits, n_repeats=self.n_repeats, random_state=self.seed)
        cls = StratifiedKFold if self.stratified else KFold
        return cls(n_splits=self.n_splits, shuffle=True, random_state=self.seed)

    def splitter_code(self) -> tuple[str, str]:
        """(import line, expression) building the same splitter in a generated program."""
        if self.holdout:
            name = "StratifiedShuffleSplit" if self.stratified else "ShuffleSplit"
            expr = f"{name}(n_splits=1, test_size={self.test_size}, random_state={self.seed})"
        elif self.n_repeats > 1:
            name = "RepeatedStratifiedKFold" if self.stratified else "RepeatedKFold"
            expr = (f"{name}(n_splits={self.n_splits}, n_repeats={self.n_repeats}, "
                    f"random_state={self.seed})")
        else:
            name = "StratifiedKFold" if self.stratified else "KFold"
            expr = f"{name}(n_splits={self.n_splits}, shuffle=True, random_state={self.seed})"
        return f"from sklearn.model_selection import {name}", expr

    def describe(self) -> str:
        sample = f"a {self.sample_rows:,}-row sample" if self.sample_rows else ""
        if self.holdout:
            return (f"holdout ({int(self.test_size * 100)}% of {sample or 'rows'}, "
                    f"seed {self.seed})")
        of = f" of {sample}" if sample else ""
        if self.n_repeats > 1:
            return (f"{self.n_splits}-fold cross-validation{of} repeated {self.n_repeats} "
                    f"times (seed {self.seed})")
        return f"{self.n_splits}-fold cross-validation{of} (seed {self.seed})"

    def sample(self, X: Any, y: Any) -> tuple[Any, Any]:
        """The rows the protocol scores on: all of them, or the seeded sample (the same
        positions as ``X.sample(n, random_state=seed)`` in the generated program)."""
        if not self.sample_rows or len(X) <= self.sample_rows:
            return X, y
        return (X.sample(n=self.sample_rows, random_state=self.seed),
                y.sample(n=self.sample_rows, random_state=self.seed))

    def to_dict(self) -> dict[str, Any]:
        return {"n_splits": self.n_splits, "stratified": self.stratified, "seed": self.seed,
                "holdout": self.holdout, "test_size": self.test_size,
                "sample_rows": self.sample_rows, "n_repeats": self.n_repeats}


def choose_evaluation(y: pd.Series, *, classification: bool, seed: int = 0,
                      n_splits: int | None = None, n_repeats: int | None = None,
                      time_budget: float | None = None) -> Evaluation:
    """Pick the protocol for the data size; fewer folds when a class is too small; k-fold CV
    repeated on small data when the run's ``time_budget`` (seconds) allows (``n_repeats``:
    by default 5 up to 250 rows, 3 up to 1,000, 2 up to 2,000, once below 20 s or without
    a budget).

    Raises Text2MLError when there are too few rows or class members to validate at all.
    """
    n_rows = len(y)
    if n_rows < _MIN_ROWS:
        raise Text2MLError(
            f"Only {n_rows} usable rows: too few to train and validate a model.",
            f"Provide at least {_MIN_ROWS} rows with a known target.",
        )
    if n_splits is None:
        n_splits = 5 if n_rows <= _FIVE_FOLD_MAX_ROWS else 3
    holdout = n_rows > _THREE_FOLD_MAX_ROWS
    if classification:
        counts = y.value_counts()
        if counts.min() < 2:
            raise _single_example_error(y, counts)
        n_splits = max(2, min(n_splits, int(counts.min())))
    if n_rows < 2 * n_splits:
        raise Text2MLError(
            f"Only {n_rows} usable rows: too few for {n_splits}-fold validation.",
            f"Provide at least {2 * n_splits} rows with a known target.",
        )
    if n_repeats is None:
        n_repeats = default_repeats(n_rows, time_budget)
    return Evaluation(n_splits=1 if holdout else n_splits, stratified=classification,
                      seed=seed, holdout=holdout, n_repeats=1 if holdout else n_repeats,
                      sample_rows=_SAMPLE_ROWS if scores_on_sample(n_rows) else None)


def scores_on_sample(n_rows: int) -> bool:
    """Whether trials on ``n_rows`` rows score on a sample (``choose_evaluation``)."""
    return n_rows > _SAMPLE_ROWS


def default_repeats(n_rows: int, time_budget: float | None) -> int:
    """How often k-fold CV is repeated for ``n_rows`` rows and a run of ``time_budget`` s."""
    if time_budget is None or time_budget < _REPEATS_MIN_BUDGET:
        return 1
    if n_rows <= _FIVE_REPEATS_MAX_ROWS:
        return 5
    if n_rows <= _THREE_REPEATS_MAX_ROWS:
        return 3
    return 2 if n_rows <= _TWO_REPEATS_MAX_ROWS else 1


def _single_example_error(y: pd.Series, counts: pd.Series) -> Text2MLError:
    """Classes seen once can be neither learned nor scored: say which, and how to drop them.

    The rows are not dropped silently: the generated program, run on the user's data, must
    see the same rows as the search to reproduce its score.
    """
    rare = counts[counts < 2].index.tolist()
    name = y.name if isinstance(y.name, str) else "target"
    if len(rare) > len(y) / 2:
        return Text2MLError(
            f"The target {name!r} has {len(counts)} distinct values, {len(rare)} of them seen "
            "only once: it looks like an identifier or free text, not classes to predict.",
            "Choose the column to predict with target='...' (or --target).")
    shown = ", ".join(_short(c) for c in rare[:5])
    more = f" and {len(rare) - 5} more" if len(rare) > 5 else ""
    which = (f"The class {shown} of the target has" if len(rare) == 1
             else f"The classes {shown}{more} of the target have")
    return Text2MLError(
        f"{which} a single example, too few to validate a model.",
        f"Drop those rows, e.g. data = data[data[{name!r}].map(data[{name!r}]"
        ".value_counts()) > 1], merge the rare classes into a larger one, or add examples "
        "of them.")


def _short(value: Any, limit: int = 40) -> str:
    """A class label for a message: its repr, cut at ``limit`` characters."""
    text = repr(value.item() if hasattr(value, "item") else value)
    return text if len(text) <= limit else text[:limit - 4] + "...'"
