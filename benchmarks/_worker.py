"""One system on one task at one budget, in its own process.

    python benchmarks/_worker.py SYSTEM SPLIT_DIR BUDGET OUT_DIR

SPLIT_DIR holds task.json, train.pkl and test.pkl (every column, target and leakage columns
included). Writes OUT_DIR/result.json (status, times, memory, details) and OUT_DIR/pred.pkl
(predictions, probabilities and their class order), which the parent scores.
"""

from __future__ import annotations

import json
import pickle
import resource
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import positive_label  # noqa: E402


def run_text2ml(task, train: pd.DataFrame, test: pd.DataFrame, budget: float, out: Path,
                pos_label=None) -> dict[str, Any]:
    """The engine gets the whole training frame (leakage column included: it must find it
    itself); the held-out rows get every column but the target."""
    from text2ml_jupyter.engine import run

    X_test = test.drop(columns=[task["target"]])
    run_dir = out / "run"
    # Where the time goes: the run's stages (and its failed candidates), with the seconds
    # since the call started, through the engine's progress events when it offers them.
    timeline: list[list[Any]] = []
    trials = {"first": None, "last": None}

    def on_event(event) -> None:
        t = round(time.perf_counter() - t0, 2)
        kind = getattr(event, "kind", "")
        data = getattr(event, "data", {}) or {}
        if kind == "stage":
            timeline.append([t, data.get("stage") or event.message])
        elif kind == "trial":
            trials["first"] = trials["first"] or t
            trials["last"] = t
        elif kind == "candidate":
            c = data.get("candidate")
            if c is not None and getattr(c, "status", "") == "failed":
                timeline.append([t, f"candidate {c.key} failed: {str(c.reason)[:200]}"])
        elif kind == "done":
            timeline.append([t, "done"])

    import inspect

    kwargs = {"on_event": on_event} if "on_event" in inspect.signature(run).parameters else {}
    t0 = time.perf_counter()
    try:
        result = run(task["task"], train.copy(), time_budget=budget, seed=0, run_dir=run_dir,
                     data_name=task["var"], **kwargs)
    except BaseException as exc:
        exc.add_note(f"text2ml timeline: {timeline}")
        raise
    wall = time.perf_counter() - t0
    details: dict[str, Any] = {"problems": [], "timeline": timeline,
                               "trial_times": [trials["first"], trials["last"]]}
    spec = getattr(result, "spec", None)
    details["best_score"] = _plain(getattr(result, "best_score", None))
    details["elapsed"] = _plain(getattr(result, "elapsed", None))
    details["n_trials"] = _plain(getattr(result, "n_trials", None))
    details["chosen"] = {k: _plain(v) for k, v in (getattr(result, "chosen", None) or {}).items()}
    details["best_params"] = {k: _plain(v)
                              for k, v in (getattr(result, "best_params", None) or {}).items()}
    evaluation = getattr(result, "evaluation", None)
    details["evaluation"] = evaluation.describe() if hasattr(evaluation, "describe") else None
    details["notes"] = [str(n) for n in (getattr(result, "notes", None) or [])]
    if spec is not None:
        details["spec"] = {k: _plain(getattr(spec, k, None))
                           for k in ("target", "task_type", "metric", "pos_label")}
        details["spec"]["columns"] = dict(getattr(spec, "columns", {}) or {})
        if spec.target != task["target"]:
            details["problems"].append(
                f"TARGET MISMATCH: engine chose {spec.target!r}, expected {task['target']!r}")
        if getattr(spec, "task_type", None) != task["type"]:
            details["problems"].append(
                f"task type {spec.task_type!r}, expected {task['type']!r}")
        if getattr(spec, "metric", None) != task["metric"]:
            details["problems"].append(f"metric {spec.metric!r}, expected {task['metric']!r}")
        if pos_label is not None and task["metric"] == "f1" \
                and str(getattr(spec, "pos_label", None)) != str(pos_label):
            details["problems"].append(
                f"positive label {getattr(spec, 'pos_label', None)!r}, expected {pos_label!r}")
    else:
        details["problems"].append("result has no .spec")

    t1 = time.perf_counter()
    pipe = result.pipeline
    pred = pipe.predict(X_test)
    proba, classes = None, None
    if task["type"] != "regression":
        proba = pipe.predict_proba(X_test)
        classes = list(getattr(pipe, "classes_", []))
        if not classes:
            details["problems"].append("pipeline has no classes_")
    predict_time = time.perf_counter() - t1

    # Leakage: what the spec says of each leak column, and whether the fitted pipeline's
    # predictions move when that column is shuffled (they must not).
    leak_report = {}
    rng = np.random.default_rng(0)
    for col in task.get("leak", []):
        role = (details.get("spec", {}).get("columns") or {}).get(col)
        shuffled = X_test.copy()
        shuffled[col] = rng.permutation(shuffled[col].to_numpy())
        try:
            changed = float(np.mean(np.asarray(pipe.predict(shuffled)) != np.asarray(pred)))
        except Exception as exc:  # noqa: BLE001
            changed = None
            details["problems"].append(f"predict with shuffled {col!r} failed: {exc!r}")
        leak_report[col] = {"role": role, "share_of_predictions_changed_by_shuffling": changed}
        used = role in ("numeric", "categorical", "text", "datetime") or (changed or 0) > 0
        leak_report[col]["excluded"] = not used
        if used:
            details["problems"].append(
                f"LEAK NOT EXCLUDED: column {col!r} has role {role!r}; shuffling it changed "
                f"{changed if changed is None else round(100 * changed, 1)}% of predictions")
        elif role != "leakage":
            details["problems"].append(
                f"leak column {col!r} left out, but with role {role!r}, not 'leakage'")
    if leak_report:
        details["leak"] = leak_report
    if not details["problems"]:
        del details["problems"]
    return {"wall_time": wall, "predict_time": predict_time, "y_pred": pred, "proba": proba,
            "classes": classes, "details": details}


def _plain(value):
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "item"):
        try:
            return value.item()
        except Exception:  # noqa: BLE001
            return str(value)
    if value is None or isinstance(value, (int, float, str, bool)):
        return value
    return str(value)


def main(argv: list[str]) -> int:
    system, split_dir, budget, out = argv[0], Path(argv[1]), float(argv[2]), Path(argv[3])
    out.mkdir(parents=True, exist_ok=True)
    task = json.loads((split_dir / "task.json").read_text())
    train = pd.read_pickle(split_dir / "train.pkl")
    test = pd.read_pickle(split_dir / "test.pkl")
    pos = positive_label(task, train[task["target"]])
    record: dict[str, Any] = {"system": system, "status": "ok"}
    try:
        if system == "text2ml":
            res = run_text2ml(task, train, test, budget, out, pos_label=pos)
        else:
            from _baselines import run_flaml, run_hgb

            drop = [task["target"], *task.get("leak", [])]
            X_train, y_train = train.drop(columns=drop), train[task["target"]]
            X_test = test.drop(columns=drop)
            if system == "flaml":
                res = run_flaml(task, X_train, y_train, X_test, budget, pos_label=pos)
            elif system == "hgb":
                res = run_hgb(task, X_train, y_train, X_test, budget)
            else:
                raise ValueError(f"unknown system {system!r}")
        with open(out / "pred.pkl", "wb") as fh:
            pickle.dump({k: res[k] for k in ("y_pred", "proba", "classes")}, fh)
        record.update(wall_time=res["wall_time"], predict_time=res["predict_time"],
                      details=res["details"])
    except BaseException as exc:  # noqa: BLE001 - everything is reported to the parent
        record.update(status="error", error=f"{type(exc).__name__}: {exc}",
                      traceback=traceback.format_exc())
    record["maxrss_self_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    record["maxrss_children_mb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    (out / "result.json").write_text(json.dumps(record, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
