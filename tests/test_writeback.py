"""Cell write-back (writeback.py) and the headless runner (headless.py, ``text2ml execute``).

``apply_cells`` is checked on nbformat notebooks built here; the headless runner executes a
tiny notebook in a real kernel (the ``%%text2ml`` run is marked slow; the failure paths
and a payload-only notebook need a kernel but no engine run).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import nbformat
import nbformat.v4 as v4
import pytest

from text2ml_jupyter import cli
from text2ml_jupyter.errors import Text2MLError
from text2ml_jupyter.notebook.headless import execute_notebook
from text2ml_jupyter.program import Cell
from text2ml_jupyter.notebook.writeback import (CELLS_MIME, Applied, apply_cells, cell_payloads,
                                       combined_source, describe, digest, is_edited)


# ---------------------------------------------------------------------------- digest
@pytest.mark.parametrize("text, expected", [
    ("", "811c9dc5"),
    ("a", "e40c292c"),
    ("foobar", "bf9cf968"),
])
def test_digest_is_fnv1a_32(text: str, expected: str) -> None:
    assert digest(text) == expected


def test_digest_hashes_utf8_bytes_and_differs_on_small_edits() -> None:
    # "é" is two UTF-8 bytes: FNV-1a over the bytes, not over code points.
    by_bytes = 0x811C9DC5
    for byte in "é".encode():
        by_bytes = ((by_bytes ^ byte) * 0x01000193) & 0xFFFFFFFF
    assert digest("é") == f"{by_bytes:08x}"
    assert digest("x = 1") != digest("x = 1 ")
    assert len(digest("some longer source\n" * 50)) == 8


# ---------------------------------------------------------------------------- payloads
def _cells(tag: str) -> list[Cell]:
    return [
        Cell("markdown", f"## Summary {tag}\n", "summary"),
        Cell("code", f"import math\nA_{tag} = 1\n\n", "setup"),
        Cell("code", f"def build_model():\n    return '{tag}'\n", "model"),
        Cell("code", f"pipeline_{tag} = build_model()\n", "pipeline"),
    ]


def test_cell_payloads_carry_metadata_and_digest_of_stripped_source() -> None:
    cells = _cells("one")
    payloads = cell_payloads(cells, run_id="run-1", anchor="anchor-a")
    assert [p["cell_type"] for p in payloads] == ["markdown", "code", "code", "code"]
    for cell, payload in zip(cells, payloads, strict=True):
        assert payload["source"] == cell.source.rstrip("\n")
        meta = payload["metadata"]["text2ml"]
        assert meta == {"run": "run-1", "role": cell.role, "anchor": "anchor-a",
                        "digest": digest(cell.source.rstrip("\n"))}
        assert payload["metadata"]["tags"] == ["text2ml"]
    assert cell_payloads(cells, run_id="r", anchor=None)[0]["metadata"]["text2ml"][
        "anchor"] == ""


def test_combined_source_has_only_code_cells_and_compiles() -> None:
    text = combined_source(_cells("one"), run_id="run-9")
    assert text.startswith("# text2ml run run-9")
    assert "## Summary" not in text
    assert "A_one = 1" in text and "pipeline_one = build_model()" in text
    compile(text, "<combined>", "exec")
    namespace: dict = {}
    exec(compile(text, "<combined>", "exec"), namespace)  # noqa: S102 - our own cells
    assert namespace["pipeline_one"] == "one"


# ---------------------------------------------------------------------------- apply_cells
def _notebook() -> nbformat.NotebookNode:
    """user, anchor A, user, anchor B, user (ids fixed so anchors can refer to them)."""
    nb = v4.new_notebook()
    specs = [("u1", "import pandas as pd"), ("A", "%%text2ml\nPredict a."),
             ("u2", "print('between')"), ("B", "%%text2ml\nPredict b."),
             ("u3", "print('end')")]
    for cell_id, source in specs:
        cell = v4.new_code_cell(source)
        cell.id = cell_id
        nb.cells.append(cell)
    return nb


def _ids(nb: nbformat.NotebookNode) -> list[str]:
    return [c.id for c in nb.cells]


def _generated(nb: nbformat.NotebookNode, anchor: str) -> list[nbformat.NotebookNode]:
    return [c for c in nb.cells if c.metadata.get("text2ml", {}).get("anchor") == anchor]


def _user_cells(nb: nbformat.NotebookNode) -> list[dict]:
    return [copy.deepcopy(dict(c)) for c in nb.cells if "text2ml" not in c.metadata]


def test_apply_inserts_right_below_the_anchor_and_is_valid() -> None:
    nb = _notebook()
    payloads = cell_payloads(_cells("one"), run_id="r1", anchor="A")
    applied = apply_cells(nb, "A", payloads)
    assert applied == Applied(inserted=4, removed=0, kept=0)
    position = _ids(nb).index("A")
    inserted = nb.cells[position + 1: position + 5]
    assert [c.source for c in inserted] == [p["source"] for p in payloads]
    assert [c.cell_type for c in inserted] == ["markdown", "code", "code", "code"]
    assert all(c.metadata["text2ml"]["anchor"] == "A" for c in inserted)
    assert nb.cells[position + 5].id == "u2"
    assert not any(is_edited(c) for c in inserted)
    nbformat.validate(nb)
    assert len({c.id for c in nb.cells}) == len(nb.cells)  # new cells got fresh ids


def test_reapply_replaces_exactly_that_anchors_cells() -> None:
    nb = _notebook()
    apply_cells(nb, "A", cell_payloads(_cells("one"), run_id="r1", anchor="A"))
    apply_cells(nb, "B", cell_payloads(_cells("bee"), run_id="rb", anchor="B"))
    users_before = _user_cells(nb)
    b_before = [copy.deepcopy(dict(c)) for c in _generated(nb, "B")]

    second = cell_payloads(_cells("two")[:3], run_id="r2", anchor="A")
    applied = apply_cells(nb, "A", second)
    assert applied == Applied(inserted=3, removed=4, kept=0)
    gen_a = _generated(nb, "A")
    assert [c.metadata["text2ml"]["run"] for c in gen_a] == ["r2"] * 3
    assert [c.source for c in gen_a] == [p["source"] for p in second]
    position = _ids(nb).index("A")
    assert [c.id for c in nb.cells[position + 1: position + 4]] == [c.id for c in gen_a]
    assert nb.cells[position + 4].id == "u2"
    # B's cells and the user's cells are exactly as they were.
    assert [copy.deepcopy(dict(c)) for c in _generated(nb, "B")] == b_before
    assert _user_cells(nb) == users_before
    assert len(nb.cells) == 5 + 3 + 4
    nbformat.validate(nb)


def test_an_edited_cell_is_kept_and_the_new_cells_still_go_in() -> None:
    nb = _notebook()
    apply_cells(nb, "A", cell_payloads(_cells("one"), run_id="r1", anchor="A"))
    position = _ids(nb).index("A")
    edited = nb.cells[position + 3]  # the "model" cell
    edited.source += "\n# my change"
    edited_id = edited.id
    assert is_edited(edited)

    applied = apply_cells(nb, "A", cell_payloads(_cells("two"), run_id="r2", anchor="A"))
    assert applied == Applied(inserted=4, removed=3, kept=1)
    gen_a = _generated(nb, "A")
    assert len(gen_a) == 5
    kept = [c for c in gen_a if c.metadata["text2ml"]["run"] == "r1"]
    assert [c.id for c in kept] == [edited_id]
    assert kept[0].source.endswith("# my change")
    assert [c.metadata["text2ml"]["run"] for c in gen_a].count("r2") == 4
    # The new cells go where the first removed cell was: right below the anchor.
    assert nb.cells[position + 1].metadata["text2ml"]["run"] == "r2"
    # All of A's cells sit together between A and the next user cell.
    between = nb.cells[position + 1: _ids(nb).index("u2")]
    assert {c.id for c in between} == {c.id for c in gen_a}


def test_all_cells_edited_new_cells_go_below_the_anchor() -> None:
    nb = _notebook()
    apply_cells(nb, "A", cell_payloads(_cells("one")[:2], run_id="r1", anchor="A"))
    for cell in _generated(nb, "A"):
        cell.source += "\n# mine"
    applied = apply_cells(nb, "A", cell_payloads(_cells("two")[:2], run_id="r2", anchor="A"))
    assert applied == Applied(inserted=2, removed=0, kept=2)
    position = _ids(nb).index("A")
    runs = [c.metadata["text2ml"]["run"] for c in nb.cells[position + 1: position + 5]]
    assert runs == ["r2", "r2", "r1", "r1"]


def test_other_anchors_and_user_cells_with_similar_metadata_are_untouched() -> None:
    nb = _notebook()
    # A user cell with unrelated text2ml-ish metadata and one with a non-dict value.
    odd = v4.new_code_cell("x = 1", metadata={"text2ml": "not a dict"})
    nb.cells.append(odd)
    foreign = v4.new_code_cell("y = 2", metadata={"text2ml": {"anchor": "Z", "digest": "0"}})
    nb.cells.append(foreign)
    before = copy.deepcopy(nb.cells)
    applied = apply_cells(nb, "A", cell_payloads(_cells("one"), run_id="r1", anchor="A"))
    assert applied.removed == 0 and applied.kept == 0
    rest = [c for c in nb.cells if c.metadata.get("text2ml", {}) == {} or
            not isinstance(c.metadata["text2ml"], dict) or
            c.metadata["text2ml"].get("anchor") != "A"]
    assert rest == before


def test_missing_anchor_uses_the_fallback_index_or_the_end() -> None:
    nb = _notebook()
    payloads = cell_payloads(_cells("one")[:2], run_id="r1", anchor="gone")
    applied = apply_cells(nb, "gone", payloads, fallback_index=1)
    assert applied == Applied(inserted=2, removed=0, kept=0)
    assert _ids(nb)[:2] == ["u1", "A"]
    assert [c.metadata["text2ml"]["run"] for c in nb.cells[2:4]] == ["r1", "r1"]
    assert _ids(nb)[4:] == ["u2", "B", "u3"]

    nb = _notebook()
    apply_cells(nb, "gone", payloads)
    assert _ids(nb)[:5] == ["u1", "A", "u2", "B", "u3"]
    assert len(nb.cells) == 7 and nb.cells[-1].metadata["text2ml"]["role"] == "setup"

    nb = _notebook()
    apply_cells(nb, "gone", payloads, fallback_index=99)  # beyond the end: at the end
    assert _ids(nb)[:5] == ["u1", "A", "u2", "B", "u3"] and len(nb.cells) == 7

    # The anchor cell was deleted but its generated cells remain: replaced in place.
    nb = _notebook()
    apply_cells(nb, "B", cell_payloads(_cells("one"), run_id="r1", anchor="B"))
    del nb.cells[_ids(nb).index("B")]
    applied = apply_cells(nb, "B", cell_payloads(_cells("two")[:1], run_id="r2",
                                                 anchor="B"), fallback_index=0)
    assert applied == Applied(inserted=1, removed=4, kept=0)
    assert _ids(nb)[:3] == ["u1", "A", "u2"]
    assert nb.cells[3].metadata["text2ml"]["run"] == "r2" and nb.cells[4].id == "u3"


def test_empty_anchor_never_removes_anything() -> None:
    nb = _notebook()
    apply_cells(nb, "", cell_payloads(_cells("one")[:1], run_id="r1", anchor=""))
    applied = apply_cells(nb, "", cell_payloads(_cells("two")[:1], run_id="r2", anchor=""))
    assert applied.removed == 0
    assert len(nb.cells) == 7


def _snapshot(cell: nbformat.NotebookNode) -> dict:
    """Everything about a cell that write-back must not change."""
    return copy.deepcopy(dict(cell))


def test_user_cells_above_below_and_between_generated_cells_are_kept() -> None:
    """The user puts cells right above the anchor, between its generated cells and right
    below them; re-running replaces only the unedited generated cells around them."""
    nb = _notebook()
    apply_cells(nb, "A", cell_payloads(_cells("one"), run_id="r1", anchor="A"))
    position = _ids(nb).index("A")
    above = v4.new_code_cell("above = 1")
    between = v4.new_markdown_cell("my notes between generated cells")
    below = v4.new_code_cell("below = 1")
    nb.cells.insert(position, above)  # right above the anchor
    nb.cells.insert(position + 4, between)  # after the 2nd generated cell
    nb.cells.insert(position + 7, below)  # right after the last generated cell
    users = [_snapshot(c) for c in nb.cells if "text2ml" not in c.metadata]

    applied = apply_cells(nb, "A", cell_payloads(_cells("two"), run_id="r2", anchor="A"))
    assert applied == Applied(inserted=4, removed=4, kept=0)
    assert [_snapshot(c) for c in nb.cells if "text2ml" not in c.metadata] == users
    ids = _ids(nb)
    assert ids.index(above.id) + 1 == ids.index("A")
    # The new cells go where the first replaced cell was; the user's cells follow in order.
    assert [c.metadata["text2ml"]["run"] for c in nb.cells[ids.index("A") + 1:][:4]] == \
        ["r2"] * 4
    assert ids.index(between.id) < ids.index(below.id) < ids.index("u2")
    assert [c.metadata["text2ml"]["run"] for c in _generated(nb, "A")] == ["r2"] * 4
    nbformat.validate(nb)


def test_a_look_alike_user_cell_is_never_touched() -> None:
    """Only text2ml metadata marks a generated cell: a cell with the ``text2ml`` tag, one
    whose source equals a generated cell's, and one with half the metadata (no digest)
    are the user's and stay exactly as they are."""
    nb = _notebook()
    apply_cells(nb, "A", cell_payloads(_cells("one"), run_id="r1", anchor="A"))
    first_source = _generated(nb, "A")[1].source
    tagged = v4.new_code_cell(first_source, metadata={"tags": ["text2ml"]})
    copied = v4.new_code_cell(first_source)
    no_digest = v4.new_code_cell("z = 3", metadata={"text2ml": {"anchor": "A", "run": "r1"}})
    listed = v4.new_code_cell(first_source, metadata={"text2ml": ["anchor", "A"]})
    for cell in (tagged, copied, no_digest, listed):
        nb.cells.insert(_ids(nb).index("u2"), cell)
    before = {c.id: _snapshot(c) for c in (tagged, copied, no_digest, listed)}

    applied = apply_cells(nb, "A", cell_payloads(_cells("two"), run_id="r2", anchor="A"))
    assert applied == Applied(inserted=4, removed=4, kept=1)  # no_digest counts as edited
    assert {c.id: _snapshot(c) for c in nb.cells if c.id in before} == before
    nbformat.validate(nb)


def test_an_edited_cell_survives_every_rerun_and_the_output_says_so() -> None:
    nb = _notebook()
    apply_cells(nb, "A", cell_payloads(_cells("one"), run_id="r1", anchor="A"))
    edited = _generated(nb, "A")[2]
    edited.source = edited.source.replace("'one'", "'mine'")
    kept = _snapshot(edited)
    for run in ("r2", "r3", "r4"):
        applied = apply_cells(nb, "A", cell_payloads(_cells(run), run_id=run, anchor="A"))
        assert applied == Applied(inserted=4, removed=4 if run != "r2" else 3, kept=1)
        assert describe(applied).endswith(
            "1 generated cell you edited was kept as you left it; the new cells are "
            "beside it.")
    assert [_snapshot(c) for c in nb.cells if c.id == edited.id] == [kept]
    assert [c.metadata["text2ml"]["run"] for c in _generated(nb, "A")].count("r4") == 4
    assert len(_generated(nb, "A")) == 5


def test_apply_cells_invariants_on_random_notebooks() -> None:
    """On many shuffled notebooks (user cells, two anchors' cells, edits, look-alikes):
    apply_cells removes exactly the anchor's unedited cells, keeps every other cell as
    it was and in the same order, and inserts the new cells once, together."""
    import random

    rng = random.Random(5)
    for _ in range(300):
        nb = v4.new_notebook()
        for index in range(rng.randint(0, 6)):
            nb.cells.append(v4.new_code_cell(f"user_{index} = {index}"))
        for anchor in ("A", "B"):
            cell = v4.new_code_cell(f"%%text2ml\nPredict {anchor}.")
            cell.id = anchor
            nb.cells.insert(rng.randint(0, len(nb.cells)), cell)
            for payload in cell_payloads(_cells(anchor.lower())[:rng.randint(0, 4)],
                                         run_id=f"old-{anchor}", anchor=anchor):
                new = v4.new_code_cell(payload["source"], metadata=payload["metadata"])
                if rng.random() < 0.3:
                    new.source += "\n# edited"
                nb.cells.insert(rng.randint(0, len(nb.cells)), new)
        if rng.random() < 0.5:
            nb.cells.insert(rng.randint(0, len(nb.cells)),
                            v4.new_code_cell("look = 1", metadata={"tags": ["text2ml"]}))
        if rng.random() < 0.2:
            del nb.cells[_ids(nb).index("A")]  # the anchor itself was deleted
        doomed = [c.id for c in _generated(nb, "A") if not is_edited(c)]
        survivors = [_snapshot(c) for c in nb.cells if c.id not in doomed]
        payloads = cell_payloads(_cells("new")[:rng.randint(1, 4)], run_id="new",
                                 anchor="A")

        applied = apply_cells(nb, "A", payloads, fallback_index=rng.randint(0, 3))
        assert applied.removed == len(doomed)
        assert applied.kept == len(_generated(nb, "A")) - len(payloads)
        assert [_snapshot(c) for c in nb.cells
                if c.metadata.get("text2ml", {}).get("run") != "new"] == survivors
        runs = [i for i, c in enumerate(nb.cells)
                if c.metadata.get("text2ml", {}).get("run") == "new"]
        assert len(runs) == len(payloads) and runs == list(range(runs[0], runs[-1] + 1))
        nbformat.validate(nb)


@pytest.mark.parametrize("applied, expected", [
    (Applied(0, 0, 0), "The run's cells in the notebook are unchanged."),
    (Applied(8, 0, 0), "Inserted 8 cells below the %%text2ml cell."),
    (Applied(1, 0, 0), "Inserted 1 cell below the %%text2ml cell."),
    (Applied(8, 7, 0),
     "Inserted 8 cells below the %%text2ml cell, replacing 7 cells of its previous run."),
    (Applied(8, 7, 1),
     "Inserted 8 cells below the %%text2ml cell, replacing 7 cells of its previous run. "
     "1 generated cell you edited was kept as you left it; the new cells are beside it."),
    (Applied(3, 0, 2),
     "Inserted 3 cells below the %%text2ml cell. 2 generated cells you edited were kept "
     "as you left them; the new cells are beside them."),
])
def test_describe(applied: Applied, expected: str) -> None:
    assert describe(applied) == expected


# ---------------------------------------------------------------------------- headless
def _write(path: Path, cells: list, *, minor: int = 5) -> Path:
    nb = v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "language": "python",
                                 "display_name": "Python 3"}
    nb.cells = cells
    if minor < 5:  # an nbformat 4.4 file, as older Jupyter versions wrote: no cell ids
        data = json.loads(nbformat.writes(nb))
        data["nbformat_minor"] = minor
        for cell in data["cells"]:
            cell.pop("id", None)
        path.write_text(json.dumps(data), encoding="utf-8")
    else:
        nbformat.write(nb, path)
    return path


def _errors(nb: nbformat.NotebookNode) -> list[str]:
    return [f"{o.get('ename')}: {o.get('evalue')}" for c in nb.cells if c.cell_type == "code"
            for o in c.get("outputs", []) if o.get("output_type") == "error"]


def _text_output(cell: nbformat.NotebookNode) -> str:
    parts = []
    for output in cell.get("outputs", []):
        if output.get("output_type") == "stream":
            parts.append(output["text"])
        elif "data" in output:
            parts.append(output["data"].get("text/plain", ""))
    return "".join(parts)


TASK = "Predict the target column from the cancer measurements."
SETUP = ("from sklearn.datasets import load_breast_cancer\n"
         "cancer = load_breast_cancer(as_frame=True).frame.sample(300, random_state=0)\n"
         "cancer.shape")
USER_AFTER = ("predictions = pipeline.predict(cancer.drop(columns=['target']).head(3))\n"
              "print('predicted', len(predictions))")


@pytest.fixture(scope="module")
def executed(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The tiny notebook, executed once with a real %%text2ml run (8 s budget)."""
    folder = tmp_path_factory.mktemp("headless")
    source = _write(folder / "tiny.ipynb", [
        v4.new_markdown_cell("# Tiny"),
        v4.new_code_cell(SETUP),
        v4.new_code_cell("%load_ext text2ml_jupyter"),
        v4.new_code_cell(f"%%text2ml --budget 8\n{TASK}"),
        v4.new_code_cell(USER_AFTER),
    ])
    original = nbformat.read(source, as_version=4)
    out = folder / "tiny.executed.ipynb"
    done = execute_notebook(source, out, timeout=300)
    return {"folder": folder, "source": source, "original": original, "out": out,
            "done": done, "nb": nbformat.read(out, as_version=4)}


@pytest.mark.slow
def test_headless_inserts_cells_below_the_magic_and_runs_them(executed: dict) -> None:
    nb, original, done = executed["nb"], executed["original"], executed["done"]
    nbformat.validate(nb)
    assert _errors(nb) == []
    assert done.path == executed["out"] and done.n_cells == len(nb.cells)
    assert len(done.insertions) == 1 and len(done.summaries) == 1
    applied = done.insertions[0]
    assert applied.removed == 0 and applied.kept == 0 and applied.inserted >= 5

    magic_index = next(i for i, c in enumerate(nb.cells) if c.source.startswith("%%text2ml"))
    magic = nb.cells[magic_index]
    assert magic.id == original.cells[3].id
    generated = nb.cells[magic_index + 1: magic_index + 1 + applied.inserted]
    assert all(c.metadata["text2ml"]["anchor"] == magic.id for c in generated)
    assert all(c.metadata["tags"] == ["text2ml"] for c in generated)
    assert all(not is_edited(c) for c in generated)
    assert generated[0].cell_type == "markdown" and generated[0].metadata["text2ml"][
        "role"] == "summary"
    assert len({c.metadata["text2ml"]["run"] for c in generated}) == 1
    assert sum("text2ml" in c.metadata for c in nb.cells) == applied.inserted
    # The generated code cells ran, in order, after the magic cell.
    counts = [c.execution_count for c in generated if c.cell_type == "code"]
    assert all(isinstance(n, int) for n in counts) and counts == sorted(counts)
    assert counts[0] > magic.execution_count
    assert "Validation accuracy" in "".join(_text_output(c) for c in generated)

    # The user's cells are all there, in order and unchanged, the last one after the run.
    users = [c for c in nb.cells if "text2ml" not in c.metadata]
    assert [(c.id, c.source) for c in users] == [(c.id, c.source) for c in original.cells]
    assert nb.cells[-1].id == original.cells[-1].id
    assert "predicted 3" in _text_output(nb.cells[-1])

    # The magic cell's output carries the cells; the summary names the run.
    payload = next(o["data"][CELLS_MIME] for o in magic.outputs
                   if CELLS_MIME in o.get("data", {}))
    run_id = generated[0].metadata["text2ml"]["run"]
    assert payload["run"] == run_id
    assert [p["source"] for p in payload["cells"]] == [c.source for c in generated]
    assert f"text2ml run {run_id}" in done.summaries[0]
    # The source notebook itself is left as it was (written to --out).
    assert nbformat.read(executed["source"], as_version=4).cells[3].get("outputs") == []


@pytest.mark.slow
def test_text2ml_execute_reexecutes_replacing_unedited_cells(
        executed: dict, capsys: pytest.CaptureFixture[str]) -> None:
    folder, first = executed["folder"], executed["nb"]
    magic_id = executed["original"].cells[3].id
    old = _generated(first, magic_id)
    old_run = old[0].metadata["text2ml"]["run"]
    # The user edits the last generated cell: it must survive the re-run.
    again = copy.deepcopy(first)
    edited = _generated(again, magic_id)[-1]
    edited.source += "\n# checked by hand"
    edited_id = edited.id
    reexec_source = folder / "edited.ipynb"
    nbformat.write(again, reexec_source)
    out = folder / "rerun.ipynb"

    code = cli.main(["execute", str(reexec_source), "--out", str(out), "--timeout", "300"])
    captured = capsys.readouterr()
    printed = captured.out
    assert code == 0, captured.err
    nb = nbformat.read(out, as_version=4)
    assert _errors(nb) == []
    new = [c for c in _generated(nb, magic_id) if c.metadata["text2ml"]["run"] != old_run]
    kept = [c for c in _generated(nb, magic_id) if c.metadata["text2ml"]["run"] == old_run]
    assert [c.id for c in kept] == [edited_id]
    # Replaced, not duplicated. The re-run is a new search within a time budget, so it
    # may insert another number of cells (an ensemble's members, or one model).
    assert len(new) >= 5 and len({c.metadata["text2ml"]["run"] for c in new}) == 1
    assert len(nb.cells) == len(first.cells) - len(old) + len(new) + 1
    assert sum("text2ml" in c.metadata for c in nb.cells) == len(new) + 1
    magic_index = next(i for i, c in enumerate(nb.cells) if c.id == magic_id)
    block = nb.cells[magic_index + 1: magic_index + 2 + len(new)]
    assert {c.id for c in block} == {c.id for c in new} | {edited_id}
    assert "checked by hand" in nb.cells[magic_index + 1 + len(new)].source

    new_run = new[0].metadata["text2ml"]["run"]
    assert f"text2ml run {new_run}" in printed
    assert (f"Inserted {len(new)} cells below the %%text2ml cell, replacing {len(old) - 1} "
            "cells of its previous run. 1 generated cell you edited was kept") in printed
    assert f"Executed notebook: {out} ({len(nb.cells)} cells)" in printed


EMIT = """from IPython.display import display
from text2ml_jupyter.notebook.writeback import CELLS_MIME, digest

def emit(run, sources):
    cells = [{'cell_type': 'code', 'source': s, 'tags': ['text2ml'], 'metadata': {
        'text2ml': {'run': run, 'role': 'model', 'anchor': '', 'digest': digest(s)}}}
        for s in sources]
    display({CELLS_MIME: {'run': run, 'anchor': '', 'cells': cells},
             'text/plain': 'summary of ' + run}, raw=True)
"""


def test_headless_payload_cells_in_an_nbformat_4_4_notebook(tmp_path: Path) -> None:
    """Cells carried by an output (the cells MIME) are inserted below the cell and run,
    also in an nbformat 4.4 notebook (no cell ids). No engine run: the payload is made
    by hand, as the %%text2ml display makes it."""
    first = EMIT + "emit('r', ['generated = 41 + 1'])"
    source = _write(tmp_path / "old.ipynb", [
        v4.new_code_cell(first), v4.new_code_cell("print('after', generated)")], minor=4)
    out = tmp_path / "old.executed.ipynb"
    done = execute_notebook(source, out, timeout=120)
    nb = nbformat.read(out, as_version=4)
    assert nb.nbformat_minor >= 5 and _errors(nb) == []
    assert [c.source for c in nb.cells] == [first, "generated = 41 + 1",
                                            "print('after', generated)"]
    anchor = nb.cells[0].id
    assert anchor and nb.cells[1].metadata["text2ml"]["anchor"] == anchor
    assert isinstance(nb.cells[1].execution_count, int)
    assert "after 42" in _text_output(nb.cells[2])
    assert done.insertions == [Applied(1, 0, 0)] and done.summaries == ["summary of r"]

    # Executing the result again: the same run's same cells are left as they are.
    done = execute_notebook(out, out, timeout=120)
    nb = nbformat.read(out, as_version=4)
    assert done.insertions == [Applied(0, 0, 0)]
    assert [c.source for c in nb.cells] == [first, "generated = 41 + 1",
                                            "print('after', generated)"]
    assert "after 42" in _text_output(nb.cells[2])


def test_headless_resume_output_rewrites_its_runs_cells(tmp_path: Path) -> None:
    """A later cell answering for the same run (``%text2ml resume`` keeps the run id)
    replaces that run's cells below its %%text2ml cell instead of adding a second copy;
    when its cells are the same, nothing changes."""
    first = EMIT + "emit('r', ['generated = 1'])"
    other = "emit('s', ['other = 2'])"
    changed = same = "emit('r', ['generated = 3', 'extra = 4'])"
    source = _write(tmp_path / "resume.ipynb", [
        v4.new_code_cell(first), v4.new_code_cell(other), v4.new_code_cell(changed),
        v4.new_code_cell(same), v4.new_code_cell("print('last', generated)")])
    done = execute_notebook(source, tmp_path / "out.ipynb", timeout=120)
    nb = nbformat.read(tmp_path / "out.ipynb", as_version=4)
    assert _errors(nb) == []
    assert done.insertions == [Applied(1, 0, 0), Applied(1, 0, 0), Applied(2, 1, 0),
                               Applied(0, 0, 0)]
    assert [c.source for c in nb.cells] == [first, "generated = 3", "extra = 4", other,
                                            "other = 2", changed, same,
                                            "print('last', generated)"]
    ids = [c.id for c in nb.cells]
    assert [c.metadata["text2ml"]["anchor"] for c in nb.cells[1:3]] == [ids[0]] * 2
    assert nb.cells[4].metadata["text2ml"]["anchor"] == ids[3]
    # Every cell of the notebook ran once, in order; the rewritten cells (above the
    # cell that rewrote them) are left for the user to run.
    assert [c.execution_count for c in nb.cells] == [1, None, None, 3, 4, 5, 6, 7]
    assert "last 1" in _text_output(nb.cells[-1])


def test_headless_failing_cell_names_the_cell(tmp_path: Path) -> None:
    source = _write(tmp_path / "fails.ipynb", [
        v4.new_code_cell("x = 1"), v4.new_code_cell("1 / 0"), v4.new_code_cell("x = 2")])
    with pytest.raises(Text2MLError) as caught:
        execute_notebook(source, tmp_path / "out.ipynb", timeout=120)
    message = str(caught.value)
    assert "Cell 2 (1 / 0) of fails.ipynb failed: ZeroDivisionError: division by zero" in message
    assert "\x1b[" not in message
    assert not (tmp_path / "out.ipynb").exists()


def test_text2ml_execute_reports_a_failing_magic_cell(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = _write(tmp_path / "bad.ipynb", [
        v4.new_code_cell("import pandas as pd\ndf = pd.DataFrame({'a': [1, 2], 'b': [3, 4]})"),
        v4.new_code_cell("%load_ext text2ml_jupyter"),
        v4.new_code_cell("%%text2ml --budget -1\nPredict b."),
    ])
    code = cli.main(["execute", str(source), "--out", str(tmp_path / "out.ipynb")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error: Cell 3 (%%text2ml --budget -1) of bad.ipynb failed: "
                          "UsageError: %%text2ml: argument --budget: '-1' is not a positive "
                          "number of seconds.")
    assert "Traceback" not in err and "\x1b[" not in err


def test_text2ml_execute_missing_notebook(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["execute", str(tmp_path / "nope.ipynb")])
    assert code == 2
    assert "Cannot read the notebook" in capsys.readouterr().err


# ---------------------------------------------------------------------------- two anchors
TWO_SETUP = ("from sklearn.datasets import load_breast_cancer, load_diabetes\n"
             "cancer = load_breast_cancer(as_frame=True).frame.sample(300, random_state=0)\n"
             "diabetes = load_diabetes(as_frame=True).frame\n"
             "cancer.shape, diabetes.shape")
TWO_USER_END = ("print('cancer', len(cancer_model.predict(cancer.drop(columns=['target'])"
                ".head(3))))\n"
                "print('diabetes', len(diabetes_model.predict(diabetes.drop(columns="
                "['target']).head(4))))")


def _as_written(cell: nbformat.NotebookNode) -> dict:
    """A cell without what executing it changes (outputs, count, nbclient's timings)."""
    data = {k: v for k, v in _snapshot(cell).items() if k not in ("outputs", "execution_count")}
    data["metadata"] = {k: v for k, v in data["metadata"].items() if k != "execution"}
    return data


def _blocks(nb: nbformat.NotebookNode, anchor: str) -> dict[str, list]:
    """The anchor's generated cells by run id."""
    runs: dict[str, list] = {}
    for cell in _generated(nb, anchor):
        runs.setdefault(cell.metadata["text2ml"]["run"], []).append(cell)
    return runs


@pytest.mark.slow
def test_two_magic_cells_keep_separate_runs_through_reexecution(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Two %%text2ml cells (classification, regression) executed headless, then the
    output executed again after the user edited one generated cell, put a cell between
    generated cells and added a look-alike: each anchor ends with its own cells exactly
    once, the other anchor's and the user's cells stay as they were."""
    source = _write(tmp_path / "two.ipynb", [
        v4.new_code_cell(TWO_SETUP),
        v4.new_code_cell("%load_ext text2ml_jupyter"),
        v4.new_code_cell("%%text2ml --budget 8 --data cancer --name cancer_model\n"
                         "Predict the target column from the cancer measurements."),
        v4.new_markdown_cell("Between the two runs."),
        v4.new_code_cell("%%text2ml --budget 8 --data diabetes --name diabetes_model\n"
                         "Predict the target column (disease progression) from the "
                         "diabetes measurements."),
        v4.new_code_cell(TWO_USER_END),
    ])
    original = nbformat.read(source, as_version=4)
    a_id, b_id = original.cells[2].id, original.cells[4].id
    first_out = tmp_path / "two.out.ipynb"
    done = execute_notebook(source, first_out, timeout=300)
    first = nbformat.read(first_out, as_version=4)
    assert _errors(first) == []
    (a_run, a_cells), = _blocks(first, a_id).items()
    (b_run, b_cells), = _blocks(first, b_id).items()
    assert a_run != b_run
    assert done.insertions == [Applied(len(a_cells), 0, 0), Applied(len(b_cells), 0, 0)]
    ids = _ids(first)
    # Each block sits right below its own anchor; the user's cells are as written.
    assert ids[ids.index(a_id) + 1: ids.index(a_id) + 1 + len(a_cells)] == \
        [c.id for c in a_cells]
    assert ids[ids.index(b_id) + 1: ids.index(b_id) + 1 + len(b_cells)] == \
        [c.id for c in b_cells]
    assert [(c.id, c.source) for c in first.cells if "text2ml" not in c.metadata] == \
        [(c.id, c.source) for c in original.cells]
    out = _text_output(first.cells[-1])
    assert "cancer 3" in out and "diabetes 4" in out

    # The user edits A's last cell, puts a cell between B's cells, adds a look-alike.
    again = copy.deepcopy(first)
    edited = _generated(again, a_id)[-1]
    edited.source += "\n# reviewed"
    between = v4.new_code_cell("print('between B cells')")
    again.cells.insert(_ids(again).index(_generated(again, b_id)[1].id), between)
    look_alike = v4.new_code_cell("print('look-alike')", metadata={"tags": ["text2ml"]})
    again.cells.insert(_ids(again).index(b_id), look_alike)
    mine = [_as_written(c) for c in again.cells if "text2ml" not in c.metadata]
    edited_snapshot = _as_written(edited)
    nbformat.write(again, tmp_path / "two.edited.ipynb")
    second_out = tmp_path / "two.rerun.ipynb"
    capsys.readouterr()
    assert cli.main(["execute", str(tmp_path / "two.edited.ipynb"), "--out",
                     str(second_out), "--timeout", "300"]) == 0
    printed = capsys.readouterr().out
    second = nbformat.read(second_out, as_version=4)
    assert _errors(second) == []

    a_runs, b_runs = _blocks(second, a_id), _blocks(second, b_id)
    assert a_run in a_runs and len(a_runs) == 2
    assert [c.id for c in a_runs[a_run]] == [edited.id]  # only the edited cell is left
    (new_a,) = set(a_runs) - {a_run}
    (new_b,) = b_runs
    assert new_b != b_run and len({new_a, new_b, a_run, b_run}) == 4
    # A whole program each (an ensemble's member cells may differ in number between runs)
    for block in (a_runs[new_a], b_runs[new_b]):
        roles = [c.metadata["text2ml"]["role"] for c in block]
        assert roles[0] == "summary" and "pipeline" in roles, roles
    new_a_cells, new_b_cells = a_runs[new_a], b_runs[new_b]
    # Each anchor's cells, exactly once: A's and B's new blocks follow their anchors.
    ids = _ids(second)
    assert ids[ids.index(a_id) + 1: ids.index(a_id) + 1 + len(new_a_cells)] == \
        [c.id for c in new_a_cells]
    assert ids[ids.index(b_id) + 1: ids.index(b_id) + 1 + len(new_b_cells)] == \
        [c.id for c in new_b_cells]
    assert ids.index(a_id) < ids.index(edited.id) < ids.index(b_id)
    assert _as_written(second.cells[ids.index(edited.id)]) == edited_snapshot
    # The user's cells (and the look-alike) are the same cells, in the same order.
    assert [_as_written(c) for c in second.cells if "text2ml" not in c.metadata] == mine
    assert ids.index(between.id) > ids.index(b_runs[new_b][-1].id)
    assert "between B cells" in _text_output(second.cells[ids.index(between.id)])
    assert "cancer 3" in _text_output(second.cells[-1])
    assert (f"Inserted {len(new_a_cells)} cells below the %%text2ml cell, replacing "
            f"{len(a_cells) - 1} cells of its previous run. 1 generated cell you edited "
            "was kept as you left it; the new cells are beside it.") in printed
    assert (f"Inserted {len(new_b_cells)} cells below the %%text2ml cell, replacing "
            f"{len(b_cells)} cells of its previous run.") in printed


# ---------------------------------------------------------------------------- failures
def test_headless_dead_kernel_and_timeout_write_nothing(tmp_path: Path) -> None:
    """A kernel that dies and a cell past its time limit are one clear line each, and
    the output notebook is not written (nor the source changed)."""
    dies = _write(tmp_path / "dies.ipynb", [
        v4.new_code_cell("x = 1"), v4.new_code_cell("import os\nos._exit(3)")])
    before = dies.read_bytes()
    with pytest.raises(Text2MLError) as caught:
        execute_notebook(dies, tmp_path / "out.ipynb", timeout=60)
    assert str(caught.value).startswith(
        "The kernel died while running cell 2 (import os) of dies.ipynb; nothing was "
        "written.")
    assert not (tmp_path / "out.ipynb").exists() and dies.read_bytes() == before

    slow = _write(tmp_path / "slow.ipynb", [v4.new_code_cell("import time\ntime.sleep(30)")])
    with pytest.raises(Text2MLError) as caught:
        execute_notebook(slow, None, timeout=2)
    assert str(caught.value).startswith(
        "Cell 1 (import time) of slow.ipynb did not finish within 2 s; nothing was written.")
    assert nbformat.read(slow, as_version=4).cells[0].outputs == []


def test_headless_never_writes_an_invalid_notebook(tmp_path: Path) -> None:
    from text2ml_jupyter.notebook import headless

    nb = v4.new_notebook()
    nb.cells.append(v4.new_code_cell("x = 1"))
    nb.cells[0]["cell_type"] = "not a cell type"
    target = tmp_path / "bad.ipynb"
    target.write_text("previous content", encoding="utf-8")
    with pytest.raises(Text2MLError) as caught:
        headless._write(nb, target)
    assert str(caught.value).startswith("The executed notebook is not valid (")
    assert target.read_text(encoding="utf-8") == "previous content"
    assert [p.name for p in tmp_path.iterdir()] == ["bad.ipynb"]  # no temporary file left
    with pytest.raises(Text2MLError, match="^Cannot write"):
        headless._write(v4.new_notebook(), tmp_path / "missing" / "x.ipynb")
