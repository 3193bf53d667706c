"""Caruana ensemble selection of the final pipeline: the engine's hook.

On a few hundred rows, the trial with the best mean CV score is partly the one that fitted
these particular folds best (the winner's curse). Greedy ensemble selection (Caruana et al.
2004: with replacement, on validation predictions) averages several good trials instead;
benchmarks/selection_study.py measured it: a lower held-out RMSE on boston_housing in 3 of 3
studies, never significantly worse elsewhere, and the single best when nothing helps. On
larger data the trials' holdout predictions serve the same way (as in auto-sklearn), and a
blend of different boosting libraries can beat each alone. The members are chosen within
the time left for their refit.

The parts:

- _prediction_store.py: the trials' validation predictions, packed in the workers and kept
  by the caller (``PredictionStore``, with a copy in the run folder for a resume);
- _blend_selection.py: ``caruana`` / ``select``, the greedy selection, scored with the run's
  metric per fold and averaged like the trials' CV (``FoldScorer``), returning (trial,
  integer weight) pairs;
- here: ``surest_first`` (ties of a counting metric broken by the log loss) and
  ``refit_ensemble``, what ``_refit.refit_best`` calls first: select, assemble the ensemble
  program (_ensemble_program.py), refit it in a worker; ``None`` means "refit the single
  best as before" (one member, no time, or a failure, with a note saying which).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ._blend_selection import COUNTING, FoldScorer, comparable, select
from ._prediction_store import PredictionStore
from .metrics import REGRESSION, get_metric

# The share of the budget the search sets aside for refitting an ensemble's other members
# (beside the best trial's refit): more would cut the search short on larger data.
RESERVE_SHARE = 0.2
_REFIT_OVERHEAD = 1.0  # seconds: assembling the program, shipping the fitted pipeline back


def threshold_of(candidate: Any, params: dict[str, Any]) -> float | None:
    """A postprocess member's decision threshold (a ``FixedThresholdClassifier`` with a
    searched ``threshold``, as the catalog's), else None."""
    value = params.get("threshold")
    if "FixedThresholdClassifier" in candidate.source and isinstance(value, (int, float)) \
            and not isinstance(value, bool):
        return float(value)
    return None


def member_choices(accepted: dict[str, list[Any]], params: dict[str, Any]) -> dict[str, Any]:
    """Slot -> (candidate, its own hyperparameters) of a trial's params, as the program is
    assembled from them (the ensemble's members and ``_refit.refit_best``'s options;
    KeyError: not accepted)."""
    from .search import local_params
    from .slots import SLOTS

    chosen = {}
    for slot in SLOTS:
        found = [c for c in accepted.get(slot.name, []) if c.name == params.get(slot.name)]
        if not found:
            raise KeyError(f"{slot.name}.{params.get(slot.name)}")
        chosen[slot.name] = (found[0], local_params(found[0], params))
    return chosen


def members_as_fitted(accepted: dict[str, list[Any]], members: list[tuple[Any, int]]
                      ) -> tuple[list[tuple[dict[str, Any], int, Any]], str]:
    """Each member's slot choices as its trial fitted them, with its weight and trial, and
    a note naming the members that differ from their trial's params. On large all-numeric
    tables a trial fits a rescaling before a tree as ``numbers_as_is`` (``_lean.py``); its
    predictions, which the selection blended, are that fit's, so the member must be too,
    as the single best's refit is (``_refit.refit_best``)."""
    from ._lean import without_scaling

    chosen, lean = [], []
    for trial, weight in members:
        params, note = without_scaling(dict(trial.params), accepted)
        if note:
            lean.append(str(trial.number))
        chosen.append((member_choices(accepted, params), weight, trial))
    if not lean:
        return chosen, ""
    trials = f"trial {lean[0]}" if len(lean) == 1 else f"trials {', '.join(lean)}"
    return chosen, (f"The members from {trials} rescaled the numbers before a tree model; on "
                    "a table this large their trials fitted the numbers as they are, and so "
                    "do those members, without copies of the table.")


def refit_ensemble(store: PredictionStore | None, complete: list[Any],
                   accepted: dict[str, list[Any]], spec: Any, evaluation: Any, *, pool: Any,
                   job: dict[str, Any], budget: Any, data_name: str, pipeline_name: str,
                   run_id: str, expected_refit: Callable[[Any], float],
                   notes: list[str], target: Callable[[], Any] | None = None
                   ) -> tuple[Any, ...] | None:
    """Select an ensemble from the stored validation predictions and refit its program
    on all rows, as ``_refit.refit_best`` returns it: (program, (pipeline, blob), score,
    params, notes). None when the best single pipeline should be refitted instead (one
    member, not enough time, or a failure); ``notes`` then says why. ``target``: the
    trials' target, read once for this and ``surest_first`` (``target_loader``)."""
    if store is None or not len(store) or not complete:
        return None
    best = complete[0]
    by_number = {t.number: t for t in complete}
    try:
        entries = [e for e in store.entries() if e.number in by_number]
        for e in entries:
            if spec.task_type == "binary":
                chosen = member_choices(accepted, e.params)
                e.threshold = threshold_of(*chosen["postprocess"])
        left = budget.remaining() - _REFIT_OVERHEAD
        y = (target or target_loader(spec, evaluation, job))()
        selection = select(entries, y, metric=spec.metric,
                           task_type=spec.task_type, pos_label=spec.pos_label,
                           best=(best.number, best.value),
                           seconds=lambda n: expected_refit(by_number[n]), max_seconds=left)
    except Exception as exc:  # noqa: BLE001 - the single best remains
        notes.append(f"Ensemble selection failed ({type(exc).__name__}: {exc}); the best "
                     "single pipeline was refitted.")
        return None
    if len(selection.members) < 2:
        earlier = "" if any(e.number == best.number for e in entries) else (
            " (the best trial's predictions were not kept: it ran in another process, or "
            "in an earlier session whose predictions were not saved)")
        notes.append(f"Ensemble selection (greedy, on the validation predictions of "
                     f"{len(selection.pool)} trials) found no blend better than the best "
                     f"single pipeline{earlier}, among members whose refits fit the "
                     f"{max(0, left):.0f} s left: trial {best.number} was refitted.")
        return None
    members = [(by_number[n], w) for n, w in selection.members]
    seconds = sum(expected_refit(t) for t, _ in members)
    described = _describe(members, spec)
    if seconds > budget.remaining():
        notes.append(f"An ensemble of {described} scored better in CV "
                     f"({selection.score:.4f}), but refitting its {len(members)} pipelines "
                     f"would take about {seconds:.0f} s, more than the budget had left: the "
                     "best single pipeline was refitted.")
        return None
    from ._ensemble_program import assemble_ensemble_program, member_variable
    from ._refit import refit_in_worker, with_settings

    try:
        chosen, lean = members_as_fitted(accepted, members)
        program = assemble_ensemble_program(
            spec, chosen, evaluation=evaluation, data_name=data_name,
            pipeline_name=pipeline_name, run_id=run_id, score=selection.score,
            n_candidates={s: len(c) for s, c in accepted.items()})
        # early-stopped boosting runs its trial's iterations, as the single best's does
        iterations = {member_variable(i): int(t.user_attrs["n_iter"])
                      for i, (t, _) in enumerate(members, 1) if t.user_attrs.get("n_iter")}
        fitted, pipeline, kept, note = refit_in_worker(
            pool, {"data_path": job["refit_data_path"], "build_code": program.build_code,
                   "data_name": data_name, "pipeline_name": pipeline_name,
                   "member_iterations": iterations},
            deadline=budget.end, pipeline_name=pipeline_name,
            origins=[c.origin for member, _, _ in chosen for c, _ in member.values()])
        program = with_settings(program, fitted["settings"], pipeline_name, None)
    except Exception as exc:  # noqa: BLE001 - any failure: the single best remains
        notes.append(f"Refitting the ensemble of {described} failed ({exc}); the best single "
                     "pipeline was refitted.")
        return None
    own = ", ".join(f"trial {t.number}: {t.value:.4f}" for t, _ in members)
    label = get_metric(spec.metric).label
    why = (f" It ties the best single pipeline's CV {label} ({selection.score:.4f}) with a "
           "lower CV log loss: it is surer of the same right answers." if selection.tied
           else f" Its CV {label} {selection.score:.4f} is optimistic (the weights were "
           "chosen on the same predictions).")
    notes.append(f"The pipeline is an ensemble of {described}: a weighted vote chosen by "
                 f"greedy ensemble selection on the trials' validation predictions.{why} "
                 f"The members' own CV scores: {own}.")
    return (program, (pipeline, kept), selection.score, dict(members[0][0].params),
            notes + [n for n in (lean, note) if n])


def surest_first(store: PredictionStore | None, complete: list[Any], spec: Any,
                 target: Callable[[], Any], notes: list[str]) -> list[Any]:
    """``complete`` (best first), with the trials that tie the best score reordered by
    their CV log loss, surest first, when the metric counts hits (accuracy, F1): on a few
    hundred rows many trials are right on the same rows, and the earliest of them is not
    the best of them. Unchanged otherwise, or without their kept predictions. ``target``
    gives the trials' target (``target_loader``), read only when trials tie."""
    if store is None or len(complete) < 2 or spec.task_type == REGRESSION \
            or spec.metric not in COUNTING:
        return complete
    tied = {t.number for t in complete if abs(t.value - complete[0].value) <= 1e-12}
    kept = [e for e in store.entries() if e.number in tied]
    if len(kept) < 2:
        return complete
    kept = comparable(kept)
    first = kept[0]
    y = target()[first.rows]
    log_loss = FoldScorer("log_loss", spec.task_type, y, first.sizes, first.classes,
                          spec.pos_label)
    losses = {e.number: log_loss(e.values) for e in kept}
    if complete[0].number not in losses:
        return complete  # the first best cannot be compared: it stays first
    ordered = sorted((t for t in complete if t.number in losses),
                     key=lambda t: losses[t.number])
    if ordered[0] is complete[0]:
        return complete
    notes.append(f"{len(tied)} trials tie the best CV {get_metric(spec.metric).label} "
                 f"({complete[0].value:.4f}); trial {ordered[0].number} is the surest of "
                 f"them (CV log loss {losses[ordered[0].number]:.4f}, against "
                 f"{losses[complete[0].number]:.4f} for trial {complete[0].number}, the "
                 "earliest of them), so it counts as the best.")
    return ordered + [t for t in complete if t.number not in losses]


def _describe(members: list[tuple[Any, int]], spec: Any) -> str:
    parts = [f"trial {t.number} ({t.params.get('model')}, weight {w})" for t, w in members]
    return f"{len(members)} pipelines: " + ", ".join(parts)


def target_loader(spec: Any, evaluation: Any, job: dict[str, Any]) -> Callable[[], Any]:
    """The target the trials scored on, read from the data the caller shipped on the first
    call and kept: the tie-break and the selection both need it."""
    from functools import cache

    @cache
    def target() -> Any:
        from ._shipping import read_frame
        from .spec import training_data

        X, y = evaluation.sample(*training_data(spec, read_frame(job["data_path"])))
        return y.to_numpy()

    return target
