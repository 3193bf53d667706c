"""The quality target's verdict on other splits: one row per split seed, from run files.

    .venv/bin/python benchmarks/splits_table.py benchmarks/results/other_splits/RUN.json ...

``run_benchmarks.py --split-seed N`` writes its records to ``results/other_splits/``, outside
the protocol's tables. This prints, for the given run files and one budget, a markdown table
of the held-out scores (text2ml / FLAML, * where the paired bootstrap finds the difference
significant) and the target's two tests per split: text2ml at least as good as FLAML on how
many tasks (the target: all but one of the seven), and its worst score as a multiple of
FLAML's (the floor is 0.97); "target met" only where all seven tasks were run. Records are
grouped by the split seed of their run; the newest record of a (split, task, system) wins.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _common import (FLOOR, at_least_as_good, fmt_score, load_tasks,  # noqa: E402
                     relative)


def collect(files: list[Path], budget: float) -> dict[int, dict[tuple[str, str], dict]]:
    """{split seed: {(task, system): newest record}} for the records at ``budget``."""
    by_split: dict[int, dict[tuple[str, str], dict]] = {}
    for path in sorted(files):  # run ids are timestamps: later files overwrite earlier ones
        run = json.loads(path.read_text())
        seed = int(run["protocol"]["split_seed"])
        for rec in run.get("records", []):
            if float(rec["budget"]) == budget and rec.get("score") is not None:
                by_split.setdefault(seed, {})[(rec["task"], rec["system"])] = rec
    return by_split


def _cell(ours: dict, theirs: dict, better: bool) -> str:
    star = "*" if (ours.get("vs") or {}).get("flaml", {}).get("significant") else ""
    first, second = fmt_score(ours["score"]), fmt_score(theirs["score"])
    if better:
        first = f"**{first}**"
    else:
        second = f"**{second}**"
    return f"{first}{star} / {second}"


def render(by_split: dict[int, dict[tuple[str, str], dict]], budget: float) -> str:
    every = [t["name"] for t in load_tasks()]
    names = [n for n in every if any((n, "text2ml") in recs for recs in by_split.values())]
    lines = [f"| split seed ({budget:g} s) | " + " | ".join(names)
             + " | text2ml ≥ FLAML | worst × FLAML | target met |",
             "|" + "---|" * (len(names) + 4)]
    for seed in sorted(by_split):
        recs = by_split[seed]
        cells, wins, ratios = [], 0, []
        for name in names:
            ours, theirs = recs.get((name, "text2ml")), recs.get((name, "flaml"))
            if ours is None or theirs is None:
                cells.append("not run")
                continue
            better = bool(at_least_as_good(ours["metric"], ours["score"], theirs["score"]))
            cells.append(_cell(ours, theirs, better))
            wins += better
            ratios.append((relative(ours["metric"], ours["score"], theirs["score"]), name))
        worst, where = min(ratios) if ratios else (float("nan"), "—")
        if len(ratios) < len(every):  # the target is judged on all the tasks
            met = "—"
        else:
            met = "yes" if wins >= len(every) - 1 and worst >= FLOOR else "no"
        lines.append(f"| {seed} | " + " | ".join(cells)
                     + f" | {wins} of {len(ratios)} | {worst:.4f} ({where}) | {met} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("files", nargs="+", type=Path, help="run files (results/other_splits/)")
    ap.add_argument("--budget", type=float, default=30.0, help="the budget to tabulate")
    args = ap.parse_args(argv)
    missing = [str(f) for f in args.files if not f.is_file()]
    if missing:
        ap.error(f"no such run file: {', '.join(missing)}")
    by_split = collect(args.files, args.budget)
    if not by_split:
        ap.error(f"no records at a budget of {args.budget:g} s in the given files")
    print(render(by_split, args.budget))
    return 0


if __name__ == "__main__":
    sys.exit(main())
