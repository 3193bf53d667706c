"""Argument types shared by the command line (``_cli_args``, ``_worker_command``) and the
magics' parser (``notebook/_magic_args``): each turns the text into a value or raises
``argparse.ArgumentTypeError`` with what is wrong."""

from __future__ import annotations

import argparse


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
