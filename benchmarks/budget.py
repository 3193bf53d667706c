"""Does a run keep its time budget? The wall time of the whole ``engine.run(...)`` call
against ``time_budget``, for every task and budget.

    .venv/bin/python benchmarks/budget.py [--budgets 10 30 120 300] [--tasks titanic tips]
                                          [--workers N]

Each (budget, task) is a fresh process that calls ``engine.run`` on the task's whole CSV
(offline provider, seed 0, the engine's default worker count unless --workers) and times
the call itself with ``time.perf_counter()`` around it (the engine import and the CSV read
are before it). Recorded: wall time, its ratio to the budget (target at most 1.05 on every
task and budget), trials, best validation score, the stage times (when the search and the
refit started, when the result was ready), the refit's steps (building the program, the
worker's fit on all rows, loading the fitted pipeline in the caller; timed by wrapping
those functions, the engine unchanged) and the load average at start and end. Budgets run in the
given order, all tasks per budget. Writes benchmarks/results/budget-<time>.json after
every call and prints a table.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

import _perf_common as pc

TASKS = ("titanic", "penguins", "tips", "diamonds", "boston_housing", "adult", "sms_spam")
BUDGETS = (10.0, 30.0, 120.0, 300.0)
TARGET_RATIO = 1.05


def timeline(record: dict[str, Any]) -> dict[str, Any]:
    """When the search and the refit started and the result was ready (wall seconds from
    the start of the call)."""
    out: dict[str, Any] = {}
    for e in record.get("events", []):
        if e["kind"] == "stage" and e["stage"] in ("search", "refit"):
            out.setdefault(e["stage"], round(e["wall"], 2))
            if e["stage"] == "refit" and "sklearn_in_caller" in e:
                out["sklearn_imported_before_refit"] = e["sklearn_in_caller"]
        elif e["kind"] == "timing":  # the refit's steps: seconds each (summed if repeated)
            out[e["what"]] = round(out.get(e["what"], 0.0) + e["seconds"], 2)
            if e["what"] == "load_fitted":
                out["sklearn_imported_after_load_fitted"] = e.get("sklearn_in_caller")
        elif e["kind"] == "done":
            out["done"] = round(e["wall"], 2)
    trials = [e for e in record.get("events", []) if e["kind"] == "trial"]
    if trials:
        out["last_trial"] = round(trials[-1]["wall"], 2)
    return out


def one_call(task: str, budget: float, workers: int | None) -> dict[str, Any]:
    args = [str(Path(__file__).resolve()), "--child-task", task, "--budgets", str(budget)]
    if workers:
        args += ["--workers", str(workers)]
    rec = pc.run_child(args, timeout=3 * budget + 120)
    rec.update(task=task, budget=budget, timeline=timeline(rec))
    rec.pop("events", None)  # the timeline keeps what matters; the JSON stays small
    if rec.get("wall") is not None:
        rec["ratio"] = rec["wall"] / budget
        rec["within_target"] = rec["ratio"] <= TARGET_RATIO
    return rec


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--budgets", type=float, nargs="+", default=list(BUDGETS))
    parser.add_argument("--tasks", nargs="+", default=list(TASKS), choices=TASKS)
    parser.add_argument("--workers", type=int, default=None,
                        help="worker processes (default: the engine's, one per core)")
    parser.add_argument("--child-task", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--child-out", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child_task:
        with tempfile.TemporaryDirectory(prefix="text2ml-budget-") as run_dir:
            result = pc.run_engine(args.child_task, args.budgets[0], n_workers=args.workers,
                                   run_dir=Path(run_dir))
        pc.write_child_result(args.child_out, {"status": "ok", **result})
        return 0

    run = pc.new_run("budget", sys.argv[1:] if argv is None else argv)
    run["protocol"] = {"budgets": args.budgets, "tasks": args.tasks, "workers": args.workers,
                       "provider": "offline", "target_ratio": TARGET_RATIO}
    for budget in args.budgets:
        for task in args.tasks:
            rec = one_call(task, budget, args.workers)
            run["measurements"].append(rec)
            pc.save(run)
            print(f"  {task:15s} budget {budget:g} s: {rec['status']}, wall "
                  f"{pc.fmt(rec.get('wall'))} s (x{pc.fmt(rec.get('ratio'), 3)}), "
                  f"{rec.get('n_trials')} trials, timeline {rec['timeline']} "
                  f"(load {rec['load_avg_1m'][0]:.2f}->{rec['load_avg_1m'][1]:.2f})",
                  flush=True)
    path = pc.finish(run)
    print_table(run["measurements"])
    print(f"results: {path}")
    return 0


def print_table(records: list[dict[str, Any]]) -> None:
    rows = []
    for r in records:
        t = r.get("timeline", {})
        rows.append([r["task"], f"{r['budget']:g}", r["status"], pc.fmt(r.get("wall")),
                     pc.fmt(r.get("ratio"), 3),
                     "—" if r.get("ratio") is None else
                     ("yes" if r["within_target"] else "**no**"),
                     r.get("n_trials", "—"),
                     "—" if r.get("best_score") is None else f"{r['best_score']:.4g}",
                     r.get("metric", "—"), pc.fmt(t.get("refit")),
                     f"{pc.fmt(t.get('assemble_program'))} / {pc.fmt(t.get('refit_call'))} / "
                     f"{pc.fmt(t.get('load_fitted'))}", pc.fmt(t.get("done")),
                     f"{r['load_avg_1m'][0]:.2f}/{r['load_avg_1m'][1]:.2f}"])
    print(pc.table(["task", "budget s", "status", "wall s", "wall / budget",
                    f"≤ {TARGET_RATIO}", "trials", "best (CV)", "metric", "refit starts s",
                    "refit: program / worker fit / load here s", "result ready s",
                    "load start/end"], rows))
    ok = [r for r in records if r.get("ratio") is not None]
    if ok:
        worst = max(ok, key=lambda r: r["ratio"])
        print(f"within {TARGET_RATIO} x budget: {sum(r['within_target'] for r in ok)} of "
              f"{len(records)}; worst {worst['task']} at {worst['budget']:g} s: "
              f"x{worst['ratio']:.3f}")


if __name__ == "__main__":
    sys.exit(main())
