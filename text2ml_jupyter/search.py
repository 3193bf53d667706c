"""The search: one Optuna study over candidate choice x hyperparameters, scored in workers.

Each trial picks a candidate per slot (a categorical parameter named after the slot) and
then whatever hyperparameters the chosen candidates declare (define-by-run, so the space is
conditional). The candidates' ``trial.suggest_*`` calls run in a worker and are answered by
the real trial here. The worker scores the pipeline fold by fold with the run's validation
protocol and reports the running mean after each fold, so the pruner stops bad trials early.
One thread per worker drives trials through ask/tell until the deadline or a stop.
"""

from __future__ import annotations

import functools
import math
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .candidates import FAILED, Candidate
from .errors import CandidateError
from .sandbox import WorkerFailure, WorkerPool
from .slots import SLOTS

_EVALUATE = "text2ml_jupyter.search:evaluate_trial"
_SUGGEST_METHODS = ("suggest_float", "suggest_int", "suggest_categorical")
# how often a shared study is re-read for a new best (a query of the storage each time)
_RESERVE_REREAD_SECONDS = 2.0
REFIT_CHOICES = 10  # the refit takes the best of the ten best trials whose refit fits


@dataclass
class Budget:
    """The run's wall clock: one hard end for everything, and a reserve kept for the refit."""

    seconds: float
    start: float = field(default_factory=time.monotonic)
    reserve: float = 2.0

    @property
    def end(self) -> float:
        return self.start + self.seconds

    def elapsed(self) -> float:
        return time.monotonic() - self.start

    def remaining(self) -> float:
        return self.end - time.monotonic()

    def search_end(self) -> float:
        """When the search must stop so the refit still fits in the budget."""
        return self.end - self.reserve


def create_study(*, direction: str, seed: int, storage: Any = None,
                 study_name: str | None = None, load_if_exists: bool = False) -> Any:
    """A seeded TPE study (multivariate, grouped for conditional spaces, constant liar for
    parallel trials) with median pruning over folds."""
    import optuna

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        sampler = optuna.samplers.TPESampler(seed=seed, multivariate=True, group=True,
                                             constant_liar=True, n_startup_trials=8,
                                             )
    pruner = optuna.pruners.MedianPruner(n_startup_trials=4, n_warmup_steps=1)
    if isinstance(storage, str) and storage.startswith("sqlite"):
        # trials finish on several threads: wait for SQLite's lock instead of failing
        storage = optuna.storages.RDBStorage(
            storage, engine_kwargs={"connect_args": {"timeout": 60}})
    return optuna.create_study(direction=direction, sampler=sampler, pruner=pruner,
                               storage=storage, study_name=study_name,
                               load_if_exists=load_if_exists)


def ranked_trials(study: Any) -> list[Any]:
    """The study's complete trials, best first (ties in trial order, as
    ``study.best_trial``): the order the refit takes them in (``_refit.refit_best``), which
    the search's refit reserve mirrors."""
    from optuna.trial import TrialState

    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    return sorted(complete, key=lambda t: t.value,
                  reverse=study.direction.name == "MAXIMIZE")  # stable, reversed too


def expected_refit_seconds(fit_seconds: float, scale: float, *,
                           boosting: bool = False) -> float:
    """The fit on all rows from one fold's fit: ``scale`` times the rows, and a margin, as
    fits grow faster than the rows (trees deepen, sorts are n log n) and the machine may be
    busy. On a 1M-row table a random forest took 2x the linear estimate. ``boosting``: the
    refit runs the iterations early stopping chose in the search (``n_iter_``, see
    _refit.refit_program), so the cost is rows x iterations, and an iteration also has a
    part that does not grow with the rows (split finding over the bins): 1,000 iterations
    took 17.5 s on 100k rows and 95 s on 1M (5.4x for 10x the rows; 10.5x on a busier
    machine), so a little under linear, with a margin. A blend of boosting and a forest
    takes the forest's formula (pass ``boosting=False``): with boosting's, its estimate was
    0.88-1.07x the refit on diamonds, no margin left."""
    if boosting:
        return 1.2 * fit_seconds * max(scale, 1.0) ** 0.9
    return 1.5 * fit_seconds * max(scale, 1.0) ** 1.15


def enqueue_defaults(study: Any, accepted: dict[str, list[Candidate]], limit: int = 3) -> int:
    """Enqueue the catalog's best-first combinations with their default hyperparameters,
    so a strong, valid pipeline exists from the first trials on. First goes the quickest
    combination (every slot's quickest-tested candidate): a usable best is on the
    dashboard within seconds while the stronger ones run on the other workers."""
    first = {slot: cands[0] for slot, cands in accepted.items()}
    combos = [quickest_combination(accepted)]
    combos += [{**first, "model": model} for model in accepted.get("model", [])[:limit]]
    seen: set[tuple[str, ...]] = set()
    for combo in combos:
        names = tuple(c.name for c in combo.values())
        if combo and names not in seen:
            seen.add(names)
            study.enqueue_trial(default_params(combo), skip_if_exists=True)
    return len(seen)


def quickest_combination(accepted: dict[str, list[Candidate]]) -> dict[str, Candidate]:
    """The quickest model by its contract test's time, and for the other slots their
    first (best-first) candidate unless another tested at least 2x quicker: test times
    are a noisy proxy (one small sample, a shared machine; the workers' first-use costs
    are paid before the tests, testing.warm_up), so only large gaps count."""
    def seconds(candidate: Candidate) -> float:
        return math.inf if candidate.test_seconds is None else candidate.test_seconds

    chosen = {}
    for slot, cands in accepted.items():
        if cands:
            quickest = min(cands, key=seconds)
            clearly = slot == "model" or 2 * seconds(quickest) <= seconds(cands[0])
            chosen[slot] = quickest if clearly else cands[0]
    return chosen


def quickest_defaults(accepted: dict[str, list[Candidate]]) -> dict[str, Any]:
    """Trial params of the combination most likely to be refitted in time when no trial
    finished: the first candidate of each slot, with the quickest-tested model."""
    chosen = {slot: cands[0] for slot, cands in accepted.items()}
    if accepted.get("model"):
        chosen["model"] = quickest_combination(accepted)["model"]
    return default_params(chosen)


def default_params(chosen: dict[str, Candidate]) -> dict[str, Any]:
    """Trial params for one candidate per slot, each with its default hyperparameters."""
    params: dict[str, Any] = {slot: c.name for slot, c in chosen.items()}
    for candidate in chosen.values():
        params.update({candidate.param_prefix() + k: v for k, v in candidate.defaults.items()})
    return params


def local_params(candidate: Candidate, params: dict[str, Any]) -> dict[str, Any]:
    """The candidate's own hyperparameters from a trial's params, without the prefix."""
    prefix = candidate.param_prefix()
    return {k[len(prefix):]: v for k, v in params.items() if k.startswith(prefix)}


class Search:
    """Drives the study: one thread per worker, ask -> evaluate in a worker -> tell."""

    def __init__(self, study: Any, pool: WorkerPool, accepted: dict[str, list[Candidate]], *,
                 job: dict[str, Any], budget: Budget, refit_scale: float,
                 on_trial: Callable[[Any], None] = lambda t: None,
                 stop: threading.Event | None = None, predictions: Any = None,
                 shared: bool = False, load_seconds: float = 0.0) -> None:
        self.study = study
        # importing what loading the fitted pipeline needs, when the caller waits to do it
        # until after the refit (engine.search_and_finish): part of the refit's reserve
        self.load_seconds = load_seconds
        self.predictions = predictions  # _prediction_store.PredictionStore: validation predictions
        # other processes add trials to this study (distributed.py): its best can change
        # between this process's own trials
        self.shared = shared
        self._reserve_read_at = 0.0
        self.pool = pool
        self.accepted = accepted
        self.job = job
        self.budget = budget
        self.refit_scale = refit_scale  # full-data fit time / one fold's fit time
        self.on_trial = on_trial
        self.stop_event = stop or threading.Event()
        self.completed = 0
        self._durations: list[float] = []
        self.errors: list[str] = []  # unexpected errors of search threads, for the notes
        # per candidate key: trials that crashed or timed out / completed (see _excluded)
        self._crashes: dict[str, int] = {}
        self._successes: dict[str, int] = {}
        self.excluded: dict[str, str] = {}  # candidate key -> why it is no longer tried
        self._lock = threading.Lock()
        self._storage_lock = threading.Lock()

    # -- the loop ------------------------------------------------------------------
    def run(self) -> None:
        """Run trials until the search deadline or a stop; Ctrl-C stops cleanly."""
        threads = [threading.Thread(target=self._loop, name=f"text2ml-search-{i}", daemon=True)
                   for i in range(self.pool.n_workers)]
        for thread in threads:
            thread.start()
        try:
            for thread in threads:
                while thread.is_alive():
                    thread.join(timeout=0.2)
        except KeyboardInterrupt:
            self.stop_event.set()
            for thread in threads:
                thread.join()

    def _loop(self) -> None:
        try:
            while not self.stop_event.is_set() and self._time_for_another_trial():
                self._one_trial()
        except Exception as exc:  # noqa: BLE001 - a broken thread must not hang the run
            self.errors.append(f"{type(exc).__name__}: {exc}")

    def _one_trial(self) -> None:
        from optuna.trial import TrialState

        # ask/tell under one lock: two threads must never pop the same enqueued trial
        with self._storage_lock:
            trial = self.study.ask()
        state, value = self._evaluate(trial)
        with self._storage_lock:
            if state == TrialState.COMPLETE:
                frozen = self.study.tell(trial, value)
            else:
                frozen = self.study.tell(trial, state=state)
        with self._lock:
            if state == TrialState.COMPLETE:
                self.completed += 1
                self._update_reserve()
            if "finished" in frozen.user_attrs and state != TrialState.FAIL:
                self._durations.append(frozen.user_attrs["finished"]
                                       - frozen.user_attrs["started"])
        self.on_trial(frozen)

    def _time_for_another_trial(self) -> bool:
        """Start a trial only if a typical one can finish before the search deadline: one
        cut short is wasted work, and its worker must be replaced."""
        self._refresh_reserve()
        remaining = self.budget.search_end() - time.monotonic()
        with self._lock:
            typical = sorted(self._durations)[len(self._durations) // 2] if self._durations \
                else 0.0
        return remaining > 0.5 * typical and remaining > 0

    def _evaluate(self, trial: Any) -> tuple[Any, float | None]:
        from optuna.trial import TrialState

        chain = []
        for slot in SLOTS:
            names = [c.name for c in self.accepted[slot.name]]
            name = trial.suggest_categorical(slot.name, names)
            candidate = self.accepted[slot.name][names.index(name)]
            chain.append((slot.name, name, candidate.source, candidate.defaults))
        keys = [f"{slot}.{name}" for slot, name, _, _ in chain]
        chain = self._leaner(trial, chain)
        skipped = [key for key in keys if key in self.excluded]
        if skipped:  # failed fast: TPE learns to leave it, and no worker is spent
            trial.set_user_attr("error", f"{skipped[0]} is excluded: "
                                         f"{self.excluded[skipped[0]]}")
            return TrialState.FAIL, None
        trial.set_user_attr("started", round(self.budget.elapsed(), 3))
        limit = self._trial_limit()  # as it was when the trial started (it grows later)
        try:
            out = self.pool.call(_EVALUATE, {**self.job, "chain": chain},
                                 deadline=self.budget.end, time_limit=limit,
                                 on_ask=lambda question: self._answer(trial, question),
                                 should_stop=self._should_kill)
        except CandidateError as exc:
            trial.set_user_attr("error", str(exc))
            return TrialState.FAIL, None
        except WorkerFailure as exc:
            reason = "stopped at the end of the budget" if exc.kind == "stopped" \
                else f"exceeded the trial time limit ({limit:.0f} s)" \
                if exc.kind == "timeout" else str(exc)
            trial.set_user_attr("error", reason)
            if exc.kind != "stopped":
                self._count_crash(keys, reason)
            return TrialState.FAIL, None
        with self._lock:
            for key in keys:
                self._successes[key] = self._successes.get(key, 0) + 1
        trial.set_user_attr("finished", round(self.budget.elapsed(), 3))
        if out.get("pruned"):
            return TrialState.PRUNED, None
        trial.set_user_attr("fit_seconds", out["fit_seconds"])
        trial.set_user_attr("fold_scores", out["fold_scores"])
        if out.get("n_iter"):  # early-stopped boosting: the refit runs this many iterations
            trial.set_user_attr("n_iter", out["n_iter"])
        if out.get("boosting_with_trees"):  # ... and a forest beside it (a blend)
            trial.set_user_attr("boosting_with_trees", True)
        if self.predictions is not None:  # kept here, not in the journal (_prediction_store.py)
            self.predictions.add(trial.number, out["score"], trial.params,
                                 out.get("predictions"))
        return TrialState.COMPLETE, out["score"]

    def _leaner(self, trial: Any, chain: list[tuple[str, str, str, dict[str, Any]]]
                ) -> list[tuple[str, str, str, dict[str, Any]]]:
        """The chain a worker fits: a rescaling before a tree becomes ``numbers_as_is`` where
        _lean.py says so (the same fit, or LightGBM, which bins the numbers itself), so a
        trial spends no time or memory on copies of the table, and its score is that of the
        pipeline the refit would fit. The trial keeps the params TPE chose."""
        from ._lean import without_scaling

        chosen = {slot: name for slot, name, _, _ in chain}
        lean, _ = without_scaling(chosen, self.accepted)
        if lean["preprocess"] == chosen["preprocess"]:
            return chain
        as_is = next(c for c in self.accepted["preprocess"] if c.name == lean["preprocess"])
        trial.set_user_attr("fitted_as", {"preprocess": as_is.name})
        return [("preprocess", as_is.name, as_is.source, as_is.defaults), *chain[1:]]

    def _trial_limit(self) -> float:
        """Seconds one trial may run: generous (a slower model is not a broken one), but a
        hung candidate must not hold a worker for the whole budget."""
        with self._lock:
            slowest = max(self._durations, default=0.0)
        return max(20.0, 0.25 * self.budget.seconds, 10.0 * slowest)

    def _count_crash(self, keys: list[str], reason: str) -> None:
        """A candidate in two crashed or timed-out trials and in no completed one is
        excluded from the search (unless it is the last of its slot): it is the likely
        culprit, and each crash costs a worker restart."""
        with self._lock:
            for key in keys:
                self._crashes[key] = self._crashes.get(key, 0) + 1
            for key in keys:
                slot = key.split(".")[0]
                others = [c for c in self.accepted[slot]
                          if c.key != key and c.key not in self.excluded]
                if self._crashes[key] >= 2 and not self._successes.get(key) and others:
                    self.excluded[key] = f"it crashed or timed out in trials ({reason})"
                    candidate = next(c for c in self.accepted[slot] if c.key == key)
                    candidate.status = FAILED
                    candidate.reason = f"failed in the search: {self.excluded[key]}"

    def _answer(self, trial: Any, question: Any) -> Any:
        kind = question[0]
        if kind == "suggest":
            _, method, name, args, kwargs = question
            if method not in _SUGGEST_METHODS:
                raise CandidateError(f"trial.{method} is not supported; use {_SUGGEST_METHODS}")
            return getattr(trial, method)(name, *args, **kwargs)
        if kind == "report":
            _, value, step = question
            trial.report(value, step)
            return trial.should_prune()
        raise CandidateError(f"unknown request {kind!r}")

    def _should_kill(self) -> bool:
        """Stop a running trial when asked to, or past the search deadline once some trial
        has completed (before that, the first result is worth nearly the whole budget: it
        is stopped only in time to refit the quickest default pipeline)."""
        if self.stop_event.is_set():
            return True
        self._refresh_reserve()
        limit = self.budget.search_end() if self.completed \
            else self.budget.end - max(1.0, 0.1 * self.budget.seconds)
        return time.monotonic() > limit

    def _update_reserve(self) -> None:
        """Keep enough time for refitting the best pipeline on all rows; with an ensemble
        possible, also for the best trial of each other model (its members come from
        those), up to a share of the budget (ensemble.RESERVE_SHARE). The reserve is at
        most half the budget. A best trial whose refit needs more can never be refitted,
        so the reserve is kept for the trial the refit takes instead (``_refit``: the
        best of the ten best whose refit fits), and the search goes on meanwhile."""
        try:
            best = self.study.best_trial
        except ValueError:
            return
        # the fit on all rows, building the program and shipping (and perhaps importing what
        # loads) the fitted pipeline, and starting a worker if the search had to stop them all
        overhead = 0.5 + self.pool.start_seconds + self.load_seconds
        cap = 0.5 * self.budget.seconds
        ranked = None  # read from the study only when needed (a shared one: a query)
        if self._refit_seconds(best) + overhead > cap:
            ranked = ranked_trials(self.study)
            best = next((t for t in ranked[:REFIT_CHOICES]
                         if self._refit_seconds(t) + overhead <= cap), best)
        expected = self._refit_seconds(best)
        if self.predictions is not None:
            from .ensemble import RESERVE_SHARE

            if ranked is None:
                ranked = ranked_trials(self.study)
            per_model: dict[Any, Any] = {}
            for trial in ranked:
                per_model.setdefault(trial.params.get("model"), trial)
            others = sum(self._refit_seconds(t) for model, t in per_model.items()
                         if model != best.params.get("model"))
            expected += min(others, RESERVE_SHARE * self.budget.seconds)
        self.budget.reserve = min(max(2.0, expected + overhead), cap)

    def _refresh_reserve(self) -> None:
        """In a shared study, another process's trial can become the best while this
        process's trials run: re-read the study now and then, so that the search ends in
        time to refit that trial too (else the refit would fall back to a lesser one)."""
        if not self.shared:
            return
        now = time.monotonic()
        with self._lock:
            if now - self._reserve_read_at < _RESERVE_REREAD_SECONDS:
                return
            self._reserve_read_at = now
            self._update_reserve()

    def _refit_seconds(self, trial: Any) -> float:
        """A trial's expected fit on all rows (from its fold fits), as the refit reckons it."""
        from ._refit import expected_refit  # _refit imports this module

        return expected_refit(trial, self.refit_scale)


# ---------------------------------------------------------------- worker's side

def evaluate_trial(context: Any, *, data_path: str, spec: dict[str, Any],
                   chain: list[tuple[str, str, str, dict[str, Any]]],
                   evaluation: dict[str, Any], keep_predictions: bool = False,
                   **_job: Any) -> dict[str, Any]:
    """Score one combination fold by fold, as ``cross_val_score`` would; report the running
    mean after each fold and stop early when the caller says prune."""
    from ._building import RemoteTrial, build_parts, load_training_data
    from .evaluation import Evaluation
    from .spec import TaskSpec

    task = TaskSpec.from_dict(spec)
    protocol = Evaluation(**evaluation)
    # the protocol's rows: the data as shipped, or its seeded sample (a worker given all
    # rows, e.g. on another machine, samples them exactly as the shipped sample was made)
    X, y = context.memo(("sample", data_path, protocol.sample_rows),
                        lambda: protocol.sample(*load_training_data(context, data_path, task)))
    parts = build_parts(chain, lambda s, n, d: RemoteTrial(context.ask, f"{s}.{n}."),
                        task.columns_by_role())
    splits = list(protocol.splitter().split(X, y))
    try:
        return score_folds(parts["postprocess"], X, y, splits, task,
                           lambda running, fold: context.ask(("report", running, fold)),
                           predictions=keep_predictions)
    finally:
        del parts
        release_memory()


def release_memory() -> None:
    """Give the memory a finished trial freed back to the system. glibc keeps freed heap
    pages (a forest's nodes, a fold's arrays) for reuse, so without this a worker's
    footprint only grows over the trials: 50-95 MB more per worker after a few trials on
    the 125,000-row sample, none of it in use."""
    import gc

    gc.collect()
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@functools.cache
def _malloc_trim() -> Any:
    """glibc's ``malloc_trim`` (None elsewhere: other allocators, other systems)."""
    import ctypes

    try:
        return ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return None


def score_folds(estimator: Any, X: Any, y: Any, splits: list[Any], task: Any,
                should_prune: Callable[[float, int], bool], *,
                predictions: bool = False) -> dict[str, Any]:
    """Fit and score a clone per fold, as ``cross_val_score`` would; after every fold but
    the last, ``should_prune(running mean, fold)`` may stop it (``{"pruned": True}``).
    With ``predictions``, the result also holds each fold's validation predictions and
    row positions (``"predictions"``, packed small: _prediction_store.py).
    Also what benchmarks/overhead.py's plain Optuna loop scores with."""
    import numpy as np
    from sklearn.base import clone

    from ._predicted import Predicted, pretransformed
    from ._prediction_store import fold_outputs, pack_predictions
    from .metrics import REGRESSION, get_metric

    metric = get_metric(task.metric)
    scorer = metric.scorer(task.task_type, task.pos_label)
    raw: list[float] = []
    kept: list[Any] = []  # with predictions: each fold's (positions, outputs, classes)
    fit_seconds: list[float] = []
    iterations: list[int] = []
    for fold, (train, valid) in enumerate(splits):
        started = time.monotonic()
        fitted = clone(estimator).fit(X.iloc[train], y.iloc[train])
        fit_seconds.append(time.monotonic() - started)
        iterations += boosting_iterations(fitted)
        X_valid, scored = X.iloc[valid], fitted
        if predictions:  # one pass through the pipeline serves both (_predicted.py)
            scored = Predicted(fitted.predict(X_valid)) if task.task_type == REGRESSION \
                else pretransformed(fitted, X_valid)
            kept.append(fold_outputs(scored, X_valid, valid, task.task_type))
        value = float(scorer(scored, X_valid, y.iloc[valid]))
        if not math.isfinite(value):
            raise CandidateError(f"the score on fold {fold + 1} is {value} "
                                 "(NaN or infinite predictions?)")
        raw.append(value)
        running = metric.from_scorer(task.task_type, float(np.mean(raw)))
        if fold < len(splits) - 1 and should_prune(running, fold):
            return {"pruned": True, "step": fold}
    out = {"score": metric.from_scorer(task.task_type, float(np.mean(raw))),
           "fold_scores": [metric.from_scorer(task.task_type, v) for v in raw],
           "fit_seconds": round(float(np.mean(fit_seconds)), 4)}
    if iterations:
        out["n_iter"] = max(iterations)
        if holds_trees(fitted):  # a blend: its forest grows faster with the rows
            out["boosting_with_trees"] = True
    if predictions:
        out["predictions"] = pack_predictions(kept)
    return out


def boosting_iterations(fitted: Any, depth: int = 0) -> list[int]:
    """``n_iter_`` of every early-stopped gradient boosting model inside a fitted estimator
    (pipelines, wrappers, ensembles): the refit on all rows runs that many iterations
    without holding rows out (_refit.refit_program)."""
    if depth > 6:
        return []
    if getattr(fitted, "do_early_stopping_", False) and hasattr(fitted, "n_iter_"):
        return [int(fitted.n_iter_)]
    return [n for child in _parts(fitted) for n in boosting_iterations(child, depth + 1)]


def holds_trees(fitted: Any, depth: int = 0) -> bool:
    """Whether a fitted estimator holds fitted decision trees outside its early-stopped
    gradient boosting: a blend's forest. Its refit then grows with the rows as a forest's
    does, faster than the boosting's iterations (``expected_refit_seconds``). Deeper than
    ``boosting_iterations`` looks: a forest's trees sit below its ensemble's list."""
    if depth > 10 or getattr(fitted, "do_early_stopping_", False):
        return False
    if hasattr(fitted, "tree_") and hasattr(fitted, "get_params"):
        return True
    return any(holds_trees(child, depth + 1) for child in _parts(fitted))


def _parts(fitted: Any) -> Any:
    """What an estimator, list or dict holds, to look through for fitted models; nothing
    for anything else (arrays, numbers, strings)."""
    if isinstance(fitted, (list, tuple)):
        return fitted
    if isinstance(fitted, dict):
        return fitted.values()
    if hasattr(fitted, "get_params") and hasattr(fitted, "__dict__"):
        return vars(fitted).values()
    return ()
