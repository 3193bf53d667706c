"""The validation protocol: which rows score a pipeline, identical in search and program.

Cross-validation on small and medium data, one holdout split on large data; stratified for
classification; always seeded. The search scores a trial fold by fold with exactly the
splitter and scorer the generated program passes to ``cross_val_score``, so the program
reproduces the reported score.
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
_MIN_ROWS = 10  # fewer rows cannot both train a model and score it on unseen rows


@dataclass(frozen=True)
class Evaluation:
    """How a pipeline is scored: k-fold CV (``n_splits`` > 1) or one holdout split."""

    n_splits: int
    stratified: bool
    seed: int = 0
    holdout: bool = False
    test_size: float = _HOLDOUT_SIZE

    def splitter(self) -> Any:
        from sklearn.model_selection import (KFold, ShuffleSplit, StratifiedKFold,
                                             StratifiedShuffleSplit)

        if self.holdout:
            cls = StratifiedShuffleSplit if self.stratified else ShuffleSplit
            return cls(n_splits=1, test_size=self.test_size, random_state=self.seed)
        cls = StratifiedKFold if self.stratified else KFold
        return cls(n_splits=self.n_splits, shuffle=True, random_state=self.seed)

    def splitter_code(self) -> tuple[str, str]:
        """(import line, expression) building the same splitter in a generated program."""
        if self.holdout:
            name = "StratifiedShuffleSplit" if self.stratified else "ShuffleSplit"
            expr = f"{name}(n_splits=1, test_size={self.test_size}, random_state={self.seed})"
        else:
            name = "StratifiedKFold" if self.stratified else "KFold"
            expr = f"{name}(n_splits={self.n_splits}, shuffle=True, random_state={self.seed})"
        return f"from sklearn.model_selection import {name}", expr

    def describe(self) -> str:
        if self.holdout:
            return f"holdout ({int(self.test_size * 100)}% of rows, seed {self.seed})"
        return f"{self.n_splits}-fold cross-validation (seed {self.seed})"

    def to_dict(self) -> dict[str, Any]:
        return {"n_splits": self.n_splits, "stratified": self.stratified, "seed": self.seed,
                "holdout": self.holdout, "test_size": self.test_size}


def choose_evaluation(y: pd.Series, *, classification: bool, seed: int = 0,
                      n_splits: int | None = None) -> Evaluation:
    """Pick the protocol for the data size; fewer folds when a class is too small.

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
    return Evaluation(n_splits=1 if holdout else n_splits, stratified=classification,
                      seed=seed, holdout=holdout)


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
