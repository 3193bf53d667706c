"""``resume()``: continue a finished run's study for more time.

The spec, the tested candidates and the validation protocol stay as they were, so new
trials are comparable with the old ones and land in the same study; the result replaces
the run's program (same run id, same run folder).
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from . import events as ev
from ._runfolder import RunFolder
from .candidates import PASSED, Candidate
from .engine import (Result, _as_frame, _check_budget, _default_memory, _quiet_optuna,
                     _ship_data, search_and_finish, trial_event)
from .errors import Text2MLError
from .evaluation import Evaluation
from .sandbox import Limits, WorkerPool
from .search import Budget, create_study
from .slots import SLOTS
from .spec import TaskSpec


@dataclass
class _Previous:
    spec: TaskSpec
    evaluation: Evaluation
    candidates: list[Candidate]
    folder: RunFolder
    storage: Any
    data_name: str
    pipeline_name: str


def resume(
    previous: Result | str | os.PathLike[str],
    data: pd.DataFrame | str | os.PathLike[str],
    *,
    time_budget: float = 60,
    storage: Any = None,
    n_workers: int | None = None,
    memory_limit_mb: int | None = None,
    on_event: Callable[[ev.Event], None] | None = None,
    stop: threading.Event | None = None,
) -> Result:
    """Run ``time_budget`` more seconds of the search of ``previous`` (a ``Result``, or its
    run folder ``.text2ml/<run id>`` after a restart) on the same data.

    Returns a new ``Result`` with the same run id whose pipeline is the best over all
    trials, old and new. ``storage`` is needed only when the run used a storage object
    rather than a URL or the default journal file.
    """
    budget = Budget(_check_budget(time_budget))
    frame = _as_frame(data)
    state = _load_previous(previous, storage)
    _check_same_data(state.spec, frame)
    emit = ev.Emitter(on_event)
    stop = stop or threading.Event()
    workers = n_workers or max(1, min(os.cpu_count() or 1, 8))
    state.folder.scratch.mkdir(parents=True, exist_ok=True)
    pool = WorkerPool(workers, state.folder.scratch,
                      Limits(memory_limit_mb or _default_memory(workers)))
    try:
        with _quiet_optuna():
            emit(ev.SPEC, state.spec.summary(), spec=state.spec, evaluation=state.evaluation)
            for candidate in state.candidates:
                emit(ev.CANDIDATE, "", candidate=candidate)
            accepted = _accepted(state.candidates)
            # A new sampler seed: the same seed would replay the first run's random trials.
            study = create_study(direction=state.spec.direction,
                                 seed=state.evaluation.seed + 1000 + _n_trials(state),
                                 storage=state.storage, study_name=state.folder.run_id,
                                 load_if_exists=True)
            for trial in study.trials:
                if trial.state.is_finished():
                    trial_event(emit, study, trial, budget, replayed=True)
            job = _ship_data(frame, state.folder, state.spec)
            return search_and_finish(study, accepted, state.candidates, state.spec,
                                     state.evaluation, job=job, budget=budget,
                                     folder=state.folder, storage=state.storage,
                                     data_name=state.data_name,
                                     pipeline_name=state.pipeline_name, emit=emit, stop=stop,
                                     pool=pool)
    finally:
        pool.close()
        state.folder.clean_scratch()


def _load_previous(previous: Any, storage: Any) -> _Previous:
    if isinstance(previous, Result):
        folder = RunFolder(Path(previous.run_dir), previous.run_id)
        # The study object of this process: its storage is the one the run wrote to.
        return _Previous(previous.spec, previous.evaluation, list(previous.candidates), folder,
                         storage or previous.study._storage, previous.data_name,
                         previous.pipeline_name)
    if not isinstance(previous, (str, os.PathLike)):
        raise Text2MLError(f"Cannot resume from a {type(previous).__name__}.",
                           "Pass the Result of a run, or its run folder (.text2ml/<run id>).")
    path = Path(previous)
    folder = RunFolder(path, path.name)
    try:
        spec = TaskSpec.from_dict(_read_json(path / "spec.json"))
        saved = _read_json(path / "result.json")
        evaluation = Evaluation(**saved["evaluation"])
        candidates = [Candidate.from_dict({**c, "source": (path / "candidates" /
                                                           f"{c['slot']}.{c['name']}.py")
                                           .read_text(encoding="utf-8")})
                      for c in _read_json(path / "candidates.json")]
    except (OSError, KeyError, TypeError, ValueError) as exc:
        raise Text2MLError(f"The run folder {str(path)!r} cannot be resumed: {exc}",
                           "Resume a run that finished (it has result.json), or start "
                           "a new run.") from None
    return _Previous(spec, evaluation, candidates, folder,
                     storage or saved.get("storage") or folder.storage(),
                     saved.get("data_name", "df"), saved.get("pipeline_name", "pipeline"))


def _read_json(path: Path) -> Any:
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def _accepted(candidates: list[Candidate]) -> dict[str, list[Candidate]]:
    accepted = {s.name: [c for c in candidates if c.slot == s.name and c.status == PASSED]
                for s in SLOTS}
    empty = [slot for slot, passed in accepted.items() if not passed]
    if empty:
        raise Text2MLError(f"The run has no tested candidate for {', '.join(empty)}.",
                           "Start a new run instead of resuming this one.")
    return accepted


def _n_trials(state: _Previous) -> int:
    try:
        return len(create_study(direction=state.spec.direction, seed=0, storage=state.storage,
                                study_name=state.folder.run_id, load_if_exists=True).trials)
    except Exception:  # noqa: BLE001 - only a seed offset; any failure shows up just after
        return 0


def _check_same_data(spec: TaskSpec, frame: pd.DataFrame) -> None:
    """The old trials' scores are only comparable on the same columns and rows."""
    columns = [str(c) for c in frame.columns]
    if columns != list(spec.columns):
        missing = [c for c in spec.columns if c not in columns]
        extra = [c for c in columns if c not in spec.columns]
        detail = "; ".join(part for part in (
            f"missing: {', '.join(missing)}" if missing else "",
            f"new: {', '.join(extra)}" if extra else "") if part) or "their order differs"
        raise Text2MLError(f"The data's columns changed since the run ({detail}).",
                           "Resume with the same data, or start a new run for the new data.")
    usable = int(frame[spec.target].notna().sum())
    if usable != spec.n_rows:
        raise Text2MLError(f"The data has {usable} rows with a target; the run had "
                           f"{spec.n_rows}.",
                           "Resume with the same data, or start a new run for the new data.")
