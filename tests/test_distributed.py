"""Past one machine: a run's study shared with ``text2ml worker`` processes.

The cheap tests use Optuna's SQLite storage (a URL other processes on this machine can
reach): clear errors for a bad storage or a taken study name before anything starts,
password masking, the study attributes a run publishes, and a worker that waits in vain,
finds the run already over, or is given other data. The end-to-end test starts a real
PostgreSQL server (Debian's package; scripts/_postgres.sh installs it), two workers, and a
notebook run headless (``text2ml execute``) whose ``%%text2ml --storage $url`` cell shares
its study with them.
"""

from __future__ import annotations

import glob
import io
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import optuna
import pandas as pd
import pytest
from _shells import usage_error

from text2ml_jupyter import distributed, engine
from text2ml_jupyter._ast_rewrite import literal
from text2ml_jupyter._runfolder import public_storage
from text2ml_jupyter.cli import RunOptions, WorkerOptions, parse_args, run_command
from text2ml_jupyter.errors import Text2MLError
from text2ml_jupyter.evaluation import choose_evaluation
from text2ml_jupyter.search import Budget, create_study
from text2ml_jupyter.spec import infer_spec, training_data

REPO_ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "Pw-9xQ7-s3cret"  # must never show up in any output or file
TASK = "Predict whether a passenger survived."


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    return {**env, **extra}


def _text2ml(*args: str, cwd: Path, timeout: float = 120,
             **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "text2ml_jupyter", *args], cwd=cwd,
                          env=_env(**env), capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def _no_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    """A run that gets as far as starting its workers fails the test."""
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a worker pool was started")

    monkeypatch.setattr(engine, "WorkerPool", refuse)


def _published(url: str, name: str, frame: pd.DataFrame, folder: Path, *,
               state: str = distributed.SEARCHING, ends_in: float = 120.0) -> Any:
    """A study as a run publishes it (spec, protocol, candidates, data, job, search end,
    state), without running one."""
    spec = infer_spec(TASK, frame)
    _, y = training_data(spec, frame)
    evaluation = choose_evaluation(y, classification=spec.is_classification)
    study = create_study(direction=spec.direction, seed=0, storage=url, study_name=name)
    study.set_user_attr("spec", spec.to_dict())
    study.set_user_attr("evaluation", evaluation.to_dict())
    study.set_user_attr("candidates", [{"slot": slot, "name": "a", "source": ""} for slot in
                                       ("preprocess", "features", "model", "postprocess")])
    folder.mkdir(parents=True, exist_ok=True)
    distributed.publish_data(study, url, frame, folder)
    study.set_user_attr("job", {"spec": spec.to_dict(), "evaluation": evaluation.to_dict()})
    study.set_user_attr("search_end", time.time() + ends_in)
    study.set_user_attr("state", state)
    return study


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'studies.db'}"


# ----------------------------------------------------------------- options and errors

@pytest.mark.parametrize("storage, needle", [
    ("nosuchdb://x/y", "NoSuchModuleError"),
    ("not a url", "ArgumentError"),
    (f"postgresql://ml:{PASSWORD}@127.0.0.1:1/studies", "Connection refused"),
    ("sqlite:////no/such/folder/studies.db", "unable to open database file"),
])
def test_a_storage_that_cannot_be_used_is_a_clear_error_before_anything_starts(
        storage: str, needle: str, tmp_path: Path, titanic_df: pd.DataFrame,
        monkeypatch: pytest.MonkeyPatch) -> None:
    _no_workers(monkeypatch)
    with pytest.raises(Text2MLError) as caught:
        engine.run(TASK, titanic_df, storage=storage, run_dir=tmp_path / "runs",
                   time_budget=30)
    message = str(caught.value)
    assert message.startswith("Cannot use the study storage ") and needle in message
    assert "\nHow to fix: Check the URL" in message and PASSWORD not in message
    assert not (tmp_path / "runs").exists()  # no run folder either


@pytest.mark.parametrize("storage, study_name, needle", [
    (42, None, "storage=42 is not an Optuna storage."),
    (None, "", "study_name='' is not a study name."),
    (None, "x" * 300, "is not a study name."),
])
def test_wrong_storage_and_study_options(storage: Any, study_name: Any, needle: str,
                                          tmp_path: Path, titanic_df: pd.DataFrame,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    _no_workers(monkeypatch)
    with pytest.raises(Text2MLError, match="How to fix") as caught:
        engine.run(TASK, titanic_df, storage=storage, study_name=study_name,
                   run_dir=tmp_path / "runs", time_budget=30)
    assert needle in str(caught.value)


def test_a_study_name_that_exists_is_refused_before_any_worker_starts(
        sqlite_url: str, tmp_path: Path, titanic_df: pd.DataFrame,
        monkeypatch: pytest.MonkeyPatch) -> None:
    optuna.create_study(storage=sqlite_url, study_name="titanic")
    _no_workers(monkeypatch)
    with pytest.raises(Text2MLError) as caught:
        engine.run(TASK, titanic_df, storage=sqlite_url, study_name="titanic",
                   run_dir=tmp_path / "runs", time_budget=30)
    assert str(caught.value).splitlines() == [
        f"A study named 'titanic' already exists in {sqlite_url}.",
        "How to fix: Give this run another name (--study NAME, or study_name=...), or leave "
        "it out to name the study after the run. To continue that study's run, resume it; "
        "to remove it: optuna delete-study --study-name 'titanic' --storage URL."]
    assert not (tmp_path / "runs").exists()
    # Taken between the check and the run's create_study: the same error, not Optuna's.
    with pytest.raises(Text2MLError, match="already exists"):
        with distributed.storage_errors(sqlite_url, "titanic"):
            create_study(direction="maximize", seed=0, storage=sqlite_url,
                         study_name="titanic")


def test_passwords_are_masked_everywhere_a_url_is_shown() -> None:
    url = f"postgresql://ml:{PASSWORD}@db.example:5432/studies"
    assert public_storage(url) == "postgresql://ml:***@db.example:5432/studies"
    assert public_storage(f"postgresql://db/s?user=ml&password={PASSWORD}") == \
        "postgresql://db/s?user=ml&password=***"
    assert public_storage("postgresql://ml:p%40ss@db/s") == "postgresql://ml:***@db/s"
    assert public_storage(f"postgresql://ml:{PASSWORD}@db:notaport/s") == \
        "postgresql://***@db:notaport/s"
    assert public_storage("sqlite:///runs/studies.db") == "sqlite:///runs/studies.db"
    message = f"could not connect to {url} as ml with {PASSWORD} (p@ss)"
    assert distributed.mask_secrets(message, url) == \
        "could not connect to postgresql://ml:***@db.example:5432/studies as ml with *** (p@ss)"
    assert distributed.mask_secrets("p@ss and p%40ss", "postgresql://ml:p%40ss@db/s") == \
        "*** and ***"
    assert distributed.shown_storage(optuna.storages.InMemoryStorage()) == "InMemoryStorage"


def test_the_magic_passes_storage_and_study_and_masks_the_password(
        make_shell: Any, tmp_path: Path, titanic_df: pd.DataFrame,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    calls: list[dict[str, Any]] = []

    def stub(task: str, data: Any, **options: Any) -> Any:
        calls.append(options)
        raise Text2MLError("stub engine: stopped here.", "Nothing to fix.")

    monkeypatch.setattr("text2ml_jupyter.engine.run", stub)
    shell = make_shell()
    assert shell.run_cell("%load_ext text2ml_jupyter").success
    shell.user_ns["titanic"] = titanic_df
    url = f"postgresql://ml:{PASSWORD}@db/studies"
    shell.user_ns["url"] = url
    usage_error(shell, f"%%text2ml --storage $url --study s1\n{TASK}", capsys)
    assert (calls[-1]["storage"], calls[-1]["study_name"]) == (url, "s1")
    usage_error(shell, f"%%text2ml\n{TASK}", capsys)
    assert (calls[-1]["storage"], calls[-1]["study_name"]) == (None, None)
    assert shell.run_cell("%config Text2ML.storage = url").success
    usage_error(shell, f"%%text2ml --study s2\n{TASK}", capsys)
    assert (calls[-1]["storage"], calls[-1]["study_name"]) == (url, "s2")
    shell.run_cell("%text2ml help")
    shell.run_cell("%config Text2ML")
    out = capsys.readouterr().out
    assert "Text2ML.storage = 'postgresql://ml:***@db/studies'" in out
    assert "Current: 'postgresql://ml:***@db/studies'" in out and PASSWORD not in out


def test_the_command_line_options(titanic_csv: Path,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"postgresql://ml:{PASSWORD}@db/studies"
    options = parse_args(["run", TASK, "--data", str(titanic_csv), "--storage", url,
                          "--study", "s1"])
    assert isinstance(options, RunOptions) and (options.storage, options.study) == (url, "s1")
    calls: list[dict[str, Any]] = []

    def stub(task: str, data: Any, **kwargs: Any) -> Any:
        calls.append(kwargs)
        raise Text2MLError("stub engine: stopped here.")

    monkeypatch.setattr("text2ml_jupyter.engine.run", stub)
    out = io.StringIO()
    with pytest.raises(Text2MLError, match="stub engine"):
        run_command(options, stdout=out)
    assert (calls[-1]["storage"], calls[-1]["study_name"]) == (url, "s1")
    assert "Study 's1' in postgresql://ml:***@db/studies: workers join with text2ml worker " \
        "--storage URL --study s1" in out.getvalue() and PASSWORD not in out.getvalue()
    assert parse_args(["worker", "--storage", "sqlite:///s.db", "--study", "s1"]) == \
        WorkerOptions("sqlite:///s.db", "s1")
    assert parse_args(["worker", "--storage", "u", "--study", "s", "--data", "d.csv",
                       "--workers", "2", "--memory-limit-mb", "2048", "--wait", "5",
                       "--run-dir", "w"]) == \
        WorkerOptions("u", "s", Path("d.csv"), 2, 2048, 5.0, Path("w"))


# ----------------------------------------------------------------- the run's side

def test_a_shared_search_publishes_the_contract_and_tags_its_trials(
        sqlite_url: str, tmp_path: Path, titanic_df: pd.DataFrame) -> None:
    study = _published(sqlite_url, "s1", titanic_df, tmp_path / "run", state="")
    data = study.user_attrs["data"]
    assert data["path"] == str((tmp_path / "run" / "data.pkl").resolve())
    assert data["rows"] == 891 and data["columns"] == [str(c) for c in titanic_df.columns]
    assert data["fingerprint"] == distributed.fingerprint(pd.read_pickle(data["path"]))
    assert oct(Path(data["path"]).stat().st_mode & 0o777) == "0o600"
    job = {"data_path": "/scratch/a.pkl", "refit_data_path": "/scratch/b.pkl",
           "spec": {"x": 1}, "evaluation": {"y": 2}, "later": [3]}
    budget = Budget(60.0)
    with distributed.shared_search(study, sqlite_url, job=job, budget=budget) as shared:
        attrs = study.user_attrs
        assert attrs["state"] == "searching"
        assert attrs["job"] == {"spec": {"x": 1}, "evaluation": {"y": 2}, "later": [3]}
        assert abs(attrs["search_end"] - (time.time() + budget.search_end()
                                          - time.monotonic())) < 1.0
        trial = shared.study.ask()
        shared.study.tell(trial, 0.5)
        budget.reserve = 20.0  # the refit reserve moves: so does the published end
        deadline = time.monotonic() + 10
        while abs(study.user_attrs["search_end"] - attrs["search_end"] + 18.0) > 0.5:
            assert time.monotonic() < deadline, study.user_attrs["search_end"]
            time.sleep(0.2)
    assert study.user_attrs["state"] == "finished"
    assert study.trials[0].user_attrs["worker"] == distributed.worker_id()
    assert shared.notes == ["No other process (text2ml worker) ran trials of this shared "
                            "study."]


def test_a_shared_search_reserves_time_for_another_processs_new_best(
        sqlite_url: str, tmp_path: Path, titanic_df: pd.DataFrame) -> None:
    """A worker's trial that becomes the study's best while the run's own trial is still
    running moves the run's search end forward, so that its refit fits; a study no other
    process writes to is not re-read between the run's own trials."""
    from types import SimpleNamespace

    from text2ml_jupyter import search as search_module

    study = _published(sqlite_url, "s-reserve", titanic_df, tmp_path / "run", state="")
    own = create_study(direction="maximize", seed=0)
    budget, alone_budget = Budget(200.0), Budget(200.0)
    pool = SimpleNamespace(start_seconds=0.0)
    with distributed.shared_search(study, sqlite_url, job={}, budget=budget) as shared:
        assert shared.shared
        search = search_module.Search(shared.study, pool, {}, job={}, budget=budget,
                                      refit_scale=1.0, shared=shared.shared)
        alone = search_module.Search(own, pool, {}, job={}, budget=alone_budget,
                                     refit_scale=1.0)
        for target in (shared.study, own):  # the run's first trial: quick to refit
            trial = target.ask()
            trial.set_user_attr("fit_seconds", 1.0)
            target.tell(trial, 0.7)
        search._update_reserve()
        alone._update_reserve()
        before = budget.search_end()
        # another process (its own handle on the storage) finishes a better, slower trial
        theirs = optuna.load_study(study_name="s-reserve", storage=sqlite_url)
        trial = theirs.ask()
        trial.set_user_attr("fit_seconds", 30.0)
        theirs.tell(trial, 0.9)
        search._reserve_read_at = alone._reserve_read_at = 0.0  # as if 2 s had passed
        assert search._should_kill() is False  # polled while the run's trial runs
        assert budget.search_end() < before - 20.0
        assert budget.reserve >= search_module.expected_refit_seconds(30.0, 1.0)
        alone_before = alone_budget.search_end()
        alone._should_kill()
        assert alone_budget.search_end() == alone_before  # its best changes only by itself


def test_a_run_with_the_default_journal_publishes_nothing(tmp_path: Path) -> None:
    study = create_study(direction="maximize", seed=0)
    distributed.publish_data(study, None, pd.DataFrame({"a": [1]}), tmp_path)
    with distributed.shared_search(study, None, job={}, budget=Budget(5.0)) as shared:
        assert shared.study is study
    assert study.user_attrs == {} and shared.notes == [] and not list(tmp_path.iterdir())


# ----------------------------------------------------------------- the worker's side

def test_a_worker_waits_then_gives_up_with_a_clear_message(sqlite_url: str,
                                                           tmp_path: Path) -> None:
    started = time.monotonic()
    with pytest.raises(Text2MLError) as caught:
        distributed.run_worker(sqlite_url, "nobody", wait=1.5, n_workers=1,
                               run_dir=tmp_path, say=lambda line: None)
    assert time.monotonic() - started < 10
    assert str(caught.value).startswith(
        f"No study named 'nobody' appeared in {sqlite_url} within 1.5 s.\nHow to fix: "
        "Start the run with the same storage and name")
    optuna.create_study(storage=sqlite_url, study_name="not-text2ml")
    with pytest.raises(Text2MLError, match="did not start its search within 1 s "
                       r"\(it holds no text2ml run: was it made by one\?\)"):
        distributed.run_worker(sqlite_url, "not-text2ml", wait=1, n_workers=1,
                               run_dir=tmp_path, say=lambda line: None)


def test_a_worker_on_a_finished_study_exits_promptly(sqlite_url: str, tmp_path: Path,
                                                    titanic_df: pd.DataFrame) -> None:
    _published(sqlite_url, "done", titanic_df, tmp_path / "run", state="finished")
    started = time.monotonic()
    proc = _text2ml("worker", "--storage", sqlite_url, "--study", "done", "--workers", "1",
                    cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert time.monotonic() - started < 30  # the interpreter's start-up, mostly
    last = proc.stdout.strip().splitlines()[-1]
    assert last.startswith("text2ml worker ") and last.endswith(
        ": 0 trials for study 'done'; the run's search had already ended; best of the "
        "study: no complete trial yet")


def test_a_worker_refuses_data_that_is_not_the_runs(sqlite_url: str, tmp_path: Path,
                                                   titanic_df: pd.DataFrame,
                                                   titanic_csv: Path) -> None:
    _published(sqlite_url, "s1", titanic_df, tmp_path / "run")
    changed = titanic_df.copy()
    changed.loc[3, "age"] = 99.0
    changed.to_csv(tmp_path / "changed.csv", index=False)
    cases = [(tmp_path / "changed.csv", "its values differ (the fingerprints do not match)"),
             (REPO_ROOT / "tests" / "data" / "tips.csv", "it has 244 rows, the run's has 891"),
             (tmp_path / "nowhere.csv", "No data file at")]
    for path, needle in cases:
        with pytest.raises(Text2MLError, match="How to fix") as caught:
            distributed.run_worker(sqlite_url, "s1", data=path, wait=5, n_workers=1,
                                   run_dir=tmp_path / "w", say=lambda line: None)
        assert needle in str(caught.value), str(caught.value)
    # The command line: exit 2, the reason on stderr, no traceback.
    proc = _text2ml("worker", "--storage", sqlite_url, "--study", "s1", "--workers", "1",
                    "--data", str(tmp_path / "changed.csv"), "--wait", "5", cwd=tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith(f"error: The data at {str(tmp_path / 'changed.csv')!r} is "
                                  "not the run's data: its values differ")


# ----------------------------------------------------------------- PostgreSQL, end to end

def _postgres_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    """A throw-away PostgreSQL server on 127.0.0.1 with password authentication; the URL
    carries the password. Stopped and removed afterwards."""
    if os.environ.get("TEXT2ML_SKIP_POSTGRES") == "1":
        pytest.skip("TEXT2ML_SKIP_POSTGRES=1: the PostgreSQL tests are skipped")
    binaries = _postgres_bin()
    if binaries is None:
        pytest.skip("PostgreSQL is not installed (scripts/test.sh installs Debian's "
                    "postgresql; or apt-get install postgresql)")
    home = Path(tempfile.mkdtemp(prefix="text2ml-pg-"))  # outside pytest's 0700 folders
    (home / "password").write_text(PASSWORD + "\n")
    # PostgreSQL refuses to run as root: then the Debian package's postgres user runs it.
    as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if as_user:
        shutil.chown(home, "postgres")
        shutil.chown(home / "password", "postgres")
    port = _free_port()
    data = home / "data"
    subprocess.run([*as_user, str(binaries / "initdb"), "-D", str(data), "-U", "text2ml",
                    f"--pwfile={home / 'password'}", "--auth-local=trust",
                    "--auth-host=scram-sha-256", "-E", "UTF8", "--no-sync"],
                   check=True, capture_output=True, timeout=120)
    subprocess.run([*as_user, str(binaries / "pg_ctl"), "-D", str(data), "-l",
                    str(home / "server.log"), "-w", "-t", "60", "-o",
                    f"-c listen_addresses=127.0.0.1 -p {port} -k {home} -c fsync=off",
                    "start"], check=True, capture_output=True, timeout=120)
    try:
        yield f"postgresql://text2ml:{PASSWORD}@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*as_user, str(binaries / "pg_ctl"), "-D", str(data), "-m",
                        "immediate", "stop"], capture_output=True, timeout=60)
        shutil.rmtree(home, ignore_errors=True)


def _notebook(path: Path, titanic_csv: Path, study: str) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(
            "import os\nimport pandas as pd\n\n"
            "url = os.environ['TEXT2ML_TEST_STORAGE']  # the password stays out of here\n"
            f"titanic = pd.read_csv({str(titanic_csv)!r})"),
        nbformat.v4.new_code_cell("%load_ext text2ml_jupyter\n"
                                  "%config Text2ML.n_workers = 1\n"
                                  "%config Text2ML.run_dir = 'runs'"),
        nbformat.v4.new_code_cell(f"%%text2ml --storage $url --study {study} --budget 40 "
                                  f"--data titanic --provider offline\n{TASK}"),
    ]
    nbformat.write(nb, path)


def _worker(url: str, study: str, cwd: Path, name: str, *extra: str) -> tuple[Any, Path]:
    out = cwd / f"{name}.out"
    handle = out.open("w")
    proc = subprocess.Popen([sys.executable, "-m", "text2ml_jupyter", "worker", "--storage",
                             url, "--study", study, "--workers", "1", "--wait", "300",
                             "--run-dir", str(cwd / name), *extra], cwd=cwd, env=_env(),
                            stdout=handle, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    handle.close()
    return proc, out


@pytest.mark.slow
def test_a_notebook_run_and_two_workers_share_one_postgresql_study(
        postgres_url: str, tmp_path: Path, titanic_csv: Path) -> None:
    study_name = "titanic-shared"
    # The workers come first and wait; the second reads the data from its own --data.
    workers = [_worker(postgres_url, study_name, tmp_path, "w1"),
               _worker(postgres_url, study_name, tmp_path, "w2", "--data", str(titanic_csv))]
    notebook = tmp_path / "shared.ipynb"
    _notebook(notebook, titanic_csv, study_name)
    try:
        # One thread per library in the kernel: the generated cells' cross-validation
        # of a boosting model crawls when OpenMP oversubscribes a busy machine.
        done = _text2ml("execute", str(notebook), cwd=tmp_path, timeout=600,
                        TEXT2ML_TEST_STORAGE=postgres_url, OMP_NUM_THREADS="1",
                        IPYTHONDIR=str(tmp_path / ".ipython"))
        codes = [proc.wait(timeout=120) for proc, _ in workers]
    finally:
        for proc, _ in workers:
            if proc.poll() is None:
                proc.kill()
    outputs = [out.read_text() for _, out in workers]
    assert done.returncode == 0, done.stderr + done.stdout
    assert codes == [0, 0], outputs
    worker_ids = [re.search(r"^text2ml worker (\S+): waiting up to 300 s for study "
                            f"'{study_name}'", out, re.M).group(1) for out in outputs]
    for worker, out in zip(worker_ids, outputs, strict=True):  # the one-line summary
        assert re.search(f"^text2ml worker {re.escape(worker)}: \\d+ trials? for study "
                         f"'{study_name}'.*; best of the study: ", out, re.M), out

    # One study holds every trial, from all three processes.
    storage = distributed.open_storage(postgres_url)
    assert optuna.get_all_study_names(storage) == [study_name]
    study = optuna.load_study(study_name=study_name, storage=storage)
    by = {t.number: t.user_attrs.get("worker") for t in study.trials}
    assert None not in by.values()
    kernel = set(by.values()) - set(worker_ids)
    assert set(worker_ids) <= set(by.values()) and len(kernel) == 1, by
    attrs = study.user_attrs
    assert attrs["state"] == "finished" and isinstance(attrs["search_end"], float)
    assert not [key for key in attrs["job"] if key.endswith("_path")]
    assert attrs["data"]["fingerprint"] == \
        distributed.fingerprint(pd.read_csv(titanic_csv))

    # The result is the best trial of them all, and it is what the cells contain.
    (run_folder,) = (tmp_path / "runs").iterdir()
    result = json.loads((run_folder / "result.json").read_text())
    complete = [t for t in study.trials if t.state.name == "COMPLETE"]
    best = (max if study.direction.name == "MAXIMIZE" else min)(t.value for t in complete)
    # Unless the note says the best one's refit did not fit the time left (a worker's
    # trial can become the best just before the end, after the run last set its reserve)
    instead = re.search(r"trial (\d+)'s \(about \d+ s\) was refitted instead",
                        " ".join(result["notes"]))
    if instead:
        best = next(t.value for t in complete if t.number == int(instead.group(1)))
    assert result["best_score"] == pytest.approx(best)
    assert result["params"] in [t.params for t in complete if t.value == best]
    assert any("trials ran in other processes (text2ml worker)" in n for n in result["notes"])
    executed = nbformat.read(notebook, as_version=4)
    generated = [c for c in executed.cells if "text2ml" in c.metadata]
    assert generated and {c.metadata["text2ml"]["run"] for c in generated} == \
        {run_folder.name}
    code = "\n".join(c.source for c in generated if c.cell_type == "code")
    for key, value in result["params"].items():
        if key.count(".") == 2:  # slot.candidate.hyperparameter
            line = next(row for row in code.splitlines()
                        if f"# searched: {key.split('.')[-1]} " in row)
            assert literal(value) in line, (key, value, line)
    assert [c.execution_count for c in executed.cells if c.cell_type == "code"] \
        and all(isinstance(c.execution_count, int)
                for c in executed.cells if c.cell_type == "code")

    # The password is in no output and no file (notebook, run folder, worker folders).
    texts = [done.stdout, done.stderr, *outputs]
    assert not [t for t in texts if PASSWORD in t]
    leaked = [str(p) for p in tmp_path.rglob("*") if p.is_file()
              and PASSWORD.encode() in p.read_bytes()]
    assert leaked == []
