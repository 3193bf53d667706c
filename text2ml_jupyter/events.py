"""Progress events: what a run reports as it goes (command line, dashboard)."""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# Event kinds, in the order a run emits them.
STAGE = "stage"  # a phase starts: understand, generate <slot>, search, refit
SPEC = "spec"  # the TaskSpec is known
CANDIDATE = "candidate"  # a candidate changed status (testing, passed, failed)
TRIAL = "trial"  # a trial finished (complete, pruned, failed)
USAGE = "usage"  # LLM calls, tokens and cost so far
DONE = "done"  # the result is ready


@dataclass
class Event:
    """One progress report. ``message`` is a one-line human summary ("" for quiet ones)."""

    kind: str
    message: str = ""
    data: dict[str, Any] = field(default_factory=dict)


class Emitter:
    """Calls the listener with each event, one at a time (trials finish on several threads).

    A listener that raises is reported once as a warning and the run goes on: a broken
    display must not lose the user's result.
    """

    def __init__(self, listener: Callable[[Event], None] | None) -> None:
        self._listener = listener
        self._lock = threading.Lock()
        self._warned = False

    def __call__(self, kind: str, message: str = "", **data: Any) -> None:
        if self._listener is None:
            return
        with self._lock:
            try:
                self._listener(Event(kind, message, data))
            except Exception as exc:  # noqa: BLE001 - see class docstring
                if not self._warned:
                    self._warned = True
                    warnings.warn(f"text2ml: the progress listener failed ({exc!r}); "
                                  "the run continues without it.", RuntimeWarning, stacklevel=2)
