"""Writing a run's cells back into a notebook, the same way everywhere.

A run's cells are inserted below the ``%%text2ml`` cell they came from (the *anchor*).
Each carries ``{"text2ml": {"run", "role", "anchor", "digest"}}`` metadata and the tag
``text2ml``; ``digest`` is a hash of the source as generated, so a cell the user edited is
recognised and kept. Running the anchor again replaces exactly its unedited cells.

The JupyterLab extension (labextension/src/insert.ts) applies these rules to the live
notebook; :func:`apply_cells` applies them to an ``nbformat`` notebook (headless runs).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

# The output MIME type that carries a run's cells (read by the headless runner).
CELLS_MIME = "application/vnd.text2ml.cells+json"


def digest(source: str) -> str:
    """FNV-1a, 32 bits, over the UTF-8 bytes: tiny, and the same in TypeScript."""
    value = 0x811C9DC5
    for byte in source.encode("utf-8"):
        value = ((value ^ byte) * 0x01000193) & 0xFFFFFFFF
    return f"{value:08x}"


def cell_payloads(cells: Sequence[Any], *, run_id: str, anchor: str | None) -> list[dict]:
    """The run's cells as nbformat-shaped dicts with their text2ml metadata."""
    payloads = []
    for cell in cells:
        source = cell.source.rstrip("\n")
        payloads.append({
            "cell_type": "markdown" if cell.kind == "markdown" else "code",
            "source": source,
            "metadata": {"text2ml": {"run": run_id, "role": cell.role, "anchor": anchor or "",
                                     "digest": digest(source)},
                         "tags": ["text2ml"]},
        })
    return payloads


def combined_source(cells: Sequence[Any], *, run_id: str) -> str:
    """All code cells as one cell, for front ends without the extension
    (IPython's ``set_next_input``)."""
    parts = [f"# text2ml run {run_id}: the generated pipeline (edit freely)."]
    parts += [cell.source.rstrip("\n") for cell in cells if cell.kind == "code"]
    return "\n\n".join(parts) + "\n"


def _source(cell: Any) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def _anchor_of(cell: Any) -> str | None:
    meta = cell.get("metadata", {}).get("text2ml")
    return meta.get("anchor") if isinstance(meta, dict) else None


def is_edited(cell: Any) -> bool:
    """True when a generated cell's source no longer matches what was generated."""
    return digest(_source(cell)) != cell["metadata"]["text2ml"].get("digest")


@dataclass
class Applied:
    """What :func:`apply_cells` did."""

    inserted: int
    removed: int
    kept: int  # generated cells the user edited, left in place


def apply_cells(nb: Any, anchor: str, payloads: Sequence[dict], *,
                fallback_index: int | None = None) -> Applied:
    """Insert ``payloads`` into ``nb`` below the anchor cell, replacing that anchor's
    unedited generated cells. Cells of other anchors and user cells are never touched.

    The new cells go where the first removed cell was, else right after the anchor;
    without the anchor cell, after ``fallback_index`` or at the end.
    """
    import nbformat.v4 as v4

    cells = nb.cells
    removed_at: int | None = None
    removed = kept = 0
    index = 0
    while index < len(cells):
        cell = cells[index]
        if anchor and _anchor_of(cell) == anchor:
            if is_edited(cell):
                kept += 1
            else:
                removed_at = index if removed_at is None else removed_at
                del cells[index]
                removed += 1
                continue
        index += 1
    if removed_at is not None:
        position = removed_at
    else:
        ids = [c.get("id") for c in cells]
        if anchor and anchor in ids:
            position = ids.index(anchor) + 1
        elif fallback_index is not None:
            position = min(fallback_index + 1, len(cells))
        else:
            position = len(cells)
    for offset, payload in enumerate(payloads):
        make = v4.new_markdown_cell if payload["cell_type"] == "markdown" else v4.new_code_cell
        cells.insert(position + offset, make(payload["source"], metadata=payload["metadata"]))
    return Applied(inserted=len(payloads), removed=removed, kept=kept)


def describe(applied: Applied) -> str:
    """One line for the output: what happened to the notebook."""
    if not (applied.inserted or applied.removed or applied.kept):
        return "The run's cells in the notebook are unchanged."

    def cells(n: int) -> str:
        return f"{n} cell{'' if n == 1 else 's'}"

    text = f"Inserted {cells(applied.inserted)} below the %%text2ml cell"
    if applied.removed:
        text += f", replacing {cells(applied.removed)} of its previous run"
    text += "."
    if applied.kept:
        text += (f" {applied.kept} generated cell{'s' if applied.kept > 1 else ''} you "
                 "edited {} kept as you left {}; the new cells are beside {}.".format(
                     *(("were", "them", "them") if applied.kept > 1 else ("was", "it", "it"))))
    return text
