"""Executing a notebook without a browser (nbclient), with text2ml's cells written back.

Cells run in order in a real kernel. After a ``%%text2ml`` cell, the cells its output
carries (``writeback.CELLS_MIME``) are inserted below it by the same rules as the
JupyterLab extension, and then run like any other cell, so the executed notebook shows
the generated pipeline working. The result is validated (``nbformat.validate``) and
written atomically, and only when every cell ran: a failing cell, a cell past its time
limit or a dead kernel leave the output file as it was.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import Text2MLError
from .writeback import CELLS_MIME, Applied, apply_cells, is_edited


@dataclass
class Executed:
    """What :func:`execute_notebook` did."""

    path: Path
    n_cells: int
    insertions: list[Applied] = field(default_factory=list)
    summaries: list[str] = field(default_factory=list)  # the runs' plain-text summaries


def _payload(cell: Any) -> tuple[dict[str, Any], str] | None:
    for output in cell.get("outputs", []):
        data = output.get("data", {})
        if CELLS_MIME in data:
            return data[CELLS_MIME], data.get("text/plain", "")
    return None


def _generated(nb: Any, key: str, value: str) -> list[Any]:
    return [c for c in nb.cells if isinstance(c.get("metadata", {}).get("text2ml"), dict)
            and c.metadata["text2ml"].get(key) == value]


def _anchor(nb: Any, cell: Any, payload: dict[str, Any]) -> str:
    """The %%text2ml cell the cells belong to: the one the kernel named, else the one
    whose cells came from the same run (``%text2ml resume`` keeps the run id), else the
    cell that produced them."""
    ids = {c.get("id") for c in nb.cells}
    if payload.get("anchor") and payload["anchor"] in ids:
        return payload["anchor"]
    same_run = _generated(nb, "run", payload.get("run") or "")
    if same_run and same_run[0].metadata["text2ml"].get("anchor") in ids:
        return same_run[0].metadata["text2ml"]["anchor"]
    return cell.get("id") or ""


def _unchanged(nb: Any, anchor: str, payload: dict[str, Any]) -> bool:
    """True when the anchor's unedited cells are already exactly these (same run)."""
    current = [c for c in _generated(nb, "anchor", anchor) if not is_edited(c)] if anchor \
        else []
    return bool(current) and [(c.metadata["text2ml"].get("run"), c.source) for c in current] \
        == [(p["metadata"]["text2ml"].get("run"), p["source"]) for p in payload["cells"]]


def execute_notebook(path: str | os.PathLike[str], out: str | os.PathLike[str] | None = None,
                     *, timeout: float = 900, kernel_name: str = "python3",
                     cwd: str | os.PathLike[str] | None = None) -> Executed:
    """Run the notebook at ``path`` and write the executed copy to ``out`` (default: in
    place). Raises ``Text2MLError`` naming the cell when one fails."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import (
        CellExecutionError,
        CellTimeoutError,
        DeadKernelError,
    )

    source = Path(path)
    try:
        nb = nbformat.read(source, as_version=4)
    except (OSError, ValueError) as exc:
        raise Text2MLError(f"Cannot read the notebook {str(source)!r}: {exc}",
                           "Check the path; it must be a Jupyter .ipynb file.") from None
    if nb.nbformat_minor < 5:  # cells got ids (the write-back's anchors) in nbformat 4.5
        nbformat.v4.upgrade(nb, from_version=4, from_minor=nb.nbformat_minor)
    folder = Path(cwd) if cwd else source.resolve().parent
    client = NotebookClient(nb, timeout=timeout, kernel_name=kernel_name,
                            resources={"metadata": {"path": str(folder)}})
    done = Executed(Path(out) if out else source, 0)
    with client.setup_kernel():
        index = 0
        while index < len(nb.cells):
            cell = nb.cells[index]
            # The number counts inserted cells, so quote the cell too.
            where = f"Cell {index + 1} ({_first_line(cell)}) of {source.name}"
            try:
                client.execute_cell(cell, index)
            except CellExecutionError as exc:
                # ename/evalue: the traceback text is empty for a UsageError and has ANSI
                # colours otherwise.
                raise Text2MLError(f"{where} failed: {exc.ename}: {exc.evalue}",
                                   "Open the notebook, fix that cell and run it again.") from None
            except CellTimeoutError:
                raise Text2MLError(f"{where} did not finish within {timeout:g} s; nothing "
                                   "was written.", "Give it more time (--timeout SECONDS) "
                                   "or a smaller --budget.") from None
            except DeadKernelError:
                raise Text2MLError(f"The kernel died while running {where[0].lower()}"
                                   f"{where[1:]}; nothing was written.",
                                   "Check the memory that cell needs, then run the notebook "
                                   "again.") from None
            found = _payload(cell)
            if found is not None:
                payload, summary = found
                anchor = _anchor(nb, cell, payload)
                for item in payload["cells"]:
                    item["metadata"]["text2ml"]["anchor"] = anchor
                if _unchanged(nb, anchor, payload):  # a resume that kept the best pipeline
                    done.insertions.append(Applied(0, 0, 0))
                else:
                    done.insertions.append(apply_cells(nb, anchor, payload["cells"],
                                                       fallback_index=index))
                done.summaries.append(summary)
                # Cells inserted above (a resume rewrites its %%text2ml cell's) shift it.
                index = next(i for i, c in enumerate(nb.cells) if c is cell)
            index += 1
    done.n_cells = len(nb.cells)
    _write(nb, done.path)
    return done


def _first_line(cell: Any) -> str:
    return (cell.source.strip().splitlines() or [""])[0][:60]


def _write(nb: Any, path: Path) -> None:
    """Validate, then write atomically (``program.write_notebook``); a problem is one line."""
    import nbformat

    from ..program import write_notebook

    try:
        write_notebook(nb, path)
    except nbformat.ValidationError as exc:
        raise Text2MLError(f"The executed notebook is not valid "
                           f"({str(exc).splitlines()[0]}); {path} was not written.",
                           "Report this as a bug, with the notebook.") from None
    except OSError as exc:
        raise Text2MLError(f"Cannot write {str(path)!r}: {exc.strerror or exc}.",
                           "Check that its folder exists and is writable.") from None
