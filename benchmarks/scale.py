"""Scale: time, score and memory of one run as the rows grow (10k, 100k, 1M x 20 columns).

    .venv/bin/python benchmarks/scale.py [--rows 10000 100000 1000000] [--budget 300]
                                         [--workers N] [--test-rows 50000] [--targets 0.93 0.95]
                                         [--engine-rev HEAD | --engine DIR]
    .venv/bin/python benchmarks/scale.py --markdown benchmarks/results/scale-RUN.json
    .venv/bin/python benchmarks/scale.py --reanalyse benchmarks/results/scale-RUN.json
    .venv/bin/python benchmarks/scale.py --steps 1000000     # where the memory goes, step by step

``--engine-rev REV`` measures a ``git archive`` snapshot of that revision (the working tree of
the engine may change while a run takes its minutes; every size records a hash of the sources
it imported, and a size that ran other sources is flagged).

The data: one seeded ``make_classification`` pool (20 features, 10 informative, 4 redundant,
4 clusters per class, class_sep 0.8, 2% flipped labels; two of the features binned into small
integers, "categorical-ish" int columns) of 1,000,000 + test rows; a size of N rows takes the
first N rows, and every size is scored on the same last ``--test-rows`` rows. So the sizes are
samples of one problem and their scores are comparable. The task: "Predict the label column.
Optimize ROC AUC." The DataFrame's size is ``df.memory_usage(deep=True).sum()``.

Each size runs in a fresh child process (``--child``): it imports the engine, builds its frame,
calls ``engine.run(task, df, time_budget=B, seed=0, n_workers=W)`` (``--workers``; by default
the engine's choice: a worker per core, or on data whose trials score on a sample one worker
with a thread per core), records every event (stage,
spec, candidate, trial: elapsed, value, best) with the wall clock, the wall time of the call,
and the ROC AUC of ``result.pipeline`` on the held-out rows. The parent samples the memory of
the child's whole process tree (the caller and its worker processes) every 0.2 s: the sum of
RSS, and the sum of PSS (``memory_full_info().pss``: a page shared by k processes counts 1/k in
each, so shared library code and shared file mappings are counted once in the sum; RSS counts
them in every process). The target is judged on PSS: it is the memory the tree actually takes
from the machine. Peaks are reported per phase (the child's import, data, and the run's stages).

Output: ``benchmarks/results/scale-<timestamp>.json`` (machine, versions, load average at start
and end, per size: events, samples, phase peaks, curve) and the markdown tables on stdout.

``--steps N`` replays, in one fresh process and outside the engine's worker pool, what the
caller and a worker do with the data (spec inference, ``training_data``, writing the shipped
files; reading the trials' sample, deriving X and y, one holdout fold of the default
pipeline, the refit's program code on all rows with the fold's boosting iterations),
with one thread for numeric libraries as in a worker, printing the RSS after each step and the
peak within it (the kernel's high-water mark, reset before each step; ``--tracemalloc`` adds
traced allocations, slowly): which step copies the data. It uses the engine's internals of
the snapshot it measures (spec, evaluation, catalog, program), so it follows their API.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path
from typing import Any

from _perf_common import HERE, REPO, RESULTS_DIR, high_water_bytes, reset_high_water

TASK = "Predict the label column. Optimize ROC AUC."
TARGET = "label"
POOL_ROWS = 1_000_000  # every size up to this takes its first rows from one pool
N_FEATURES = 20
CATEGORICAL_LEVELS = {"cat_a": 6, "cat_b": 12}  # two features binned into small integers
SAMPLE_SECONDS = 0.2
MB = 2**20


# ----------------------------------------------------------------------------- the engine

def engine_dir(args: argparse.Namespace) -> Path:
    """The folder holding the ``text2ml_jupyter`` package to measure: ``--engine DIR``, a
    snapshot of ``--engine-rev REV`` (``git archive``; the working tree may be changing while
    a run takes minutes), or this repository."""
    if args.engine_rev:
        sha = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", args.engine_rev],
                             capture_output=True, text=True, check=True).stdout.strip()
        args.engine_rev = f"{args.engine_rev} = {sha}" if args.engine_rev != sha else sha
        target = Path(args.cache) / f"engine-{sha}"
        if not (target / "text2ml_jupyter").is_dir():
            target.mkdir(parents=True, exist_ok=True)
            archive = subprocess.run(["git", "-C", str(REPO), "archive", sha, "text2ml_jupyter"],
                                     capture_output=True, check=True).stdout
            subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
        return target.resolve()
    return Path(args.engine or REPO).resolve()


def engine_fingerprint(root: Path) -> str:
    """A hash of the package's Python sources: which engine a size really ran."""
    import hashlib

    digest = hashlib.sha256()
    for path in sorted((root / "text2ml_jupyter").rglob("*.py")):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


# ----------------------------------------------------------------------------- the data

def pool_path(cache: Path, rows: int, test_rows: int, seed: int) -> Path:
    return cache / f"pool-{rows}-{test_rows}-seed{seed}.npy"


def make_pool(cache: Path, rows: int, test_rows: int, seed: int) -> Path:
    """The features and label of ``rows + test_rows`` rows as one float64 .npy (made once)."""
    import numpy as np
    from sklearn.datasets import make_classification

    path = pool_path(cache, rows, test_rows, seed)
    if path.exists():
        return path
    cache.mkdir(parents=True, exist_ok=True)
    X, y = make_classification(n_samples=rows + test_rows, n_features=N_FEATURES,
                               n_informative=10, n_redundant=4, n_clusters_per_class=4,
                               class_sep=0.8, flip_y=0.02, random_state=seed)
    pool = np.empty((len(X), N_FEATURES + 1))
    pool[:, :N_FEATURES] = X
    pool[:, N_FEATURES] = y
    tmp = path.with_suffix(".tmp.npy")
    np.save(tmp, pool)
    tmp.replace(path)
    return path


def frame_of(pool: Any, rows: slice) -> Any:
    """A DataFrame as a user would hold it: 18 float64 features, 2 small-integer int64
    features, an int64 label (copies, so the pool's mapping can be dropped)."""
    import numpy as np
    import pandas as pd

    part = pool[rows]
    columns: dict[str, Any] = {}
    n_float = N_FEATURES - len(CATEGORICAL_LEVELS)
    for i in range(n_float):
        columns[f"x{i:02d}"] = np.array(part[:, i], dtype=np.float64)
    for j, (name, levels) in enumerate(CATEGORICAL_LEVELS.items()):
        x = np.asarray(part[:, n_float + j])
        edges = np.linspace(-2.5, 2.5, levels - 1)  # fixed edges: same coding in every size
        columns[name] = np.digitize(x, edges).astype(np.int64)
    columns[TARGET] = np.asarray(part[:, N_FEATURES]).astype(np.int64)
    return pd.DataFrame(columns)


# ----------------------------------------------------------------------------- the child

def child(args: argparse.Namespace) -> int:
    """One size: import, build the frame, run the engine, score the held-out rows."""
    events_path = Path(args.events)
    lock = threading.Lock()
    sink = open(events_path, "a", buffering=1)

    def log(kind: str, **data: Any) -> None:
        with lock:
            sink.write(json.dumps({"t": time.time(), "kind": kind, **data}, default=str) + "\n")

    log("phase", phase="imports")
    sys.path.insert(0, args.engine)
    import numpy as np
    import pandas as pd  # noqa: F401 (imported in this phase, not during the data's)

    import text2ml_jupyter
    from text2ml_jupyter import engine

    log("engine", file=text2ml_jupyter.__file__,
        fingerprint=engine_fingerprint(Path(text2ml_jupyter.__file__).parent.parent))

    log("phase", phase="data")
    pool = np.load(args.pool, mmap_mode="r")
    df = frame_of(pool, slice(0, args.rows))
    del pool
    gc.collect()
    df_bytes = int(df.memory_usage(deep=True).sum())
    log("data", rows=len(df), columns=df.shape[1], df_bytes=df_bytes,
        test_rows=args.test_rows, positive_share=float(df[TARGET].mean()))

    def on_event(event: Any) -> None:
        d = event.data
        if event.kind == "stage":
            log("stage", stage=d.get("stage"), elapsed=d.get("elapsed"), message=event.message)
        elif event.kind == "spec":
            ev = d.get("evaluation")
            log("spec", evaluation=ev.describe() if ev is not None else None,
                columns=getattr(d.get("spec"), "columns", None))
        elif event.kind == "candidate":
            c = d.get("candidate")
            log("candidate", key=c.key, status=c.status, reason=c.reason,
                test_seconds=c.test_seconds)
        elif event.kind == "trial":
            trial = d.get("trial")
            attrs = dict(getattr(trial, "user_attrs", {}) or {})
            log("trial", number=d.get("number"), state=d.get("state"), value=d.get("value"),
                best=d.get("best"), elapsed=d.get("elapsed"), choices=d.get("choices"),
                started=attrs.get("started"), finished=attrs.get("finished"),
                fit_seconds=attrs.get("fit_seconds"), error=attrs.get("error"))
        elif event.kind == "done":
            log("done", message=event.message)

    record: dict[str, Any] = {"rows": len(df), "df_bytes": df_bytes, "status": "ok"}
    run_dir = Path.cwd() / f"run-{args.rows}"  # the parent's work folder
    log("phase", phase="run")
    started = time.perf_counter()
    try:
        result = engine.run(TASK, df, time_budget=args.budget, seed=0, n_workers=args.workers,
                            run_dir=run_dir, on_event=on_event)
        record["run_seconds"] = time.perf_counter() - started
        log("phase", phase="score")
        # The held-out rows and the metric are the benchmark's, not the run's: made only
        # now, so that the process tree during the run holds what a kernel would.
        from sklearn.metrics import roc_auc_score

        test = frame_of(np.load(args.pool, mmap_mode="r"),
                        slice(-args.test_rows, None))
        pipeline = result.pipeline if result.pipeline is not None else result.load_pipeline()
        features = [c for c in test.columns if c != TARGET]
        t0 = time.perf_counter()
        proba = pipeline.predict_proba(test[features])
        classes = list(pipeline.classes_)
        record["predict_seconds"] = time.perf_counter() - t0
        record["holdout_auc"] = float(roc_auc_score(test[TARGET] == 1,
                                                    proba[:, classes.index(1)]))
        record.update(best_score=None if result.best_score != result.best_score
                      else float(result.best_score), n_trials=result.n_trials,
                      elapsed=result.elapsed, chosen=result.chosen,
                      best_params=result.best_params, evaluation=result.evaluation.describe(),
                      notes=list(result.notes))
    except BaseException as exc:  # noqa: BLE001 - reported to the parent
        record.setdefault("run_seconds", time.perf_counter() - started)
        record.update(status="error", error=f"{type(exc).__name__}: {exc}",
                      traceback=traceback.format_exc())
    log("phase", phase="end")
    Path(args.result).write_text(json.dumps(record, indent=1, default=str))
    return 0


# ----------------------------------------------------------------------------- the parent

class TreeSampler:
    """Samples RSS and PSS of a process and all its descendants every ``interval`` s, and of
    every process working in ``folder`` (the run folders): a worker whose fork server
    stopped (the engine stops it before the refit on sampled data) is re-parented to init,
    out of the tree, but still works in its run's scratch folder."""

    def __init__(self, pid: int, folder: Path, interval: float = SAMPLE_SECONDS) -> None:
        import psutil

        self.root = psutil.Process(pid)
        self.folder = str(folder.resolve())
        self.interval = interval
        self.samples: list[dict[str, Any]] = []
        self.processes: dict[int, dict[str, Any]] = {}  # pid -> role, peaks, first/last seen
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _role(self, proc: Any) -> str:
        """caller (the child), fork server (a process the engine keeps to fork workers
        from, if it has one) or worker (every other descendant: the engine starts them)."""
        if proc.pid == self.root.pid:
            return "caller"
        try:
            cmd = " ".join(proc.cmdline())
            parent = proc.ppid()
        except Exception:  # noqa: BLE001
            return "worker"
        return "fork server" if "_forkserver" in cmd and parent == self.root.pid else "worker"

    def _left_the_tree(self, seen: set[int]) -> list[Any]:
        """The processes outside the tree whose working folder is in ``self.folder``."""
        import psutil

        found = []
        for proc in psutil.process_iter():
            if proc.pid in seen:
                continue
            try:
                where = proc.cwd()
            except psutil.Error:
                continue
            if where == self.folder or where.startswith(self.folder + os.sep):
                found.append(proc)
        return found

    def _loop(self) -> None:
        import psutil

        while not self._stop.is_set():
            t = time.time()
            try:
                procs = [self.root, *self.root.children(recursive=True)]
            except psutil.Error:
                break
            procs += self._left_the_tree({p.pid for p in procs})
            sample = {"t": t, "rss": 0, "pss": 0, "uss": 0, "caller_rss": 0, "caller_pss": 0,
                      "n_procs": 0, "max_other_pss": 0}
            for proc in procs:
                try:
                    mem = proc.memory_full_info()
                except psutil.Error:
                    continue
                info = self.processes.get(proc.pid)
                if info is None:
                    info = self.processes[proc.pid] = {"pid": proc.pid, "role": self._role(proc),
                                                      "first": t, "peak_rss": 0, "peak_pss": 0}
                info["last"] = t
                info["peak_rss"] = max(info["peak_rss"], mem.rss)
                info["peak_pss"] = max(info["peak_pss"], mem.pss)
                sample["rss"] += mem.rss
                sample["pss"] += mem.pss
                sample["uss"] += mem.uss
                sample["n_procs"] += 1
                # per process: which of them the peak is made of, and what each holds alone
                sample.setdefault("procs", []).append([proc.pid, mem.pss, mem.uss])
                if info["role"] == "caller":
                    sample["caller_rss"], sample["caller_pss"] = mem.rss, mem.pss
                else:
                    sample["max_other_pss"] = max(sample["max_other_pss"], mem.pss)
            self.samples.append(sample)
            self._stop.wait(max(0.0, self.interval - (time.time() - t)))


def kill_tree(pid: int) -> None:
    """Kill the child we started and its descendants (its workers run in their own session,
    so a process-group kill would miss them)."""
    import psutil

    try:
        root = psutil.Process(pid)
        procs = [*root.children(recursive=True), root]
    except psutil.Error:
        return
    for proc in procs:
        try:
            proc.kill()
        except psutil.Error:
            pass


def run_size(rows: int, args: argparse.Namespace, pool: Path, work: Path) -> dict[str, Any]:
    events = work / f"events-{rows}.jsonl"
    result = work / f"result-{rows}.json"
    for path in (events, result):
        path.unlink(missing_ok=True)
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", "--rows", str(rows),
           "--engine", str(args.engine),
           "--budget", str(args.budget),
           *(["--workers", str(args.workers)] if args.workers else []),
           "--test-rows", str(args.test_rows), "--pool", str(pool), "--events", str(events),
           "--result", str(result)]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(args.engine), env.get("PYTHONPATH"))
                                        if p)
    load_start = os.getloadavg()
    t_start = time.time()
    proc = subprocess.Popen(cmd, env=env, cwd=work)
    sampler = TreeSampler(proc.pid, work)
    sampler.start()
    timeout = 2 * args.budget + 300
    try:
        proc.wait(timeout=timeout)
        status = None
    except subprocess.TimeoutExpired:
        kill_tree(proc.pid)
        proc.wait()
        status = f"killed after {timeout:.0f} s"
    sampler.stop()
    load_end = os.getloadavg()
    record: dict[str, Any] = json.loads(result.read_text()) if result.exists() else {
        "rows": rows, "status": status or f"child exited with {proc.returncode}"}
    if status:
        record["status"] = status
    lines = [json.loads(line) for line in events.read_text().splitlines()] \
        if events.exists() else []
    record.update(loadavg_start=[round(x, 2) for x in load_start],
                  loadavg_end=[round(x, 2) for x in load_end],
                  child_wall_seconds=time.time() - t_start)
    record["samples"] = [{k: (round(v, 3) if k == "t" else v) for k, v in x.items()}
                         for x in sampler.samples]
    record["processes"] = sorted(sampler.processes.values(), key=lambda p: p["first"])
    record.update(analyse(lines, record["samples"], record["processes"]))
    record["engine"] = next(({"file": e["file"], "fingerprint": e["fingerprint"]}
                             for e in lines if e["kind"] == "engine"), None)
    record["events"] = lines
    return record


# Phases of a size's timeline: the child's own steps, then the run's stages (from its events).
def _phase_marks(events: list[dict[str, Any]]) -> list[tuple[float, str]]:
    marks: list[tuple[float, str]] = []
    for e in events:
        if e["kind"] == "phase":
            marks.append((e["t"], e["phase"]))
        elif e["kind"] == "stage":
            stage = e["stage"]
            name = "run:test candidates" if stage.startswith("generate") else f"run:{stage}"
            if not marks or marks[-1][1] != name:
                marks.append((e["t"], name))
        elif e["kind"] == "spec":
            marks.append((e["t"], "run:ship data + start workers"))
        elif e["kind"] == "done":
            marks.append((e["t"], "run:finish"))
    return marks


def analyse(events: list[dict[str, Any]], samples: list[dict[str, Any]],
            processes: list[dict[str, Any]]) -> dict[str, Any]:
    """Peaks per phase, the run's peak against the frame's size, the trials' timeline.
    "engine" memory is every process of the tree but the caller (workers, fork server)."""
    marks = _phase_marks(events)
    df_bytes = next((e["df_bytes"] for e in events if e["kind"] == "data"), None)
    for x in samples:
        x["engine_pss"] = x["pss"] - x["caller_pss"]
        x.setdefault("max_other_pss", x.get("max_worker_pss", 0))
    phases: dict[str, dict[str, Any]] = {}
    keys = ("rss", "pss", "caller_rss", "caller_pss", "engine_pss", "max_other_pss")
    run_samples: list[dict[str, Any]] = []
    for i, (t0, name) in enumerate(marks):
        t1 = marks[i + 1][0] if i + 1 < len(marks) else float("inf")
        inside = [x for x in samples if t0 <= x["t"] < t1]
        if name.startswith("run"):
            run_samples += inside
        entry = phases.setdefault(name, {"seconds": 0.0, "n_samples": 0})
        entry["seconds"] += (t1 if t1 != float("inf") else
                             (samples[-1]["t"] if samples else t0)) - t0
        entry["n_samples"] += len(inside)
        for key in keys:
            entry[f"peak_{key}"] = max([entry.get(f"peak_{key}", 0)] + [x[key] for x in inside])
    run_phases = [p for n, p in phases.items() if n.startswith("run")]
    peak = {k: max((p[f"peak_{k}"] for p in run_phases), default=None) for k in keys}
    out: dict[str, Any] = {"phases": phases, "peak_run": peak,
                           "at_peak": _at_peak(run_samples, processes)}
    # The engine's fixed cost: the caller with its imports done and no data, plus the
    # engine's processes once warm and before any of them loaded the data (the last sample
    # before the first candidate test; pool.warm() has returned by then).
    idle_caller = phases.get("imports", {}).get("peak_caller_pss")
    run_start = next((t for t, n in marks if n == "run"), None)
    tests = next((t for t, n in marks if n == "run:test candidates"), None)
    warm = [x for x in samples if run_start is not None and tests is not None
            and run_start <= x["t"] < tests]
    idle_engine = warm[-1]["engine_pss"] if warm else None
    if df_bytes:
        out["df_mb"] = df_bytes / MB
        out["peak_run_pss_over_df"] = peak["pss"] / df_bytes if peak["pss"] else None
        out["peak_run_rss_over_df"] = peak["rss"] / df_bytes if peak["rss"] else None
        if idle_caller and idle_engine:
            fixed = idle_caller + idle_engine
            out.update(fixed_pss_mb=fixed / MB, idle_caller_pss_mb=idle_caller / MB,
                       idle_engine_pss_mb=idle_engine / MB,
                       excess_over_fixed_pss_over_df=(peak["pss"] - fixed) / df_bytes)
    trials = [e for e in events if e["kind"] == "trial"]
    complete = [e for e in trials if e["state"] == "complete"]
    out["trials"] = {"n": len(trials), "complete": len(complete),
                     "pruned": sum(e["state"] == "pruned" for e in trials),
                     "failed": sum(e["state"] == "fail" for e in trials),
                     "first_complete_elapsed": min((e["elapsed"] for e in complete),
                                                   default=None),
                     "best_value": max((e["value"] for e in complete), default=None)}
    out["engine_processes"] = sum(p["role"] != "caller" for p in processes)
    stages = [e for e in events if e["kind"] == "stage"]
    out["stage_elapsed"] = {e["stage"]: round(e["elapsed"], 2) for e in stages}
    return out


def _at_peak(run_samples: list[dict[str, Any]],
             processes: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
    """Each process at the run's peak sample (largest sum of PSS, over the same run phases
    as ``peak_run``): its role, PSS and USS. A process's USS is what the tree would lose
    with it: the pages no other process maps (its PSS adds its share of the pages it shares)."""
    inside = [x for x in run_samples if x.get("procs")]
    if not inside:
        return None
    peak = max(inside, key=lambda x: x["pss"])
    roles = {p["pid"]: p["role"] for p in processes}
    return [{"pid": pid, "role": roles.get(pid, "?"), "pss": pss, "uss": uss}
            for pid, pss, uss in peak["procs"]]


def time_to(events: list[dict[str, Any]], target: float) -> float | None:
    """Elapsed seconds (from the start of run()) of the first complete trial >= target."""
    hits = [e["elapsed"] for e in events if e["kind"] == "trial" and e["state"] == "complete"
            and e["value"] is not None and e["value"] >= target]
    return min(hits) if hits else None


def curve(sizes: list[dict[str, Any]], targets: list[float]) -> dict[str, Any]:
    """Time to each target (fixed AUCs, and 99% of the best validation AUC at the largest
    size that completed a trial) against rows."""
    with_trials = [s for s in sizes if s.get("trials", {}).get("best_value") is not None]
    relative = None
    if with_trials:
        largest = max(with_trials, key=lambda s: s["rows"])
        relative = round(0.99 * largest["trials"]["best_value"], 4)
    all_targets = sorted({*targets, *([relative] if relative else [])})
    rows = []
    for s in sizes:
        row = {"rows": s["rows"], "first_valid": s.get("trials", {}).get("first_complete_elapsed"),
               "best_value": s.get("trials", {}).get("best_value"),
               "holdout_auc": s.get("holdout_auc"), "run_seconds": s.get("run_seconds")}
        row["to_target"] = {str(t): time_to(s.get("events", []), t) for t in all_targets}
        rows.append(row)
    return {"targets": all_targets, "relative_target": relative, "rows": rows}


def parent(args: argparse.Namespace) -> int:
    sys.path.insert(0, str(HERE))
    from run_benchmarks import machine_info, versions

    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    work = Path(args.work_dir or tempfile.mkdtemp(prefix="text2ml-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    pool_rows = max(POOL_ROWS, *args.rows)
    pool = make_pool(Path(args.cache), pool_rows, args.test_rows, args.seed)
    out_path = Path(args.out) if args.out else RESULTS_DIR / f"scale-{stamp}.json"
    out_path.parent.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {
        "run_id": f"scale-{stamp}", "command": " ".join([".venv/bin/python",
                                                         "benchmarks/scale.py", *sys.argv[1:]]),
        "started": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "task": TASK, "budget": args.budget, "workers": args.workers,
        "test_rows": args.test_rows, "pool": {"rows": pool_rows, "seed": args.seed},
        "machine": machine_info(), "versions": versions(),
        "engine": {"path": str(args.engine), "rev": args.engine_rev,
                   "fingerprint": engine_fingerprint(Path(args.engine))},
        "loadavg_start": [round(x, 2) for x in os.getloadavg()], "sizes": []}
    for rows in args.rows:
        print(f"[scale] {rows:,} rows, budget {args.budget:g} s ...", flush=True)
        record = run_size(rows, args, pool, work)
        report["sizes"].append(record)
        ran = (record.get("engine") or {}).get("fingerprint")
        if ran != report["engine"]["fingerprint"]:
            print(f"[scale] WARNING: this size ran engine sources {ran}, not "
                  f"{report['engine']['fingerprint']} (the tree changed during the run)")
        report["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
        report["curve"] = curve(report["sizes"], args.targets)
        out_path.write_text(json.dumps(report, indent=1, default=str))
        print(f"[scale] {rows:,} rows: {record.get('status')}, run "
              f"{record.get('run_seconds', 0):.1f} s, holdout AUC {record.get('holdout_auc')}, "
              f"peak PSS {(record.get('peak_run') or {}).get('pss', 0) / MB:.0f} MB "
              f"({record.get('peak_run_pss_over_df') or 0:.2f} x df)", flush=True)
    print(markdown(report))
    print(f"[scale] wrote {out_path} (events, run folders: {work})")
    return 0


# ----------------------------------------------------------------------------- tables

def _s(x: float | None, fmt: str = "{:.1f}") -> str:
    return "—" if x is None else fmt.format(x)


def markdown(report: dict[str, Any]) -> str:
    sizes = report["sizes"]
    lines = [f"Run `{report['run_id']}`: `{report['command']}`; budget {report['budget']:g} s, "
             + (f"{report['workers']} workers" if report.get("workers")
                else "the engine's default workers") + "; load average (1/5/15 min) "
             f"{report['loadavg_start']} at start, {report.get('loadavg_end')} at end; "
             f"engine {(report.get('engine') or {}).get('rev') or 'working tree'} "
             f"(sources {(report.get('engine') or {}).get('fingerprint')}).", "",
             "| rows | df MB | status | run s | trials (complete/pruned/failed) | engine "
             "processes started | evaluation | chosen model | best validation AUC | held-out "
             "AUC | load (1 min) start → end |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for s in sizes:
        t = s.get("trials", {})
        lines.append(
            f"| {s['rows']:,} | {_s(s.get('df_mb'))} | {s.get('status')} | "
            f"{_s(s.get('run_seconds'))} | {t.get('n', 0)} ({t.get('complete', 0)}/"
            f"{t.get('pruned', 0)}/{t.get('failed', 0)}) | {s.get('engine_processes', '—')} | "
            f"{s.get('evaluation', '—')} | {(s.get('chosen') or {}).get('model', '—')} | "
            f"{_s(s.get('best_score'), '{:.4f}')} | {_s(s.get('holdout_auc'), '{:.4f}')} | "
            f"{(s.get('loadavg_start') or ['?'])[0]} → {(s.get('loadavg_end') or ['?'])[0]} |")
    lines += ["", "Peak memory of the process tree during `run()` (caller + workers, sampled "
              "every 0.2 s), MB, and as a multiple of the DataFrame's size:", "",
              "| rows | df MB | peak PSS | × df | peak RSS | × df | caller PSS | engine "
              "processes PSS (sum) | largest engine process PSS | fixed cost (idle caller + "
              "warm engine processes, PSS) | (peak − fixed) / df |",
              "|---|---|---|---|---|---|---|---|---|---|---|"]
    for s in sizes:
        p = s.get("peak_run") or {}
        mb = (lambda k: _s(p.get(k) / MB if p.get(k) else None, "{:.0f}"))
        largest = max((x["peak_pss"] for x in s.get("processes", []) if x["role"] != "caller"),
                      default=None)
        lines.append(
            f"| {s['rows']:,} | {_s(s.get('df_mb'))} | {mb('pss')} | "
            f"{_s(s.get('peak_run_pss_over_df'), '{:.2f}')} | {mb('rss')} | "
            f"{_s(s.get('peak_run_rss_over_df'), '{:.2f}')} | {mb('caller_pss')} | "
            f"{mb('engine_pss')} | {_s(largest / MB if largest else None, '{:.0f}')} | "
            f"{_s(s.get('fixed_pss_mb'), '{:.0f}')} | "
            f"{_s(s.get('excess_over_fixed_pss_over_df'), '{:.2f}')} |")
    for s in sizes:
        held = s.get("at_peak")
        if held:
            lines += ["", f"At the peak ({s['rows']:,} rows), per process: PSS (USS, the pages "
                      "only it maps), MB: " + ", ".join(
                          f"{p['role']} {p['pss'] / MB:.0f} ({p['uss'] / MB:.0f})" for p in held)]
    lines += ["", "Peak PSS per phase (tree / caller / engine processes), MB, and the phase's "
              "seconds:", ""]
    names: list[str] = []
    for s in sizes:
        names += [n for n in s.get("phases", {}) if n not in names]
    lines += ["| phase | " + " | ".join(f"{s['rows']:,} rows" for s in sizes) + " |",
              "|---|" + "---|" * len(sizes)]
    for n in names:
        cells = []
        for s in sizes:
            p = s.get("phases", {}).get(n)
            cells.append("—" if not p or not p["n_samples"] else
                         f"{p['peak_pss'] / MB:.0f} / {p['peak_caller_pss'] / MB:.0f} / "
                         f"{p['peak_engine_pss'] / MB:.0f} ({p['seconds']:.1f} s)")
        lines.append(f"| {n} | " + " | ".join(cells) + " |")
    c = report.get("curve")
    if c:
        lines += ["", "Time to a given validation ROC AUC (seconds from the start of `run()` to "
                  "the first complete trial reaching it; — = not reached)"
                  + (f"; {c['relative_target']} is 99% of the best validation AUC at the largest "
                     "size" if c.get("relative_target") else "") + ":", "",
                  "| rows | first valid pipeline | " + " | ".join(
                      f"AUC ≥ {t}" for t in c["targets"]) + " | run s |",
                  "|---|---|" + "---|" * len(c["targets"]) + "---|"]
        for r in c["rows"]:
            lines.append(f"| {r['rows']:,} | {_s(r['first_valid'])} | " + " | ".join(
                _s(r["to_target"].get(str(t))) for t in c["targets"])
                + f" | {_s(r['run_seconds'])} |")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- --steps

def steps(rows: int, test_rows: int, seed: int, cache: Path, trace: bool = False) -> int:
    """The caller's and one worker's data handling, step by step, in this process (one
    thread for numeric libraries, as in a worker). Per step: RSS after it, the peak RSS
    within it above the RSS before it (the kernel's high-water mark, reset before each
    step), and with ``--tracemalloc`` the
    peak of traced allocations (exact, but it slows model fits several-fold)."""
    import tracemalloc

    import numpy as np
    import psutil
    from text2ml_jupyter import engine  # noqa: F401 - imports first, so they are not counted
    from text2ml_jupyter.evaluation import choose_evaluation
    from text2ml_jupyter.spec import training_data
    from text2ml_jupyter.understand import understand

    me = psutil.Process()
    path = make_pool(cache, max(POOL_ROWS, rows), test_rows, seed)
    pool = np.load(path, mmap_mode="r")
    df = frame_of(pool, slice(0, rows))
    del pool
    gc.collect()
    size = df.memory_usage(deep=True).sum()
    print(f"{rows:,} rows: df {size / MB:.0f} MB\n")
    print(f"{'step':62s} {'RSS MB':>7s} {'Δ RSS':>7s} {'peak Δ':>7s} {'× df':>5s}"
          + (f" {'traced':>7s}" if trace else "") + "  seconds")
    last = [me.memory_info().rss]
    if trace:
        tracemalloc.start()

    def step(name: str, fn: Any) -> Any:
        before = me.memory_info().rss
        reset_high_water()
        if trace:
            tracemalloc.reset_peak()
            base = tracemalloc.get_traced_memory()[0]
        t0 = time.perf_counter()
        out = fn()
        seconds = time.perf_counter() - t0
        rss = me.memory_info().rss
        peak = [max(high_water_bytes(), rss)]
        traced = f" {(tracemalloc.get_traced_memory()[1] - base) / MB:7.0f}" if trace else ""
        print(f"{name:62s} {rss / MB:7.0f} {(rss - last[0]) / MB:+7.0f} "
              f"{(peak[0] - before) / MB:7.0f} {(peak[0] - before) / size:5.2f}{traced}  "
              f"{seconds:.1f}", flush=True)
        last[0] = rss
        return out

    def settle() -> None:
        gc.collect()
        last[0] = me.memory_info().rss

    print("-- caller (engine.run, before any worker)")
    spec = step("understand (spec inference, input checks)", lambda: understand(
        TASK, df, proposal=None, target=None, metric=None, task_type=None, pos_label=None,
        roles=None))
    X, y = step("spec.training_data (X, y kept for the whole run)",
                lambda: training_data(spec, df))
    evaluation = step("choose_evaluation", lambda: choose_evaluation(
        y, classification=spec.is_classification, seed=0))
    step("frame[[*features, target]] (argument of data_summary)",
         lambda: df[[*spec.features, spec.target]])
    del X, y
    scratch = Path(tempfile.mkdtemp(prefix="text2ml-scale-steps-"))
    try:
        return _steps_with(scratch, df, spec, evaluation, step, settle)
    finally:
        if trace:
            tracemalloc.stop()
        for path in scratch.iterdir():
            path.unlink()
        scratch.rmdir()


def _steps_with(scratch: Path, df: Any, spec: Any, evaluation: Any, step: Any,
                settle: Any) -> int:
    """The rest of ``steps``: shipping (engine.ship_data's files), one trial worker's fold
    on the trials' sample, the refit on all rows (_refit.refit_program's steps)."""
    import numpy as np
    import pandas as pd
    from sklearn.base import clone

    from text2ml_jupyter._building import DefaultTrial, build_parts
    from text2ml_jupyter._shipping import read_frame, write_frame
    from text2ml_jupyter._refit import _fixed_iterations
    from text2ml_jupyter.program import assemble_program
    from text2ml_jupyter.providers import GenerationContext
    from text2ml_jupyter.providers.offline import OfflineProvider
    from text2ml_jupyter.search import boosting_iterations, default_params, local_params
    from text2ml_jupyter.slots import SLOTS
    from text2ml_jupyter.spec import training_data

    columns = [*spec.features, spec.target]
    numeric = spec.columns_by_role().get("numeric", [])
    data_path = step("write_frame, all rows (engine.ship_data)", lambda: write_frame(
        df, scratch / "data", columns=columns, numeric=numeric))
    trial_path = data_path
    if evaluation.sample_rows and len(df) > evaluation.sample_rows:
        positions = pd.Series(np.arange(len(df)))
        picked = evaluation.sample(positions, positions)[0].to_numpy()
        trial_path = step("write_frame, the trials' sample (engine.ship_data)",
                          lambda: write_frame(df, scratch / "sample", columns=columns,
                                              numeric=numeric, rows=picked))
    print("   files: " + ", ".join(f"{p.name} {p.stat().st_size / MB:.0f} MB"
                                   for p in sorted(scratch.iterdir())))
    settle()

    print("-- a trial worker (WorkerContext.load, load_training_data, evaluate_trial)")
    loaded = step("read_frame (WorkerContext.load)", lambda: read_frame(trial_path))
    X, y = step("spec.training_data in the worker (memo)", lambda: training_data(spec, loaded))
    context = GenerationContext(spec=spec, n_rows=len(df), n_features=X.shape[1], seed=0, k=4)
    provider = OfflineProvider()
    accepted = {s.name: provider.generate(s, context) for s in SLOTS}
    print("   candidates: " + "; ".join(f"{k}: {', '.join(c.name for c in v)}"
                                        for k, v in accepted.items()))
    first = {slot: cands[0] for slot, cands in accepted.items()}
    chain = [(c.slot, c.name, c.source, c.defaults) for c in first.values()]
    estimator = build_parts(chain, lambda s, n, d: DefaultTrial(d),
                            spec.columns_by_role())["postprocess"]
    train, valid = next(iter(evaluation.splitter().split(X, y)))
    X_train = step("X.iloc[train] (the fold's training rows)", lambda: X.iloc[train])
    y_train = y.iloc[train]
    fitted = step(f"pipeline fit on the fold ({first['preprocess'].name}, "
                  f"{first['model'].name})", lambda: clone(estimator).fit(X_train, y_train))
    n_iter = max(boosting_iterations(fitted), default=None)
    print(f"   boosting iterations (n_iter_): {n_iter}")
    del X_train, y_train
    settle()
    step("predict_proba on the validation rows", lambda: fitted.predict_proba(X.iloc[valid]))
    del fitted, X, y, loaded
    settle()

    print("-- the refit (_refit.refit_program: the program's build code on the loaded frame)")
    params = default_params(first)
    chosen = {s.name: (first[s.name], local_params(first[s.name], params)) for s in SLOTS}
    program = assemble_program(spec, chosen, evaluation=evaluation, data_name="df",
                               pipeline_name="pipeline", run_id="scale", best_score=None,
                               n_candidates={s: len(c) for s, c in accepted.items()})
    loaded = step("read_frame (all rows)", lambda: read_frame(data_path))
    namespace: dict[str, Any] = {"__name__": "text2ml_program", "df": loaded}
    step("program build code (dropna, X = data[FEATURES], y)",
         lambda: exec(compile(program.build_code, "<program>", "exec"), namespace))  # noqa: S102
    pipeline = namespace["pipeline"]
    if n_iter:
        pipeline.set_params(**_fixed_iterations(pipeline, n_iter))
    step(f"pipeline.fit on all rows ({n_iter} boosting iterations, no held-out split)"
         if n_iter else "pipeline.fit on all rows",
         lambda: pipeline.fit(namespace["X"], namespace["y"]))
    import cloudpickle

    blob = step("cloudpickle.dumps(pipeline)", lambda: cloudpickle.dumps(pipeline))
    print(f"   pipeline blob: {len(blob) / MB:.1f} MB")
    return 0


# ----------------------------------------------------------------------------- main

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--budget", type=float, default=300.0)
    parser.add_argument("--workers", type=int, default=None,
                        help="n_workers for engine.run (default: the engine's choice)")
    parser.add_argument("--test-rows", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=0, help="the data generator's seed")
    parser.add_argument("--targets", type=float, nargs="*", default=[0.93, 0.95, 0.96],
                        help="validation ROC AUCs for the time-to-score curve")
    parser.add_argument("--cache", default=str(Path(tempfile.gettempdir()) / "text2ml-scale"),
                        help="where the generated pool (.npy) is kept between runs")
    parser.add_argument("--engine", default=None,
                        help="folder holding the text2ml_jupyter package to measure "
                             "(default: this repository)")
    parser.add_argument("--engine-rev", default=None,
                        help="measure a snapshot of this git revision (e.g. HEAD) instead "
                             "of the working tree")
    parser.add_argument("--work-dir", default=None)
    parser.add_argument("--out", default=None)
    parser.add_argument("--markdown", metavar="JSON", help="print the tables of a result file")
    parser.add_argument("--reanalyse", metavar="JSON",
                        help="recompute the peaks and the curve of a result file in place")
    parser.add_argument("--steps", type=int, metavar="ROWS",
                        help="profile the data handling step by step at ROWS rows")
    parser.add_argument("--tracemalloc", action="store_true",
                        help="with --steps: also trace allocations (slow)")
    # the child's arguments
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--pool", help=argparse.SUPPRESS)
    parser.add_argument("--events", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        args.rows = args.rows[0]
        return child(args)
    if args.markdown:
        print(markdown(json.loads(Path(args.markdown).read_text())))
        return 0
    if args.reanalyse:
        path = Path(args.reanalyse)
        report = json.loads(path.read_text())
        for size in report["sizes"]:
            size.update(analyse(size["events"], size["samples"], size["processes"]))
        report["curve"] = curve(report["sizes"], args.targets)
        path.write_text(json.dumps(report, indent=1, default=str))
        print(markdown(report))
        return 0
    args.engine = str(engine_dir(args))
    if args.steps:
        sys.path.insert(0, args.engine)
        for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[name] = "1"  # as in a worker; numeric libraries are not loaded yet
        return steps(args.steps, args.test_rows, args.seed, Path(args.cache),
                     trace=args.tracemalloc)
    return parent(args)


if __name__ == "__main__":
    sys.exit(main())
