"""``text2ml worker``: run trials of a shared study from another process or machine.

Its parser, options and command, kept out of cli.py; the work is ``distributed.run_worker``.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._arg_types import positive_int, positive_seconds
from ._datafile import first_line
from .errors import Text2MLError

EXIT_OK = 0


def _memory_mb(text: str) -> int:
    """At least 1024 MiB: a worker needs that much address space to import scikit-learn."""
    value = positive_int(text)
    if value < 1024:
        raise argparse.ArgumentTypeError(f"{text!r} is less than 1024 MiB")
    return value


def add_worker_parser(commands: Any) -> None:
    """The ``worker`` subcommand of ``text2ml`` (``commands``: its subparsers)."""
    worker = commands.add_parser(
        "worker",
        help="run trials of a shared study (from another process or machine)",
        description="Wait for the run with this storage and study name (%%text2ml "
                    "--storage URL --study NAME, or text2ml run ... --storage URL --study "
                    "NAME), then run its trials in sandboxed workers here until its search "
                    "ends. The password can come from the environment (PGPASSWORD, "
                    "~/.pgpass) instead of the URL.")
    worker.add_argument("--storage", required=True, metavar="URL",
                        help="the run's Optuna storage URL, e.g. postgresql://user@host/db")
    worker.add_argument("--study", required=True, metavar="NAME", help="the study's name")
    worker.add_argument("--data", type=Path, default=None, metavar="PATH",
                        help="the run's data on this machine: the file the run read (CSV, "
                             "Parquet) or its data.pkl (default: the path the run "
                             "published)")
    worker.add_argument("--workers", type=positive_int, default=None, metavar="N",
                        help="sandboxed worker processes (default: one per core, at most 8)")
    worker.add_argument("--memory-limit-mb", type=_memory_mb, default=None, metavar="M",
                        help="memory limit per worker in MiB (default: a fair share)")
    worker.add_argument("--wait", type=positive_seconds, default=600, metavar="SECONDS",
                        help="how long to wait for the run's search to start "
                             "(default: %(default)g)")
    worker.add_argument("--run-dir", type=Path, default=None, metavar="DIR",
                        help="its scratch folder and logs go under DIR/workers/ "
                             "(default: .text2ml, as for runs)")


@dataclass(frozen=True)
class WorkerOptions:
    """Options of ``text2ml worker``."""

    storage: str
    study: str
    data: Path | None = None
    workers: int | None = None
    memory_limit_mb: int | None = None
    wait: float = 600.0
    run_dir: Path | None = None


def worker_command(options: WorkerOptions) -> int:
    """``text2ml worker``: run the study's trials here; one summary line at the end."""
    from .distributed import mask_secrets, run_worker

    try:
        report = run_worker(options.storage, options.study, data=options.data,
                            n_workers=options.workers, memory_limit_mb=options.memory_limit_mb,
                            wait=options.wait, run_dir=options.run_dir,
                            say=lambda line: print(line, flush=True))
    except (Text2MLError, KeyboardInterrupt):
        raise
    except Exception as exc:  # noqa: BLE001 - e.g. the database went away mid-search
        raise Text2MLError(mask_secrets(f"The worker stopped: {type(exc).__name__}: "
                                        f"{first_line(exc)}", options.storage)) from None
    print(report.summary(), flush=True)
    return EXIT_OK
