"""Bookkeeping cost per trial of the study's storage: in memory, Optuna's journal file, and
the run's journal (``text2ml_jupyter._journal.RunJournal``, no fsync per append).

A trial here is what the search does in the caller for one trial: ask, 10 suggestions, 5
intermediate reports with a pruning check each, tell. No model is fitted, so the figure is
the storage's own cost. The storages are measured in rounds (A/B/C, A/B/C, ...) in one
process, so a shared machine's load hits them alike.

    .venv/bin/python benchmarks/journal_overhead.py --trials 100 --rounds 3
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def _storages(folder: str, index: int) -> dict[str, Any]:
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    from text2ml_jupyter._journal import RunJournal

    return {
        "in memory": None,
        "Optuna journal file": JournalStorage(
            JournalFileBackend(os.path.join(folder, f"optuna-{index}.journal"))),
        "RunJournal": JournalStorage(RunJournal(os.path.join(folder, f"run-{index}.journal"))),
    }


def _ms_per_trial(storage: Any, trials: int) -> float:
    import optuna

    study = optuna.create_study(storage=storage, sampler=optuna.samplers.RandomSampler(0))
    started = time.perf_counter()
    for _ in range(trials):
        trial = study.ask()
        for k in range(10):
            trial.suggest_float(f"p{k}", 0.0, 1.0)
        for step in range(5):
            trial.report(0.5, step)
            trial.should_prune()
        study.tell(trial, 0.5)
    return (time.perf_counter() - started) / trials * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=100, help="trials per measurement")
    parser.add_argument("--rounds", type=int, default=3, help="A/B/C rounds")
    args = parser.parse_args()
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    results: dict[str, list[float]] = {}
    load = [os.getloadavg()[0]]
    with tempfile.TemporaryDirectory() as folder:
        for index in range(args.rounds):
            for name, storage in _storages(folder, index).items():
                results.setdefault(name, []).append(_ms_per_trial(storage, args.trials))
    load.append(os.getloadavg()[0])
    print(f"ms per trial (median of {args.rounds} rounds of {args.trials} trials; "
          f"load {load[0]:.1f} -> {load[1]:.1f}):")
    for name, values in results.items():
        print(f"  {name:20s} {statistics.median(values):8.1f}   "
              f"({', '.join(f'{v:.1f}' for v in values)})")


if __name__ == "__main__":
    main()
