"""Worker-side helpers of overhead.py, imported inside text2ml's sandboxed workers (the
benchmark puts benchmarks/ on the workers' PYTHONPATH).

- ``warm``: load the data and execute every accepted candidate's source once (its imports),
  so timed trials start from the same warm state as the in-process baseline.
- ``timed_evaluate``: ``search.evaluate_trial`` unchanged, with the time spent waiting for
  the caller's answers (suggest / report round trips), the audit events raised and the
  monotonic clock at start and end added to its result (the profile run only).
- ``ping`` / ``noop``: an IPC round trip and a call with a trial's payload, for latency.
"""

from __future__ import annotations

import collections
import sys
import time
from typing import Any

_EVENTS: collections.Counter[str] = collections.Counter()
_COUNTING = [False]
_HOOKED = [False]


def warm(context: Any, *, data_path: str, spec: dict[str, Any],
         chains: list[tuple[str, str, str, dict[str, Any]]]) -> dict[str, Any]:
    """Load the data (as trials do) and run every candidate's source once."""
    from text2ml_jupyter._building import exec_candidate, load_training_data
    from text2ml_jupyter.spec import TaskSpec

    started = time.monotonic()
    X, _ = load_training_data(context, data_path, TaskSpec.from_dict(spec))
    for slot, name, source, _defaults in chains:
        exec_candidate(slot, name, source)
    return {"rows": len(X), "seconds": time.monotonic() - started}


def _count(event: str, args: tuple[Any, ...]) -> None:
    if _COUNTING[0]:
        _EVENTS[event] += 1


def timed_evaluate(context: Any, **kwargs: Any) -> dict[str, Any]:
    """``evaluate_trial`` with its question round trips timed (by kind) and audit events
    counted."""
    from text2ml_jupyter.search import evaluate_trial

    if not _HOOKED[0]:
        sys.addaudithook(_count)  # once per worker; counts only while _COUNTING
        _HOOKED[0] = True
    ask = context.ask
    waits: dict[str, list[float]] = {"suggest": [], "report": []}

    def timed_ask(question: Any) -> Any:
        started = time.monotonic()
        try:
            return ask(question)
        finally:
            waits[question[0]].append(time.monotonic() - started)

    _EVENTS.clear()
    context.ask = timed_ask
    _COUNTING[0] = True
    started = time.monotonic()
    try:
        out = evaluate_trial(context, **kwargs)
    finally:
        ended = time.monotonic()
        _COUNTING[0] = False
        del context.ask  # back to the class's method
    out["_probe"] = {"start": started, "end": ended,
                     "suggest_n": len(waits["suggest"]), "suggest_s": sum(waits["suggest"]),
                     "report_n": len(waits["report"]), "report_s": sum(waits["report"]),
                     "audit_events": sum(_EVENTS.values()),
                     "top_events": _EVENTS.most_common(6)}
    return out


def ping(context: Any, *, n: int) -> float:
    """Ask the caller ``n`` trivial questions; the seconds per round trip."""
    started = time.monotonic()
    for i in range(n):
        context.ask(("ping", i))
    return (time.monotonic() - started) / n


def noop(context: Any, **kwargs: Any) -> float:
    """Return at once (the payload is whatever a trial call carries)."""
    return time.monotonic()
