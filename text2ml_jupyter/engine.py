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
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from . import events as ev
from ._datafile import data_suffix, load_data
from ._runfolder import RunFolder, new_run_id, public_storage
from ._safe_pickle import load_fitted
from .candidates import PASSED, Candidate
from .errors import Text2MLError
from .evaluation import Evaluation, choose_evaluation
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
from .search import (
    Budget,
    Search,
    create_study,
    enqueue_defaults,
    expected_refit_seconds,
    local_params,
    quickest_defaults,
    release_memory,
)
from .slots import SLOTS
from .spec import TaskSpec, check_frame, training_data
from .understand import understand

_REFIT = "text2ml_jupyter.engine:refit_program"


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
    workers = n_workers or max(1, min(os.cpu_count() or 1, 8))
    # Workers start now: their imports overlap with understanding the task.
    pool = WorkerPool(workers, folder.scratch, Limits(memory_limit_mb or _default_memory(workers)))
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
    """Write the features and the target once into the scratch folder; workers read them
    from there (_shipping.py: numbers as a float64 file every worker maps, shared, the rest
    pickled). On large data, tests and trials read only the rows the protocol scores on
    (its seeded sample), and the refit reads all rows: a trial worker never holds the whole
    table."""
    import numpy as np

    from ._shipping import write_frame

    columns = [*spec.features, spec.target]
    numeric = spec.columns_by_role().get("numeric", [])
    scratch = folder.scratch.resolve()  # workers run in the scratch folder
    full_path = write_frame(frame, scratch / "data", columns=columns, numeric=numeric)
    job = {"data_path": str(full_path), "refit_data_path": str(full_path),
           "spec": spec.to_dict()}
    usable = np.flatnonzero(frame[spec.target].notna().to_numpy())
    if evaluation.sample_rows and len(usable) > evaluation.sample_rows:
        # the positions X.sample(n, random_state=seed) picks in the generated program
        picked, _ = evaluation.sample(pd.Series(usable), pd.Series(usable))
        sample_path = write_frame(frame, scratch / "sample", columns=columns,
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
    from .distributed import shared_search

    trial_job = {**job, "evaluation": evaluation.to_dict()}
    from . import ensemble

    # Not for a shared study: other processes' trials send their predictions nowhere.
    store = ensemble.PredictionStore(spec.direction) \
        if ensemble.enabled(evaluation, spec.n_rows) and storage is None else None
    if store is not None:
        trial_job["keep_predictions"] = True
    def on_trial(trial: Any) -> None:
        trial_event(emit, study, trial, budget)
        _preload_in_background()  # after the first trial: it never delays the first best

    # ... or, if no trial finishes soon, in time before the refit (see _should_kill)
    latest = budget.remaining() - max(1.0, 0.1 * budget.seconds) - _PRELOAD_SECONDS
    fallback = threading.Timer(max(0.0, latest), _preload_in_background)
    fallback.daemon = True
    fallback.start()
    # A shared study: workers elsewhere join while this runs; "finished" before the refit.
    with shared_search(study, storage, job=trial_job, budget=budget) as shared:
        search = Search(shared.study, pool, accepted, job=trial_job,
                        budget=budget, refit_scale=_refit_scale(evaluation, spec.n_rows),
                        on_trial=on_trial, stop=stop, predictions=store)
        search.run()
    fallback.cancel()
    _preload_in_background()  # a stopped search: still before the refit
    if storage is None:
        from ._journal import sync

        sync(folder.journal)  # the appends skipped the flush (see _journal)
    notes_from_search = shared.notes + [f"A search thread stopped early: {e}"
                                        for e in search.errors]
    notes_from_search += [f"{key} was left out of the search: {why}."
                          for key, why in search.excluded.items()]
    if search.excluded:
        folder.write_candidates(every)  # their status is now failed, with the reason

    pool.retire_idle(keep=1)  # the refit needs one worker, and the others' memory
    emit_stage(emit, budget, "refit", "Refitting the best pipeline on all rows")
    program, (pipeline, blob), best_score, params, notes = _refit_best(
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


def _refit_best(study: Any, accepted: dict[str, list[Candidate]], spec: TaskSpec,
                evaluation: Evaluation, *, pool: WorkerPool, job: dict[str, Any],
                budget: Budget, data_name: str, pipeline_name: str, run_id: str,
                predictions: Any = None) -> tuple[Any, Any, float, dict[str, Any], list[str]]:
    """Assemble the program of the best trial and fit it on all rows in a worker; if that
    fails, fall back to the next best trials, then to the default combination. With the
    trials' out-of-fold ``predictions`` (small data), first an ensemble (ensemble.py)."""
    from optuna.trial import TrialState

    from .program import assemble_program

    complete = [t for t in study.trials if t.state == TrialState.COMPLETE]
    complete.sort(key=lambda t: t.value, reverse=spec.direction == "maximize")
    notes: list[str] = []
    scale = _refit_scale(evaluation, spec.n_rows)
    ranked = _refit_in_time(complete[:10], budget, scale, notes)
    options: list[tuple[dict[str, Any], float, int | None]] = [
        (t.params, t.value, t.user_attrs.get("n_iter")) for t in ranked[:3]]
    rows_path = job["refit_data_path"]
    quickest = ranked[0] if ranked else None
    if quickest is not None and job["data_path"] != rows_path and \
            _expected_refit(quickest, scale) > budget.remaining():
        # Even the quickest would overrun on all rows: fit on the sample the search used.
        rows_path = job["data_path"]
        notes.append(f"The pipeline was fitted on the {evaluation.sample_rows:,}-row sample "
                     f"the search scored on: fitting it on all {spec.n_rows:,} rows would "
                     f"take about {_expected_refit(quickest, scale):.0f} s, more than the "
                     "budget had left. Running the inserted cells fits it on all rows.")
    if not complete:
        notes.append("No trial finished within the budget: this is the default pipeline, "
                     "not validated. Give the run a larger budget.")
    if predictions is not None and rows_path == job["refit_data_path"]:
        from .ensemble import refit_ensemble

        done = refit_ensemble(predictions, complete, accepted, spec, evaluation, pool=pool,
                              job=job, budget=budget, data_name=data_name,
                              pipeline_name=pipeline_name, run_id=run_id, notes=notes,
                              expected_refit=lambda t: _expected_refit(t, scale))
        if done is not None:
            return done
    options.append((quickest_defaults(accepted), math.nan, None))
    last_error = ""
    release_memory()  # what the search freed here goes back before the refit's peak
    for params, score, n_iter in options:
        chosen = {}
        for slot in SLOTS:
            candidate = next(c for c in accepted[slot.name] if c.name == params[slot.name])
            chosen[slot.name] = (candidate, local_params(candidate, params))
        program = assemble_program(spec, chosen, evaluation=evaluation, data_name=data_name,
                                   pipeline_name=pipeline_name, run_id=run_id,
                                   best_score=None if math.isnan(score) else score,
                                   n_candidates={s: len(c) for s, c in accepted.items()})
        deadline = max(budget.end, time.monotonic() + 30.0)
        try:
            fitted = pool.call(_REFIT, {"data_path": rows_path,
                                        "build_code": program.build_code,
                                        "data_name": data_name, "pipeline_name": pipeline_name,
                                        "boosting_iterations": n_iter},
                               deadline=deadline)
        except Exception as exc:  # noqa: BLE001 - any failure: try the next option
            last_error = str(exc)
            notes.append(f"Refitting a pipeline on all rows failed ({last_error}); "
                         "using the next best.")
            continue
        program = _with_settings(program, fitted["settings"], pipeline_name, n_iter)
        blob = fitted.pop("pipeline")
        pipeline, note = load_fitted(blob, [c.origin for c, _ in chosen.values()],
                                     pipeline_name)
        # Once loaded, the pickled bytes are dropped (at 1M rows a forest is 100+ MB).
        kept = blob if pipeline is None else None
        del blob
        return program, (pipeline, kept), score, dict(params), notes + ([note] if note else [])
    raise Text2MLError(f"No pipeline could be fitted on all rows: {last_error}",
                       "Check the data for the problem named above.")


def _refit_in_time(trials: list[Any], budget: Budget, scale: float,
                   notes: list[str]) -> list[Any]:
    """The best trials whose refit on all rows is expected to end within the budget (their
    fold fit time x ``scale``), best first; if none is, the quickest to refit. A large
    table can make the best pipeline's refit far longer than the budget has left."""
    def refit_seconds(trial: Any) -> float:
        return _expected_refit(trial, scale)

    left = budget.remaining()
    in_time = [t for t in trials if refit_seconds(t) <= left]
    if not trials or in_time[:1] == trials[:1]:
        return in_time + [t for t in trials if t not in in_time]
    chosen = in_time or [min(trials, key=refit_seconds)]
    notes.append(f"The best trial's pipeline would take about {refit_seconds(trials[0]):.0f} s "
                 f"to refit on all rows, more than the {max(left, 0):.0f} s the budget had "
                 f"left; trial {chosen[0].number}'s (about {refit_seconds(chosen[0]):.0f} s) "
                 "was refitted instead. A larger budget refits the best one.")
    return chosen + [t for t in trials if t not in chosen]


_preload_started = threading.Event()
_PRELOAD_SECONDS = 4.0  # scikit-learn's first import in a busy kernel takes 1-4 s


def _preload_in_background() -> None:
    """Import, once per process and on a background thread, what loading the fitted
    pipeline needs (scikit-learn: 1-4 s in a fresh kernel, which after the refit would
    overrun the budget). Started during the search, once the first trial is in: earlier,
    it would compete with the first trial (and an LLM's answers) for the kernel's CPU."""
    if not _preload_started.is_set():
        _preload_started.set()
        threading.Thread(target=_import_for_loading, daemon=True,
                         name="text2ml-preload").start()


def _import_for_loading() -> None:
    """Import what unpickling a fitted pipeline needs: the libraries a worker starts with."""
    from .sandbox import _import_libraries

    with contextlib.suppress(Exception):
        _import_libraries()


def _expected_refit(trial: Any, scale: float) -> float:
    """Seconds a trial's pipeline is expected to take to fit on all rows (early-stopped
    boosting: rows x the iterations it ran, see ``refit_program``)."""
    return expected_refit_seconds(float(trial.user_attrs.get("fit_seconds", 0.0)), scale,
                                  boosting=bool(trial.user_attrs.get("n_iter")))


def refit_program(context: Any, *, data_path: str, build_code: str, data_name: str,
                  pipeline_name: str, boosting_iterations: int | None = None) -> dict[str, Any]:
    """(Worker side.) Run the program's build code on the data, fit the pipeline on all
    rows, and return it pickled by value (its functions come from the program), with the
    parameters set before the fit (``settings``).

    ``boosting_iterations``: the ``n_iter_`` early stopping reached in the search. Gradient
    boosting with early stopping then runs exactly that many iterations instead of holding
    out a tenth of the rows, whose split would copy the other nine tenths (0.9 x the table
    at 1M rows)."""
    import cloudpickle

    namespace: dict[str, Any] = {"__name__": "text2ml_program",
                                 data_name: context.load(data_path)}
    exec(compile(build_code, "<candidate program>", "exec"), namespace)  # noqa: S102
    pipeline = namespace[pipeline_name]
    settings = _fixed_iterations(pipeline, boosting_iterations) if boosting_iterations else {}
    if settings:
        pipeline.set_params(**settings)
    pipeline.fit(namespace["X"], namespace["y"])
    return {"pipeline": cloudpickle.dumps(pipeline), "settings": settings}


def _fixed_iterations(pipeline: Any, n_iter: int) -> dict[str, Any]:
    """``set_params`` arguments that turn every early-stopping gradient boosting model in an
    unfitted pipeline into one of ``n_iter`` iterations without a held-out split."""
    from sklearn import ensemble

    boosting = (ensemble.HistGradientBoostingClassifier, ensemble.HistGradientBoostingRegressor)
    found = {"": pipeline} if isinstance(pipeline, boosting) else {}
    if hasattr(pipeline, "get_params"):
        found.update({k: v for k, v in pipeline.get_params(deep=True).items()
                      if isinstance(v, boosting)})
    settings: dict[str, Any] = {}
    for key, model in found.items():
        if model.early_stopping is True or model.early_stopping == "auto":
            prefix = f"{key}__" if key else ""
            settings.update({f"{prefix}early_stopping": False, f"{prefix}max_iter": int(n_iter)})
    return settings


def _with_settings(program: Any, settings: dict[str, Any], pipeline_name: str,
                   n_iter: int | None) -> Any:
    """The program with the refit's ``set_params`` line before its final fit, so running the
    cells fits the pipeline the run returns."""
    if not settings:
        return program
    from .program import Cell

    arguments = ", ".join(f"{k}={v!r}" for k, v in settings.items())
    line = (f"# Boosting runs the {n_iter} iterations early stopping chose in the search, "
            "without\n# holding rows out (that split would copy 90% of the table).\n"
            f"{pipeline_name}.set_params({arguments})\n")
    fit = f"{pipeline_name}.fit(X, y)\n"
    if fit not in program.code:
        return program
    cells = [Cell(c.kind, c.source.replace(fit, line + fit, 1), c.role)
             if c.role == "pipeline" else c for c in program.cells]
    return dataclasses.replace(program, code=program.code.replace(fit, line + fit, 1),
                               cells=cells)


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


def _refit_scale(evaluation: Evaluation, n_rows: int) -> float:
    """Full-data fit time relative to one fold's fit (train rows grow by this factor, and
    by the sample's when trials scored on a sample of the rows)."""
    sampled = max(1.0, n_rows / evaluation.sample_rows) if evaluation.sample_rows else 1.0
    if evaluation.holdout:
        return sampled / (1.0 - evaluation.test_size)
    return sampled * evaluation.n_splits / (evaluation.n_splits - 1)


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
