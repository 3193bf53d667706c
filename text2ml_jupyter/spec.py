"""TaskSpec: the task as understood, from the text AND the data."""

from __future__ import annotations

import datetime
import difflib
import numbers
import re
import warnings
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

from ._phrases import (
    CLASSIFICATION,
    NOT_A_TARGET,
    ParsedText,
    choose_target,
    find_metric,
    listing,
    name_words,
    named_class,
    task_hint,
    time_series_cue,
    unsupported_error,
    unsupported_metric,
)
from .errors import Text2MLError
from .metrics import BINARY, DEFAULT_METRIC, MULTICLASS, REGRESSION, get_metric

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
IGNORED = "ignore"  # left out because the user said so
MIXED = "mixed"  # numbers with a few text values: neither a number nor a category
UNSUPPORTED = "unsupported"  # a dtype no pipeline step reads (complex numbers)
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

def check_frame(data: Any) -> None:
    """Raise ``Text2MLError`` unless ``data`` is a table a task can use: a DataFrame with
    rows, at least two columns, and distinct text column names (the task, the roles and the
    generated program refer to columns by name)."""
    if not isinstance(data, pd.DataFrame):
        raise not_a_table(data)
    if len(data) == 0 or data.shape[1] == 0:
        raise Text2MLError(
            f"The data has no rows or no columns ({_count(len(data), 'row')}, "
            f"{_count(data.shape[1], 'column')}).",
            "Pass the full table, with the column to predict and the columns to use.")
    if data.shape[1] < 2:
        raise Text2MLError(
            f"The data has a single column ({str(data.columns[0])!r}); a task needs at least "
            "two columns (a target and a feature).",
            "Pass the full table, with the column to predict and the columns to use.")
    unnamed = [c for c in data.columns if not isinstance(c, str)]
    if unnamed:
        raise Text2MLError(
            f"Column names must be text; {listing(unnamed, 5)} "
            f"{'is' if len(unnamed) == 1 else 'are'} not (e.g. the numbered columns of a "
            "table built from an array).",
            "Name the columns, e.g. data.columns = ['age', 'fare', ..., 'survived'], or "
            "data.columns = data.columns.map(str).")
    duplicated = data.columns[data.columns.duplicated()].unique().tolist()
    if duplicated:
        raise Text2MLError(f"Duplicate column names: {listing(duplicated)}.",
                           "Give every column a distinct name (data.columns = [...]).")


def not_a_table(value: Any, name: str = "The data") -> Text2MLError:
    """The error for data that is not a DataFrame, with the fix that fits what it is."""
    kind = {"ndarray": "NumPy array"}.get(type(value).__name__, type(value).__name__)
    fix = "Pass a pandas DataFrame, e.g. df = pd.read_csv('data.csv')."
    if isinstance(value, pd.Series):
        fix = ("A Series is one column; pass the whole DataFrame, with the column to predict "
               "and the columns to learn from.")
    elif isinstance(value, np.ndarray):
        fix = ("An array has no column names for the task to refer to; name them: "
               "pd.DataFrame(array, columns=['age', 'fare', ..., 'survived']).")
    elif isinstance(value, dict):
        fix = ("A dict of columns becomes a table with pd.DataFrame(data); a dict of single "
               "values is one row, too few to learn from.")
    elif isinstance(value, (list, tuple)):
        fix = ("Rows (a list of dicts or of lists) become a table with pd.DataFrame(rows, "
               "columns=[...]).")
    elif isinstance(value, str):
        fix = "Pass a DataFrame, or the path of a CSV or Parquet file."
    article = "an" if kind[:1].lower() in "aeio" else "a"
    return Text2MLError(f"{name} is {article} {kind}, not a table (a pandas DataFrame).", fix)


def _count(n: int, noun: str) -> str:
    """'1 row', '3 rows', '10,000 rows'."""
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def _check_target_values(y: pd.Series, target: Any) -> None:
    """The target's present values must be one kind a model can learn: finite numbers,
    or labels of one type (a classifier sorts its classes; 1 and 'a' cannot be sorted)."""
    if is_numeric_dtype(y) and not is_bool_dtype(y):
        if y.dtype.kind == "c":
            raise Text2MLError(f"The target {target!r} holds complex numbers.",
                               "Predict a real-valued or categorical column.")
        n_inf = int(np.isinf(y.to_numpy(dtype=float, na_value=np.nan)).sum())
        if n_inf:
            raise Text2MLError(
                f"The target {target!r} is infinite (inf or -inf) in {_count(n_inf, 'row')}.",
                f"Make those values missing, and the rows are left out: data[{target!r}] = "
                f"data[{target!r}].replace([np.inf, -np.inf], np.nan).")
        return
    if is_datetime64_any_dtype(y) or y.dtype.kind == "m":
        return  # _task_type explains that dates are not a target
    kinds = _value_kinds(y.to_numpy(dtype=object))  # every value: one odd row breaks a fit
    if "date" in kinds:
        raise Text2MLError(f"The target {target!r} holds dates; predicting dates is not "
                           "supported yet.", "Predict a numeric or categorical column.")
    if not kinds <= {"number", "text"}:
        odd = sorted(kinds - {"number", "text"})
        raise Text2MLError(f"The target {target!r} holds {', '.join(odd)} values; a target "
                           "holds numbers or labels (text).",
                           "Predict a column of numbers or labels, or convert this one, "
                           f"e.g. data[{target!r}] = data[{target!r}].astype(str).")
    if kinds == {"number"} and y.dtype == object:
        _check_object_numbers(y, target)
    if kinds == {"text"}:
        distinct = pd.Series(_distinct(y)[:_STRING_SAMPLE], dtype=object).astype(str)
        if len(distinct) > _VALUE_MATCH_MAX_LEVELS and \
                _MIXED_MIN_SHARE <= _numeric_share(distinct) < 1:
            raise Text2MLError(
                f"The target {target!r} holds numbers and, in a few rows, text "
                f"({_mixed_text(y)}).",
                f"To predict the numbers, make that text missing (those rows are then left "
                f"out): data[{target!r}] = pd.to_numeric(data[{target!r}], errors='coerce').")
    if len(kinds) > 1:
        examples = _mixed_examples(y)
        raise Text2MLError(
            f"The target {target!r} mixes numbers and text ({examples}); its classes must be "
            "of one type.",
            f"Make them all text: data[{target!r}] = data[{target!r}].astype(str), or fix "
            "the values that do not belong.")


def _check_object_numbers(y: pd.Series, target: Any) -> None:
    """Numbers or True/False stored as Python objects (how pandas reads a True/False column
    with blanks) are no label type scikit-learn knows; a proper dtype fixes that."""
    values = y.to_numpy(dtype=object)
    if all(isinstance(v, (bool, np.bool_)) for v in values):
        what, dtype = "True/False values", "bool"
    elif all(float(v).is_integer() for v in values):
        what, dtype = "whole numbers", "int"
    else:
        what, dtype = "numbers", "float"
    raise Text2MLError(
        f"The target {target!r} holds {what} stored as Python objects (dtype object, as "
        "pandas reads such a column with blanks); scikit-learn cannot read them as a target.",
        f"Drop the rows without a target and give the column its type: data = "
        f"data.dropna(subset=[{target!r}]).astype({{{target!r}: {dtype}}}).")


def _mixed_examples(col: pd.Series) -> str:
    """One number and one text value of a mixed column, for messages: "1, 'a'"."""
    values = _distinct(col.astype(object))
    number = next((v for v in values if _value_kinds([v]) == {"number"}), None)
    text = next((v for v in values if isinstance(v, str)), None)
    return ", ".join(repr(_plain(v)) for v in (number, text) if v is not None)


def _check_features(columns: dict[Any, str], data: pd.DataFrame, target: Any) -> None:
    """Some column must be left to learn from, and numeric inputs must be finite: the
    pipeline imputes missing values, but an infinite one has no meaningful scale."""
    features = [c for c, r in columns.items() if r in FEATURE_ROLES]
    if not features:
        excluded = [f"{c!r} ({r})" for c, r in columns.items() if r != TARGET]
        keep = next((c for c, r in columns.items() if r in (IDENTIFIER, MIXED, LEAKAGE)),
                    None)
        raise Text2MLError(
            f"No column is left to learn {target!r} from: {', '.join(excluded[:10])}"
            + (f" and {len(excluded) - 10} more" if len(excluded) > 10 else "") + ".",
            "Add columns that describe each row"
            + (f", or keep an excluded one with roles={{{keep!r}: 'categorical'}}"
               if keep is not None else "") + ".")
    infinite = {}
    for column in features:
        col = data[column]
        if col.dtype.kind == "f":  # float64, float32, Float64: the dtypes that hold inf
            n_inf = int(np.isinf(col.to_numpy(dtype=float, na_value=np.nan)).sum())
            if n_inf:
                infinite[column] = n_inf
    if infinite:
        names = list(infinite)
        shown = ", ".join(f"{c!r} ({_count(n, 'row')})" for c, n in list(infinite.items())[:5])
        raise Text2MLError(
            f"Infinite values (inf or -inf) in {shown}; a model cannot learn from them.",
            f"Make them missing values, which the pipeline fills in: cols = {names!r}; "
            "data[cols] = data[cols].replace([np.inf, -np.inf], np.nan). Or leave the "
            "columns out with roles={'column': 'ignore'}.")


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

_VALUE_MATCH_MAX_LEVELS = 30
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


# -- column roles ------------------------------------------------------------------------------

_SAMPLE_ROWS = 20_000
_HIGH_CARDINALITY = 1_000  # levels above which a string column is encoded like text
_NEARLY_UNIQUE = 0.95  # distinct share of present values above which strings are an ID
_MIXED_MIN_SHARE = 0.9  # numbers among the distinct values of a "numbers + some text" column
_STRING_SAMPLE = 2_000
_TEXT_MIN_WORDS = 4.0
_TEXT_MIN_UNIQUE = 0.5
_ID_WORDS = frozenset({"id", "ids", "uuid", "guid", "key", "idx", "index", "pk"})
_MONTHS = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)"
_DATE_LIKE = re.compile(rf"\d.*(?:[-/:]|\b{_MONTHS})|\b{_MONTHS}[a-z]*\b.*\d", re.IGNORECASE)


def _sample(data: pd.DataFrame) -> pd.DataFrame:
    """At most ``_SAMPLE_ROWS`` rows (seeded, original order) for role and leakage statistics."""
    if len(data) <= _SAMPLE_ROWS:
        return data
    rows = np.sort(np.random.default_rng(0).choice(len(data), _SAMPLE_ROWS, replace=False))
    return data.iloc[rows]


def _nunique(col: pd.Series) -> int:
    try:
        return int(col.nunique())
    except TypeError:  # unhashable cells (lists, dicts)
        return int(col.astype(str).nunique())


def _distinct(col: pd.Series) -> list[Any]:
    """Distinct non-missing values (as text when cells are unhashable)."""
    try:
        return col.dropna().unique().tolist()
    except TypeError:
        return col.dropna().astype(str).unique().tolist()


def _role(name: Any, col: pd.Series, sample: pd.Series, n_unique: int) -> str:
    """The role of one feature column, from its dtype, values and name."""
    n_present = int(col.notna().sum())
    if n_present == 0:
        return EMPTY
    if n_unique == 1:
        return CONSTANT
    unique_rows = n_unique == len(col)
    id_name = _id_like(name)
    if is_datetime64_any_dtype(col):
        return DATETIME
    if is_bool_dtype(col):
        return CATEGORICAL
    if col.dtype.kind == "c":
        return UNSUPPORTED
    if is_numeric_dtype(col):
        if unique_rows and is_integer_dtype(col) and (id_name or _is_row_counter(col)):
            return IDENTIFIER
        return NUMERIC
    if isinstance(col.dtype, pd.CategoricalDtype):
        return TEXT if n_unique > _HIGH_CARDINALITY else CATEGORICAL
    if unique_rows and id_name:
        return IDENTIFIER
    distinct = pd.Series(_distinct(sample)[:_STRING_SAMPLE], dtype=object).astype(str)
    if _looks_datetime(distinct):
        return DATETIME
    if n_unique / n_present >= _TEXT_MIN_UNIQUE and _words_per_value(distinct) >= _TEXT_MIN_WORDS:
        return TEXT
    if n_unique > _VALUE_MATCH_MAX_LEVELS and _MIXED_MIN_SHARE <= _numeric_share(distinct) < 1:
        return MIXED
    if n_present >= 20 and n_unique >= _NEARLY_UNIQUE * n_present:
        return IDENTIFIER
    # One-hot columns for thousands of levels cost memory and time for little gain; a
    # sparse TF-IDF of the values (words and characters) keeps such a column affordable.
    return TEXT if n_unique > _HIGH_CARDINALITY else CATEGORICAL


def _words_per_value(distinct: pd.Series) -> float:
    """Mean number of words in (a sample of) a column's distinct values, as text."""
    return float(distinct.str.split().str.len().mean()) if len(distinct) else 0.0


def _numeric_share(distinct: pd.Series) -> float:
    """The share of (a sample of) distinct values, as text, that read as numbers."""
    if not len(distinct):
        return 0.0
    return float(pd.to_numeric(distinct, errors="coerce").notna().mean())


def _value_kinds(values: Any) -> set[str]:
    """The kinds of Python values in an object column: 'number', 'text', 'date', or a
    type name (lists, dicts...); mixed kinds cannot be sorted or encoded as one type."""
    return {_kind(t) for t in set(map(type, values))}


def _kind(cls: type) -> str:
    if issubclass(cls, (bool, np.bool_, numbers.Number)):
        return "number"
    if issubclass(cls, str):
        return "text"
    if issubclass(cls, (datetime.date, np.datetime64)):
        return "date"
    return cls.__name__


def _id_like(name: Any) -> bool:
    """'id', 'customer_id', 'PassengerId', 'passengerid', 'uuid', 'Unnamed: 0' (a saved index)."""
    words = name_words(name)
    if not words:
        return False
    joined = "".join(words)
    return (words[-1] in _ID_WORDS or joined.startswith("unnamed")
            or (len(words) == 1 and len(joined) > 4 and joined.endswith("id")
                and joined not in _NOT_ID_WORDS))


_NOT_ID_WORDS = frozenset({"unpaid", "prepaid", "postpaid", "invalid", "liquid", "hybrid",
                           "android", "pyramid", "humid", "rapid", "solid", "fluid", "avoid",
                           "valid", "squid", "stupid", "vivid", "placid", "lucid", "timid"})


def _is_row_counter(col: pd.Series) -> bool:
    """0..n-1 or 1..n in row order: a saved index, not a measurement."""
    values = col.to_numpy()
    return bool(values[0] in (0, 1) and np.array_equal(values, np.arange(len(values)) + values[0]))


def _looks_datetime(values: pd.Series) -> bool:
    """Whether >= 90% of (a sample of) string values parse as dates, quietly."""
    head = values.head(200).tolist()
    if not head or sum(len(v) >= 6 and bool(_DATE_LIKE.search(v)) for v in head) < 0.9 * len(head):
        return False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # format inference warns when it falls back
        parsed = pd.to_datetime(pd.Series(head), errors="coerce")
        if parsed.notna().mean() < 0.9:
            parsed = pd.to_datetime(pd.Series(head), errors="coerce", format="mixed")
    return bool(parsed.notna().mean() >= 0.9)


# -- leakage ---------------------------------------------------------------------------------

_LEAK_PURITY = 0.99
_LEAK_RANK_CORR = 0.99
_LEAK_MIN_ROWS = 20
_LEAK_MIN_LEVEL_SIZE = 5


def _leakage(frame: pd.DataFrame, target: Any, columns: dict[Any, str], kind: str) -> list[Any]:
    """Feature columns that alone predict the target almost perfectly (leakage suspects)."""
    y = frame[target]
    if len(y) < _LEAK_MIN_ROWS:
        return []
    leaks = []
    for column, role in columns.items():
        if role not in (NUMERIC, CATEGORICAL):
            continue
        x = frame[column]
        if x.dtype == object and not _hashable(x):
            continue
        if kind == REGRESSION:
            leak = _numeric_leak(x, y) if role == NUMERIC else _grouped_variance_leak(x, y)
        else:  # a continuous column that separates the classes may be an honest feature
            leak = (role == CATEGORICAL or _nunique(x) <= _VALUE_MATCH_MAX_LEVELS) and \
                _purity_leak(x, y)
        if leak:
            leaks.append(column)
    return leaks


def _hashable(x: pd.Series) -> bool:
    try:
        x.head(1000).nunique()
        return True
    except TypeError:
        return False


def _level_codes(x: pd.Series) -> tuple[np.ndarray, int] | None:
    """Integer codes per level (missing is a level), or None when levels are too small."""
    codes, levels = pd.factorize(x, use_na_sentinel=False)
    n_levels = len(levels)
    if n_levels < 2 or n_levels * _LEAK_MIN_LEVEL_SIZE > len(x):
        return None
    return codes, n_levels


def _purity_leak(x: pd.Series, y: pd.Series) -> bool:
    """Within each level of x, one class of y (nearly) always: the column gives y away."""
    coded = _level_codes(x)
    if coded is None:
        return False
    codes, n_levels = coded
    y_codes, y_levels = pd.factorize(y)
    k = len(y_levels)
    table = np.bincount(codes * k + y_codes, minlength=n_levels * k).reshape(n_levels, k)
    purity = table.max(axis=1).sum() / len(y)
    baseline_error = 1.0 - table.sum(axis=0).max() / len(y)
    return bool(purity >= _LEAK_PURITY and 1.0 - purity <= 0.1 * baseline_error)


def _numeric_leak(x: pd.Series, y: pd.Series) -> bool:
    """|Spearman| >= 0.99 with a numeric target (copies, log(target), target * 2, ...)."""
    present = x.notna()
    if present.sum() < _LEAK_MIN_ROWS or x[present].nunique() < 2:
        return False
    x_rank = x[present].rank().to_numpy()
    y_rank = y[present].rank().to_numpy()
    corr = np.corrcoef(x_rank, y_rank)[0, 1]
    return bool(np.isfinite(corr) and abs(corr) >= _LEAK_RANK_CORR)


def _grouped_variance_leak(x: pd.Series, y: pd.Series) -> bool:
    """A categorical column whose levels explain >= 99% of a numeric target's variance."""
    coded = _level_codes(x)
    if coded is None:
        return False
    codes, n_levels = coded
    values = y.to_numpy(dtype=float)
    total = values.var()
    if total == 0:
        return False
    counts = np.bincount(codes, minlength=n_levels)
    means = np.bincount(codes, weights=values, minlength=n_levels) / np.maximum(counts, 1)
    within = ((values - means[codes]) ** 2).mean()
    return bool(1.0 - within / total >= _LEAK_PURITY)


def _exclusion_note(column: Any, role: str, data_role: str, target: Any, col: pd.Series) -> str:
    """One sentence saying why a column is left out of the model."""
    if role == IDENTIFIER:
        every = "every" if _nunique(col) == len(col) else "almost every"
        reason = f"an identifier (a different value in {every} row), not a measurement"
    elif role == CONSTANT:
        reason = (f"it holds a single value ({_plain(col.dropna().iloc[0])!r})"
                  + (" besides missing values" if col.isna().any() else ""))
    else:
        reason = {
            EMPTY: "all its values are missing",
            LEAKAGE: f"it alone predicts {target!r} almost perfectly (leakage suspect); if "
                     f"it is a legitimate input, pass roles={{{column!r}: {data_role!r}}} "
                     f"(command line: --role {column}={data_role})",
            MIXED: f"it holds numbers and, in a few rows, text ({_mixed_text(col)}); to use "
                   f"it as a number, make that text missing: data[{column!r}] = "
                   f"pd.to_numeric(data[{column!r}], errors='coerce')",
            UNSUPPORTED: f"its values ({col.dtype}) are of a type no pipeline step reads",
        }.get(role, role)
    return f"Excluded {column!r}: {reason}."


def _mixed_text(col: pd.Series) -> str:
    """A few of the values of a mostly numeric column that do not read as numbers."""
    values = pd.Series(_distinct(col)[:_STRING_SAMPLE], dtype=object)
    text = values[pd.to_numeric(values.astype(str), errors="coerce").isna()]
    return listing(text.tolist(), 3)


def _role_notes(columns: dict[Any, str], sample: pd.DataFrame, nunique: dict[Any, int],
                forced: dict[Any, str]) -> list[str]:
    """Notes for feature columns used in a way the user may not expect."""
    notes = []
    for column, role in columns.items():
        if column in forced:
            continue
        if role == TEXT and nunique[column] > _HIGH_CARDINALITY and _words_per_value(
                pd.Series(_distinct(sample[column])[:_STRING_SAMPLE], dtype=object)
                .astype(str)) < _TEXT_MIN_WORDS:
            notes.append(f"{column!r} has {nunique[column]:,} distinct values: encoded like "
                         "text (a sparse TF-IDF of its words and characters) rather than one "
                         f"column per value; pass roles={{{column!r}: 'categorical'}} to "
                         "one-hot encode it.")
        elif role == CATEGORICAL and sample[column].dtype == object and \
                _value_kinds(sample[column].dropna().to_numpy()) >= {"number", "text"}:
            notes.append(f"{column!r} holds both numbers and text "
                         f"({_mixed_examples(sample[column])}): its values are used as "
                         "categories.")
    return notes


def training_data(spec: TaskSpec, data: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
    """(X, y): usable rows (target present), feature columns only, original order."""
    rows = data[spec.target].notna()
    X = data.loc[rows, spec.features]
    y = data.loc[rows, spec.target]
    return X, y


__all__ = ["TaskSpec", "infer_spec", "training_data", "Text2MLError",
           "BINARY", "MULTICLASS", "REGRESSION"]
