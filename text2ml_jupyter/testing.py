"""Contextual tests: each candidate runs with its accepted upstream modules on a small real
sample, in a worker, and must keep its slot's contract.

The checks: it runs; it returns the right kind of object; outputs are 2-D numeric with the
right rows and no NaN/inf; predictions have the right shape and labels; probabilities are
well-formed; the score is finite; the input DataFrame is not mutated; a second run from
fresh builds gives the same output (candidates must be deterministic, so a trial's score
means something and the refit reproduces it). A failure is a short,
precise reason, which a provider that can repair gets back. Before the first test each
worker runs ``warm_up``, so a test's time measures the candidate, not the worker's
first-use costs.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from .candidates import FAILED, PASSED, TESTING, Candidate
from .errors import CandidateError
from .sandbox import WorkerFailure, WorkerPool
from .slots import SLOTS_BY_NAME, check_source

SAMPLE_ROWS = 400
_TARGET = "text2ml_jupyter.testing:contract_test"
WARM_UP = "text2ml_jupyter.testing:warm_up"  # WorkerPool.warm's exercise before the tests


# ---------------------------------------------------------------- caller's side

def run_contract_tests(pool: WorkerPool, candidates: list[Candidate], upstream: list[Candidate],
                    *, job: dict[str, Any], deadline: float, per_test_seconds: float,
                    on_change: Callable[[Candidate], None] = lambda c: None,
                    should_stop: Callable[[], bool] | None = None) -> None:
    """Test the candidates of one slot in parallel; sets each one's status and reason.

    ``upstream`` holds one accepted candidate per earlier slot (the context the candidate
    is tested in); ``job`` the worker-side arguments shared by every test (data path, spec).
    """

    def one(candidate: Candidate) -> None:
        candidate.status = TESTING
        on_change(candidate)
        started = time.monotonic()
        try:
            check_source(SLOTS_BY_NAME[candidate.slot], candidate.source)
            chain = [(c.slot, c.name, c.source, c.defaults) for c in [*upstream, candidate]]
            # The built-in catalog is deterministic by construction (seeded, and checked by
            # the project's own tests), so only generated code pays for the second run.
            twice = not candidate.catalog
            pool.call(_TARGET, {**job, "chain": chain, "check_determinism": twice},
                      deadline=deadline,
                      time_limit=per_test_seconds, should_stop=should_stop)
        except CandidateError as exc:
            candidate.status, candidate.reason = FAILED, str(exc)
        except WorkerFailure as exc:
            candidate.status = FAILED
            candidate.reason = ("not tested: the run was stopped" if exc.kind == "stopped"
                                else str(exc) if exc.kind == "crash"
                                else "not tested in time: the run's budget ran out"
                                if time.monotonic() >= deadline - 0.5
                                else f"exceeded the test time limit ({per_test_seconds:.0f} s)")
        else:
            candidate.status, candidate.reason = PASSED, None
        candidate.test_seconds = round(time.monotonic() - started, 3)
        on_change(candidate)

    with ThreadPoolExecutor(max_workers=pool.n_workers) as executor:
        list(executor.map(one, candidates))


# ---------------------------------------------------------------- worker's side

def contract_test(context: Any, *, data_path: str, spec: dict[str, Any],
                  chain: list[tuple[str, str, str, dict[str, Any]]], seed: int = 0,
                  check_determinism: bool = True, **_job: Any) -> dict:
    """Run the chain's last candidate with its upstream on a sample (twice from fresh
    builds when ``check_determinism``); raise CandidateError with a short reason when the
    contract is broken or the two runs disagree. Other job keys (fidelity settings of
    the search) do not concern a test."""
    task, X_fit, X_check, y_fit, y_check = _test_rows(context, data_path, spec, seed)
    before = _fingerprint(X_fit)
    first = _exercise(chain, task, X_fit, X_check, y_fit, y_check)
    if _fingerprint(X_fit) != before:
        raise CandidateError("mutated its input DataFrame (it must work on a copy)")
    if not check_determinism:
        return {"rows": _rows(X_fit) + _rows(X_check)}
    second = _exercise(chain, task, X_fit, X_check, y_fit, y_check)
    if not _same(first, second):
        raise CandidateError("gave different results in two runs on the same rows (it is "
                             "not deterministic: pass random_state and avoid unseeded "
                             "randomness)")
    return {"rows": _rows(X_fit) + _rows(X_check)}


def warm_up(context: Any, *, data_path: str, spec: dict[str, Any], seed: int = 0,
            **_job: Any) -> bool:
    """Pay a worker's first-use costs before its first contract test: load the data (kept
    for every later test and trial) and fit a small standard pipeline on the test sample.

    Test times rank the candidates for the first trial (``search.quickest_combination``),
    and a worker's first test took 0.08-0.13 s longer than the same test run again
    (titanic, penguins, tips): the candidates tested first looked 2-3x slower than they
    are. Best effort: a problem with the data is for the tests themselves to report."""
    try:
        # the same preparation as contract_test's, so its first-use costs are paid here
        task, X_fit, X_check, y_fit, _ = _test_rows(context, data_path, spec, seed)
        _fingerprint(X_fit)
        pipeline = _standard_pipeline(task).fit(X_fit, y_fit)
        pipeline.predict(X_check)
        if task.is_classification:
            pipeline.predict_proba(X_check)
    except Exception:  # noqa: BLE001 - best effort, see above
        return False
    return True


def _test_rows(context: Any, data_path: str, spec: dict[str, Any],
               seed: int) -> tuple[Any, Any, Any, Any, Any]:
    """(task, X_fit, X_check, y_fit, y_check): the task and its test sample, from the
    worker's cached data."""
    from ._building import load_training_data
    from .spec import TaskSpec

    task = TaskSpec.from_dict(spec)
    X, y = load_training_data(context, data_path, task)
    return (task, *_sample(X, y, task.is_classification, seed))


def _fingerprint(X: Any) -> int:
    """A hash of a DataFrame's values and index (to see whether a candidate changed it)."""
    import pandas as pd

    return int(pd.util.hash_pandas_object(X, index=True).sum())


def _standard_pipeline(task: Any) -> Any:
    """Impute and scale numbers, one-hot categories, TF-IDF on text; then a linear model:
    the parts most candidates use."""
    from sklearn.compose import ColumnTransformer
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    roles = task.columns_by_role()
    parts = [("numeric", make_pipeline(SimpleImputer(), StandardScaler()), roles["numeric"]),
             ("categorical", make_pipeline(SimpleImputer(strategy="most_frequent"),
                                           OneHotEncoder(handle_unknown="ignore")),
              roles["categorical"])]
    parts += [(f"text_{i}", TfidfVectorizer(), column)
              for i, column in enumerate(roles["text"])]
    model = LogisticRegression() if task.is_classification else Ridge()
    return make_pipeline(ColumnTransformer(parts), model)


def _exercise(chain: list[tuple[str, str, str, dict[str, Any]]], task: Any, X_fit: Any,
              X_check: Any, y_fit: Any, y_check: Any) -> Any:
    """Build the chain fresh, fit it on one part of the sample and check the last slot's
    contract on the other; returns that slot's output on the check rows."""
    from ._building import DefaultTrial, build_parts

    parts = build_parts(chain, lambda s, n, d: DefaultTrial(d), task.columns_by_role())
    last = chain[-1][0]
    if last == "postprocess":
        return _check_estimator(parts["postprocess"], X_fit, y_fit, X_check, y_check, task,
                                "estimator")
    out_fit, out_check = X_fit, X_check
    for slot in ("preprocess", "features"):
        step = parts.get(slot)
        if slot == last or step is not None:
            out_fit, out_check = _check_transformer(step, out_fit, out_check, y_fit, slot)
        if slot == last:
            return out_check
    return _check_estimator(parts["model"], out_fit, y_fit, out_check, y_check, task, "model")


def _same(first: Any, second: Any) -> bool:
    """Equal outputs (floats within a tight tolerance: the same code on the same rows in
    one process may still round differently)."""
    import numpy as np
    import scipy.sparse as sp

    if isinstance(first, list):
        return len(first) == len(second) and all(map(_same, first, second))
    first, second = (x.toarray() if sp.issparse(x) else np.asarray(x)
                     for x in (first, second))
    if first.shape != second.shape:
        return False
    if np.issubdtype(first.dtype, np.number) and np.issubdtype(second.dtype, np.number):
        return bool(np.allclose(first, second, rtol=1e-6, atol=1e-9, equal_nan=True))
    return bool(np.array_equal(first, second))


def _sample(X: Any, y: Any, classification: bool, seed: int) -> tuple[Any, Any, Any, Any]:
    from sklearn.model_selection import train_test_split

    if len(X) > SAMPLE_ROWS:
        rows = X.sample(n=SAMPLE_ROWS, random_state=seed).index
        X, y = X.loc[rows], y.loc[rows]
    stratify = y if classification and y.value_counts().min() >= 2 else None
    try:
        return train_test_split(X, y, test_size=0.3, random_state=seed, stratify=stratify)
    except ValueError:
        return train_test_split(X, y, test_size=0.3, random_state=seed)


def _check_transformer(step: Any, X_fit: Any, X_check: Any, y_fit: Any,
                       slot: str) -> tuple[Any, Any]:
    if isinstance(step, str) and step == "passthrough":
        return X_fit, X_check
    if not (hasattr(step, "fit") and hasattr(step, "transform")):
        raise CandidateError(f"build_{slot} returned {type(step).__name__}, not a transformer "
                             "with fit and transform")
    out_fit = step.fit_transform(X_fit, y_fit) if hasattr(step, "fit_transform") \
        else step.fit(X_fit, y_fit).transform(X_fit)
    out_check = step.transform(X_check)
    _check_matrix(out_fit, _rows(X_fit), slot, "fit_transform")
    _check_matrix(out_check, _rows(X_check), slot, "transform")
    if out_fit.shape[1] != out_check.shape[1]:
        raise CandidateError(f"{slot} gives {out_fit.shape[1]} columns when fitted but "
                             f"{out_check.shape[1]} on new rows")
    return out_fit, out_check


def _rows(data: Any) -> int:
    """Row count of a DataFrame, array or sparse matrix (len() is ambiguous for sparse)."""
    return int(data.shape[0])


def _check_matrix(out: Any, rows: int, slot: str, method: str) -> None:
    import numpy as np
    import scipy.sparse as sp

    values = out.data if sp.issparse(out) else np.asarray(out)
    shape = out.shape if sp.issparse(out) else values.shape
    if len(shape) != 2:
        raise CandidateError(f"{slot}.{method} returned a {len(shape)}-D output, not 2-D")
    if shape[0] != rows:
        raise CandidateError(f"{slot}.{method} returned {shape[0]} rows for {rows} input rows")
    if shape[1] < 1:
        raise CandidateError(f"{slot}.{method} returned no columns")
    if not (np.issubdtype(values.dtype, np.number) or values.dtype == bool):
        raise CandidateError(f"{slot}.{method} returned non-numeric values "
                             f"(dtype {values.dtype})")
    if not np.all(np.isfinite(values.astype(float))):
        raise CandidateError(f"{slot}.{method} output contains NaN or inf")


def _check_estimator(estimator: Any, X_fit: Any, y_fit: Any, X_check: Any, y_check: Any,
                     task: Any, what: str) -> Any:
    """Fit, predict and (for classifiers) predict_proba under the contract; returns the
    predictions (and probabilities) on the check rows."""
    import numpy as np
    import pandas as pd

    for method in ("fit", "predict"):
        if not hasattr(estimator, method):
            raise CandidateError(f"the {what} has no {method}() method")
    estimator.fit(X_fit, y_fit)
    rows = _rows(X_check)
    predictions = np.asarray(estimator.predict(X_check))
    if predictions.shape != (rows,):
        raise CandidateError(f"predict returned shape {predictions.shape}, expected ({rows},)")
    if task.is_classification:
        unknown = ~pd.Index(predictions).isin(pd.Index(y_fit.unique()))
        if unknown.any():
            raise CandidateError(f"predict returned labels not in the target: "
                                 f"{predictions[unknown][:3].tolist()}")
        if not hasattr(estimator, "predict_proba"):
            raise CandidateError(f"the {what} has no predict_proba() (classifiers need it)")
        proba = np.asarray(estimator.predict_proba(X_check), dtype=float)
        classes = getattr(estimator, "classes_", None)
        if classes is None:
            raise CandidateError(f"the fitted {what} has no classes_ attribute")
        if proba.shape != (rows, len(classes)):
            raise CandidateError(f"predict_proba returned shape {proba.shape}, expected "
                                 f"({rows}, {len(classes)})")
        if not np.all(np.isfinite(proba)) or np.abs(proba.sum(axis=1) - 1).max() > 1e-3:
            raise CandidateError("predict_proba rows are not finite probabilities summing to 1")
        return [predictions, proba]
    if not np.all(np.isfinite(predictions.astype(float))):
        raise CandidateError("predict returned NaN or inf")
    return [predictions]
