"""What the workers' audit hook (text2ml_jupyter._guard) costs: the same cross-validated
pipeline fits, timed in two fresh interpreters side by side, one with the hook installed.

    python benchmarks/guard_overhead.py [--repeats 5] [--model hgb|logistic|svc]

Prints seconds per 5-fold cross-validation with and without the hook, their ratio, and how
many audit events one cross-validation raises. The models differ in how much of a fit is
Python (many small numpy calls, many audit events) rather than compiled loops: boosting is
mostly compiled, a logistic regression or an SVM on a few hundred rows much less so.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

_CHILD = r"""
import json, sys, time
from pathlib import Path
import pandas as pd
from sklearn.compose import make_column_transformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.svm import SVC
from sklearn.impute import SimpleImputer
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

frame = pd.read_csv(sys.argv[1])
y = frame.pop("survived")
X = frame[["pclass", "sex", "age", "sibsp", "parch", "fare", "embarked"]]
pipeline = make_pipeline(
    make_column_transformer(
        (make_pipeline(SimpleImputer(strategy="most_frequent"),
                       OneHotEncoder(handle_unknown="ignore")), ["sex", "embarked"]),
        (make_pipeline(SimpleImputer(),  # scaled for the linear models only
                       "passthrough" if sys.argv[5] == "hgb" else StandardScaler()),
         ["pclass", "age", "sibsp", "parch", "fare"])),
    {"hgb": HistGradientBoostingClassifier(max_iter=100, random_state=0),
     "logistic": LogisticRegression(max_iter=1000),
     "svc": SVC(probability=True, random_state=0)}[sys.argv[5]])
cross_val_score(pipeline, X, y, cv=5)  # warm: imports and first-call caches
if sys.argv[2] == "guard":
    from text2ml_jupyter import _guard
    _guard.install(Path(sys.argv[3]))
times = []
for _ in range(int(sys.argv[4])):
    started = time.perf_counter()
    cross_val_score(pipeline, X, y, cv=5)
    times.append(time.perf_counter() - started)

# The cost of one event of each common kind, in a tight loop (steadier than whole fits).
try:
    raise ValueError
except ValueError as error:
    tb = error.__traceback__
marker = object()
loops = {"builtins.id": lambda: id(marker), "object.__getattr__": lambda: tb.tb_frame,
         "sys._getframe": lambda: sys._getframe()}
per_event = {}
for kind, call in loops.items():
    best = float("inf")
    for _ in range(7):
        started = time.perf_counter()
        for _ in range(50_000):
            call()
        best = min(best, time.perf_counter() - started)
    per_event[kind] = best / 50_000 * 1e6

# Counted last: a counting hook costs time of its own.
events = {}
sys.addaudithook(lambda event, args: events.__setitem__(event, events.get(event, 0) + 1))
cross_val_score(pipeline, X, y, cv=5)
print(json.dumps({"seconds": sorted(times)[len(times) // 2], "per_event_us": per_event,
                  "events": events}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--model", choices=("hgb", "logistic", "svc"), default="hgb")
    args = parser.parse_args()
    data = Path(__file__).resolve().parent.parent / "tests" / "data" / "titanic.csv"
    results: dict[str, list[dict[str, float]]] = {}
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")  # as in workers
    with tempfile.TemporaryDirectory() as scratch:
        for mode in ("plain", "guard", "plain", "guard"):  # interleaved: load drifts
            out = subprocess.run([sys.executable, "-c", _CHILD, str(data), mode, scratch,
                                  str(args.repeats), args.model], capture_output=True, text=True,
                                 check=True, env=env)
            results.setdefault(mode, []).append(json.loads(out.stdout))
    plain = min(r["seconds"] for r in results["plain"])
    guard = min(r["seconds"] for r in results["guard"])
    events = results["guard"][0]["events"]  # the guard's own sys._getframe calls included
    print(f"{args.model}, 5-fold CV, plain: {plain:.3f} s; with the audit hook: {guard:.3f} s; "
          f"ratio {guard / plain:.3f}; audit events per CV: {sum(events.values())}")
    # Per event: the loop's time with the hook less without it (a call's own cost).
    extra = 0.0
    for kind in results["plain"][0]["per_event_us"]:
        without = min(r["per_event_us"][kind] for r in results["plain"])
        with_hook = min(r["per_event_us"][kind] for r in results["guard"])
        count = events.get(kind, 0)
        extra += count * (with_hook - without) / 1e6
        print(f"  {kind}: {with_hook - without:.2f} us per event, {count} per CV")
    print(f"  these events' hook time per CV: {extra * 1e3:.1f} ms = {extra / plain:.1%} "
          "of the plain CV")


if __name__ == "__main__":
    main()
