"""``resume()``: continue a run's study for more time.

The spec, the tested candidates and the validation protocol stay as they were, so new
trials are comparable with the old ones and land in the same study; the result replaces
the run's program (same run id, same run folder).

After a kernel restart the run comes back from its folder, which may be that of a run that
was killed mid-search: every file is checked first (a damaged or missing one is named,
with the way out), the journal's unfinished last line and stale lock are cleared, and the
trials the dead process left running are marked failed.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from . import events as ev
from ._runfolder import (
    JOURNAL,
    RUN_INFO,
    RunFolder,
    SavedRun,
    damaged,
    not_started,
    public_storage,
)
from .candidates import PASSED, Candidate
from .engine import (
    Result,
    _as_frame,
    _check_budget,
    _default_memory,
    _quiet_optuna,
    default_workers,
    ship_data,
    search_and_finish,
    trial_event,
)
from .errors import CandidateError, Text2MLError
from .evaluation import Evaluation
from .metrics import TASK_TYPES, get_metric
from .sandbox import Limits, WorkerPool
from .search import Budget, create_study
from .slots import SLOTS, SLOTS_BY_NAME, check_source
from .spec import TARGET, TaskSpec


@dataclass
class _Previous:
    spec: TaskSpec
    evaluation: Evaluation
    candidates: list[Candidate]
    folder: RunFolder
    storage: Any
    data_name: str
    pipeline_name: str
    study_name: str
    n_trials: int  # trials in the study so far (offsets the new sampler seed)
    notes: list[str] = field(default_factory=list)  # repairs made to the run folder


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
    run folder ``.text2ml/<run id>`` after a restart, also of a run that was killed
    mid-search) on the same data.

    Returns a new ``Result`` with the same run id whose pipeline is the best over all
    trials, old and new. ``storage`` is needed only when the run used a storage object,
    or a URL with a password (the run folder does not keep it), rather than the default
    journal file. A run folder that cannot be resumed (damaged, or the run stopped before
    its search started) raises ``Text2MLError`` saying which file and what to do.
    """
    budget = Budget(_check_budget(time_budget))
    frame = _as_frame(data)
    state = _load_previous(previous, storage)
    _check_same_data(state.spec, frame)
    emit = ev.Emitter(on_event)
    stop = stop or threading.Event()
    workers, threads = (n_workers, 1) if n_workers else default_workers(len(frame))
    state.folder.scratch.mkdir(parents=True, exist_ok=True)
    pool = WorkerPool(workers, state.folder.scratch,
                      Limits(memory_limit_mb or _default_memory(workers), threads=threads))
    try:
        with _quiet_optuna():
            emit(ev.SPEC, state.spec.summary(), spec=state.spec, evaluation=state.evaluation)
            for candidate in state.candidates:
                emit(ev.CANDIDATE, "", candidate=candidate)
            accepted = _accepted(state.candidates)
            # A new sampler seed: the same seed would replay the first run's random trials.
            study = create_study(direction=state.spec.direction,
                                 seed=state.evaluation.seed + 1000 + state.n_trials,
                                 storage=state.storage, study_name=state.study_name,
                                 load_if_exists=True)
            notes = state.notes + _fail_dead_trials(study)
            for trial in study.trials:
                if trial.state.is_finished():
                    trial_event(emit, study, trial, budget, replayed=True)
            job = ship_data(frame, state.folder, state.spec, state.evaluation)
            result = search_and_finish(study, accepted, state.candidates, state.spec,
                                       state.evaluation, job=job, budget=budget,
                                       folder=state.folder, storage=state.storage,
                                       data_name=state.data_name,
                                       pipeline_name=state.pipeline_name, emit=emit,
                                       stop=stop, pool=pool)
            result.notes += notes
            return result
    finally:
        pool.close()
        state.folder.clean_scratch()


def _load_previous(previous: Any, storage: Any) -> _Previous:
    if isinstance(previous, Result):
        folder = RunFolder(Path(previous.run_dir), previous.run_id)
        # The study object of this process: its storage is the one the run wrote to.
        return _Previous(previous.spec, previous.evaluation, list(previous.candidates), folder,
                         storage or previous.study._storage, previous.data_name,
                         previous.pipeline_name, previous.study.study_name,
                         len(previous.study.trials))
    if not isinstance(previous, (str, os.PathLike)):
        raise Text2MLError(f"Cannot resume from a {type(previous).__name__}.",
                           "Pass the Result of a run, or its run folder (.text2ml/<run id>).")
    return _from_folder(Path(previous), storage)


def _from_folder(path: Path, storage: Any) -> _Previous:
    """A run back from its folder: files checked, the journal made safe to append to,
    the study opened and what it holds checked. Nothing is started before that."""
    folder = RunFolder(path, path.name)
    saved = folder.load_saved()
    spec = _spec(saved.spec, path)
    candidates = _candidates(saved.candidates, path)
    notes: list[str] = []
    if storage is None:
        storage = _saved_storage(saved)
    if storage is None:  # the default: the journal file in the run folder
        notes += folder.repair_journal()
        storage = _open_journal(folder)
    study_name, n_trials, evaluation = _study_facts(storage, folder, saved)
    try:
        protocol = Evaluation(**evaluation)
    except TypeError as exc:
        raise damaged(path, f"its validation protocol is not valid ({exc})") from None
    return _Previous(spec, protocol, candidates, folder, storage, saved.data_name,
                     saved.pipeline_name, study_name, n_trials, notes)


def _spec(data: dict[str, Any], path: Path) -> TaskSpec:
    """spec.json as a TaskSpec, checked enough that the resume cannot fail on it later."""
    try:
        spec = TaskSpec.from_dict(data)
        problem = _spec_problem(spec)
    except (TypeError, ValueError) as exc:  # Text2MLError (unknown metric) is a ValueError
        problem = str(exc).splitlines()[0].rstrip(".")
    if problem:
        raise damaged(path, f"spec.json does not describe a task ({problem})")
    return spec


def _spec_problem(spec: TaskSpec) -> str:
    """What is wrong with a spec read back from disk ("" when nothing is)."""
    if not isinstance(spec.target, str):
        return "no target"
    if not isinstance(spec.columns, dict) or not all(
            isinstance(role, str) for role in spec.columns.values()):
        return "no columns"
    if spec.columns.get(spec.target) != TARGET:
        return "the target is not among its columns"
    if spec.task_type not in TASK_TYPES:
        return "an unknown task type"
    if spec.direction not in ("maximize", "minimize"):
        return "an unknown direction"
    if not isinstance(spec.n_rows, int):
        return "no row count"
    get_metric(spec.metric)  # raises for an unknown metric
    return ""


def _candidates(entries: list[dict[str, Any]], path: Path) -> list[Candidate]:
    """candidates.json and the sources, checked: the passed ones still pass the static
    contract check (a truncated or hand-edited source would fail every trial)."""
    candidates = []
    for entry in entries:
        key = f"candidates/{entry['slot']}.{entry['name']}.py"
        try:
            candidate = Candidate.from_dict(entry)
        except TypeError as exc:
            raise damaged(path, f"candidates.json describes {key} wrongly ({exc})") from None
        slot = SLOTS_BY_NAME.get(candidate.slot)
        if slot is None:
            raise damaged(path, f"candidates.json names an unknown slot {candidate.slot!r}")
        if candidate.status == PASSED:
            try:
                check_source(slot, candidate.source)
            except CandidateError as exc:
                raise damaged(path, f"{key} no longer passes its checks ({exc})") from None
        candidates.append(candidate)
    return candidates


def _saved_storage(saved: SavedRun) -> str | None:
    """The storage URL the run used, if not the journal; one whose password was masked
    must be given again."""
    if saved.storage and ":***@" in saved.storage:
        raise Text2MLError(f"The run's study is in {saved.storage}, and the run folder does "
                           "not keep its password.",
                           "Pass the URL with its password: resume(..., storage=URL).")
    return saved.storage


def _open_journal(folder: RunFolder) -> Any:
    """The journal storage; Optuna replays every line here, so damage shows up now."""
    try:
        return folder.storage()
    except Exception as exc:  # noqa: BLE001 - any replay failure means a damaged journal
        raise damaged(folder.path, f"{JOURNAL} cannot be replayed "
                      f"({type(exc).__name__}: {exc})"[:300]) from None


def _study_facts(storage: Any, folder: RunFolder,
                 saved: SavedRun) -> tuple[str, int, dict[str, Any]]:
    """(study name, trials so far, validation protocol) of the run's study."""
    import optuna

    journal = saved.storage is None and isinstance(storage, optuna.storages.JournalStorage)
    where = JOURNAL if journal else \
        f"the storage {public_storage(storage) or type(storage).__name__}"
    try:
        name = _saved_study_name(folder) or folder.run_id
        study = _find_study(storage, name, journal=journal)
        attrs, n_trials = (study.user_attrs, len(study.trials)) if study else ({}, 0)
    except Exception as exc:  # noqa: BLE001 - the storage's own error, said plainly
        detail = f"{type(exc).__name__}: {exc}"[:200]
        if journal:
            raise damaged(folder.path, f"{JOURNAL} cannot be read ({detail})") from None
        raise Text2MLError(f"Cannot read the run's study in {where} ({detail}).",
                           "Check that the storage is reachable, or pass the one the run "
                           "used: resume(..., storage=...).") from None
    if study is None:
        if saved.evaluation is None:
            raise not_started(folder.path, f"{where} holds no study yet")
        if journal:
            raise damaged(folder.path, f"{where} holds no study named {folder.run_id}")
        raise Text2MLError(f"{where[0].upper()}{where[1:]} has no study named "
                           f"{folder.run_id}.",
                           "Pass the storage the run used: resume(..., storage=...).")
    evaluation = saved.evaluation or attrs.get("evaluation")
    if not isinstance(evaluation, dict):
        raise not_started(folder.path, "its validation protocol was not written yet")
    return study.study_name, n_trials, evaluation


def _saved_study_name(folder: RunFolder) -> str | None:
    """The study name run.json records (a shared run may name its study); None if absent."""
    try:
        name = (folder.read_json(RUN_INFO) or {}).get("study_name")
    except Exception:  # noqa: BLE001 - load_saved has already judged run.json
        return None
    return name if isinstance(name, str) and name else None


def _find_study(storage: Any, run_id: str, *, journal: bool) -> Any:
    """The study named after the run; in the run's own journal, its only study (the
    folder may have been renamed). None when there is none."""
    import optuna

    names = optuna.get_all_study_names(storage)
    name = run_id if run_id in names else (names[0] if journal and len(names) == 1 else None)
    return optuna.load_study(study_name=name, storage=storage) if name else None


def _fail_dead_trials(study: Any) -> list[str]:
    """Trials still marked running belong to a process that is gone (killed mid-trial):
    mark them failed, so the sampler stops treating them as in flight."""
    from optuna.trial import TrialState

    dead = [t.number for t in study.trials if t.state == TrialState.RUNNING]
    for number in dead:
        study.tell(number, state=TrialState.FAIL)
    if not dead:
        return []
    return [f"{len(dead)} trial{'s were' if len(dead) > 1 else ' was'} running when the "
            "run stopped; marked failed."]


def _accepted(candidates: list[Candidate]) -> dict[str, list[Candidate]]:
    accepted = {s.name: [c for c in candidates if c.slot == s.name and c.status == PASSED]
                for s in SLOTS}
    empty = [slot for slot, passed in accepted.items() if not passed]
    if empty:
        raise Text2MLError(f"The run has no tested candidate for {', '.join(empty)}.",
                           "Start a new run instead of resuming this one.")
    return accepted


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
