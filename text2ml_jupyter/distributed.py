"""Past one machine: a run's study shared with ``text2ml worker`` processes elsewhere.

A run given a storage other processes can reach (``storage="postgresql://..."``) publishes
what a trial needs in its study's user attributes, and any number of workers, started
before or during the run (``text2ml worker --storage URL --study NAME``), drive trials of
the same study with their own sandboxed ``WorkerPool`` and the same ``search.Search``. The
study is the only channel: Optuna's RDB storage hands out trials (enqueued ones once),
its TPE sampler with constant liar sees every process's running trials, and the pruner
compares folds across processes. No scheduler.

The study's user attributes (the contract between a run and its workers):

- ``spec``, ``evaluation``, ``candidates``: the task, the validation protocol and the
  candidates that passed their tests (the engine always writes these);
- ``data``: ``{"path", "rows", "columns", "fingerprint"}``: a pickle of the run's data in
  the run folder (it outlives the scratch folder), and what a copy must match;
- ``job``: the trial job the engine gives ``Search``, without its local paths (the keys
  ending in ``_path``: a worker ships its copy of the data the engine's way, so the
  trials there read the same rows);
- ``search_end``: epoch seconds (``time.time()``) when trials must stop, kept current as
  the run's refit reserve moves it (so clocks must be roughly in sync);
- ``state``: ``"searching"`` (written last, when all of the above is there), then
  ``"finished"`` when the run's search ends, before its refit.

Every trial of a shared study carries the user attribute ``worker`` = ``"host:pid"`` of
the process that ran it. A storage URL is only ever shown with its password masked.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import pickle
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._runfolder import write_atomic
from ._storages import (
    check_storage,
    check_study_name,
    close_storage,
    mask_secrets,
    open_storage,
    shown_storage,
    storage_errors,
)
from .errors import Text2MLError
from .search import Budget

__all__ = ["FINISHED", "SEARCHING", "WORKER_ATTR", "SharedSearch", "WorkerReport",
           "check_storage", "mask_secrets", "publish_data", "run_worker", "shared_search",
           "shown_storage", "storage_errors", "worker_id"]

WORKER_ATTR = "worker"
SEARCHING = "searching"
FINISHED = "finished"
DATA_FILE = "data.pkl"  # in the run folder, when the study is shared
_PUBLISH_SECONDS = 0.5  # how often the run checks whether its search end moved
_SETTLE_SECONDS = 2.0  # workers read the study's state every second


def worker_id() -> str:
    """``host:pid`` of this process: the ``worker`` attribute of the trials it runs."""
    return f"{socket.gethostname()}:{os.getpid()}"


def is_shared(storage: Any) -> bool:
    """Whether other processes can reach the storage (a URL, or a storage object other
    than the in-memory one). The default journal in the run folder is the run's own."""
    if storage is None or isinstance(storage, str):
        return storage is not None
    import optuna

    return not isinstance(storage, optuna.storages.InMemoryStorage)


def is_shared_study(study: Any, storage: Any) -> bool:
    """Whether other processes may run trials of this study: its storage is reachable and
    the run published its data there (``publish_data``). A resumed run's own journal is
    a storage object, but nothing is published in it."""
    return is_shared(storage) and "data" in study.user_attrs


# ------------------------------------------------------------------ the run's side

def fingerprint(frame: Any) -> str:
    """A SHA-256 of the data's column names and values: a worker's copy must match."""
    import pandas as pd

    digest = hashlib.sha256(json.dumps([str(c) for c in frame.columns]).encode())
    try:
        hashed = pd.util.hash_pandas_object(frame, index=False)
    except TypeError:  # unhashable cells (lists, dicts): their text stands in
        hashed = pd.util.hash_pandas_object(frame.astype(str), index=False)
    digest.update(hashed.to_numpy().tobytes())
    return f"sha256:{digest.hexdigest()}"


def publish_data(study: Any, storage: Any, frame: Any, folder: Path) -> None:
    """For a shared study: write the data into the run folder (a copy that outlives the
    scratch folder) and publish where it is and what it must match."""
    if not is_shared(storage):
        return
    path = (folder / DATA_FILE).resolve()
    write_atomic(path, pickle.dumps(frame, protocol=pickle.HIGHEST_PROTOCOL))  # 0600
    study.set_user_attr("data", {"path": str(path), "rows": int(len(frame)),
                                 "columns": [str(c) for c in frame.columns],
                                 "fingerprint": fingerprint(frame)})


@dataclass
class SharedSearch:
    """What ``shared_search`` gives the search: the study to drive and, once the search
    is over, notes for the result."""

    study: Any
    notes: list[str] = field(default_factory=list)
    shared: bool = False  # other processes may add trials while the search runs


@contextlib.contextmanager
def shared_search(study: Any, storage: Any, *, job: dict[str, Any],
                  budget: Budget) -> Iterator[SharedSearch]:
    """Around the run's search. For a shared study (one whose data was published):
    publish the job and the search end, mark it searching, keep the search end current
    while the search runs, and mark it finished when it ends; the trials are tagged with
    this process. Otherwise nothing happens."""
    if not is_shared_study(study, storage):
        yield SharedSearch(study)
        return
    study.set_user_attr("job", {k: v for k, v in job.items() if not _local(k)})
    publisher = _EndPublisher(study, budget)
    publisher.publish()
    study.set_user_attr("state", SEARCHING)  # last: workers start on this
    publisher.start()
    shared = SharedSearch(tagged(study), shared=True)
    try:
        yield shared
    finally:
        publisher.stop()
        study.set_user_attr("state", FINISHED)
        _settle(study)
        shared.notes += _foreign_trials_note(study)


def _local(key: str) -> bool:
    """A job entry only this machine can use: a path into the run's scratch folder (a
    worker makes its own with ``engine.ship_data`` from its copy of the data)."""
    return key.endswith("_path")


class _EndPublisher(threading.Thread):
    """Keeps the study's ``search_end`` equal to the run's (which moves as the refit
    reserve is updated), in epoch seconds."""

    def __init__(self, study: Any, budget: Budget) -> None:
        super().__init__(name="text2ml-search-end", daemon=True)
        self.study = study
        self.budget = budget
        self.published: float | None = None
        self._halt = threading.Event()

    def publish(self) -> None:
        end = time.time() + (self.budget.search_end() - time.monotonic())
        if self.published is None or abs(end - self.published) > 0.25:
            self.study.set_user_attr("search_end", end)
            self.published = end

    def run(self) -> None:
        while not self._halt.wait(_PUBLISH_SECONDS):
            with contextlib.suppress(Exception):  # a storage hiccup: the next try
                self.publish()

    def stop(self) -> None:
        self._halt.set()
        if self.is_alive():
            self.join(timeout=5)


def _settle(study: Any, seconds: float = _SETTLE_SECONDS) -> None:
    """Give the workers a moment to see ``finished`` and stop their running trials, so
    that the refit chooses from a study that no longer changes."""
    from optuna.trial import TrialState

    me = worker_id()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and any(
            t.user_attrs.get(WORKER_ATTR) != me
            for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))):
        time.sleep(0.1)


def _foreign_trials_note(study: Any) -> list[str]:
    """How many of the study's finished trials other processes ran, and which."""
    me = worker_id()
    by_worker: dict[str, int] = {}
    finished = [t for t in study.trials if t.state.is_finished()]
    for trial in finished:
        who = trial.user_attrs.get(WORKER_ATTR)
        if who and who != me:
            by_worker[who] = by_worker.get(who, 0) + 1
    if not by_worker:
        return ["No other process (text2ml worker) ran trials of this shared study."]
    listed = ", ".join(f"{who} ({n})" for who, n in sorted(by_worker.items()))
    return [f"{sum(by_worker.values())} of {len(finished)} trials ran in other processes "
            f"(text2ml worker): {listed}."]


@functools.cache
def _tagged_class() -> type:
    import optuna

    class TaggedStudy(optuna.Study):
        """A study whose every trial records which process asked for it."""

        def ask(self, fixed_distributions: Any = None) -> Any:
            trial = super().ask(fixed_distributions)
            trial.set_user_attr(WORKER_ATTR, worker_id())
            return trial

    return TaggedStudy


def tagged(study: Any) -> Any:
    """The same study (same storage, sampler and pruner), its trials tagged with
    ``worker`` = this process."""
    return _tagged_class()(study.study_name, study._storage, study.sampler, study.pruner)


# ------------------------------------------------------------------ the worker's side

@dataclass
class WorkerReport:
    """What ``run_worker`` did, for its one-line summary."""

    study_name: str
    worker: str
    states: dict[str, int] = field(default_factory=dict)  # this worker's trials by state
    best_value: float | None = None
    best_number: int | None = None
    metric: str = ""
    note: str = ""  # e.g. the study's search had already ended

    @property
    def trials(self) -> int:
        return sum(self.states.values())

    def summary(self) -> str:
        counts = ", ".join(f"{n} {state}" for state, n in sorted(self.states.items()))
        best = "no complete trial yet" if self.best_value is None else \
            f"{self.metric} {self.best_value:.4f} (trial {self.best_number})".strip()
        note = f"; {self.note}" if self.note else ""
        trials = f"{self.trials} trial{'' if self.trials == 1 else 's'}"
        return (f"text2ml worker {self.worker}: {trials} for study "
                f"{self.study_name!r}" + (f" ({counts})" if counts else "")
                + f"{note}; best of the study: {best}")


def run_worker(storage: Any, study_name: str, *, data: str | os.PathLike[str] | None = None,
               n_workers: int | None = None, memory_limit_mb: int | None = None,
               wait: float = 600.0, run_dir: str | os.PathLike[str] | None = None,
               say: Any = print) -> WorkerReport:
    """Run trials of a shared study until the run's search ends (``text2ml worker``).

    Waits up to ``wait`` seconds for the study to start its search, checks the data
    (``data`` overrides the path the run published, e.g. on another machine), starts a
    sandboxed worker pool in ``<run_dir>/workers/`` and drives trials with the run's
    ``Search``. Problems raise ``Text2MLError`` with the password masked."""
    from ._shared_worker import work

    check_study_name(study_name)
    if not isinstance(study_name, str):
        raise Text2MLError("A worker needs the study's name.", "Pass --study NAME.")
    opened = open_storage(storage)
    try:
        return work(opened, storage, study_name, data=data, n_workers=n_workers,
                    memory_limit_mb=memory_limit_mb, wait=wait,
                    run_dir=Path(run_dir or ".text2ml"), say=say)
    finally:
        close_storage(opened, storage)
