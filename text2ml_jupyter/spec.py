"""TaskSpec: the task as understood, from the text AND the data."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd

from .errors import Text2MLError
from .metrics import BINARY, MULTICLASS, REGRESSION, get_metric

# Column roles. The first four are used as features; the others are excluded with a note.
NUMERIC = "numeric"
CATEGORICAL = "categorical"
TEXT = "text"
DATETIME = "datetime"
IDENTIFIER = "identifier"
CONSTANT = "constant"
LEAKAGE = "leakage"
EMPTY = "empty"
TARGET = "target"
FEATURE_ROLES = (NUMERIC, CATEGORICAL, TEXT, DATETIME)


@dataclass
class TaskSpec:
    """What the run will optimize, and how every column is used.

    ``columns`` maps every column of the input (target included) to its role;
    ``notes`` are the visible explanations (dropped rows, excluded columns, ambiguity).
    """

    text: str
    target: str
    task_type: str  # binary | multiclass | regression
    metric: str  # a key of metrics.METRICS
    direction: str  # maximize | minimize
    columns: dict[str, str]
    pos_label: Any = None
    classes: list[Any] | None = None
    n_rows: int = 0  # usable rows (target present)
    n_rows_dropped: int = 0  # rows dropped for a missing target
    notes: list[str] = field(default_factory=list)

    @property
    def is_classification(self) -> bool:
        return self.task_type in (BINARY, MULTICLASS)

    @property
    def features(self) -> list[str]:
        """Columns used as model input, in the data's order."""
        return [c for c, r in self.columns.items() if r in FEATURE_ROLES]

    def columns_by_role(self) -> dict[str, list[str]]:
        """Feature columns grouped by role: {"numeric": [...], "categorical": [...], ...}."""
        return {role: [c for c, r in self.columns.items() if r == role] for role in FEATURE_ROLES}

    def excluded(self) -> dict[str, str]:
        """Columns left out of the model, with their role (the reason)."""
        return {c: r for c, r in self.columns.items() if r not in FEATURE_ROLES and r != TARGET}

    def metric_label(self) -> str:
        label = get_metric(self.metric).label
        if self.pos_label is not None and get_metric(self.metric).uses_pos_label(self.task_type):
            return f"{label} (positive class {self.pos_label!r})"
        return label

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["pos_label"] = _plain(self.pos_label)
        data["classes"] = None if self.classes is None else [_plain(c) for c in self.classes]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TaskSpec":
        return cls(**data)

    def summary(self) -> str:
        """A few plain-text lines: the task as understood."""
        roles = self.columns_by_role()
        lines = [
            f"Target: {self.target} ({self.task_type}"
            + (f", {len(self.classes)} classes" if self.classes else "") + ")",
            f"Metric: {self.metric_label()}, {self.direction}",
            f"Rows: {self.n_rows}" + (f" ({self.n_rows_dropped} dropped: missing target)"
                                      if self.n_rows_dropped else ""),
        ]
        for role in FEATURE_ROLES:
            if roles[role]:
                lines.append(f"{role.capitalize()} columns ({len(roles[role])}): "
                             + ", ".join(roles[role]))
        for column, role in self.excluded().items():
            lines.append(f"Excluded: {column} ({role})")
        lines += [f"Note: {n}" for n in self.notes]
        return "\n".join(lines)


def _plain(value: Any) -> Any:
    """numpy scalars -> Python scalars, so the spec serializes to JSON."""
    return value.item() if hasattr(value, "item") else value


def infer_spec(
    text: str,
    data: pd.DataFrame,
    *,
    target: str | None = None,
    metric: str | None = None,
    task_type: str | None = None,
    pos_label: Any = None,
) -> TaskSpec:
    """Understand the task: target, task type, metric, positive label, column roles.

    Explicit arguments always win over what the text and the data suggest. Raises
    ``Text2MLError`` with the likely choices when something cannot be decided.
    """
    raise NotImplementedError  # filled in by the spec inference work


def training_data(spec: TaskSpec, data: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
    """(X, y): usable rows (target present), feature columns only, original order."""
    rows = data[spec.target].notna()
    X = data.loc[rows, spec.features]
    y = data.loc[rows, spec.target]
    return X, y


__all__ = ["TaskSpec", "infer_spec", "training_data", "Text2MLError",
           "BINARY", "MULTICLASS", "REGRESSION"]
