"""What the offline catalog knows about a task, and how it writes a candidate.

The catalog writes each candidate's source from a template: the source is what ends up in
the user's notebook, so the templates are plain, readable scikit-learn code with literal
values (seed, bounds, sizes) filled in for this task.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from string import Template
from typing import Any

from ..candidates import Candidate
from ..metrics import BINARY, MULTICLASS, REGRESSION
from ..slots import allowed_imports
from . import GenerationContext

# Data sizes (rows) where the catalog changes its mind.
TINY_ROWS = 1_000  # a few hundred rows: regularized defaults, fewer trees per forest
SMALL_ROWS = 3_000  # kernel SVMs (and SVC's internal probability CV) stay cheap below this
EARLY_STOPPING_ROWS = 10_000  # gradient boosting holds out a validation split above this
LARGE_ROWS = 20_000  # above this, the cheap-to-fit encodings and models come first
KNN_MAX_ROWS = 20_000  # neighbour search at predict time grows with the training rows
KNN_MAX_FEATURES = 50
POLYNOMIAL_MAX_FEATURES = 15
POLYNOMIAL_MAX_ROWS = 20_000

# Skew of a non-negative target above which a log transform is worth trying.
LOG_TARGET_MIN_SKEW = 0.75


@dataclass(frozen=True)
class Profile:
    """The facts about a task that decide which candidates suit it."""

    task_type: str
    metric: str
    n_rows: int
    n_features: int
    seed: int
    roles: dict[str, int]  # role -> number of feature columns
    pos_label: Any = None
    target_min: float | None = None
    target_skew: float | None = None
    lightgbm: bool = False  # the optional lightgbm package is installed

    @property
    def classification(self) -> bool:
        return self.task_type in (BINARY, MULTICLASS)

    @property
    def binary(self) -> bool:
        return self.task_type == BINARY

    @property
    def regression(self) -> bool:
        return self.task_type == REGRESSION

    @property
    def has_text(self) -> bool:
        return self.roles.get("text", 0) > 0

    @property
    def text_only(self) -> bool:
        """Only text columns: every preprocess output is then non-negative (TF-IDF)."""
        return self.has_text and all(n == 0 for r, n in self.roles.items() if r != "text")

    @property
    def small(self) -> bool:
        return self.n_rows <= SMALL_ROWS

    @property
    def large(self) -> bool:
        return self.n_rows > LARGE_ROWS

    @property
    def early_stopping(self) -> bool:
        return self.n_rows > EARLY_STOPPING_ROWS

    @property
    def knn_fits(self) -> bool:
        return (not self.has_text and self.n_rows <= KNN_MAX_ROWS
                and self.n_features <= KNN_MAX_FEATURES)

    @property
    def polynomial_fits(self) -> bool:
        """Few numeric columns only: one-hot columns would multiply the products (and the
        fit time of every model after them)."""
        n_columns = sum(self.roles.values())
        return (self.roles.get("numeric", 0) == n_columns
                and n_columns <= POLYNOMIAL_MAX_FEATURES
                and self.n_rows <= POLYNOMIAL_MAX_ROWS)

    def n_trees(self) -> int:
        """Forest size: enough trees to be stable, few enough to fit in seconds (on small
        data each trial fits a forest per fold of repeated cross-validation)."""
        if self.n_rows <= 2_000:
            return 100
        if self.n_rows <= 5_000:
            return 150
        return 100 if self.n_rows <= LARGE_ROWS else 50

    def max_samples(self) -> float | None:
        """Bootstrap sample fraction capping each tree at ~100k rows on very large data."""
        return None if self.n_rows <= 200_000 else round(100_000 / self.n_rows, 4)


def profile_of(context: GenerationContext) -> Profile:
    """The catalog's view of a generation context (the spec, the sizes, the target stats)."""
    spec = context.spec
    roles = {role: len(cols) for role, cols in spec.columns_by_role().items()}
    pos_label = _positive_label(spec.pos_label, spec.classes, spec.task_type)
    extra = context.extra or {}
    return Profile(
        task_type=spec.task_type, metric=spec.metric,
        n_rows=int(context.n_rows or spec.n_rows), n_features=int(context.n_features),
        seed=int(context.seed), roles=roles, pos_label=_plain(pos_label),
        target_min=_number(extra.get("target_min")), target_skew=_number(extra.get("target_skew")),
        lightgbm=lightgbm_installed(),
    )


def lightgbm_installed() -> bool:
    """Whether ``lightgbm`` is installed, so candidates may import it (slots.allowed_imports)."""
    return "lightgbm" in allowed_imports()


def candidate(slot: str, name: str, description: str, template: str,
              defaults: dict[str, Any] | None = None, **values: Any) -> Candidate:
    """A catalog candidate: the template's ``$name`` placeholders are replaced by ``values``
    (strings as given, anything else by its ``repr``)."""
    mapping = {k: v if isinstance(v, str) else repr(v) for k, v in values.items()}
    source = Template(textwrap.dedent(template).strip("\n")).substitute(mapping) + "\n"
    return Candidate(slot=slot, name=name, source=source, description=description,
                     origin="offline", defaults=dict(defaults or {}), catalog=True)


def _positive_label(pos_label: Any, classes: list[Any] | None, task_type: str) -> Any:
    """The positive class as the target spells it ("1" for a 0/1 target is 1)."""
    if task_type != BINARY or not classes:
        return pos_label
    if pos_label is None:
        return classes[-1]  # scikit-learn's convention: the greater label
    if pos_label not in classes:
        same = [c for c in classes if str(c) == str(pos_label)]
        if len(same) == 1:
            return same[0]
    return pos_label


def _plain(value: Any) -> Any:
    """numpy scalars -> Python scalars, so the label is written as a plain literal."""
    return value.item() if hasattr(value, "item") else value


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number == number else None  # NaN -> None
