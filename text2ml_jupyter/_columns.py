"""Column roles: what each column of a table is (number, category, text, date, identifier,
constant, leakage suspect...), decided from its values and name, and the notes that say
why a column is left out. Used by spec.infer_spec."""

from __future__ import annotations

import datetime
import numbers
import re
import warnings
from typing import Any

import numpy as np
import pandas as pd
from pandas.api.types import (
    is_bool_dtype,
    is_datetime64_any_dtype,
    is_integer_dtype,
    is_numeric_dtype,
)

from ._phrases import listing, name_words
from .metrics import REGRESSION

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


def _plain(value: Any) -> Any:
    """numpy scalars -> Python scalars, so the spec serializes to JSON."""
    return value.item() if hasattr(value, "item") else value

def _mixed_examples(col: pd.Series) -> str:
    """One number and one text value of a mixed column, for messages: "1, 'a'"."""
    values = _distinct(col.astype(object))
    number = next((v for v in values if _value_kinds([v]) == {"number"}), None)
    text = next((v for v in values if isinstance(v, str)), None)
    return ", ".join(repr(_plain(v)) for v in (number, text) if v is not None)


# -- column roles ------------------------------------------------------------------------------

_VALUE_MATCH_MAX_LEVELS = 30  # at most this many levels: a column's values can name the target

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
