"""The ``text2ml`` command's arguments: the parser and the options it gives
(``parse_args`` -> ``RunOptions`` / ``ExecuteOptions`` / ``WorkerOptions``), kept apart from
the work (cli.py), so each can be tested alone."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._arg_types import column_role, positive_int, positive_seconds
from ._worker_command import WorkerOptions, add_worker_parser

DEFAULT_BUDGET = 60.0
DEFAULT_CANDIDATES = 4

# File name endings the command reads, longest first so ".csv.gz" wins over ".gz".
OUT_SUFFIXES = (".ipynb", ".py")


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
