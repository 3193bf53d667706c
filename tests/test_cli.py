"""The ``text2ml`` command: parsing, data loading, error paths, output, end to end."""

from __future__ import annotations

import ast
import io
import json
import os
import re
import subprocess
import sys
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from text2ml_jupyter import cli
from text2ml_jupyter.errors import Text2MLError

REPO_ROOT = Path(__file__).resolve().parent.parent
TASK = "Predict whether a passenger survived the sinking. Optimize F1."


def run_cli(*args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """``python -m text2ml_jupyter ARGS`` in a subprocess, as a user would run it."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "-m", "text2ml_jupyter", *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL,
    )


def assert_one_line_error(proc: subprocess.CompletedProcess[str], *needles: str) -> None:
    """Exit 2, one ``error: ...`` line on stderr naming the problem, no traceback."""
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: "), lines[0]
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


# --------------------------------------------------------------------------- parsing


def test_parse_defaults() -> None:
    options = cli.parse_args(["run", TASK, "--data", "titanic.csv"])
    assert options == cli.RunOptions(task=TASK, data=Path("titanic.csv"))
    assert options.budget == 60
    assert options.seed == 0
    assert options.candidates == 4
    assert options.out == ()
    assert options.target is None and options.metric is None and options.run_dir is None
    assert not options.quiet


def test_parse_all_options() -> None:
    options = cli.parse_args([
        "run", "  Predict tip.  ", "--data", "d/tips.parquet", "--target", "tip",
        "--metric", "mae", "--budget", "12.5", "--seed", "7", "--candidates", "2",
        "--out", "a.ipynb", "--out", "b.py", "--run-dir", "runs/x", "--quiet",
        "--role", "day=categorical", "--role", "a=b=text",
    ])
    assert options == cli.RunOptions(
        task="Predict tip.", data=Path("d/tips.parquet"), target="tip", metric="mae",
        budget=12.5, seed=7, candidates=2, out=(Path("a.ipynb"), Path("b.py")),
        run_dir=Path("runs/x"), quiet=True, roles=(("day", "categorical"), ("a=b", "text")),
    )


@pytest.mark.parametrize("argv, message", [
    ([], "COMMAND"),
    (["run", TASK], "--data"),
    (["run", "--data", "x.csv"], "TASK"),
    (["run", "   ", "--data", "x.csv"], "TASK is empty"),
    (["run", TASK, "--data", "x.csv", "--budget", "0"], "positive"),
    (["run", TASK, "--data", "x.csv", "--budget", "-5"], "positive"),
    (["run", TASK, "--data", "x.csv", "--budget", "soon"], "not a number"),
    (["run", TASK, "--data", "x.csv", "--budget", "inf"], "positive"),
    (["run", TASK, "--data", "x.csv", "--candidates", "0"], "is not at least 1"),
    (["run", TASK, "--data", "x.csv", "--seed", "1.5"], "invalid int"),
    (["run", TASK, "--data", "x.csv", "--out", "result.txt"], ".ipynb"),
    (["fly", TASK], "invalid choice"),
    (["run", TASK, "--data", "x.csv", "--role", "alive"], "not COLUMN=ROLE"),
])
def test_parse_errors_exit_2(argv: list[str], message: str,
                             capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.parse_args(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


# --------------------------------------------------------------------------- data name


@pytest.mark.parametrize("path, name", [
    ("titanic.csv", "titanic"),
    ("data/Titanic.CSV", "titanic"),
    ("my-data 2.csv", "my_data_2"),
    ("sales.2024.parquet", "sales_2024"),
    ("census.csv.gz", "census"),
    ("--weird--name--.csv", "weird_name"),
    ("2024_sales.csv", "data_2024_sales"),
    ("class.csv", "data_class"),
    ("match.csv", "data_match"),
    ("list.csv", "data_list"),
    ("pipeline.parquet", "data_pipeline"),
    ("y.csv", "data_y"),
    ("é.csv", "data"),
    ("___.csv", "data"),
])
def test_derive_data_name(path: str, name: str) -> None:
    assert cli.derive_data_name(path) == name
    assert cli.derive_data_name(path).isidentifier()


# --------------------------------------------------------------------------- loading


def test_load_csv(titanic_csv: Path) -> None:
    data = cli.load_data(titanic_csv)
    assert data.shape == (891, 15)
    assert "survived" in data.columns


def test_load_parquet_compressed_csv_and_tsv(tmp_path: Path, titanic_df: pd.DataFrame) -> None:
    parquet = tmp_path / "titanic.parquet"
    titanic_df.to_parquet(parquet)
    pd.testing.assert_frame_equal(cli.load_data(parquet), titanic_df)
    gz = tmp_path / "titanic.csv.gz"
    titanic_df.to_csv(gz, index=False)
    pd.testing.assert_frame_equal(cli.load_data(gz), titanic_df)
    tsv = tmp_path / "titanic.tsv"
    titanic_df.to_csv(tsv, index=False, sep="\t")
    pd.testing.assert_frame_equal(cli.load_data(tsv), titanic_df)


@pytest.mark.parametrize("name, content, needle", [
    ("notes.txt", b"a,b\n1,2\n", "unsupported file type"),
    ("notes.tsv", b"a\tb\n1\t2\n1\t2\t3\t4\n", "Expected 2 fields"),
    ("empty.csv", b"", "empty"),
    ("header_only.csv", b"a,b\n", "0 rows"),
    ("ragged.csv", b"a,b\n1,2\n1,2,3,4\n", "Expected 2 fields"),
    ("latin1.csv", "name,city\nJosé,Zürich\n".encode("latin-1"), "not UTF-8"),
    ("broken.parquet", b"this is not parquet", "cannot read"),
])
def test_load_errors(tmp_path: Path, name: str, content: bytes, needle: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(Text2MLError) as error:
        cli.load_data(path)
    message = str(error.value)
    assert needle in message
    assert "\n" not in message


def test_load_missing_and_directory(tmp_path: Path) -> None:
    with pytest.raises(Text2MLError, match="data file not found"):
        cli.load_data(tmp_path / "missing.csv")
    (tmp_path / "folder.csv").mkdir()
    with pytest.raises(Text2MLError, match="not a file"):
        cli.load_data(tmp_path / "folder.csv")


# ------------------------------------------------------------- error paths, as a user sees them


def test_missing_file_exits_2(tmp_path: Path) -> None:
    proc = run_cli("run", TASK, "--data", "nowhere/titanic.csv", cwd=tmp_path)
    assert_one_line_error(proc, "data file not found", "nowhere/titanic.csv")
    assert proc.stdout == ""


def test_bad_extension_exits_2(tmp_path: Path) -> None:
    (tmp_path / "titanic.xlsx").write_bytes(b"PK\x03\x04")
    proc = run_cli("run", TASK, "--data", "titanic.xlsx", cwd=tmp_path)
    assert_one_line_error(proc, "unsupported file type", ".csv")


def test_unreadable_csv_exits_2(tmp_path: Path) -> None:
    (tmp_path / "bad.csv").write_bytes(b"a,b\n1,2\n1,2,3,4\n")
    proc = run_cli("run", TASK, "--data", "bad.csv", cwd=tmp_path)
    assert_one_line_error(proc, "cannot read", "bad.csv")


def test_unwritable_out_exits_2_before_the_run(tmp_path: Path, titanic_csv: Path) -> None:
    (tmp_path / "taken").write_text("a file, not a folder")
    (tmp_path / "result.ipynb").mkdir()
    for out in ("taken/result.ipynb", "result.ipynb"):
        proc = run_cli("run", TASK, "--data", str(titanic_csv), "--out", out, cwd=tmp_path)
        assert_one_line_error(proc, "cannot write", out)
        assert "Understanding" not in proc.stdout  # the engine never started


def test_usage_error_exits_2(tmp_path: Path) -> None:
    proc = run_cli("run", TASK, "--data", "x.csv", "--out", "result.html", cwd=tmp_path)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "must end in .ipynb" in proc.stderr


# ------------------------------------------------------------- the work, with a stand-in engine


@dataclass
class FakeEvent:
    kind: str
    message: str = ""
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class FakeSpec:
    def summary(self) -> str:
        return "Target: survived (binary)\nMetric: F1, maximize"

    def metric_label(self) -> str:
        return "F1"


@dataclass
class FakeResult:
    data_name: str
    spec: FakeSpec = field(default_factory=FakeSpec)
    best_score: float = 0.78125
    metric: str = "f1"
    n_trials: int = 12
    elapsed: float = 3.25
    run_id: str = "fake"
    run_dir: Path = Path(".text2ml/fake")
    cells: list[Any] = field(default_factory=list)
    code: str = "pipeline = None\n"


@pytest.fixture
def fake_engine(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Replace ``text2ml_jupyter.engine`` with a stand-in; returns what it was called with."""
    calls: dict[str, Any] = {}

    def run(task: str, data: pd.DataFrame, **kwargs: Any) -> FakeResult:
        calls.update(task=task, data=data, **kwargs)
        if calls.get("raise_error"):
            raise calls["raise_error"]
        on_event = kwargs["on_event"]
        on_event(FakeEvent("stage", "Understanding the task"))
        on_event(FakeEvent("spec", FakeSpec().summary(), {"spec": FakeSpec()}))
        on_event(FakeEvent("trial", ""))
        on_event(FakeEvent("trial", "trial 1: F1 0.7500"))
        return FakeResult(data_name=kwargs["data_name"])

    module = types.ModuleType("text2ml_jupyter.engine")
    module.run = run  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "text2ml_jupyter.engine", module)
    return calls


def test_run_command_prints_progress_spec_and_score(fake_engine: dict[str, Any],
                                                    titanic_csv: Path) -> None:
    options = cli.parse_args(["run", TASK, "--data", str(titanic_csv), "--budget", "5",
                              "--seed", "3", "--candidates", "2", "--target", "survived"])
    out = io.StringIO()
    assert cli.run_command(options, stdout=out) == 0
    text = out.getvalue()
    assert text.splitlines()[1:] == [
        "Understanding the task",
        "Task as understood:",  # the spec once, indented, not its message again
        "  Target: survived (binary)",
        "  Metric: F1, maximize",
        "trial 1: F1 0.7500",  # empty messages skipped
        "Best F1: 0.7812; 12 trials in 3.2 s",
        "Run folder: .text2ml/fake",
    ]
    assert text.startswith(f"Data: {titanic_csv} (891 rows, 15 columns) as titanic; budget 5 s\n")
    assert fake_engine["task"] == TASK
    assert fake_engine["data"].shape == (891, 15)
    assert {k: fake_engine[k] for k in ("time_budget", "seed", "candidates", "target",
                                        "metric", "data_name", "run_dir")} == {
        "time_budget": 5.0, "seed": 3, "candidates": 2, "target": "survived",
        "metric": None, "data_name": "titanic", "run_dir": None}


def test_run_command_quiet(fake_engine: dict[str, Any], titanic_csv: Path) -> None:
    options = cli.parse_args(["run", TASK, "--data", str(titanic_csv), "--quiet"])
    out = io.StringIO()
    assert cli.run_command(options, stdout=out) == 0
    lines = out.getvalue().splitlines()
    assert lines == ["Best F1: 0.7812; 12 trials in 3.2 s", "Run folder: .text2ml/fake"]
    assert not any("trial 1" in line or "Target:" in line for line in lines)


def test_engine_error_is_one_message(fake_engine: dict[str, Any], titanic_csv: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    fake_engine["raise_error"] = Text2MLError("Unknown metric 'speed'.", "Use one of: f1.")
    code = cli.main(["run", TASK, "--data", str(titanic_csv), "--metric", "speed"])
    assert code == 2
    err = capsys.readouterr().err
    assert err == "error: Unknown metric 'speed'.\nHow to fix: Use one of: f1.\n"


def test_final_score_line_without_a_finished_trial() -> None:
    result = FakeResult(data_name="titanic", best_score=float("nan"), n_trials=0, elapsed=1.04)
    assert cli.final_score_line(result) == "Best F1: n/a; 0 trials in 1.0 s"


@dataclass
class FakeCell:
    kind: str
    source: str


def test_notebook_cells_order() -> None:
    load = FakeCell("code", "import pandas as pd\ntitanic = pd.read_csv('t.csv')")
    summary, code = FakeCell("markdown", "# Result"), FakeCell("code", "pipeline = 1")
    result = FakeResult(data_name="titanic", cells=[summary, code])
    assert cli.notebook_cells(result, load) == [summary, load, code]
    result = FakeResult(data_name="titanic", cells=[code])
    assert cli.notebook_cells(result, load) == [load, code]


def test_program_source_is_load_then_code() -> None:
    load = FakeCell("code", "import pandas as pd\ntitanic = pd.read_csv('t.csv')\n")
    result = FakeResult(data_name="titanic", code="\nprint(titanic.shape)\n")
    source = cli.program_source(result, load, "t.csv")
    assert source == ("import pandas as pd\ntitanic = pd.read_csv('t.csv')\n\n\n"
                      "print(titanic.shape)\n")
    compile(source, "program.py", "exec")


# ------------------------------------------------------------- end to end, with the real engine


@pytest.mark.slow
@pytest.mark.timeout(420)
def test_end_to_end_titanic(tmp_path: Path, titanic_csv: Path) -> None:
    """``text2ml run`` on the shipped Titanic data writes a valid notebook and program."""
    import nbformat

    proc = run_cli("run", TASK, "--data", str(titanic_csv), "--budget", "15",
                   "--out", "tmp/result.ipynb", "--out", "tmp/result.py",
                   "--run-dir", "run", cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    assert "Task as understood:" in proc.stdout
    assert "survived" in proc.stdout
    match = re.search(r"^Best F1[^:]*: (\d\.\d{4}) .*; (\d+) trials in ", proc.stdout, re.MULTILINE)
    assert match, proc.stdout
    assert 0.5 < float(match.group(1)) <= 1.0  # a real model, not a constant guess
    assert int(match.group(2)) >= 1

    folder = re.search(r"^Run folder: (.+)$", proc.stdout, re.MULTILINE)
    assert folder and (tmp_path / folder.group(1)).is_dir()
    assert Path(folder.group(1)).parts[0] == "run"  # --run-dir was honoured

    notebook_path = tmp_path / "tmp" / "result.ipynb"
    assert f"Notebook: {Path('tmp/result.ipynb')}" in proc.stdout
    nb = nbformat.read(notebook_path, as_version=4)
    nbformat.validate(nb)
    assert nb.cells and nb.cells[0].cell_type == "markdown"  # the run's summary first
    run_ids = set()
    for cell in nb.cells:
        meta = cell.metadata.get("text2ml")
        assert isinstance(meta, dict) and meta.get("role"), cell
        run_ids.add(meta.get("run"))
        assert "text2ml" in cell.metadata.get("tags", [])
    assert len(run_ids) == 1 and None not in run_ids
    assert nb.cells[1].metadata["text2ml"]["role"] == "load"  # then the data, by name
    assert "titanic = pd.read_csv(" in nb.cells[1].source
    json.loads(notebook_path.read_text(encoding="utf-8"))  # plain JSON on disk

    program_path = tmp_path / "tmp" / "result.py"
    program = program_path.read_text(encoding="utf-8")
    compile(program, str(program_path), "exec")
    assert "titanic" in program
    # The program loads the data by absolute path, so it runs from any working directory.
    reads = [node.args[0].value for node in ast.walk(ast.parse(program))
             if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "read_csv"
             and node.args and isinstance(node.args[0], ast.Constant)]
    assert reads == [str(titanic_csv.resolve())]
