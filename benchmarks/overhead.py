"""Trials per second of text2ml's search against a plain in-process Optuna loop that
evaluates the same pipelines, and where text2ml's per-trial overhead goes.

    .venv/bin/python benchmarks/overhead.py [--tasks titanic adult] [--trials 40]
                                            [--rounds 3] [--max-rows 5000]

Protocol, per task:

1. prepare (one fresh process): the task's CSV (subsampled to --max-rows, stratified, seed
   0, if larger), the engine's own reading of the task (``understand``), validation
   protocol (``choose_evaluation``) and accepted candidates (``generate_and_test`` with the
   offline provider, k=4, in a 2-worker pool, as ``engine.run`` does), then a fixed
   sequence of N trial parameter sets: the engine's ``enqueue_defaults`` combinations
   followed by draws of a seeded ``RandomSampler`` over the same define-by-run space.
2. variants (each in a fresh process, interleaved round by round: plain, text2ml-1w,
   text2ml-2w, ..., plain, text2ml-1w, ...). Every variant enqueues the same N parameter
   sets into a study made by ``search.create_study`` (same TPE sampler and median pruner),
   warms up (data loaded and every candidate's source run once, in each worker or in the
   process), then times the N trials only:

   - ``plain``: in-memory study, ``study.optimize(objective, n_trials=N)``; the objective
     picks the candidates, builds the chain with ``_building.build_parts`` and
     cross-validates fold by fold exactly as ``search.evaluate_trial`` (report the running
     mean after every fold but the last, prune when ``should_prune``).
   - ``text2ml-1w`` / ``text2ml-2w``: what ``engine.run`` does: a journal file storage in a
     run folder, a warmed ``WorkerPool`` and ``search.Search`` with the engine's
     ``trial_event`` as its per-trial callback. Search normally runs to a deadline; here a
     subclass starts exactly N trials and lets the threads finish them, so no trial is
     killed and the wall time is the time of the N trials (with 2 workers: until the last
     one ends).
   - ``text2ml-1w-memory``: text2ml-1w with an in-memory study (the journal's share).
   - ``plain+hook``: plain with the workers' audit hook (``_guard.install``) in the
     process (the hook's share).

   Worker start-up (pool start, imports, data load, candidate imports) is timed apart.
3. profile (one fresh process, text2ml-1w, instrumented): per trial, the caller's time in
   ``study.ask`` / ``tell`` / ``set_user_attr`` / answering the worker's suggest and report
   questions / the trial event, the journal's appends (each an fsync) and reads, the
   worker's time computing and waiting for answers (``_overhead_probe.timed_evaluate``),
   the IPC latency, and the audit events a trial raises; then a cProfile of the caller.

Writes benchmarks/results/overhead-<time>.json and prints the tables. Targets: text2ml-1w
at least 0.9 x plain's trials per second; 2 workers faster than 1.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import _perf_common as pc

VARIANTS = ("plain", "text2ml-1w", "text2ml-2w", "text2ml-1w-memory", "plain+hook")
PROFILE_TOP = 25
# Search uses it only to size the time kept for the final refit, which a search of a fixed
# number of trials (far from its deadline) never reaches.
REFIT_SCALE = 1.0


# =============================================================== shared by both sides

def load_prep(path: str) -> dict[str, Any]:
    import pickle

    from text2ml_jupyter.candidates import Candidate

    with open(path, "rb") as fh:
        prep = pickle.load(fh)
    prep["accepted"] = {slot: [Candidate.from_dict(c) for c in cands]
                        for slot, cands in prep["accepted"].items()}
    return prep


def choose_chain(trial: Any, accepted: dict[str, list[Any]]) -> list[tuple]:
    """One candidate per slot through the trial, exactly as ``Search._evaluate``."""
    from text2ml_jupyter.slots import SLOTS

    chain = []
    for slot in SLOTS:
        names = [c.name for c in accepted[slot.name]]
        name = trial.suggest_categorical(slot.name, names)
        candidate = accepted[slot.name][names.index(name)]
        chain.append((slot.name, name, candidate.source, candidate.defaults))
    return chain


class DirectTrial:
    """``_building.RemoteTrial``'s parameter names (``slot.name.param``), answered by the
    Optuna trial in this process instead of across a socket."""

    def __init__(self, trial: Any, prefix: str) -> None:
        self._trial = trial
        self._prefix = prefix

    def suggest_float(self, name: str, *args: Any, **kwargs: Any) -> float:
        return self._trial.suggest_float(self._prefix + name, *args, **kwargs)

    def suggest_int(self, name: str, *args: Any, **kwargs: Any) -> int:
        return self._trial.suggest_int(self._prefix + name, *args, **kwargs)

    def suggest_categorical(self, name: str, *args: Any, **kwargs: Any) -> Any:
        return self._trial.suggest_categorical(self._prefix + name, *args, **kwargs)


def all_chains(accepted: dict[str, list[Any]]) -> list[tuple]:
    return [(c.slot, c.name, c.source, c.defaults) for cands in accepted.values()
            for c in cands]


# =============================================================== child: prepare

def prepare(task_name: str, max_rows: int, n_trials: int, work: Path) -> dict[str, Any]:
    """Candidates, protocol and the fixed parameter sequence for one task (pickled)."""
    import pickle

    from sklearn.model_selection import train_test_split

    from _common import load_frame, load_tasks
    from text2ml_jupyter import events as ev
    from text2ml_jupyter.engine import _default_memory, _target_stats
    from text2ml_jupyter.evaluation import choose_evaluation
    from text2ml_jupyter.generation import generate_and_test
    from text2ml_jupyter.providers import GenerationContext
    from text2ml_jupyter.providers.offline import OfflineProvider
    from text2ml_jupyter.sandbox import Limits, WorkerPool
    from text2ml_jupyter.search import Budget
    from text2ml_jupyter.spec import training_data
    from text2ml_jupyter.understand import understand

    started = time.monotonic()
    task = next(t for t in load_tasks() if t["name"] == task_name)
    frame = load_frame(task)
    full_rows = len(frame)
    if len(frame) > max_rows:
        stratify = frame[task["target"]] if task["type"] != "regression" else None
        frame, _ = train_test_split(frame, train_size=max_rows, random_state=0,
                                    stratify=stratify)
        frame = frame.reset_index(drop=True)
    spec = understand(task["task"], frame, proposal=None, target=None, metric=None,
                      task_type=None, pos_label=None, roles=None)
    X, y = training_data(spec, frame)
    evaluation = choose_evaluation(y, classification=spec.is_classification, seed=0)
    data_path = (work / f"{task_name}.pkl").resolve()
    frame.to_pickle(data_path)
    job = {"data_path": str(data_path), "spec": spec.to_dict()}
    context = GenerationContext(spec=spec, n_rows=len(X), n_features=X.shape[1], seed=0,
                                k=4, extra=_target_stats(spec, y))
    scratch = work / f"prep-{task_name}"
    with WorkerPool(2, scratch, Limits(_default_memory(2))) as pool:
        accepted, every = generate_and_test(
            OfflineProvider(), pool, context, job=job, budget=Budget(900.0),
            emit=ev.Emitter(None), stop=threading.Event(), notes=[])
    params = param_sequence(spec, accepted, n_trials)
    prep = {"task": task_name, "rows": len(frame), "full_rows": full_rows,
            "spec": spec.to_dict(), "direction": spec.direction,
            "evaluation": evaluation.to_dict(), "evaluation_text": evaluation.describe(),
            "job": job, "params": params,
            "accepted": {s: [c.to_dict() for c in cs] for s, cs in accepted.items()},
            "failed": [c.key for c in every if c.status != "passed"]}
    path = work / f"{task_name}-prep.pkl"
    with open(path, "wb") as fh:
        pickle.dump(prep, fh)
    return {"prep_file": str(path), "rows": len(frame), "full_rows": full_rows,
            "evaluation": evaluation.describe(),
            "candidates": {s: [c.name for c in cs] for s, cs in accepted.items()},
            "failed": prep["failed"], "n_params": len(params),
            "prep_seconds": round(time.monotonic() - started, 2)}


def param_sequence(spec: Any, accepted: dict[str, list[Any]], n_trials: int) -> list[dict]:
    """The engine's default combinations first, then seeded random draws over the same
    define-by-run space (chosen candidates, then their hyperparameters)."""
    import optuna

    from text2ml_jupyter._building import build_parts
    from text2ml_jupyter.search import enqueue_defaults

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction=spec.direction,
                                sampler=optuna.samplers.RandomSampler(seed=0))
    enqueue_defaults(study, accepted)
    params = []
    for _ in range(n_trials):
        trial = study.ask()
        chain = choose_chain(trial, accepted)
        build_parts(chain, lambda s, n, d, t=trial: DirectTrial(t, f"{s}.{n}."),
                    spec.columns_by_role())  # only the suggest calls matter here
        study.tell(trial, 0.0)
        params.append(dict(trial.params))
    return params


# =============================================================== child: the variants

def new_study(prep: dict[str, Any], storage: Any, name: str | None) -> Any:
    import optuna

    from text2ml_jupyter.search import create_study

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = create_study(direction=prep["direction"], seed=0, storage=storage,
                         study_name=name)
    for params in prep["params"]:
        study.enqueue_trial(params)
    return study


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds of other processes so far (from /proc; Linux)."""
    import os

    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime (clock ticks)
        except (OSError, IndexError, ValueError):
            pass
    return total / os.sysconf("SC_CLK_TCK")


def worker_pids(pool: Any) -> list[int]:
    return [w.process.pid for w in pool._workers if w is not None]


def trial_rows(study: Any, finish_times: dict[int, float]) -> list[list[Any]]:
    """[number, state, value, seconds from the start of the timed loop to its end]."""
    return [[t.number, t.state.name, t.value, finish_times.get(t.number)]
            for t in sorted(study.trials, key=lambda t: t.number)]


def run_plain(prep: dict[str, Any], hook: bool, work: Path) -> dict[str, Any]:
    """The in-process loop: the same candidates, parameters, folds and pruning."""
    import pandas as pd

    from text2ml_jupyter._building import exec_candidate
    from text2ml_jupyter.evaluation import Evaluation
    from text2ml_jupyter.spec import TaskSpec, training_data

    started = time.monotonic()
    spec = TaskSpec.from_dict(prep["spec"])
    X, y = training_data(spec, pd.read_pickle(prep["job"]["data_path"]))
    protocol = Evaluation(**prep["evaluation"])
    if hasattr(protocol, "sample"):  # large data: trials score a seeded sample of the rows
        X, y = protocol.sample(X, y)
    for slot, name, source, _ in all_chains(prep["accepted"]):
        exec_candidate(slot, name, source)  # the candidates' imports, as in the workers
    objective = make_objective(prep, spec, X, y)
    study = new_study(prep, None, None)
    start_seconds = time.monotonic() - started
    if hook:
        from text2ml_jupyter import _guard

        scratch = work / "plain-hook-scratch"
        scratch.mkdir(exist_ok=True)
        _guard.install(scratch)
    finish: dict[int, float] = {}
    cpu0 = time.process_time()
    t0 = time.monotonic()
    study.optimize(objective, n_trials=len(prep["params"]),
                   callbacks=[lambda s, t: finish.__setitem__(t.number,
                                                               time.monotonic() - t0)])
    wall = time.monotonic() - t0
    return {"wall": wall, "cpu": time.process_time() - cpu0, "start_seconds": start_seconds,
            "trials": trial_rows(study, finish)}


def make_objective(prep: dict[str, Any], spec: Any, X: Any, y: Any) -> Any:
    """``search.evaluate_trial`` with the Optuna trial in this process: the same chain
    building and the same fold loop (``search.score_folds``), no worker, no journal."""
    import optuna

    from text2ml_jupyter._building import build_parts
    from text2ml_jupyter.evaluation import Evaluation
    from text2ml_jupyter.search import score_folds

    accepted, columns = prep["accepted"], spec.columns_by_role()

    def objective(trial: Any) -> float:
        chain = choose_chain(trial, accepted)
        parts = build_parts(chain, lambda s, n, d: DirectTrial(trial, f"{s}.{n}."), columns)
        splits = list(Evaluation(**prep["evaluation"]).splitter().split(X, y))

        def should_prune(running: float, fold: int) -> bool:
            trial.report(running, fold)
            return trial.should_prune()

        out = score_folds(parts["postprocess"], X, y, splits, spec, should_prune)
        if out.get("pruned"):
            raise optuna.TrialPruned()
        return out["score"]

    return objective


def fixed_count_search(n_trials: int) -> type:
    """A ``Search`` that starts exactly ``n_trials`` trials, then lets its threads finish
    the ones running (nothing is killed); everything else is the engine's Search."""
    from text2ml_jupyter.search import Search

    class FixedCountSearch(Search):
        started_trials = 0

        def _time_for_another_trial(self) -> bool:
            with self._lock:
                if self.started_trials >= n_trials:
                    return False
                self.started_trials += 1
                return True

    return FixedCountSearch


def start_text2ml(prep: dict[str, Any], n_workers: int, journal: bool,
                  work: Path) -> tuple[Any, Any, Any, float]:
    """Run folder, study, pool started and warmed (imports, data, candidates' imports):
    (folder, study, pool, seconds it took)."""
    from text2ml_jupyter._runfolder import RunFolder, new_run_id
    from text2ml_jupyter.candidates import PASSED
    from text2ml_jupyter.engine import _default_memory
    from text2ml_jupyter.sandbox import Limits, WorkerPool

    started = time.monotonic()
    folder = RunFolder.create(work / "runs", new_run_id())
    study = new_study(prep, folder.storage() if journal else None, folder.run_id)
    # what the engine stores in the study before its search
    study.set_user_attr("spec", prep["spec"])
    study.set_user_attr("evaluation", prep["evaluation"])
    study.set_user_attr("candidates", [c.to_dict() for cs in prep["accepted"].values()
                                       for c in cs if c.status == PASSED])
    pool = WorkerPool(n_workers, folder.scratch, Limits(_default_memory(n_workers)))
    pool.warm()
    kwargs = {"data_path": prep["job"]["data_path"], "spec": prep["spec"],
              "chains": all_chains(prep["accepted"])}
    threads = [threading.Thread(target=pool.call, args=("_overhead_probe:warm", kwargs),
                                kwargs={"deadline": time.monotonic() + 300})
               for _ in range(n_workers)]  # concurrent calls: one per worker
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return folder, study, pool, time.monotonic() - started


def run_text2ml(prep: dict[str, Any], n_workers: int, journal: bool,
                work: Path) -> dict[str, Any]:
    """The engine's search (Search + WorkerPool + journal + trial events) on the N trials."""
    from text2ml_jupyter import events as ev
    from text2ml_jupyter.engine import trial_event
    from text2ml_jupyter.search import Budget

    folder, study, pool, start_seconds = start_text2ml(prep, n_workers, journal, work)
    finish: dict[int, float] = {}
    try:
        budget = Budget(3600.0)
        emit = ev.Emitter(lambda event: finish.__setitem__(  # a listener, as a dashboard
            event.data["number"], time.monotonic() - t0))
        search = fixed_count_search(len(prep["params"]))(
            study, pool, prep["accepted"],
            job={**prep["job"], "evaluation": prep["evaluation"]}, budget=budget,
            refit_scale=REFIT_SCALE,
            on_trial=lambda t: trial_event(emit, study, t, budget))
        pids = worker_pids(pool)
        caller0, workers0 = time.process_time(), cpu_seconds(pids)
        t0 = time.monotonic()
        search.run()
        wall = time.monotonic() - t0
        caller_cpu = time.process_time() - caller0
        workers_cpu = cpu_seconds(pids) - workers0
    finally:
        pool.close()
    return {"wall": wall, "cpu": caller_cpu + workers_cpu, "caller_cpu": caller_cpu,
            "workers_cpu": workers_cpu, "start_seconds": start_seconds,
            "errors": search.errors,
            "replaced_workers": pool.replaced, "trials": trial_rows(study, finish)}


# =============================================================== child: the profile

class _Clock:
    """Per-trial seconds by category (1 worker: trials run one after another)."""

    def __init__(self) -> None:
        self.trials: list[dict[str, float]] = []
        self.current: dict[str, float] = {}

    def add(self, key: str, seconds: float, count: int = 1) -> None:
        self.current[key] = self.current.get(key, 0.0) + seconds
        self.current[key + "_n"] = self.current.get(key + "_n", 0) + count

    def timed(self, key: str, function: Any) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            started = time.monotonic()
            try:
                return function(*args, **kwargs)
            finally:
                self.add(key, time.monotonic() - started)
        return wrapper


def run_profile(prep: dict[str, Any], work: Path) -> dict[str, Any]:
    """text2ml-1w with every caller-side step and the worker's side timed, per trial."""
    from text2ml_jupyter import events as ev
    from text2ml_jupyter import search as search_module
    from text2ml_jupyter.engine import trial_event
    from text2ml_jupyter.search import Budget

    clock = _Clock()
    folder, study, pool, start_seconds = start_text2ml(prep, 1, True, work)
    instrument_storage(study, clock)
    instrument_study(study, clock)
    original_call = pool.call

    def call(target: str, kwargs: dict[str, Any], **options: Any) -> Any:
        sent = time.monotonic()
        out = original_call(target, kwargs, **options)
        clock.add("call", time.monotonic() - sent)
        if isinstance(out, dict) and "_probe" in out:
            probe = out.pop("_probe")
            clock.current.update(
                worker=probe["end"] - probe["start"], dispatch=probe["start"] - sent,
                suggest_wait=probe["suggest_s"], suggest_q=probe["suggest_n"],
                report_wait=probe["report_s"], report_q=probe["report_n"],
                audit_events=probe["audit_events"])
            clock.current.setdefault("top_events", probe["top_events"])  # type: ignore
        return out

    pool.call = call
    search_module._EVALUATE = "_overhead_probe:timed_evaluate"
    budget = Budget(3600.0)
    emit = ev.Emitter(lambda event: None)
    base = fixed_count_search(len(prep["params"]))

    class ProfiledSearch(base):  # type: ignore[misc, valid-type]
        def _answer(self, trial: Any, question: Any) -> Any:
            started = time.monotonic()
            try:
                return super()._answer(trial, question)
            finally:
                clock.add(f"answer_{question[0]}", time.monotonic() - started)

    def on_trial(trial: Any) -> None:
        started = time.monotonic()
        trial_event(emit, study, trial, budget)
        clock.add("trial_event", time.monotonic() - started)
        clock.current["end"] = time.monotonic()
        clock.current["number"] = trial.number
        clock.trials.append(clock.current)
        clock.current = {}

    search = ProfiledSearch(study, pool, prep["accepted"],
                            job={**prep["job"], "evaluation": prep["evaluation"]},
                            budget=budget,
                            refit_scale=REFIT_SCALE,
                            on_trial=on_trial)
    try:
        t0 = time.monotonic()
        search.run()
        wall = time.monotonic() - t0
        latency = ipc_latency(pool, prep)
    finally:
        pool.close()
    previous = t0
    for row in clock.trials:  # the trial's whole span: from the previous one's end
        row["span"], previous = row["end"] - previous, row["end"]
        del row["end"]
    return {"wall": wall, "start_seconds": start_seconds, "per_trial": clock.trials,
            "latency": latency, "hook_event_cost": hook_event_cost(work),
            "states": [t.state.name for t in study.trials]}


def instrument_study(study: Any, clock: _Clock) -> None:
    """Time ask, tell, and (through ask) each trial's set_user_attr and the slot choices."""
    ask, tell = study.ask, study.tell

    def timed_ask(*args: Any, **kwargs: Any) -> Any:
        started = time.monotonic()
        trial = ask(*args, **kwargs)
        clock.add("ask", time.monotonic() - started)
        trial.set_user_attr = clock.timed("user_attrs", trial.set_user_attr)
        trial.suggest_categorical = clock.timed("slot_choices", trial.suggest_categorical)
        return trial

    study.ask = timed_ask
    study.tell = clock.timed("tell", tell)


def instrument_storage(study: Any, clock: _Clock) -> None:
    """Time the journal's appends (lock, write, fsync) and reads, wherever they happen."""
    storage = study._storage  # the JournalStorage itself (Optuna wraps only RDB storages)
    backend = getattr(storage, "_backend", None)
    if backend is None:  # in-memory: nothing to time
        return
    backend.append_logs = clock.timed("journal_append", backend.append_logs)
    storage._sync_with_backend = clock.timed("journal_read", storage._sync_with_backend)


def ipc_latency(pool: Any, prep: dict[str, Any]) -> dict[str, Any]:
    """An ask/answer round trip, and a call carrying a trial's payload (chain sources)."""
    import pickle

    deadline = time.monotonic() + 120
    per_ask = pool.call("_overhead_probe:ping", {"n": 300}, deadline=deadline,
                        on_ask=lambda question: None)
    chain = all_chains(prep["accepted"])[:4]
    payload = {**prep["job"], "evaluation": prep["evaluation"], "chain": chain}
    calls = []
    for _ in range(30):
        sent = time.monotonic()
        pool.call("_overhead_probe:noop", payload, deadline=deadline)
        calls.append(time.monotonic() - sent)
    started = time.perf_counter()
    for _ in range(100):
        blob = pickle.dumps(("call", "text2ml_jupyter.search:evaluate_trial", payload))
    pickling = (time.perf_counter() - started) / 100
    return {"ask_round_trip_s": per_ask, "call_round_trip_s": pc.median(calls),
            "payload_bytes": len(blob), "payload_pickle_s": pickling}


def hook_event_cost(work: Path, calls: int = 50000) -> dict[str, float]:
    """CPU seconds per call of the guard's hook on common events (the hook of a fresh
    _Guard, called directly, not installed)."""
    from text2ml_jupyter import _guard

    guard = _guard._Guard(str(work))
    hook = guard.hook()  # the closure the worker installs (cb9d625)
    events = {"other": ("builtins.id", (1,)), "exec": ("exec", (compile("1", "x", "eval"),)),
              "open_read": ("open", ("/etc/hostname", "r", 0)),
              # checked against the calling frames (is it candidate code?)
              "getattr": ("object.__getattr__", (guard, "scratch"))}
    out = {}
    for label, (event, args) in events.items():
        started = time.thread_time()  # CPU time: the machine is shared
        for _ in range(calls):
            hook(event, args)
        out[label] = (time.thread_time() - started) / calls
    return out


def run_cprofile(prep: dict[str, Any], work: Path) -> dict[str, Any]:
    """cProfile of the caller's side of text2ml-1w (the search loop on the main thread)."""
    import cProfile
    import pstats

    from text2ml_jupyter import events as ev
    from text2ml_jupyter.engine import trial_event
    from text2ml_jupyter.search import Budget

    folder, study, pool, _ = start_text2ml(prep, 1, True, work)
    budget = Budget(3600.0)
    emit = ev.Emitter(lambda event: None)
    search = fixed_count_search(len(prep["params"]))(
        study, pool, prep["accepted"], job={**prep["job"], "evaluation": prep["evaluation"]},
        budget=budget, refit_scale=REFIT_SCALE,
        on_trial=lambda t: trial_event(emit, study, t, budget))
    profiler = cProfile.Profile()
    try:
        t0 = time.monotonic()
        profiler.runcall(search._loop)  # what each search thread runs; 1 worker: 1 thread
        wall = time.monotonic() - t0
    finally:
        pool.close()
    stats = pstats.Stats(profiler)
    rows = []
    for (filename, line, function), (_cc, nc, tt, ct, _) in stats.stats.items():
        rows.append({"function": f"{Path(filename).name}:{line}:{function}",
                     "calls": nc, "tottime": tt, "cumtime": ct})
    return {"wall": wall,
            "top_tottime": sorted(rows, key=lambda r: -r["tottime"])[:PROFILE_TOP],
            "top_cumtime": sorted(rows, key=lambda r: -r["cumtime"])[:PROFILE_TOP * 2]}


def child_main(args: argparse.Namespace) -> int:
    work = Path(args.work)
    # opened now: plain+hook installs the audit hook, which refuses opening files for
    # writing outside its scratch folder afterwards
    result_file = open(args.child_out, "w")  # noqa: SIM115
    if args.child == "prep":
        result = prepare(args.task, args.max_rows, args.trials, work)
    else:
        prep = load_prep(args.prep_file)
        out = Path(tempfile.mkdtemp(prefix=f"{args.child}-", dir=work))
        if args.child == "profile":
            result = run_profile(prep, out)
        elif args.child == "cprofile":
            result = run_cprofile(prep, out)
        elif args.variant in ("plain", "plain+hook"):
            result = run_plain(prep, args.variant == "plain+hook", out)
        else:
            workers = 2 if args.variant == "text2ml-2w" else 1
            result = run_text2ml(prep, workers, args.variant != "text2ml-1w-memory", out)
    with result_file:
        result_file.write(json.dumps({"status": "ok", **result}, default=str))
    return 0


# =============================================================== parent

def child(args: list[str], timeout: float = 1200) -> dict[str, Any]:
    return pc.run_child([str(Path(__file__).resolve()), *args], timeout=timeout,
                        env=pc.child_env(**pc.SINGLE_THREAD_ENV))


def measure_task(task: str, args: argparse.Namespace, work: Path, run: dict[str, Any],
                 save: Any) -> None:
    """Prepare one task, run the variants interleaved round by round, then the profile."""
    print(f"[{task}] preparing candidates and {args.trials} parameter sets ...", flush=True)
    prep = child(["--child", "prep", "--task", task, "--max-rows", str(args.max_rows),
                  "--trials", str(args.trials), "--work", str(work)])
    prep.update(kind="prep", task=task)
    run["measurements"].append(prep)
    save()
    if prep["status"] != "ok":
        print(f"  prep failed: {prep['status']}\n{prep.get('stderr_tail', '')}", flush=True)
        return
    print(f"  {prep['rows']} rows, {prep['evaluation']}, candidates {prep['candidates']}",
          flush=True)
    common = ["--prep-file", prep["prep_file"], "--work", str(work)]
    for round_ in range(args.rounds):
        for variant in args.variants:
            rec = child(["--child", "variant", "--variant", variant, *common])
            rec.update(kind="variant", task=task, variant=variant, round=round_)
            run["measurements"].append(rec)
            save()
            n = len(rec.get("trials", []))
            print(f"  round {round_ + 1} {variant:18s} {rec['status']}: "
                  f"{n} trials in {rec.get('wall', float('nan')):.2f} s "
                  f"({n / rec['wall'] if rec.get('wall') else float('nan'):.2f}/s), "
                  f"start {rec.get('start_seconds', float('nan')):.2f} s, "
                  f"load {rec['load_avg_1m'][0]:.2f}->{rec['load_avg_1m'][1]:.2f}",
                  flush=True)
    if args.profile:
        for kind in ("profile", "cprofile"):
            rec = child(["--child", kind, *common])
            rec.update(kind=kind, task=task)
            run["measurements"].append(rec)
            save()
            print(f"  {kind}: {rec['status']} ({rec.get('wall', float('nan')):.2f} s)",
                  flush=True)


def summarize(run: dict[str, Any], variants: list[str]) -> dict[str, Any]:
    """Per task: trials/s per variant (median over rounds), ratios paired within a round,
    whether every variant scored the same trials alike, worker start-up."""
    out: dict[str, Any] = {}
    tasks = [m["task"] for m in run["measurements"] if m.get("kind") == "prep"]
    for task in tasks:
        recs = [m for m in run["measurements"] if m.get("kind") == "variant"
                and m["task"] == task and m.get("status") == "ok"]
        by_round: dict[int, dict[str, dict]] = {}
        for r in recs:
            by_round.setdefault(r["round"], {})[r["variant"]] = r
        rate = {v: pc.median([len(r["trials"]) / r["wall"] for r in recs
                              if r["variant"] == v]) for v in variants}
        pairs = {"text2ml-1w / plain": ("text2ml-1w", "plain"),
                 "text2ml-2w / text2ml-1w": ("text2ml-2w", "text2ml-1w"),
                 "text2ml-1w-memory / plain": ("text2ml-1w-memory", "plain"),
                 "text2ml-1w / text2ml-1w-memory": ("text2ml-1w", "text2ml-1w-memory"),
                 "plain+hook / plain": ("plain+hook", "plain")}
        ratios = {}
        for label, (a, b) in pairs.items():
            values = [len(rs[a]["trials"]) / rs[a]["wall"] / (len(rs[b]["trials"]) / rs[b]["wall"])
                      for rs in by_round.values() if a in rs and b in rs]
            if values:
                ratios[label] = {"median": pc.median(values), "per_round": values}
        cpu = {v: pc.median([r["cpu"] / len(r["trials"]) for r in recs
                             if r["variant"] == v and r.get("cpu") is not None])
               for v in variants}
        cpu_ratios = {}
        for label, (a, b) in pairs.items():
            # b's CPU seconds per trial / a's: above 1, a spends less CPU per trial
            values = [(rs[b]["cpu"] / len(rs[b]["trials"])) / (rs[a]["cpu"] / len(rs[a]["trials"]))
                      for rs in by_round.values() if a in rs and b in rs]
            if values:
                cpu_ratios[label] = {"median": pc.median(values), "per_round": values}
        out[task] = {"trials_per_second": rate, "ratios": ratios,
                     "cpu_per_trial": cpu, "cpu_ratios": cpu_ratios,
                     "start_seconds": {v: pc.median([r["start_seconds"] for r in recs
                                                     if r["variant"] == v]) for v in variants},
                     "same_scores": same_scores(recs),
                     "states": {v: state_counts(next((r for r in recs if r["variant"] == v),
                                                     None)) for v in variants},
                     "load_span": pc.load_span(recs)}
    return out


def state_counts(rec: dict | None) -> dict[str, int]:
    counts: dict[str, int] = {}
    for _, state, _, _ in (rec or {}).get("trials", []):
        counts[state] = counts.get(state, 0) + 1
    return counts


def same_scores(recs: list[dict]) -> dict[str, str]:
    """For each variant: how many trials have the state and value of plain's first run
    (the same pipelines on the same folds must score the same)."""
    reference = next((r for r in recs if r["variant"] == "plain"), None)
    if reference is None:
        return {}
    ref = {n: (s, v) for n, s, v, _ in reference["trials"]}
    out = {}
    for variant in sorted({r["variant"] for r in recs}):
        for r in recs:
            if r["variant"] != variant:
                continue
            same = sum(1 for n, s, v, _ in r["trials"] if ref.get(n) == (s, v))
            out.setdefault(variant, []).append(f"{same}/{len(r['trials'])}")
    return {v: ", ".join(x) for v, x in out.items()}


def profile_summary(run: dict[str, Any], task: str) -> dict[str, Any] | None:
    """Mean seconds per trial by category, from the instrumented run."""
    rec = next((m for m in run["measurements"] if m.get("kind") == "profile"
                and m["task"] == task and m.get("status") == "ok"), None)
    if rec is None:
        return None
    rows = rec["per_trial"]
    keys = ["span", "ask", "slot_choices", "user_attrs", "call", "dispatch", "worker",
            "suggest_wait", "report_wait", "answer_suggest", "answer_report", "tell",
            "trial_event", "journal_append", "journal_read"]
    mean = {k: sum(r.get(k, 0.0) for r in rows) / len(rows) for k in keys}
    counts = {k: sum(r.get(k, 0) for r in rows) / len(rows)
              for k in ("journal_append_n", "journal_read_n", "suggest_q", "report_q",
                        "audit_events", "answer_suggest_n", "answer_report_n")}
    mean["compute"] = mean["worker"] - mean["suggest_wait"] - mean["report_wait"]
    mean["answer_transport"] = (mean["suggest_wait"] + mean["report_wait"]
                                - mean["answer_suggest"] - mean["answer_report"])
    mean["call_transport"] = mean["call"] - mean["worker"]
    mean["caller_outside_call"] = mean["span"] - mean["call"]
    return {"mean_seconds": mean, "mean_counts": counts, "latency": rec["latency"],
            "hook_event_cost": rec["hook_event_cost"], "n_trials": len(rows),
            "top_events": next((r["top_events"] for r in rows if r.get("top_events")), [])}


def print_report(run: dict[str, Any], variants: list[str]) -> None:
    summary = run["summary"]
    rows = []
    for task, s in summary.items():
        prep = next(m for m in run["measurements"] if m.get("kind") == "prep"
                    and m["task"] == task)
        label = f"{task} ({prep.get('rows')} rows)"
        for v in variants:
            rows.append([label, v, pc.fmt(s["trials_per_second"].get(v)),
                         pc.fmt(s["cpu_per_trial"].get(v), 3),
                         pc.fmt(s["start_seconds"].get(v)), s["same_scores"].get(v, "—"),
                         s["states"].get(v), s["load_span"]])
    print(pc.table(["task", "variant", "trials/s (median)", "CPU s/trial (median)",
                    "start-up s", "same state+value as plain", "states", "load avg 1 min"],
                   rows))
    ratio_rows = [[task, label, pc.fmt(r["median"]),
                   " ".join(pc.fmt(x) for x in r["per_round"]),
                   pc.fmt(s["cpu_ratios"].get(label, {}).get("median")),
                   " ".join(pc.fmt(x) for x in s["cpu_ratios"].get(label, {}).get("per_round", []))]
                  for task, s in summary.items() for label, r in s["ratios"].items()]
    print(pc.table(["task", "A / B (trials/s)", "median", "per round",
                    "CPU s/trial, B ÷ A", "per round"], ratio_rows))
    for task in summary:
        prof = run.get("profiles", {}).get(task)
        if not prof:
            continue
        m, c = prof["mean_seconds"], prof["mean_counts"]
        print(f"\n[{task}] text2ml-1w, mean per trial over {prof['n_trials']} trials "
              f"(ms): span {1000 * m['span']:.1f} = worker {1000 * m['worker']:.1f} "
              f"(compute {1000 * m['compute']:.1f}, waiting for answers "
              f"{1000 * (m['suggest_wait'] + m['report_wait']):.1f}) + call transport "
              f"{1000 * m['call_transport']:.1f} + caller outside the call "
              f"{1000 * m['caller_outside_call']:.1f}")
        print(f"  caller: ask {1000 * m['ask']:.1f}, slot choices "
              f"{1000 * m['slot_choices']:.1f}, user attrs {1000 * m['user_attrs']:.1f}, "
              f"answering suggest {1000 * m['answer_suggest']:.1f} "
              f"({c['answer_suggest_n']:.1f}), report {1000 * m['answer_report']:.1f} "
              f"({c['answer_report_n']:.1f}), tell {1000 * m['tell']:.1f}, trial event "
              f"{1000 * m['trial_event']:.1f}; journal appends "
              f"{1000 * m['journal_append']:.1f} ({c['journal_append_n']:.1f}/trial), "
              f"reads {1000 * m['journal_read']:.1f} ({c['journal_read_n']:.1f}/trial)")
        lat = prof["latency"]
        print(f"  IPC: ask round trip {1e6 * lat['ask_round_trip_s']:.0f} us, call round "
              f"trip {1e6 * lat['call_round_trip_s']:.0f} us, payload "
              f"{lat['payload_bytes']} bytes ({1e6 * lat['payload_pickle_s']:.0f} us to "
              f"pickle); audit events per trial {c['audit_events']:.0f}, hook cost per "
              f"event {1e6 * prof['hook_event_cost']['other']:.2f} us (exec "
              f"{1e6 * prof['hook_event_cost']['exec']:.2f}, open "
              f"{1e6 * prof['hook_event_cost']['open_read']:.2f}, object.__getattr__ "
              f"{1e6 * prof['hook_event_cost']['getattr']:.2f}); top events "
              f"{prof['top_events']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", nargs="+", default=["titanic", "adult"])
    parser.add_argument("--trials", type=int, default=40, help="N trials per variant")
    parser.add_argument("--rounds", type=int, default=3,
                        help="rounds of the interleaved variants (default 3)")
    parser.add_argument("--max-rows", type=int, default=5000,
                        help="subsample larger tasks to this many rows (stratified)")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    parser.add_argument("--no-profile", dest="profile", action="store_false",
                        help="skip the instrumented run and the cProfile")
    parser.add_argument("--work", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--child-out", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--task", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--variant", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--prep-file", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child_main(args)

    run = pc.new_run("overhead", sys.argv[1:] if argv is None else argv)
    run["protocol"] = {"trials": args.trials, "rounds": args.rounds,
                       "max_rows": args.max_rows, "variants": args.variants}
    work = Path(tempfile.mkdtemp(prefix="text2ml-overhead-"))
    run["work_dir"] = str(work)
    save = lambda: pc.save(run)  # noqa: E731
    for task in args.tasks:
        measure_task(task, args, work, run, save)
    run["summary"] = summarize(run, args.variants)
    run["profiles"] = {t: profile_summary(run, t) for t in run["summary"]}
    path = pc.finish(run)
    print_report(run, args.variants)
    print(f"results: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
