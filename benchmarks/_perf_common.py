"""What the performance benchmarks (startup, overhead, first_pipeline, budget) share: fresh
child processes, the machine's load, and the JSON records in benchmarks/results/.

Kept free of heavy imports: startup.py measures import costs in its children, and its
parent must stay quick too.

The records are written as ``results/<kind>-<run id>.json`` with a ``measurements`` list
(never a ``records`` list: run_benchmarks.py reads every ``results/*.json`` and takes a
``records`` list for its own side-by-side results).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
RESULTS_DIR = HERE / "results"
PYTHON = sys.executable

# Workers run their numeric libraries single-threaded (sandbox.py); in-process baselines get
# the same setting so that both sides compute alike.
SINGLE_THREAD_ENV = {name: "1" for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                            "MKL_NUM_THREADS", "VECLIB_MAXIMUM_THREADS",
                                            "NUMEXPR_NUM_THREADS")}


def load1() -> float:
    """The machine's 1-minute load average (2 cores: above 2, other work competed)."""
    return round(os.getloadavg()[0], 2)


def child_env(**extra: str) -> dict[str, str]:
    """The environment of a child: the repository (and benchmarks/) importable."""
    env = dict(os.environ)
    paths = [str(REPO), str(HERE), env.get("PYTHONPATH", "")]
    env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    env.update(extra)
    return env


def run_child(args: list[str], *, timeout: float, env: dict[str, str] | None = None,
              cwd: Path | None = None) -> dict[str, Any]:
    """Run ``python ARGS --child-out FILE`` in a fresh process; the child writes its JSON
    result to FILE. Returns that result with the load average at start and end of the
    call and the process's wall time (or a status saying why there is no result)."""
    fd, out = tempfile.mkstemp(prefix="text2ml-perf-", suffix=".json")
    os.close(fd)
    before = load1()
    started = time.perf_counter()
    try:
        proc = subprocess.run([PYTHON, *args, "--child-out", out], capture_output=True,
                              text=True, timeout=timeout, env=env or child_env(),
                              cwd=cwd or REPO)
        status = "ok" if proc.returncode == 0 else f"exit code {proc.returncode}"
        stderr = proc.stderr
    except subprocess.TimeoutExpired as exc:
        status, stderr = f"killed after {timeout:.0f} s", str(exc.stderr or "")
    wall = time.perf_counter() - started
    record: dict[str, Any] = {}
    try:
        text = Path(out).read_text()
        record = json.loads(text) if text.strip() else {}
    except (OSError, json.JSONDecodeError):
        pass
    finally:
        Path(out).unlink(missing_ok=True)
    record.setdefault("status", status if not record or status != "ok" else "ok")
    if status != "ok":
        record["status"] = status
        record["stderr_tail"] = stderr[-3000:]
    record["process_seconds"] = round(wall, 3)
    record["load_avg_1m"] = [before, load1()]
    record["engine_state"] = engine_state()
    return record


def engine_state() -> str:
    """The engine's commit plus a digest of uncommitted changes to text2ml_jupyter/ (the
    working tree is shared: a change between two measurements shows up here)."""
    import hashlib

    try:
        commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                                capture_output=True, text=True, timeout=10).stdout.strip()
        diff = subprocess.run(["git", "-C", str(REPO), "diff", "HEAD", "--",
                               "text2ml_jupyter"], capture_output=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return commit + (f"+diff:{hashlib.sha1(diff).hexdigest()[:8]}" if diff else "")


def write_child_result(path: str, data: dict[str, Any]) -> None:
    Path(path).write_text(json.dumps(data, default=_plain))


def _plain(value: Any) -> Any:
    if hasattr(value, "item"):
        try:
            return value.item()
        except Exception:  # noqa: BLE001 - not a scalar
            pass
    return str(value)


def new_run(kind: str, argv: list[str]) -> dict[str, Any]:
    """The header of a results file: what ran, where, when."""
    started = dt.datetime.now(dt.timezone.utc)
    return {"kind": kind, "run_id": f"{kind}-{started:%Y%m%dT%H%M%SZ}",
            "started": started.isoformat(timespec="seconds"),
            "command": " ".join([".venv/bin/python", f"benchmarks/{kind}.py",
                                 *map(shlex.quote, argv)]),
            "machine": machine(), "versions": versions(), "measurements": []}


def save(run: dict[str, Any]) -> Path:
    """Write (or rewrite) the run's JSON file in benchmarks/results/; returns its path."""
    RESULTS_DIR.mkdir(exist_ok=True)
    path = RESULTS_DIR / f"{run['run_id']}.json"
    path.write_text(json.dumps(run, indent=1, default=_plain))
    return path


def finish(run: dict[str, Any]) -> Path:
    run["finished"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    return save(run)


def machine() -> dict[str, Any]:
    from _common import cpu_model

    cpu = cpu_model()
    return {"nproc": os.cpu_count(), "cpu_model": cpu,
            "python": sys.version.split()[0]}


def versions() -> dict[str, str]:
    """Library versions and the engine's commit (read without importing the libraries)."""
    from importlib import metadata

    out: dict[str, str] = {}
    for name in ("text2ml-jupyter", "optuna", "scikit-learn", "pandas", "numpy", "ipython"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    from _common import engine_commit

    commit = engine_commit()
    if commit is not None:
        out["text2ml_commit"] = commit
    return out


def _status_bytes(field: str) -> int:
    """A size field of /proc/self/status (given there in kB), in bytes."""
    with open("/proc/self/status") as status:
        line = next(x for x in status if x.startswith(field + ":"))
    return int(line.split()[1]) * 1024


def high_water_bytes() -> int:
    """This process's peak RSS (VmHWM) in bytes, since it started or since
    ``reset_high_water``. Not ``ru_maxrss``: Linux carries the spawning process's peak over
    the exec, so a fresh child would report its parent's. No sampling thread either, which
    would slow the fits it measures (it fights them for the GIL)."""
    return _status_bytes("VmHWM")


def rss_bytes() -> int:
    """This process's current RSS (VmRSS) in bytes."""
    return _status_bytes("VmRSS")


def reset_high_water() -> None:
    """Reset VmHWM to the current RSS (Linux's ``clear_refs`` 5)."""
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")


def median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def table(header: list[str], rows: list[list[Any]]) -> str:
    """A Markdown table (also what the scripts print)."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def fmt(value: float | None, digits: int = 2) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def load_span(records: list[dict[str, Any]]) -> str:
    """'min–max' of the load averages seen at the start and end of the records."""
    loads = [x for r in records for x in r.get("load_avg_1m", [])]
    return f"{min(loads):.2f}–{max(loads):.2f}" if loads else "—"


# ----------------------------------------------------------------- one engine.run call

def cpu_of_tree() -> float:
    """CPU seconds (user + system) used so far by this process and its live descendants
    (the workers and the fork server); a contention-robust measure of work done."""
    import psutil

    me = psutil.Process()
    total = sum(me.cpu_times()[:2])
    for child in me.children(recursive=True):
        try:
            total += sum(child.cpu_times()[:2])
        except psutil.Error:
            pass
    return total


# The run being recorded: where the wrappers below put their events (installed once per
# process, so a second run in the same process is not wrapped twice).
_CURRENT: dict[str, Any] = {"events": [], "t0": 0.0, "installed": False}


def _record(row: dict[str, Any]) -> None:
    _CURRENT["events"].append(row)


def install_timers() -> None:
    """Wrap (the engine unchanged) the worker pool's constructor, and the refit's steps:
    building the program, the worker call that fits on all rows, loading the fitted
    pipeline in this process. Once per process."""
    if _CURRENT["installed"]:
        return
    _CURRENT["installed"] = True
    import text2ml_jupyter._refit as _refit
    import text2ml_jupyter.program as program
    from text2ml_jupyter.sandbox import WorkerPool

    def timed(label: str, function: Any, when: Any = lambda *a, **k: True) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if not when(*args, **kwargs):
                return function(*args, **kwargs)
            began = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                _record({"kind": "timing", "what": label, "wall": began - _CURRENT["t0"],
                         "seconds": time.perf_counter() - began,
                         "sklearn_in_caller": "sklearn" in sys.modules})
        return wrapper

    pool_init = WorkerPool.__init__

    def timed_init(self: Any, *args: Any, **kwargs: Any) -> None:
        _record({"kind": "pool_init_start", "wall": time.perf_counter() - _CURRENT["t0"]})
        pool_init(self, *args, **kwargs)
        _record({"kind": "pool_init_end", "wall": time.perf_counter() - _CURRENT["t0"]})

    WorkerPool.__init__ = timed_init  # type: ignore[method-assign]
    program.assemble_program = timed("assemble_program", program.assemble_program)
    _refit.load_fitted = timed("load_fitted", _refit.load_fitted)
    WorkerPool.call = timed("refit_call", WorkerPool.call,  # type: ignore[method-assign]
                            lambda self, target, *a, **k: "refit" in target)


def run_engine(task_name: str, budget: float, *, n_workers: int | None, run_dir: Path,
               stop_after_first: bool = False) -> dict[str, Any]:
    """(In a child process.) ``engine.run`` on a task's whole CSV with the offline provider,
    timed around the call, with every progress event's time: stages, candidates, trials.

    ``stop_after_first``: stop the run (``stop.set()``) once the first trial completed;
    what happens before that moment is the same as in a run that goes on. Also recorded:
    when the worker pool's constructor started and returned (wrapped, not changed), and
    the CPU seconds of the process tree at the first completed trial.
    """
    import threading

    from _common import load_frame, load_tasks

    task = next(t for t in load_tasks() if t["name"] == task_name)
    frame = load_frame(task)
    started = time.perf_counter()
    from text2ml_jupyter.engine import run

    import_seconds = time.perf_counter() - started
    stop = threading.Event()
    events: list[dict[str, Any]] = []
    install_timers()
    cpu0 = cpu_of_tree()

    def on_event(event: Any) -> None:
        data = event.data or {}
        row: dict[str, Any] = {"kind": event.kind, "wall": time.perf_counter() - t0}
        if event.kind == "stage":
            row.update(stage=data.get("stage"), elapsed=data.get("elapsed"),
                       sklearn_in_caller="sklearn" in sys.modules)
        elif event.kind == "candidate":
            c = data.get("candidate")
            row.update(key=getattr(c, "key", None), status=getattr(c, "status", None),
                       test_seconds=getattr(c, "test_seconds", None))
        elif event.kind == "trial":
            row.update(number=data.get("number"), state=data.get("state"),
                       value=data.get("value"), best=data.get("best"),
                       elapsed=data.get("elapsed"), model=(data.get("choices") or {}).get(
                           "model"))
            if data.get("state") == "complete" and not any(
                    e.get("state") == "complete" for e in events):
                row["cpu_tree"] = cpu_of_tree() - cpu0
                if stop_after_first:
                    stop.set()
        events.append(row)

    t0 = time.perf_counter()
    _CURRENT.update(events=events, t0=t0)
    result = run(task["task"], frame, time_budget=budget, seed=0, provider="offline",
                 n_workers=n_workers, run_dir=run_dir, data_name=task["var"],
                 on_event=on_event, stop=stop)
    wall = time.perf_counter() - t0
    best = result.best_score
    return {"task": task_name, "rows": len(frame), "budget": budget, "wall": wall,
            "import_seconds": import_seconds, "elapsed": result.elapsed,
            "n_trials": result.n_trials,
            "best_score": None if best != best else best,  # NaN: no trial completed
            "metric": result.metric, "evaluation": result.evaluation.describe(),
            "chosen": result.chosen, "notes": result.notes, "events": events,
            "stopped_after_first": stop.is_set()}
