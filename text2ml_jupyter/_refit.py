"""The refit: the best trial's program fitted on all rows in a worker, within what is left
of the budget.

``refit_best`` (called by ``engine.search_and_finish``) ranks the trials by score, keeps the
ones whose refit is expected to end in time, tries an ensemble first when the trials scored
on all rows (ensemble.py), then the best trials in turn and finally the default combination.
``refit_program`` is the worker side, ``refit_in_worker`` the caller's (the pickle streamed
back, _pickle_stream.py). ``preload_in_background`` imports, in the caller, what loading the
fitted pipeline needs, while the search still runs (the engine skips it on sampled data,
where the refit is the memory peak: see ``engine.search_and_finish``).
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import math
import threading
import time
from typing import Any

from ._lean import without_scaling
from ._pickle_stream import ChunkReader, ChunkWriter
from ._safe_pickle import load_fitted
from ._shipping import released_once_binned
from .candidates import Candidate
from .errors import CandidateError, Text2MLError
from .evaluation import Evaluation
from .sandbox import WorkerPool
from .search import (REFIT_CHOICES, Budget, expected_refit_seconds, quickest_defaults,
                     ranked_trials, release_memory)
from .spec import TaskSpec

# The worker call that fits a program on all rows (ensemble.py makes it too).
REFIT_CALL = "text2ml_jupyter._refit:refit_program"


def refit_scale(evaluation: Evaluation, n_rows: int) -> float:
    """Full-data fit time relative to one fold's fit (train rows grow by this factor, and
    by the sample's when trials scored on a sample of the rows)."""
    sampled = max(1.0, n_rows / evaluation.sample_rows) if evaluation.sample_rows else 1.0
    if evaluation.holdout:
        return sampled / (1.0 - evaluation.test_size)
    return sampled * evaluation.n_splits / (evaluation.n_splits - 1)


def refit_best(study: Any, accepted: dict[str, list[Candidate]], spec: TaskSpec,
               evaluation: Evaluation, *, pool: WorkerPool, job: dict[str, Any],
               budget: Budget, data_name: str, pipeline_name: str, run_id: str,
               predictions: Any = None) -> tuple[Any, Any, float, dict[str, Any], list[str]]:
    """Assemble the program of the best trial and fit it on all rows in a worker; if that
    fails, fall back to the next best trials, then to the default combination. With the
    trials' validation ``predictions`` (trials scored on all rows), first an ensemble
    (ensemble.py)."""
    from .program import assemble_program

    complete = ranked_trials(study)
    notes: list[str] = []
    target = None
    if predictions is not None:
        from .ensemble import surest_first, target_loader

        target = target_loader(spec, evaluation, job)
        try:
            complete = surest_first(predictions, complete, spec, target, notes)
        except Exception:  # noqa: BLE001 - a tie-break only: the first best stays first
            pass
    scale = refit_scale(evaluation, spec.n_rows)
    ranked = refit_in_time(complete[:REFIT_CHOICES], budget, scale, notes)
    options: list[tuple[dict[str, Any], float, int | None]] = [
        (t.params, t.value, t.user_attrs.get("n_iter")) for t in ranked[:3]]
    rows_path = job["refit_data_path"]
    quickest = ranked[0] if ranked else None
    if quickest is not None and job["data_path"] != rows_path and \
            expected_refit(quickest, scale) > budget.remaining():
        # Even the quickest would overrun on all rows: fit on the sample the search used.
        rows_path = job["data_path"]
        notes.append(f"The pipeline was fitted on the {evaluation.sample_rows:,}-row sample "
                     f"the search scored on: fitting it on all {spec.n_rows:,} rows would "
                     f"take about {expected_refit(quickest, scale):.0f} s, more than the "
                     "budget had left. Running the inserted cells fits it on all rows.")
    if not complete:
        notes.append("No trial finished within the budget: this is the default pipeline, "
                     "not validated. Give the run a larger budget.")
    if predictions is not None and rows_path == job["refit_data_path"]:
        from .ensemble import refit_ensemble

        done = refit_ensemble(predictions, complete, accepted, spec, evaluation, pool=pool,
                              job=job, budget=budget, data_name=data_name,
                              pipeline_name=pipeline_name, run_id=run_id, notes=notes,
                              expected_refit=lambda t: expected_refit(t, scale),
                              target=target)
        if done is not None:
            return done
    options.append((quickest_defaults(accepted), math.nan, None))
    last_error = ""
    release_memory()  # what the search freed here goes back before the refit's peak
    from .ensemble import member_choices

    for params, score, n_iter in options:
        params, lean = without_scaling(params, accepted)
        chosen = member_choices(accepted, params)
        program = assemble_program(spec, chosen, evaluation=evaluation, data_name=data_name,
                                   pipeline_name=pipeline_name, run_id=run_id,
                                   best_score=None if math.isnan(score) else score,
                                   n_candidates={s: len(c) for s, c in accepted.items()})
        deadline = max(budget.end, time.monotonic() + 30.0)
        try:
            fitted, pipeline, kept, note = refit_in_worker(
                pool, {"data_path": rows_path, "build_code": program.build_code,
                       "data_name": data_name, "pipeline_name": pipeline_name,
                       "boosting_iterations": n_iter},
                deadline=deadline, origins=[c.origin for c, _ in chosen.values()],
                pipeline_name=pipeline_name)
        except Exception as exc:  # noqa: BLE001 - any failure: try the next option
            last_error = str(exc)
            notes.append(f"Refitting a pipeline on all rows failed ({last_error}); "
                         "using the next best.")
            continue
        program = with_settings(program, fitted["settings"], pipeline_name, n_iter)
        notes += [lean] if lean else []
        return program, (pipeline, kept), score, dict(params), notes + ([note] if note else [])
    raise Text2MLError(f"No pipeline could be fitted on all rows: {last_error}",
                       "Check the data for the problem named above.")


def refit_in_time(trials: list[Any], budget: Budget, scale: float,
                  notes: list[str]) -> list[Any]:
    """The best trials whose refit on all rows is expected to end within the budget (their
    fold fit time x ``scale``), best first; if none is, the quickest to refit. A large
    table can make the best pipeline's refit far longer than the budget has left."""
    def refit_seconds(trial: Any) -> float:
        return expected_refit(trial, scale)

    left = budget.remaining()
    in_time = [t for t in trials if refit_seconds(t) <= left]
    if not trials or in_time[:1] == trials[:1]:
        return in_time + [t for t in trials if t not in in_time]
    chosen = in_time or [min(trials, key=refit_seconds)]
    too_long = (f"The best trial's pipeline would take about {refit_seconds(trials[0]):.0f} s "
                f"to refit on all rows, more than the {max(left, 0):.0f} s the budget had "
                "left; ")
    if chosen[0] is trials[0]:  # no refit fits, and the best is also the quickest
        notes.append(too_long + "no trial's refit fits, so it was refitted anyway and the "
                     "run may end after its budget. A larger budget avoids this.")
    else:
        notes.append(too_long + f"trial {chosen[0].number}'s (about "
                     f"{refit_seconds(chosen[0]):.0f} s) was refitted instead. A larger "
                     "budget refits the best one.")
    return chosen + [t for t in trials if t not in chosen]


_preload_started = threading.Event()
PRELOAD_SECONDS = 4.0  # scikit-learn's first import in a busy kernel takes 1-4 s


def preload_in_background() -> None:
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


def expected_refit(trial: Any, scale: float) -> float:
    """Seconds a trial's pipeline is expected to take to fit on all rows (early-stopped
    boosting: rows x the iterations it ran, see ``refit_program``; blended with a forest:
    as a forest)."""
    attrs = trial.user_attrs
    return expected_refit_seconds(float(attrs.get("fit_seconds", 0.0)), scale,
                                  boosting=bool(attrs.get("n_iter"))
                                  and not attrs.get("boosting_with_trees"))


def refit_program(context: Any, *, data_path: str, build_code: str, data_name: str,
                  pipeline_name: str, boosting_iterations: int | None = None,
                  member_iterations: dict[str, int] | None = None,
                  stream: bool = False) -> dict[str, Any]:
    """(Worker side.) Run the program's build code on the data, fit the pipeline on all
    rows, and return it pickled by value (its functions come from the program), with the
    parameters set before the fit (``settings``). With ``stream`` the pickle goes to the
    caller a few MB at a time, as questions (``refit_in_worker``), instead of as one bytes
    object: a forest fitted on 1M rows pickles to 100+ MB, which the send would copy again
    and the receive twice more.

    ``boosting_iterations``: the ``n_iter_`` early stopping reached in the search. Gradient
    boosting with early stopping then runs exactly that many iterations instead of holding
    out a tenth of the rows, whose split would copy the other nine tenths (0.9 x the table
    at 1M rows). ``member_iterations``: the same for an ensemble, per member (its
    variable in the program, e.g. ``member_2``: its trial's ``n_iter_``)."""
    import cloudpickle

    namespace: dict[str, Any] = {"__name__": "text2ml_program",
                                 data_name: context.load(data_path)}
    exec(compile(build_code, "<candidate program>", "exec"), namespace)  # noqa: S102
    pipeline = namespace[pipeline_name]
    settings = _fixed_iterations(pipeline, boosting_iterations) if boosting_iterations else {}
    for member, n_iter in (member_iterations or {}).items():
        settings.update(_fixed_iterations(pipeline, n_iter, within=member))
    if settings:
        pipeline.set_params(**settings)
    # Only a HistGradientBoosting last step is the table's last reader once it has binned it.
    last = pipeline.steps[-1][1] if hasattr(pipeline, "steps") else pipeline
    fitting = released_once_binned(namespace["y"]) if isinstance(last, _hist_boosting()) \
        else contextlib.nullcontext(namespace["y"])
    with fitting as y:
        pipeline.fit(namespace["X"], y)
    if not stream:
        return {"pipeline": cloudpickle.dumps(pipeline), "settings": settings}
    out = ChunkWriter(context.ask)
    cloudpickle.dump(pipeline, out)
    out.close()
    return {"settings": settings}


def refit_in_worker(pool: WorkerPool, arguments: dict[str, Any], *, deadline: float,
                    origins: list[str], pipeline_name: str
                    ) -> tuple[dict[str, Any], Any, bytes | None, str | None]:
    """(Caller side.) ``refit_program`` in a worker, its pickle streamed back over the
    worker's own connection: (the worker's answer, the loaded pipeline or None, the
    pickle's bytes only when it was not loaded, the note saying why)."""
    chunks: collections.deque[bytes] = collections.deque()

    def receive(question: Any) -> None:
        if not (isinstance(question, tuple) and len(question) == 2
                and question[0] == "pickle" and isinstance(question[1], bytes)):
            raise CandidateError("a refit asks no questions")
        chunks.append(question[1])

    trusted = all(origin == "offline" for origin in origins)
    if trusted and pool.ran_generated_code:
        pool.retire_idle(keep=0)  # the next call forks a worker no candidate code ran in
    try:
        fitted = pool.call(REFIT_CALL, {**arguments, "stream": True}, deadline=deadline,
                           on_ask=receive)
    finally:
        pool.ran_generated_code |= not trusted
    # The worker still maps all rows: it exits before the caller loads the pipeline (which
    # may import scikit-learn first); a fallback refit forks a new one.
    pool.retire_idle(keep=0)
    if trusted:  # the package's own code, loaded as it streams in: no copy kept
        pipeline, note = load_fitted(ChunkReader(chunks), origins, pipeline_name)
        return fitted, pipeline, None, note
    blob = b"".join(chunks)  # kept while the pipeline is not loaded
    chunks.clear()
    pipeline, note = load_fitted(blob, origins, pipeline_name)
    return fitted, pipeline, blob if pipeline is None else None, note


def _hist_boosting() -> tuple[type, ...]:
    """scikit-learn's HistGradientBoosting models (imported when a refit needs them)."""
    from sklearn import ensemble

    return ensemble.HistGradientBoostingClassifier, ensemble.HistGradientBoostingRegressor


def _fixed_iterations(pipeline: Any, n_iter: int, within: str | None = None
                      ) -> dict[str, Any]:
    """``set_params`` arguments that turn every early-stopping gradient boosting model in an
    unfitted pipeline (or only in its step named ``within``, an ensemble's member) into one
    of ``n_iter`` iterations without a held-out split."""
    boosting = _hist_boosting()
    found = {"": pipeline} if isinstance(pipeline, boosting) and within is None else {}
    if hasattr(pipeline, "get_params"):
        found.update({k: v for k, v in pipeline.get_params(deep=True).items()
                      if isinstance(v, boosting)
                      and (within is None or within in k.split("__"))})
    settings: dict[str, Any] = {}
    for key, model in found.items():
        if model.early_stopping is True or model.early_stopping == "auto":
            prefix = f"{key}__" if key else ""
            settings.update({f"{prefix}early_stopping": False, f"{prefix}max_iter": int(n_iter)})
    return settings


def with_settings(program: Any, settings: dict[str, Any], pipeline_name: str,
                   n_iter: int | None) -> Any:
    """The program with the refit's ``set_params`` line before its final fit, so running the
    cells fits the pipeline the run returns."""
    if not settings:
        return program
    from .program import Cell

    arguments = ", ".join(f"{k}={v!r}" for k, v in settings.items())
    if len(pipeline_name) + len(arguments) > 76:  # one per line, as a formatter would
        arguments = "".join(f"\n    {k}={v!r}," for k, v in settings.items()) + "\n"
    which = f"the {n_iter} iterations" if n_iter else "the iterations (each member's)"
    line = (f"# Boosting runs {which} early stopping chose in the search, without\n"
            "# holding rows out (that split would copy 90% of the table).\n"
            f"{pipeline_name}.set_params({arguments})\n")
    fit = f"{pipeline_name}.fit(X, y)\n"
    if fit not in program.code:
        return program
    cells = [Cell(c.kind, c.source.replace(fit, line + fit, 1), c.role)
             if c.role == "pipeline" else c for c in program.cells]
    return dataclasses.replace(program, code=program.code.replace(fit, line + fit, 1),
                               cells=cells)
