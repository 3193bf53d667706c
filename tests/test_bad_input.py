"""Bad input gets a clear message: ``Text2MLError`` (a ``UsageError`` in the magic) saying
what is wrong and how to fix it, never a traceback from pandas, scikit-learn or a worker.

Input that is usable after all (empty or constant columns, mixed types, thousands of
levels) works and says what was done in a note. Most cases fail before any worker starts,
so the file is fast; the one real run is marked slow.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from _shells import usage_error
from IPython.core.interactiveshell import InteractiveShell

import text2ml_jupyter
from text2ml_jupyter.errors import Text2MLError
from text2ml_jupyter.evaluation import choose_evaluation
from text2ml_jupyter.spec import (
    CATEGORICAL,
    CONSTANT,
    EMPTY,
    IDENTIFIER,
    MIXED,
    TEXT,
    infer_spec,
    training_data,
)

N = 60


def frame(n: int = N, seed: int = 0, **extra: Any) -> pd.DataFrame:
    """A small classification table: a number, a category and the target ``y``."""
    rng = np.random.default_rng(seed)
    data = pd.DataFrame({"x": rng.normal(size=n), "c": rng.choice(list("abc"), n),
                         "y": rng.choice(["p", "q"], n)})
    for name, values in extra.items():
        data[name] = values
    return data


def with_y(values: Any, n: int = N) -> pd.DataFrame:
    data = frame(n)
    data["y"] = values
    return data


def spec_error(text: str, data: Any, **kwargs: Any) -> str:
    """The message of the Text2MLError that understanding the task (spec, evaluation)
    raises; the message must hold a fix and no traceback."""
    with pytest.raises(Text2MLError) as caught:
        spec = infer_spec(text, data, **kwargs)
        _, y = training_data(spec, data)
        choose_evaluation(y, classification=spec.is_classification)
    return _checked(caught.value)


def _checked(error: Text2MLError) -> str:
    message = str(error)
    assert error.fix and "\nHow to fix: " in message
    assert "Traceback" not in message and 'File "' not in message
    return message


def run_error(text: Any, data: Any, tmp_path: Path, **kwargs: Any) -> str:
    options = {"time_budget": 10, "n_workers": 1, "run_dir": tmp_path / "runs", **kwargs}
    with pytest.raises(Text2MLError) as caught:
        text2ml_jupyter.run(text, data, **options)
    return _checked(caught.value)


# ----------------------------------------------------------------- the task and the data
@pytest.mark.parametrize("text, data, kwargs, expected", [
    ("Hello there.", frame(), {}, ["Could not tell from the text which column to predict.",
                                   "target='y'"]),
    ("Predict the weather.", frame(), {},
     ["no column matches 'weather'", "Likely columns: 'y'"]),
    ("Predict y.", [1, 2, 3], {}, ["The data is a list, not a table", "pd.DataFrame(rows"]),
    ("Predict y.", {"a": 1, "y": 2}, {}, ["The data is a dict, not a table",
                                          "a dict of single values is one row"]),
    ("Predict y.", np.zeros((20, 3)), {}, ["The data is a NumPy array, not a table",
                                           "pd.DataFrame(array, columns="]),
    ("Predict y.", frame()["y"], {}, ["The data is a Series", "whole DataFrame"]),
    ("Predict y.", pd.DataFrame(), {}, ["The data has no rows or no columns (0 rows, "
                                        "0 columns)."]),
    ("Predict y.", frame().iloc[:0], {}, ["no rows or no columns (0 rows, 3 columns)"]),
    ("Predict y.", frame()[["y"]], {}, ["a single column ('y')", "at least two columns"]),
    ("Predict y.", with_y(["p", "q", "p"], 3), {},
     ["Only 3 usable rows: too few to train and validate", "at least 10 rows"]),
    ("Predict z.", frame(), {"target": "z"}, ["The target 'z' is not a column",
                                              "closest first"]),
    ("Predict y.", frame(), {"target": ["y"]}, ["target=['y'] is not a column name."]),
    ("Predict y.", with_y(np.nan), {}, ["The target column 'y' has no values (all "
                                        "missing)."]),
    ("Predict y.", with_y("p"), {}, ["The target 'y' has a single value ('p') in every "
                                     "row"]),
    ("Predict y.", with_y(["p"] * (N - 5) + [np.nan] * 5), {}, ["single value ('p')"]),
    ("Predict y.", with_y(["p"] * (N - 1) + ["q"]), {},
     ["The class 'q' of the target has a single example",
      "data[data['y'].map(data['y'].value_counts()) > 1]"]),
    ("Predict y.", with_y(["p", "q"] * 25 + ["r", "s", "t"] + ["p"] * 7), {},
     ["The classes 'r', 's', 't' of the target have a single example"]),
    ("Predict y.", pd.DataFrame([[1, 2, 3]] * 20, columns=["x", "x", "y"]), {},
     ["Duplicate column names: 'x'."]),
    ("Predict y.", pd.DataFrame(np.ones((20, 3))), {}, ["Column names must be text; 0, 1, 2 "
                                                        "are not", "data.columns ="]),
    ("Predict y.", with_y([1, "a"] * (N // 2)), {},
     ["The target 'y' mixes numbers and text (1, 'a')", ".astype(str)"]),
    ("Predict y.", with_y([[1], [2]] * (N // 2)), {}, ["The target 'y' holds list values"]),
    ("Predict y.", with_y(pd.Series([True, False, None] * (N // 3), dtype=object)), {},
     ["The target 'y' holds True/False values stored as Python objects",
      "data = data.dropna(subset=['y']).astype({'y': bool})"]),
    ("Predict y.", with_y(pd.Series([1, 2, 3, None] * (N // 4), dtype=object)), {},
     ["holds whole numbers stored as Python objects", ".astype({'y': int})"]),
    ("Predict y.", frame(x=[np.inf, -np.inf, 1.0] * (N // 3)), {},
     ["Infinite values (inf or -inf) in 'x' (40 rows)", "replace([np.inf, -np.inf], np.nan)"]),
    ("Predict y.", with_y([np.inf, 1.0, 2.0, 3.5] * (N // 4)), {},
     ["The target 'y' is infinite (inf or -inf) in 15 rows."]),
    ("Predict y.", pd.DataFrame({"id": range(N), "y": ["p", "q"] * (N // 2)}), {},
     ["No column is left to learn 'y' from: 'id' (identifier)", "roles={'id':"]),
    ("Predict y.", pd.DataFrame({"e": [np.nan] * N, "y": ["p", "q"] * (N // 2)}), {},
     ["No column is left to learn 'y' from: 'e' (empty)"]),
    ("Predict y.", frame(), {"metric": "nope"}, ["Unknown metric 'nope'.", "roc_auc"]),
    ("Predict y.", frame(), {"metric": "rmse"},
     ["The metric RMSE does not fit a binary task (RMSE scores regression)."]),
    ("Predict y, optimize ROC AUC.", with_y(np.linspace(0, 1, N)), {},
     ["The metric ROC AUC does not fit a regression task", "rmse, mae, r2"]),
    ("Cluster the customers into segments.", frame(), {},
     ["Clustering (grouping rows without a target) is not supported yet"]),
    ("Forecast y for the next 7 days.", frame(), {},
     ["Forecasting a time series is not supported yet", "next 7 days"]),
    ("Classify the images of cats.", frame(path=[f"img{i}.png" for i in range(N)]), {},
     ["Learning from images is not supported yet"]),
    ("Predict y.", frame(), {"roles": {"c": "numeric"}},
     ["roles makes 'c' numeric, but it holds", "pd.to_numeric"]),
    ("Predict the when.", frame(when=pd.date_range("2020", periods=N)), {"target": "when"},
     ["holds dates; predicting dates is not supported yet"]),
])
def test_bad_task_or_data_is_explained(text: str, data: Any, kwargs: dict[str, Any],
                                       expected: list[str]) -> None:
    message = spec_error(text, data, **kwargs)
    for part in expected:
        assert part in message


def test_a_column_that_cannot_be_a_target_says_why() -> None:
    data = frame(customer_notes=[f"free text number {i} with several words" for i in range(N)])
    message = spec_error("Predict the notes.", data)
    assert message.startswith("The text asks to predict 'customer_notes', but it holds free "
                              "text.")
    # Named plainly, the column is tried, and its values say what is wrong.
    message = spec_error("Predict y.", data, target="customer_notes")
    assert message.startswith(f"The target 'customer_notes' has {N} distinct values, {N} of "
                              "them seen only once: it looks like an identifier or free text")
    data = frame(order_id=[f"o{i}" for i in range(N)])
    message = spec_error("Predict the order.", data)
    assert message.startswith("The text asks to predict 'order_id', but it looks like an "
                              "identifier")
    data = frame(m=[str(i) for i in range(N - 2)] + ["oops", "n/a"])
    message = spec_error("Predict m.", data)
    assert message.startswith("The target 'm' holds numbers and, in a few rows, text ('oops', "
                              "'n/a').")
    assert "pd.to_numeric(data['m'], errors='coerce')" in message


# ---------------------------------------------------------------- usable, with a note
def test_empty_and_constant_columns_are_dropped_with_a_note() -> None:
    spec = infer_spec("Predict y.", frame(e=np.nan, k=3, s=["same"] * (N - 1) + [None]))
    assert (spec.columns["e"], spec.columns["k"], spec.columns["s"]) == (EMPTY, CONSTANT,
                                                                         CONSTANT)
    assert "Excluded 'e': all its values are missing." in spec.notes
    assert "Excluded 'k': it holds a single value (3)." in spec.notes
    assert "Excluded 's': it holds a single value ('same') besides missing values." \
        in spec.notes
    assert spec.features == ["x", "c"]


def test_mixed_types_are_categories_or_left_out_with_a_note() -> None:
    codes = [1, 2, "unknown"] * (N // 3)
    spec = infer_spec("Predict y.", frame(m=codes))
    assert spec.columns["m"] == CATEGORICAL
    assert "'m' holds both numbers and text (1, 'unknown'): its values are used as " \
           "categories." in spec.notes
    # Numbers with a stray text value (a CSV column with one typo) cannot be used as they
    # are: left out, with the line that converts them.
    dirty = [str(v) for v in np.random.default_rng(1).normal(size=N - 1)] + ["oops"]
    spec = infer_spec("Predict y.", frame(d=dirty))
    assert spec.columns["d"] == MIXED and "d" not in spec.features
    note = next(n for n in spec.notes if n.startswith("Excluded 'd'"))
    assert "text ('oops')" in note and "pd.to_numeric(data['d'], errors='coerce')" in note


def test_thousands_of_levels_are_encoded_like_text_or_left_out_as_an_id() -> None:
    rng = np.random.default_rng(0)
    n = 20_000
    data = pd.DataFrame({"x": rng.normal(size=n),
                         "shop": [f"shop{i}" for i in rng.integers(0, 10_000, n)],
                         "ref": [f"r{i}" for i in range(n - 50)] + ["r0"] * 50,
                         "y": rng.choice(["p", "q"], n)})
    spec = infer_spec("Predict y.", data)
    assert spec.columns["shop"] == TEXT
    assert any(n.startswith("'shop' has 8,6") and "encoded like text" in n
               for n in spec.notes)
    assert spec.columns["ref"] == IDENTIFIER
    assert "Excluded 'ref': an identifier (a different value in almost every row), not a " \
           "measurement." in spec.notes
    kept = infer_spec("Predict y.", data, roles={"shop": "categorical"})
    assert kept.columns["shop"] == CATEGORICAL
    assert not any("'shop' has" in n for n in kept.notes)


def test_a_column_of_an_unreadable_type_is_left_out_with_a_note() -> None:
    spec = infer_spec("Predict y.", frame(z=np.arange(N) * (1 + 2j)))
    assert "Excluded 'z': its values (complex128) are of a type no pipeline step reads." \
        in spec.notes


def test_a_dirty_numeric_column_can_be_made_numeric_by_the_suggested_line() -> None:
    data = frame(d=[str(v) for v in range(N - 1)] + ["oops"])
    data["d"] = pd.to_numeric(data["d"], errors="coerce")
    assert infer_spec("Predict y.", data).columns["d"] == "numeric"


# ------------------------------------------------------------------- run() options
@pytest.mark.parametrize("task, kwargs, expected", [
    ("Predict y.", {"time_budget": 0}, "time_budget=0 is not a positive number of seconds."),
    ("Predict y.", {"time_budget": -3}, "time_budget=-3 is not a positive number"),
    ("Predict y.", {"time_budget": float("nan")}, "time_budget=nan is not a positive"),
    ("Predict y.", {"time_budget": float("inf")}, "time_budget=inf is not a positive"),
    ("Predict y.", {"time_budget": "60"}, "time_budget='60' is not a positive number"),
    ("Predict y.", {"time_budget": True}, "time_budget=True is not a positive number"),
    ("Predict y.", {"time_budget": 2}, "time_budget=2 is too short: a run needs at least 5"),
    ("Predict y.", {"seed": -1}, "seed=-1 is not a whole number of at least 0"),
    ("Predict y.", {"seed": 1.5}, "seed=1.5 is not a whole number"),
    ("Predict y.", {"n_workers": 0}, "n_workers=0 is not a whole number of at least 1."),
    ("Predict y.", {"n_workers": "2"}, "n_workers='2' is not a whole number"),
    ("Predict y.", {"memory_limit_mb": 100}, "memory_limit_mb=100 is not a whole number of "
                                             "at least 1024."),
    ("Predict y.", {"candidates": True}, "candidates=True is not a whole number"),
    ("Predict y.", {"provider": 5}, "provider=5 is not a provider."),
    ("Predict y.", {"run_dir": 5}, "run_dir=5 is not a folder path."),
    ("Predict y.", {"target": 3}, "target=3 is not a name."),
    ("Predict y.", {"metric": ["f1"]}, "metric=['f1'] is not a name."),
    ("Predict y.", {"on_event": "print"}, "on_event='print' is not callable."),
    ("Predict y.", {"stop": True}, "stop=True is not a threading.Event."),
    ("Predict y.", {"data_name": "my data"}, "data_name='my data' is not a valid Python"),
    ("", {}, "The task is empty"),
    ("   ", {}, "The task is empty"),
    (None, {}, "The task is empty"),
    (42, {}, "The task is an int, not text."),
])
def test_bad_run_options_fail_before_anything_starts(tmp_path: Path, task: Any,
                                                     kwargs: dict[str, Any],
                                                     expected: str) -> None:
    message = run_error(task, frame(), tmp_path, **kwargs)
    assert expected in message
    assert not (tmp_path / "runs").exists()  # no run folder, hence no worker either


def test_swapped_arguments_and_text_that_is_no_file(tmp_path: Path) -> None:
    message = run_error(frame(), "Predict y.", tmp_path)
    assert message.startswith("The task is a DataFrame: the arguments look swapped.")
    message = run_error("Predict y.", "no such table", tmp_path)
    assert message.startswith("No data file at 'no such table'.")
    assert not (tmp_path / "runs").exists()


def test_data_files_are_read_like_the_command_line_reads_them(tmp_path: Path,
                                                              titanic_df) -> None:
    """run() reads the same files as `text2ml run` and `--data PATH` (one reader)."""
    from text2ml_jupyter.engine import _as_frame

    titanic_df.to_csv(tmp_path / "t.tsv", sep="\t", index=False)
    titanic_df.to_csv(tmp_path / "t.csv.gz", index=False)
    for name in ("t.tsv", "t.csv.gz"):
        pd.testing.assert_frame_equal(_as_frame(tmp_path / name), titanic_df)
    (tmp_path / "notes.txt").write_text("a,b\n1,2\n")
    message = run_error("Predict b.", tmp_path / "notes.txt", tmp_path)
    assert message.startswith("Cannot read 'notes.txt': not a CSV, TSV or Parquet file.")
    (tmp_path / "empty.csv").write_text("")
    assert "the file is empty" in run_error("Predict b.", tmp_path / "empty.csv", tmp_path)


@pytest.mark.parametrize("data, kwargs, expected", [
    (pd.DataFrame(), {}, "no rows or no columns"),
    ({"y": [1, 2]}, {}, "The data is a dict, not a table"),
    (pd.DataFrame(np.ones((20, 3))), {}, "Column names must be text"),
    (frame(), {"target": "nope"}, "The target 'nope' is not a column of the data."),
    (with_y(["p", "q", "p"], 3), {}, "Only 3 usable rows"),
    (with_y(["p"] * (N - 1) + ["q"]), {}, "The class 'q' of the target has a single example"),
    (frame(x=[np.inf, 1.0] * (N // 2)), {}, "Infinite values (inf or -inf) in 'x'"),
    (frame(), {"metric": "r2"}, "The metric R² does not fit a binary task"),
])
def test_run_reports_data_problems_as_text2ml_errors(tmp_path: Path, data: Any,
                                                     kwargs: dict[str, Any],
                                                     expected: str) -> None:
    assert expected in run_error("Predict y.", data, tmp_path, **kwargs)


@pytest.mark.slow
def test_usable_odd_columns_run_and_predict_with_notes(tmp_path: Path) -> None:
    data = frame(120, e=np.nan, k=3, m=[1, 2, "unknown"] * 40)
    result = text2ml_jupyter.run("Predict y.", data, time_budget=6, n_workers=1,
                                 run_dir=tmp_path)
    notes = result.spec.notes
    assert "Excluded 'e': all its values are missing." in notes
    assert "Excluded 'k': it holds a single value (3)." in notes
    assert any(n.startswith("'m' holds both numbers and text") for n in notes)
    pipeline = result.pipeline if result.pipeline is not None else result.load_pipeline()
    new_rows = data.drop(columns="y").head(7)
    assert len(pipeline.predict(new_rows)) == 7


# ------------------------------------------------------------------------ the magic
@pytest.fixture
def shell(make_shell, tmp_path: Path):
    """An InteractiveShell with the extension loaded and run folders in tmp."""
    sh = make_shell()
    assert sh.run_cell("%load_ext text2ml_jupyter").success
    assert sh.run_cell(f"%config Text2ML.run_dir = {str(tmp_path / 'runs')!r}").success
    assert sh.run_cell("%config Text2ML.n_workers = 1").success
    assert sh.run_cell("%config Text2ML.provider = 'offline'").success
    return sh


@pytest.mark.parametrize("cell, expected", [
    ("%%text2ml\n", ["The %%text2ml cell has no task."]),
    ("%%text2ml --data nope\nPredict y.", ["--data nope: there is no variable named 'nope'.",
                                          "df (60 rows x 3 columns)"]),
    ("%%text2ml --data rows\nPredict y.", ["the variable rows is a list, not a pandas "
                                          "DataFrame", "pd.DataFrame(rows"]),
    ("%%text2ml --data settings\nPredict y.", ["the variable settings is a dict",
                                              "pd.DataFrame(data)"]),
    ("%%text2ml --data array\nPredict y.", ["the variable array is a ndarray",
                                           "pd.DataFrame(array, columns="]),
    ("%%text2ml --data words\nPredict y.", ["the variable words is a str",
                                           "the path of a CSV or Parquet file"]),
    ("%%text2ml --data missing.csv\nPredict y.", ["No data file at 'missing.csv'."]),
    ("%%text2ml --budget nan\nPredict y.", ["'nan' is not a positive number of seconds"]),
    ("%%text2ml --budget abc\nPredict y.", ["'abc' is not a number of seconds"]),
    ("%%text2ml --budget 0\nPredict y.", ["'0' is not a positive number of seconds"]),
    ("%%text2ml --budget -4\nPredict y.", ["'-4' is not a positive number of seconds"]),
])
def test_magic_input_errors_stop_before_the_engine(shell: InteractiveShell,
                                                   capsys: pytest.CaptureFixture[str],
                                                   tmp_path: Path, cell: str,
                                                   expected: list[str]) -> None:
    shell.user_ns.update(df=frame(), rows=[1, 2], settings={"a": 1},
                         array=np.zeros((4, 2)), words="hello")
    message = usage_error(shell, cell, capsys)
    for part in expected:
        assert part in message
    assert not (tmp_path / "runs").exists() and "pipeline" not in shell.user_ns


@pytest.mark.parametrize("cell, data, expected", [
    ("%%text2ml --data empty\nPredict y.", pd.DataFrame(), "The data has no rows or no "
                                                           "columns"),
    ("%%text2ml --data df --budget 2\nPredict y.", frame(), "too short: a run needs at "
                                                            "least 5 seconds"),
    ("%%text2ml --data df --budget 10\nHello there.", frame(),
     "Could not tell from the text which column to predict."),
    ("%%text2ml --data df --budget 10 --target nope\nPredict y.", frame(),
     "The target 'nope' is not a column of the data."),
    ("%%text2ml --data df --budget 10 --metric rmse\nPredict y.", frame(),
     "The metric RMSE does not fit a binary task"),
    ("%%text2ml --data df --budget 10 --metric nope\nPredict y.", frame(),
     "Unknown metric 'nope'."),
    ("%%text2ml --data df --budget 10\nPredict y.", with_y("p"), "single value ('p')"),
    ("%%text2ml --data df --budget 10\nCluster the rows into groups.", frame(),
     "Clustering (grouping rows without a target) is not supported yet"),
])
def test_magic_reports_engine_input_errors_plainly(shell: InteractiveShell,
                                                   capsys: pytest.CaptureFixture[str],
                                                   cell: str, data: pd.DataFrame,
                                                   expected: str) -> None:
    shell.user_ns.update(df=data, empty=data)
    assert expected in usage_error(shell, cell, capsys)
    assert "pipeline" not in shell.user_ns
