"""Argument parsing for ``%%text2ml`` and ``%text2ml``, kept apart from the work.

Unset options stay ``None`` so the ``Text2ML`` configuration fills them in.
"""

from __future__ import annotations

import argparse
import shlex
from typing import Any

from .._arg_types import column_role, positive_int, positive_seconds
from ..errors import Text2MLError

CELL_USAGE = ("%%text2ml [--data NAME|PATH] [--target COL] [--metric M] [--budget SECONDS]\n"
              "          [--candidates K] [--provider P] [--model NAME] [--name VAR]\n"
              "          [--seed N] [--role COL=ROLE] [--no-insert] [--no-cache]\n"
              "          [--storage URL] [--study NAME]\n"
              "<the task in plain English>")
LINE_USAGE = ("%text2ml resume [--budget SECONDS] [--no-insert]   continue the last run\n"
              "%text2ml show                                   the last run's dashboard\n"
              "%text2ml export PATH.py|PATH.ipynb              write the last run's program\n"
              "%text2ml help                                   this help and the settings")
SUBCOMMANDS = ("resume", "show", "export", "help")


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of printing usage and exiting the kernel."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise Text2MLError(f"{self.prog}: {message}.", f"Usage:\n{self.usage}")

    def exit(self, status: int = 0, message: str | None = None) -> None:  # type: ignore[override]
        raise Text2MLError(message or f"{self.prog}: invalid arguments.",
                           f"Usage:\n{self.usage}")


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None


def _cell_parser() -> _Parser:
    parser = _Parser(prog="%%text2ml", usage=CELL_USAGE, add_help=False)
    parser.add_argument("--data")
    parser.add_argument("--target")
    parser.add_argument("--metric")
    parser.add_argument("--budget", type=positive_seconds)
    parser.add_argument("--candidates", type=positive_int)
    parser.add_argument("--provider")
    parser.add_argument("--model")
    parser.add_argument("--name")
    parser.add_argument("--seed", type=_int)
    parser.add_argument("--role", action="append", type=column_role, default=[])
    parser.add_argument("--no-insert", dest="insert", action="store_false", default=None)
    parser.add_argument("--no-cache", dest="cache", action="store_false", default=None)
    parser.add_argument("--storage")  # shared with `text2ml worker` processes
    parser.add_argument("--study")
    return parser


def _split(line: str, usage: str) -> list[str]:
    try:
        return shlex.split(line)
    except ValueError as exc:
        raise Text2MLError(f"Cannot read the options {line!r}: {exc}.",
                           f"Check the quotes. Usage:\n{usage}") from None


def parse_cell_line(line: str) -> argparse.Namespace:
    """Options of ``%%text2ml``; a stray word is most likely task text on the wrong line."""
    args, extra = _cell_parser().parse_known_args(_split(line, CELL_USAGE))
    if extra:
        raise Text2MLError(f"%%text2ml does not understand {' '.join(extra)!r}.",
                           "Put the task on the lines below %%text2ml, and options "
                           f"on its first line. Usage:\n{CELL_USAGE}")
    args.roles = dict(args.role)
    return args


def parse_line(line: str) -> tuple[str, argparse.Namespace]:
    """``%text2ml <subcommand> [options]`` -> (subcommand, options)."""
    words = _split(line, LINE_USAGE)
    if not words:
        return "help", argparse.Namespace()
    command, rest = words[0], words[1:]
    parser = _Parser(prog=f"%text2ml {command}", usage=LINE_USAGE, add_help=False)
    if command == "resume":
        parser.add_argument("--budget", type=positive_seconds)
        parser.add_argument("--no-insert", dest="insert", action="store_false", default=None)
    elif command == "export":
        parser.add_argument("path")
    elif command not in SUBCOMMANDS:
        hint = (" A task goes in a cell that starts with %%text2ml (two percent signs)."
                if len(words) > 2 else "")
        raise Text2MLError(f"Unknown %text2ml command {command!r}.{hint}",
                           f"Use one of: {', '.join(SUBCOMMANDS)}.\n{LINE_USAGE}")
    return command, parser.parse_args(rest)


def merged(value: Any, default: Any) -> Any:
    """An option given on the magic line wins over the configuration."""
    return default if value is None else value
