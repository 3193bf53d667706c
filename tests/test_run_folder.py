"""The run folder is safe: whole files only, no secrets, and a clear way out when damaged.

* A real ``%%text2ml`` run (LLM from the scripted server, the key in the environment) in
  a separate process is killed with SIGKILL mid-search, like a kernel restart: every file
  left is whole, nothing holds the key, and ``%text2ml resume`` in a fresh shell continues
  the study.
* A finished run's folder, copied and damaged one way at a time (truncated or corrupted
  JSON, a missing file, a broken journal, a run that stopped before its search): resume,
  show and export name the damage and the way out, without a traceback; a journal cut
  mid-line with a stale lock is repaired and resumed.
* The writers: atomic (no half file, no temporary file left), no password of a storage
  URL written, the LLM cache ignoring what it cannot read.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import nbformat
import pandas as pd
import pytest
from _llm_server import ScriptedLLMServer
from _shells import usage_error
from test_llm_end_to_end import SECRET, assert_no_secret, script_realistic

import text2ml_jupyter
from text2ml_jupyter._runfolder import (
    RunFolder,
    plain_mode,
    public_storage,
    write_atomic,
)
from text2ml_jupyter.errors import Text2MLError
from text2ml_jupyter.providers.cache import ResponseCache

TASK = "Predict whether a passenger survived."
WAY_OUT = "How to fix: Start a new run (a %%text2ml cell, or text2ml_jupyter.run()), or delete"


# ---------------------------------------------------------------------------- helpers
def _journal_ops(path: Path) -> list[dict[str, Any]]:
    """The journal's complete lines, parsed (an unfinished last line is left out)."""
    return [json.loads(line) for line in path.read_bytes().split(b"\n")[:-1]]


def _finished_trials(run_dir: Path) -> int:
    """Trials told complete or pruned in any journal under ``run_dir`` (op 6: state set)."""
    count = 0
    for journal in run_dir.glob("*/study.journal"):
        try:
            ops = _journal_ops(journal)
        except ValueError:  # being appended to right now: read it again later
            continue
        count += sum(op.get("op_code") == 6 and op.get("state") in (1, 2) for op in ops)
    return count


def _children(pid: int) -> list[int]:
    """The direct children of ``pid`` (its worker processes)."""
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            out += [int(p) for p in (task / "children").read_text().split()]
        except OSError:
            pass
    return out


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def _every_json_parses(folder: Path) -> int:
    """Every *.json under ``folder`` parses; returns how many were checked."""
    files = list(folder.rglob("*.json"))
    for path in files:
        json.loads(path.read_text(encoding="utf-8"))
    return len(files)


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


@pytest.fixture
def shell_in(make_shell):
    """``shell_in(run_dir)``: a fresh shell, as after a kernel restart, with the extension
    loaded and runs in ``run_dir``; cleared afterwards."""

    def new(run_dir: Path) -> Any:
        shell = make_shell()
        assert shell.run_cell("%load_ext text2ml_jupyter").success
        assert shell.run_cell(f"%config Text2ML.run_dir = {str(run_dir)!r}").success
        assert shell.run_cell("%config Text2ML.n_workers = 2").success
        return shell

    return new


# ---------------------------------------------------------------------------- killed run
CHILD = textwrap.dedent("""
    import sys
    import pandas as pd
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    run_dir, base_url, csv = sys.argv[1:4]
    config = Config()
    config.HistoryManager.enabled = False
    shell = InteractiveShell.instance(config=config)
    shell.user_ns["titanic"] = pd.read_csv(csv)
    for line in ("%load_ext text2ml_jupyter", f"%config Text2ML.run_dir = {run_dir!r}",
                 f"%config Text2ML.base_url = {base_url!r}", "%config Text2ML.n_workers = 2",
                 "%config Text2ML.model = 'gpt-4o-mini'", "%config Text2ML.timeout = 10.0"):
        assert shell.run_cell(line).success, line
    shell.run_cell("%%text2ml --budget 90 --provider openai --data titanic --candidates 3\\n"
                   "Predict whether a passenger survived. Optimize F1.", cell_id="anchor-k")
""")


@pytest.fixture(scope="module")
def killed(tmp_path_factory: pytest.TempPathFactory, titanic_csv: Path) -> Any:
    """A %%text2ml run with the LLM in a separate process, SIGKILLed once the study has
    four finished trials (a kernel restart mid-search)."""
    home = tmp_path_factory.mktemp("killed")
    run_dir = home / "runs"
    server = ScriptedLLMServer().start()
    script_realistic(server)
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    env.update(OPENAI_API_KEY=SECRET, IPYTHONDIR=str(home / ".ipython"))
    (home / "child.py").write_text(CHILD, encoding="utf-8")
    log = open(home / "child.log", "wb")  # noqa: SIM115 - closed below
    child = subprocess.Popen([sys.executable, str(home / "child.py"), str(run_dir),
                              server.base_url, str(titanic_csv)], cwd=home, env=env,
                             stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 150
        while _finished_trials(run_dir) < 4:
            assert child.poll() is None, "the run ended before it could be killed"
            assert time.monotonic() < deadline, "no trials within 150 s"
            time.sleep(0.1)
        workers = _children(child.pid)
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        # The workers notice the closed socket and exit on their own.
        deadline = time.monotonic() + 20
        while any(_alive(p) for p in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        orphans = [p for p in workers if _alive(p)]
        for pid in orphans:
            os.kill(pid, signal.SIGKILL)
    finally:
        if child.poll() is None:
            os.kill(child.pid, signal.SIGKILL)
            child.wait()
        log.close()
        server.stop()
    (folder,) = [p.parent for p in run_dir.glob("*/spec.json")]
    yield SimpleNamespace(home=home, run_dir=run_dir, folder=folder, workers=workers,
                          orphans=orphans, log=(home / "child.log").read_text(errors="replace"),
                          finished=_finished_trials(run_dir),
                          # killed while appending to the journal (it happens: fsync is slow)
                          lock_left=os.path.lexists(folder / "study.journal.lock"))


@pytest.mark.slow
def test_a_killed_run_leaves_only_whole_files(killed: Any) -> None:
    folder = killed.folder
    assert killed.workers and killed.orphans == []  # no worker outlived the run
    assert not (folder / "result.json").exists()  # killed before the end
    assert {"spec.json", "candidates.json", "run.json", "notebook.json",
            "study.journal"} <= {p.name for p in folder.iterdir()}
    assert _every_json_parses(killed.run_dir) >= 5  # the run folder and the LLM cache
    assert json.loads((folder / "notebook.json").read_text())["anchor"] == "anchor-k"
    for entry in json.loads((folder / "candidates.json").read_text()):
        assert (folder / "candidates" / f"{entry['slot']}.{entry['name']}.py").is_file()
    assert any(e["origin"] == "openai" for e in json.loads(
        (folder / "candidates.json").read_text()))
    assert len(_journal_ops(folder / "study.journal")) > 20
    RunFolder(folder, folder.name).load_saved()  # and it reads back as a whole


@pytest.mark.slow
def test_a_killed_run_and_the_llm_cache_hold_no_key(killed: Any) -> None:
    cache = killed.run_dir / "llm-cache"
    assert len(list(cache.glob("*.json"))) >= 5
    # Every file: run folder, leftovers of the kill (data copy, worker logs), cache.
    assert assert_no_secret(folders=[killed.run_dir], texts=[killed.log]) >= 20


@pytest.mark.slow
def test_resume_after_a_restart_continues_the_killed_run(
        killed: Any, shell_in: Any, titanic_df: pd.DataFrame,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from optuna.trial import TrialState

    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    shell = shell_in(killed.run_dir)
    shell.user_ns["titanic"] = titanic_df
    codes: list[str] = []
    monkeypatch.setattr(shell, "set_next_input", lambda text, replace=False: codes.append(text))
    resumed = shell.run_cell("%text2ml resume --budget 10")
    assert resumed.success, resumed.error_in_exec
    result = resumed.result
    assert result.run_id == killed.folder.name and Path(result.run_dir) == killed.folder
    states = [t.state for t in result.study.trials]
    assert TrialState.RUNNING not in states
    done = sum(s in (TrialState.COMPLETE, TrialState.PRUNED) for s in states)
    assert done > killed.finished, (states, result.notes)
    assert killed.lock_left == any("Removed the lock file" in n for n in result.notes)
    # Bound unless it holds LLM-written code (then the inserted cells build it).
    assert shell.user_ns.get("pipeline") is result.pipeline
    pipeline = result.load_pipeline()
    assert len(pipeline.predict(titanic_df.drop(columns=["survived"]).head(5))) == 5
    assert len(codes) == 1 and "titanic" in codes[0]  # the cells, for the notebook
    saved = json.loads((killed.folder / "result.json").read_text())
    assert saved["n_trials"] == result.n_trials and saved["data_name"] == "titanic"
    _every_json_parses(killed.run_dir)
    assert_no_secret(folders=[killed.run_dir])


# ---------------------------------------------------------------------------- damaged
@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A small finished offline run (10 s), its folder to copy and damage."""
    home = tmp_path_factory.mktemp("finished")
    data = pd.read_csv(Path(__file__).resolve().parent.parent / "notebooks" / "data"
                       / "titanic.csv")
    result = text2ml_jupyter.run(TASK, data, time_budget=10, run_dir=home / "runs",
                                 n_workers=2, data_name="titanic")
    return SimpleNamespace(result=result, folder=Path(result.run_dir), data=data)


def _copy(finished: Any, tmp_path: Path, *, notebook: bool = False, name: str = "") -> Path:
    """A copy of the finished run folder (by default under the same name, the study's)."""
    folder = tmp_path / "runs" / (name or finished.folder.name)
    shutil.copytree(finished.folder, folder)
    if notebook:
        (folder / "notebook.json").write_text(json.dumps(
            {"anchor": "a", "data_name": "titanic", "data_path": None}))
    return folder


def _cut(path: Path, keep: float = 0.5) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


def _bad_line(journal: Path) -> None:
    lines = journal.read_bytes().split(b"\n")
    lines[3] = b'{"op_code": 5, "worker_id": "x", "trial_id'  # a line cut short, inside
    journal.write_bytes(b"\n".join(lines))


def _append(path: Path, text: str) -> None:
    with path.open("a", encoding="utf-8") as handle:
        handle.write(text)


def _first_model(folder: Path) -> Path:
    return sorted((folder / "candidates").glob("model.*.py"))[0]


def _only(*names: str):
    def damage(folder: Path) -> None:
        for path in folder.iterdir():
            if path.name not in names:
                shutil.rmtree(path) if path.is_dir() else path.unlink()
    return damage


# (how the folder is damaged, the first line of the error, with {f} for the folder)
DAMAGE = {
    "spec truncated": (lambda f: _cut(f / "spec.json"),
                       "The run folder {f!r} is damaged: spec.json is not valid JSON ("),
    "spec a list": (lambda f: (f / "spec.json").write_text("[]"),
                    "The run folder {f!r} is damaged: spec.json does not describe a task "
                    "(a JSON list, not an object)."),
    "spec without target": (
        lambda f: (f / "spec.json").write_text(json.dumps(
            {k: v for k, v in json.loads((f / "spec.json").read_text()).items()
             if k != "target"})),
        "The run folder {f!r} is damaged: spec.json does not describe a task "
        "(TaskSpec.__init__() missing 1 required positional argument: 'target')."),
    "spec unknown metric": (
        lambda f: (f / "spec.json").write_text(json.dumps(
            {**json.loads((f / "spec.json").read_text()), "metric": "vibes"})),
        "The run folder {f!r} is damaged: spec.json does not describe a task "
        "(Unknown metric 'vibes')."),
    "candidates truncated": (lambda f: _cut(f / "candidates.json"),
                             "The run folder {f!r} is damaged: candidates.json is not valid "
                             "JSON ("),
    "candidates missing": (lambda f: (f / "candidates.json").unlink(),
                           "The run folder {f!r} is damaged: candidates.json is missing."),
    "candidate source missing": (lambda f: _first_model(f).unlink(),
                                 "The run folder {f!r} is damaged: candidates/model."),
    "candidate source cut": (lambda f: _cut(_first_model(f), 0.3),
                             "The run folder {f!r} is damaged: candidates/model."),
    "result truncated": (lambda f: _cut(f / "result.json"),
                         "The run folder {f!r} is damaged: result.json is not valid JSON ("),
    "run info corrupted": (lambda f: (f / "run.json").write_bytes(b"\x00\xff garbage"),
                           "The run folder {f!r} is damaged: run.json cannot be read ("),
    "notebook corrupted": (lambda f: (f / "notebook.json").write_text('{"anchor": '),
                           "The run folder {f!r} is damaged: notebook.json is not valid "
                           "JSON ("),
    "journal line broken": (lambda f: _bad_line(f / "study.journal"),
                            "The run folder {f!r} is damaged: study.journal is unreadable "
                            "at line 4 of "),
    "journal nonsense op": (
        lambda f: _append(f / "study.journal", '{"op_code": 4}\n'),
        "The run folder {f!r} is damaged: study.journal cannot be replayed ("),
    "journal missing": (lambda f: (f / "study.journal").unlink(),
                        "The run folder {f!r} is damaged: study.journal is missing."),
    "journal empty": (lambda f: (f / "study.journal").write_bytes(b""),
                      "The run folder {f!r} is damaged: study.journal holds no study named "),
    "stopped while reading the task": (
        _only("notebook.json", "scratch"),
        "The run in {f!r} stopped before its search started (spec.json is missing: it "
        "stopped while reading the task), so there is nothing to resume."),
    "stopped while testing candidates": (
        _only("notebook.json", "spec.json", "candidates"),
        "The run in {f!r} stopped before its search started (candidates.json is missing: "
        "it stopped while writing and testing the candidates), so there is nothing to "
        "resume."),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", list(DAMAGE))
def test_resume_names_the_damage_and_the_way_out(finished: Any, tmp_path: Path,
                                                 case: str) -> None:
    damage, expected = DAMAGE[case]
    folder = _copy(finished, tmp_path, notebook=True)
    damage(folder)
    before = _files(folder)
    for _ in range(2):  # the same answer again: nothing was changed by the first try
        with pytest.raises(Text2MLError) as caught:
            text2ml_jupyter.resume(folder, finished.data, time_budget=5, n_workers=1)
        message = str(caught.value)
        assert message.splitlines()[0].startswith(expected.format(f=str(folder))), message
        assert message.splitlines()[1] == f"{WAY_OUT} {str(folder)!r} if you no longer need it."
        assert _files(folder) == before


@pytest.mark.slow
@pytest.mark.parametrize("previous, expected", [
    ("missing", "No run folder at "),
    ("empty", " is not a text2ml run folder (it has no spec.json, candidates.json or "
              "study.journal)."),
])
def test_resume_from_something_that_is_no_run_folder(finished: Any, tmp_path: Path,
                                                     previous: str, expected: str) -> None:
    path = tmp_path / previous
    if previous == "empty":
        path.mkdir()
    with pytest.raises(Text2MLError, match="Pass the folder of") as caught:
        text2ml_jupyter.resume(path, finished.data, time_budget=5)
    assert expected in str(caught.value).splitlines()[0]


@pytest.mark.slow
@pytest.mark.parametrize("command", ["resume --budget 5", "show", "export out/x.py"])
@pytest.mark.parametrize("case", ["notebook corrupted", "result truncated",
                                  "journal line broken"])
def test_magic_commands_after_a_restart_name_the_damage(
        finished: Any, tmp_path: Path, shell_in: Any, command: str, case: str) -> None:
    damage, expected = DAMAGE[case]
    folder = _copy(finished, tmp_path, notebook=True)
    damage(folder)
    shell = shell_in(folder.parent)
    shell.user_ns["titanic"] = finished.data
    message = usage_error(shell, f"%text2ml {command}")
    assert message.splitlines()[0].startswith(expected.format(f=str(folder))), message
    assert message.splitlines()[1].startswith(WAY_OUT)
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_magic_after_a_restart_passes_over_runs_that_never_searched(
        finished: Any, tmp_path: Path, shell_in: Any) -> None:
    """A newer run killed while reading the task has nothing to resume: show/export point
    at the older, whole run (on disk only), and an intact run is not reported damaged."""
    folder = _copy(finished, tmp_path, notebook=True)
    newer = folder.parent / "99991231-000000-dead"
    newer.mkdir()
    (newer / "notebook.json").write_text(json.dumps(
        {"anchor": "b", "data_name": "other", "data_path": None}))
    shell = shell_in(folder.parent)
    for command in ("show", "export out/x.py"):
        message = usage_error(shell, f"%text2ml {command}")
        assert message.startswith("The last run is on disk only (the kernel restarted).")
    magics = shell.magics_manager.registry["Text2ML"]
    assert magics.last.found.run_folder == str(folder) and magics.last.found.name == "titanic"


@pytest.mark.slow
def test_resume_repairs_a_journal_cut_mid_write(finished: Any, tmp_path: Path) -> None:
    """Killed in the middle of a journal write: the last line is cut short and the lock
    is left behind; run.json and result.json were never written. Resume drops the
    unfinished line, removes the stale lock, finds the protocol in the study and goes on
    (in a folder renamed since: the journal's only study is the run's)."""
    folder = _copy(finished, tmp_path, name="renamed-run")
    journal = folder / "study.journal"
    before = _journal_ops(journal)
    with journal.open("ab") as handle:
        handle.write(b'{"op_code": 6, "worker_id": "dead", "trial_id": 3, "sta')
    lock = journal.with_name("study.journal.lock")
    lock.symlink_to(journal)  # just now, as when the kernel restarted a second ago
    (folder / "run.json").unlink()
    (folder / "result.json").unlink()
    started = time.monotonic()
    result = text2ml_jupyter.resume(folder, finished.data, time_budget=8, n_workers=2)
    # Optuna itself would wait 30 s for the stale lock before breaking it.
    assert time.monotonic() - started < 30
    assert not os.path.lexists(lock)
    assert any(n.startswith("Dropped the unfinished last write of study.journal") for n in
               result.notes)
    assert any(n.startswith("Removed the lock file study.journal.lock") for n in result.notes)
    after = _journal_ops(journal)  # every line whole again
    assert journal.read_bytes().endswith(b"\n") and after[:len(before)] == before
    assert result.n_trials > finished.result.n_trials, result.notes
    assert result.evaluation == finished.result.evaluation
    assert result.study.study_name == finished.result.run_id
    assert len(result.pipeline.predict(finished.data.head(3))) == 3
    _every_json_parses(folder)


# ---------------------------------------------------------------------------- notebook
@pytest.mark.slow
def test_no_insert_leaves_no_cells_for_headless_runners(
        finished: Any, tmp_path: Path, shell_in: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """--no-insert: no cell through set_next_input, and the saved output carries no cells
    (a headless runner would insert them otherwise)."""
    import dataclasses

    from text2ml_jupyter import engine
    from text2ml_jupyter.notebook.display import RunView

    folder = _copy(finished, tmp_path)
    monkeypatch.setattr(engine, "run", lambda *a, **k: dataclasses.replace(
        finished.result, run_dir=folder))
    finishes: list[Any] = []
    monkeypatch.setattr(RunView, "finish", lambda self, result, cells, **k: finishes.append(
        cells))
    shell = shell_in(folder.parent)
    shell.user_ns["titanic"] = finished.data
    codes: list[str] = []
    monkeypatch.setattr(shell, "set_next_input", lambda text, replace=False: codes.append(text))
    assert shell.run_cell("%%text2ml --no-insert --data titanic\nPredict survived.").success
    assert shell.run_cell("%%text2ml --data titanic\nPredict survived.").success
    assert finishes[0] is None and finishes[1] and len(codes) == 1
    assert json.loads((folder / "notebook.json").read_text())["data_name"] == "titanic"


@pytest.mark.slow
def test_export_writes_whole_files(finished: Any, tmp_path: Path, shell_in: Any) -> None:
    from text2ml_jupyter.notebook._data_lookup import FoundData
    from text2ml_jupyter.notebook._last_run import LastRun

    shell = shell_in(tmp_path / "runs")
    magics = shell.magics_manager.registry["Text2ML"]
    magics.last = LastRun(finished.result, FoundData(finished.data, "titanic",
                                                      "variable titanic"), "a")
    assert shell.run_cell("%text2ml export out/model.py").success
    assert shell.run_cell("%text2ml export out/model.ipynb").success
    program = tmp_path / "out" / "model.py"
    assert program.stat().st_mode & 0o777 == plain_mode(tmp_path / "nothing-here")
    compile(program.read_text(), "model.py", "exec")
    nbformat.validate(nbformat.read(tmp_path / "out" / "model.ipynb", as_version=4))
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["model.ipynb", "model.py"]
    (tmp_path / "blocked").write_text("a file, not a folder")
    message = usage_error(shell, "%text2ml export blocked/model.py")
    assert message.startswith("Cannot write 'blocked/model.py'")


# ---------------------------------------------------------------------------- writers
def test_write_atomic_leaves_the_old_file_or_the_new_one(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "spec.json"
    write_atomic(path, '{"old": 1}')
    assert path.stat().st_mode & 0o777 == 0o600  # run folder files stay private

    def crash(*args: Any) -> None:
        raise KeyboardInterrupt  # interrupted right before the rename

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        write_atomic(path, '{"new": 2}')
    monkeypatch.undo()
    assert json.loads(path.read_text()) == {"old": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["spec.json"]  # no temporary file
    write_atomic(path, '{"new": 2}', mode=0o640)
    assert json.loads(path.read_text()) == {"new": 2} and path.stat().st_mode & 0o777 == 0o640
    assert plain_mode(path) == 0o640  # an existing file keeps its mode


def test_every_write_in_the_package_is_atomic() -> None:
    """No plain writes: files go through write_atomic (RunFolder.write_*) or
    program.write_notebook. Allowed otherwise: the command line's own temporary file and
    rename, the data copy and sample for the workers (read only after they are written,
    rewritten by a resume), the workers' append-only logs (never read back) and the
    journal's appends (one write per line group; a cut last line is repaired)."""
    import re

    root = Path(text2ml_jupyter.__file__).parent
    pattern = re.compile(r"\.write_text\(|\.write_bytes\(|open\([^)]*['\"][wa]b?['\"]|"
                         r"\.to_pickle\(|json\.dump\(")
    allowed = {("_runfolder.py", 'os.fdopen(fd, "w"'), ("program.py", 'os.fdopen(fd, "w"'),
               ("_runfolder.py", '``open(path, "w")``'), ("engine.py", "folder.write_text("),
               ("cli.py", "tmp.write_text("), ("_shipping.py", "part.to_pickle(target)"),
               ("_shipping.py", 'open(npy, "wb")'), ("_shipping.py", 'open(target, "wb")'),
               ("sandbox.py", 'open(log_path, "ab")'),
               ("_journal.py", 'open(self._path, "ab")'), ("_journal.py", 'open(path, "ab")')}
    found = [(path.name, line.strip()) for path in root.rglob("*.py")
             for line in path.read_text(encoding="utf-8").splitlines()
             if pattern.search(line)]
    assert [f for f in found if not any(f[0] == a and a_text in f[1]
                                        for a, a_text in allowed)] == []


def test_the_resume_function_survives_importing_its_module(tmp_path: Path) -> None:
    """``%text2ml resume`` imports the module behind ``resume`` first; the package's
    ``resume`` must still be the function afterwards (no module of the same name)."""
    import importlib

    importlib.import_module("text2ml_jupyter.resuming")
    data = pd.DataFrame({"a": [1, 2], "b": [3, 4]})
    for resume in (text2ml_jupyter.resume, importlib.import_module("text2ml_jupyter").resume):
        with pytest.raises(Text2MLError, match="^No run folder at"):
            resume(tmp_path / "nowhere", data, time_budget=5)


@pytest.mark.slow
def test_storage_passwords_are_never_written(finished: Any, tmp_path: Path) -> None:
    assert public_storage("postgresql://ml:s3cret-pass@db.example:5432/studies") == \
        "postgresql://ml:***@db.example:5432/studies"
    assert public_storage("sqlite:///runs/study.db") == "sqlite:///runs/study.db"
    assert public_storage(object()) is None and public_storage(None) is None
    folder = _copy(finished, tmp_path)
    info = json.loads((folder / "run.json").read_text())
    (folder / "run.json").write_text(json.dumps(
        {**info, "storage": public_storage("postgresql://ml:s3cret@db/studies")}))
    with pytest.raises(Text2MLError) as caught:
        text2ml_jupyter.resume(folder, finished.data, time_budget=5)
    assert str(caught.value).splitlines() == [
        "The run's study is in postgresql://ml:***@db/studies, and the run folder does not "
        "keep its password.",
        "How to fix: Pass the URL with its password: resume(..., storage=URL)."]


def test_the_llm_cache_ignores_what_it_cannot_read(tmp_path: Path,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    cache = ResponseCache(tmp_path / "cache")
    requests = [{"model": "m", "messages": [{"role": "user", "content": str(i)}]}
                for i in range(6)]
    for request in requests:
        cache.put(request, {"content": "ok"})
    cache.path(requests[0]).write_bytes(b'{"format": 1, "response": {"content": "cut')
    cache.path(requests[1]).write_text(json.dumps({"format": 0, "response": {}}))
    cache.path(requests[2]).write_text(json.dumps({"format": 1, "response": "text"}))
    cache.path(requests[3]).unlink()
    cache.path(requests[3]).mkdir()  # not even a file
    cache.path(requests[4]).write_bytes(b"\xff\xfe")
    (tmp_path / "cache" / f".{cache.path(requests[5]).name}.abc.tmp").write_text("{half")
    assert [cache.get(r) for r in requests] == [None] * 5 + [{"content": "ok"}]
    assert sum("Ignoring" in r.getMessage() for r in caplog.records) == 5
    cache.put(requests[0], {"content": "fresh"})  # replaced by the next answer
    assert cache.get(requests[0]) == {"content": "fresh"}
    cache.put(requests[3], {"content": "x"})  # cannot replace a folder: logged, no raise
    assert "Could not write the LLM cache entry" in caplog.text
