"""The ``text2ml`` command: run a plain-English ML task on a CSV or Parquet file.

    text2ml run "Predict whether a passenger survived. Optimize F1." \\
        --data titanic.csv --budget 60 --out result.ipynb --out result.py
    text2ml worker --storage postgresql://ml@db/studies --study titanic   # elsewhere

Argument parsing (``build_parser``, ``parse_args`` -> ``RunOptions``) is kept apart from
the work (``_datafile.load_data``, ``write_outputs``, ``run_command``), so each can be
tested alone.

Exit codes: 0 success; 2 a usage error or a problem with the task, the data or the options
(one ``error: ...`` message on stderr, no traceback); 130 interrupted.
"""

from __future__ import annotations

import argparse
import builtins
import keyword
import math
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from ._datafile import data_suffix, first_line, load_data
from ._worker_command import WorkerOptions, add_worker_parser, worker_command
from .errors import Text2MLError

EXIT_OK = 0
EXIT_ERROR = 2
EXIT_INTERRUPTED = 130

DEFAULT_BUDGET = 60.0
DEFAULT_CANDIDATES = 4

# File name endings the command reads, longest first so ".csv.gz" wins over ".gz".
OUT_SUFFIXES = (".ipynb", ".py")

# Names the generated program uses itself; a data variable must not shadow them.
_PROGRAM_NAMES = frozenset({"pd", "np", "X", "y", "pipeline"})


# --------------------------------------------------------------------------- parsing


@dataclass(frozen=True)
class RunOptions:
    """Everything ``text2ml run`` was asked to do, validated, with no work done yet."""

    task: str
    data: Path
    target: str | None = None
    metric: str | None = None
    budget: float = DEFAULT_BUDGET
    seed: int = 0
    candidates: int = DEFAULT_CANDIDATES
    out: tuple[Path, ...] = field(default_factory=tuple)
    run_dir: Path | None = None
    quiet: bool = False
    roles: tuple[tuple[str, str], ...] = ()
    provider: str = "auto"
    model: str | None = None
    base_url: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    cache: bool = True
    send_examples: bool = True
    catalog: bool = True
    storage: str | None = None  # an Optuna storage URL that workers elsewhere can reach
    study: str | None = None

    def provider_options(self) -> dict[str, Any]:
        """Options for ``providers.get_provider`` (LLM settings; the key stays in the env)."""
        root = self.run_dir or Path(".text2ml")
        options: dict[str, Any] = {"api_key_env": self.api_key_env, "catalog": self.catalog,
                                   "send_examples": self.send_examples,
                                   "cache_dir": str(root / "llm-cache") if self.cache else None}
        if self.model:
            options["model"] = self.model
        if self.base_url:
            options["base_url"] = self.base_url
        return options


# Argument types, shared with the magics' parser (notebook/_magic_args.py).
def positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number of seconds")
    return value


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not at least 1")
    return value


def column_role(text: str) -> tuple[str, str]:
    # rpartition: a column name may contain "=", a role never
    column, sep, role = text.rpartition("=")
    if not sep or not column or not role.strip():
        raise argparse.ArgumentTypeError(f"{text!r} is not COLUMN=ROLE")
    return column, role.strip()


def _out_path(text: str) -> Path:
    path = Path(text)
    if path.suffix.lower() not in OUT_SUFFIXES:
        raise argparse.ArgumentTypeError(
            f"{text!r} must end in .ipynb (a notebook) or .py (a program)")
    return path


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("text2ml-jupyter")
    except PackageNotFoundError:  # running from a source tree that is not installed
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    """The ``text2ml`` argument parser (subcommand ``run``; more come later)."""
    parser = argparse.ArgumentParser(
        prog="text2ml",
        description="Turn a plain-English ML task into an optimized, readable "
                    "scikit-learn pipeline (Text-to-ML).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser(
        "run",
        help="run a task on a CSV or Parquet file",
        description="Understand the task, generate and test candidate pipeline parts, "
                    "search the best combination within the budget, and write it out as "
                    "a notebook and/or a Python program.",
    )
    run.add_argument("task", metavar="TASK",
                     help='the task in plain English, e.g. "Predict survived. Optimize F1."')
    run.add_argument("--data", required=True, type=Path, metavar="FILE",
                     help="the data: a .csv (optionally compressed), .tsv or .parquet file")
    run.add_argument("--target", metavar="COL", default=None,
                     help="the column to predict (default: from the task text and the data)")
    run.add_argument("--metric", metavar="M", default=None,
                     help="the metric to optimize, e.g. f1, accuracy, roc_auc, rmse, mae, r2 "
                          "(default: from the task text, else the task type's usual one)")
    run.add_argument("--budget", type=positive_seconds, default=DEFAULT_BUDGET,
                     metavar="SECONDS",
                     help="wall-clock budget for the whole run (default: %(default)g)")
    run.add_argument("--seed", type=int, default=0, metavar="N",
                     help="random seed (default: %(default)s)")
    run.add_argument("--candidates", type=positive_int, default=DEFAULT_CANDIDATES,
                     metavar="K",
                     help="candidates generated per module slot (default: %(default)s)")
    run.add_argument("--out", type=_out_path, action="append", default=[],
                     metavar="FILE.ipynb|FILE.py",
                     help="write the result as a notebook (.ipynb) or a program (.py); "
                          "may be given more than once")
    run.add_argument("--role", type=column_role, action="append", default=[], metavar="COL=ROLE",
                     help="set a column's role (numeric, categorical, text, datetime, or "
                          "ignore), e.g. --role alive=categorical to keep a column flagged "
                          "as leakage; may be given more than once")
    run.add_argument("--run-dir", type=Path, default=None, metavar="DIR",
                     help="the run folder (default: .text2ml/<run-id>/)")
    run.add_argument("--quiet", "-q", action="store_true",
                     help="print only the final score and where the outputs went")
    run.add_argument("--storage", default=None, metavar="URL",
                     help="an Optuna storage URL (e.g. postgresql://user@host/db) shared "
                          "with `text2ml worker` processes (default: a journal file in "
                          "the run folder)")
    run.add_argument("--study", default=None, metavar="NAME",
                     help="the study's name, for workers started before the run "
                          "(default: the run id)")
    llm = run.add_argument_group(
        "LLM provider", "The key and endpoint come from the environment: OPENAI_API_KEY "
        "(or --api-key-env NAME) and OPENAI_BASE_URL for any OpenAI-compatible server.")
    llm.add_argument("--provider", choices=("auto", "offline", "openai"), default="auto",
                     help="who writes the candidates: offline (built-in catalog), openai "
                          "(an LLM, competing with the catalog), auto (openai when a key or "
                          "base URL is set; default)")
    llm.add_argument("--model", default=None, metavar="NAME",
                     help="the LLM's model name (default: $OPENAI_MODEL or gpt-4o-mini)")
    llm.add_argument("--base-url", default=None, metavar="URL",
                     help="an OpenAI-compatible endpoint, e.g. http://localhost:11434/v1")
    llm.add_argument("--api-key-env", default="OPENAI_API_KEY", metavar="NAME",
                     help="the environment variable holding the key (default: %(default)s)")
    llm.add_argument("--no-cache", dest="cache", action="store_false",
                     help="do not reuse cached LLM answers (they are cached by request)")
    llm.add_argument("--no-examples", dest="send_examples", action="store_false",
                     help="send no example values of the data to the LLM (schema and "
                          "statistics only)")
    llm.add_argument("--no-catalog", dest="catalog", action="store_false",
                     help="LLM candidates only, without the offline catalog's")

    execute = commands.add_parser(
        "execute",
        help="execute a notebook headless, writing text2ml's cells into it",
        description="Run every cell of a notebook in a fresh kernel (nbclient). The cells "
                    "of each %%%%text2ml run are inserted below it and run too; the executed "
                    "notebook is written to --out (default: in place).",
    )
    execute.add_argument("notebook", type=Path, metavar="NOTEBOOK.ipynb")
    execute.add_argument("--out", type=Path, default=None, metavar="FILE.ipynb",
                         help="where to write the executed notebook (default: in place)")
    execute.add_argument("--timeout", type=positive_seconds, default=900, metavar="SECONDS",
                         help="time limit per cell (default: %(default)g)")
    add_worker_parser(commands)
    return parser


@dataclass(frozen=True)
class ExecuteOptions:
    """Options of ``text2ml execute``."""

    notebook: Path
    out: Path | None
    timeout: float


def execute_command(options: ExecuteOptions) -> int:
    """``text2ml execute``: run the notebook, print each run's summary and the output."""
    from .notebook.headless import execute_notebook
    from .notebook.writeback import describe

    done = execute_notebook(options.notebook, options.out, timeout=options.timeout)
    for summary, applied in zip(done.summaries, done.insertions):
        print(summary.strip(), flush=True)
        print(describe(applied), flush=True)
    print(f"Executed notebook: {done.path} ({done.n_cells} cells)", flush=True)
    return EXIT_OK


def parse_args(argv: Sequence[str] | None = None
               ) -> RunOptions | ExecuteOptions | WorkerOptions:
    """Parse the command line into options; argparse exits 2 on a usage error."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "execute":
        return ExecuteOptions(args.notebook, args.out, args.timeout)
    if args.command == "worker":
        return WorkerOptions(args.storage, args.study, args.data, args.workers,
                             args.memory_limit_mb, args.wait, args.run_dir)
    task = args.task.strip()
    if not task:
        parser.error("TASK is empty: say what to predict, e.g. \"Predict survived.\"")
    return RunOptions(
        task=task,
        data=args.data,
        target=args.target,
        metric=args.metric,
        budget=args.budget,
        seed=args.seed,
        candidates=args.candidates,
        out=tuple(args.out),
        run_dir=args.run_dir,
        quiet=args.quiet,
        roles=tuple(args.role),
        provider=args.provider,
        model=args.model,
        base_url=args.base_url,
        api_key_env=args.api_key_env,
        cache=args.cache,
        send_examples=args.send_examples,
        catalog=args.catalog,
        storage=args.storage,
        study=args.study,
    )


# --------------------------------------------------------------------------- the work


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
