"""The ``text2ml`` command: run a plain-English ML task on a CSV or Parquet file.

    text2ml run "Predict whether a passenger survived. Optimize F1." \\
        --data titanic.csv --budget 60 --out result.ipynb --out result.py
    text2ml worker --storage postgresql://ml@db/studies --study titanic   # elsewhere

Argument parsing (``_cli_args``: ``build_parser``, ``parse_args`` -> ``RunOptions``) is
kept apart from the work (``_datafile.load_data``, ``write_outputs``, ``run_command``), so
each can be tested alone.

Exit codes: 0 success; 2 a usage error or a problem with the task, the data or the options
(one ``error: ...`` message on stderr, no traceback); 130 interrupted.
"""

from __future__ import annotations

import builtins
import keyword
import math
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from ._cli_args import ExecuteOptions, RunOptions, parse_args
from ._datafile import data_suffix, first_line, load_data
from ._worker_command import WorkerOptions, worker_command
from .errors import Text2MLError

EXIT_OK = 0
EXIT_ERROR = 2
EXIT_INTERRUPTED = 130

# Names the generated program uses itself; a data variable must not shadow them.
_PROGRAM_NAMES = frozenset({"pd", "np", "X", "y", "pipeline"})


def execute_command(options: ExecuteOptions) -> int:
    """``text2ml execute``: run the notebook, print each run's summary and the output."""
    from .notebook.headless import execute_notebook
    from .notebook.writeback import describe

    done = execute_notebook(options.notebook, options.out, timeout=options.timeout)
    for summary, applied in zip(done.summaries, done.insertions, strict=True):
        print(summary.strip(), flush=True)
        print(describe(applied), flush=True)
    print(f"Executed notebook: {done.path} ({done.n_cells} cells)", flush=True)
    return EXIT_OK


def derive_data_name(path: str | Path) -> str:
    """A Python identifier for the data, from the file name.

    ``titanic.csv`` -> ``titanic``; ``my-data 2.csv`` -> ``my_data_2``; a name that would
    be a keyword, a builtin, a name the generated program uses, or start with a digit
    gets the prefix ``data_`` (``2024.csv`` -> ``data_2024``, ``class.csv`` -> ``data_class``).
    """
    path = Path(path)
    suffix = data_suffix(path)
    stem = path.name[: -len(suffix)] if suffix else path.stem
    name = re.sub(r"[^0-9A-Za-z_]+", "_", stem).strip("_").lower()
    name = re.sub(r"_+", "_", name)
    if not name:
        return "data"
    if (name[0].isdigit() or keyword.iskeyword(name) or keyword.issoftkeyword(name)
            or hasattr(builtins, name) or name in _PROGRAM_NAMES):
        name = f"data_{name}"
    return name


def notebook_cells(result: Any, load: Any) -> list[Any]:
    """The notebook's cells: the summary markdown first, then the data loading, then the rest."""
    cells = list(result.cells)
    if cells and cells[0].kind == "markdown":
        return [cells[0], load, *cells[1:]]
    return [load, *cells]


def program_source(result: Any, load: Any, data_path: str) -> str:
    """A standalone ``.py`` program: the data loading, then the pipeline code.

    When the result carries its ``program`` (``program.Program``), its ``to_python`` is
    used: the same code with a summary docstring and one merged import block.
    """
    program = getattr(result, "program", None)
    if hasattr(program, "to_python"):
        return str(program.to_python(data_path))
    return f"{load.source.rstrip()}\n\n\n{result.code.lstrip()}".rstrip() + "\n"


def prepare_outputs(outs: Sequence[Path]) -> None:
    """Create the output folders and check each output can be written, before the run
    spends its budget; raises ``Text2MLError`` naming the path."""
    for out in outs:
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise Text2MLError(f"cannot write {str(out)!r}: {first_line(exc)}") from None
        if out.is_dir():
            raise Text2MLError(f"cannot write {str(out)!r}: it is a folder")


def write_outputs(result: Any, data_path: Path, outs: Sequence[Path]) -> list[Path]:
    """Write each requested output; returns the paths written.

    The data is loaded in the generated code from the data file's absolute path, so the
    notebook and the program run from any working directory.
    """
    if not outs:
        return []
    from .program import cells_to_notebook, load_cell, write_notebook

    data_ref = str(data_path.resolve())
    load = load_cell(result.data_name, data_ref)
    written: list[Path] = []
    for out in outs:
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            if out.suffix.lower() == ".ipynb":
                nb = cells_to_notebook(notebook_cells(result, load), run_id=result.run_id)
                write_notebook(nb, out)
            else:
                source = program_source(result, load, data_ref)
                compile(source, str(out), "exec")  # a syntax error never reaches the disk
                tmp = out.with_name(f".{out.name}.tmp")
                tmp.write_text(source, encoding="utf-8")
                tmp.replace(out)
        except OSError as exc:
            raise Text2MLError(f"cannot write {str(out)!r}: {first_line(exc)}") from None
        written.append(out)
    return written


class _Printer:
    """Prints the engine's events as they arrive (flushed at once).

    The ``spec`` event is shown as the task as understood (its ``data["spec"]`` summary,
    indented); every other event as its message, when it has one.
    """

    def __init__(self, stream: TextIO, quiet: bool) -> None:
        self.stream = stream
        self.quiet = quiet
        self.spec_shown = False

    def line(self, text: str = "") -> None:
        print(text, file=self.stream, flush=True)

    def spec(self, spec: Any) -> None:
        """Show the TaskSpec once (from its event, or from the result if no event had it)."""
        if self.spec_shown or self.quiet or not hasattr(spec, "summary"):
            return
        self.spec_shown = True
        self.line("Task as understood:")
        for row in spec.summary().splitlines():
            self.line(f"  {row}")

    def __call__(self, event: Any) -> None:
        if self.quiet:
            return
        data = getattr(event, "data", None) or {}
        if getattr(event, "kind", None) == "spec" and hasattr(data.get("spec"), "summary"):
            self.spec(data["spec"])
            return
        message = getattr(event, "message", "") or ""
        if message:
            self.line(message)


def _metric_label(result: Any) -> str:
    """The metric as people write it ("F1 (positive class 1)"), falling back to its name."""
    try:
        return str(result.spec.metric_label())
    except Exception:  # noqa: BLE001 - a label is cosmetic; the name is always there
        return str(result.metric)


def final_score_line(result: Any) -> str:
    """The closing score line, e.g. ``Best F1 (positive class 1): 0.7812 by 5-fold
    cross-validation (seed 0); 40 trials in 58.1 s`` (``n/a`` when no trial finished)."""
    score = result.best_score
    shown = "n/a" if score is None or math.isnan(score) else f"{score:.4f}"
    evaluation = getattr(result, "evaluation", None)
    how = f" by {evaluation.describe()}" if hasattr(evaluation, "describe") else ""
    return (f"Best {_metric_label(result)}: {shown}{how}; "
            f"{result.n_trials} trials in {result.elapsed:.1f} s")


def run_command(options: RunOptions, *, stdout: TextIO | None = None) -> int:
    """Do ``text2ml run``: load, run the engine, print, write. Raises ``Text2MLError``."""
    stdout = stdout or sys.stdout
    data = load_data(options.data)
    data_name = derive_data_name(options.data)
    prepare_outputs(options.out)
    printer = _Printer(stdout, options.quiet)
    if not options.quiet:
        printer.line(f"Data: {options.data} ({data.shape[0]} rows, {data.shape[1]} columns) "
                     f"as {data_name}; budget {options.budget:g} s")
        if options.storage and options.study:
            from .distributed import shown_storage

            printer.line(f"Study {options.study!r} in {shown_storage(options.storage)}: "
                         f"workers join with text2ml worker --storage URL --study "
                         f"{options.study}")

    from .engine import run

    result = run(
        options.task,
        data,
        time_budget=options.budget,
        target=options.target,
        metric=options.metric,
        seed=options.seed,
        candidates=options.candidates,
        run_dir=options.run_dir,
        data_name=data_name,
        roles=dict(options.roles) or None,
        provider=options.provider,
        provider_options=options.provider_options(),
        storage=options.storage,
        study_name=options.study,
        on_event=printer,
    )
    printer.spec(result.spec)
    written = write_outputs(result, options.data, options.out)

    printer.line(final_score_line(result))
    if getattr(result, "usage", None) is not None:
        printer.line(result.usage.summary())
    printer.line(f"Run folder: {result.run_dir}")
    for path in written:
        kind = "Notebook" if path.suffix.lower() == ".ipynb" else "Program"
        printer.line(f"{kind}: {path}")
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``text2ml`` console script; returns the exit code."""
    options = parse_args(argv)
    try:
        if isinstance(options, ExecuteOptions):
            return execute_command(options)
        if isinstance(options, WorkerOptions):
            return worker_command(options)
        return run_command(options)
    except Text2MLError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr, flush=True)
        return EXIT_INTERRUPTED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
