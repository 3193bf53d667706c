"""Metrics: name, direction, and the scikit-learn scorer that computes them.

One definition serves the search (scores in worker processes) and the generated program
(``cross_val_score(..., scoring=...)``), so the score a user reproduces is the score the
search reported, to the last digit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .errors import Text2MLError

BINARY = "binary"
MULTICLASS = "multiclass"
REGRESSION = "regression"
TASK_TYPES = (BINARY, MULTICLASS, REGRESSION)


@dataclass(frozen=True)
class Metric:
    """A metric as the user names it, with what the search needs to optimize it.

    ``sklearn_name`` is the scorer name for ``sklearn.metrics.get_scorer``; a ``neg_``
    scorer is a loss, reported back in natural units (RMSE is positive).
    """

    name: str
    label: str
    direction: str  # "maximize" or "minimize"
    tasks: tuple[str, ...]
    sklearn_name: dict[str, str]  # task type -> scorer name
    needs_pos_label: bool = False

    def scorer_name(self, task_type: str) -> str:
        return self.sklearn_name[task_type]

    def uses_pos_label(self, task_type: str) -> bool:
        return self.needs_pos_label and task_type == BINARY

    def scorer(self, task_type: str, pos_label: Any = None) -> Any:
        """The scikit-learn scorer object (``scorer(estimator, X, y) -> float``)."""
        from sklearn.metrics import f1_score, get_scorer, make_scorer

        if self.uses_pos_label(task_type):
            return make_scorer(f1_score, pos_label=pos_label)
        return get_scorer(self.scorer_name(task_type))

    def scorer_code(self, task_type: str, pos_label: Any = None) -> tuple[list[str], str]:
        """(imports, expression) that build the same scorer in a generated program."""
        if self.uses_pos_label(task_type):
            return (["from sklearn.metrics import f1_score, make_scorer"],
                    f"make_scorer(f1_score, pos_label={pos_label!r})")
        return ([], repr(self.scorer_name(task_type)))

    def from_scorer(self, task_type: str, value: float) -> float:
        """Natural units from a scorer value (scorers negate losses)."""
        return -value if self.scorer_name(task_type).startswith("neg_") else value

    def better(self, a: float, b: float) -> bool:
        """Whether score ``a`` is strictly better than ``b``."""
        return a > b if self.direction == "maximize" else a < b


_CLASSIFICATION = (BINARY, MULTICLASS)

METRICS: dict[str, Metric] = {
    m.name: m
    for m in [
        Metric("accuracy", "accuracy", "maximize", _CLASSIFICATION,
               {BINARY: "accuracy", MULTICLASS: "accuracy"}),
        Metric("balanced_accuracy", "balanced accuracy", "maximize", _CLASSIFICATION,
               {BINARY: "balanced_accuracy", MULTICLASS: "balanced_accuracy"}),
        Metric("f1", "F1", "maximize", _CLASSIFICATION,
               {BINARY: "f1", MULTICLASS: "f1_macro"}, needs_pos_label=True),
        Metric("roc_auc", "ROC AUC", "maximize", _CLASSIFICATION,
               {BINARY: "roc_auc", MULTICLASS: "roc_auc_ovr"}),
        Metric("log_loss", "log loss", "minimize", _CLASSIFICATION,
               {BINARY: "neg_log_loss", MULTICLASS: "neg_log_loss"}),
        Metric("rmse", "RMSE", "minimize", (REGRESSION,),
               {REGRESSION: "neg_root_mean_squared_error"}),
        Metric("mae", "MAE", "minimize", (REGRESSION,),
               {REGRESSION: "neg_mean_absolute_error"}),
        Metric("r2", "R²", "maximize", (REGRESSION,), {REGRESSION: "r2"}),
    ]
}

DEFAULT_METRIC = {BINARY: "accuracy", MULTICLASS: "accuracy", REGRESSION: "rmse"}

# Spellings users write (in options and in task text), normalized to lower case without
# punctuation; the spec module matches these against the task text too.
ALIASES: dict[str, str] = {
    "accuracy": "accuracy", "acc": "accuracy",
    "balanced accuracy": "balanced_accuracy", "balanced_accuracy": "balanced_accuracy",
    "f1": "f1", "f1 score": "f1", "f score": "f1", "f1_score": "f1", "f1 macro": "f1",
    "roc auc": "roc_auc", "roc_auc": "roc_auc", "auc": "roc_auc", "auroc": "roc_auc",
    "area under the curve": "roc_auc", "area under the roc curve": "roc_auc",
    "log loss": "log_loss", "logloss": "log_loss", "log_loss": "log_loss",
    "cross entropy": "log_loss", "cross-entropy": "log_loss",
    "rmse": "rmse", "root mean squared error": "rmse", "root mean square error": "rmse",
    "mae": "mae", "mean absolute error": "mae",
    "r2": "r2", "r²": "r2", "r squared": "r2", "r-squared": "r2",
    "coefficient of determination": "r2",
}


def get_metric(name: str, task_type: str | None = None) -> Metric:
    """Look a metric up by name or alias; check it fits the task type when given."""
    key = ALIASES.get(str(name).strip().lower().replace("-", " ").replace("_", " "),
                      ALIASES.get(str(name).strip().lower()))
    if key is None:
        raise Text2MLError(
            f"Unknown metric {name!r}.",
            f"Use one of: {', '.join(METRICS)} (for example metric='f1').",
        )
    metric = METRICS[key]
    if task_type is not None and task_type not in metric.tasks:
        fitting = [m.name for m in METRICS.values() if task_type in m.tasks]
        made_for = "regression" if REGRESSION in metric.tasks else "classification"
        raise Text2MLError(
            f"The metric {metric.label} does not fit a {task_type} task ({metric.label} "
            f"scores {made_for}).",
            f"Use one of: {', '.join(fitting)}, or say the task type if it was misread.",
        )
    return metric
