"""Hostile candidates through real runs: a scripted LLM (real HTTP, the real ``openai``
client) delivers code that loops, sleeps, exits, crashes, eats memory, uses the network,
starts programs, signals the kernel, writes and deletes files, floods the output, mutates
its input, breaks its contract or is not deterministic.

Each must be marked failed with the right reason while the run completes with a valid
pipeline from the other candidates; the caller keeps running, the input DataFrame is
unchanged, and no file outside the run folder changed. docs/reliability.md lists the
cases and outcomes.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import signal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pandas as pd
import pytest
from _llm_server import ScriptedLLMServer

import text2ml_jupyter
from text2ml_jupyter._safe_pickle import GeneratedCode, load_fitted, loads_library_only
from text2ml_jupyter.candidates import FAILED
from text2ml_jupyter.providers import get_provider

TASK = "Predict whether a passenger survived. Optimize F1."
SPEC = ('{"target": "survived", "task_type": "binary", "metric": "f1", "pos_label": 1}')

# A model candidate: the imports, a class named Hostile (a LogisticRegression whose
# ``method`` does ``body``), and the builder.
_CLASS = '''```python
# name: {name}
import numpy as np
import pandas as pd
from pandas.io import clipboard, common
from sklearn.linear_model import LogisticRegression


class Hostile(LogisticRegression):
    def {method}(self, X, *args):
{body}
        return super().{method}(X, *args)


def build_model(trial):
    return Hostile(max_iter=200)
```'''


def _hostile(name: str, body: str, method: str = "fit") -> str:
    indented = "\n".join("        " + line for line in body.strip().splitlines())
    return _CLASS.format(name=name, method=method, body=indented)


def _builder(name: str, body: str) -> str:
    return (f"```python\n# name: {name}\nimport numpy as np\nimport pandas as pd\n"
            "from sklearn.dummy import DummyClassifier\n\n\ndef build_model(trial):\n"
            + "\n".join("    " + line for line in body.strip().splitlines()) + "\n```")


def hostile_models(paths: SimpleNamespace) -> dict[str, tuple[str, str]]:
    """name -> (answer block, expected start of the failure reason)."""
    return {
        "h_loop": (_hostile("h_loop", "while True:\n    pass"),
                   "exceeded the test time limit"),
        "h_sleep": (_hostile("h_sleep", "clipboard.time.sleep(600)"),
                    "exceeded the test time limit"),
        "h_sys_exit": (_hostile("h_sys_exit", "raise SystemExit(3)"), "called sys.exit(3)"),
        "h_os_exit": (_hostile("h_os_exit", "common.os._exit(7)"),
                      "ended the worker process (exit code 7)"),
        "h_segfault": (_hostile("h_segfault", "np.ctypeslib.ctypes.string_at(0)"),
                       "blocked: tried to call native code through ctypes"),
        "h_memory": (_hostile("h_memory",
                              "hoard = [np.ones(10**8) for _ in range(1000)]"),
                     "ran out of memory (the worker's memory limit)"),
        "h_socket": (_hostile("h_socket", f"pd.read_csv({paths.url!r})"),
                     "blocked: tried to use the network"),
        "h_import_subprocess": (_builder("h_import_subprocess",
                                         "import subprocess\nreturn DummyClassifier()"),
                                "imports 'subprocess'"),
        "h_subprocess": (_hostile("h_subprocess",
                                  f"clipboard.subprocess.run(['touch', {str(paths.made)!r}])"),
                         "blocked: tried to start a program (subprocess.Popen"),
        "h_system": (_hostile("h_system", f"common.os.system('touch {paths.made}')"),
                     "blocked: tried to start a program (os.system"),
        "h_kill_kernel": (_hostile("h_kill_kernel",
                                   f"common.os.kill(common.os.getppid(), {int(signal.SIGKILL)})"),
                          "blocked: tried to send a signal to another process"),
        "h_write_home": (_hostile("h_write_home", "pd.DataFrame({'a': [1]}).to_csv("
                                  "common.os.path.expanduser('~/pwned.csv'))"),
                         "blocked: tried to write"),
        "h_delete": (_hostile("h_delete", f"common.os.remove({str(paths.victim)!r})"),
                     "blocked: tried to delete"),
        "h_print": (_hostile("h_print", "print('x' * 100_000_000)"),
                    "blocked: printed more than 1 MB"),
        "h_raise_fit": (_hostile("h_raise_fit", "raise ValueError('no fit today')"),
                        "ValueError: no fit today (at candidate model.h_raise_fit"),
        "h_raise_predict": (_hostile("h_raise_predict", "raise RuntimeError('no predict')",
                                     method="predict"),
                            "RuntimeError: no predict"),
        "h_wrong_type": (_builder("h_wrong_type", "return 'a random forest, please'"),
                         "the model has no fit() method"),
        "h_wrong_shape": (_hostile("h_wrong_shape",
                                   "return np.zeros((len(X), 2), dtype=int)",
                                   method="predict"),
                          "predict returned shape"),
        "h_nan": (_hostile("h_nan", "return np.full((len(X), 2), np.nan)",
                           method="predict_proba"),
                  "predict_proba rows are not finite probabilities"),
        "h_random": (_builder("h_random", "return DummyClassifier(strategy='uniform')"),
                     "gave different results in two runs"),
        # passes its test on a sample of 280 rows, dies in trials on ~600
        "h_trial_crash": (_hostile("h_trial_crash",
                                   "if len(X) > 400:\n    common.os._exit(9)"),
                          "failed in the search: it crashed or timed out in trials"),
    }


MUTATING_PREPROCESS = '''```python
# name: h_mutate
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer


class Mutating(ColumnTransformer):
    def fit_transform(self, X, y=None):
        X.iloc[:, 0] = 0
        return super().fit_transform(X, y)


def build_preprocess(trial, columns):
    return Mutating([("numbers", SimpleImputer(), columns["numeric"])])
```'''


class OneFromCatalog:
    """The offline catalog's first candidate per slot: with every hostile model in one
    answer the run asks for many candidates, but the catalog need not test as many."""

    def __init__(self, catalog: Any) -> None:
        self.catalog = catalog
        self.name = catalog.name

    def generate(self, slot: Any, context: Any) -> list[Any]:
        return self.catalog.generate(slot, dataclasses.replace(context, k=1))


def frame_digest(frame: pd.DataFrame) -> str:
    return hashlib.sha256(pd.util.hash_pandas_object(frame, index=True).values.tobytes()
                          ).hexdigest()


def tree_state(folder: Path, skip: Path) -> dict[str, tuple[int, int]]:
    """(size, mtime) of every file under ``folder`` except under ``skip``."""
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*")
            if p.is_file() and skip not in p.parents}


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory, titanic_csv: Path) -> Any:
    root = tmp_path_factory.mktemp("hostile")
    home = root / "home"
    home.mkdir()
    victim = root / "victim.txt"
    victim.write_text("the user's file")
    server = ScriptedLLMServer().start()
    paths = SimpleNamespace(home=home, victim=victim, made=root / "made-by-a-program",
                            url=server.base_url + "/stolen.csv")
    cases = hostile_models(paths)
    server.script(SPEC, system="decide what to predict")
    server.script("Sorry, I cannot fix that module.", match="## The failing module:")
    server.script(MUTATING_PREPROCESS, match="## Your slot: preprocess")
    server.script("Here are the models:\n\n" + "\n\n".join(b for b, _ in cases.values()),
                  match="## Your slot: model")
    server.script("No module for this slot.")
    data = pd.read_csv(titanic_csv)
    runs = root / "runs"
    before, digest = tree_state(root, runs), frame_digest(data)
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("HOME", str(home))
            provider = get_provider("openai", base_url=server.base_url, model="gpt-4o-mini",
                                    max_retries=0, cache_dir=None)
            provider.catalog = OneFromCatalog(provider.catalog)
            result = text2ml_jupyter.run(
                TASK, data, time_budget=75, candidates=len(cases), provider=provider,
                n_workers=2, memory_limit_mb=1500, run_dir=runs)
        yield SimpleNamespace(result=result, cases=cases, data=data, digest=digest,
                              before=before, after=tree_state(root, runs), root=root,
                              paths=paths, server=server)
    finally:
        server.stop()


@pytest.mark.slow
@pytest.mark.parametrize("name", list(hostile_models(SimpleNamespace(
    url="u", made=Path("m"), victim=Path("v"), home=Path("h")))))
def test_each_hostile_model_fails_with_its_reason(hostile, name) -> None:
    candidate = {c.key: c for c in hostile.result.candidates}[f"model.{name}"]
    expected = hostile.cases[name][1]
    if name == "h_trial_crash":  # excluded only once two of its trials crashed
        trials = [t for t in hostile.result.study.trials if t.params.get("model") == name]
        assert trials and all(t.state.name == "FAIL" for t in trials), trials
        assert any("exit code 9" in t.user_attrs.get("error", "") for t in trials)
        if sum("exit code 9" in t.user_attrs.get("error", "") for t in trials) < 2:
            return
    assert candidate.status == FAILED and candidate.reason.startswith(expected), \
        candidate.reason


@pytest.mark.slow
def test_a_mutating_preprocess_fails(hostile) -> None:
    candidate = {c.key: c for c in hostile.result.candidates}["preprocess.h_mutate"]
    assert candidate.status == FAILED
    assert candidate.reason == "mutated its input DataFrame (it must work on a copy)"


@pytest.mark.slow
def test_the_run_completes_with_a_valid_pipeline(hostile) -> None:
    result = hostile.result
    assert result.n_trials > 0 and 0.5 < result.best_score <= 1
    new_rows = hostile.data.drop(columns=["survived"]).head(10)
    assert result.pipeline.predict(new_rows).shape == (10,)
    assert all(not name.startswith("h_") for name in result.chosen.values())


@pytest.mark.slow
def test_nothing_outside_the_run_folder_changed(hostile) -> None:
    assert frame_digest(hostile.data) == hostile.digest
    assert hostile.after == hostile.before
    assert hostile.paths.victim.read_text() == "the user's file"
    assert not hostile.paths.made.exists()
    assert not list(hostile.paths.home.iterdir())
    assert not [r for r in hostile.server.requests if "stolen" in r.path]


@pytest.mark.slow
def test_the_run_folder_has_the_outcomes(hostile) -> None:
    import json

    saved = json.loads((hostile.result.run_dir / "candidates.json").read_text())
    reasons = {c["name"]: c.get("reason") or "" for c in saved if c["slot"] == "model"}
    assert reasons["h_kill_kernel"].startswith("blocked: tried to send a signal")
    logs = list((hostile.result.run_dir / "scratch").glob("worker-*.log*"))
    assert logs and sum(p.stat().st_size for p in logs) < 20_000_000  # printing was cut


# ------------------------------------------------------------------ loading the result

def test_generated_code_is_not_unpickled_into_the_caller(tmp_path) -> None:
    """A pickle naming anything but library classes (a function of the LLM's, or a
    callable such as os.system) is refused before anything is called."""
    import pickle

    import cloudpickle
    from sklearn.linear_model import LogisticRegression

    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    with pytest.raises(GeneratedCode, match="posix.system|os.system"):
        loads_library_only(pickle.dumps(Payload()))
    namespace: dict[str, Any] = {}
    exec("def same(x):\n    return x\n", namespace)  # noqa: S102 - a by-value function
    with pytest.raises(GeneratedCode, match="cloudpickle"):
        loads_library_only(cloudpickle.dumps(namespace["same"]))
    assert not marker.exists()
    model = LogisticRegression().fit([[0.0], [1.0]], [0, 1])
    assert loads_library_only(pickle.dumps(model)).predict([[1.0]]).tolist() == [1]
    blob = cloudpickle.dumps(namespace["same"])
    pipeline, note = load_fitted(blob, ["offline", "openai"], "pipeline")
    assert pipeline is None and "run the inserted cells" in note
    assert load_fitted(blob, ["offline"], "pipeline")[0](3) == 3  # the catalog is ours


# ------------------------------------------------------------------ in the kernel

@pytest.mark.slow
def test_the_kernel_survives_hostile_candidates(make_shell, titanic_df, tmp_path,
                                                capfd) -> None:
    """Through ``%%text2ml``: candidates that kill the kernel's process, end their own,
    hoard memory and write an LLM function into the pipeline. The cell completes, the
    kernel answers, the user's DataFrame and variables are untouched, and the pipeline
    with LLM code is not loaded into the kernel."""
    paths = SimpleNamespace(url="", made=tmp_path / "made", victim=tmp_path / "v",
                            home=tmp_path)
    cases = hostile_models(paths)
    answer = "\n\n".join(cases[name][0] for name in ("h_kill_kernel", "h_os_exit",
                                                     "h_memory"))
    server = ScriptedLLMServer().start()
    server.script(SPEC, system="decide what to predict")
    server.script("I cannot fix it.", match="## The failing module:")
    server.script(answer + "\n\n" + OWN_FUNCTION_MODEL, match="## Your slot: model")
    server.script("No module for this slot.")
    shell = make_shell()
    try:
        digest = frame_digest(titanic_df)
        for line in ("%load_ext text2ml_jupyter",
                     f"%config Text2ML.base_url = {server.base_url!r}",
                     "%config Text2ML.memory_limit_mb = 1500", "mine = 41"):
            assert shell.run_cell(line).success, line
        shell.user_ns["titanic"] = titanic_df
        outcome = shell.run_cell("%%text2ml --provider openai --budget 30 --candidates 4 "
                                 "--no-insert\n" + TASK)
        out = capfd.readouterr().out
        assert outcome.success, outcome.error_in_exec
        result = outcome.result
        reasons = {c.name: c.reason or "" for c in result.candidates if c.slot == "model"}
        assert reasons["h_kill_kernel"].startswith("blocked: tried to send a signal")
        assert reasons["h_os_exit"].startswith("ended the worker process")
        assert reasons["h_memory"].startswith("ran out of memory")
        assert shell.run_cell("mine + 1").result == 42  # the kernel answers
        assert frame_digest(shell.user_ns["titanic"]) == digest
        # the final pipeline's models: the best trial's, and an ensemble's members'
        models = {result.chosen["model"]} | {m["params"]["model"] for m in result.members}
        if "own_function" in models:  # LLM code: left out of the kernel
            assert result.pipeline is None and "pipeline" not in shell.user_ns
            assert "run the inserted cells" in out
        else:
            assert shell.user_ns["pipeline"] is result.pipeline
    finally:
        server.stop()


OWN_FUNCTION_MODEL = '''```python
# name: own_function
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer


def squash(X):
    return np.tanh(X)


def build_model(trial):
    return make_pipeline(FunctionTransformer(squash),
                         LogisticRegression(C=trial.suggest_float("C", 0.1, 10, log=True)))
```'''
