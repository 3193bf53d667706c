"""JupyterLab end to end in headless Chromium: the harness, then ``%%text2ml``.

Run: ``.venv/bin/python -m pytest tests/browser -m browser``. Needs ``/usr/bin/chromium``
(skipped with the reason otherwise); failures leave screenshots and logs in
``test-artifacts/browser/``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from _lab import CHROMIUM, LabServer, Notebook, new_page, write_notebook

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(),
                       reason=f"the browser tests need Chromium at {CHROMIUM}"),
]


def test_harness_runs_a_cell_and_saves(page: Any, lab_server: LabServer) -> None:
    """Open a notebook, type and run ``1+1`` with the keyboard, see ``2``, save, read the file."""
    ids = write_notebook(lab_server.root_dir / "harness.ipynb",
                         [("markdown", "# Harness"), ("code", "")])
    nb = Notebook(page, lab_server, "harness.ipynb").open()
    assert [c["id"] for c in nb.cells()] == ids

    nb.type_into(1, "1+1")
    nb.select(1)
    page.keyboard.press("Control+Enter")
    nb.wait_done(1, None)
    assert nb.output_text(1).strip().endswith("2")
    assert nb.outputs(1)[0]["data"]["text/plain"] == "2"

    saved = nb.save()
    assert [c.id for c in saved.cells] == ids
    assert saved.cells[1].source == "1+1"
    assert saved.cells[1].outputs[0]["data"]["text/plain"] == "2"
    nb.shutdown_kernel()


# ------------------------------------------------------------------------- %%text2ml

TASK = "predict the target column from the other columns"
DATA_CELL = """\
from sklearn.datasets import load_breast_cancer

df = load_breast_cancer(as_frame=True).frame.sample(300, random_state=0).reset_index(drop=True)
target = "target"
df.shape"""
AFTER_CELL = 'print("user cell after")'
EDIT = "# my edit: keep this line"
_TRIALS = re.compile(r"Trials: (\d+) complete, (\d+) pruned, (\d+) failed")
_DONE = re.compile(r"text2ml run (\S+): done")


def _magic(budget: float) -> str:
    # --data df: after the generated cells ran, X, data and new_rows are DataFrames too
    return f"%%text2ml --data df --budget {budget:g}\n{TASK}"


@dataclass
class _Story:
    """The shared notebook of the ``%%text2ml`` steps and what they learnt so far."""

    nb: Notebook
    magic_id: str
    user: list[tuple[str, str, str]]  # (id, type, source) of every non-generated cell, in order
    runs: list[str] = field(default_factory=list)  # run ids, oldest first
    n_generated: int = 0  # cells one run inserts
    failed: list[str] = field(default_factory=list)  # steps that failed


def _meta(cell: dict[str, Any]) -> dict[str, Any]:
    return cell["metadata"].get("text2ml") or {}


def _user_cells(cells: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    return [(c["id"], c["cell_type"], c["source"]) for c in cells if not _meta(c)]


def _anchored(cells: list[dict[str, Any]], anchor: str) -> list[tuple[int, dict[str, Any]]]:
    """(index, cell) of the generated cells of ``anchor``."""
    return [(i, c) for i, c in enumerate(cells) if _meta(c).get("anchor") == anchor]


def _trials(text: str) -> int:
    """Trials the dashboard reports in ``text`` (-1 when it shows no count)."""
    match = _TRIALS.search(text)
    return sum(int(n) for n in match.groups()) if match else -1


def _watch(nb: Notebook, index: int, min_trials: int, timeout: float) -> list[str]:
    """Read the live dashboard of cell ``index`` until it reports ``min_trials`` trials
    (or the run ends); returns each distinct text seen."""
    texts: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        running = nb.js("return panel.content.widgets[args.i].model.executionCount === null;",
                        i=index)
        if nb.has_widget(index):
            text = nb.output_text(index)
            if not texts or texts[-1] != text:
                texts.append(text)
            if _trials(text) >= min_trials:
                return texts
        elif texts and not running:
            return texts  # finished: the widget became the static summary
        time.sleep(0.2)
    raise AssertionError(f"the dashboard did not report {min_trials} trials in {timeout:.0f} s; "
                         f"last seen: {texts[-1:]}")


def _check_block(story: _Story, cells: list[dict[str, Any]], run_id: str,
                 edited: str | None) -> None:
    """The run's cells sit right below the magic cell (markdown first, then code) with
    their metadata; of earlier runs only the edited cell is left; user cells are unchanged."""
    magic = [c["id"] for c in cells].index(story.magic_id)
    block = _anchored(cells, story.magic_id)
    assert [i for i, _ in block] == list(range(magic + 1, magic + 1 + len(block))), \
        "the generated cells are not one block right below the magic cell"
    new = [c for _, c in block if _meta(c)["run"] == run_id]
    old = [c for _, c in block if _meta(c)["run"] != run_id]
    # One program, inserted once: its count depends on the pipeline (an ensemble has a
    # cell per member), so check the program's shape rather than the first run's count.
    roles = [_meta(c)["role"] for c in new]
    assert len(new) >= 3 and roles[0] == "summary" and roles.count("summary") == 1 \
        and roles.count("pipeline") == 1, f"cells of run {run_id}: roles {roles}"
    digests = [_meta(c)["digest"] for c in new]
    assert len(set(digests)) == len(digests), f"a cell of run {run_id} was inserted twice"
    assert [c["id"] for c in old] == ([edited] if edited else []), \
        "unedited cells of an earlier run are left"
    assert new[0]["cell_type"] == "markdown" and all(c["cell_type"] == "code" for c in new[1:])
    for cell in new:
        meta = _meta(cell)
        assert meta["anchor"] == story.magic_id and meta["role"] and meta["digest"], meta
        assert "text2ml" in cell["metadata"].get("tags", []), cell["metadata"]
    assert _user_cells(cells) == story.user, "a user cell changed"


def _check_cells(story: _Story, run_id: str, *,
                 edited: str | None = None) -> list[dict[str, Any]]:
    """Check the cells in the page, then save and check the file; returns the page's cells."""
    cells = story.nb.cells()
    _check_block(story, cells, run_id, edited)
    saved = story.nb.save()
    on_disk = [{"id": c.id, "cell_type": c.cell_type, "source": c.source, "metadata": c.metadata}
               for c in saved.cells]
    _check_block(story, on_disk, run_id, edited)

    def essence(cell: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
        return cell["id"], cell["source"], _meta(cell)

    assert [essence(c) for c in on_disk] == [essence(c) for c in cells], "file != page"
    return cells


def _run_magic(story: _Story, budget: float, *, min_trials: int = 1,
               action: Callable[[], None] | None = None) -> tuple[str, str, float, list[str]]:
    """Run the magic cell with ``budget``; ``action`` runs once the dashboard shows
    ``min_trials`` trials. Returns (run id, final output, seconds, dashboard texts)."""
    nb = story.nb
    index = nb.index_of(story.magic_id)
    nb.set_source(index, _magic(budget))
    position = [cell_id for cell_id, _, _ in story.user].index(story.magic_id)
    story.user[position] = (story.magic_id, "code", _magic(budget))
    start = time.monotonic()
    before = nb.run(index)
    texts = _watch(nb, index, min_trials, timeout=budget + 30)
    if action is not None:
        action()
    nb.wait_done(index, before, timeout=budget + 120)
    seconds = time.monotonic() - start
    out = nb.output_text(index)
    assert not nb.errors(index), nb.errors(index)
    match = _DONE.search(out)
    assert match, f"no 'text2ml run ...: done' in the output:\n{out}"
    run_id = match.group(1)
    assert run_id not in story.runs
    assert "Inserted" in out, f"the output does not say the cells were inserted:\n{out}"
    story.runs.append(run_id)
    return run_id, out, seconds, texts


@pytest.fixture(scope="module")
def story(browser: Any, lab_server: LabServer) -> Iterator[_Story]:
    """One notebook for all the steps: title, data, %load_ext, the magic, a user cell."""
    cells = [("markdown", "# My analysis"), ("code", DATA_CELL),
             ("code", "%load_ext text2ml_jupyter"), ("code", _magic(20)), ("code", AFTER_CELL)]
    ids = write_notebook(lab_server.root_dir / "magic.ipynb", cells)
    with new_page(browser) as page:
        nb = Notebook(page, lab_server, "magic.ipynb").open()
        user = [(i, kind, source) for i, (kind, source) in zip(ids, cells, strict=True)]
        yield _Story(nb, ids[3], user)
        nb.shutdown_kernel()


@pytest.fixture
def step(story: _Story, request: pytest.FixtureRequest) -> Iterator[_Story]:
    """The story, for steps in order: a step after a failed one is skipped."""
    if story.failed:
        pytest.skip(f"an earlier step failed: {story.failed[0]}")
    yield story
    report = getattr(request.node, "rep_call", None)
    if report is None or report.failed:
        story.failed.append(request.node.name)


def test_magic_dashboard_then_cells_below(step: _Story) -> None:
    """The live dashboard renders and progresses; the result lands as cells below the magic."""
    nb = step.nb
    for index in (1, 2):
        nb.run_and_wait(index, timeout=120)
        assert not nb.errors(index), nb.errors(index)

    stop_seen: list[int] = []

    def look_at_stop() -> None:
        stop_seen.append(nb.output_button(nb.index_of(step.magic_id), "Stop").count())

    run_id, out, seconds, texts = _run_magic(step, 20, min_trials=2, action=look_at_stop)
    counts = [_trials(t) for t in texts]
    assert len(texts) >= 2 and max(counts) > min(counts), f"no progress seen: {counts}"
    assert stop_seen == [1], "no Stop button on the live dashboard"
    assert "Error displaying widget" not in "".join(texts)
    step.n_generated = len(_anchored(nb.cells(), step.magic_id))
    assert step.n_generated >= 3
    cells = _check_cells(step, run_id)
    print(f"first run: {seconds:.1f} s, {step.n_generated} cells, trial counts seen {counts}")
    assert [_meta(c)["role"] for _, c in _anchored(cells, step.magic_id)][0] == "summary"


def test_generated_cells_run_and_pipeline_predicts(step: _Story) -> None:
    """The inserted code cells run without errors; ``pipeline`` predicts."""
    nb = step.nb
    for index, cell in _anchored(nb.cells(), step.magic_id):
        if cell["cell_type"] == "code":
            nb.run_and_wait(index, timeout=120)
            assert not nb.errors(index), (_meta(cell)["role"], nb.errors(index))
    source = "print(pipeline.predict(df.drop(columns=[target]).head()))"
    cell_id = nb.insert_cell(len(nb.cells()), source)
    step.user.append((cell_id, "code", source))
    index = nb.index_of(cell_id)
    nb.run_and_wait(index)
    assert not nb.errors(index), nb.errors(index)
    predicted = nb.output_text(index).strip()
    assert re.fullmatch(r"\[[01](\s+[01]){4}\]", predicted), predicted


def test_magic_again_replaces_its_cells(step: _Story) -> None:
    """A second run replaces the first run's cells (its own program's), nothing else
    touched."""
    run_id, out, seconds, _ = _run_magic(step, 8)
    _check_cells(step, run_id)
    print(f"second run: {seconds:.1f} s")


def test_edited_generated_cell_is_kept(step: _Story) -> None:
    """A generated cell the user edited survives the next run; the new cells come anyway."""
    nb = step.nb
    index, cell = next((i, c) for i, c in _anchored(nb.cells(), step.magic_id)
                       if _meta(c)["role"] in ("model", "member"))  # an ensemble: member
    nb.type_into(index, "\n" + EDIT)
    edited = nb.cells()[index]
    assert edited["source"].rstrip().endswith(EDIT) and edited["source"].startswith(cell["source"])
    run_id, out, seconds, _ = _run_magic(step, 8)
    assert "edited" in out, out
    cells = _check_cells(step, run_id, edited=edited["id"])
    kept = cells[nb.index_of(edited["id"])]
    assert kept["source"] == edited["source"] and _meta(kept) == _meta(edited)
    print(f"third run: {seconds:.1f} s")


def _check_stopped(step: _Story, stop: Callable[[], None], what: str) -> None:
    """Start a 120 s run, ``stop`` it after its first trial: it ends early, says it was
    stopped, and inserts its best pipeline so far (the edited cell is still kept)."""
    nb = step.nb
    edited = next(c["id"] for _, c in _anchored(nb.cells(), step.magic_id) if EDIT in c["source"])
    run_id, out, seconds, texts = _run_magic(step, 120, min_trials=1, action=stop)
    assert seconds < 60, f"{what}: the run took {seconds:.0f} s of its 120 s budget"
    assert "Stopped before the end of the budget" in out, out
    assert "KeyboardInterrupt" not in out and "CancelledError" not in out, out
    _check_cells(step, run_id, edited=edited)
    print(f"{what}: finished {seconds:.1f} s into a 120 s budget")


def test_stop_button_keeps_best_so_far(step: _Story) -> None:
    """The dashboard's Stop ends a 120 s run early; the best so far is inserted."""
    nb = step.nb

    def click_stop() -> None:
        nb.output_button(nb.index_of(step.magic_id), "Stop").click()

    _check_stopped(step, click_stop, "Stop")


def test_kernel_interrupt_keeps_best_so_far(step: _Story) -> None:
    """The toolbar's Interrupt (the kernel interrupt) ends a 120 s run the same way."""
    button = step.nb.locator(
        '.jp-NotebookPanel-toolbar [data-command="notebook:interrupt-kernel"]')
    _check_stopped(step, button.click, "Interrupt")
