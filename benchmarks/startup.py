"""How long ``%load_ext text2ml_jupyter`` takes, and which heavy modules it imports.

    .venv/bin/python benchmarks/startup.py [--repeats 15]

Each repeat is a fresh interpreter that first creates an IPython ``InteractiveShell`` (not
timed: a notebook kernel has one before any cell runs), then times
``shell.run_line_magic("load_ext", "text2ml_jupyter")`` and lists which of the heavy
modules (optuna, sklearn, pandas, openai, ipywidgets, numpy) are in ``sys.modules``
afterwards. Target: under 0.5 s, with every heavy import deferred until a run needs it.
Writes benchmarks/results/startup-<time>.json and prints a table.
"""

from __future__ import annotations

import argparse
import sys

import _perf_common as pc

HEAVY = ("optuna", "sklearn", "pandas", "openai", "ipywidgets", "numpy")
TARGET_SECONDS = 0.5

# The child (python -c _CHILD HEAVY --child-out FILE): nothing of the benchmark's own is
# imported before the measurement.
_CHILD = r"""
import json, sys, time
out = sys.argv[sys.argv.index("--child-out") + 1]
from IPython.core.interactiveshell import InteractiveShell
started = time.perf_counter()
shell = InteractiveShell.instance()
shell_seconds = time.perf_counter() - started
before = set(sys.modules)
started = time.perf_counter()
shell.run_line_magic("load_ext", "text2ml_jupyter")
seconds = time.perf_counter() - started
new = set(sys.modules) - before
heavy = sys.argv[1].split(",")
result = {
    "load_ext_seconds": seconds,
    "shell_seconds": shell_seconds,
    "heavy_before": sorted(m for m in heavy if m in before),
    "heavy_after": sorted(m for m in heavy if m in sys.modules),
    "new_modules": len(new),
    "new_top_level": sorted({m.split(".")[0] for m in new}),
    "magics": sorted(name for kind in ("line", "cell")
                     for name in shell.magics_manager.magics[kind] if "text2ml" in name),
}
open(out, "w").write(json.dumps(result))
"""


def one_repeat() -> dict:
    """One fresh interpreter; its JSON result plus load averages and process time."""
    return pc.run_child(["-c", _CHILD, ",".join(HEAVY)], timeout=120)


def summarize(records: list[dict]) -> dict:
    ok = [r for r in records if r.get("status") == "ok"]
    times = sorted(r["load_ext_seconds"] for r in ok)
    heavy = sorted({m for r in ok for m in r["heavy_after"]})
    return {"repeats": len(records), "ok": len(ok),
            "median_s": pc.median(times), "max_s": max(times) if times else None,
            "min_s": min(times) if times else None,
            "heavy_after_load_ext": heavy,
            "heavy_before_load_ext": sorted({m for r in ok for m in r["heavy_before"]}),
            "new_top_level": ok[0]["new_top_level"] if ok else [],
            "magics": ok[0]["magics"] if ok else [],
            "load_span": pc.load_span(records)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=15,
                        help="fresh interpreters to time (default 15)")
    args = parser.parse_args(argv)
    run = pc.new_run("startup", sys.argv[1:] if argv is None else argv)
    for i in range(args.repeats):
        record = one_repeat()
        record["repeat"] = i
        run["measurements"].append(record)
        print(f"  repeat {i + 1}/{args.repeats}: "
              f"{record.get('load_ext_seconds', float('nan')):.3f} s "
              f"(load {record['load_avg_1m'][0]:.2f}->{record['load_avg_1m'][1]:.2f}) "
              f"{record['status']}", flush=True)
    run["summary"] = summary = summarize(run["measurements"])
    path = pc.finish(run)
    print(pc.table(
        ["repeats", "median", "min", "max", f"target < {TARGET_SECONDS} s",
         "heavy modules after load_ext", "load avg 1 min"],
        [[summary["ok"], pc.fmt(summary["median_s"], 3) + " s", pc.fmt(summary["min_s"], 3)
          + " s", pc.fmt(summary["max_s"], 3) + " s",
          "met" if summary["max_s"] is not None and summary["max_s"] < TARGET_SECONDS
          else "missed", ", ".join(summary["heavy_after_load_ext"]) or "none",
          summary["load_span"]]]))
    print(f"top-level packages imported by load_ext: {', '.join(summary['new_top_level'])}")
    print(f"magics registered: {', '.join(summary['magics'])}")
    print(f"results: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
