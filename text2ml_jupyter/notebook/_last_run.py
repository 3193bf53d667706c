"""What ``%text2ml resume / show / export`` know of the last run: in memory
(``LastRun``), and in the run folder's notebook.json for after a kernel restart."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._data_lookup import FoundData


@dataclass
class LastRun:
    """What ``%text2ml resume / show / export`` need of the last run."""

    result: Any
    found: FoundData
    anchor: str
    progress: Any = None
    extra_cells: list[Any] = field(default_factory=list)  # the data-loading cell for files


NOTEBOOK_JSON = "notebook.json"  # in the run folder: what resume needs after a restart


def remember_in(folder: Path, found: FoundData, anchor: str, pipeline_name: str) -> None:
    """notebook.json: which cell started the run and on which data, for a resume after a
    kernel restart."""
    from .._runfolder import write_atomic

    write_atomic(folder / NOTEBOOK_JSON, json.dumps(
        {"anchor": anchor, "data_name": found.name, "data_path": found.path,
         "pipeline_name": pipeline_name}))


def last_on_disk(run_dir: Path) -> LastRun | None:
    """The newest run a notebook started in ``run_dir`` that got as far as its search
    (after a restart; also a run killed mid-search). A run that stopped before its search
    has nothing to resume and is passed over; a damaged one raises ``Text2MLError``
    naming the file, so the user is told instead of resuming something else."""
    from .._runfolder import RunFolder, damaged

    folders = sorted((p.parent for p in run_dir.glob(f"*/{NOTEBOOK_JSON}")),
                     key=lambda p: p.name, reverse=True)
    for path in folders:
        folder = RunFolder(path, path.name)
        if not folder.reached_search():
            continue
        notebook = folder.load_saved().notebook or {}
        name, data_path = notebook.get("data_name"), notebook.get("data_path")
        anchor = notebook.get("anchor", "")
        if not (isinstance(name, str) and name.isidentifier() and isinstance(anchor, str)
                and isinstance(data_path, (str, type(None)))):
            raise damaged(path, f"{NOTEBOOK_JSON} does not name the run's data")
        found = FoundData(None, name, f"file {data_path}" if data_path else f"variable {name}",
                          data_path, run_folder=str(path))
        try:
            extra = load_cells(found)
        except ValueError as exc:  # a data path no generated cell can load
            raise damaged(path, f"{NOTEBOOK_JSON} names unusable data ({exc})") from None
        return LastRun(None, found, anchor, None, extra)
    return None


def load_cells(found: FoundData) -> list[Any]:
    if not found.path:
        return []
    from ..program import load_cell

    return [load_cell(found.name, found.path)]


def with_extra(cells: list[Any], extra: list[Any]) -> list[Any]:
    """The data-loading cell goes after the markdown summary."""
    if not extra:
        return list(cells)
    if cells and cells[0].kind == "markdown":
        return [cells[0], *extra, *cells[1:]]
    return [*extra, *cells]
