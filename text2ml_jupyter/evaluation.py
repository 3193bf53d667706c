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
    if n_splits is None:
        n_splits = 5 if n_rows <= _FIVE_FOLD_MAX_ROWS else 3
    holdout = n_rows > _THREE_FOLD_MAX_ROWS
    if classification:
        smallest = int(y.value_counts().min()) if n_rows else 0
        if smallest < 2:
            counts = y.value_counts()
            rare = [repr(c) for c in counts[counts < 2].index[:5]]
            raise Text2MLError(
                f"The class {', '.join(rare)} of the target has a single example, too few "
                "to validate a model.",
                "Drop or merge the rare classes, or add examples of them.",
            )
        n_splits = max(2, min(n_splits, smallest))
    if n_rows < 2 * n_splits or n_rows < 10:
        raise Text2MLError(
            f"Only {n_rows} usable rows: too few to train and validate a model.",
            "Provide at least 10 rows with a known target.",
        )
    return Evaluation(n_splits=1 if holdout else n_splits, stratified=classification,
                      seed=seed, holdout=holdout)
