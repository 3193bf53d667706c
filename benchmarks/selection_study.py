"""Which trial (or trials) should become the final pipeline? A study of selection rules.

    .venv/bin/python benchmarks/selection_study.py --reuse /tmp/text2ml-bench-RUN-ID-xxxx
    .venv/bin/python benchmarks/selection_study.py --fresh --budget 120 [--tasks titanic tips]
    .venv/bin/python benchmarks/selection_study.py --render benchmarks/results/selection-ID.json

The engine refits the single trial with the best mean CV score. Among a hundred or more
trials scored on a few hundred rows, that maximum is partly noise (the winner's curse): the
winner is the pipeline that fitted these particular folds best. This script takes a finished
study (a run folder of run_benchmarks.py's work folder, ``--reuse``, so the held-out score of
rule (a) is the recorded text2ml score; or a new ``engine.run`` per task, ``--fresh``) and
compares rules that choose the final pipeline from the study's COMPLETE trials, using only
the training rows:

  (a) best:     the best mean CV score (the engine's rule);
  (b) one_se:   the one-standard-error rule: among the trials whose mean CV score is within one
                standard error of the best trial's (SE = sd of its fold scores / sqrt(folds of
                one CV pass): the repeats of a repeated k-fold CV re-use the same rows, so they
                are not counted as independent), the one with the smallest ``fit_seconds``
                (the mean time to fit one fold, recorded for every trial: comparable across
                model families, and lower for fewer trees / smaller C / fewer features);
  (c) top3/top5: soft voting over the best trial of each of the k best model candidates
                (mean predict_proba for classification, mean prediction for regression);
  (d) caruana:  greedy ensemble selection with replacement (Caruana et al. 2004, 25 steps,
                the best prefix kept) on the out-of-fold predictions of a pool (the 15 best
                distinct trials plus the best trial of every other model candidate), scored
                on exactly the search's splits and metric (mean over folds);
  (e) refold:   the 10 best distinct trials re-scored by the same protocol on new folds
                (seed 1), the best by that new score.

Ensembles of binary classifiers whose members tune a decision threshold (the catalog's
``FixedThresholdClassifier`` postprocess) predict the positive class when the members' mean
probability reaches their mean threshold (0.5 for a member without one).

Every chosen pipeline is the engine's own program (``program.assemble_program`` of the
trial's candidates and parameters), fitted on all training rows by the engine's worker refit
code (``_refit.refit_program``, here in this process: the run folders hold only the offline
catalog's candidates). The held-out rows are used once, at the end, for the report: each
rule's score, its paired-bootstrap 95% interval against FLAML's recorded predictions and
against rule (a) (``run_benchmarks.paired_bootstrap``: 1,000 resamples of the held-out rows).

Results: benchmarks/results/selection-<run id>.json; the tables are printed (``--render``
prints them again from the JSON).
"""

from __future__ import annotations

import os

# One thread per numeric library: the machine is shared, and the engine's workers run so too.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse
import datetime as dt
import json
import math
import pickle
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _common import (
    REPO,
    direction,
    load_frame,
    load_tasks,
    positive_label,
    score,
    split,
)

sys.path.insert(0, str(REPO))

from run_benchmarks import RESULTS_DIR, machine_info, paired_bootstrap, versions

SMALL_TASKS = ("titanic", "penguins", "tips", "boston_housing")
METHODS = ("best", "one_se", "one_se_paired", "top3", "top5", "caruana", "refold")
METHOD_LABEL = {"best": "(a) best CV", "one_se": "(b) 1-SE, fastest fit",
                "one_se_paired": "(b') paired 1-SE, fastest fit",
                "top3": "(c) top-3 models vote", "top5": "(c) top-5 models vote",
                "caruana": "(d) Caruana greedy", "refold": "(e) top-10 re-scored"}
CARUANA_POOL = 15  # best distinct trials in the pool (+ the best of every other model)
CARUANA_STEPS = 25
REFOLD_FINALISTS = 10
REFOLD_SEED = 1
DEFAULT_RESULTS = {30.0: "20261121T092233Z", 120.0: "20261121T093147Z"}


# ----------------------------------------------------------------------------- the run folder

class Study:
    """A finished run folder: spec, protocol, tested candidates and the complete trials."""

    def __init__(self, run_path: Path) -> None:
        import optuna
        from optuna.trial import TrialState

        from text2ml_jupyter._runfolder import RunFolder
        from text2ml_jupyter.candidates import PASSED, Candidate
        from text2ml_jupyter.evaluation import Evaluation
        from text2ml_jupyter.spec import TaskSpec

        folder = RunFolder(run_path, run_path.name)
        saved = folder.load_saved()
        self.path = run_path
        self.spec = TaskSpec.from_dict(saved.spec)
        self.evaluation = Evaluation(**saved.evaluation)
        self.data_name, self.pipeline_name = saved.data_name, saved.pipeline_name
        candidates = [Candidate.from_dict(c) for c in saved.candidates]
        self.accepted = {slot: [c for c in candidates if c.slot == slot and c.status == PASSED]
                         for slot in ("preprocess", "features", "model", "postprocess")}
        info = folder.read_json("run.json") or {}
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        study = optuna.load_study(study_name=info.get("study_name") or run_path.name,
                                  storage=folder.storage())
        self.n_trials = len(study.trials)
        self.maximize = self.spec.direction == "maximize"
        complete = [t for t in study.trials if t.state == TrialState.COMPLETE
                    and "fold_scores" in t.user_attrs]
        # the engine's order (_refit.refit_best): best value first, ties by trial number
        self.trials = sorted(complete, key=lambda t: t.value, reverse=self.maximize)
        self.result = folder.read_json("result.json") or {}

    def program(self, params: dict[str, Any]) -> Any:
        """The engine's program of a trial (what _refit.refit_best assembles)."""
        from text2ml_jupyter.program import assemble_program
        from text2ml_jupyter.search import local_params

        chosen = {}
        for slot, cands in self.accepted.items():
            candidate = next(c for c in cands if c.name == params[slot])
            chosen[slot] = (candidate, local_params(candidate, params))
        return assemble_program(self.spec, chosen, evaluation=self.evaluation,
                                data_name=self.data_name, pipeline_name=self.pipeline_name)

    def unfitted(self, params: dict[str, Any], frame) -> tuple[Any, Any, Any]:
        """(pipeline, X, y) from the program's build code, as _refit.refit_program runs it."""
        namespace: dict[str, Any] = {"__name__": "text2ml_program", self.data_name: frame}
        exec(compile(self.program(params).build_code, "<candidate program>", "exec"),  # noqa: S102
             namespace)
        return namespace[self.pipeline_name], namespace["X"], namespace["y"]

    def refit(self, params: dict[str, Any], frame) -> Any:
        """Fit on all training rows with the engine's worker refit code."""
        import cloudpickle

        from text2ml_jupyter._refit import refit_program

        class _Context:  # the worker's context: only load() is used
            @staticmethod
            def load(path: str) -> Any:
                return frame

        out = refit_program(_Context(), data_path="train", build_code=self.program(
            params).build_code, data_name=self.data_name, pipeline_name=self.pipeline_name)
        # the engine's refit returns the pickle, or (newer) a dict holding it
        return cloudpickle.loads(out["pipeline"] if isinstance(out, dict) else out)


def threshold_of(params: dict[str, Any]) -> float:
    """The member's decision threshold (a tuned-threshold postprocess), else 0.5."""
    prefix = f"postprocess.{params['postprocess']}."
    return float(params.get(prefix + "threshold", 0.5))


def distinct(trials: list[Any]) -> list[Any]:
    """Trials with different params (an enqueued default can be re-run), order kept."""
    seen, out = set(), []
    for t in trials:
        key = tuple(sorted((k, repr(v)) for k, v in t.params.items()))
        if key not in seen:
            seen.add(key)
            out.append(t)
    return out


def best_per_model(trials: list[Any]) -> list[Any]:
    """The best trial of each model candidate, best first."""
    out: dict[str, Any] = {}
    for t in trials:
        out.setdefault(t.params["model"], t)
    return list(out.values())


# ----------------------------------------------------------------------------- predictions

class Member:
    """One trial's predictions: per split (out of fold) and on the held-out rows."""

    def __init__(self, trial: Any) -> None:
        self.trial = trial
        self.threshold = threshold_of(trial.params)
        self.oof: list[Any] = []  # per split: proba (classification) or predictions
        self.oof_score: float | None = None
        self.test: Any = None
        self.classes: list[Any] | None = None


def outputs(estimator: Any, X, classification: bool) -> Any:
    import numpy as np

    return np.asarray(estimator.predict_proba(X) if classification else estimator.predict(X),
                      dtype=float)


def combine(parts: list[tuple[Any, float, float]], classes: list[Any] | None, pos: Any,
            kind: str) -> dict[str, Any]:
    """Weighted mean of the members' outputs as a prediction record (y_pred, proba,
    classes). ``parts``: (output, weight, threshold)."""
    import numpy as np

    total = sum(w for _, w, _ in parts)
    mean = sum(w * out for out, w, _ in parts) / total
    if kind == "regression":
        return {"y_pred": mean, "proba": None, "classes": None}
    cls = np.asarray(classes, dtype=object)
    if kind == "binary":
        threshold = sum(w * t for _, w, t in parts) / total
        col = next(i for i, c in enumerate(classes) if str(c) == str(pos))
        other = 1 - col
        y_pred = np.where(mean[:, col] >= threshold, cls[col], cls[other])
    else:
        y_pred = cls[mean.argmax(axis=1)]
    return {"y_pred": pd_values(y_pred, classes), "proba": mean, "classes": list(classes)}


def pd_values(values: Any, classes: list[Any]) -> Any:
    """Labels with the classes' own type (object arrays of ints compare fine; keep numpy)."""
    import numpy as np

    return np.array(list(values), dtype=np.asarray(classes).dtype)


# ----------------------------------------------------------------------------- one task

def study_task(task: dict[str, Any], run_path: Path, train, test, flaml_pred: dict | None,
               recorded: dict[str, Any], log) -> dict[str, Any]:
    import warnings

    import numpy as np
    from sklearn.exceptions import ConvergenceWarning

    warnings.filterwarnings("ignore", category=ConvergenceWarning)  # as in the workers' logs
    started = time.perf_counter()
    st = Study(run_path)
    kind = task["type"]
    classification = kind != "regression"
    sign = 1.0 if st.maximize else -1.0
    target = task["target"]
    pos = positive_label(task, train[target])
    X_test = test.drop(columns=[target])
    y_test = test[target]
    trials = st.trials
    log(f"{task['name']}: {st.n_trials} trials, {len(trials)} complete "
        f"({st.evaluation.describe()})")

    members: dict[int, Member] = {}

    def member(trial: Any) -> Member:
        if trial.number not in members:
            members[trial.number] = Member(trial)
        return members[trial.number]

    def fit_all(m: Member) -> None:
        if m.test is None:
            fitted = st.refit(m.trial.params, train)
            m.test = outputs(fitted, X_test, classification)
            m.classes = list(fitted.classes_) if classification else None

    _, X, y = st.unfitted(trials[0].params, train)
    splits = list(st.evaluation.splitter().split(X, y))

    def oof(m: Member, use_splits: list[Any]) -> list[Any]:
        from sklearn.base import clone

        pipe, _, _ = st.unfitted(m.trial.params, train)
        out, classes = [], None
        for tr, va in use_splits:
            fitted = clone(pipe).fit(X.iloc[tr], y.iloc[tr])
            classes = list(fitted.classes_) if classification else None
            out.append(outputs(fitted, X.iloc[va], classification))
        m.classes = m.classes or classes
        return out

    def cv_score(parts_per_split: list[list[tuple[Any, float, float]]],
                 classes: list[Any] | None, use_splits: list[Any]) -> float:
        """Mean over splits of the metric, as the search scores (one fold at a time)."""
        vals = []
        for (_, va), parts in zip(use_splits, parts_per_split, strict=True):
            rec = combine(parts, classes, pos, kind)
            vals.append(score(task, y.iloc[va], rec["y_pred"], rec["proba"], rec["classes"],
                              pos_label=pos))
        return float(np.mean(vals))

    # (a) the engine's rule
    picks: dict[str, dict[str, Any]] = {}
    best = trials[0]
    picks["best"] = {"members": {best.number: 1}, "cv": best.value}

    # (b) one standard error, then the quickest to fit. Classic: the SE of the best
    # trial's mean (its fold scores' sd / sqrt(folds)). Paired (b'): every trial is scored
    # on the same folds, so most of a fold's ups and downs are shared; a trial is within
    # one SE when its mean gap to the best is at most the SE of the per-fold gaps.
    k = st.evaluation.n_splits
    best_folds = np.asarray(best.user_attrs["fold_scores"], dtype=float)
    se = float(best_folds.std(ddof=1) / math.sqrt(k))

    def paired_se(t: Any) -> float:
        gaps = best_folds - np.asarray(t.user_attrs["fold_scores"], dtype=float)
        return float(gaps.std(ddof=1) / math.sqrt(k)) if len(gaps) > 1 else 0.0

    bands = {"one_se": [t for t in trials if sign * (best.value - t.value) <= se],
             "one_se_paired": [t for t in trials
                               if sign * (best.value - t.value) <= paired_se(t)]}
    for key, band in bands.items():
        quick = min(band, key=lambda t: (float(t.user_attrs.get("fit_seconds", math.inf)),
                                         -sign * t.value))
        picks[key] = {"members": {quick.number: 1}, "cv": quick.value,
                      "se": se if key == "one_se" else paired_se(quick),
                      "band": len(band),
                      "band_models": sorted({t.params["model"] for t in band}),
                      "fit_seconds": quick.user_attrs.get("fit_seconds"),
                      "best_fit_seconds": best.user_attrs.get("fit_seconds")}

    # (c) the best trial of each of the k best model candidates, equal weights
    per_model = best_per_model(trials)
    for k in (3, 5):
        chosen = per_model[:k]
        picks[f"top{k}"] = {"members": {t.number: 1 for t in chosen},
                            "available_models": len(per_model)}

    # (d) Caruana on out-of-fold predictions of a pool; also the replay check
    t0 = time.perf_counter()
    top = distinct(trials)[:CARUANA_POOL]
    pool = top + [t for t in per_model if t not in top]
    for t in pool:
        m = member(t)
        m.oof = oof(m, splits)
        m.oof_score = cv_score([[(o, 1.0, m.threshold)] for o in m.oof], m.classes, splits)
    replay = max(abs(member(t).oof_score - t.value) for t in pool)
    classes = member(pool[0]).classes
    for t in pool:
        assert classification is False or member(t).classes == classes, "class order differs"
    n_splits = len(splits)
    weights: dict[int, int] = {}
    sums = [0.0] * n_splits  # per split: the sum of the chosen members' outputs
    thr_sum, count = 0.0, 0
    best_ens, best_weights, path = -math.inf, {}, []
    for _ in range(CARUANA_STEPS):
        scores = []
        for t in pool:
            m = member(t)
            parts = [[((sums[s] + m.oof[s]) / (count + 1), 1.0,
                       (thr_sum + m.threshold) / (count + 1))] for s in range(n_splits)]
            scores.append(sign * cv_score(parts, classes, splits))
        i = int(np.argmax(scores))  # ties: the earlier (better by CV) trial
        m = member(pool[i])
        weights[m.trial.number] = weights.get(m.trial.number, 0) + 1
        sums = [sums[s] + m.oof[s] for s in range(n_splits)]
        thr_sum, count = thr_sum + m.threshold, count + 1
        path.append(sign * scores[i])
        if scores[i] > best_ens + 1e-12:
            best_ens, best_weights = scores[i], dict(weights)
    picks["caruana"] = {"members": best_weights, "cv": sign * best_ens, "path": path,
                        "pool": [t.number for t in pool],
                        "seconds": round(time.perf_counter() - t0, 1)}
    picks["best"]["oof_cv"] = member(best).oof_score
    for k in (3, 5):
        ms = [member(trials_by(trials, n)) for n in picks[f"top{k}"]["members"]]
        picks[f"top{k}"]["cv"] = cv_score(  # every per-model best is in the pool
            [[(m.oof[s], 1.0, m.threshold) for m in ms] for s in range(n_splits)],
            classes, splits)

    # (e) the finalists re-scored on new folds of the same protocol
    t0 = time.perf_counter()
    from dataclasses import replace

    new_splits = list(replace(st.evaluation, seed=REFOLD_SEED).splitter().split(X, y))
    finalists = distinct(trials)[:REFOLD_FINALISTS]
    refold = []
    for t in finalists:
        m = Member(t)
        outs = oof(m, new_splits)
        refold.append(cv_score([[(o, 1.0, m.threshold)] for o in outs], m.classes, new_splits))
    j = int(np.argmax([sign * v for v in refold]))
    picks["refold"] = {"members": {finalists[j].number: 1}, "cv": finalists[j].value,
                       "new_cv": refold[j],
                       "finalists": [[t.number, t.value, v] for t, v in zip(finalists, refold,
                                                                            strict=True)],
                       "seconds": round(time.perf_counter() - t0, 1)}

    # the held-out rows, once: fit every chosen member on all training rows
    preds: dict[str, dict[str, Any]] = {}
    for key, pick in picks.items():
        ms = [member(trials_by(trials, n)) for n in pick["members"]]
        for m in ms:
            fit_all(m)
        parts = [(m.test, float(pick["members"][m.trial.number]), m.threshold) for m in ms]
        preds[key] = combine(parts, ms[0].classes, pos, kind)
        pick["heldout"] = score(task, y_test, preds[key]["y_pred"], preds[key]["proba"],
                                preds[key]["classes"], pos_label=pos)
        pick["describe"] = [describe(trials_by(trials, n), w)
                            for n, w in pick["members"].items()]
        if flaml_pred is not None:
            pick["vs_flaml"] = paired_bootstrap(task, y_test, preds[key], flaml_pred, pos)
        if key != "best":
            pick["vs_best"] = paired_bootstrap(task, y_test, preds[key], preds["best"], pos)
        pick["members"] = {str(n): w for n, w in pick["members"].items()}
    return {"task": task["name"], "metric": task["metric"], "direction": direction(
        task["metric"]), "run_folder": str(run_path), "n_trials": st.n_trials,
        "n_complete": len(trials), "evaluation": st.evaluation.describe(),
        "n_test": len(test), "engine_refit": {"params": st.result.get("params"),
                                              "notes": st.result.get("notes")},
        "engine_refit_is_best": st.result.get("params") == dict(best.params),
        "replay_max_abs_diff": replay, "recorded": recorded, "methods": picks,
        "seconds": round(time.perf_counter() - started, 1)}


def trials_by(trials: list[Any], number: int) -> Any:
    return next(t for t in trials if t.number == number)


def describe(trial: Any, weight: float) -> str:
    p = trial.params
    return (f"#{trial.number}{f' x{weight}' if weight != 1 else ''} {p['preprocess']}/"
            f"{p['features']}/{p['model']}/{p['postprocess']} cv={trial.value:.4f} "
            f"fit={trial.user_attrs.get('fit_seconds')}s")


# ----------------------------------------------------------------------------- sources

def recorded_records(budget: float, results_id: str | None) -> tuple[dict, Path | None]:
    """(task, system) -> record of the benchmark run behind the comparison, and its work
    folder (FLAML's held-out predictions are there)."""
    rid = results_id or DEFAULT_RESULTS.get(budget)
    if rid is None:
        return {}, None
    data = json.loads((RESULTS_DIR / f"{rid}.json").read_text())
    recs = {(r["task"], r["system"]): r for r in data["records"]
            if float(r["budget"]) == budget}
    return recs, Path(data["work_dir"])


def load_pred(path: Path) -> dict | None:
    try:
        with open(path, "rb") as fh:
            return pickle.load(fh)
    except OSError:
        return None


def fresh_run(task: dict[str, Any], train, test, budget: float, out: Path,
              log) -> tuple[Path, dict[str, Any]]:
    """One engine run on the training rows, as run_benchmarks.py's worker calls it."""
    from text2ml_jupyter.engine import run

    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    result = run(task["task"], train.copy(), time_budget=budget, seed=0, run_dir=out,
                 data_name=task["var"])
    wall = time.perf_counter() - t0
    X_test = test.drop(columns=[task["target"]])
    pred = {"y_pred": result.pipeline.predict(X_test), "proba": None, "classes": None}
    if task["type"] != "regression":
        pred["proba"] = result.pipeline.predict_proba(X_test)
        pred["classes"] = list(result.pipeline.classes_)
    pos = positive_label(task, train[task["target"]])
    held = score(task, test[task["target"]], pred["y_pred"], pred["proba"], pred["classes"],
                 pos_label=pos)
    log(f"  fresh run {result.run_id}: {result.n_trials} trials, cv {result.best_score:.4f}, "
        f"held-out {held:.4f}, {wall:.1f} s")
    return Path(result.run_dir), {"score": held, "wall_time": round(wall, 1),
                                  "n_trials": result.n_trials, "cv": result.best_score,
                                  "run_id": result.run_id}


# ----------------------------------------------------------------------------- the report

def _fmt(v: float | None, metric: str) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "—"
    return f"{v:.1f}" if metric == "rmse" and abs(v) >= 100 else f"{v:.4f}"


def _vs(b: dict | None, maximize: bool) -> str:
    if not b or "ci95" not in b:
        return "—"
    d, (lo, hi) = b["diff"], b["ci95"]
    good = d > 1e-12 if maximize else d < -1e-12
    bad = d < -1e-12 if maximize else d > 1e-12
    word = "better" if good else "worse" if bad else "tie"
    return f"{d:+.4f} [{lo:+.4f}, {hi:+.4f}] {word}{'' if b['significant'] else ' (n.s.)'}"


def render(report: dict[str, Any]) -> str:
    lines = []
    for block in report["blocks"]:
        lines.append(f"### {block['label']}")
        lines.append("")
        for t in block["tasks"]:
            maximize = t["direction"] == "maximize"
            arrow = "↑" if maximize else "↓"
            rec = t["recorded"]
            lines.append(f"**{t['task']}** ({t['metric']} {arrow}, {t['n_test']} held-out "
                         f"rows; {t['n_complete']} complete of {t['n_trials']} trials, "
                         f"{t['evaluation']}; replay of the pool's CV scores: max |Δ| "
                         f"{t['replay_max_abs_diff']:.2g}). text2ml as recorded "
                         f"{_fmt(rec.get('text2ml'), t['metric'])}, FLAML "
                         f"{_fmt(rec.get('flaml'), t['metric'])}"
                         + ("" if t["engine_refit_is_best"] else
                            " (the recorded text2ml run did not refit its best trial: "
                            + "; ".join(t["engine_refit"].get("notes") or []) + ")") + ".")
            lines.append("")
            lines.append("| rule | members | CV (train) | held-out | vs FLAML, diff [95% CI] "
                         "| vs (a), diff [95% CI] |")
            lines.append("|---|---|---|---|---|---|")
            for key in METHODS:
                m = t["methods"][key]
                members = "; ".join(m["describe"])
                if key.startswith("one_se"):
                    members += (f" (band: {m['band']} trials, SE {m['se']:.4f}, models "
                                f"{', '.join(m['band_models'])})")
                if key == "top5" and m["available_models"] < 5:
                    members += f" (only {m['available_models']} model candidates)"
                if key == "refold":
                    members += f" (new-fold CV {m['new_cv']:.4f})"
                lines.append(f"| {METHOD_LABEL[key]} | {members} | "
                             f"{_fmt(m.get('cv'), t['metric'])} | "
                             f"{_fmt(m['heldout'], t['metric'])} | "
                             f"{_vs(m.get('vs_flaml'), maximize)} | "
                             f"{_vs(m.get('vs_best'), maximize) if key != 'best' else ''} |")
            lines.append("")
        lines += summary_lines(block)
        lines.append("")
    return "\n".join(lines)


def summary_lines(block: dict[str, Any]) -> list[str]:
    """Per rule: on how many tasks it is >= FLAML, >= rule (a), and its worst ratio."""
    out = ["| rule | ≥ FLAML | ≥ (a) | worst score / FLAML's (↓: FLAML / score) |",
           "|---|---|---|---|"]
    for key in METHODS:
        ge_f = ge_a = n_f = 0
        worst = math.inf
        for t in block["tasks"]:
            maximize = t["direction"] == "maximize"
            v = t["methods"][key]["heldout"]
            a = t["methods"]["best"]["heldout"]
            f = t["recorded"].get("flaml")
            ge_a += (v >= a - 1e-12) if maximize else (v <= a + 1e-12)
            if f is not None:
                n_f += 1
                ge_f += (v >= f - 1e-12) if maximize else (v <= f + 1e-12)
                worst = min(worst, v / f if maximize else f / v)
        out.append(f"| {METHOD_LABEL[key]} | {ge_f} of {n_f} | {ge_a} of "
                   f"{len(block['tasks'])} | {worst:.3f} |")
    return out


# ----------------------------------------------------------------------------- main

def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--reuse", nargs="+", type=Path, help="run_benchmarks.py work folders "
                     "(their b<budget>/<task>/text2ml/run/<run id> run folders)")
    src.add_argument("--fresh", action="store_true", help="one new engine run per task")
    src.add_argument("--render", type=Path, help="print the tables of a selection-*.json")
    ap.add_argument("--budget", type=float, default=120.0, help="with --fresh")
    ap.add_argument("--tasks", nargs="+", default=list(SMALL_TASKS))
    ap.add_argument("--results-id", default=None, help="the benchmark results JSON whose "
                    "FLAML (and text2ml) records to compare with (default: the README's runs)")
    ap.add_argument("--work-dir", type=Path, default=None, help="with --fresh: run folders")
    args = ap.parse_args(argv)
    if args.render:
        print(render(json.loads(args.render.read_text())))
        return 0

    started = dt.datetime.now(dt.timezone.utc)
    run_id = started.strftime("%Y%m%dT%H%M%SZ")
    out_file = RESULTS_DIR / f"selection-{run_id}.json"
    tasks = {t["name"]: t for t in load_tasks()}
    report: dict[str, Any] = {
        "run_id": run_id, "started": started.isoformat(timespec="seconds"),
        "command": " ".join([".venv/bin/python", "benchmarks/selection_study.py",
                             *(sys.argv[1:] if argv is None else argv)]),
        "machine": machine_info(), "versions": versions(),
        "settings": {"caruana_pool": CARUANA_POOL, "caruana_steps": CARUANA_STEPS,
                     "refold_finalists": REFOLD_FINALISTS, "refold_seed": REFOLD_SEED,
                     "one_se": "sd(fold scores, ddof=1) / sqrt(n_splits); min fit_seconds"},
        "blocks": []}

    def log(msg: str) -> None:
        print(f"[{dt.datetime.now():%H:%M:%S}] {msg}", flush=True)

    def save() -> None:
        out_file.write_text(json.dumps(report, indent=1, default=str))

    sources: list[tuple[str, float, Path | None]] = []
    if args.reuse:
        for work in args.reuse:
            for bdir in sorted(work.glob("b*")):
                sources.append((f"reuse {work.name}", float(bdir.name[1:]), work))
    else:
        sources.append(("fresh", args.budget, None))

    for label, budget, work in sources:
        results_id = args.results_id or (work.name.split("-")[2] if work else None)
        recs, rec_work = recorded_records(budget, results_id)
        flaml_results = results_id or DEFAULT_RESULTS.get(budget)
        block = {"label": f"{label}, budget {budget:g} s (FLAML: results {flaml_results})",
                 "budget": budget, "source": label, "tasks": []}
        report["blocks"].append(block)
        for name in args.tasks:
            task = tasks[name]
            if work is not None:
                split_dir = work / "splits" / name
                train = __import__("pandas").read_pickle(split_dir / "train.pkl")
                test = __import__("pandas").read_pickle(split_dir / "test.pkl")
                runs = sorted((work / f"b{budget:g}" / name / "text2ml" / "run").glob("*"))
                if not runs:
                    log(f"{name}: no run folder in {work}")
                    continue
                run_path = runs[-1]
                recorded = {"text2ml": (recs.get((name, "text2ml")) or {}).get("score")}
            else:
                train, test = split(task, load_frame(task))
                base = args.work_dir or Path(f"/tmp/text2ml-selection-{run_id}")
                run_path, fresh = fresh_run(task, train, test, budget,
                                            base / f"b{budget:g}" / name, log)
                recorded = {"text2ml": fresh["score"], "fresh_run": fresh,
                            "text2ml_benchmark": (recs.get((name, "text2ml")) or {}).get(
                                "score")}
            recorded["flaml"] = (recs.get((name, "flaml")) or {}).get("score")
            flaml_pred = load_pred(rec_work / f"b{budget:g}" / name / "flaml" / "pred.pkl") \
                if rec_work else None
            if flaml_pred is not None:  # the same split: check the rows line up
                pos = positive_label(task, train[task["target"]])
                check = score(task, test[task["target"]], flaml_pred["y_pred"],
                              flaml_pred["proba"], flaml_pred["classes"], pos_label=pos)
                assert recorded["flaml"] is None or abs(check - recorded["flaml"]) < 1e-6
            block["tasks"].append(study_task(task, run_path, train, test, flaml_pred,
                                             recorded, log))
            t = block["tasks"][-1]
            log("  " + ", ".join(f"{k} {t['methods'][k]['heldout']:.4f}" for k in METHODS)
                + f" ({t['seconds']} s)")
            save()
    report["finished"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    save()
    print(render(report))
    print(f"\nresults: {out_file}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
