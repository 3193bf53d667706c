"""RunProgress: what a run has reported so far, rebuilt from its events.

Plain Python, no Jupyter: the dashboard widget and the static summary (saved notebooks,
nbclient output, the command line) both render from this one state. Events can come from
several search threads and, for a resumed study, out of order; every field is optional, so
``apply`` never raises on a partial or unexpected event.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .. import events as ev
from ..slots import SLOTS

# Trial states as the events name them (optuna's TrialState names, lower case).
COMPLETE = "complete"
PRUNED = "pruned"
FAIL = "fail"

_SLOT_NAMES = tuple(s.name for s in SLOTS)


@dataclass
class CandidateRow:
    """One candidate as the dashboard shows it: a copy of the candidate's fields (the
    engine mutates and re-sends the same object) plus how the search used it."""

    slot: str
    name: str
    status: str = ""  # "" until the candidate itself is reported (seen only in a trial)
    reason: str | None = None
    origin: str = ""
    description: str = ""
    test_seconds: float | None = None
    trials: int = 0  # trials that chose it
    wins: int = 0  # trials with it that set a new best


class RunProgress:
    """The state of one run, built by :meth:`apply` from its :class:`~.events.Event`\\ s.

    Readers on another thread (the dashboard's refresh) take :attr:`lock` while they read,
    so a trial arriving mid-render cannot change the dictionaries under them.
    """

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.lock = threading.RLock()
        self._clock = clock
        self.stage: str | None = None
        self.spec: Any = None
        self.evaluation: Any = None
        self.budget: float | None = None
        self.usage = ""  # LLM calls, tokens and cost so far ("" without an LLM)
        self.elapsed = 0.0
        self._elapsed_at: float | None = None  # clock time when ``elapsed`` was reported
        self.candidates: dict[str, dict[str, CandidateRow]] = {s: {} for s in _SLOT_NAMES}
        self.n_complete = 0
        self.n_pruned = 0
        self.n_failed = 0
        self.n_replayed = 0
        self.best: float | None = None
        self.curve: list[tuple[float, float]] = []  # (elapsed s, best so far) at each new best
        self.best_choices: dict[str, str] = {}  # slot -> candidate name of the best trial
        self.best_hyperparams: dict[str, Any] = {}  # "slot.name.param" -> value
        self.selected: dict[str, str] = {}  # slot -> the candidate the final pipeline uses
        self.stopped = False
        self.result: Any = None
        self._seen_trials: set[int] = set()

    # ------------------------------------------------------------------ reading
    @property
    def done(self) -> bool:
        return self.result is not None

    @property
    def n_trials(self) -> int:
        return self.n_complete + self.n_pruned + self.n_failed

    @property
    def direction(self) -> str | None:
        """"maximize" / "minimize" once the spec is known (None before)."""
        return getattr(self.spec, "direction", None)

    @property
    def generating(self) -> str | None:
        """The slot whose candidates are being generated, until the first one arrives."""
        if self.stage and self.stage.startswith("generate:"):
            slot = self.stage.split(":", 1)[1]
            if not any(row.status for row in self.candidates.get(slot, {}).values()):
                return slot
        return None

    def current_elapsed(self) -> float:
        """Seconds since the run started, now: events are seconds apart during a long
        trial, so the reported time is carried forward by the clock while the run goes on."""
        with self.lock:
            if self.done or self._elapsed_at is None:
                return self.elapsed
            now = self.elapsed + max(0.0, self._clock() - self._elapsed_at)
            return min(now, self.budget) if self.budget else now

    def rows(self, slot: str) -> list[CandidateRow]:
        """A slot's candidates in the order they were reported."""
        return list(self.candidates.get(slot, {}).values())

    # ------------------------------------------------------------------ writing
    def mark_stopping(self) -> None:
        """The user asked to stop: the run keeps the best pipeline so far."""
        with self.lock:
            self.stopped = True

    def apply(self, event: ev.Event) -> None:
        """Update the state from one event (unknown kinds and missing fields are ignored)."""
        data = getattr(event, "data", None) or {}
        handler = {ev.STAGE: self._on_stage, ev.SPEC: self._on_spec,
                   ev.CANDIDATE: self._on_candidate, ev.TRIAL: self._on_trial,
                   ev.DONE: self._on_done, ev.USAGE: self._on_usage,
                   }.get(getattr(event, "kind", None))
        with self.lock:
            self._clock_fields(data)
            if handler is not None:
                handler(data)

    def _on_usage(self, data: dict[str, Any]) -> None:
        # the engine's one-line summary, e.g. "LLM: 9 calls (3 cached), ... tokens, ~$0.004"
        self.usage = str(data.get("summary") or self.usage or "")

    def _clock_fields(self, data: dict[str, Any]) -> None:
        budget = _number(data.get("budget"))
        if budget is not None and budget > 0:
            self.budget = budget
        elapsed = _number(data.get("elapsed"))
        # max: events from several threads may carry slightly older times
        if elapsed is not None and not self.done and elapsed >= self.elapsed:
            self.elapsed, self._elapsed_at = elapsed, self._clock()

    def _on_stage(self, data: dict[str, Any]) -> None:
        stage = data.get("stage")
        if isinstance(stage, str) and not self.done:
            self.stage = stage

    def _on_spec(self, data: dict[str, Any]) -> None:
        self.spec = data.get("spec", self.spec)
        self.evaluation = data.get("evaluation", self.evaluation)

    def _on_candidate(self, data: dict[str, Any]) -> None:
        candidate = data.get("candidate")
        slot, name = getattr(candidate, "slot", None), getattr(candidate, "name", None)
        if slot is None or name is None:
            return
        self._update_row(candidate)

    def _update_row(self, candidate: Any) -> None:
        row = self._row(candidate.slot, candidate.name)
        row.status = getattr(candidate, "status", "") or row.status
        row.reason = getattr(candidate, "reason", None)
        row.origin = getattr(candidate, "origin", "") or row.origin
        row.description = getattr(candidate, "description", "") or row.description
        row.test_seconds = getattr(candidate, "test_seconds", None)

    def _row(self, slot: str, name: str) -> CandidateRow:
        rows = self.candidates.setdefault(slot, {})
        if name not in rows:
            rows[name] = CandidateRow(slot, name)
        return rows[name]

    def _on_trial(self, data: dict[str, Any]) -> None:
        trial = data.get("trial")
        number = data.get("number", getattr(trial, "number", None))
        if isinstance(number, int) and number >= 0:  # -1: a trial outside any study
            if number in self._seen_trials:  # a re-sent trial must not count twice
                return
            self._seen_trials.add(number)
        state = data.get("state") or _state_name(trial)
        value = _number(data.get("value", getattr(trial, "value", None)))
        if state == COMPLETE:
            self.n_complete += 1
        elif state == PRUNED:
            self.n_pruned += 1
        elif state == FAIL:
            self.n_failed += 1
        replayed = bool(data.get("replayed", False))
        self.n_replayed += int(replayed)

        params = getattr(trial, "params", None) or {}
        choices = data.get("choices") or {s: params[s] for s in _SLOT_NAMES if s in params}
        # a trial that failed before choosing every slot reports None for the rest
        choices = {s: str(n) for s, n in choices.items() if n is not None}
        for slot, name in choices.items():
            self._row(slot, name).trials += 1

        previous = self.best
        best = self._best_after(_number(data.get("best")), value if state == COMPLETE else None)
        improved = best is not None and best != previous
        if not improved:
            return
        self.best = best
        if value is not None and value == best:  # this trial set it: credit its candidates
            for slot, name in choices.items():
                self._row(slot, name).wins += 1
        best_params = data.get("best_params") or (params if value == best else None)
        if best_params:
            self._set_best_params(best_params)
        # A replayed trial ran in an earlier session: it is the starting point, at x=0.
        # Otherwise its own time, but never left of the previous point (a late event).
        at = _number(data.get("elapsed"))
        at = 0.0 if replayed else max(self.elapsed if at is None else at,
                                      self.curve[-1][0] if self.curve else 0.0)
        self.curve.append((at, best))

    def _best_after(self, reported: float | None, value: float | None) -> float | None:
        """The best so far after a trial. The engine reads the study's best before the
        listener's lock, so a late event may carry an older best: never go backwards."""
        options = [v for v in (self.best, reported, value) if v is not None]
        if not options:
            return None
        if self.direction == "minimize":
            return min(options)
        if self.direction == "maximize":
            return max(options)
        return reported if reported is not None else (self.best if self.best is not None
                                                      else value)

    def _set_best_params(self, params: dict[str, Any]) -> None:
        self.best_choices = {s: str(params[s]) for s in _SLOT_NAMES if s in params}
        self.best_hyperparams = {k: v for k, v in params.items() if k not in _SLOT_NAMES}

    def _backfill(self, study: Any) -> None:
        """Trials from the study when no trial event was seen (a progress built from the
        result alone, e.g. to show a finished run again): counts, wins and the curve."""
        for trial in _finished_trials(study):
            self._on_trial({"trial": trial, "elapsed": trial.user_attrs.get("finished")})

    def _on_done(self, data: dict[str, Any]) -> None:
        result = data.get("result")
        if result is None:
            return
        self.result = result
        self.stage = "done"
        self.spec = getattr(result, "spec", None) or self.spec
        self.evaluation = getattr(result, "evaluation", None) or self.evaluation
        if not self._seen_trials and not self.n_trials:
            self._backfill(getattr(result, "study", None))
        for candidate in getattr(result, "candidates", None) or []:
            if getattr(candidate, "slot", None) and getattr(candidate, "name", None):
                self._update_row(candidate)
        self.selected = dict(getattr(result, "chosen", None) or {})
        # The search's best stays what the trials said (the refit may have fallen back to
        # another trial; the final section shows that one). The result fills in only what
        # no trial event told.
        params = getattr(result, "best_params", None)
        if params and not self.best_choices:
            self._set_best_params(params)
        score = _number(getattr(result, "best_score", None))  # None for NaN: no trial ended
        if score is not None and self.best is None:
            self.best = score
        elapsed = _number(getattr(result, "elapsed", None))
        if elapsed is not None:
            self.elapsed = elapsed


def _finished_trials(study: Any) -> list[Any]:
    """The study's finished trials by number ([] without a readable study). Enqueued trials
    that never ran stay WAITING: they are not trials of the run."""
    try:
        trials = list(study.trials)
    except Exception:  # noqa: BLE001 - no study, or its storage is gone: nothing to add
        return []
    return sorted((t for t in trials if t.state.is_finished()), key=lambda t: t.number)


def _number(value: Any) -> float | None:
    """A finite float from an event field, or None (missing, None, NaN, not a number)."""
    if isinstance(value, (bool, str)):
        return None
    try:
        number = float(value)  # numpy scalars too
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _state_name(trial: Any) -> str | None:
    state = getattr(trial, "state", None)
    name = getattr(state, "name", None)
    return name.lower() if isinstance(name, str) else None
