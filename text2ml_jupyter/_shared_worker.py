"""The ``text2ml worker`` side of a shared study (the contract is in distributed.py).

Wait until the run's study is searching, read what a trial needs from its user attributes,
check that the data here is the run's, start a sandboxed ``WorkerPool`` in a local scratch
folder and drive trials with the run's own ``search.Search`` until the run's search ends:
the published ``search_end`` passes, or the run marks the study finished.
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from pathlib import Path
from typing import Any

from ._runfolder import RunFolder
from ._storages import read_study_attrs, shown_storage
from .candidates import Candidate
from .distributed import FINISHED, SEARCHING, WorkerReport, fingerprint, tagged, worker_id
from .errors import Text2MLError
from .search import Budget
from .slots import SLOTS

_POLL_SECONDS = 1.0  # how often the study's state and search end are read
_REQUIRED = ("spec", "evaluation", "candidates", "data", "job", "search_end")
_PICKLE_SUFFIXES = (".pkl", ".pickle")


class _FollowedBudget(Budget):
    """The run's search end, as published (epoch seconds), on this machine's monotonic
    clock. Trials stop there; ``Search``'s own refit reserve plays no part here."""

    def __init__(self, search_end: float) -> None:
        super().__init__(seconds=max(1.0, search_end - time.time()))
        self._search_end = 0.0
        self.follow(search_end)

    def follow(self, search_end: float) -> None:
        self._search_end = time.monotonic() + (float(search_end) - time.time())

    @property
    def end(self) -> float:  # Search kills a first trial at end - 0.5: the search end too
        return self._search_end + 0.5

    def search_end(self) -> float:
        return self._search_end


class _Watcher(threading.Thread):
    """Follows the study: a moved search end is passed to the budget; ``finished`` (or a
    study that is gone) sets the search's stop event, which also stops running trials."""

    def __init__(self, opened: Any, storage: Any, study_name: str, budget: _FollowedBudget,
                 stop: threading.Event) -> None:
        super().__init__(name="text2ml-study-watcher", daemon=True)
        self.args = (opened, storage, study_name)
        self.budget = budget
        self.stop_event = stop
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.wait(_POLL_SECONDS) and not self.stop_event.is_set():
            try:
                attrs = read_study_attrs(*self.args)
            except Text2MLError:  # the storage did not answer this time: ask again
                continue
            if attrs is None or attrs.get("state") == FINISHED:
                self.stop_event.set()
            elif isinstance(attrs.get("search_end"), (int, float)):
                self.budget.follow(attrs["search_end"])

    def close(self) -> None:
        self._done.set()
        self.join(timeout=5)


def work(opened: Any, storage: Any, study_name: str, *, data: Any, n_workers: int | None,
         memory_limit_mb: int | None, wait: float, run_dir: Path, say: Any) -> WorkerReport:
    """``distributed.run_worker`` once the storage is open."""
    from .engine import _default_memory, usable_cores
    from .sandbox import Limits, WorkerPool

    _check_options(n_workers, memory_limit_mb, wait)
    report = WorkerReport(study_name, worker_id())
    name = _safe(f"{study_name}-{report.worker}")
    folder = RunFolder(run_dir / "workers" / name, name)  # only its scratch folder is used
    folder.scratch.mkdir(parents=True, exist_ok=True)
    workers = n_workers or usable_cores()
    # The fork server starts now (workers are forked from it on first use): its imports
    # overlap the wait, so the first trial is quick.
    pool = WorkerPool(workers, folder.scratch,
                      Limits(memory_limit_mb or _default_memory(workers)))
    try:
        attrs, finished = _wait_for_search(opened, storage, study_name, wait, say)
        report.metric = _metric_label(attrs)
        if finished:
            report.note = "the run's search had already ended"
        else:
            _join(opened, storage, study_name, attrs, data, folder, pool, report, say)
    finally:
        pool.close()
        folder.clean_scratch()  # the data copies go, the worker logs stay
    _fill_best(report, opened, study_name)
    return report


def _join(opened: Any, storage: Any, study_name: str, attrs: dict[str, Any], data: Any,
          folder: RunFolder, pool: Any, report: WorkerReport, say: Any) -> None:
    """Check the data, ship it to the pool the engine's way, run the search."""
    from .engine import _quiet_optuna, ship_data
    from .evaluation import Evaluation
    from .spec import TaskSpec

    try:
        spec = TaskSpec.from_dict(attrs["spec"])
        evaluation = Evaluation(**attrs["evaluation"])
    except (TypeError, ValueError):
        raise _other_version() from None
    accepted = _accepted(attrs["candidates"])
    frame = _load_data(data, attrs["data"])
    # The engine's own way from data to a job: trials here read the rows the run's read.
    local = ship_data(frame, folder, spec, evaluation)
    job = {**attrs["job"], **{k: v for k, v in local.items() if k.endswith("_path")}}
    with _quiet_optuna():
        _search(opened, storage, study_name, attrs["search_end"], spec, accepted, pool,
                job, report, say)


def _search(opened: Any, storage: Any, study_name: str, search_end: float, spec: Any,
            accepted: dict[str, list[Candidate]], pool: Any, job: dict[str, Any],
            report: WorkerReport, say: Any) -> None:
    """Drive the study's trials with ``Search`` until the run's search ends."""
    from .search import Search, create_study

    # The run's sampler and pruner settings; a seed of its own, or every worker would
    # propose the same random trials at first.
    study = tagged(create_study(direction=spec.direction, seed=secrets.randbits(31),
                                storage=opened, study_name=study_name, load_if_exists=True))
    budget = _FollowedBudget(search_end)
    stop = threading.Event()
    watcher = _Watcher(opened, storage, study_name, budget, stop)
    lock = threading.Lock()

    def on_trial(trial: Any) -> None:
        state = trial.state.name.lower()
        with lock:
            report.states[state] = report.states.get(state, 0) + 1
        value = "" if trial.value is None else f" {trial.value:.4f}"
        say(f"  trial {trial.number}: {state}{value}")

    search = Search(study, pool, accepted, job=job, budget=budget, refit_scale=1.0,
                    on_trial=on_trial, stop=stop)
    say(f"Study {study_name!r} is searching: running trials on {pool.n_workers} sandboxed "
        f"worker{'s' if pool.n_workers > 1 else ''} until its search ends "
        f"(in {max(0.0, budget.search_end() - time.monotonic()):.0f} s).")
    watcher.start()
    try:
        search.run()
    finally:
        watcher.close()
    if search.errors:
        report.note = f"a search thread stopped early: {search.errors[0]}"


def _check_options(n_workers: Any, memory_limit_mb: Any, wait: Any) -> None:
    from .engine import _MIN_MEMORY_MB, _check_whole

    if n_workers is not None:
        _check_whole("n_workers", n_workers, 1, "Use --workers N with N >= 1, or leave it "
                     "out (one per core).")
    if memory_limit_mb is not None:
        _check_whole("memory_limit_mb", memory_limit_mb, _MIN_MEMORY_MB,
                     f"Use --memory-limit-mb of at least {_MIN_MEMORY_MB}, or leave it out.")
    if isinstance(wait, bool) or not isinstance(wait, (int, float)) or not wait > 0:
        raise Text2MLError(f"wait={wait!r} is not a positive number of seconds.",
                           "Use --wait SECONDS, e.g. --wait 600.")


def _wait_for_search(opened: Any, storage: Any, study_name: str, wait: float,
                     say: Any) -> tuple[dict[str, Any], bool]:
    """The study's user attributes once its run is searching, and whether its search had
    already ended. Raises ``Text2MLError`` when it does not start within ``wait`` s."""
    say(f"text2ml worker {worker_id()}: waiting up to {wait:g} s for study {study_name!r} "
        f"in {shown_storage(storage)} to start its search.")
    deadline = time.monotonic() + wait
    attrs = None
    while True:
        current = read_study_attrs(opened, storage, study_name)
        attrs = attrs if current is None else current
        state = (attrs or {}).get("state")
        if attrs is not None and state == FINISHED:
            return attrs, True
        if attrs is not None and state == SEARCHING and all(k in attrs for k in _REQUIRED):
            return attrs, not _number(attrs["search_end"]) > time.time()
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise _not_started(storage, study_name, wait, attrs)
        time.sleep(min(_POLL_SECONDS, remaining))


def _not_started(storage: Any, study_name: str, wait: float,
                 attrs: dict[str, Any] | None) -> Text2MLError:
    where = shown_storage(storage)
    if attrs is None:
        return Text2MLError(
            f"No study named {study_name!r} appeared in {where} within {wait:g} s.",
            "Start the run with the same storage and name (%%text2ml --storage URL --study "
            "NAME, or text2ml run ... --storage URL --study NAME), check both, or wait "
            "longer (--wait SECONDS).")
    hint = "" if "spec" in attrs else " (it holds no text2ml run: was it made by one?)"
    return Text2MLError(
        f"The study {study_name!r} in {where} did not start its search within "
        f"{wait:g} s{hint}.",
        "Wait longer (--wait SECONDS): a run tests its candidates before it searches.")


def _metric_label(attrs: dict[str, Any]) -> str:
    from .metrics import get_metric

    try:
        return str(get_metric(attrs["spec"]["metric"]).label)
    except Exception:  # noqa: BLE001 - a label is cosmetic
        return ""


def _number(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) else float("-inf")


def _accepted(entries: list[dict[str, Any]]) -> dict[str, list[Candidate]]:
    """The run's tested candidates per slot, in the run's order (the categorical choices
    of every process must be the same list)."""
    accepted: dict[str, list[Candidate]] = {slot.name: [] for slot in SLOTS}
    try:
        for entry in entries:
            candidate = Candidate.from_dict(entry)
            accepted[candidate.slot].append(candidate)
    except (TypeError, KeyError):
        raise _other_version() from None
    empty = [slot for slot, candidates in accepted.items() if not candidates]
    if empty:
        raise Text2MLError(f"The study has no tested candidate for {', '.join(empty)}.",
                           "Start the run again; its study was not written completely.")
    return accepted


def _other_version() -> Text2MLError:
    return Text2MLError("The study's task or candidates were written by another version of "
                        "text2ml-jupyter.", "Install the same version on every machine.")


def _load_data(override: Any, published: dict[str, Any]) -> Any:
    """The run's data, here: ``override`` (``--data``) or the path the run published,
    refused unless its rows, columns and fingerprint match the run's."""
    path = Path(override) if override is not None else Path(str(published.get("path", "")))
    if not path.is_file():
        where = "" if override is not None else \
            " (where the run wrote its data; this machine may not see that folder)"
        raise Text2MLError(f"No data file at {str(path)!r}{where}.",
                           "Copy the run's data to this machine and pass --data PATH: the "
                           "file the notebook read (CSV or Parquet), or the run folder's "
                           "data.pkl.")
    frame = _read(path)
    problem = _difference(frame, published)
    if problem:
        raise Text2MLError(f"The data at {str(path)!r} is not the run's data: {problem}.",
                           "Pass the file the run read, unchanged (--data PATH), or leave "
                           "--data out to use the run's copy; scores on other data would "
                           "not compare with the run's.")
    return frame


def _read(path: Path) -> Any:
    import pandas as pd

    from ._datafile import first_line, load_data

    if not path.name.lower().endswith(_PICKLE_SUFFIXES):
        return load_data(path)
    try:
        frame = pd.read_pickle(path)
    except Exception as exc:  # noqa: BLE001 - any reader failure is the file's problem
        raise Text2MLError(f"cannot read {str(path)!r}: {first_line(exc)}",
                           "Pass the run's data.pkl or the file the notebook read.") from None
    if not isinstance(frame, pd.DataFrame):
        raise Text2MLError(f"{str(path)!r} does not hold a DataFrame.",
                           "Pass the run's data.pkl or the file the notebook read.")
    return frame


def _difference(frame: Any, published: dict[str, Any]) -> str:
    """How ``frame`` differs from the run's data ("" when it does not)."""
    rows = published.get("rows")
    if len(frame) != rows:
        return f"it has {len(frame)} rows, the run's has {rows}"
    columns = [str(c) for c in frame.columns]
    if columns != published.get("columns"):
        missing = [c for c in published.get("columns") or [] if c not in columns]
        return "its columns differ" + (f" (missing: {', '.join(missing[:5])})"
                                       if missing else "")
    if fingerprint(frame) != published.get("fingerprint"):
        return "its values differ (the fingerprints do not match)"
    return ""


def _fill_best(report: WorkerReport, opened: Any, study_name: str) -> None:
    """The best trial of the whole study, from every process."""
    import optuna

    try:
        best = optuna.load_study(study_name=study_name, storage=opened).best_trial
    except Exception:  # noqa: BLE001 - no complete trial, or the study is gone
        return
    report.best_value, report.best_number = best.value, best.number


def _safe(text: str) -> str:
    """A folder name from a study name and a worker id."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text)[:120]
