"""Two threads in one worker against one: what the large-data default (one worker with a
thread per core, ``engine.default_workers``) buys for the model that wins there.

    .venv/bin/python benchmarks/threads.py [--rows 125000] [--rounds 5] [--busy 0 2]

Each measurement is a fresh child process started with one thread for the numeric libraries,
as a worker forked from the fork server is, that raises them with ``threadpoolctl`` (as
``sandbox._apply_threads`` does) and times one HistGradientBoosting fit (the configuration
the 1M-row scale runs refit; 100 iterations, no early stopping) on ``--rows`` rows x 20
columns of the scale task's kind of data. Rounds alternate 1 and 2 threads, so each ratio
compares neighbours. ``--busy N`` also runs N processes that spin on a core each during
the fits (a machine loaded by other work). Writes ``results/threads-<time>.json`` and
prints the table.
"""

from __future__ import annotations

import argparse
import subprocess
import sys

from _perf_common import (
    PYTHON,
    SINGLE_THREAD_ENV,
    child_env,
    finish,
    fmt,
    median,
    new_run,
    run_child,
    table,
    write_child_result,
)

_SPIN = "while True: pass"


def child(args: argparse.Namespace) -> int:
    import time

    from sklearn.datasets import make_classification
    from sklearn.ensemble import HistGradientBoostingClassifier
    from threadpoolctl import threadpool_limits

    X, y = make_classification(n_samples=args.rows, n_features=20, n_informative=10,
                               n_redundant=4, n_clusters_per_class=4, class_sep=0.8,
                               flip_y=0.02, random_state=0)
    threadpool_limits(args.threads)
    model = HistGradientBoostingClassifier(
        learning_rate=0.064, max_leaf_nodes=57, min_samples_leaf=68, l2_regularization=0.083,
        max_iter=100, early_stopping=False, random_state=0)
    started = time.perf_counter()
    model.fit(X, y)
    write_child_result(args.child_out, {"seconds": time.perf_counter() - started})
    return 0


def measure(threads: int, rows: int) -> dict:
    result = run_child([__file__, "--child", "--threads", str(threads), "--rows", str(rows)],
                       timeout=600, env=child_env(**SINGLE_THREAD_ENV))
    return {"threads": threads, **result}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=125_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--busy", type=int, nargs="+", default=[0, 2],
                        help="spinning processes during the fits, one setting after another")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--child-out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child(args)
    run = new_run("threads", sys.argv[1:] if argv is None else argv)
    rows = []
    for busy in args.busy:
        spinners = [subprocess.Popen([PYTHON, "-c", _SPIN]) for _ in range(busy)]
        try:
            for number in range(args.rounds):
                for threads in (1, 2):
                    record = {"busy": busy, "round": number, **measure(threads, args.rows)}
                    run["measurements"].append(record)
                    print(f"[threads] busy {busy}, round {number}, {threads} thread(s): "
                          f"{fmt(record.get('seconds'))} s", flush=True)
        finally:
            for spinner in spinners:
                spinner.kill()
                spinner.wait()
        done = [m for m in run["measurements"] if m["busy"] == busy and "seconds" in m]
        by_round: dict[int, dict[int, float]] = {}
        for m in done:
            by_round.setdefault(m["round"], {})[m["threads"]] = m["seconds"]
        one = [r[1] for r in by_round.values() if 1 in r]
        two = [r[2] for r in by_round.values() if 2 in r]
        ratios = [r[1] / r[2] for r in by_round.values() if len(r) == 2]
        rows.append([busy, fmt(median(one)), fmt(median(two)), fmt(median(ratios)),
                     f"{fmt(min(ratios))}–{fmt(max(ratios))}" if ratios else "—"])
    path = finish(run)
    print(table(["busy processes", "1 thread, s (median)", "2 threads, s (median)",
                 "speed-up (median of rounds)", "rounds"], rows))
    print(f"[threads] wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
