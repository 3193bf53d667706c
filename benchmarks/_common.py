"""What every system in the benchmark shares: the tasks, the split, the column kinds, the scoring.

One fixed split per task (75/25, seed 0, stratified for classification) and one scoring function
for every system, so the numbers differ only by what the systems did with the training rows.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("TEXT2ML_BENCH_DATA", REPO.parent / "shared" / "benchmark"))
TASKS_FILE = SHARED / "tasks.json"
DATA_DIR = SHARED / "data"

TEST_SIZE = 0.25
SPLIT_SEED = 0

# The positive class where tasks.json names none but the metric needs one (ROC AUC is scored
# with the probability of this class).
POSITIVE_CLASS = {"adult": ">50K"}

MAXIMIZE = {"f1", "accuracy", "roc_auc", "r2", "balanced_accuracy"}
MINIMIZE = {"mae", "rmse", "log_loss"}

FLOOR = 0.97  # the quality target's "never below 0.97 x FLAML's score"


def load_tasks(path: Path = TASKS_FILE) -> list[dict[str, Any]]:
    with open(path) as fh:
        return json.load(fh)


def is_classification(task: dict[str, Any]) -> bool:
    return task["type"] in ("binary", "multiclass")


def direction(metric: str) -> str:
    if metric in MAXIMIZE:
        return "maximize"
    if metric in MINIMIZE:
        return "minimize"
    raise ValueError(f"unknown metric {metric!r}")


def load_frame(task: dict[str, Any]) -> pd.DataFrame:
    """The task's CSV, parsed as a notebook user would (``pd.read_csv`` defaults).

    Rows with a missing target are dropped: they can be neither trained on nor scored.
    """
    df = pd.read_csv(DATA_DIR / task["file"])
    return df[df[task["target"]].notna()].reset_index(drop=True)


def split(task: dict[str, Any], df: pd.DataFrame, seed: int = SPLIT_SEED
          ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(train, test), both with every column (target and leakage columns included).
    ``seed``: the protocol's split is seed 0; others measure how much one split decides."""
    from sklearn.model_selection import train_test_split

    stratify = df[task["target"]] if is_classification(task) else None
    train, test = train_test_split(df, test_size=TEST_SIZE, random_state=seed,
                                   stratify=stratify)
    return train, test


def development_split(task: dict[str, Any], df: pd.DataFrame, seed: int
                      ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(train, test) of the protocol's *training* rows only, split again with ``seed``
    (``run_benchmarks.py --within-train``): the protocol's held-out rows are never in it."""
    return split(task, split(task, df, SPLIT_SEED)[0].reset_index(drop=True), seed)


def coerce_label(value: Any, y: pd.Series) -> Any:
    """The label as it appears in ``y`` (tasks.json writes labels as strings: "1" is the int 1
    once pandas has parsed the CSV)."""
    if value is None:
        return None
    for label in pd.unique(y.dropna()):
        if label == value or str(label) == str(value):
            return label.item() if hasattr(label, "item") else label
    raise ValueError(f"label {value!r} not among the target's values {list(pd.unique(y))[:10]}")


def positive_label(task: dict[str, Any], y: pd.Series) -> Any:
    """The positive class of a binary task (None for other task types)."""
    if task["type"] != "binary":
        return None
    value = task.get("pos_label", POSITIVE_CLASS.get(task["name"]))
    if value is None:  # fall back on the minority class
        value = y.value_counts().idxmin()
    return coerce_label(value, y)


def text_columns(X: pd.DataFrame) -> list[str]:
    """Free-text columns: strings of several words, mostly unique."""
    cols = []
    for c in X.columns:
        s = X[c]
        if pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s):
            continue
        s = s.dropna().astype(str)
        if len(s) == 0:
            continue
        words = s.str.split().str.len().median()
        if words >= 4 and s.nunique() / len(s) > 0.5:
            cols.append(c)
    return cols


def column_kinds(X: pd.DataFrame) -> dict[str, list[str]]:
    """{"numeric": [...], "categorical": [...], "text": [...]} (bool counts as numeric)."""
    text = text_columns(X)
    numeric = [c for c in X.columns if c not in text and (
        pd.api.types.is_numeric_dtype(X[c]) or pd.api.types.is_bool_dtype(X[c]))]
    categorical = [c for c in X.columns if c not in text and c not in numeric]
    return {"numeric": numeric, "categorical": categorical, "text": text}


def score(task: dict[str, Any], y_true: pd.Series, y_pred: Any = None, proba: Any = None,
          classes: Any = None, pos_label: Any = None) -> float:
    """The task's metric on the held-out rows, the same code for every system.

    ``proba`` (n_rows x n_classes) with ``classes`` (its column order) is needed for ROC AUC.
    """
    from sklearn.metrics import (accuracy_score, f1_score, mean_absolute_error,
                                 roc_auc_score, root_mean_squared_error)

    metric = task["metric"]
    y_true = pd.Series(y_true).reset_index(drop=True)
    if metric == "roc_auc":
        if proba is None or classes is None:
            raise ValueError("ROC AUC needs predicted probabilities and their class order")
        classes = list(classes)
        proba = np.asarray(proba)
        if task["type"] == "binary":
            col = [i for i, c in enumerate(classes) if c == pos_label or str(c) == str(pos_label)]
            if len(col) != 1:
                raise ValueError(f"positive class {pos_label!r} not in predicted classes {classes}")
            return float(roc_auc_score(y_true == pos_label, proba[:, col[0]]))
        return float(roc_auc_score(y_true, proba, multi_class="ovr", labels=classes))
    y_pred = pd.Series(np.asarray(y_pred)).reset_index(drop=True)
    if metric == "f1":
        if task["type"] == "binary":
            return float(f1_score(y_true, y_pred, pos_label=pos_label))
        return float(f1_score(y_true, y_pred, average="macro"))
    if metric == "accuracy":
        return float(accuracy_score(y_true, y_pred))
    if metric == "mae":
        return float(mean_absolute_error(y_true, y_pred))
    if metric == "rmse":
        return float(root_mean_squared_error(y_true, y_pred))
    raise ValueError(f"unsupported metric {metric!r}")


def at_least_as_good(metric: str, a: float | None, b: float | None,
                     tol: float = 1e-9) -> bool | None:
    """Whether score ``a`` is at least as good as ``b`` (None when either is missing)."""
    if a is None or b is None:
        return None
    if direction(metric) == "maximize":
        return a >= b - tol
    return a <= b + tol


def relative(metric: str, ours: float, theirs: float) -> float:
    """text2ml's score as a multiple of FLAML's, above 1 when text2ml is better (for an
    error metric the ratio is inverted, as in the README's "0.957 x FLAML" on tips)."""
    return ours / theirs if direction(metric) == "maximize" else theirs / ours


def fmt_score(x: float | None) -> str:
    """A held-out score for the tables: one decimal from 100 up (RMSE on diamonds), four
    below; "—" when there is none."""
    if x is None:
        return "—"
    return f"{x:.1f}" if abs(x) >= 100 else f"{x:.4f}"


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo ("unknown" elsewhere), for result records."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def engine_commit() -> str | None:
    """The repository's short commit, marked when text2ml_jupyter/ has uncommitted changes
    (which engine a result measured); None when git cannot tell."""
    try:
        commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                                capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--",
                                "text2ml_jupyter"], capture_output=True, text=True,
                               timeout=10).stdout.strip()
    except Exception:  # noqa: BLE001 - no git, or not a repository: leave it out
        return None
    return commit + (" + uncommitted engine changes" if dirty else "")
