"""The notebooks the project ships run headless from top to bottom.

Each ``notebooks/*.ipynb`` (not the ``*.executed.ipynb`` outputs) is copied with its data
into a temporary folder and executed with ``execute_notebook``, the runner behind
``text2ml execute``. Budgets above ``MAX_BUDGET`` seconds are lowered in the copy to keep
the suite quick; everything else runs as shipped.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import nbformat
import pytest

from text2ml_jupyter.notebook.headless import execute_notebook
from text2ml_jupyter.notebook.writeback import is_edited

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
MAX_BUDGET = 12
_BUDGET = re.compile(r"--budget\s+(\d+(?:\.\d+)?)")


def _shipped() -> list[Path]:
    return sorted(p for p in NOTEBOOKS.glob("*.ipynb") if not p.name.endswith(".executed.ipynb"))


def _cap_budgets(source: str) -> str:
    return _BUDGET.sub(lambda m: f"--budget {min(float(m.group(1)), MAX_BUDGET):g}", source)


def _is_magic(cell: nbformat.NotebookNode) -> bool:
    return cell.cell_type == "code" and cell.source.lstrip().startswith("%%text2ml")


def test_there_are_notebooks_to_run() -> None:
    names = [p.name for p in _shipped()]
    assert "quickstart.ipynb" in names and "regression_resume.ipynb" in names
    for path in _shipped():
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
        assert any(_is_magic(c) for c in nb.cells), path.name
        # Shipped clean: no outputs, no generated cells (those come from running it).
        assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code")
        assert not any("text2ml" in c.metadata for c in nb.cells)


@pytest.mark.slow
@pytest.mark.parametrize("shipped", _shipped(), ids=lambda p: p.stem)
def test_shipped_notebook_executes(shipped: Path, tmp_path: Path,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    if (NOTEBOOKS / "data").is_dir():
        shutil.copytree(NOTEBOOKS / "data", tmp_path / "data")
    original = nbformat.read(shipped, as_version=4)
    copy = nbformat.read(shipped, as_version=4)
    for cell in copy.cells:
        if cell.cell_type == "code":
            cell.source = _cap_budgets(cell.source)
    source = tmp_path / shipped.name
    nbformat.write(copy, source)
    out = tmp_path / f"{shipped.stem}.executed.ipynb"

    done = execute_notebook(source, out, timeout=300)

    nb = nbformat.read(out, as_version=4)
    nbformat.validate(nb)
    assert done.path == out and done.n_cells == len(nb.cells)
    errors = [(c.source.splitlines()[0], o.get("ename"), o.get("evalue"))
              for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert errors == []
    # Every user code cell ran, and they are all there, in their order, unchanged.
    users = [c for c in nb.cells if "text2ml" not in c.metadata]
    assert all(isinstance(c.execution_count, int) for c in users if c.cell_type == "code")
    assert [(c.id, c.source) for c in users] == [(c.id, c.source) for c in copy.cells]

    # Each %%text2ml cell has its generated cells right below it, and only one copy.
    magics = [i for i, c in enumerate(nb.cells) if _is_magic(c)]
    assert magics and len(done.insertions) >= len(magics)
    for index in magics:
        anchor = nb.cells[index].id
        mine = [c for c in nb.cells if c.metadata.get("text2ml", {}).get("anchor") == anchor]
        assert len(mine) >= 5
        assert nb.cells[index + 1: index + 1 + len(mine)] == mine
        assert mine[0].cell_type == "markdown"
        assert mine[0].metadata["text2ml"]["role"] == "summary"
        assert len({c.metadata["text2ml"]["run"] for c in mine}) == 1
        assert all(c.metadata["tags"] == ["text2ml"] and not is_edited(c) for c in mine)
        roles = [c.metadata["text2ml"]["role"] for c in mine]
        once = [r for r in roles if r != "member"]  # an ensemble has one cell per member
        assert len(once) == len(set(once)), roles  # no duplicated cells
        sources = [c.source for c in mine]
        assert len(sources) == len(set(sources)), roles
        # The generated code ran right after its run; only a later %text2ml resume that
        # found a better pipeline rewrites them (unexecuted, as JupyterLab would).
        counts = [c.execution_count for c in mine if c.cell_type == "code"]
        resumed = any(c.source.startswith("%text2ml resume") for c in nb.cells[index:])
        assert all(isinstance(n, int) for n in counts) or (
            resumed and all(n is None for n in counts)), counts
    generated = [c for c in nb.cells if "text2ml" in c.metadata]
    assert len(generated) == sum(a.inserted - a.removed for a in done.insertions)
    assert len(done.summaries) == len(done.insertions)
    assert all("text2ml run" in s for s in done.summaries)

    # The cells after the (first) run produced output, the last one included.
    after = [c for c in users[users.index(nb.cells[magics[0]]):]
             if c.cell_type == "code" and not c.source.startswith("%load_ext")]
    for cell in after:
        assert cell.get("outputs"), f"no output from: {cell.source.splitlines()[0]}"
    last = [c for c in nb.cells if c.cell_type == "code"][-1]
    assert last.id == [c for c in original.cells if c.cell_type == "code"][-1].id
    assert last.outputs
    # The run folders and any exported files went to the copy's folder, not the repository.
    assert (tmp_path / ".text2ml").is_dir()
    for exported in re.findall(r"^%text2ml export (\S+)", "\n".join(
            c.source for c in users if c.cell_type == "code"), re.MULTILINE):
        assert (tmp_path / exported).is_file(), exported
