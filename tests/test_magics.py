"""The IPython layer: ``%load_ext text2ml_jupyter``, ``%%text2ml`` and ``%text2ml``.

Everything goes through a real ``InteractiveShell`` (no kernel: progress is printed and the
code comes back through ``set_next_input``). Option and data errors stop before the
engine starts, so most tests are fast; real runs are marked slow.
"""

from __future__ import annotations

import ast
import re
import time
from pathlib import Path
from typing import Any

import nbformat
import pandas as pd

import pytest
from _shells import usage_error
from IPython.core.interactiveshell import InteractiveShell
from traitlets.config import Config

import text2ml_jupyter
from text2ml_jupyter.errors import Text2MLError
from text2ml_jupyter.notebook import _magic_args as margs
from text2ml_jupyter.notebook._data_lookup import find_data, frames_in
from text2ml_jupyter.notebook._flow import AsyncCellTransformer
from text2ml_jupyter.notebook.magics import Text2ML
from text2ml_jupyter.notebook.writeback import digest

TASK = "Predict whether a passenger survived from the titanic table."


# ---------------------------------------------------------------------------- fixtures
@pytest.fixture
def shell(make_shell, tmp_path: Path) -> InteractiveShell:
    """A shell with the extension loaded and run folders going to tmp."""
    sh = make_shell()
    assert sh.run_cell("%load_ext text2ml_jupyter").success
    assert sh.run_cell(f"%config Text2ML.run_dir = {str(tmp_path / 'runs')!r}").success
    return sh


def _magics(sh: InteractiveShell) -> Text2ML:
    return sh.magics_manager.registry["Text2ML"]


# ---------------------------------------------------------------------------- loading
def test_load_ext_registers_the_magics_once(make_shell) -> None:
    sh = make_shell()
    assert "Text2ML" not in sh.magics_manager.registry
    assert sh.run_cell("%load_ext text2ml_jupyter").success
    magics = _magics(sh)
    assert sh.magics_manager.magics["cell"]["text2ml"].__self__ is magics
    assert sh.magics_manager.magics["line"]["text2ml"].__self__ is magics
    assert magics in sh.configurables
    def counts() -> tuple[int, int, int]:
        transformers = sum(isinstance(t, AsyncCellTransformer)
                           for t in sh.input_transformers_post)
        hooks = sum(getattr(f, "__name__", "") == "remember_cell"
                    for f in sh.events.callbacks["pre_run_cell"])
        return transformers, hooks

    assert counts() == (1, 1)
    assert sh.run_cell("%load_ext text2ml_jupyter").success
    text2ml_jupyter.load_ipython_extension(sh)  # the package-level entry point
    assert _magics(sh) is magics
    assert counts() == (1, 1)
    assert sh.run_cell("%text2ml help").success


def test_load_ext_adds_the_magics_to_configurables_once(make_shell) -> None:
    sh = make_shell()
    sh.run_cell("%load_ext text2ml_jupyter")
    assert sh.configurables.count(_magics(sh)) == 1


def test_load_ext_starts_the_warm_worker_process_and_config_stops_it(make_shell) -> None:
    """The fork server starts as the extension loads (its imports overlap the user's next
    cells); ``%config Text2ML.warm_workers = False`` stops it, True starts it again."""
    from text2ml_jupyter import _forkserver

    _forkserver.shutdown()
    sh = make_shell()
    assert sh.run_cell("%load_ext text2ml_jupyter").success
    deadline = time.monotonic() + 10
    while _forkserver._server is None and time.monotonic() < deadline:
        time.sleep(0.01)  # started on a background thread
    server = _forkserver._server
    assert server is not None and server.process.poll() is None
    assert sh.run_cell("%config Text2ML.warm_workers = False").success
    assert _forkserver._server is None and server.process.wait(timeout=10) is not None
    assert sh.run_cell("%config Text2ML.warm_workers = True").success
    deadline = time.monotonic() + 10
    while _forkserver._server is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert _forkserver._server is not None and _forkserver._server is not server
    assert _forkserver._server.process.poll() is None


def test_config_magic_sets_traits_and_help_lists_them(
        shell: InteractiveShell, capsys: pytest.CaptureFixture[str]) -> None:
    magics = _magics(shell)
    assert magics.budget == 60.0
    assert shell.run_cell("%config Text2ML.budget = 7").success
    assert shell.run_cell("%config Text2ML.name = 'model'").success
    assert magics.budget == 7.0 and magics.name == "model"
    capsys.readouterr()
    result = shell.run_cell("%text2ml help")
    out = capsys.readouterr().out
    assert result.success and result.result is None
    assert "Text2ML.budget = 7.0" in out
    assert "Text2ML.name = 'model'" in out
    for name in ("budget", "candidates", "provider", "model", "seed", "name", "insert",
                 "run_dir", "n_workers", "memory_limit_mb"):
        assert f"Text2ML.{name} = {getattr(magics, name)!r}" in out
    assert "%%text2ml [--data NAME|PATH]" in out and "%text2ml resume" in out
    # A bare %text2ml is the same help.
    shell.run_cell("%text2ml")
    assert capsys.readouterr().out == out


def test_config_object_from_ipython_config_is_honoured(
        make_shell, capsys: pytest.CaptureFixture[str]) -> None:
    config = Config()
    config.Text2ML.budget = 11.5
    config.Text2ML.seed = 3
    config.Text2ML.insert = False
    sh = make_shell(config)
    sh.run_cell("%load_ext text2ml_jupyter")
    magics = _magics(sh)
    assert (magics.budget, magics.seed, magics.insert) == (11.5, 3, False)
    capsys.readouterr()
    sh.run_cell("%text2ml help")
    out = capsys.readouterr().out
    assert "Text2ML.budget = 11.5" in out and "Text2ML.seed = 3" in out
    assert "Text2ML.insert = False" in out


def test_pre_run_cell_hook_remembers_the_cell_id(shell: InteractiveShell) -> None:
    shell.run_cell("x = 1", cell_id="cell-abc")
    assert _magics(shell).cell_id == "cell-abc"
    shell.run_cell("x = 2")
    assert _magics(shell).cell_id is None


# ---------------------------------------------------------------------------- async cells
def test_a_magic_only_cell_becomes_an_awaited_call(shell: InteractiveShell) -> None:
    cell = shell.transform_cell("%%text2ml --budget 5\nPredict survived.\n")
    assert cell.startswith(
        "await get_ipython().magics_manager.registry['Text2ML'].cell_async(")
    call = ast.parse(cell, mode="exec").body[0].value.value  # type: ignore[attr-defined]
    assert [ast.literal_eval(a) for a in call.args] == ["--budget 5", "Predict survived.\n"]

    line = shell.transform_cell("%text2ml resume --budget 5\n")
    assert line.strip() == ("await get_ipython().magics_manager.registry['Text2ML']"
                            ".line_async('resume --budget 5')")
    # Mixed cells stay synchronous, and so does everything with autoawait off.
    mixed = shell.transform_cell("x = 1\n%text2ml show\n")
    assert "await" not in mixed and "run_line_magic('text2ml', 'show')" in mixed
    assert "await" not in shell.transform_cell("print('text2ml')\n")
    shell.run_cell("%autoawait off")
    assert "await" not in shell.transform_cell("%%text2ml\nPredict survived.\n")


def test_sync_path_reports_errors_the_same_way(
        shell: InteractiveShell, titanic_df: pd.DataFrame,
        capsys: pytest.CaptureFixture[str]) -> None:
    shell.user_ns["titanic"] = titanic_df
    shell.run_cell("%autoawait off")
    message = usage_error(shell, "%%text2ml --budget -1\nPredict survived.", capsys)
    assert "'-1' is not a positive number of seconds" in message
    message = usage_error(shell, "%text2ml show", capsys)
    assert message.startswith("There is no text2ml run in this kernel yet.")


# ---------------------------------------------------------------------------- option errors
@pytest.mark.parametrize("cell, expected", [
    ("%%text2ml --frobnicate\nPredict survived.",
     ["%%text2ml does not understand '--frobnicate'.", "Usage:"]),
    ("%%text2ml --budget -1\nPredict survived.",
     ["argument --budget: '-1' is not a positive number of seconds."]),
    ("%%text2ml --budget abc\nPredict survived.",
     ["argument --budget: 'abc' is not a number of seconds."]),
    ("%%text2ml --budget 0\nPredict survived.", ["'0' is not a positive number"]),
    ("%%text2ml --budget inf\nPredict survived.", ["'inf' is not a positive number"]),
    ("%%text2ml --candidates 0\nPredict survived.", ["'0' is not at least 1"]),
    ("%%text2ml --seed 1.5\nPredict survived.", ["'1.5' is not a whole number"]),
    ("%%text2ml Predict whether a passenger survived.\n",
     ["%%text2ml does not understand 'Predict whether a passenger survived.'.",
      "Put the task on the lines below %%text2ml"]),
    ("%%text2ml --role age\nPredict survived.",
     ["argument --role: 'age' is not COLUMN=ROLE."]),
    ("%%text2ml --role =numeric\nPredict survived.", ["'=numeric' is not COLUMN=ROLE."]),
    ("%%text2ml --name 1x\nPredict survived.",
     ["--name '1x' is not a valid Python variable name.", "--name model"]),
    ("%%text2ml --name class\nPredict survived.",
     ["--name 'class' is not a valid Python variable name."]),
    ("%%text2ml --provider nope\nPredict survived.", ["Unknown provider 'nope'.",
                                                      "offline"]),
    ("%%text2ml --budget 5\n", ["The %%text2ml cell has no task.", "Write the task below"]),
    ("%%text2ml\n  \n\n", ["The %%text2ml cell has no task."]),
    ("%%text2ml --data 'titanic\nPredict survived.",
     ["Cannot read the options", "No closing quotation", "Check the quotes"]),
    ("%text2ml frobnicate", ["Unknown %text2ml command 'frobnicate'.",
                             "Use one of: resume, show, export, help."]),
    ("%text2ml predict survived from titanic",
     ["Unknown %text2ml command 'predict'.", "two percent signs"]),
    ("%text2ml export", ["%text2ml export: the following arguments are required: path."]),
    ("%text2ml resume --budget x", ["%text2ml resume: argument --budget: 'x' is not a "
                                    "number of seconds."]),
    ("%text2ml resume --frobnicate", ["unrecognized arguments: --frobnicate"]),
    ("%text2ml resume", ["There is no text2ml run in this kernel yet.",
                         "a %%text2ml cell first"]),
    ("%text2ml show", ["There is no text2ml run in this kernel yet."]),
    ("%text2ml export out.py", ["There is no text2ml run in this kernel yet."]),
])
def test_argument_errors_are_usage_errors(shell: InteractiveShell, titanic_df: pd.DataFrame,
                                          capsys: pytest.CaptureFixture[str], cell: str,
                                          expected: list[str], tmp_path: Path) -> None:
    shell.user_ns["titanic"] = titanic_df
    message = usage_error(shell, cell, capsys)
    for part in expected:
        assert part in message
    assert "pipeline" not in shell.user_ns
    assert not (tmp_path / "out.py").exists()
    assert not (tmp_path / "runs").exists()  # nothing started


def test_unknown_role_is_ausage_error(shell: InteractiveShell, titanic_df: pd.DataFrame,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    shell.user_ns["titanic"] = titanic_df
    message = usage_error(shell, "%%text2ml --budget 5 --role age=bogus\nPredict survived.",
                           capsys)
    assert "Unknown role 'bogus' for column 'age'." in message
    assert "numeric, categorical, text, datetime, ignore" in message
    assert "pipeline" not in shell.user_ns and _magics(shell).last is None


def test_parse_cell_line_values() -> None:
    args = margs.parse_cell_line("")
    assert (args.data, args.budget, args.name, args.seed, args.insert, args.roles) == (
        None, None, None, None, None, {})
    args = margs.parse_cell_line(
        "--data 'my data.csv' --budget 2.5 --seed -3 --candidates 2 --no-insert "
        "--role age=numeric --role 'a=b = categorical' --target survived --metric f1")
    assert args.data == "my data.csv" and args.budget == 2.5 and args.seed == -3
    assert args.candidates == 2 and args.insert is False
    assert args.target == "survived" and args.metric == "f1"
    # As on the command line: the last "=" splits, so a column name may contain "=".
    assert args.roles == {"age": "numeric", "a=b ": "categorical"}
    assert margs.merged(None, 60.0) == 60.0 and margs.merged(0, 60.0) == 0
    assert margs.merged(False, True) is False


def test_parse_line_values() -> None:
    assert margs.parse_line("")[0] == "help"
    command, args = margs.parse_line("resume --budget 5 --no-insert")
    assert command == "resume" and args.budget == 5.0 and args.insert is False
    command, args = margs.parse_line("export 'out dir/x.ipynb'")
    assert command == "export" and args.path == "out dir/x.ipynb"


# ---------------------------------------------------------------------------- find_data
@pytest.fixture
def frames() -> dict[str, pd.DataFrame]:
    return {"train": pd.DataFrame({"a": [1, 2, 3], "y": [0, 1, 0]}),
            "other": pd.DataFrame({"b": [1.0, 2.0]})}


def _csv(tmp_path: Path, name: str = "data/titanic.csv") -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"x": [1, 2, 3, 4], "survived": [0, 1, 0, 1]}).to_csv(path, index=False)
    return path


def test_find_data_by_name(frames: dict) -> None:
    found = find_data(frames, "other", "Predict y from train.")
    assert found.data is frames["other"] and found.name == "other" and found.path is None
    assert found.origin == "variable other"


def test_find_data_variable_holding_a_path(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    path = _csv(tmp_path)
    found = find_data({"source": str(path)}, "source", "")
    assert found.name == "titanic" and found.path == str(path)
    pd.testing.assert_frame_equal(found.data, pd.read_csv(path))


def test_find_data_path_option(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    _csv(tmp_path)
    found = find_data({}, "data/titanic.csv", "Predict survived.")
    assert found.name == "titanic" and found.path == "data/titanic.csv"
    assert found.origin == "file data/titanic.csv"
    assert list(found.data.columns) == ["x", "survived"] and len(found.data) == 4


def test_find_data_reads_tsv_and_compressed_csv(tmp_path: Path, monkeypatch) -> None:
    """The engine takes only .csv/.parquet paths, so the files the command line reads
    (TSV, compressed CSV) are read here."""
    monkeypatch.chdir(tmp_path)
    frame = pd.DataFrame({"x": [1, 2, 3], "label": ["a", "b", "a"]})
    frame.to_csv("sales.tsv", sep="\t", index=False)
    frame.to_csv("sales_2024.csv.gz", index=False)
    found = find_data({}, "sales.tsv", "Predict label.")
    assert found.name == "sales"
    pd.testing.assert_frame_equal(found.data, frame)
    found = find_data({}, None, "Predict label from sales_2024.csv.gz please.")
    assert found.name == "sales_2024" and found.path == "sales_2024.csv.gz"
    pd.testing.assert_frame_equal(found.data, frame)


def test_find_data_missing_variable_lists_the_dataframes(frames: dict) -> None:
    with pytest.raises(Text2MLError) as caught:
        find_data({**frames, "n": 3}, "trian", "Predict y.")
    message = str(caught.value)
    assert "--data trian: there is no variable named 'trian'." in message
    assert "DataFrames in the kernel: other (2 rows x 1 columns), train (3 rows x 2 " \
           "columns)." in message
    with pytest.raises(Text2MLError, match="There is no DataFrame in the kernel"):
        find_data({"n": 3}, "df", "Predict y.")


def test_find_data_not_a_dataframe(frames: dict) -> None:
    namespace = {**frames, "rows": [1, 2], "series": frames["train"]["a"]}
    with pytest.raises(Text2MLError) as caught:
        find_data(namespace, "rows", "Predict y.")
    assert "the variable rows is a list, not a pandas DataFrame" in str(caught.value)
    assert "train (3 rows x 2 columns)" in str(caught.value)
    with pytest.raises(Text2MLError, match="is a Series, not a pandas DataFrame"):
        find_data(namespace, "series", "Predict y.")


def test_find_data_file_errors(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(Text2MLError, match="No data file at 'data/none.csv'"):
        find_data({}, "data/none.csv", "Predict y.")
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "a.txt").write_text("x")
    with pytest.raises(Text2MLError, match="Cannot read 'a.txt': not a CSV, TSV or Parquet"):
        find_data({}, "notes/a.txt", "Predict y.")
    # A file the task names that is not there, and nothing else: say so.
    with pytest.raises(Text2MLError, match="No data file at 'data/missing.csv'"):
        find_data({}, None, "Predict y in data/missing.csv.")


def test_find_data_mentioned_variable(frames: dict) -> None:
    found = find_data(frames, None, "Predict y from the train table.")
    assert found.data is frames["train"] and found.origin == "variable train (named in " \
                                                             "the task)"
    # Whole words only: "trainer", "my.train" and "train_x" do not name `train`.
    with pytest.raises(Text2MLError, match="Several DataFrames could be the data"):
        find_data(frames, None, "Predict y like the trainer did with my.train and train_x.")


def test_find_data_several_mentioned_is_ambiguous(frames: dict) -> None:
    with pytest.raises(Text2MLError) as caught:
        find_data(frames, None, "Predict y from train, compare with other.")
    assert "The task mentions several DataFrames: " in str(caught.value)
    assert "train" in str(caught.value) and "other" in str(caught.value)
    assert "--data" in str(caught.value)


def test_find_data_only_dataframe_and_hidden_names(frames: dict) -> None:
    namespace = {"train": frames["train"], "_": frames["other"], "_12": frames["other"],
                 "_hidden": frames["other"], "n": 1}
    assert set(frames_in(namespace)) == {"train"}
    found = find_data(namespace, None, "Predict y.")
    assert found.data is frames["train"]
    assert found.origin == "variable train (the only DataFrame)"


def test_find_data_path_in_text(tmp_path: Path, monkeypatch, frames: dict) -> None:
    monkeypatch.chdir(tmp_path)
    path = _csv(tmp_path)
    found = find_data({}, None, "Predict survived from data/titanic.csv.")
    assert found.path == "data/titanic.csv" and found.name == "titanic"
    assert len(found.data) == 4
    # A file named in the task wins over an unrelated only DataFrame.
    found = find_data({"other": frames["other"]}, None, "Use data/titanic.csv to predict.")
    assert found.path == "data/titanic.csv"
    assert path.is_file()


def test_find_data_several_or_none(frames: dict) -> None:
    with pytest.raises(Text2MLError) as caught:
        find_data(frames, None, "Predict y.")
    assert "Several DataFrames could be the data: other, train." in str(caught.value)
    assert "--data other" in str(caught.value)
    with pytest.raises(Text2MLError) as caught:
        find_data({"x": 1, "s": "text"}, None, "Predict y.")
    assert "There is no DataFrame in the kernel to learn from." in str(caught.value)


# ---------------------------------------------------------------------------- data errors
# through the magic (they stop before the engine starts)
def test_magic_data_errors(shell: InteractiveShell, frames: dict,
                           capsys: pytest.CaptureFixture[str]) -> None:
    message = usage_error(shell, "%%text2ml\nPredict y.", capsys)
    assert "There is no DataFrame in the kernel to learn from." in message
    shell.user_ns.update(frames)
    shell.user_ns["numbers"] = [1, 2]
    message = usage_error(shell, "%%text2ml --data trian\nPredict y.", capsys)
    assert "no variable named 'trian'" in message
    assert "other (2 rows x 1 columns), train (3 rows x 2 columns)" in message
    message = usage_error(shell, "%%text2ml --data numbers\nPredict y.", capsys)
    assert "the variable numbers is a list, not a pandas DataFrame" in message
    message = usage_error(shell, "%%text2ml\nPredict y.", capsys)
    assert "Several DataFrames could be the data: other, train." in message
    message = usage_error(shell, "%%text2ml\nPredict y from train, not other.", capsys)
    assert "The task mentions several DataFrames" in message


@pytest.fixture
def fake_run(monkeypatch: pytest.MonkeyPatch) -> list[dict]:
    """engine.run replaced by a stub that records its arguments and stops the run."""
    calls: list[dict] = []

    def stub(task: str, data: Any, **options: Any) -> Any:
        calls.append({"task": task, "data": data, **options})
        raise Text2MLError("stub engine: stopped here.", "Nothing to fix.")

    monkeypatch.setattr("text2ml_jupyter.engine.run", stub)
    return calls


def test_magic_passes_the_found_data_and_options(
        shell: InteractiveShell, fake_run: list[dict], frames: dict, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    shell.run_cell("%config Text2ML.budget = 7")
    shell.run_cell("%config Text2ML.seed = 4")
    shell.user_ns.update(frames)
    message = usage_error(shell, "%%text2ml --data other --target b --metric rmse "
                           "--candidates 2 --role b=numeric\n  Predict b.  \n", capsys)
    assert message.startswith("stub engine: stopped here.")
    call = fake_run[-1]
    assert call["task"] == "Predict b."
    assert call["data"] is frames["other"] and call["data_name"] == "other"
    assert (call["time_budget"], call["seed"], call["candidates"]) == (7.0, 4, 2)
    assert (call["target"], call["metric"], call["roles"]) == ("b", "rmse", {"b": "numeric"})
    assert call["pipeline_name"] == "pipeline" and call["provider"].name == "offline"
    assert call["run_dir"] == str(tmp_path / "runs")
    assert call["n_workers"] is None and call["memory_limit_mb"] is None

    usage_error(shell, "%%text2ml --budget 3 --seed 9 --name model\nPredict y from train.",
                 capsys)
    call = fake_run[-1]
    assert call["data"] is frames["train"] and call["data_name"] == "train"
    assert (call["time_budget"], call["seed"], call["pipeline_name"]) == (3.0, 9, "model")
    assert call["roles"] is None and call["target"] is None

    del shell.user_ns["other"]
    usage_error(shell, "%%text2ml\nPredict y.", capsys)
    assert fake_run[-1]["data"] is frames["train"]
    assert "pipeline" not in shell.user_ns and "model" not in shell.user_ns


@pytest.mark.parametrize("warm", [True, False])
def test_a_run_that_stopped_the_fork_server_leaves_it_warm_again(
        shell: InteractiveShell, monkeypatch: pytest.MonkeyPatch, frames: dict,
        capsys: pytest.CaptureFixture[str], warm: bool) -> None:
    """The engine stops the fork server before the refit on large data; with
    ``warm_workers`` on, the magic starts it again once the run is over."""
    from text2ml_jupyter import _forkserver

    def stopping_run(task: str, data: Any, **options: Any) -> Any:
        _forkserver.shutdown()
        raise Text2MLError("stub engine: stopped here.", "Nothing to fix.")

    monkeypatch.setattr("text2ml_jupyter.engine.run", stopping_run)
    shell.user_ns.update(frames)
    assert shell.run_cell(f"%config Text2ML.warm_workers = {warm}").success
    usage_error(shell, "%%text2ml --data other\nPredict b.", capsys)
    deadline = time.monotonic() + 10
    while warm and _forkserver._server is None and time.monotonic() < deadline:
        time.sleep(0.01)  # started on a background thread
    assert (_forkserver._server is not None) is warm
    _forkserver.shutdown()


def test_magic_reads_csv_paths(shell: InteractiveShell, fake_run: list[dict],
                               tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _csv(tmp_path)
    expected = pd.read_csv(path)
    usage_error(shell, "%%text2ml --data data/titanic.csv\nPredict survived.", capsys)
    assert fake_run[-1]["data_name"] == "titanic"
    pd.testing.assert_frame_equal(fake_run[-1]["data"], expected)
    shell.user_ns["unrelated"] = pd.DataFrame({"z": [1]})
    usage_error(shell, "%%text2ml\nPredict survived from data/titanic.csv.", capsys)
    assert fake_run[-1]["data_name"] == "titanic"
    pd.testing.assert_frame_equal(fake_run[-1]["data"], expected)
    assert len(fake_run) == 2


# ---------------------------------------------------------------------------- real runs
def _frame_hash(frame: pd.DataFrame) -> int:
    return int(pd.util.hash_pandas_object(frame, index=True).sum())


def _finished(study: Any) -> int:
    return sum(t.state.is_finished() for t in study.trials)


@pytest.mark.slow
def test_magic_run_resume_show_export(shell: InteractiveShell, titanic_df: pd.DataFrame,
                                      tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    from text2ml_jupyter.engine import Result

    magics = _magics(shell)
    next_inputs: list[str] = []
    original_set_next_input = shell.set_next_input

    def record(text: str, replace: bool = False) -> None:
        next_inputs.append(text)
        original_set_next_input(text, replace=replace)

    monkeypatch.setattr(shell, "set_next_input", record)
    async_calls: list[str] = []
    original_cell_async = magics.cell_async

    async def spy(line: str, cell: str) -> Any:
        async_calls.append(line)
        return await original_cell_async(line, cell)

    monkeypatch.setattr(magics, "cell_async", spy)
    shell.user_ns["titanic"] = titanic_df
    shell.user_ns["settings"] = {"not": "a frame"}
    before = _frame_hash(titanic_df)
    columns = list(titanic_df.columns)

    cell = f"%%text2ml --budget 10\n{TASK}"
    assert "cell_async(" in shell.transform_cell(cell)
    capsys.readouterr()
    run = shell.run_cell(cell, cell_id="anchor-1")
    out = capsys.readouterr().out
    assert run.success, run.error_in_exec
    result = run.result
    assert isinstance(result, Result)
    assert async_calls == ["--budget 10"]  # ran as an async cell
    assert shell.user_ns["pipeline"] is result.pipeline
    assert result.data_name == "titanic" and result.pipeline_name == "pipeline"
    assert result.spec.target == "survived"
    assert Path(result.run_dir).parent == tmp_path / "runs"
    assert not (tmp_path / ".text2ml").exists()
    features = titanic_df.drop(columns=["survived"]).head(20)
    assert len(shell.user_ns["pipeline"].predict(features)) == 20
    # The user's DataFrame is untouched.
    assert _frame_hash(titanic_df) == before and list(titanic_df.columns) == columns
    assert shell.user_ns["titanic"] is titanic_df
    # Printed progress, then the summary; the code came back through set_next_input.
    assert "text2ml: running (budget 10 s" in out
    assert f"text2ml run {result.run_id}" in out
    assert len(next_inputs) == 1 and shell.rl_next_input == next_inputs[0]
    code = next_inputs[0]
    assert code.startswith(f"# text2ml run {result.run_id}")
    assert "pipeline = " in code and "titanic" in code and "pipeline.fit(X, y)" in code
    compile(code, "<next input>", "exec")
    assert magics.last is not None and magics.last.anchor == "anchor-1"

    # %text2ml resume: the same study, more trials, the same run id.
    finished = _finished(result.study)
    capsys.readouterr()
    resumed = shell.run_cell("%text2ml resume --budget 5")
    out = capsys.readouterr().out
    assert resumed.success, resumed.error_in_exec
    again = resumed.result
    assert isinstance(again, Result) and again is not result
    assert again.run_id == result.run_id and again.run_dir == result.run_dir
    assert _finished(again.study) > finished
    assert shell.user_ns["pipeline"] is again.pipeline
    assert "text2ml: running (budget 5 s" in out
    assert _frame_hash(titanic_df) == before

    # %text2ml show: the last run's summary again.
    capsys.readouterr()
    shown = shell.run_cell("%text2ml show")
    out = capsys.readouterr().out
    assert shown.success and shown.result is None
    assert f"text2ml run {again.run_id}" in out

    # %text2ml export: a program and a notebook.
    assert shell.run_cell("%text2ml export out/model.py").success
    program = (tmp_path / "out" / "model.py").read_text(encoding="utf-8")
    assert f"Wrote out/model.py (run {again.run_id})." in capsys.readouterr().out
    compile(program, "model.py", "exec")
    assert program.startswith("# titanic: your DataFrame")
    namespace = {"titanic": titanic_df.copy()}
    exec(compile(program, "model.py", "exec"), namespace)  # noqa: S102 - generated program
    assert len(namespace["pipeline"].predict(features)) == 20

    assert shell.run_cell("%text2ml export out/model.ipynb").success
    nb = nbformat.read(tmp_path / "out" / "model.ipynb", as_version=4)
    nbformat.validate(nb)
    assert len(nb.cells) == len(again.cells)
    for nb_cell, cell in zip(nb.cells, again.cells, strict=True):
        meta = nb_cell.metadata["text2ml"]
        assert meta["run"] == again.run_id and meta["role"] == cell.role
        assert meta["anchor"] == "anchor-1" and meta["digest"] == digest(nb_cell.source)
        assert nb_cell.metadata["tags"] == ["text2ml"]
    message = usage_error(shell, "%text2ml export out/model.txt", capsys)
    assert "use a .py or .ipynb path" in message


@pytest.mark.slow
def test_magic_run_named_without_insert(shell: InteractiveShell, titanic_df: pd.DataFrame,
                                        monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    calls: list[str] = []
    monkeypatch.setattr(shell, "set_next_input", lambda text, replace=False: calls.append(text))
    shell.user_ns["titanic"] = titanic_df
    shell.user_ns["small"] = titanic_df.head(50).copy()
    before = _frame_hash(titanic_df)
    capsys.readouterr()
    run = shell.run_cell("%%text2ml --data titanic --name model --no-insert --budget 8\n"
                         "Predict survived.")
    out = capsys.readouterr().out
    assert run.success, run.error_in_exec
    result = run.result
    assert result.pipeline_name == "model" and result.data_name == "titanic"
    assert result.spec.n_rows == len(titanic_df)
    assert shell.user_ns["model"] is result.pipeline
    assert "pipeline" not in shell.user_ns
    assert re.search(r"^model = (build_postprocess|VotingClassifier)\(", result.code, re.M)
    assert calls == []
    assert "Cells not inserted (--no-insert)" in out
    assert _frame_hash(titanic_df) == before
