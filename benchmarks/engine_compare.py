"""Two engine versions side by side: text2ml's held-out scores from two groups of run files.

    .venv/bin/python benchmarks/engine_compare.py --a RUN.json ... --b RUN.json ...

For studying an engine change on development splits (``run_benchmarks.py --within-train
--split-seed N``, records in ``results/dev_splits/``) before the protocol's held-out rows see
it. Records are paired by (split, task, budget); for each pair this prints A's and B's score,
B's as a multiple of A's (above 1 when B is better, for error metrics too) and whether the
paired bootstrap over the same held-out rows finds the difference significant (from the
predictions in both runs' work folders, while they exist). The summary counts B's wins,
ties and losses and gives the geometric mean of the multiples. Run the same engine as A and
B to see how far one engine's runs differ from each other (the search is timed, so two runs
of one engine do not give the same pipeline).
"""

from __future__ import annotations

import argparse
import json
import math
import pickle
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _common import fmt_score, load_tasks, relative  # noqa: E402

Key = tuple[bool, int, str, float]  # (within_train, split seed, task, budget)


def collect(files: list[Path]) -> dict[Key, tuple[dict, Path]]:
    """{key: (newest text2ml record, its run's work folder)}."""
    found: dict[Key, tuple[dict, Path]] = {}
    for path in sorted(files):  # run ids are timestamps: later files overwrite earlier ones
        run = json.loads(path.read_text())
        proto = run["protocol"]
        for rec in run.get("records", []):
            if rec["system"] == "text2ml" and rec.get("score") is not None:
                key = (bool(proto.get("within_train")), int(proto["split_seed"]), rec["task"],
                       float(rec["budget"]))
                found[key] = (rec, Path(run["work_dir"]))
    return found


def _bootstrap(task: dict[str, Any], key: Key, work_a: Path, work_b: Path) -> dict | None:
    """The paired bootstrap of B - A on the split's held-out rows, or None without the files."""
    from run_benchmarks import paired_bootstrap, saved_prediction, saved_split

    _, _, name, budget = key
    try:
        test, pos = saved_split(work_b, task)
        preds = [saved_prediction(work, budget, name, "text2ml") for work in (work_b, work_a)]
    except (OSError, EOFError, pickle.UnpicklingError):
        return None
    return paired_bootstrap(task, test[task["target"]], preds[0], preds[1], pos)


def render(a: dict[Key, tuple[dict, Path]], b: dict[Key, tuple[dict, Path]]) -> str:
    tasks = {t["name"]: t for t in load_tasks()}
    lines = ["| split | task | budget | A | B | B × A | significant |",
             "|---|---|---|---|---|---|---|"]
    ratios = []
    for key in sorted(set(a) & set(b)):
        (rec_a, work_a), (rec_b, work_b) = a[key], b[key]
        ratio = relative(rec_a["metric"], rec_b["score"], rec_a["score"])
        ratios.append(ratio)
        boot = _bootstrap(tasks[key[2]], key, work_a, work_b)
        sig = "—" if boot is None else ("yes" if boot["significant"] else "no")
        split = f"{'dev ' if key[0] else ''}{key[1]}"
        lines.append(f"| {split} | {key[2]} | {key[3]:g} s | {fmt_score(rec_a['score'])} | "
                     f"{fmt_score(rec_b['score'])} | {ratio:.4f} | {sig} |")
    if not ratios:
        return "no (split, task, budget) is in both groups"
    wins = sum(r > 1 for r in ratios)
    ties = sum(r == 1 for r in ratios)
    geomean = math.exp(sum(math.log(r) for r in ratios) / len(ratios))
    lines.append("")
    lines.append(f"B better on {wins}, tied on {ties}, worse on {len(ratios) - wins - ties} of "
                 f"{len(ratios)}; geometric mean of B × A: {geomean:.4f} "
                 f"(worst {min(ratios):.4f}, best {max(ratios):.4f})")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--a", nargs="+", type=Path, required=True, help="run files of engine A")
    ap.add_argument("--b", nargs="+", type=Path, required=True, help="run files of engine B")
    args = ap.parse_args(argv)
    print(render(collect(args.a), collect(args.b)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
