"""The two baselines: a default HistGradientBoosting pipeline and FLAML.

Both get the training rows with the leakage columns already removed (the worker does that).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd

from _common import column_kinds


def _to_float(X):
    return np.asarray(X, dtype=float)


def hgb_default(task: dict[str, Any], X: pd.DataFrame, seed: int = 0):
    """The unfitted default pipeline.

    Tabular data: numeric (and bool) columns pass through, categorical columns are ordinal
    encoded (unknown and missing -> NaN) and declared categorical to a default
    HistGradientBoosting model. Data with a free-text column: TF-IDF on the text (one-hot on
    other categoricals, imputed + scaled numerics) into a default LogisticRegression / Ridge,
    the usual default baseline for text.
    """
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.pipeline import Pipeline, make_pipeline
    from sklearn.preprocessing import (FunctionTransformer, OneHotEncoder, OrdinalEncoder,
                                       StandardScaler)

    kinds = column_kinds(X)
    classification = task["type"] != "regression"
    if kinds["text"]:
        parts = [(f"tfidf_{c}", TfidfVectorizer(), c) for c in kinds["text"]]
        if kinds["numeric"]:
            parts.append(("num", make_pipeline(FunctionTransformer(_to_float), SimpleImputer(),
                                               StandardScaler()), kinds["numeric"]))
        if kinds["categorical"]:
            parts.append(("cat", make_pipeline(SimpleImputer(strategy="most_frequent"),
                                               OneHotEncoder(handle_unknown="ignore")),
                          kinds["categorical"]))
        model = (LogisticRegression(random_state=seed) if classification
                 else Ridge(random_state=seed))
        return Pipeline([("prep", ColumnTransformer(parts)), ("model", model)])

    parts = []
    if kinds["numeric"]:
        parts.append(("num", FunctionTransformer(_to_float), kinds["numeric"]))
    if kinds["categorical"]:
        parts.append(("cat", OrdinalEncoder(handle_unknown="use_encoded_value",
                                            unknown_value=np.nan), kinds["categorical"]))
    # HistGradientBoosting takes at most 255 categories per native categorical feature; a
    # column with more stays ordinal-coded as a number.
    native = [X[c].nunique() <= 250 for c in kinds["categorical"]]
    mask = [False] * len(kinds["numeric"]) + native
    cls = HistGradientBoostingClassifier if classification else HistGradientBoostingRegressor
    model = cls(categorical_features=mask if any(mask) else None, random_state=seed)
    return Pipeline([("prep", ColumnTransformer(parts)), ("model", model)])


def run_hgb(task, X_train, y_train, X_test, budget, seed=0) -> dict[str, Any]:
    """Fit the default pipeline (it ignores the budget) and predict the held-out rows."""
    t0 = time.perf_counter()
    pipe = hgb_default(task, X_train, seed=seed)
    pipe.fit(X_train, y_train)
    wall = time.perf_counter() - t0
    t1 = time.perf_counter()
    pred = pipe.predict(X_test)
    proba = pipe.predict_proba(X_test) if task["type"] != "regression" else None
    classes = list(pipe.classes_) if task["type"] != "regression" else None
    return {"wall_time": wall, "predict_time": time.perf_counter() - t1, "y_pred": pred,
            "proba": proba, "classes": classes,
            "details": {"model": type(pipe.named_steps["model"]).__name__}}


_FLAML_METRIC = {"f1": "f1", "roc_auc": "roc_auc", "accuracy": "accuracy", "rmse": "rmse",
                 "mae": "mae"}


def _text_features(X_train: pd.DataFrame, X_test: pd.DataFrame):
    """TF-IDF of the text columns (sparse) beside ordinal codes of the other columns.

    FLAML treats a string column as a categorical, which for free text (one level per
    message) learns nothing; giving it TF-IDF features is the fair comparison.
    """
    import scipy.sparse as sp
    from sklearn.compose import ColumnTransformer
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.preprocessing import FunctionTransformer, OrdinalEncoder

    kinds = column_kinds(X_train)
    parts = [(f"tfidf_{c}", TfidfVectorizer(), c) for c in kinds["text"]]
    if kinds["numeric"]:
        parts.append(("num", FunctionTransformer(_to_float), kinds["numeric"]))
    if kinds["categorical"]:
        parts.append(("cat", OrdinalEncoder(handle_unknown="use_encoded_value",
                                            unknown_value=-1, encoded_missing_value=-1),
                      kinds["categorical"]))
    ct = ColumnTransformer(parts, sparse_threshold=1.0)
    A = sp.csr_matrix(ct.fit_transform(X_train), dtype=np.float64)
    B = sp.csr_matrix(ct.transform(X_test), dtype=np.float64)
    return A, B


def run_flaml(task, X_train, y_train, X_test, budget, seed=0, pos_label=None,
              n_jobs=2) -> dict[str, Any]:
    """FLAML AutoML with the task's metric and the whole budget.

    Binary labels are encoded so that the positive class is 1 (FLAML's f1 scores label 1);
    predictions are decoded back to the original labels.
    """
    from flaml import AutoML

    t0 = time.perf_counter()
    classification = task["type"] != "regression"
    details: dict[str, Any] = {}
    Xtr, Xte = X_train, X_test
    if column_kinds(X_train)["text"]:
        Xtr, Xte = _text_features(X_train, X_test)
        details["features"] = f"TF-IDF text features, {Xtr.shape[1]} columns"
    ytr = y_train
    negative = None
    if task["type"] == "binary":
        negative = [c for c in pd.unique(y_train) if c != pos_label][0]
        ytr = (y_train == pos_label).astype(int)
    remaining = max(1.0, budget - (time.perf_counter() - t0))
    automl = AutoML()
    automl.fit(Xtr, ytr, task="classification" if classification else "regression",
               metric=_FLAML_METRIC[task["metric"]], time_budget=remaining, seed=seed,
               n_jobs=n_jobs, verbose=0)
    wall = time.perf_counter() - t0
    t1 = time.perf_counter()
    pred = automl.predict(Xte)
    proba, classes = None, None
    if classification:
        proba = automl.predict_proba(Xte)
        classes = list(automl.classes_)
    if task["type"] == "binary":
        pred = np.where(np.asarray(pred) == 1, pos_label, negative)
        classes = [pos_label if c == 1 else negative for c in classes]
    details.update({"best_estimator": automl.best_estimator,
                    "best_config": _plain(automl.best_config),
                    "best_loss": _plain(automl.best_loss),
                    "time_budget_passed": remaining})
    return {"wall_time": wall, "predict_time": time.perf_counter() - t1, "y_pred": pred,
            "proba": proba, "classes": classes, "details": details}


def _plain(value):
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if hasattr(value, "item"):
        return value.item()
    return value
