"""Side-by-side benchmark: text2ml vs FLAML vs a default HistGradientBoosting pipeline.

    .venv/bin/python benchmarks/run_benchmarks.py --budgets 30 [120] [--tasks titanic tips]
                                                  [--systems text2ml flaml hgb]
                                                  [--split-seed N] [--within-train]

Protocol (shared/benchmark/README.md): one fixed split per task (75/25, seed 0, stratified for
classification); every system gets the same training rows and the same wall-clock budget; the
held-out rows are scored by the same code (_common.score); leakage columns are removed for the
baselines, while text2ml gets the whole training frame and must find them itself.

Each system call runs in its own process (benchmarks/_worker.py), so a crash or a hang costs one
cell of the table, and time and memory are measured per call. Raw records go to
benchmarks/results/<run-id>.json (written after every call); the results section of
benchmarks/README.md is regenerated from the newest record of every (task, budget, system)
across all result files. ``--split-seed N`` (N other than 0) runs on another 75/25 split, to
see how much the protocol's one split decides a comparison: its records go to
benchmarks/results/other_splits/, outside the tables, and the README is left as it is.
``--within-train`` splits the protocol's *training* rows again (75/25, ``--split-seed``): a
development set for studying an engine change without ever scoring on the protocol's held-out
rows; records go to benchmarks/results/dev_splits/.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import pickle
import platform
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _common import (FLOOR, REPO, SPLIT_SEED, at_least_as_good,  # noqa: E402
                     development_split, direction, fmt_score, load_frame, load_tasks,
                     positive_label, relative, score, split)

RESULTS_DIR = HERE / "results"
README = HERE / "README.md"
SYSTEMS = ("text2ml", "flaml", "hgb")
SYSTEM_LABEL = {"text2ml": "text2ml", "flaml": "FLAML", "hgb": "HGB-default"}
BUDGET_SLACK = 1.1  # text2ml must finish within 1.1 x budget
BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"


# ----------------------------------------------------------------------------- environment

def machine_info() -> dict[str, Any]:
    from _common import cpu_model

    cpu = cpu_model()
    mem_gb = None
    try:
        import psutil

        mem_gb = round(psutil.virtual_memory().total / 2**30, 1)
    except Exception:  # noqa: BLE001
        pass
    return {"nproc": os.cpu_count(), "cpu_model": cpu, "memory_gb": mem_gb,
            "platform": platform.platform(), "python": platform.python_version()}


def versions() -> dict[str, Any]:
    from importlib import metadata

    out: dict[str, Any] = {}
    for name in ("text2ml-jupyter", "flaml", "scikit-learn", "pandas", "numpy", "optuna",
                 "lightgbm", "xgboost-cpu", "xgboost"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    if "text2ml-jupyter" not in out:  # not installed: read the source tree's version
        try:
            import tomllib

            out["text2ml-jupyter"] = tomllib.loads(
                (REPO / "pyproject.toml").read_text())["project"]["version"] + " (source tree)"
        except Exception:  # noqa: BLE001
            pass
    from _common import engine_commit

    commit = engine_commit()
    if commit is not None:
        out["text2ml_commit"] = commit
    return out


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    return env


def engine_available() -> tuple[bool, str]:
    proc = subprocess.run([sys.executable, "-c", "from text2ml_jupyter.engine import run"],
                          capture_output=True, text=True, env=child_env(), timeout=300)
    return proc.returncode == 0, proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else ""


# ----------------------------------------------------------------------------- one call

def _tree_rss(proc) -> int:
    try:
        procs = [proc, *proc.children(recursive=True)]
    except Exception:  # noqa: BLE001
        return 0
    total = 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except Exception:  # noqa: BLE001
            pass
    return total


def _kill_tree(popen: subprocess.Popen) -> None:
    import psutil

    try:
        kids = psutil.Process(popen.pid).children(recursive=True)
    except psutil.Error:
        kids = []
    try:
        os.killpg(popen.pid, signal.SIGKILL)
    except OSError:
        pass
    for k in kids:  # anything that left the process group
        try:
            k.kill()
        except psutil.Error:
            pass
    popen.wait()


def run_call(system: str, split_dir: Path, budget: float, out: Path,
             timeout: float) -> dict[str, Any]:
    """Run one system in its own process; return its record (not yet scored)."""
    import psutil

    out.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, str(HERE / "_worker.py"), system, str(split_dir), str(budget),
           str(out)]
    load_before = os.getloadavg()[0]
    t0 = time.perf_counter()
    with open(out / "stdout.txt", "wb") as so, open(out / "stderr.txt", "wb") as se:
        popen = subprocess.Popen(cmd, stdout=so, stderr=se, cwd=out, env=child_env(),
                                 start_new_session=True)
        ps = psutil.Process(popen.pid)
        peak, timed_out = 0, False
        while popen.poll() is None:
            peak = max(peak, _tree_rss(ps))
            if time.perf_counter() - t0 > timeout:
                timed_out = True
                _kill_tree(popen)
                break
            time.sleep(0.2)
    process_time = time.perf_counter() - t0
    record: dict[str, Any] = {"process_time": round(process_time, 2),
                              "peak_rss_tree_mb": round(peak / 2**20, 1),
                              # 1-minute load average of the machine (2 cores) before and after:
                              # above 2, other work competed with this call for the CPU
                              "load_avg_1m": [round(load_before, 2),
                                              round(os.getloadavg()[0], 2)]}
    result_file = out / "result.json"
    if timed_out:
        record.update(status="timeout", error=f"killed after {timeout:.0f} s")
    elif result_file.exists():
        record.update(json.loads(result_file.read_text()))
    else:
        stderr = (out / "stderr.txt").read_text(errors="replace")
        record.update(status="crash", error=f"exit code {popen.returncode}",
                      traceback=stderr[-4000:])
    return record


# ----------------------------------------------------------------------------- the run

def prepare_split(task: dict[str, Any], root: Path, seed: int, within_train: bool = False
                  ) -> Path:
    """Write the task's train/test split; ``within_train``: a split of the protocol's training
    rows only (the protocol's held-out rows are left out altogether)."""
    d = root / "splits" / task["name"]
    d.mkdir(parents=True, exist_ok=True)
    df = load_frame(task)
    train, test = development_split(task, df, seed) if within_train else split(task, df, seed)
    train.to_pickle(d / "train.pkl")
    test.to_pickle(d / "test.pkl")
    (d / "task.json").write_text(json.dumps(task))
    return d


def saved_split(work: Path, task: dict[str, Any]) -> tuple[Any, Any]:
    """(test frame, positive label) of the task's split in a run's work folder (OSError
    when it is gone)."""
    import pandas as pd

    split_dir = work / "splits" / task["name"]
    train_y = pd.read_pickle(split_dir / "train.pkl")[task["target"]]
    return pd.read_pickle(split_dir / "test.pkl"), positive_label(task, train_y)


def saved_prediction(work: Path, budget: float, name: str, system: str) -> dict[str, Any]:
    """A call's held-out predictions in a run's work folder (OSError when they are gone)."""
    with open(work / f"b{budget:g}" / name / system / "pred.pkl", "rb") as fh:
        return pickle.load(fh)


def score_record(record: dict[str, Any], task: dict[str, Any], test, pos, out: Path) -> None:
    if record.get("status") != "ok":
        return
    try:
        with open(out / "pred.pkl", "rb") as fh:
            pred = pickle.load(fh)
        record["score"] = score(task, test[task["target"]], pred["y_pred"], pred["proba"],
                                pred["classes"], pos_label=pos)
    except Exception as exc:  # noqa: BLE001
        import traceback

        record.update(status="score_error", error=f"{type(exc).__name__}: {exc}",
                      traceback=traceback.format_exc())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--budgets", type=float, nargs="+", default=[30.0])
    ap.add_argument("--tasks", nargs="+", default=None, help="task names (default: all)")
    ap.add_argument("--systems", nargs="+", default=list(SYSTEMS), choices=SYSTEMS)
    ap.add_argument("--timeout-factor", type=float, default=3.0,
                    help="kill a call after factor x budget + 120 s")
    ap.add_argument("--work-dir", default=None, help="splits, predictions, run folders "
                    "(default: a new folder under the system temp dir)")
    ap.add_argument("--no-readme", action="store_true", help="do not rewrite README.md")
    ap.add_argument("--split-seed", type=int, default=SPLIT_SEED,
                    help="another train/test split (results in results/other_splits/)")
    ap.add_argument("--within-train", action="store_true",
                    help="split the protocol's training rows only, for development "
                         "(results in results/dev_splits/)")
    args = ap.parse_args(argv)
    if args.split_seed < 0:
        ap.error(f"--split-seed must be 0 or more, got {args.split_seed}")
    # kept out of the protocol's tables
    other_split = args.split_seed != SPLIT_SEED or args.within_train

    tasks = load_tasks()
    if args.tasks:
        unknown = set(args.tasks) - {t["name"] for t in tasks}
        if unknown:
            ap.error(f"unknown tasks: {', '.join(sorted(unknown))}")
        tasks = [t for t in tasks if t["name"] in args.tasks]

    started = dt.datetime.now(dt.timezone.utc)
    run_id = started.strftime("%Y%m%dT%H%M%SZ")
    work = Path(args.work_dir or tempfile.mkdtemp(prefix=f"text2ml-bench-{run_id}-"))
    results_dir = RESULTS_DIR / ("dev_splits" if args.within_train
                                 else "other_splits" if other_split else "")
    results_dir.mkdir(parents=True, exist_ok=True)
    results_file = results_dir / f"{run_id}.json"
    run = {
        "run_id": run_id, "started": started.isoformat(timespec="seconds"),
        "command": " ".join([".venv/bin/python", "benchmarks/run_benchmarks.py",
                             *map(shlex.quote, sys.argv[1:] if argv is None else argv)]),
        "machine": machine_info(), "versions": versions(), "work_dir": str(work),
        "protocol": {"test_size": 0.25, "split_seed": args.split_seed,
                     "within_train": args.within_train,
                     "budget_slack": BUDGET_SLACK},
        "records": [],
    }
    systems = [s for s in SYSTEMS if s in args.systems]
    if "text2ml" in systems:
        ok, why = engine_available()
        run["engine_import"] = "ok" if ok else why
        if not ok:
            print(f"text2ml engine not importable: {why}", flush=True)

    def save():
        results_file.write_text(json.dumps(run, indent=1, default=str))

    import pandas as pd  # noqa: F401  (after argparse: --help stays fast)

    splits = {t["name"]: prepare_split(t, work, args.split_seed, args.within_train)
              for t in tasks}
    for budget in args.budgets:
        for task in tasks:
            split_dir = splits[task["name"]]
            test, pos = saved_split(work, task)
            for system in systems:
                base = {"task": task["name"], "budget": budget, "system": system,
                        "metric": task["metric"], "direction": direction(task["metric"]),
                        "run_id": run_id}
                if system == "text2ml" and run.get("engine_import") != "ok":
                    rec = {**base, "status": "unavailable", "error": run.get("engine_import")}
                else:
                    out = work / f"b{budget:g}" / task["name"] / system
                    print(f"[{dt.datetime.now():%H:%M:%S}] {task['name']} budget={budget:g}s "
                          f"{system} ...", flush=True)
                    rec = {**base, **run_call(system, split_dir, budget, out,
                                              args.timeout_factor * budget + 120)}
                    score_record(rec, task, test, pos, out)
                    if system == "text2ml":  # the engine may change between calls
                        rec["text2ml_commit"] = versions().get("text2ml_commit")
                    if "wall_time" in rec:
                        rec["within_budget"] = rec["wall_time"] <= BUDGET_SLACK * budget
                        if system == "text2ml" and not rec["within_budget"]:
                            rec.setdefault("details", {}).setdefault("problems", []).append(
                                f"OVER BUDGET: {rec['wall_time']:.1f} s for a {budget:g} s "
                                f"budget ({rec['wall_time'] / budget:.2f} × budget; the limit "
                                f"is {BUDGET_SLACK} ×)")
                rec["finished"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
                run["records"].append(rec)
                save()
                print(f"    -> {rec.get('status')} score={rec.get('score')} "
                      f"wall={rec.get('wall_time')} peak={rec.get('peak_rss_tree_mb')} MB "
                      f"{rec.get('error') or ''}", flush=True)
                for p in (rec.get("details") or {}).get("problems", []):
                    print(f"    !! {p}", flush=True)
    run["finished"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    save()
    add_significance(results_file)
    print(f"results: {results_file}")
    if not args.no_readme and not other_split:
        write_readme()
        print(f"README: {README}")
    return 0


# ----------------------------------------------------------------------------- noise

N_BOOTSTRAP = 1000


def paired_bootstrap(task: dict[str, Any], y_true, pred_a: dict, pred_b: dict, pos,
                     n: int = N_BOOTSTRAP, seed: int = 0) -> dict[str, Any]:
    """Score difference a - b on the held-out rows, with a 95% interval from resampling
    those rows (the same resample for both systems)."""
    import numpy as np
    import pandas as pd

    from scipy.stats import rankdata

    y = pd.Series(y_true).reset_index(drop=True)
    metric, yv = task["metric"], y.to_numpy()
    diff = (score(task, y, pred_a["y_pred"], pred_a["proba"], pred_a["classes"], pos_label=pos)
            - score(task, y, pred_b["y_pred"], pred_b["proba"], pred_b["classes"], pos_label=pos))

    def prepared(pred):
        """What the fast numpy metric below needs, per row."""
        if metric == "roc_auc":
            col = [i for i, c in enumerate(pred["classes"]) if str(c) == str(pos)][0]
            return np.asarray(pred["proba"], dtype=float)[:, col]
        yp = np.asarray(pred["y_pred"])
        if metric in ("mae", "rmse"):
            return yp.astype(float) - yv.astype(float)
        if metric == "f1":
            return yp == pos
        return yp == yv  # accuracy

    truth = yv == pos if task["type"] == "binary" else yv

    def fast(v, idx):
        if metric == "mae":
            return np.abs(v[idx]).mean()
        if metric == "rmse":
            return np.sqrt((v[idx] ** 2).mean())
        if metric == "accuracy":
            return v[idx].mean()
        t = truth[idx]
        if metric == "f1":
            p = v[idx]
            tp = np.sum(p & t)
            return 2 * tp / (2 * tp + np.sum(p & ~t) + np.sum(~p & t))
        n_pos = t.sum()  # roc_auc, binary: the Mann-Whitney statistic
        if n_pos in (0, len(t)):
            return np.nan
        ranks = rankdata(v[idx])
        return (ranks[t].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * (len(t) - n_pos))

    if metric == "roc_auc" and task["type"] != "binary":
        return {"diff": float(diff)}  # (no multiclass AUC task in the set)
    va, vb = prepared(pred_a), prepared(pred_b)
    every = np.arange(len(y))
    full = fast(va, every) - fast(vb, every)  # float32 predictions (FLAML): loose tolerance
    assert abs(full - diff) <= 1e-4 * max(1.0, abs(fast(va, every))), "fast metric disagrees"
    rng = np.random.default_rng(seed)
    diffs = []
    for _ in range(n):
        idx = rng.integers(0, len(y), len(y))
        d = fast(va, idx) - fast(vb, idx)
        if np.isfinite(d):
            diffs.append(d)
    lo, hi = np.percentile(diffs, [2.5, 97.5])
    return {"diff": float(diff), "ci95": [float(lo), float(hi)], "n_boot": len(diffs),
            "significant": bool(lo > 0 or hi < 0)}


def add_significance(results_file: Path) -> None:
    """Paired bootstrap of text2ml against each baseline, from the run's saved predictions
    (in its work folder); stored on the text2ml record as ``vs``. A baseline this run did
    not call (``--systems text2ml``) is taken from the newest earlier run on the same split
    whose work folder still exists, as the README's tables pair them. Also usable after the
    fact: ``run_benchmarks.py --significance benchmarks/results/RUN.json``."""
    data = json.loads(results_file.read_text())
    work = Path(data["work_dir"])
    tasks = {t["name"]: t for t in load_tasks()}
    by_key = {(r["task"], float(r["budget"]), r["system"]): r for r in data["records"]}
    earlier: list[dict] | None = None  # the other runs on this split, read when needed
    changed = False
    for (name, budget, system), rec in by_key.items():
        if system != "text2ml" or rec.get("status") != "ok":
            continue
        task = tasks[name]
        try:
            test, pos = saved_split(work, task)
            mine = saved_prediction(work, budget, name, "text2ml")
        except (OSError, EOFError, pickle.UnpicklingError):
            continue
        for other in ("flaml", "hgb"):
            key = (name, budget, other)
            if key in by_key:
                orec, owork = by_key[key], work
            else:
                if earlier is None:
                    earlier = _runs_on_split(results_file, data["protocol"])
                orec, owork = _earlier(earlier, key, test.index)
            if not orec or orec.get("status") != "ok":
                continue
            try:
                theirs = saved_prediction(owork, budget, name, other)
            except (OSError, EOFError, pickle.UnpicklingError):
                continue
            found = paired_bootstrap(task, test[task["target"]], mine, theirs, pos)
            if owork != work:
                found["run_id"] = orec["run_id"]  # the baseline's own run
            rec.setdefault("vs", {})[other] = found
            changed = True
    if changed:
        results_file.write_text(json.dumps(data, indent=1, default=str))


def _runs_on_split(results_file: Path, protocol: dict[str, Any]) -> list[dict]:
    """The other run files of the same folder and split, newest first."""
    same = ("split_seed", "within_train")
    runs = []
    for path in sorted(results_file.parent.glob("*.json"), reverse=True):
        if path == results_file:
            continue
        run = json.loads(path.read_text())
        if all(run.get("protocol", {}).get(k, False) == protocol.get(k, False) for k in same):
            runs.append(run)
    return runs


def _earlier(runs: list[dict], key: tuple[str, float, str], test_index: Any
             ) -> tuple[dict | None, Path | None]:
    """The newest ok record of ``key`` (task, budget, system) in ``runs`` whose work folder
    holds that split's very test rows, with that folder."""
    import pandas as pd

    name = key[0]
    for run in runs:
        for rec in run.get("records", []):
            if (rec["task"], float(rec["budget"]), rec["system"]) != key \
                    or rec.get("status") != "ok":
                continue
            owork = Path(run["work_dir"])
            try:
                if not pd.read_pickle(owork / "splits" / name / "test.pkl").index.equals(
                        test_index):
                    continue
            except OSError:
                continue
            return rec, owork
    return None, None


# ----------------------------------------------------------------------------- the README

def load_latest(results_dir: Path = RESULTS_DIR) -> tuple[dict, list[dict]]:
    """The newest record of every (task, budget, system), and the runs they come from."""
    latest: dict[tuple, dict] = {}
    runs: dict[str, dict] = {}
    for f in sorted(results_dir.glob("*.json")):
        data = json.loads(f.read_text())
        for rec in data.get("records", []):
            key = (rec["task"], float(rec["budget"]), rec["system"])
            if key not in latest or rec.get("finished", "") >= latest[key].get("finished", ""):
                latest[key] = rec
                runs[data["run_id"]] = data
    used = {r["run_id"] for r in latest.values()}
    return latest, [runs[r] for r in sorted(used)]


def _cell(rec: dict | None) -> str:
    if rec is None:
        return "not run"
    if rec.get("status") != "ok":
        return rec.get("status", "?")
    return fmt_score(rec.get("score"))


def _time(rec: dict | None) -> str:
    if rec is None or rec.get("wall_time") is None:
        return "—"
    return f"{rec['wall_time']:.1f}"


def _cmp(metric: str, a: dict | None, b: dict | None) -> str:
    if not a or not b or a.get("score") is None or b.get("score") is None:
        return "—"
    if abs(a["score"] - b["score"]) <= 1e-9:
        return "tie"
    word = "better" if at_least_as_good(metric, a["score"], b["score"]) else "worse"
    vs = (a.get("vs") or {}).get(b.get("system"))
    # bootstrapped against this very record (of this run, or of the earlier run it names)
    if vs and vs.get("run_id", a.get("run_id")) == b.get("run_id"):
        word += "" if vs["significant"] else " (n.s.)"
    return word


def _floor_phrase(ratios: list[tuple[float, str]], n_both: int) -> str:
    """The target's second clause: on how many tasks text2ml scores at least FLOOR x
    FLAML's score (a task where text2ml has no score counts as below), and the worst."""
    if not ratios:
        return f"text2ml ≥ {FLOOR:g} × FLAML on 0 of {n_both}"
    worst, where = min(ratios)
    above = sum(ratio >= FLOOR for ratio, _ in ratios)
    return (f"text2ml ≥ {FLOOR:g} × FLAML on {above} of {n_both} "
            f"(lowest {worst:.4f} ×, {where})")


def render(latest: dict[tuple, dict], runs: list[dict]) -> str:
    tasks = [t for t in load_tasks() if any(k[0] == t["name"] for k in latest)]
    budgets = sorted({k[1] for k in latest})
    lines = []
    for budget in budgets:
        get = lambda t, s, b=budget: latest.get((t, b, s))  # noqa: E731
        lines += [f"### Budget {budget:g} s", "",
                  "| task | metric | text2ml | FLAML | HGB-default | text2ml s | FLAML s | "
                  "HGB s | text2ml vs FLAML | text2ml vs HGB |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        n_ge, n_ge_hgb, n_both, n_both_hgb, n_in, n_t = 0, 0, 0, 0, 0, 0
        ratios: list[tuple[float, str]] = []  # text2ml's score as a multiple of FLAML's
        for t in tasks:
            name, metric = t["name"], t["metric"]
            t2, fl, hg = get(name, "text2ml"), get(name, "flaml"), get(name, "hgb")
            if t2 is None and fl is None and hg is None:
                continue
            arrow = "↑" if direction(metric) == "maximize" else "↓"
            t2_time = _time(t2)
            if t2 and t2.get("wall_time") is not None and not t2.get("within_budget"):
                t2_time += " (over 1.1×)"
            lines.append(f"| {name} | {metric} {arrow} | {_cell(t2)} | {_cell(fl)} | {_cell(hg)} "
                         f"| {t2_time} | {_time(fl)} | {_time(hg)} | {_cmp(metric, t2, fl)} "
                         f"| {_cmp(metric, t2, hg)} |")
            ge = at_least_as_good(metric, (t2 or {}).get("score"), (fl or {}).get("score"))
            if fl and fl.get("score") is not None:
                n_both += 1
                n_ge += bool(ge)
                if t2 and t2.get("score") is not None:
                    ratios.append((relative(metric, t2["score"], fl["score"]), name))
            ge_h = at_least_as_good(metric, (t2 or {}).get("score"), (hg or {}).get("score"))
            if hg and hg.get("score") is not None:
                n_both_hgb += 1
                n_ge_hgb += bool(ge_h)
            if t2 is not None and t2.get("status") not in ("unavailable",):
                n_t += 1
                n_in += bool(t2.get("within_budget"))
        if n_t:  # a text2ml call that failed counts as not at least as good
            lines += ["", f"**text2ml ≥ FLAML on {n_ge} of {n_both} at {budget:g} s**; "
                      f"{_floor_phrase(ratios, n_both)}; "
                      f"text2ml ≥ HGB-default on {n_ge_hgb} of {n_both_hgb}; "
                      f"text2ml within 1.1 × budget on {n_in} of {n_t}.", ""]
        else:
            lines += ["", f"text2ml not run at {budget:g} s (engine not importable yet): "
                      "baselines only.", ""]
        mem = ["| task | text2ml MB | FLAML MB | HGB MB | text2ml trials | text2ml model | "
               "text2ml CV score | FLAML best model | machine load |",
               "|---|---|---|---|---|---|---|---|---|"]
        for t in tasks:
            t2, fl, hg = (get(t["name"], s) for s in SYSTEMS)
            if t2 is None and fl is None and hg is None:
                continue
            mb = lambda r: "—" if not r or r.get("peak_rss_tree_mb") is None \
                else f"{r['peak_rss_tree_mb']:.0f}"  # noqa: E731
            trials = ((t2 or {}).get("details") or {}).get("n_trials")
            best = ((fl or {}).get("details") or {}).get("best_estimator")
            chosen = (((t2 or {}).get("details") or {}).get("chosen") or {}).get("model")
            loads = [x for r in (t2, fl, hg) if r for x in r.get("load_avg_1m", [])]
            load = f"{max(loads):.1f}" if loads else "—"
            mem.append(f"| {t['name']} | {mb(t2)} | {mb(fl)} | {mb(hg)} | "
                       f"{'—' if trials is None else trials} | {chosen or '—'} | "
                       f"{fmt_score(((t2 or {}).get('details') or {}).get('best_score'))} | "
                       f"{best or '—'} | {load} |")
        lines += ["Peak memory (sum of RSS over the call's process tree, sampled every 0.2 s), "
                  "text2ml's trial count, chosen model candidate and its own validation score "
                  "(on the training rows), FLAML's chosen learner, "
                  "and the highest 1-minute load average seen at the start or end of the "
                  "task's calls (above 2 = other work competed for the 2 cores):", "",
                  *mem, ""]
        notes = []
        for t in tasks:
            for s in SYSTEMS:
                r = get(t["name"], s)
                if not r:
                    continue
                if r.get("status") not in ("ok",):
                    first = (r.get("error") or "").splitlines()[0][:300] if r.get("error") else ""
                    notes.append(f"- {t['name']} / {SYSTEM_LABEL[s]}: "
                                 f"**{r.get('status')}** {first}")
                for p in (r.get("details") or {}).get("problems", []):
                    notes.append(f"- {t['name']} / {SYSTEM_LABEL[s]}: {p}")
        if notes:
            lines += ["Problems seen:", "", *notes, ""]
        moved = spread(budget)
        if moved:
            lines += ["Spread of the held-out score over every run recorded at this budget "
                      "(benchmarks/results/*.json; FLAML's search depends on how much CPU it "
                      "got, text2ml's also on the engine version of each run; HGB-default is "
                      "deterministic):", "", *moved, ""]
    lines += ["### Runs behind these numbers", ""]
    for r in runs:
        m, v = r["machine"], r["versions"]
        vs = ", ".join(f"{k} {v[k]}" for k in ("text2ml-jupyter", "text2ml_commit", "flaml",
                                                "scikit-learn", "lightgbm", "pandas",
                                                "optuna") if k in v)
        lines.append(f"- `{r['run_id']}` ({r['started']}): `{r['command']}` on "
                     f"{m['nproc']} × {m['cpu_model']}, {m.get('memory_gb')} GB, "
                     f"Python {m['python']}; {vs}")
    return "\n".join(lines)


def spread(budget: float, results_dir: Path = RESULTS_DIR) -> list[str]:
    """Lines on how far the same (task, system) moved between recorded runs at a budget:
    the noise floor of a fixed-time comparison on a shared machine."""
    scores: dict[tuple, list[float]] = {}
    for f in sorted(results_dir.glob("*.json")):
        for rec in json.loads(f.read_text()).get("records", []):
            if float(rec["budget"]) == budget and rec.get("score") is not None:
                scores.setdefault((rec["task"], rec["system"]), []).append(rec["score"])
    out = []
    for t in load_tasks():
        parts = [f"{SYSTEM_LABEL[s]} {fmt_score(min(v))}–{fmt_score(max(v))} ({len(v)} runs)"
                 for s in SYSTEMS if len(v := scores.get((t["name"], s), [])) > 1
                 and max(v) - min(v) > 1e-12]
        if parts:
            out.append(f"- {t['name']}: " + "; ".join(parts))
    return out


def write_readme() -> None:
    latest, runs = load_latest()
    body = render(latest, runs)
    text = README.read_text() if README.exists() else f"# Benchmarks\n\n{BEGIN}\n{END}\n"
    if BEGIN not in text or END not in text:
        text += f"\n## Results\n\n{BEGIN}\n{END}\n"
    head, rest = text.split(BEGIN, 1)
    tail = rest.split(END, 1)[1]
    README.write_text(f"{head}{BEGIN}\n{body}\n{END}{tail}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--readme-only":
        write_readme()
        sys.exit(0)
    if len(sys.argv) > 2 and sys.argv[1] == "--significance":
        for f in sys.argv[2:]:
            add_significance(Path(f))
        write_readme()
        sys.exit(0)
    sys.exit(main())
