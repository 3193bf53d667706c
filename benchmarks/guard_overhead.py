"""What the workers' audit hook (text2ml_jupyter._guard) costs: the same cross-validated
pipeline fits, timed in two fresh interpreters side by side, one with the hook installed.

    python benchmarks/guard_overhead.py [--repeats 5]

Prints seconds per 5-fold cross-validation with and without the hook, their ratio, and how
many audit events one cross-validation raises.
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
from sklearn.impute import SimpleImputer
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

frame = pd.read_csv(sys.argv[1])
y = frame.pop("survived")
X = frame[["pclass", "sex", "age", "sibsp", "parch", "fare", "embarked"]]
pipeline = make_pipeline(
    make_column_transformer(
        (make_pipeline(SimpleImputer(strategy="most_frequent"),
                       OneHotEncoder(handle_unknown="ignore")), ["sex", "embarked"]),
        (SimpleImputer(), ["pclass", "age", "sibsp", "parch", "fare"])),
    HistGradientBoostingClassifier(max_iter=100, random_state=0))
cross_val_score(pipeline, X, y, cv=5)  # warm: imports and first-call caches
events = [0]
if sys.argv[2] == "guard":
    from text2ml_jupyter import _guard
    _guard.install(Path(sys.argv[3]))
    sys.addaudithook(lambda event, args: events.__setitem__(0, events[0] + 1))
times = []
for _ in range(int(sys.argv[4])):
    started = time.perf_counter()
    cross_val_score(pipeline, X, y, cv=5)
    times.append(time.perf_counter() - started)
print(json.dumps({"seconds": sorted(times)[len(times) // 2],
                  "events": events[0] // int(sys.argv[4])}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    data = Path(__file__).resolve().parent.parent / "tests" / "data" / "titanic.csv"
    results: dict[str, list[dict[str, float]]] = {}
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")  # as in workers
    with tempfile.TemporaryDirectory() as scratch:
        for mode in ("plain", "guard", "plain", "guard"):  # interleaved: load drifts
            out = subprocess.run([sys.executable, "-c", _CHILD, str(data), mode, scratch,
                                  str(args.repeats)], capture_output=True, text=True,
                                 check=True, env=env)
            results.setdefault(mode, []).append(json.loads(out.stdout))
    plain = min(r["seconds"] for r in results["plain"])
    guard = min(r["seconds"] for r in results["guard"])
    print(f"5-fold CV, plain: {plain:.3f} s; with the audit hook: {guard:.3f} s; "
          f"ratio {guard / plain:.3f}; audit events per CV: {results['guard'][0]['events']}")


if __name__ == "__main__":
    main()
