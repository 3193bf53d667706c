"""The program writer: hyperparameter binding, assembly, notebooks, and the key property
that the standalone program reproduces the search's score in a fresh interpreter."""

from __future__ import annotations

import ast
import math
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd
import pytest
from _programs import run_standalone
from sklearn.base import clone
from sklearn.datasets import load_diabetes, make_classification
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted

from text2ml_jupyter.candidates import Candidate
from text2ml_jupyter.evaluation import Evaluation
from text2ml_jupyter.metrics import get_metric
from text2ml_jupyter.program import (
    Cell,
    Program,
    assemble_program,
    bind_hyperparameters,
    cells_to_notebook,
    load_cell,
    write_notebook,
)
from text2ml_jupyter.spec import TaskSpec

optuna.logging.set_verbosity(optuna.logging.WARNING)


def _builder(source: str, function: str) -> Any:
    namespace: dict[str, Any] = {}
    exec(compile(source, "<candidate>", "exec"), namespace)  # noqa: S102 - test sources
    return namespace[function]


def _bind(source: str, params: dict[str, Any], function: str = "build_model", **kw: Any) -> str:
    out = bind_hyperparameters(textwrap.dedent(source), params, function=function, **kw)
    compile(out, "<bound>", "exec")
    assert "trial" not in {n.id for n in ast.walk(ast.parse(out)) if isinstance(n, ast.Name)}
    return out


# --------------------------------------------------------------------------- binding


def test_bind_positional_and_keyword_names() -> None:
    out = _bind("""
        def build_model(trial):
            a = trial.suggest_int("a", 1, 10)
            b = trial.suggest_float(name="b", low=0.1, high=1.0, log=True)
            c = trial.suggest_categorical(choices=["x", "y"], name="c")
            return a, b, c
    """, {"a": 7, "b": 0.25, "c": "y"}, annotate=False)
    assert "def build_model():" in out
    assert 'a = 7\n' in out and "b = 0.25\n" in out and 'c = "y"\n' in out
    assert _builder(out, "build_model")() == (7, 0.25, "y")


def test_bind_absent_params_get_first_choice_or_low() -> None:
    out = _bind("""
        LOW = 3

        def build_model(trial):
            kind = trial.suggest_categorical("kind", ["linear", "tree"])
            if kind == "tree":
                depth = trial.suggest_int("depth", 2, 9)
                frac = trial.suggest_float("frac", 1, 2)
                leaf = trial.suggest_int("leaf", LOW, 10)
                mode = trial.suggest_categorical("mode", ("a", "b"))
                return depth, frac, leaf, mode
            return kind
    """, {"kind": "linear"}, annotate=False)
    assert "depth = 2\n" in out
    assert "frac = 1.0\n" in out  # a float's low is a float, as the trial would return
    assert "leaf = LOW\n" in out  # a non-literal bound is kept as written
    assert 'mode = "a"\n' in out
    assert _builder(out.replace('"linear", "tree"', ""), "build_model")() == "linear"


def test_bind_keeps_comments_layout_and_annotates() -> None:
    source = textwrap.dedent("""\
        from sklearn.linear_model import LogisticRegression  # the classic


        def build_model(
            trial,  # the Optuna trial
        ):
            # Regularization: searched on a log scale.
            c = trial.suggest_float("C", 1e-3, 1e3, log=True)
            solver = trial.suggest_categorical("solver", ["lbfgs", "liblinear"])  # fast ones
            return LogisticRegression(
                C=c,
                solver=solver,
                max_iter=trial.suggest_int("max_iter", 100, 500),
            )
        """)
    out = bind_hyperparameters(source, {"C": 0.5, "solver": "lbfgs", "max_iter": 200},
                               function="build_model")
    assert "from sklearn.linear_model import LogisticRegression  # the classic" in out
    assert "    # Regularization: searched on a log scale.\n" in out
    assert "def build_model(\n    # the Optuna trial\n):" in out
    assert "c = 0.5  # searched: C in [1e-3, 1e3], log\n" in out
    assert 'solver = "lbfgs"  # fast ones\n' in out  # an existing comment stays alone
    assert "max_iter=200,  # searched: max_iter in [100, 500]\n" in out
    # Apart from the bound spans, the text is unchanged line for line.
    assert len(out.splitlines()) == len(source.splitlines())
    plain = bind_hyperparameters(source, {"C": 0.5, "solver": "lbfgs", "max_iter": 200},
                                 function="build_model", annotate=False)
    assert "# searched:" not in plain and "c = 0.5\n" in plain


def test_bind_nested_conditional_and_helpers_match_a_fixed_trial() -> None:
    source = textwrap.dedent("""\
        from sklearn.ensemble import RandomForestClassifier


        def _depth(trial, cap):
            # Helpers may take the trial too.
            return trial.suggest_int("max_depth", 2, cap)


        def _leaf(cap, *, trial=None):
            return trial.suggest_int("leaf", 1, cap)


        def build_model(trial: "optuna.Trial") -> RandomForestClassifier:
            kind = trial.suggest_categorical("kind", ["rf", "small"])
            if kind == "rf":
                n = trial.suggest_int("n_estimators", 10, 50, log=True)
            else:
                n = trial.suggest_int("n_small", 2, 5)
            return RandomForestClassifier(
                n_estimators=n,
                max_depth=_depth(trial, 8),
                min_samples_leaf=_leaf(trial=trial, cap=trial.suggest_int("cap", 2, 4)),
                max_features=trial.suggest_float("mf", 0.1, trial.suggest_float("top", 0.5, 1.0)),
                random_state=0,
            )
        """)
    params = {"kind": "rf", "n_estimators": 17, "max_depth": 5, "cap": 3, "leaf": 2,
              "mf": 0.3000000000000000444, "top": 0.75}
    out = _bind(source, params)
    expected = _builder(source, "build_model")(optuna.trial.FixedTrial(params)).get_params()
    assert _builder(out, "build_model")().get_params() == expected
    assert "def _depth(cap):" in out and "def _leaf(cap, *):" not in out
    assert "_depth(8)" in out and "_leaf(cap=3)" in out
    assert "def build_model() -> RandomForestClassifier:" in out
    # A nested suggest inside an untaken one binds too, and the untaken one gets its low.
    del params["mf"]
    out = _bind(source, params)
    assert "max_features=0.1," in out


def test_bind_follows_the_trial_into_helpers_under_other_names() -> None:
    source = textwrap.dedent("""\
        def _scale(t, x):
            return x * t.suggest_float("scale", 1.0, 2.0)


        def _outer(x, tr):
            return _scale(tr, x) + tr.suggest_int("shift", 0, 3)


        def build_model(trial):
            return _outer(10, tr=trial)
        """)
    params = {"scale": 1.5, "shift": 2}
    out = _bind(source, params)
    assert "def _scale(x):" in out and "def _outer(x):" in out
    assert "_scale(x)" in out and "_outer(10)" in out
    expected = _builder(source, "build_model")(optuna.trial.FixedTrial(params))
    assert _builder(out, "build_model")() == expected == 17.0
    leaky = source.replace("return x * t.", "print(t)\n    return x * t.")
    with pytest.raises(ValueError, match=r"'t' \(the trial\) is still used .* line 2"):
        bind_hyperparameters(leaky, params, function="build_model")


@pytest.mark.parametrize("line", [
    "print(trial.number)",
    "trial.set_user_attr('x', 1)",
    "external(trial)",
    "t = trial",
])
def test_bind_leftover_trial_is_an_error(line: str) -> None:
    source = f"def build_model(trial):\n    {line}\n    return trial.suggest_int('n', 1, 2)\n"
    with pytest.raises(ValueError, match=r"'trial' is still used .* line 2"):
        bind_hyperparameters(source, {"n": 1}, function="build_model")


def test_bind_precise_errors() -> None:
    source = "def build_model(trial):\n    return trial.suggest_int('n', 1, 2)\n"
    with pytest.raises(ValueError, match="'model.rf.n' are given but the source never sug"):
        bind_hyperparameters(source, {"model.rf.n": 1}, function="build_model")
    with pytest.raises(ValueError, match="no top-level function 'build_features'"):
        bind_hyperparameters(source, {}, function="build_features")
    dynamic = ("def build_model(trial):\n"
               "    return [trial.suggest_int(f'n{i}', 1, 2) for i in 'ab']\n")
    with pytest.raises(ValueError, match="string literal"):
        bind_hyperparameters(dynamic, {}, function="build_model")
    with pytest.raises(ValueError, match="does not parse"):
        bind_hyperparameters("def build_model(trial:\n", {}, function="build_model")


def test_bind_writes_exact_literals_and_keeps_precedence() -> None:
    source = """
        def build_model(trial):
            a = trial.suggest_float("a", 0.0, 1.0)
            b = 2 ** trial.suggest_float("b", -3.0, 0.0)
            c = -trial.suggest_float("c", -1.0, 1.0)
            d = trial.suggest_categorical("d", ["it's", 'say "hi"', None, True])
            e = trial.suggest_float("e", 0.0, 1.0)
            f = trial.suggest_int("f", 0, 9)
            g = trial.suggest_categorical("g", ["é", "x"])  # non-ASCII before a call: é
            return a, b, c, d, e, f, g
    """
    params = {"a": 0.1 + 0.2, "b": -0.5, "c": -0.25, "d": 'say "hi"', "e": float("inf"),
              "f": np.int64(4), "g": "é"}
    out = _bind(source, params)
    values = _builder(out, "build_model")()
    assert values[0] == 0.1 + 0.2 and "a = 0.30000000000000004" in out
    assert values[1:4] == (2 ** -0.5, 0.25, 'say "hi"') and "2 ** (-0.5)" in out
    assert math.isinf(values[4]) and type(values[5]) is int
    assert values[6] == "é" and "# non-ASCII before a call: é" in out


def test_bind_signature_variants() -> None:
    body = "    return trial.suggest_int('n', 1, 2), columns\n"
    for signature, expected in [
        ("def build_preprocess(trial, columns):", "def build_preprocess(columns):"),
        ("def build_preprocess(\n    trial,\n    columns,\n):",
         "def build_preprocess(\n    columns,\n):"),
        ("def build_preprocess(trial: 'Trial', columns: dict) -> tuple:",
         "def build_preprocess(columns: dict) -> tuple:"),
    ]:
        out = _bind(f"{signature}\n{body}", {"n": 2}, "build_preprocess", annotate=False)
        assert out.startswith(expected)
        assert _builder(out, "build_preprocess")(["a"]) == (2, ["a"])
    out = _bind("def build_features(trial,):\n    return 'passthrough'\n", {}, "build_features")
    assert out.startswith("def build_features():")


# --------------------------------------------------------------------------- assembly

PREPROCESS = '''\
"""Impute, then scale numbers and one-hot encode categories."""
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler


def build_preprocess(trial, columns):
    # Numbers: impute, then scale.
    numeric = make_pipeline(
        SimpleImputer(strategy=trial.suggest_categorical("impute", ["median", "mean"])),
        StandardScaler(),
    )
    categorical = Pipeline([
        ("impute", SimpleImputer(strategy="most_frequent")),
        ("onehot", OneHotEncoder(handle_unknown="ignore")),
    ])
    return ColumnTransformer([
        ("num", numeric, columns["numeric"]),
        ("cat", categorical, columns["categorical"]),
    ])
'''

FEATURES = '''\
def build_features(trial):
    return "passthrough"
'''

MODEL = '''\
from sklearn.ensemble import {cls}


def build_model(trial):
    return {cls}(
        n_estimators=trial.suggest_int("n_estimators", 10, 50),
        max_features=trial.suggest_float("max_features", 0.2, 1.0),
        random_state=0,
    )
'''

POSTPROCESS = '''\
def build_postprocess(trial, pipeline):
    return pipeline
'''


def _classification_data() -> tuple[pd.DataFrame, TaskSpec]:
    X, y = make_classification(n_samples=160, n_features=3, n_informative=2, n_redundant=0,
                               random_state=0)
    rng = np.random.default_rng(0)
    df = pd.DataFrame(X, columns=["x0", "x1", "x2"])
    df.insert(0, "id", np.arange(len(df)))
    df["color"] = rng.choice(["red", "green", "blue"], len(df))
    df.loc[rng.choice(len(df), 15, replace=False), "x0"] = np.nan
    df.loc[rng.choice(len(df), 10, replace=False), "color"] = np.nan
    df["label"] = np.where(y == 1, "yes", "no").astype(object)
    df.loc[[3, 50, 77], "label"] = np.nan
    columns = {"id": "identifier", "x0": "numeric", "x1": "numeric", "x2": "numeric",
               "color": "categorical", "label": "target"}
    spec = TaskSpec(text="Predict the label | it's a test.\nScore with F1.", target="label",
                    task_type="binary", metric="f1", direction="maximize", columns=columns,
                    pos_label="yes", classes=["no", "yes"], n_rows=157, n_rows_dropped=3,
                    notes=["id is an identifier: left out."])
    return df, spec


def _regression_data() -> tuple[pd.DataFrame, TaskSpec]:
    df = load_diabetes(as_frame=True).frame.iloc[:200].copy()
    rng = np.random.default_rng(1)
    df["sex"] = np.where(df["sex"] > 0, "m", "f")
    df.loc[rng.choice(len(df), 20, replace=False), "bmi"] = np.nan
    roles = {c: "numeric" for c in df.columns}
    roles.update({"sex": "categorical", "target": "target"})
    spec = TaskSpec(text="Predict disease progression, RMSE.", target="target",
                    task_type="regression", metric="rmse", direction="minimize",
                    columns=roles, n_rows=len(df))
    return df, spec


def _chosen(spec: TaskSpec) -> dict[str, tuple[Candidate, dict[str, Any]]]:
    cls = "RandomForestClassifier" if spec.is_classification else "RandomForestRegressor"
    return {
        "preprocess": (Candidate("preprocess", "impute_onehot", PREPROCESS,
                                 "Impute, scale and one-hot encode."), {"impute": "mean"}),
        "features": (Candidate("features", "none", FEATURES, "No feature step"), {}),
        "model": (Candidate("model", "forest", MODEL.format(cls=cls), "random forest"),
                  {"n_estimators": 12, "max_features": 0.7000000000000001}),
        "postprocess": (Candidate("postprocess", "identity", POSTPROCESS, "as is"), {}),
    }


CASES = {"classification": _classification_data, "regression": _regression_data}


def _engine_score(spec: TaskSpec, data: pd.DataFrame, evaluation: Evaluation) -> float:
    """The search's score: builders called with the trial, fold by fold with clone/fit and
    the metric's scorer, averaged (in scorer units)."""
    rows = data[spec.target].notna()
    X, y = evaluation.sample(data.loc[rows, spec.features], data.loc[rows, spec.target])
    parts = {}
    for slot, (candidate, params) in _chosen(spec).items():
        builder = _builder(candidate.source, f"build_{slot}")
        trial = optuna.trial.FixedTrial(params)
        if slot == "preprocess":
            parts[slot] = builder(trial, spec.columns_by_role())
        elif slot == "postprocess":
            parts[slot] = builder(trial, Pipeline([(s, parts[s]) for s in
                                                   ("preprocess", "features", "model")]))
        else:
            parts[slot] = builder(trial)
    scorer = get_metric(spec.metric).scorer(spec.task_type, spec.pos_label)
    raw = []
    for train, valid in evaluation.splitter().split(X, y):
        fitted = clone(parts["postprocess"]).fit(X.iloc[train], y.iloc[train])
        raw.append(float(scorer(fitted, X.iloc[valid], y.iloc[valid])))
    return float(np.mean(raw))


@pytest.fixture(params=[*CASES, "regression-holdout", "classification-sampled",
                        "classification-repeated", "regression-repeated"])
def case(request: pytest.FixtureRequest) -> tuple[str, pd.DataFrame, TaskSpec, Evaluation]:
    data, spec = CASES[request.param.split("-")[0]]()
    evaluation = Evaluation(n_splits=4, stratified=spec.is_classification, seed=3)
    if request.param.endswith("holdout"):
        evaluation = Evaluation(n_splits=1, stratified=False, seed=5, holdout=True)
    if request.param.endswith("sampled"):  # the large-data fidelity, on a small table
        evaluation = Evaluation(n_splits=1, stratified=True, seed=7, holdout=True,
                                sample_rows=int(0.6 * spec.n_rows))
    if request.param.endswith("repeated"):  # small data: k-fold CV repeated, reshuffled
        evaluation = Evaluation(n_splits=3, stratified=spec.is_classification, seed=3,
                                n_repeats=2)
    return request.param, data, spec, evaluation


def _assemble(spec: TaskSpec, evaluation: Evaluation, **kw: Any) -> Program:
    return assemble_program(spec, _chosen(spec), evaluation=evaluation, run_id="run-1", **kw)


def test_program_code_cells_and_summary(case: Any) -> None:
    _, _, spec, evaluation = case
    program = _assemble(spec, evaluation, data_name="customers", best_score=0.8765,
                        n_candidates={"model": 5, "features": 1})
    compile(program.code, "<program>", "exec")
    compile(program.build_code, "<build>", "exec")
    roles = [c.role for c in program.cells]
    assert roles == ["summary", "setup", "preprocess", "features", "model", "postprocess",
                     "pipeline", "predict"]
    assert [c.kind for c in program.cells] == ["markdown"] + ["code"] * 7
    # Standalone: the program imports no part of this package.
    modules = {(n.module if isinstance(n, ast.ImportFrom) else a.name).split(".")[0]
               for n in ast.walk(ast.parse(program.code))
               if isinstance(n, (ast.Import, ast.ImportFrom)) for a in n.names}
    assert modules <= {"sklearn", "numpy", "pandas", "scipy"}
    cells = {c.role: c.source for c in program.cells}
    setup = cells["setup"]
    assert setup.count("from sklearn.pipeline import Pipeline, make_pipeline") == 1
    assert program.code.count("import ") == setup.count("import ")  # all imports hoisted
    assert f"TARGET = {spec.target!r}".replace("'", '"') in setup
    assert "data = customers.dropna(subset=[TARGET])" in setup
    assert '"text": [],' in setup and "FEATURES = [" in setup
    assert cells["model"].startswith("# Model: random forest (chosen from 5 candidates)\n")
    assert cells["features"].startswith("# Features: No feature step\n")
    assert "n_estimators=12," in cells["model"] and "0.7000000000000001" in cells["model"]
    assert "build_preprocess(COLUMNS)" in cells["pipeline"]
    assert "pipeline.fit(X, y)" in cells["pipeline"]
    calls = [ast.unparse(n.func) for n in ast.walk(ast.parse(program.build_code))
             if isinstance(n, ast.Call)]
    assert "cross_val_score" not in calls and not any(c.endswith(".fit") for c in calls)
    assert program.code.startswith(program.build_code.rstrip("\n"))
    summary = cells["summary"]
    assert "| **Best score** | 0.8765 |" in summary and evaluation.describe() in summary
    if spec.is_classification:
        assert "-scores.mean()" not in cells["pipeline"] and "predict_proba" in cells["predict"]
        assert "drops 3 rows" in setup and "# Left out of FEATURES: id (an identifier)." in setup
        assert "> Predict the label | it's a test.\n> Score with F1." in summary
        assert "`id` (an identifier)" in summary
        assert "pos_label=\"yes\"" in cells["pipeline"] or "pos_label='yes'" in cells["pipeline"]
    else:
        assert "{-scores.mean():.4f}" in cells["pipeline"]
        assert 'scoring="neg_root_mean_squared_error"' in cells["pipeline"]
        assert "predict_proba" not in cells["predict"]


def test_program_reproduces_the_engine_score_in_a_fresh_interpreter(
        case: Any, tmp_path: Path) -> None:
    name, data, spec, evaluation = case
    program = _assemble(spec, evaluation, data_name="table")
    report, lines = run_standalone(program.code, data, tmp_path, data_name="table", report="""\
        print(json.dumps({"score": float(namespace["scores"].mean())}))
        """)
    score = report["score"]
    assert score == pytest.approx(_engine_score(spec, data, evaluation), abs=1e-9)
    metric = get_metric(spec.metric)
    printed = next(line for line in lines if line.startswith("Validation "))
    assert f"{metric.from_scorer(spec.task_type, score):.4f}" in printed, name


def test_build_code_builds_an_unfitted_pipeline(case: Any) -> None:
    _, data, spec, evaluation = case
    program = _assemble(spec, evaluation, pipeline_name="model_pipeline")
    namespace: dict[str, Any] = {"df": data}
    exec(compile(program.build_code, "<build>", "exec"), namespace)  # noqa: S102
    pipeline = namespace["model_pipeline"]
    with pytest.raises(NotFittedError):
        check_is_fitted(pipeline)
    assert len(namespace["X"]) == spec.n_rows and list(namespace["X"]) == spec.features
    pipeline.fit(namespace["X"], namespace["y"])
    check_is_fitted(pipeline)
    assert len(pipeline.predict(namespace["X"].head())) == 5


def test_colliding_names_are_renamed_per_slot() -> None:
    data, spec = _classification_data()
    chosen = _chosen(spec)
    pre, _ = chosen["preprocess"]
    chosen["preprocess"] = (Candidate("preprocess", "p", pre.source.replace(
        'strategy="most_frequent"', "strategy=STRATEGY") + '\nSTRATEGY = "most_frequent"\n'
        "\ndef X():\n    return len([1])\n"), {"impute": "median"})
    chosen["model"] = (Candidate("model", "m", textwrap.dedent("""\
        import numpy as np
        from sklearn.linear_model import LogisticRegression as Model
        STRATEGY = 10.0  # same name, another meaning
        len = None  # shadows a builtin the other candidates read


        def build_model(trial):
            return Model(C=STRATEGY * np.float64(trial.suggest_float("c", 0.1, 1.0)))
        """)), {"c": 0.5})
    program = assemble_program(spec, chosen, evaluation=Evaluation(3, True))
    cells = {c.role: c.source for c in program.cells}
    assert "STRATEGY_model = 10.0" in cells["model"] and "C=STRATEGY_model * " in cells["model"]
    assert "len_model = None" in cells["model"]
    assert "def X_preprocess():" in cells["preprocess"]
    assert "from sklearn.linear_model import LogisticRegression as Model" in program.imports
    namespace: dict[str, Any] = {"df": data}
    exec(compile(program.build_code, "<build>", "exec"), namespace)  # noqa: S102
    built = namespace["pipeline"]
    assert built.named_steps["model"].C == 5.0
    cat = built.named_steps["preprocess"].transformers[1][1]
    assert cat.named_steps["impute"].strategy == "most_frequent"


def test_assemble_rejects_bad_input() -> None:
    _, spec = _classification_data()
    chosen = _chosen(spec)
    evaluation = Evaluation(3, True)
    with pytest.raises(ValueError, match="exactly the slots"):
        assemble_program(spec, {k: chosen[k] for k in ("preprocess", "model")},
                         evaluation=evaluation)
    with pytest.raises(ValueError, match="data_name must be a Python identifier"):
        assemble_program(spec, chosen, evaluation=evaluation, data_name="my data")
    with pytest.raises(ValueError, match="must differ"):
        assemble_program(spec, chosen, evaluation=evaluation, data_name="X")
    broken = Candidate("model", "broken", "def build_model(trial):\n    return trial\n")
    with pytest.raises(ValueError, match="model.broken: build_model: 'trial' is still used"):
        assemble_program(spec, dict(chosen, model=(broken, {})), evaluation=evaluation)
    # A key the source never suggests (a stale default, say) is ignored, not fatal.
    stale = dict(chosen, model=(chosen["model"][0], {**chosen["model"][1], "depth": 3}))
    assert "depth" not in assemble_program(spec, stale, evaluation=evaluation).code


def test_to_python(tmp_path: Path) -> None:
    data, spec = _regression_data()
    program = _assemble(spec, Evaluation(3, False), data_name="diabetes", best_score=55.5)
    without = program.to_python()
    compile(without, "<py>", "exec")
    assert without.startswith('"""Predict disease progression, RMSE')
    assert "named `diabetes`" in without and "Best validation score: 55.5000" in without
    data.to_csv(tmp_path / "diabetes.csv", index=False)
    source = program.to_python(tmp_path / "diabetes.csv")
    assert source.count("import pandas as pd") == 1
    (tmp_path / "program.py").write_text(source, encoding="utf-8")
    done = subprocess.run([sys.executable, "-I", str(tmp_path / "program.py")], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "Validation RMSE: " in done.stdout


# --------------------------------------------------------------------------- notebook


def test_notebook_validates_and_round_trips(case: Any, tmp_path: Path) -> None:
    import nbformat

    _, _, spec, evaluation = case
    program = _assemble(spec, evaluation)
    cells = [program.cells[0], load_cell("df", tmp_path / "data.csv"), *program.cells[1:]]
    nb = cells_to_notebook(cells, run_id="run-1")
    nbformat.validate(nb)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    assert [c.metadata["text2ml"]["role"] for c in nb.cells] == [c.role for c in cells]
    assert all(c.metadata["text2ml"]["run"] == "run-1" and c.metadata["tags"] == ["text2ml"]
               for c in nb.cells)
    target = tmp_path / "out.ipynb"
    target.write_text("old", encoding="utf-8")
    target.chmod(0o640)
    assert write_notebook(nb, target) == target
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.ipynb"]  # no temp file left
    assert target.stat().st_mode & 0o777 == 0o640
    back = nbformat.read(target, as_version=4)
    assert [c.source for c in back.cells] == [c.source.rstrip("\n") for c in cells]
    assert [c.cell_type for c in back.cells] == [c.kind for c in cells]


def test_write_notebook_refuses_an_invalid_notebook(tmp_path: Path) -> None:
    import nbformat

    nb = cells_to_notebook([Cell("code", "x = 1", "setup")], run_id="r")
    nb.cells[0]["cell_type"] = "bogus"
    with pytest.raises(nbformat.ValidationError):
        write_notebook(nb, tmp_path / "bad.ipynb")
    assert list(tmp_path.iterdir()) == []


def test_program_module_imports_nothing_jupyter() -> None:
    code = ("import sys, text2ml_jupyter.program\n"
            "bad = [m for m in sys.modules if m.split('.')[0] in "
            "('nbformat', 'IPython', 'ipykernel', 'jupyter_client', 'nbclient')]\n"
            "assert not bad, bad\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parent.parent, timeout=120)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("suffix", [".csv", ".csv.gz", ".parquet"])
def test_load_cell_reads_the_file(tmp_path: Path, suffix: str) -> None:
    data = pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", None]})
    path = tmp_path / f"my data{suffix}"
    if suffix == ".parquet":
        data.to_parquet(path)
    else:
        data.to_csv(path, index=False)
    cell = load_cell("frame", path)
    assert (cell.kind, cell.role) == ("code", "load")
    namespace: dict[str, Any] = {}
    exec(cell.source, namespace)  # noqa: S102
    pd.testing.assert_frame_equal(namespace["frame"], data)


def test_load_cell_and_cell_errors() -> None:
    with pytest.raises(ValueError, match="cannot write code to load"):
        load_cell("df", "data.xlsx")
    with pytest.raises(ValueError, match="identifier"):
        load_cell("1df", "data.csv")
    with pytest.raises(ValueError, match="role"):
        Cell("code", "", "nope")
    with pytest.raises(ValueError, match="kind"):
        Cell("raw", "", "setup")
