"""Checks of a table and its target before a run starts: each problem becomes a
Text2MLError that says what is wrong and how to fix it (see docs/reliability.md)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from pandas.api.types import (
    is_bool_dtype,
    is_datetime64_any_dtype,
    is_numeric_dtype,
)

from ._columns import (
    _MIXED_MIN_SHARE,
    _STRING_SAMPLE,
    _VALUE_MATCH_MAX_LEVELS,
    FEATURE_ROLES,
    IDENTIFIER,
    LEAKAGE,
    MIXED,
    TARGET,
    _distinct,
    _mixed_examples,
    _mixed_text,
    _numeric_share,
    _value_kinds,
)
from ._phrases import listing
from .errors import Text2MLError


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
