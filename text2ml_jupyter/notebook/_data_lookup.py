"""Finding the task's data in the kernel: a named variable, a variable the task text
mentions, the only DataFrame there is, or a CSV/Parquet file path."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import Text2MLError

# The files _datafile.load_data reads: CSV (optionally compressed), TSV,
# Parquet.
_PATH_IN_TEXT = re.compile(r"""[\w./~\\-]+\.(?:csv(?:\.(?:gz|bz2|zip|xz|zst))?|tsv(?:\.gz)?"""
                           r"""|tab|parquet|pq)\b""", re.IGNORECASE)


# DataFrames the generated program defines (program.py): never guessed as the data.
_GENERATED = frozenset({"X", "data", "new_rows"})


@dataclass
class FoundData:
    """The data for a run and how the generated program should refer to it."""

    data: Any  # a DataFrame (read from the file when the data came from one)
    name: str  # the variable name the generated cells use
    origin: str  # for messages: "variable df", "file data/titanic.csv"
    path: str | None = None  # set when the data came from a file
    run_folder: str | None = None  # a finished run's folder, when resuming from disk


def _is_frame(value: Any) -> bool:
    import pandas as pd

    return isinstance(value, pd.DataFrame)


def frames_in(namespace: dict[str, Any]) -> dict[str, Any]:
    """The user's DataFrames: public names only (not IPython's _, __, _3, Out...)."""
    if not any(_looks_like_frame(v) for v in namespace.values()):
        return {}  # pandas not even imported by the user: do not import it here
    return {name: value for name, value in namespace.items()
            if not name.startswith("_") and _is_frame(value)}


def _looks_like_frame(value: Any) -> bool:
    return type(value).__name__ == "DataFrame"


def _listing(frames: dict[str, Any]) -> str:
    if not frames:
        return "There is no DataFrame in the kernel"
    return "DataFrames in the kernel: " + ", ".join(
        f"{name} ({value.shape[0]} rows x {value.shape[1]} columns)"
        for name, value in sorted(frames.items()))


def _table_fix(value: Any) -> str:
    """How to turn ``value`` into a DataFrame (an array needs column names, a Series is one
    column...), as the engine says it."""
    if type(value).__module__.split(".")[0] not in ("pandas", "numpy") \
            and not isinstance(value, (list, tuple, dict, str)):
        return "Pass a DataFrame, e.g. --data df after df = pd.DataFrame(...)."
    from .._input_checks import not_a_table

    return not_a_table(value).fix or ""


def _is_data_file(path_text: str) -> bool:
    from .._datafile import data_suffix

    return data_suffix(Path(path_text)) is not None


def _file(path_text: str) -> FoundData:
    from .._datafile import load_data
    from ..cli import derive_data_name

    path = Path(path_text).expanduser()
    if not path.is_file():
        raise Text2MLError(f"No data file at {path_text!r}.",
                           "Check the path (relative to the notebook's folder), or pass "
                           "the name of a DataFrame variable with --data NAME.")
    if not _is_data_file(str(path)):
        raise Text2MLError(f"Cannot read {path.name!r}: not a CSV, TSV or Parquet file.",
                           "Load it into a DataFrame first and pass --data NAME.")
    return FoundData(data=load_data(path), name=derive_data_name(path),
                     origin=f"file {path_text}", path=str(path))


def find_data(namespace: dict[str, Any], requested: str | None, task: str) -> FoundData:
    """Resolve the run's data, or raise ``Text2MLError`` listing what is there."""
    frames = frames_in(namespace)
    if requested:
        if requested in namespace:
            value = namespace[requested]
            if _is_frame(value):
                return FoundData(value, requested, f"variable {requested}")
            if isinstance(value, (str, Path)) and _is_data_file(str(value)):
                return _file(str(value))
            raise Text2MLError(
                f"--data {requested}: the variable {requested} is a "
                f"{type(value).__name__}, not a pandas DataFrame.",
                f"{_table_fix(value)} {_listing(frames)}.")
        if _is_data_file(requested) or "/" in requested:
            return _file(requested)
        raise Text2MLError(f"--data {requested}: there is no variable named {requested!r}.",
                           f"{_listing(frames)}. Run the cell that creates it first, or "
                           "pass a CSV/Parquet path.")
    # The generated cells define DataFrames of their own (X, data, new_rows); after they
    # ran, they are not candidates for the data (and "data" is a common word in tasks).
    frames = {n: v for n, v in frames.items() if n not in _GENERATED} or frames
    mentioned = [name for name in frames if re.search(rf"(?<![\w.]){re.escape(name)}\b", task)]
    if len(mentioned) == 1:
        name = mentioned[0]
        return FoundData(frames[name], name, f"variable {name} (named in the task)")
    if len(mentioned) > 1:
        raise Text2MLError(f"The task mentions several DataFrames: {', '.join(mentioned)}.",
                           f"Say which one with --data NAME, e.g. --data {mentioned[0]}.")
    paths = _PATH_IN_TEXT.findall(task)
    for candidate in paths:
        if Path(candidate).expanduser().is_file():
            return _file(candidate)
    if len(frames) == 1:
        name = next(iter(frames))
        return FoundData(frames[name], name, f"variable {name} (the only DataFrame)")
    if not frames and paths:
        return _file(paths[0])  # raises: say that the file the task names is not there
    if not frames:
        raise Text2MLError("There is no DataFrame in the kernel to learn from.",
                           "Load your data first (df = pd.read_csv('data.csv')), or pass a "
                           "file with --data path/to/data.csv.")
    raise Text2MLError(f"Several DataFrames could be the data: {', '.join(sorted(frames))}.",
                       f"Say which one with --data NAME, e.g. --data {sorted(frames)[0]}, "
                       "or name it in the task text.")
