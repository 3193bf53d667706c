"""TaskSpec: the task as understood, from the text AND the data."""

from __future__ import annotations

import difflib
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from pandas.api.types import (
    is_bool_dtype,
    is_datetime64_any_dtype,
    is_integer_dtype,
    is_numeric_dtype,
)

from ._columns import (
    _HIGH_CARDINALITY,
    _VALUE_MATCH_MAX_LEVELS,
    CATEGORICAL,
    CONSTANT,
    DATETIME,
    EMPTY,
    FEATURE_ROLES,
    IDENTIFIER,
    IGNORED,
    LEAKAGE,
    MIXED,
    NUMERIC,
    TARGET,
    TEXT,
    UNSUPPORTED,
    _distinct,
    _exclusion_note,
    _leakage,
    _nunique,
    _plain,
    _role,
    _role_notes,
    _sample,
)
from ._input_checks import (
    _check_features,
    _check_target_values,
    check_frame,
)
from ._phrases import (
    CLASSIFICATION,
    NOT_A_TARGET,
    ParsedText,
    choose_target,
    find_metric,
    listing,
    named_class,
    task_hint,
    time_series_cue,
    unsupported_error,
    unsupported_metric,
)
from .errors import Text2MLError
from .metrics import BINARY, DEFAULT_METRIC, MULTICLASS, REGRESSION, get_metric


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
    def from_dict(cls, data: dict[str, Any]) -> TaskSpec:
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


def infer_spec(
    text: str,
    data: pd.DataFrame,
    *,
    target: str | None = None,
    metric: str | None = None,
    task_type: str | None = None,
    pos_label: Any = None,
    roles: dict[str, str] | None = None,
) -> TaskSpec:
    """Understand the task: target, task type, metric, positive label, column roles.

    Explicit arguments always win over what the text and the data suggest: ``roles`` sets
    the role of named columns (e.g. ``{"alive": "categorical"}`` keeps a column flagged as
    a leakage suspect, ``{"notes": "ignore"}`` leaves one out). Raises
    ``Text2MLError`` with the likely choices when something cannot be decided.
    """
    check_frame(data)
    explicit_roles, text = roles, "" if text is None else str(text)
    parsed = ParsedText(text)
    notes: list[str] = []
    sample = _sample(data)
    nunique = {c: _nunique(data[c]) for c in data.columns}
    roles = {c: _role(c, data[c], sample[c], nunique[c]) for c in data.columns}

    explicit_kind = _normalize_task_type(task_type) if task_type is not None else None
    text_metric = None if metric is not None else find_metric(text)[0]
    named_metric = get_metric(metric) if metric is not None else (
        get_metric(text_metric) if text_metric else None)
    hint = _kind_of(explicit_kind) or task_hint(
        parsed, named_metric and named_metric.name, named_metric.tasks if named_metric else ())
    if explicit_kind is None and target is None and (cue := time_series_cue(text, hint)):
        raise unsupported_error("Forecasting a time series", cue)

    if target is not None:
        target = _explicit_target(target, data)
    else:
        target = _choose_target(parsed, data, roles, nunique, hint, notes)

    y = data[target]
    missing = int(y.isna().sum())
    if missing == len(y):
        raise Text2MLError(f"The target column {target!r} has no values (all missing).",
                           "Choose another target with target='...' (or --target).")
    if missing:
        notes.append(f"Dropped {missing} row{'s' if missing != 1 else ''} with a missing target.")
    y = y.dropna()
    _check_target_values(y, target)
    kind = _task_type(y, target, explicit_kind, hint, notes)

    if metric is not None or text_metric is not None:
        metric_obj = get_metric(metric if metric is not None else text_metric, kind)
    else:
        metric_obj = get_metric(DEFAULT_METRIC[kind], kind)
        if (other := unsupported_metric(text)) is not None:
            notes.append(f"The text asks for {other}, which is not a supported metric; "
                         f"optimizing {metric_obj.label} instead (pass metric='...' to choose).")

    classes = None if kind == REGRESSION else _sorted_classes(y)
    label = None
    if kind == BINARY:
        label = _pos_label(pos_label, y, classes, parsed, target, metric_obj, notes)
    elif pos_label is not None:
        notes.append(f"pos_label={pos_label!r} ignored: the task is {kind}.")

    columns = dict(roles)
    columns[target] = TARGET
    usable = sample[sample[target].notna()]
    for column in _leakage(usable, target, columns, kind):
        columns[column] = LEAKAGE
    forced = _explicit_roles(explicit_roles, data, target)
    columns.update(forced)
    _check_features(columns, data, target)
    notes += [_exclusion_note(c, r, roles[c], target, data[c]) for c, r in columns.items()
              if r not in FEATURE_ROLES and r != TARGET and c not in forced]
    notes += _role_notes(columns, sample, nunique, forced)
    return TaskSpec(text=text, target=target, task_type=kind, metric=metric_obj.name,
                    direction=metric_obj.direction, columns=columns, pos_label=label,
                    classes=classes, n_rows=len(y), n_rows_dropped=missing, notes=notes)


# -- input checks --------------------------------------------------------------------------

_SETTABLE_ROLES = (*FEATURE_ROLES, IGNORED)


def _explicit_roles(roles: dict[str, str] | None, data: pd.DataFrame,
                    target: Any) -> dict[Any, str]:
    """Validate the user's role overrides: known columns, known roles, not the target."""
    if not roles:
        return {}
    if not isinstance(roles, dict):
        raise Text2MLError(f"roles={roles!r} is not a mapping of column to role.",
                           "Pass roles={'column': 'categorical'} (or --role column=categorical).")
    for column, role in roles.items():
        if column not in data.columns:
            raise Text2MLError(f"roles names {column!r}, which is not a column of the data.",
                               f"Use one of: {', '.join(map(str, data.columns[:20]))}.")
        if column == target:
            raise Text2MLError(f"roles names the target {column!r}.",
                               "Leave the target out of roles; choose it with target=.")
        if role not in _SETTABLE_ROLES:
            raise Text2MLError(f"Unknown role {role!r} for column {column!r}.",
                               f"Use one of: {', '.join(_SETTABLE_ROLES)}.")
        if role == NUMERIC and not (is_numeric_dtype(data[column])
                                    and not is_bool_dtype(data[column])
                                    and data[column].dtype.kind != "c"):
            raise Text2MLError(
                f"roles makes {column!r} numeric, but it holds {data[column].dtype} values.",
                f"Convert it first, e.g. data[{column!r}] = pd.to_numeric(data[{column!r}], "
                "errors='coerce') (text becomes missing), or use the role 'categorical'.")
    return dict(roles)

def _explicit_target(target: Any, data: pd.DataFrame) -> Any:
    if not isinstance(target, str):
        raise Text2MLError(f"target={target!r} is not a column name.",
                           f"Name one column as text, e.g. target={str(data.columns[-1])!r}.")
    if target in data.columns:
        return target
    names = [str(c) for c in data.columns]
    closest = sorted(names, key=lambda c: -difflib.SequenceMatcher(
        None, str(target).lower(), c.lower()).ratio())
    raise Text2MLError(f"The target {target!r} is not a column of the data.",
                       f"Use one of the columns (closest first): {listing(closest)}.")


def _normalize_task_type(task_type: str) -> str:
    key = str(task_type).strip().lower().replace("-", "").replace("_", "").replace(" ", "")
    kind = _TASK_TYPE_ALIASES.get(key)
    if kind is None:
        raise Text2MLError(f"Unknown task type {task_type!r}.",
                           "Use one of: binary, multiclass, regression, classification.")
    return kind


_TASK_TYPE_ALIASES = {
    "binary": BINARY, "binaryclassification": BINARY, "multiclass": MULTICLASS,
    "multiclassclassification": MULTICLASS, "regression": REGRESSION, "regressor": REGRESSION,
    "classification": CLASSIFICATION, "classifier": CLASSIFICATION,
}


def _kind_of(task_type: str | None) -> str | None:
    """The broad kind ('classification'/'regression') of an explicit task type."""
    if task_type is None:
        return None
    return REGRESSION if task_type == REGRESSION else CLASSIFICATION


# -- target ----------------------------------------------------------------------------------

_IMAGE_PATH = r"(?i)\.(?:png|jpe?g|gif|bmp|tiff?|webp)$"


def _choose_target(parsed: ParsedText, data: pd.DataFrame, roles: dict[Any, str],
                   nunique: dict[Any, int], hint: str | None, notes: list[str]) -> Any:
    """The column the text asks to predict; the data says which candidates fit the task."""
    values = {c: _distinct(data[c]) for c in data.columns
              if 2 <= nunique[c] <= _VALUE_MATCH_MAX_LEVELS and roles[c] == CATEGORICAL
              and not is_bool_dtype(data[c])}
    return choose_target(parsed, list(data.columns), values,
                         lambda c: _fit(data[c], roles[c], nunique[c], hint),
                         lambda: _has_image_paths(data), notes,
                         lambda c: _unfit_reason(roles[c], data[c], nunique[c]))


def _unfit_reason(role: str, col: pd.Series, n_unique: int) -> str | None:
    """Why a column cannot be the target, in words (None if it can)."""
    if role == IDENTIFIER:
        return "it looks like an identifier (a different value in almost every row)"
    if role == TEXT:
        if isinstance(col.dtype, pd.CategoricalDtype) or n_unique > _HIGH_CARDINALITY:
            return f"it has {n_unique:,} distinct values, too many to be classes"
        return "it holds free text"
    return {
        DATETIME: "it holds dates; predicting dates is not supported yet",
        EMPTY: "all its values are missing",
        CONSTANT: "it holds a single value; there is nothing to predict",
        MIXED: "it mixes numbers and text",
        UNSUPPORTED: f"its values ({col.dtype}) are of a type no model predicts",
    }.get(role)


def _fit(col: pd.Series, role: str, n_unique: int, hint: str | None) -> float:
    """How well a column's values fit the kind of task the text asks for (+1 fits, <0 not)."""
    if role not in (NUMERIC, CATEGORICAL):
        return NOT_A_TARGET
    numeric = is_numeric_dtype(col) and not is_bool_dtype(col)
    if hint == CLASSIFICATION:
        few_levels = n_unique <= 2 or not numeric or (
            n_unique <= _MAX_INTEGER_CLASSES and _integral(col.dropna()))
        return 1.0 if few_levels else -4.0
    if hint == REGRESSION:
        return 1.0 if numeric and n_unique > 2 else -4.0
    return 0.0


def _has_image_paths(data: pd.DataFrame) -> bool:
    """Whether some column holds image file names (a task on images, not on a table)."""
    for column in data.columns:
        if not is_numeric_dtype(data[column]) and not is_bool_dtype(data[column]):
            head = data[column].dropna().astype(str).head(50)
            if len(head) and head.str.contains(_IMAGE_PATH, regex=True).mean() >= 0.5:
                return True
    return False


# -- task type, classes, positive label ------------------------------------------------------

_MAX_INTEGER_CLASSES = 20
_CONVENTIONAL_POSITIVE = ("yes", "y", "true", "positive", "pos", "1")


def _task_type(y: pd.Series, target: Any, explicit: str | None, hint: str | None,
               notes: list[str]) -> str:
    """binary / multiclass / regression from the target's values, the text and the caller."""
    n = y.nunique()
    if n < 2:
        raise Text2MLError(
            f"The target {target!r} has a single value ({_plain(y.iloc[0])!r}) in every row; "
            "there is nothing to predict.",
            "Choose another target with target='...' (or --target), or use data that has "
            "more than one outcome.")
    if is_datetime64_any_dtype(y):
        raise Text2MLError(f"The target {target!r} holds dates; predicting dates is not "
                           "supported yet.", "Predict a numeric or categorical column.")
    numeric = is_numeric_dtype(y) and not is_bool_dtype(y)
    if explicit is not None:
        if explicit == CLASSIFICATION:
            return BINARY if n == 2 else MULTICLASS
        if explicit == REGRESSION and not numeric:
            raise Text2MLError(f"task_type='regression' needs a numeric target, but {target!r} "
                               f"holds {y.dtype} values.",
                               "Use task_type='classification', or choose a numeric target.")
        if explicit == BINARY and n != 2:
            raise Text2MLError(f"task_type='binary' needs two classes, but {target!r} has {n}.",
                               "Use task_type='multiclass' (or leave task_type out).")
        return explicit
    if n == 2:
        return BINARY
    if not numeric:
        return MULTICLASS
    if n <= _MAX_INTEGER_CLASSES and (_integral(y) or hint == CLASSIFICATION):
        if hint == REGRESSION:
            return REGRESSION
        if hint is None:
            notes.append(f"Target {target!r} has {n} numeric levels: treated as multiclass "
                         "classification (pass task_type='regression' to predict a number).")
        return MULTICLASS
    if hint == CLASSIFICATION:
        notes.append(f"The text suggests classification, but {target!r} has {n} distinct "
                     "numeric values: treated as regression (pass task_type='multiclass' to "
                     "override).")
    return REGRESSION


def _integral(values: pd.Series) -> bool:
    if is_integer_dtype(values):
        return True
    if not is_numeric_dtype(values) or is_bool_dtype(values):
        return False
    array = values.to_numpy(dtype=float)
    return bool(np.all(np.isfinite(array)) and np.all(array == np.round(array)))


def _sorted_classes(y: pd.Series) -> list[Any]:
    values = [_plain(v) for v in y.unique()]
    try:
        return sorted(values)
    except TypeError:
        return sorted(values, key=str)


def _pos_label(explicit: Any, y: pd.Series, classes: list[Any], parsed: ParsedText,
               target: Any, metric: Any, notes: list[str]) -> Any:
    """The positive class: explicit, else named in the text, else 1/True/'yes', else minority."""
    if explicit is not None:
        return _coerce_label(explicit, classes, target)
    if (named := named_class(parsed, classes)) is not None:
        return named
    if set(classes) in ({0, 1}, {False, True}):
        return classes[1]
    for value in classes:
        if isinstance(value, str) and value.strip().lower() in _CONVENTIONAL_POSITIVE:
            return value
    counts = y.value_counts()
    minority = _plain(counts.index[-1])
    if metric.uses_pos_label(BINARY):
        notes.append(f"Positive class for {metric.label}: {minority!r}, the rarer class of "
                     f"{target!r} (pass pos_label=... to choose another).")
    return minority


def _coerce_label(value: Any, classes: list[Any], target: Any) -> Any:
    """An explicit pos_label as one of the classes ('1' -> 1 for an integer target)."""
    text = str(value).strip().lower()
    for cls in classes:
        if type(cls) is type(value) and cls == value:
            return cls
    for cls in classes:
        if str(cls).strip().lower() == text:
            return cls
        if isinstance(cls, bool) and text in ("true", "false", "1", "0", "yes", "no"):
            if cls == (text in ("true", "1", "yes")):
                return cls
        elif isinstance(cls, (int, float)):
            try:
                if float(text) == cls:
                    return cls
            except ValueError:
                pass
    raise Text2MLError(f"pos_label={value!r} is not a class of the target {target!r}.",
                       f"Use one of its classes: {listing(classes)}.")


def training_data(spec: TaskSpec, data: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
    """(X, y): usable rows (target present), feature columns only, original order."""
    rows = data[spec.target].notna()
    X = data.loc[rows, spec.features]
    y = data.loc[rows, spec.target]
    return X, y


__all__ = ["TaskSpec", "infer_spec", "training_data", "Text2MLError",
           "BINARY", "MULTICLASS", "REGRESSION"]
