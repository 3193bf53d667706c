"""Generating and testing candidates, slot by slot (Contextual Modular Generation).

For each slot in order the provider writes K candidates knowing the accepted upstream
ones; each is tested in a worker with one accepted candidate of every earlier slot (the
combination the first trial will run) on real rows; failures go back to the provider for
repair. LLM calls run under a share of the run's budget, so a slow endpoint cannot eat
the search.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

import pandas as pd

from . import events as ev
from .candidates import FAILED, PASSED, Candidate
from .errors import Text2MLError
from .providers import GenerationContext, Provider
from .sandbox import WorkerPool
from .search import Budget, quickest_combination
from .slots import SLOTS
from .testing import WARM_UP, run_contract_tests

_MAX_REPAIR_ROUNDS = 2


def emit_stage(emit: ev.Emitter, budget: Budget, stage: str, message: str) -> None:
    """A stage event with the clock, so a dashboard can show time against budget."""
    emit(ev.STAGE, message, stage=stage, elapsed=budget.elapsed(), budget=budget.seconds)


def generate_and_test(provider: Provider, pool: WorkerPool, context: GenerationContext, *,
                      job: dict[str, Any], budget: Budget, emit: ev.Emitter,
                      stop: threading.Event, notes: list[str]
                      ) -> tuple[dict[str, list[Candidate]], list[Candidate]]:
    """Slot by slot: generate K candidates in the context of the accepted upstream ones,
    test each in that context, give failures back for repair; keep what passed. What went
    wrong with the provider on the way is added to ``notes``."""
    accepted: dict[str, list[Candidate]] = {}
    every: list[Candidate] = []
    per_test = max(10.0, min(30.0, 0.2 * budget.seconds))
    # imports and first fits happen here, so a test's time (its limit, and the ranking
    # of quickest_combination) measures the candidate only
    pool.warm(timeout=max(1.0, budget.remaining()), exercise=(WARM_UP, job),
              should_stop=stop.is_set)

    def changed(candidate: Candidate) -> None:
        emit(ev.CANDIDATE, _candidate_message(candidate), candidate=candidate)

    for slot in SLOTS:
        emit_stage(emit, budget, f"generate:{slot.name}",
                   f"Generating candidates for {slot.name}")
        batch = _unique_names(_generated(provider, slot, context, budget, notes), every)
        report_usage(emit, provider)
        # the context: what the first trial will run (search.quickest_combination), so
        # the tests after the model's fit the quickest model, not the first listed
        upstream = list(quickest_combination(accepted).values())
        for round_ in range(_MAX_REPAIR_ROUNDS + 1):
            every += batch
            for candidate in batch:
                changed(candidate)
            run_contract_tests(pool, batch, upstream, job=job, deadline=budget.end,
                               per_test_seconds=per_test, on_change=changed,
                               should_stop=stop.is_set)
            if round_ == _MAX_REPAIR_ROUNDS or stop.is_set():
                break
            repaired = [_repaired(provider, c, context, budget, notes)
                        for c in batch if c.status == FAILED]
            report_usage(emit, provider)
            batch = _unique_names([c for c in repaired if c is not None], every)
            if not batch:
                break
        passed = [c for c in every if c.slot == slot.name and c.status == PASSED]
        if not passed:
            reasons = "; ".join(f"{c.name}: {c.reason}" for c in every if c.slot == slot.name)
            raise Text2MLError(
                f"No {slot.name} candidate passed its tests ({reasons or 'none proposed'}).",
                "Check the data for the problems named above; with an LLM provider, "
                "try again or another model.")
        accepted[slot.name] = passed
        context.accepted = dict(accepted)
    return accepted, every


# The most of the budget one LLM answer may take: a slow endpoint must leave the search
# its time (the catalog's candidates are tested meanwhile).
LLM_SHARE = 0.12


def llm_seconds(budget: Budget) -> float:
    return max(0.0, min(0.5 * budget.remaining(), LLM_SHARE * budget.seconds))


def _generated(provider: Provider, slot: Any, context: GenerationContext, budget: Budget,
               notes: list[str]) -> list[Candidate]:
    """The slot's candidates. A provider with batches (LLM + catalog) returns futures: the
    ready ones come first; an LLM batch that misses its share of the budget is left, and
    the LLM is not asked again in this run."""
    batches = getattr(provider, "generate_batches", None)
    if batches is None:
        return provider.generate(slot, context)
    out: list[Candidate] = []
    for future in batches(slot, context):
        try:
            out += future.result(timeout=llm_seconds(budget))
        except FutureTimeout:
            give_up(provider, f"its {slot.name} candidates did not come back within "
                              f"{llm_seconds(budget):.0f} s of the budget", notes)
    return out


def _repaired(provider: Provider, candidate: Candidate, context: GenerationContext,
              budget: Budget, notes: list[str]) -> Candidate | None:
    try:
        return with_time_limit(lambda: provider.repair(candidate, candidate.reason or "",
                                                       context), llm_seconds(budget))
    except TimeoutError:
        give_up(provider, f"repairing {candidate.key} took too long", notes)
    except Text2MLError as exc:
        notes.append(f"{candidate.key} could not be repaired: {exc.problem}")
    return None


def give_up(provider: Provider, reason: str, notes: list[str]) -> None:
    """Stop asking a slow LLM (a provider that can go on without it says so itself)."""
    drop = getattr(provider, "drop_llm", None)
    if drop is not None:
        drop(reason)
    else:
        notes.append(f"The LLM was too slow: {reason}.")


def with_time_limit(call: Callable[[], Any], seconds: float) -> Any:
    """``call()`` on a thread, raising TimeoutError after ``seconds`` (its late answer is
    dropped) and re-raising its exception here, in the caller's thread."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = call()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=target, daemon=True, name="text2ml-llm-call")
    thread.start()
    thread.join(max(0.0, seconds))
    if thread.is_alive():
        raise TimeoutError
    if "error" in box:
        raise box["error"]
    return box.get("value")


def data_summary(provider: Provider, frame: pd.DataFrame) -> str | None:
    """The schema summary an LLM sees (None for providers that read no prompt)."""
    if not hasattr(provider, "propose_spec"):
        return None
    from .providers.prompts import schema_summary

    settings = getattr(getattr(provider, "llm", provider), "settings", None)
    return schema_summary(frame, send_examples=getattr(settings, "send_examples", True))


def report_usage(emit: ev.Emitter, provider: Provider) -> None:
    usage = getattr(provider, "usage", None)
    if usage is not None and usage.calls:
        emit(ev.USAGE, usage.summary(), usage=dataclasses.asdict(usage),
             summary=usage.summary())


def _unique_names(batch: list[Candidate], existing: list[Candidate]) -> list[Candidate]:
    taken = {c.key for c in existing}
    for candidate in batch:
        base, n = candidate.name, 2
        while candidate.key in taken:
            candidate.name = f"{base}_{n}"
            n += 1
        taken.add(candidate.key)
    return batch


def _candidate_message(candidate: Candidate) -> str:
    if candidate.status == FAILED:
        return f"  {candidate.key}: failed: {candidate.reason}"
    if candidate.status == PASSED:
        return f"  {candidate.key}: passed ({candidate.test_seconds:.1f} s)"
    return ""
