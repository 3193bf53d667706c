"""``ast.parse`` behind one lock.

CPython 3.11 can fail with "SystemError: AST constructor recursion depth mismatch" when
two threads parse at the same time (contract tests and LLM answers are checked on
threads); parsing is cheap, so one lock costs nothing measurable.
"""

from __future__ import annotations

import ast
import threading

_LOCK = threading.Lock()


def parse_source(source: str, mode: str = "exec") -> ast.AST:
    """``ast.parse(source, mode=mode)``, one thread at a time."""
    with _LOCK:
        return ast.parse(source, mode=mode)
