"""End-to-end runs of the engine on small real data with small budgets."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import threading
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_diabetes, load_iris

import text2ml_jupyter
from text2ml_jupyter import Text2MLError
from text2ml_jupyter.candidates import FAILED, PASSED, Candidate
from text2ml_jupyter.providers.offline import OfflineProvider
from text2ml_jupyter.testing import WARM_UP

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def titanic() -> pd.DataFrame:
    return pd.read_csv(DATA / "titanic.csv")


@pytest.fixture(scope="module")
def titanic_result(titanic, tmp_path_factory):
    events = []
    result = text2ml_jupyter.run(
        "Predict whether a passenger survived the sinking. Optimize F1.", titanic,
        time_budget=25, run_dir=tmp_path_factory.mktemp("runs"), data_name="titanic",
        on_event=events.append)
    result.events = events
    return result


def test_titanic_run_returns_a_fitted_pipeline(titanic, titanic_result):
    result = titanic_result
    assert result.spec.target == "survived"
    assert result.spec.columns["alive"] == "leakage"
    assert result.metric == "f1"
    assert 0.6 < result.best_score <= 1.0
    new_rows = titanic.drop(columns=["survived"]).head(20)
    predictions = result.pipeline.predict(new_rows)
    assert predictions.shape == (20,)
    assert set(predictions) <= {0, 1}
    proba = result.pipeline.predict_proba(new_rows)
    assert proba.shape == (20, 2)
    assert list(result.pipeline.classes_) == [0, 1]
    assert result.n_trials >= 3
    assert len(result.study.trials) == result.n_trials
    # the budget is a hard one; a generous bound keeps this a functional, not a speed check
    assert result.elapsed < 2 * 25


def test_candidates_are_tested_and_recorded(titanic_result):
    slots = {c.slot for c in titanic_result.candidates}
    assert slots == {"preprocess", "features", "model", "postprocess"}
    for candidate in titanic_result.candidates:
        assert candidate.source.strip()
        assert candidate.status in (PASSED, FAILED)
        assert (candidate.status == FAILED) == bool(candidate.reason)
    assert set(titanic_result.chosen) == slots


def test_events_report_every_stage(titanic_result):
    kinds = [e.kind for e in titanic_result.events]
    assert kinds[0] == "stage" and kinds[-1] == "done"
    assert {"spec", "candidate", "trial"} <= set(kinds)
    stages = [e.data["stage"] for e in titanic_result.events if e.kind == "stage"]
    assert stages == ["understand", "generate:preprocess", "generate:features",
                      "generate:model", "generate:postprocess", "search", "refit"]


def test_run_folder_holds_the_run(titanic_result):
    folder = titanic_result.run_dir
    for name in ("spec.json", "candidates.json", "program.py", "result.json", "study.journal"):
        assert (folder / name).is_file(), name
    assert not list(folder.rglob("*.pkl"))  # the data copy is removed
    saved = json.loads((folder / "result.json").read_text())
    assert saved["best_score"] == pytest.approx(titanic_result.best_score)
    assert (folder / "program.py").read_text() == titanic_result.code


def test_code_reproduces_the_score_in_a_fresh_interpreter(titanic_result, tmp_path):
    data_file = tmp_path / "titanic.csv"
    data_file.write_bytes((DATA / "titanic.csv").read_bytes())
    script = (
        "import json, sys\nimport pandas as pd\n"
        f"{titanic_result.data_name} = pd.read_csv(sys.argv[1])\n"
        f"exec(compile(sys.argv[2], 'program', 'exec'))\n"
        f"p = {titanic_result.pipeline_name}\n"
        "print(json.dumps({'scores': [float(s) for s in scores], "
        "'fitted': hasattr(p, 'predict') and p.predict(X.head(3)).shape == (3,)}))\n"
    )
    out = subprocess.run([sys.executable, "-c", script, str(data_file), titanic_result.code],
                         capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["fitted"]
    # an ensemble's score comes from its members' float32 out-of-fold predictions
    # (ensemble.py): equal up to their rounding; a single pipeline's to the last digit
    tolerance = {"rel": 1e-3} if titanic_result.members else {"abs": 1e-9}
    assert float(np.mean(report["scores"])) == pytest.approx(titanic_result.best_score,
                                                             **tolerance)
    assert "text2ml_jupyter" not in titanic_result.code


def test_cells_are_the_program_cut_up(titanic_result):
    cells = titanic_result.cells
    assert cells[0].kind == "markdown"
    code = "\n".join(c.source for c in cells if c.kind == "code")
    for cell in cells[1:]:
        assert cell.kind == "code"
    assert "build_model" in code and "cross_val_score" in code


def test_regression_run(tmp_path):
    frame = load_diabetes(as_frame=True).frame
    result = text2ml_jupyter.run("Predict the disease progression target; report MAE.",
                                 frame, time_budget=25, target="target", run_dir=tmp_path)
    assert result.spec.task_type == "regression"
    assert result.metric == "mae"
    assert 20 < result.best_score < 80  # MAE in the target's units, a positive number
    assert result.pipeline.predict(frame.drop(columns="target").head(5)).shape == (5,)


def test_multiclass_run(tmp_path):
    frame = load_iris(as_frame=True).frame
    frame["species"] = load_iris().target_names[frame.pop("target")]
    result = text2ml_jupyter.run("Classify the iris species.", frame, time_budget=25,
                                 run_dir=tmp_path)
    assert result.spec.task_type == "multiclass"
    assert result.best_score > 0.85
    assert sorted(result.pipeline.classes_) == ["setosa", "versicolor", "virginica"]


class _HostileProvider(OfflineProvider):
    """The offline catalog plus a model that raises in fit, one that returns a string, and
    one broken candidate that 'repair' fixes."""

    def generate(self, slot, context):
        candidates = super().generate(slot, context)
        if slot.name != "model":
            return candidates
        body = "def build_model(trial):\n"
        return candidates + [
            Candidate("model", "raises_in_fit", body
                      + "    from sklearn.base import BaseEstimator\n"
                      "    class Broken(BaseEstimator):\n"
                      "        def fit(self, X, y):\n"
                      "            raise RuntimeError('fit exploded')\n"
                      "        def predict(self, X):\n"
                      "            return X[:, 0]\n"
                      "    return Broken()\n", description="broken"),
            Candidate("model", "not_an_estimator", body + "    return 'nope'\n"),
            Candidate("model", "needs_repair", body + "    return LogisticRegression()\n"),
        ]

    def repair(self, candidate, error, context):
        if candidate.name != "needs_repair":
            return None
        self.repair_error = error
        return Candidate("model", "repaired", "from sklearn.linear_model import "
                         "LogisticRegression\n\ndef build_model(trial):\n"
                         "    return LogisticRegression(max_iter=500)\n", origin="repair")


def test_failing_candidates_are_reported_and_repaired(titanic, tmp_path):
    provider = _HostileProvider()
    result = text2ml_jupyter.run("Predict whether a passenger survived.", titanic,
                                 time_budget=15, provider=provider, run_dir=tmp_path)
    by_name = {c.name: c for c in result.candidates if c.slot == "model"}
    assert by_name["raises_in_fit"].status == FAILED
    assert "fit exploded" in by_name["raises_in_fit"].reason
    assert by_name["not_an_estimator"].status == FAILED
    assert "no fit() method" in by_name["not_an_estimator"].reason
    assert by_name["needs_repair"].status == FAILED
    assert "NameError" in provider.repair_error and "LogisticRegression" in provider.repair_error
    assert by_name["repaired"].status == PASSED
    if result.pipeline is None:
        # The repaired model is LLM-written: when the winning pipeline (or an ensemble
        # member) uses it, the caller does not load the pipeline by itself, and says why.
        models = [m["params"].get("model") for m in result.members] or [result.chosen["model"]]
        assert "repaired" in models
        assert any("holds code the LLM wrote" in note for note in result.notes)
    pipeline = result.load_pipeline()
    assert pipeline.predict(titanic.drop(columns="survived").head(3)).shape == (3,)


def test_stop_keeps_the_best_so_far(titanic, tmp_path):
    stop = threading.Event()

    def on_event(event):
        if event.kind == "trial" and event.data["best"] is not None:
            stop.set()

    result = text2ml_jupyter.run("Predict whether a passenger survived.", titanic,
                                 time_budget=120, stop=stop, on_event=on_event,
                                 run_dir=tmp_path)
    assert result.elapsed < 60
    assert math.isfinite(result.best_score)
    assert any("Stopped" in note for note in result.notes)
    assert result.pipeline.predict(titanic.drop(columns="survived").head(2)).shape == (2,)


@pytest.mark.parametrize("kwargs, message", [
    ({"time_budget": 0}, "time_budget=0 is not a positive number"),
    ({"time_budget": -5}, "time_budget=-5"),
    ({"data_name": "my data"}, "not a valid Python variable name"),
    ({"candidates": 0}, "candidates=0"),
])
def test_bad_options_are_explained(titanic, tmp_path, kwargs, message):
    options = {"time_budget": 10, "run_dir": tmp_path, **kwargs}
    with pytest.raises(Text2MLError, match=message):
        text2ml_jupyter.run("Predict survived.", titanic, **options)


@pytest.mark.parametrize("data, message", [
    ([1, 2, 3], "not a table"),
    (pd.DataFrame(), "no rows or no columns"),
    ("missing.csv", "No data file"),
])
def test_bad_data_is_explained(tmp_path, data, message):
    with pytest.raises(Text2MLError, match=message):
        text2ml_jupyter.run("Predict survived.", data, time_budget=10, run_dir=tmp_path)


def test_engine_imports_nothing_from_jupyter() -> None:
    """The engine, the command line and everything outside the notebook layer load no
    IPython, ipywidgets or Jupyter module: they run from plain Python."""
    import subprocess
    import sys

    code = (
        "import pkgutil, importlib, sys, text2ml_jupyter as t\n"
        "for m in pkgutil.walk_packages(t.__path__, 'text2ml_jupyter.'):\n"
        "    if '.notebook' not in m.name and not m.name.endswith('_worker'):\n"
        "        importlib.import_module(m.name)\n"
        "bad = sorted(n for n in sys.modules if n.split('.')[0] in\n"
        "             ('IPython', 'ipywidgets', 'ipykernel', 'jupyter_client', 'comm',\n"
        "              'nbclient', 'traitlets', 'jupyterlab'))\n"
        "print(len([n for n in sys.modules if n.startswith('text2ml_jupyter.')]), bad)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split(maxsplit=1)
    assert int(out[0]) >= 20, out  # the walk really imported the engine's modules
    assert out[1].strip() == "[]", out[1]


def test_candidates_are_tested_in_the_context_the_first_trial_will_run(monkeypatch) -> None:
    """Each slot's tests get one accepted candidate of every earlier slot: the quickest
    combination (search.quickest_combination), not the best-first one, so the tests after
    the model's fit its quickest model."""
    from text2ml_jupyter import events as ev
    from text2ml_jupyter import generation
    from text2ml_jupyter.search import Budget

    seconds = {"chars": 0.35, "words": 0.03, "passthrough": 0.05, "hgb": 0.20, "svm": 0.11,
               "nb": 0.08, "none": 0.1}
    names = {"preprocess": ["chars", "words"], "features": ["passthrough"],
             "model": ["hgb", "svm", "nb"], "postprocess": ["none"]}
    contexts: dict[str, list[str]] = {}

    def tested(pool, candidates, upstream, **_kwargs) -> None:
        contexts[candidates[0].slot] = [c.name for c in upstream]
        for candidate in candidates:
            candidate.status, candidate.test_seconds = PASSED, seconds[candidate.name]

    class Provider:
        name = "fake"

        def generate(self, slot, context):
            return [Candidate(slot.name, name, "") for name in names[slot.name]]

    monkeypatch.setattr(generation, "run_contract_tests", tested)
    warmed: list[dict] = []
    accepted, _ = generation.generate_and_test(
        Provider(), SimpleNamespace(warm=lambda **kwargs: warmed.append(kwargs)),
        SimpleNamespace(accepted={}), job={"data_path": "d"}, budget=Budget(30.0),
        emit=ev.Emitter(None), stop=threading.Event(), notes=[])
    # the workers pay their first-use costs before the tests are timed
    assert [w["exercise"] for w in warmed] == [(WARM_UP, {"data_path": "d"})]
    assert contexts == {"preprocess": [], "features": ["words"],
                        "model": ["words", "passthrough"],
                        "postprocess": ["words", "passthrough", "nb"]}
    assert [c.name for c in accepted["model"]] == ["hgb", "svm", "nb"]  # best-first order kept


@pytest.mark.parametrize("labels", [["yes", "no"] * 30, [float(i % 7) for i in range(60)]])
def test_warm_up_loads_the_data_once_and_fits_a_standard_pipeline(labels) -> None:
    """testing.warm_up (a worker's exercise before its first contract test) loads the data
    where the tests find it again and fits numbers, categories and text; it never
    raises, whatever the data."""
    from text2ml_jupyter.spec import infer_spec
    from text2ml_jupyter.testing import warm_up

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"size": rng.normal(size=60), "colour": ["red", "blue", None] * 20,
                          "note": [f"a note about item {i}" for i in range(60)],
                          "label": labels})
    frame.loc[3, "size"] = np.nan
    spec = infer_spec("Predict label.", frame, target="label",
                      roles={"colour": "categorical", "note": "text"})

    class Context:
        def __init__(self) -> None:
            self.loads, self.derived = 0, {}

        def load(self, path: str) -> pd.DataFrame:
            if path != "data.pkl":
                raise FileNotFoundError(path)
            self.loads += 1
            return frame

        def memo(self, key, make):
            if key not in self.derived:
                self.derived[key] = make()
            return self.derived[key]

    context = Context()
    assert warm_up(context, data_path="data.pkl", spec=spec.to_dict()) is True
    assert context.loads == 1 and len(context.derived) == 1
    assert warm_up(Context(), data_path="missing.pkl", spec=spec.to_dict()) is False


def test_the_quickest_combination_is_enqueued_first_then_the_best_first_ones(tmp_path) -> None:
    """The first trial is the quickest pipeline (a usable best within seconds); the other
    slots keep their best-first candidate unless another tested clearly quicker."""
    import optuna

    from text2ml_jupyter.search import create_study, enqueue_defaults

    def cand(slot: str, name: str, seconds: float | None) -> Candidate:
        return Candidate(slot, name, "", status=PASSED, test_seconds=seconds,
                         defaults={"alpha": 1})

    accepted = {
        "preprocess": [cand("preprocess", "chars", 0.35), cand("preprocess", "words", 0.03)],
        "features": [cand("features", "passthrough", 0.10), cand("features", "select", 0.07)],
        "model": [cand("model", "hgb", 0.20), cand("model", "svm", 0.11),
                  cand("model", "nb", 0.08), cand("model", "forest", 0.01)],
        "postprocess": [cand("postprocess", "none", 0.16), cand("postprocess", "tuned", None)],
    }
    study = create_study(direction="maximize", seed=0)
    assert enqueue_defaults(study, accepted) == 4
    waiting = [t.system_attrs["fixed_params"]
               for t in study.get_trials(states=(optuna.trial.TrialState.WAITING,))]
    assert [(p["preprocess"], p["features"], p["model"], p["postprocess"]) for p in waiting] \
        == [("words", "passthrough", "forest", "none"),  # 0.07 vs 0.10: not clearly quicker
            ("chars", "passthrough", "hgb", "none"), ("chars", "passthrough", "svm", "none"),
            ("chars", "passthrough", "nb", "none")]
    assert waiting[0]["model.forest.alpha"] == 1  # with its defaults
    # when the quickest is also a best-first combination, it is enqueued once
    accepted["model"][3].test_seconds = 0.5
    accepted["preprocess"][1].test_seconds = 0.3
    study = create_study(direction="maximize", seed=0)
    assert enqueue_defaults(study, accepted) == 3
    assert study.get_trials()[0].system_attrs["fixed_params"]["model"] == "nb"
