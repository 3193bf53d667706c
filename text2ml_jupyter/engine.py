"""``run()``: the Text-to-ML flow from a task in plain English and a DataFrame to a fitted,
standalone pipeline.

understand (TaskSpec) -> decompose (slots) -> generate (provider, slot by slot, in the
context of the accepted upstream candidates) -> test (contract tests in workers) -> search
(one Optuna study) -> assemble (program and cells) -> refit (in a worker, on all rows).
One wall-clock budget covers all of it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import keyword
import math
import numbers
import os
import pickle
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from . import events as ev
from ._datafile import data_suffix, load_data
from ._refit import PRELOAD_SECONDS, preload_in_background, refit_best, refit_scale
from ._runfolder import RunFolder, new_run_id, public_storage
from .candidates import PASSED, Candidate
from .errors import Text2MLError
from .evaluation import Evaluation, choose_evaluation, scores_on_sample
from .generation import (
    data_summary,
    emit_stage,
    generate_and_test,
    give_up,
    llm_seconds,
    report_usage,
    with_time_limit,
)
from .metrics import REGRESSION, get_metric
from .providers import GenerationContext, Provider, get_provider
from .sandbox import Limits, WorkerPool
from .search import Budget, Search, create_study, enqueue_defaults, release_memory
from .slots import SLOTS
from .spec import TaskSpec, check_frame, training_data
from .understand import understand


@dataclass
class Result:
    """What a run produced: the fitted pipeline, its program, and how it was found."""

    pipeline: Any
    spec: TaskSpec
    best_score: float
    metric: str
    study: Any
    candidates: list[Candidate]
    code: str
    cells: list[Any]
    data_name: str
    pipeline_name: str
    run_id: str
    run_dir: Path
    evaluation: Evaluation
    chosen: dict[str, str]  # slot -> candidate name
    best_params: dict[str, Any]
    elapsed: float
    n_trials: int
    notes: list[str] = field(default_factory=list)
    # an ensemble's members, best trial first: {trial, weight, score, params, threshold};
    # empty for a single pipeline (then chosen/best_params are it; else its best member)
    members: list[dict[str, Any]] = field(default_factory=list)
    program: Any = None  # the program.Program behind code and cells
    usage: Any = None  # LLM calls, tokens and cost (providers._usage.Usage), if an LLM wrote
    # The pickled pipeline as the worker sent it, kept only while ``pipeline`` is not loaded
    # (LLM-written code): the caller never holds both (a 1M-row forest is 100+ MB).
    pipeline_blob: bytes | None = field(default=None, repr=False)

    def load_pipeline(self) -> Any:
        """The fitted pipeline, loaded even when it holds LLM-written code (which then
        runs in this process, as running the inserted cells would); sets ``pipeline``."""
        if self.pipeline is None and self.pipeline_blob is not None:
            self.pipeline = pickle.loads(self.pipeline_blob)  # the user asked for it
            self.pipeline_blob = None
        return self.pipeline

    def summary(self) -> str:
        """A few plain-text lines: score, protocol, chosen modules, time."""
        metric = get_metric(self.metric)
        score = "n/a" if math.isnan(self.best_score) else f"{self.best_score:.4f}"
        lines = [f"text2ml run {self.run_id}: {metric.label} {score} "
                 f"({self.evaluation.describe()}), {self.n_trials} trials in "
                 f"{self.elapsed:.1f} s"]
        by_key = {c.key: c for c in self.candidates}
        for slot, name in self.chosen.items():
            candidate = by_key.get(f"{slot}.{name}")
            lines.append(f"  {slot}: {candidate.description if candidate else name}")
        if self.members:
            lines.append(f"  an ensemble of {len(self.members)} pipelines (trial: weight): "
                         + ", ".join(f"{m['trial']}: {m['weight']}" for m in self.members))
        if self.usage is not None:
            lines.append(self.usage.summary())
        lines += [f"Note: {note}" for note in self.notes]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<text2ml Result {self.summary().splitlines()[0]}>"


def run(
    task: str,
    data: pd.DataFrame | str | os.PathLike[str],
    *,
    time_budget: float = 60,
    target: str | None = None,
    metric: str | None = None,
    seed: int = 0,
    provider: str | Provider = "offline",
    provider_options: dict[str, Any] | None = None,
    candidates: int = 4,
    run_dir: str | os.PathLike[str] | None = None,
    storage: Any = None,
    study_name: str | None = None,
    data_name: str = "df",
    pipeline_name: str = "pipeline",
    n_workers: int | None = None,
    memory_limit_mb: int | None = None,
    pos_label: Any = None,
    task_type: str | None = None,
    roles: dict[str, str] | None = None,
    on_event: Callable[[ev.Event], None] | None = None,
    stop: threading.Event | None = None,
) -> Result:
    """Turn a plain-English ML task and a DataFrame into an optimized, fitted pipeline.

    ``time_budget`` (seconds) covers everything: task understanding, candidate generation
    and tests, the search and the final refit. A run that is out of time, stopped
    (``stop.set()``) or interrupted (Ctrl-C) returns the best pipeline found so far.
    Problems with the task, data or options raise ``Text2MLError`` with how to fix them.

    ``provider`` is "offline" (the built-in catalog), "openai" (an OpenAI-compatible LLM
    competing with the catalog; ``provider_options`` are ``providers.openai.LLMSettings``
    fields such as model, base_url, cache_dir, send_examples, plus catalog=False to leave
    the catalog out), "auto" (openai when a key or base URL is configured), or an object.

    ``roles`` overrides column roles ({"alive": "categorical"} keeps a column flagged as
    leakage). ``storage`` is any Optuna storage (URL or object); by default a journal file
    in the run folder. ``study_name`` names the study (default: the run id); it must not
    exist in the storage yet. With a storage other processes can reach (a database URL),
    ``text2ml worker --storage URL --study NAME`` processes, on this machine or others,
    run trials of the same study (distributed.py); the result is the best of them all.
    """
    # Every argument is checked before a worker starts or a folder is written.
    budget = Budget(_check_budget(time_budget, minimum=_MIN_RUN_SECONDS))
    _check_task(task, target)
    frame = _as_frame(data)
    _check_name("data_name", data_name)
    _check_name("pipeline_name", pipeline_name)
    _check_options(candidates=candidates, seed=seed, n_workers=n_workers,
                   memory_limit_mb=memory_limit_mb, provider=provider, run_dir=run_dir,
                   target=target, metric=metric, on_event=on_event, stop=stop)
    from . import distributed

    storage = distributed.check_storage(storage, study_name)  # reachable, name free
    emit = ev.Emitter(on_event)
    stop = stop or threading.Event()
    chosen_provider = get_provider(provider, **(provider_options or {}))
    run_id = new_run_id()
    folder = RunFolder.create(Path(run_dir or ".text2ml"), run_id)
    workers, threads = (n_workers, 1) if n_workers else default_workers(len(frame))
    # The fork server starts now (workers are forked from it on first use): its imports
    # overlap with understanding the task.
    pool = WorkerPool(workers, folder.scratch,
                      Limits(memory_limit_mb or _default_memory(workers), threads=threads))
    try:
        with _quiet_optuna():
            return _run(task, frame, budget=budget, target=target, metric=metric, seed=seed,
                        provider=chosen_provider, k=candidates, folder=folder,
                        storage=storage, study_name=study_name, data_name=data_name,
                        pipeline_name=pipeline_name, pos_label=pos_label,
                        task_type=task_type, roles=roles, emit=emit, stop=stop, pool=pool)
    finally:
        pool.close()
        folder.clean_scratch()
        getattr(chosen_provider, "close", lambda: None)()


def _run(task: str, frame: pd.DataFrame, *, budget: Budget, target: str | None,
         metric: str | None, seed: int, provider: Provider, k: int, folder: RunFolder,
         storage: Any, study_name: str | None, data_name: str, pipeline_name: str,
         pos_label: Any, task_type: str | None, roles: dict[str, str] | None,
         emit: ev.Emitter, stop: threading.Event, pool: WorkerPool) -> Result:
    emit_stage(emit, budget, "understand", "Understanding the task")
    notes: list[str] = []
    proposal = _proposed_spec(provider, task, frame, budget, notes)
    spec = understand(task, frame, proposal=proposal, target=target, metric=metric,
                      task_type=task_type, pos_label=pos_label, roles=roles)
    report_usage(emit, provider)
    X, y = training_data(spec, frame)
    evaluation = choose_evaluation(y, classification=spec.is_classification, seed=seed,
                                   time_budget=budget.seconds)
    folder.write_json("spec.json", spec.to_dict())
    emit(ev.SPEC, spec.summary(), spec=spec, evaluation=evaluation)
    job = ship_data(frame, folder, spec, evaluation)

    # Generation prompts see the model's inputs and the target, not the excluded columns.
    used = data_summary(provider, frame[[*spec.features, spec.target]])
    context = GenerationContext(spec=spec, n_rows=len(X), n_features=X.shape[1], seed=seed,
                                k=k, extra=_target_stats(spec, y), data_summary=used or "")
    accepted, every = generate_and_test(provider, pool, context, job=job, budget=budget,
                                        emit=emit, stop=stop, notes=notes)
    folder.write_candidates(every)
    from . import distributed

    with distributed.storage_errors(storage, study_name):  # a clear error, password masked
        study = create_study(direction=spec.direction, seed=seed,
                             storage=storage or folder.storage(),
                             study_name=study_name or folder.run_id)
    study.set_user_attr("spec", spec.to_dict())
    study.set_user_attr("evaluation", evaluation.to_dict())
    study.set_user_attr("candidates", [c.to_dict() for c in every if c.status == PASSED])
    distributed.publish_data(study, storage, frame, folder.path)  # if others can reach it
    enqueue_defaults(study, accepted)
    result = search_and_finish(study, accepted, every, spec, evaluation, job=job,
                               budget=budget, folder=folder, storage=storage,
                               data_name=data_name, pipeline_name=pipeline_name, emit=emit,
                               stop=stop, pool=pool)
    result.usage = getattr(provider, "usage", None)
    result.notes += notes + getattr(provider, "notes", [])
    if result.usage is not None:
        folder.write_json("usage.json", dataclasses.asdict(result.usage))
    return result


def _proposed_spec(provider: Provider, task: str, frame: pd.DataFrame, budget: Budget,
                   notes: list[str]) -> dict[str, Any] | None:
    """The LLM's reading of the task, if it answers within its share of the budget."""
    summary = data_summary(provider, frame)
    if summary is None:
        return None
    try:
        return with_time_limit(lambda: provider.propose_spec(task, summary),
                               llm_seconds(budget))
    except TimeoutError:
        give_up(provider, "it did not read the task within its share of the budget", notes)
        return None


def ship_data(frame: pd.DataFrame, folder: RunFolder, spec: TaskSpec,
              evaluation: Evaluation) -> dict[str, Any]:
    """Write the features and the target once into the run's ``shipped`` folder; workers
    read them from there (_shipping.py: numbers as a float64 file every worker maps,
    shared, the rest pickled) and cannot change them (they write only in the scratch
    folder). On large data, tests and trials read only the rows the protocol scores on
    (its seeded sample), and the refit reads all rows: a trial worker never holds the whole
    table."""
    import numpy as np

    from ._shipping import write_frame

    columns = [*spec.features, spec.target]
    numeric = spec.columns_by_role().get("numeric", [])
    shipped = folder.shipped.resolve()  # read-only for workers: outside their scratch folder
    shipped.mkdir(parents=True, exist_ok=True)
    full_path = write_frame(frame, shipped / "data", columns=columns, numeric=numeric)
    job = {"data_path": str(full_path), "refit_data_path": str(full_path),
           "spec": spec.to_dict()}
    usable = np.flatnonzero(frame[spec.target].notna().to_numpy())
    if evaluation.sample_rows and len(usable) > evaluation.sample_rows:
        # the positions X.sample(n, random_state=seed) picks in the generated program
        picked, _ = evaluation.sample(pd.Series(usable), pd.Series(usable))
        sample_path = write_frame(frame, shipped / "sample", columns=columns,
                                  numeric=numeric, rows=picked.to_numpy())
        job["data_path"] = str(sample_path)
    return job


def search_and_finish(study: Any, accepted: dict[str, list[Candidate]], every: list[Candidate],
                      spec: TaskSpec, evaluation: Evaluation, *, job: dict[str, Any],
                      budget: Budget, folder: RunFolder, storage: Any, data_name: str,
                      pipeline_name: str, emit: ev.Emitter, stop: threading.Event,
                      pool: WorkerPool) -> Result:
    """Search until the budget or a stop, refit the best on all rows, write the result.
    Shared by a new run and ``resume`` (which continues an existing study)."""
    # Before the first trial: a run killed mid-search can then be resumed from its folder.
    folder.write_run_info(evaluation=evaluation.to_dict(), data_name=data_name,
                          pipeline_name=pipeline_name, storage=storage,
                          study_name=study.study_name)
    emit_stage(emit, budget, "search", f"Searching ({evaluation.describe()})")
    release_memory()  # what reading and shipping the data freed goes back before the search

    trial_job = {**job, "evaluation": evaluation.to_dict()}
    from . import _prediction_store
    from .distributed import is_shared_study, shared_search

    # Not for a shared study: other processes' trials send their predictions nowhere.
    width = len(spec.classes) if spec.classes else 1
    store = None
    if not is_shared_study(study, storage) and \
            _prediction_store.enabled(evaluation, spec.n_rows, width):
        from optuna.trial import TrialState

        from ._saved_predictions import PREDICTIONS_DIR

        store = _prediction_store.PredictionStore(spec.direction,
                                                  folder=folder.path / PREDICTIONS_DIR)
        # a resume: the earlier sessions' trials can be members too
        store.restore(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))
        trial_job["keep_predictions"] = True

    # Trials on a sample: the refit's worker then holds all rows, the run's memory peak, so
    # the caller imports what loading the pipeline needs (~80 MB of scikit-learn) only
    # after it, and the refit's reserve keeps the time that takes.
    sampled = job["data_path"] != job["refit_data_path"]
    preload: Callable[[], None] = (lambda: None) if sampled else preload_in_background

    def on_trial(trial: Any) -> None:
        trial_event(emit, study, trial, budget)
        preload()  # after the first trial: it never delays the first best

    # ... or, if no trial finishes soon, in time before the refit (see _should_kill)
    latest = budget.remaining() - max(1.0, 0.1 * budget.seconds) - PRELOAD_SECONDS
    fallback = threading.Timer(max(0.0, latest), preload)
    fallback.daemon = True
    fallback.start()
    # A shared study: workers elsewhere join while this runs; "finished" before the refit.
    with shared_search(study, storage, job=trial_job, budget=budget) as shared:
        search = Search(shared.study, pool, accepted, job=trial_job,
                        budget=budget, refit_scale=refit_scale(evaluation, spec.n_rows),
                        on_trial=on_trial, stop=stop, predictions=store,
                        shared=shared.shared, load_seconds=PRELOAD_SECONDS if sampled else 0.0)
        search.run()
    fallback.cancel()
    preload()  # a stopped search: still before the refit
    if folder.journal.exists():  # the run's own journal (a resume's too)
        from ._journal import sync

        sync(folder.journal)  # the appends skipped the flush (see _journal)
    notes_from_search = shared.notes + [f"A search thread stopped early: {e}"
                                        for e in search.errors]
    notes_from_search += [f"{key} was left out of the search: {why}."
                          for key, why in search.excluded.items()]
    if search.excluded:
        folder.write_candidates(every)  # their status is now failed, with the reason

    pool.ran_generated_code |= any(c.origin != "offline" for c in every)
    # The refit needs one worker, and the others' memory; on sampled data a new one: a
    # search worker keeps pages its trials made private, and the refit is the memory peak.
    pool.retire_idle(keep=0 if sampled else 1)
    if sampled:
        _fork_then_stop_server(pool, budget)
    emit_stage(emit, budget, "refit", "Refitting the best pipeline on all rows")
    program, (pipeline, blob), best_score, params, notes = refit_best(
        study, accepted, spec, evaluation, pool=pool, job=job, budget=budget,
        data_name=data_name, pipeline_name=pipeline_name, run_id=folder.run_id,
        predictions=store)
    members = list(getattr(program, "members", []))
    chosen = {slot: params[slot] for slot in (s.name for s in SLOTS)}
    notes += notes_from_search
    if stop.is_set():
        notes.append("Stopped before the end of the budget; this is the best pipeline so far.")
    result = Result(pipeline=pipeline, spec=spec, best_score=best_score, metric=spec.metric,
                    study=study, candidates=every, code=program.code, cells=program.cells,
                    data_name=data_name, pipeline_name=pipeline_name, run_id=folder.run_id,
                    run_dir=folder.path, evaluation=evaluation, chosen=chosen,
                    best_params=params, elapsed=budget.elapsed(),
                    n_trials=sum(t.state.is_finished() for t in study.trials),
                    notes=notes, members=members, program=program, pipeline_blob=blob)
    folder.write_text("program.py", program.code)
    folder.write_json("result.json", {
        "best_score": None if math.isnan(best_score) else best_score, "metric": spec.metric,
        "chosen": chosen, "params": params, "members": members, "elapsed": result.elapsed,
        "n_trials": result.n_trials, "evaluation": evaluation.to_dict(), "notes": notes,
        "data_name": data_name, "pipeline_name": pipeline_name,
        "storage": public_storage(storage)})  # a URL's password is never written
    emit(ev.DONE, result.summary(), result=result)
    return result


def _fork_then_stop_server(pool: WorkerPool, budget: Budget) -> None:
    """On sampled data, where the refit on all rows is the run's memory peak: fork the
    refit's worker now, then stop the fork server, whose ~25 MB of its own pages the refit
    can use (the rest it shares with the worker, which keeps them). A later spawn (a
    fallback refit, the next run) starts a new server. Not after LLM-written code ran: the
    refit of the catalog's pipeline then forks a fresh worker (_refit.refit_in_worker)."""
    if pool.ran_generated_code:
        return
    from . import _forkserver

    pool.warm(timeout=max(1.0, budget.remaining()))  # a fork: milliseconds
    _forkserver.shutdown()


# ---------------------------------------------------------------- small helpers

# Below this, starting the workers and testing the candidates leave no time for a trial.
_MIN_RUN_SECONDS = 5.0
_MIN_MEMORY_MB = 1024  # a worker needs this much address space to import scikit-learn


def _check_budget(seconds: Any, *, minimum: float = 0.0) -> float:
    """The budget in seconds: a finite number above zero (and at least ``minimum``)."""
    if isinstance(seconds, bool) or not isinstance(seconds, numbers.Real) \
            or not math.isfinite(seconds) or seconds <= 0:
        raise Text2MLError(f"time_budget={seconds!r} is not a positive number of seconds.",
                           "Give the run a budget such as time_budget=60.")
    if seconds < minimum:
        raise Text2MLError(f"time_budget={seconds!r} is too short: a run needs at least "
                           f"{minimum:g} seconds (starting workers, testing candidates, one "
                           "trial).", "Give the run a budget such as time_budget=60.")
    return float(seconds)


def _check_name(option: str, value: Any) -> None:
    if not isinstance(value, str) or not value.isidentifier() or keyword.iskeyword(value):
        raise Text2MLError(f"{option}={value!r} is not a valid Python variable name.",
                           f"Use a name such as {option}='df'.")


def _check_task(task: Any, target: Any) -> None:
    """The task is text; an empty one is fine only when the target is given."""
    if isinstance(task, pd.DataFrame):
        raise Text2MLError("The task is a DataFrame: the arguments look swapped.",
                           "Pass the task first, then the data: run('Predict ...', df).")
    if task is not None and not isinstance(task, str):
        raise Text2MLError(f"The task is {_a(type(task).__name__)}, not text.",
                           "Describe the task in words, e.g. run('Predict survived.', df).")
    if not (task or "").strip() and target is None:
        raise Text2MLError("The task is empty: there is nothing to say what to predict.",
                           "Describe the task, e.g. run('Predict whether a passenger "
                           "survived.', df), or name the column with target='...'.")


def _a(noun: str) -> str:
    """'a list', 'an int'."""
    return f"{'an' if noun[:1].lower() in 'aeiou' else 'a'} {noun}"


def _check_options(*, candidates: Any, seed: Any, n_workers: Any, memory_limit_mb: Any,
                   provider: Any, run_dir: Any, target: Any, metric: Any, on_event: Any,
                   stop: Any) -> None:
    """Types and ranges of run()'s options, so a wrong one is named here rather than
    failing later inside a worker, numpy or Optuna."""
    _check_whole("candidates", candidates, 1, "Use candidates=4 (candidates per module), "
                 "or any number >= 1.")
    _check_whole("seed", seed, 0, "Use a whole number from 0 to 2**32 - 1, e.g. seed=0.",
                 maximum=2**32 - 1)
    if n_workers is not None:
        _check_whole("n_workers", n_workers, 1, "Use n_workers=None (one per core) or a "
                     "number >= 1.")
    if memory_limit_mb is not None:
        _check_whole("memory_limit_mb", memory_limit_mb, _MIN_MEMORY_MB,
                     f"Use memory_limit_mb=None (a fair share) or at least {_MIN_MEMORY_MB}.")
    if not isinstance(provider, str) and not callable(getattr(provider, "generate", None)):
        raise Text2MLError(f"provider={provider!r} is not a provider.",
                           "Use provider='offline', 'openai' or 'auto', or a Provider object.")
    if run_dir is not None and not isinstance(run_dir, (str, os.PathLike)):
        raise Text2MLError(f"run_dir={run_dir!r} is not a folder path.",
                           "Use a path such as run_dir='.text2ml'.")
    for option, value in (("target", target), ("metric", metric)):
        if value is not None and not isinstance(value, str):
            raise Text2MLError(f"{option}={value!r} is not a name.",
                               f"Pass the {option} as text, e.g. {option}='...'.")
    if on_event is not None and not callable(on_event):
        raise Text2MLError(f"on_event={on_event!r} is not callable.",
                           "Pass a function that takes one event, or leave it out.")
    if stop is not None and not callable(getattr(stop, "is_set", None)):
        raise Text2MLError(f"stop={stop!r} is not a threading.Event.",
                           "Pass stop=threading.Event() and call stop.set() to stop.")


def _check_whole(option: str, value: Any, minimum: int, fix: str, *,
                 maximum: int | None = None) -> None:
    """A whole number (not a bool) in [minimum, maximum]."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) \
            or value < minimum or (maximum is not None and value > maximum):
        raise Text2MLError(f"{option}={value!r} is not a whole number of at least {minimum}"
                           + (f" and at most {maximum}" if maximum is not None else "") + ".",
                           fix)


def _as_frame(data: Any) -> pd.DataFrame:
    """The user's data as a DataFrame (a CSV, TSV or Parquet path is read); never modified.
    Anything else, or a table a task cannot use, raises ``Text2MLError`` with the fix."""
    if isinstance(data, (str, os.PathLike)):
        path = Path(data)
        if not path.is_file():
            raise Text2MLError(f"No data file at {str(path)!r}.",
                               "Pass a DataFrame or the path of a CSV or Parquet file.")
        if data_suffix(path) is None:
            raise Text2MLError(f"Cannot read {path.name!r}: not a CSV, TSV or Parquet file.",
                               "Convert it to CSV or Parquet, or pass a DataFrame.")
        try:
            data = load_data(path)
        except Text2MLError as exc:  # the reader's one-line problem, with the engine's fix
            raise Text2MLError(exc.problem, "Check that the file is a valid CSV, TSV or "
                               "Parquet file, or pass a DataFrame.") from None
    check_frame(data)
    return data


def default_workers(n_rows: int, cores: int | None = None) -> tuple[int, int]:
    """(workers, threads per worker) for ``n_rows`` rows on ``cores`` cores (default: this
    machine's): one single-threaded worker per core, at most 8. On data large enough that
    trials score on a sample, one worker with a thread per core instead: each worker holds
    ~90 MB of its own (the pages it copies from the fork server, its fold copies) beside
    its share of the data, and on such data that decides the run's peak memory, while the
    models' own threads (HistGradientBoosting's) put the cores to work: two threads fit
    ~1.5 x as fast as one on an idle machine (two workers run ~1.9 x the trials of one),
    and the refit on all rows, alone at the end, gets them too."""
    cores = usable_cores(cores)
    return (1, cores) if scores_on_sample(n_rows) else (cores, 1)


def usable_cores(cores: int | None = None) -> int:
    """The cores a default pool uses: ``cores`` or this machine's, at most 8."""
    return max(1, min(cores or os.cpu_count() or 1, 8))


def _default_memory(workers: int) -> int:
    """Memory limit per worker (MiB): a fair share of the machine, at least 2 GiB."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**20
    except (ValueError, OSError, AttributeError):
        return 4096
    return max(2048, total // (workers + 1))


def _target_stats(spec: TaskSpec, y: pd.Series) -> dict[str, Any]:
    if spec.task_type != REGRESSION:
        return {}
    values = pd.to_numeric(y, errors="coerce").dropna()
    return {"target_min": float(values.min()), "target_max": float(values.max()),
            "target_skew": float(values.skew()) if len(values) > 2 else 0.0}


def trial_event(emit: ev.Emitter, study: Any, trial: Any, budget: Budget, *,
                replayed: bool = False) -> None:
    """Report a finished trial with what a dashboard needs: its outcome, the best so far
    and the best trial's choices (``replayed``: a trial of an earlier run being resumed)."""
    try:
        best_trial = study.best_trial
    except ValueError:
        best_trial = None
    best = None if best_trial is None else best_trial.value
    state = {"complete": "complete", "pruned": "pruned"}.get(trial.state.name.lower(), "fail")
    value = "" if trial.value is None else f" {trial.value:.4f}"
    best_text = "" if best is None else f", best {best:.4f}"
    emit(ev.TRIAL, "" if replayed else f"  trial {trial.number}: {state}{value}{best_text} "
         f"[{budget.elapsed():.0f}/{budget.seconds:.0f} s]",
         trial=trial, number=trial.number, state=state, value=trial.value, best=best,
         best_params=None if best_trial is None else dict(best_trial.params),
         choices={s.name: trial.params.get(s.name) for s in SLOTS},
         elapsed=0.0 if replayed else budget.elapsed(), budget=budget.seconds,
         replayed=replayed)


@contextlib.contextmanager
def _quiet_optuna() -> Iterator[None]:
    """Optuna logs every trial at INFO; the run reports progress through events instead."""
    import optuna

    level = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        yield
    finally:
        optuna.logging.set_verbosity(level)
