"""The offline catalog: what it proposes for which task, that every candidate keeps its
slot's contract statically, and that every combination really fits and predicts (with the
defaults, and with sampled hyperparameters through a real Optuna study)."""

from __future__ import annotations

import ast
import importlib.util
import itertools
import re
import warnings
from typing import Any

import numpy as np
import optuna
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.pipeline import Pipeline
from threadpoolctl import threadpool_limits

from text2ml_jupyter._building import DefaultTrial, build_parts
from text2ml_jupyter.candidates import Candidate
from text2ml_jupyter.errors import CandidateError, Text2MLError
from text2ml_jupyter.metrics import get_metric
from text2ml_jupyter.providers import GenerationContext, get_provider
from text2ml_jupyter.providers.offline import OfflineProvider
from text2ml_jupyter.providers import _catalog_common
from text2ml_jupyter.slots import SLOTS, SLOTS_BY_NAME, allowed_imports, check_source
from text2ml_jupyter.spec import TaskSpec

optuna.logging.set_verbosity(optuna.logging.WARNING)

_SUGGEST = {"suggest_int", "suggest_float", "suggest_categorical"}


@pytest.fixture(autouse=True, scope="module")
def _one_thread() -> Any:
    """One OpenMP/BLAS thread, as in the search's workers: tiny fits with a thread team
    per call crawl on a busy machine."""
    with threadpool_limits(limits=1):
        yield


# ---------------------------------------------------------------- helpers

def _spec(task_type: str, metric: str, roles: dict[str, str], *, pos_label: Any = None,
          classes: list[Any] | None = None, n_rows: int = 1_000) -> TaskSpec:
    columns = {**roles, "y": "target"}
    return TaskSpec(text="task", target="y", task_type=task_type, metric=metric,
                    direction=get_metric(metric).direction, columns=columns,
                    pos_label=pos_label, classes=classes, n_rows=n_rows)


def _context(spec: TaskSpec, *, n_rows: int | None = None, k: int = 10, seed: int = 0,
             extra: dict[str, Any] | None = None) -> GenerationContext:
    n = spec.n_rows if n_rows is None else n_rows
    return GenerationContext(spec=spec, n_rows=n, n_features=len(spec.features), seed=seed,
                             k=k, extra=extra or {})


def _generate(context: GenerationContext) -> dict[str, list[Candidate]]:
    provider = OfflineProvider()
    return {slot.name: provider.generate(slot, context) for slot in SLOTS}


def _names(candidates: dict[str, list[Candidate]], slot: str) -> list[str]:
    return [c.name for c in candidates[slot]]


def _declared(source: str) -> list[tuple[str, str, list[Any]]]:
    """(method, name, other literal args) of every trial.suggest_* call; asserts literals."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                and node.func.attr in _SUGGEST:
            assert isinstance(node.func.value, ast.Name) and node.func.value.id == "trial"
            args = [ast.literal_eval(a) for a in node.args]  # raises unless literal
            for keyword in node.keywords:
                ast.literal_eval(keyword.value)
            assert isinstance(args[0], str), "parameter names must be string literals"
            found.append((node.func.attr, args[0], args[1:]))
    return found


ROLES_TABULAR = {"num": "numeric", "num_sparse": "numeric", "cat": "categorical",
                 "flag": "categorical", "when": "datetime",
                 **{f"noise_{i}": "numeric" for i in range(26)}}
ROLES_TEXT = {**ROLES_TABULAR, "note": "text"}
ROLES_TEXT_ONLY = {"note": "text"}

CASES = {
    "binary_f1": _spec("binary", "f1", ROLES_TABULAR, pos_label="yes", classes=["no", "yes"],
                       n_rows=800),
    "binary_auc": _spec("binary", "roc_auc", ROLES_TABULAR, pos_label="yes",
                        classes=["no", "yes"], n_rows=30_000),
    "binary_accuracy": _spec("binary", "accuracy", ROLES_TABULAR, classes=[0, 1]),
    "binary_log_loss": _spec("binary", "log_loss", ROLES_TABULAR, classes=[0, 1]),
    "multiclass": _spec("multiclass", "accuracy", ROLES_TABULAR, classes=["a", "b", "c"],
                        n_rows=350),
    "regression_rmse": _spec("regression", "rmse", ROLES_TABULAR, n_rows=500),
    "regression_mae": _spec("regression", "mae", ROLES_TABULAR, n_rows=250),
    "text_binary": _spec("binary", "f1", ROLES_TEXT_ONLY, pos_label="spam",
                         classes=["ham", "spam"], n_rows=5_000),
    "text_mixed": _spec("multiclass", "accuracy", ROLES_TEXT, classes=["a", "b", "c"]),
    "text_regression": _spec("regression", "r2", ROLES_TEXT, n_rows=2_000),
    "datetime_only": _spec("regression", "rmse", {"when": "datetime"}, n_rows=600),
    "large": _spec("binary", "roc_auc", ROLES_TABULAR, classes=[0, 1], n_rows=1_000_000),
    "small": _spec("regression", "mae", {"num": "numeric", "cat": "categorical"}, n_rows=40),
    "numeric_only": _spec("regression", "rmse", {"num": "numeric", "num_sparse": "numeric"}),
}


# ---------------------------------------------------------------- static properties

@pytest.mark.parametrize("case", sorted(CASES))
def test_every_candidate_keeps_the_static_contract(case: str) -> None:
    candidates = _generate(_context(CASES[case], seed=7))
    for slot in SLOTS:
        found = candidates[slot.name]
        assert found, f"no {slot.name} candidates"
        names = _names(candidates, slot.name)
        assert len(names) == len(set(names)), f"duplicate names in {slot.name}: {names}"
        for cand in found:
            assert cand.slot == slot.name and cand.origin == "offline"
            assert re.fullmatch(r"[a-z][a-z0-9_]*", cand.name), cand.name
            assert cand.description and len(cand.description) < 80
            check_source(slot, cand.source)
            declared = _declared(cand.source)
            params = [name for _, name, _ in declared]
            assert len(params) == len(set(params)), f"{cand.key} declares a name twice"
            assert set(cand.defaults) == set(params), \
                f"{cand.key}: defaults {sorted(cand.defaults)} vs declared {sorted(params)}"
            for method, name, args in declared:
                value = cand.defaults[name]
                if method == "suggest_categorical":
                    assert value in args[0], f"{cand.key}.{name}={value!r} not a choice"
                else:
                    assert args[0] <= value <= args[1], f"{cand.key}.{name}={value} out of range"
            if "random_state=" in cand.source:
                assert "random_state=7" in cand.source, f"{cand.key} ignores the seed"
            if "n_jobs=" in cand.source:
                assert "n_jobs=1" in cand.source


@pytest.mark.parametrize("case", sorted(CASES))
def test_every_random_step_is_seeded(case: str) -> None:
    """A class that takes ``random_state`` gets the run's seed, so the program refits to
    the pipeline the run returned (QuantileTransformer subsamples above 10,000 rows)."""
    import inspect

    for candidates in _generate(_context(CASES[case], seed=7)).values():
        for cand in candidates:
            tree = ast.parse(cand.source)
            classes = {alias.asname or alias.name: getattr(
                importlib.import_module(node.module), alias.name)
                for node in tree.body if isinstance(node, ast.ImportFrom)
                and importlib.util.find_spec(node.module.split(".")[0])
                for alias in node.names}
            for node in ast.walk(tree):
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                        and inspect.isclass(classes.get(node.func.id)) \
                        and "random_state" in inspect.signature(classes[node.func.id]).parameters:
                    keywords = {k.arg: k.value for k in node.keywords}
                    assert "random_state" in keywords, f"{cand.key}: {node.func.id} unseeded"
                    assert ast.unparse(keywords["random_state"]) == "7", cand.key


@pytest.mark.parametrize("case", sorted(CASES))
def test_sources_read_cleanly(case: str) -> None:
    """No unused imports, no overlong lines, no column names written into the code."""
    spec = CASES[case]
    for candidates in _generate(_context(spec)).values():
        for cand in candidates:
            tree = ast.parse(cand.source)
            imported = [alias.asname or alias.name.split(".")[0] for node in tree.body
                        if isinstance(node, (ast.Import, ast.ImportFrom)) for alias in node.names]
            used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
            assert not set(imported) - used, f"{cand.key}: unused {set(imported) - used}"
            assert max(len(line) for line in cand.source.splitlines()) <= 100, cand.key
            for column in spec.features:
                assert f'"{column}"' not in cand.source, f"{cand.key} hard-codes {column}"


def test_first_candidates_are_the_safe_ones() -> None:
    for case, spec in CASES.items():
        candidates = _generate(_context(spec))
        assert candidates["features"][0].name == "passthrough", case
        assert candidates["postprocess"][0].name == "none", case
        first_model = candidates["model"][0].name
        assert first_model == ("linear_svm" if spec.task_type != "regression" else "ridge") \
            if "note" in spec.columns else first_model == "hist_gradient_boosting", case


def test_k_caps_the_count_per_slot() -> None:
    provider = OfflineProvider()
    for k in (0, 1, 2, 4):
        context = _context(CASES["binary_f1"], k=k)
        for slot in SLOTS:
            found = provider.generate(slot, context)
            assert len(found) <= k
            if k:
                assert found, slot.name
    default = GenerationContext(spec=CASES["multiclass"], n_rows=350, n_features=5)
    assert all(len(provider.generate(s, default)) <= 4 for s in SLOTS)


def test_binary_f1_tunes_the_threshold_for_the_positive_label() -> None:
    candidates = _generate(_context(CASES["text_binary"]))
    threshold = next(c for c in candidates["postprocess"] if c.name == "decision_threshold")
    assert "pos_label='spam'" in threshold.source
    assert 'response_method="predict_proba"' in threshold.source
    # A 0/1 target with the positive label written as text: the label is the integer.
    spec = _spec("binary", "f1", ROLES_TABULAR, pos_label="1", classes=[0, 1])
    source = next(c for c in _generate(_context(spec))["postprocess"]
                  if c.name == "decision_threshold").source
    assert "pos_label=1," in source


def test_postprocess_fits_the_metric() -> None:
    def post(case: str, **kw: Any) -> list[str]:
        return _names(_generate(_context(CASES[case], **kw)), "postprocess")

    assert post("binary_auc") == ["none"]
    assert "decision_threshold" in post("binary_accuracy")
    assert "calibrated" in post("binary_log_loss")
    assert post("multiclass") == ["none"]
    assert post("regression_rmse") == ["none", "clip_to_target_range"]  # no target stats
    skewed = {"target_min": 0.0, "target_max": 50.0, "target_skew": 2.1}
    assert post("regression_rmse", extra=skewed) == ["none", "log_target",
                                                     "clip_to_target_range"]
    assert "log_target" not in post("regression_rmse", extra={**skewed, "target_min": -1.0})
    assert "log_target" not in post("regression_rmse", extra={**skewed, "target_skew": 0.1})


@pytest.fixture
def lightgbm_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    """The catalog as it is without the optional lightgbm package."""
    monkeypatch.setattr(_catalog_common, "lightgbm_installed", lambda: False)


@pytest.mark.usefixtures("lightgbm_missing")
def test_size_decides_the_models() -> None:
    large = _generate(_context(CASES["large"]))
    models = _names(large, "model")
    assert not {"k_nearest_neighbors", "svc", "svr"} & set(models)
    assert models[:2] == ["hist_gradient_boosting", "extra_trees"]
    assert _names(large, "preprocess")[0] == "ordinal"  # boosting is faster on codes
    for cand in large["model"]:
        if "n_estimators=" in cand.source:
            assert "n_estimators=50" in cand.source and "max_samples=0.1" in cand.source
        if cand.name == "hist_gradient_boosting":
            assert "early_stopping=True" in cand.source

    small = _names(_generate(_context(CASES["multiclass"])), "model")
    assert {"svc", "k_nearest_neighbors"} <= set(small)
    tiny = _generate(_context(CASES["small"]))
    knn = next(c for c in tiny["model"] if c.name == "k_nearest_neighbors")
    assert '"n_neighbors", 3, 8' in knn.source  # 40 rows: never more neighbours than a fold


def test_lightgbm_is_proposed_only_where_it_is_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    import lightgbm  # noqa: F401  (the test extra installs it: these tests must not skip)

    assert "lightgbm" in allowed_imports()
    models = {case: _names(_generate(_context(CASES[case])), "model")
              for case in ("large", "binary_auc", "multiclass", "text_binary")}
    assert models["large"][:2] == models["binary_auc"][:2] == \
        ["hist_gradient_boosting", "lightgbm"]
    # small data: after the kernels and forests, beyond the default 4 candidates per slot
    assert models["multiclass"].index("lightgbm") >= 4
    assert "lightgbm" not in models["text_binary"]  # TF-IDF is sparse and wide
    source = next(c for c in _generate(_context(CASES["binary_auc"]))["model"]
                  if c.name == "lightgbm").source
    assert "from lightgbm import LGBMClassifier" in source and "n_jobs=1" in source

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "lightgbm" else real_find_spec(name, *a))
    assert "lightgbm" not in allowed_imports()
    assert "lightgbm" not in _names(_generate(_context(CASES["large"])), "model")
    with pytest.raises(CandidateError, match="imports 'lightgbm'; allowed: sklearn"):
        check_source(SLOTS_BY_NAME["model"], source)


def test_tree_encoding_keeps_categories_as_categories() -> None:
    """Gradient boosting gets the category codes typed as categories (native splits)."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    spec = CASES["binary_auc"]
    tree_encoding = next(c for c in _generate(_context(spec))["preprocess"]
                         if c.name == "ordinal")
    frame = _frame(200)
    X, y = frame[spec.features], _target(frame, "binary")
    preprocess = build_parts([("preprocess", "ordinal", tree_encoding.source, {})],
                             lambda s, n, d: DefaultTrial(d),
                             spec.columns_by_role())["preprocess"]
    encoded = preprocess.fit_transform(X, y)
    categorical = [c for c in encoded.columns if isinstance(encoded[c].dtype, pd.CategoricalDtype)]
    assert len(categorical) == 2  # cat and flag; the rest are numbers (and date parts)
    assert encoded.drop(columns=categorical).dtypes.eq(float).all()
    model = HistGradientBoostingClassifier(max_iter=5).fit(encoded, y)
    assert model.is_categorical_.sum() == 2
    unseen = preprocess.transform(X.assign(cat="never seen"))
    assert model.predict(unseen).shape == (len(X),)


def test_tree_encoding_only_when_there_are_categories() -> None:
    assert _names(_generate(_context(CASES["numeric_only"])), "preprocess") == \
        ["scaled", "quantile_scaled"]
    assert _names(_generate(_context(CASES["binary_f1"])), "preprocess") == \
        ["one_hot_scaled", "ordinal", "one_hot_quantile"]


def test_polynomial_features_only_for_few_numeric_columns() -> None:
    assert "polynomial" in _names(_generate(_context(CASES["numeric_only"])), "features")
    for case in ("binary_f1", "regression_mae", "large", "text_regression"):
        assert "polynomial" not in _names(_generate(_context(CASES[case])), "features")


def test_text_tasks_only_get_models_that_accept_sparse_input() -> None:
    for case in ("text_binary", "text_mixed", "text_regression"):
        candidates = _generate(_context(CASES[case]))
        assert _names(candidates, "preprocess")[0] == "tfidf_chars"
        assert not {"hist_gradient_boosting", "random_forest", "extra_trees", "svc",
                    "k_nearest_neighbors"} & set(_names(candidates, "model"))
        assert "polynomial" not in _names(candidates, "features")
    # Naive Bayes needs non-negative input: only TF-IDF alone guarantees it.
    assert "complement_nb" in _names(_generate(_context(CASES["text_binary"])), "model")
    assert "complement_nb" not in _names(_generate(_context(CASES["text_mixed"])), "model")


def test_provider_interface() -> None:
    provider = get_provider("offline")
    assert isinstance(provider, OfflineProvider) and provider.name == "offline"
    cand = _generate(_context(CASES["binary_f1"]))["model"][0]
    assert provider.repair(cand, "boom", _context(CASES["binary_f1"])) is None
    # LLM settings (the magic and the command line always pass them) do not apply here
    assert isinstance(get_provider("offline", temperature=0.2, cache_dir=None), OfflineProvider)
    with pytest.raises(Text2MLError, match="Unknown provider 'gpt'"):
        get_provider("gpt")


# ---------------------------------------------------------------- execution

def _frame(n: int, seed: int = 0) -> pd.DataFrame:
    """Mixed data with NaN, mixed-type categories, free text and date strings."""
    rng = np.random.default_rng(seed)
    words = np.array(["cheap", "win", "call", "meet", "lunch", "prize", "today", "now", "ok"])
    frame = pd.DataFrame({
        "num": rng.normal(size=n),
        "num_sparse": np.where(rng.random(n) < 0.3, np.nan, rng.exponential(size=n)),
        "cat": rng.choice(["red", "green", "blue", None], size=n),
        "flag": rng.choice(np.array([True, False, "maybe", np.nan], dtype=object), size=n),
        "when": rng.choice(["2021-03-04", "2022-11-30 08:15", "bad date", None,
                            "2020-01-01"], size=n),
        "note": [" ".join(rng.choice(words, size=rng.integers(1, 6))) for _ in range(n)],
    })
    frame.loc[rng.random(n) < 0.1, "note"] = np.nan
    noise = rng.integers(0, 5, size=(n, 26)) * 1.0
    frame = frame.join(pd.DataFrame(noise, columns=[f"noise_{i}" for i in range(26)]))
    return frame


def _target(frame: pd.DataFrame, task_type: str, seed: int = 0) -> pd.Series:
    rng = np.random.default_rng(seed)
    signal = frame["num"].to_numpy() + (frame["cat"] == "red").to_numpy() \
        + frame["note"].fillna("").str.contains("win").to_numpy()
    if task_type == "regression":
        return pd.Series(np.exp(signal + rng.normal(scale=0.3, size=len(frame))), name="y")
    if task_type == "binary":
        return pd.Series(np.where(signal + rng.normal(size=len(frame)) > 0.8, "yes", "no"),
                         name="y")
    return pd.Series(np.array(["a", "b", "c"])[np.digitize(signal, [0.0, 1.0])], name="y")


def _fit_and_check(estimator: Any, X_fit: pd.DataFrame, y_fit: pd.Series,
                   X_check: pd.DataFrame, task_type: str) -> None:
    fitted = clone(estimator).fit(X_fit, y_fit)
    predictions = np.asarray(fitted.predict(X_check))
    assert predictions.shape == (len(X_check),)
    if task_type == "regression":
        assert np.all(np.isfinite(predictions.astype(float)))
        return
    classes = list(fitted.classes_)
    assert sorted(classes) == sorted(y_fit.unique())
    assert set(predictions) <= set(classes)
    proba = fitted.predict_proba(X_check)
    assert proba.shape == (len(X_check), len(classes))
    assert np.all(np.isfinite(proba)) and np.allclose(proba.sum(axis=1), 1)


def _build(chain: list[Candidate], trial_for: Any, columns: dict[str, list[str]]) -> Any:
    """postprocess(Pipeline([preprocess, features, model])), each built by its source."""
    built = {}
    for cand in chain:
        namespace: dict[str, Any] = {"__name__": f"candidate_{cand.slot}_{cand.name}"}
        exec(compile(cand.source, f"<{cand.key}>", "exec"), namespace)  # noqa: S102
        builder = namespace[SLOTS_BY_NAME[cand.slot].function]
        trial = trial_for(cand)
        if cand.slot == "preprocess":
            built[cand.slot] = builder(trial, columns)
        elif cand.slot == "postprocess":
            pipeline = Pipeline([(s, built[s]) for s in ("preprocess", "features", "model")])
            built[cand.slot] = builder(trial, pipeline)
        else:
            built[cand.slot] = builder(trial)
    return built["postprocess"]


class _ScopedTrial:
    """A trial whose parameter names are scoped to one candidate, as in the search."""

    def __init__(self, trial: optuna.Trial, prefix: str) -> None:
        self._trial, self._prefix = trial, prefix

    def suggest_int(self, name: str, *args: Any, **kwargs: Any) -> int:
        return self._trial.suggest_int(self._prefix + name, *args, **kwargs)

    def suggest_float(self, name: str, *args: Any, **kwargs: Any) -> float:
        return self._trial.suggest_float(self._prefix + name, *args, **kwargs)

    def suggest_categorical(self, name: str, *args: Any, **kwargs: Any) -> Any:
        return self._trial.suggest_categorical(self._prefix + name, *args, **kwargs)


EXECUTED = {
    "binary_f1": ("binary", "f1", ROLES_TABULAR, {"pos_label": "yes", "classes": ["no", "yes"]}),
    "multiclass": ("multiclass", "accuracy", ROLES_TABULAR, {"classes": ["a", "b", "c"]}),
    "regression": ("regression", "mae", ROLES_TABULAR, {}),
    "text_binary": ("binary", "f1", ROLES_TEXT, {"pos_label": "yes", "classes": ["no", "yes"]}),
    "text_regression": ("regression", "rmse", ROLES_TEXT_ONLY, {}),
    "numeric_regression": ("regression", "rmse", {"num": "numeric", "num_sparse": "numeric"}, {}),
    # Candidates written for a million rows (early stopping, blends, subsampled forests),
    # run on a small sample of such data.
    "large_binary": ("binary", "roc_auc", ROLES_TABULAR, {"classes": ["no", "yes"]}),
    "large_regression": ("regression", "rmse", ROLES_TABULAR, {}),
}


def _chains(candidates: dict[str, list[Candidate]]) -> list[list[Candidate]]:
    """Every candidate with the first of the other slots, and every preprocess x model pair
    (where input kinds meet: dense or sparse, scaled or not, non-negative or not)."""
    first = {slot: found[0] for slot, found in candidates.items()}
    chosen = {tuple(first[s.name].name for s in SLOTS)}
    chains = [[first[s.name] for s in SLOTS]]

    def add(**picked: Candidate) -> None:
        chain = [picked.get(s.name, first[s.name]) for s in SLOTS]
        key = tuple(c.name for c in chain)
        if key not in chosen:
            chosen.add(key)
            chains.append(chain)

    for slot, found in candidates.items():
        for cand in found:
            add(**{slot: cand})
    for pre, model in itertools.product(candidates["preprocess"], candidates["model"]):
        add(preprocess=pre, model=model)
    return chains


def _executed_case(case: str, n_rows: int = 120) -> tuple[Any, ...]:
    task_type, metric, roles, extra = EXECUTED[case]
    context_rows = 1_000_000 if case.startswith("large") else n_rows
    n_rows = 400 if case.startswith("large") else n_rows
    spec = _spec(task_type, metric, roles, n_rows=context_rows, **extra)
    frame = _frame(n_rows)
    y = _target(frame, task_type)
    X = frame[spec.features].copy()
    fit = np.arange(n_rows) < int(n_rows * 0.75)
    if "num_sparse" in X:
        X.loc[fit, "num_sparse"] = np.nan  # a column that is all NaN when fitting
    if "cat" in X:
        X.loc[~fit, "cat"] = "never seen"  # categories unseen when fitting
    stats = {"target_min": float(y.min()), "target_max": float(y.max()),
             "target_skew": float(y.skew())} if task_type == "regression" else {}
    candidates = _generate(_context(spec, n_rows=context_rows, extra=stats))
    return spec, candidates, X[fit], y[fit], X[~fit]


@pytest.mark.parametrize("case", sorted(EXECUTED))
def test_every_combination_fits_and_predicts_with_its_defaults(case: str) -> None:
    spec, candidates, X_fit, y_fit, X_check = _executed_case(case)
    columns = spec.columns_by_role()
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)  # no deprecated API in the catalog
        warnings.simplefilter("error", DeprecationWarning)
        warnings.filterwarnings("ignore", category=DeprecationWarning, module="optuna")
        for chain in _chains(candidates):
            # FixedTrial raises for a parameter without a default: defaults must be complete.
            estimator = _build(chain, lambda c: optuna.trial.FixedTrial(c.defaults), columns)
            _fit_and_check(estimator, X_fit, y_fit, X_check, spec.task_type)


@pytest.mark.parametrize("case", sorted(EXECUTED))
def test_a_search_over_candidates_and_hyperparameters_runs(case: str) -> None:
    """Like the real search: a categorical choice per slot, then define-by-run params."""
    spec, candidates, X_fit, y_fit, X_check = _executed_case(case)
    columns = spec.columns_by_role()

    def objective(trial: optuna.Trial) -> float:
        chain = []
        for slot in SLOTS:
            names = [c.name for c in candidates[slot.name]]
            chosen = trial.suggest_categorical(slot.name, names)
            chain.append(candidates[slot.name][names.index(chosen)])
        estimator = _build(chain, lambda c: _ScopedTrial(trial, c.param_prefix()), columns)
        _fit_and_check(estimator, X_fit, y_fit, X_check, spec.task_type)
        return 0.0

    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sampled extremes may not converge; that is fine
        study.optimize(objective, n_trials=15, catch=())
    assert len(study.trials) == 15


def test_tiny_data_defaults_run() -> None:
    """40 rows: neighbour counts, leaf sizes and quantiles stay within what a fold holds."""
    task_type, metric, roles, extra = EXECUTED["regression"]
    spec = _spec(task_type, metric, roles, n_rows=40)
    frame = _frame(40, seed=1)
    y = _target(frame, task_type, seed=1)
    X = frame[spec.features]
    candidates = _generate(_context(spec, n_rows=40))
    for chain in _chains(candidates):
        estimator = _build(chain, lambda c: optuna.trial.FixedTrial(c.defaults),
                           spec.columns_by_role())
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            _fit_and_check(estimator, X[:32], y[:32], X[32:], task_type)
