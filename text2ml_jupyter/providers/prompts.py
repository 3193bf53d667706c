"""The prompts of the LLM provider: the data summary, the spec question, generation, repair.

Generation follows Contextual Modular Generation (Text-to-ML): a slot's prompt carries the
task as understood (TaskSpec), a compact data summary, the slot's contract, and the source
of the accepted candidate of every upstream slot, so the new module fits what feeds it
(dense or sparse input, encoded or raw columns). The fixed rules sit in the system message,
identical across calls, so providers with prompt caching bill them once.

What leaves the machine is bounded: column names, types and counts always; example values
(categories, ranges, strings) only when ``send_examples`` is on.
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
from pandas.api.types import is_bool_dtype, is_datetime64_any_dtype, is_numeric_dtype

from ..candidates import Candidate
from ..metrics import DEFAULT_METRIC, METRICS
from ..slots import SLOTS, SLOTS_BY_NAME, Slot, allowed_imports
from . import GenerationContext

MAX_COLUMNS = 60  # described one per line; the rest are named only
MAX_LINE = 200
MAX_VALUE = 40  # characters of one example value
MAX_NAMES = 1_500  # characters of the names-only tail
MAX_CLASSES = 20

# ------------------------------------------------------------------ data summary


def schema_summary(frame: pd.DataFrame, *, send_examples: bool = True,
                   max_examples: int = 3) -> str:
    """A compact description of ``frame`` for a prompt, one line per column.

    Always: name, dtype, missing share and number of distinct values. With
    ``send_examples``: numeric min / median / max, the most frequent categories with their
    counts (at most ``max_examples``), a few example strings for free text. Without it no
    value of the data appears at all. Length is bounded: after ``MAX_COLUMNS`` columns only
    names follow.
    """
    n_rows, n_cols = frame.shape
    lines = [f"{n_rows:,} rows x {n_cols:,} columns"]
    for column in list(frame.columns)[:MAX_COLUMNS]:
        line = _column_line(frame[column], column, send_examples, max(0, int(max_examples)))
        lines.append(line if len(line) <= MAX_LINE else line[:MAX_LINE - 1] + "…")
    rest = [str(c) for c in list(frame.columns)[MAX_COLUMNS:]]
    if rest:
        names = ", ".join(rest)
        if len(names) > MAX_NAMES:
            names = names[:MAX_NAMES].rsplit(", ", 1)[0] + ", …"
        lines.append(f"- {len(rest)} more columns: {names}")
    return "\n".join(lines)


def _column_line(col: pd.Series, name: Any, send_examples: bool, max_examples: int) -> str:
    missing = float(col.isna().mean()) if len(col) else 0.0
    unique = _nunique(col)
    line = f"- {name} ({col.dtype}): {_percent(missing)} missing, {unique:,} unique"
    if not send_examples or max_examples == 0:
        return line
    values = col.dropna()
    if values.empty:
        return line
    if is_bool_dtype(col) or (not is_numeric_dtype(col) and not is_datetime64_any_dtype(col)):
        return line + "; " + _categories(values, max_examples)
    if is_datetime64_any_dtype(col):
        return line + f"; from {values.min()} to {values.max()}"
    numbers = pd.to_numeric(values, errors="coerce").dropna()
    if numbers.empty:
        return line
    return (line + f"; min {_number(numbers.min())}, median {_number(numbers.median())}, "
            f"max {_number(numbers.max())}")


def _categories(values: pd.Series, max_examples: int) -> str:
    """Top categories with counts, or example strings when (nearly) every value differs."""
    texts = values.map(_text)
    counts = texts.value_counts()
    if counts.iloc[0] > 1:
        top = ", ".join(f"{_quote(v)} ({n:,})" for v, n in counts.head(max_examples).items())
        return f"top {top}"
    length = int(texts.str.len().mean())
    examples = ", ".join(_quote(v) for v in counts.index[:max_examples])
    return f"mean length {length} chars; e.g. {examples}"


def _nunique(col: pd.Series) -> int:
    try:
        return int(col.nunique())
    except TypeError:  # unhashable cells (lists, dicts)
        return int(col.dropna().map(_text).nunique())


def _text(value: Any) -> str:
    return value if isinstance(value, str) else str(value)


def _quote(text: str) -> str:
    text = " ".join(str(text).split())
    return repr(text if len(text) <= MAX_VALUE else text[:MAX_VALUE - 1] + "…")


def _number(value: Any) -> str:
    value = float(value)
    return str(int(value)) if value.is_integer() and abs(value) < 1e15 else f"{value:.4g}"


def _percent(share: float) -> str:
    if share == 0:
        return "0%"
    return "<0.1%" if share < 0.001 else f"{100 * share:.1f}%"


# ------------------------------------------------------------------ the task spec

def spec_messages(task: str, schema: str) -> list[dict[str, str]]:
    """Ask for the target, task type, metric and positive class as one JSON object."""
    by_task = {kind: [m.name for m in METRICS.values() if kind in m.tasks]
               for kind in ("binary", "multiclass", "regression")}
    system = (
        "You read a machine-learning task written in plain English and the summary of the "
        "table it refers to, and decide what to predict and how to score it. Answer with one "
        "JSON object and nothing else:\n"
        '{"target": "<the exact column name to predict>", '
        '"task_type": "binary" | "multiclass" | "regression", '
        '"metric": "<metric name>", '
        '"pos_label": <the positive class as it appears in the data, for binary tasks, or null>, '
        '"reasoning": "<one short sentence>"}\n'
        f"Metrics: binary {', '.join(by_task['binary'])}; multiclass "
        f"{', '.join(by_task['multiclass'])}; regression {', '.join(by_task['regression'])}. "
        "Use the metric the task names; when it names none, use "
        f"{DEFAULT_METRIC['binary']} for classification and {DEFAULT_METRIC['regression']} "
        "for regression. The target must be one of the table's columns."
    )
    user = f"Task:\n{task.strip()}\n\nTable:\n{schema.strip()}"
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def spec_retry_message(answer: str, problem: str) -> list[dict[str, str]]:
    """The follow-up turn when the spec answer was unusable: show it, ask for JSON only."""
    return [{"role": "assistant", "content": answer[:2_000]},
            {"role": "user", "content": f"That answer could not be used ({problem}). Reply "
                                        "with the JSON object only, no prose, no code fence."}]


# ------------------------------------------------------------------ generation

def _system() -> str:
    signatures = "\n".join(f"  {s.name:<12} {s.function}({', '.join(s.params)})" for s in SLOTS)
    return (
        "You write Python modules for an AutoML system that builds scikit-learn pipelines. "
        "An ML program is cut into four slots, run in this order:\n"
        f"{signatures}\n"
        "The final estimator is build_postprocess(trial, Pipeline([(\"preprocess\", "
        "build_preprocess(trial, columns)), (\"features\", build_features(trial)), "
        "(\"model\", build_model(trial))])). An Optuna study chooses one module per slot "
        "and tunes their hyperparameters; each module is tested in the context of the "
        "accepted modules of the earlier slots.\n\n"
        "Rules for every module:\n"
        "- Define the builder at module level with exactly the parameters given; helper "
        "functions and small scikit-learn compatible classes (BaseEstimator + fit/transform "
        "or fit/predict) may be defined in the module too.\n"
        f"- Import only from: {', '.join(allowed_imports())}.\n"
        "- No I/O: no files, no network, no subprocess, no printing, no environment "
        "variables. Do not call eval, exec, compile, open, __import__, getattr, setattr, "
        "globals or vars, and do not use dunder attributes.\n"
        "- Declare hyperparameters only through the trial: "
        "trial.suggest_float(\"name\", low, high, log=True|False), "
        "trial.suggest_int(\"name\", low, high, log=True|False), "
        "trial.suggest_categorical(\"name\", [choices]). Names are short and local to the "
        "module (\"C\", \"max_depth\"; they are namespaced automatically), literal bounds, "
        "choices are plain str/int/float/bool/None values. Search 1 to 5 hyperparameters "
        "that matter, in sensible ranges; fix the rest.\n"
        "- Return unfitted objects: the builder never fits, never reads data.\n"
        "- Use n_jobs=1 where there is such a parameter (parallelism is across trials) and "
        "the given random_state wherever there is randomness.\n"
        "- Plain, readable code (it ends up in the user's notebook), with a short comment "
        "where a choice is not obvious.\n\n"
        "Answer format: each module in its own ```python block whose first lines are\n"
        "# name: short_snake_case_name\n"
        "# description: one line saying what it does\n"
        "# defaults: {\"param\": value}   (optional: good first values of its hyperparameters)\n"
        "followed by the code. Example:\n"
        "```python\n"
        "# name: drop_constant\n"
        "# description: drop near-constant features, which carry no signal\n"
        "# defaults: {\"threshold\": 0.0}\n"
        "from sklearn.feature_selection import VarianceThreshold\n\n\n"
        "def build_features(trial):\n"
        "    return VarianceThreshold(threshold=trial.suggest_float(\"threshold\", 0.0, 0.01))\n"
        "```"
    )


# What usually breaks a slot's module, said up front.
_SLOT_NOTES = {
    "preprocess": (
        "`columns` is a dict with the keys numeric, categorical, text and datetime, each a "
        "list of column names (possibly empty: skip empty roles). Handle missing values in "
        "every role (a column may be entirely missing in a fold: SimpleImputer("
        "keep_empty_features=True)), categories unseen at fit time (handle_unknown="
        "\"ignore\"), mixed types in a categorical column (cast to str first), and never "
        "hard-code column names. The output must be numeric with no NaN or inf; keep it "
        "dense (sparse_threshold=0) unless there are text columns."
    ),
    "features": (
        "The input is the preprocess output (a numeric matrix, sparse when text was "
        "vectorized); its width is not known in advance, so prefer relative sizes "
        "(percentiles, fractions, variance thresholds) over fixed counts, and keep at least "
        "one column. 'passthrough' (return the string) is a valid module."
    ),
    "model": (
        "The input is the features output. A classifier must have predict_proba and "
        "classes_ (e.g. SVC(probability=True) or CalibratedClassifierCV around a margin "
        "model). If the upstream output is sparse, use a model that accepts sparse input."
    ),
    "postprocess": (
        "`pipeline` is the unfitted preprocess -> features -> model Pipeline. Return an "
        "unfitted estimator wrapping it (e.g. a tuned decision threshold with "
        "FixedThresholdClassifier, CalibratedClassifierCV, TransformedTargetRegressor, "
        "clipping to the training target's range), or `pipeline` itself. It must keep "
        "fit(X, y) and predict(X) on the original feature DataFrame (and predict_proba, "
        "classes_ for a classifier); do not clone or refit it outside fit."
    ),
}


def _task_section(context: GenerationContext) -> str:
    spec = context.spec
    lines = ["## Task", spec.text.strip() or "(no task text)", "",
             f"Target: {spec.target!r} ({spec.task_type})",
             f"Metric: {_metric_label(spec)}, {spec.direction}"]
    if spec.classes:
        shown = ", ".join(repr(c) for c in spec.classes[:MAX_CLASSES])
        more = f", … ({len(spec.classes)} in all)" if len(spec.classes) > MAX_CLASSES else ""
        lines.append(f"Classes: {shown}{more}")
    if spec.pos_label is not None and spec.task_type == "binary":
        lines.append(f"Positive class: {spec.pos_label!r}")
    lines.append(f"Rows: {context.n_rows or spec.n_rows:,}; feature columns: "
                 f"{context.n_features or len(spec.features):,}; random_state: {context.seed}")
    for role, names in spec.columns_by_role().items():
        if names:
            lines.append(f"columns[{role!r}] ({len(names)}): {_names(names)}")
    excluded = spec.excluded()
    if excluded:
        lines.append("Not given to the pipeline: "
                     + _names([f"{c} ({r})" for c, r in excluded.items()]))
    if context.data_summary.strip():
        lines += ["", "## Data summary", context.data_summary.strip()]
    return "\n".join(lines)


def _metric_label(spec: Any) -> str:
    try:
        return spec.metric_label()
    except ValueError:
        return str(spec.metric)


def _names(names: list[Any], limit: int = 800) -> str:
    text = ", ".join(str(n) for n in names)
    return text if len(text) <= limit else text[:limit].rsplit(", ", 1)[0] + ", …"


def _upstream_section(slot: Slot, context: GenerationContext) -> str:
    """The first accepted candidate of each earlier slot, in full: the code that feeds the
    module being written (the others are named, since the search may pair them too)."""
    parts = []
    for earlier in SLOTS[: [s.name for s in SLOTS].index(slot.name)]:
        accepted = context.accepted.get(earlier.name) or []
        if not accepted:
            continue
        first = accepted[0]
        parts.append(f"## Accepted {earlier.name} module: {first.name}"
                     + (f" ({first.description})" if first.description else "")
                     + f"\n```python\n{first.source.strip()}\n```")
        if first.defaults:
            parts.append(f"Its defaults: {json.dumps(first.defaults, default=str)}")
        others = [c.name for c in accepted[1:]]
        if others:
            parts.append(f"Other accepted {earlier.name} modules: {', '.join(others)}")
    if not parts:
        return ""
    return ("Your module is tested after these upstream modules and must work with "
            "their output.\n\n" + "\n\n".join(parts))


def _slot_section(slot: Slot) -> str:
    return (f"## Your slot: {slot.name}\n"
            f"Builder: def {slot.function}({', '.join(slot.params)})\n"
            f"Contract: {slot.contract}\n{_SLOT_NOTES.get(slot.name, '')}").rstrip()


def generate_messages(slot: Slot, context: GenerationContext, k: int) -> list[dict[str, str]]:
    """Ask for ``k`` diverse candidates for ``slot`` in the context of the upstream ones."""
    sections = [_task_section(context), _upstream_section(slot, context), _slot_section(slot)]
    ask = (f"Write {k} diverse {slot.name} module{'s' if k != 1 else ''} for this task, the "
           "most promising first, each in its own ```python block with the # name and "
           "# description lines. Make them differ in approach, not only in settings"
           + (", and keep each one fast enough to fit in seconds on this data." if k > 1
              else ", fast enough to fit in seconds on this data."))
    user = "\n\n".join(s for s in [*sections, ask] if s)
    return [{"role": "system", "content": _system()}, {"role": "user", "content": user}]


def generate_retry_message(answer: str, slot: Slot) -> list[dict[str, str]]:
    """The follow-up turn when an answer held no usable module."""
    return [{"role": "assistant", "content": answer[:4_000]},
            {"role": "user", "content": f"No ```python block in that answer defines "
                                        f"{slot.function}({', '.join(slot.params)}). Reply "
                                        "with the modules in that format only."}]


def repair_messages(candidate: Candidate, error: str,
                    context: GenerationContext) -> list[dict[str, str]]:
    """Ask for one fixed version of ``candidate`` given the precise error of its test."""
    slot = SLOTS_BY_NAME[candidate.slot]
    failing = (f"## The failing module: {candidate.name}\n```python\n"
               f"{candidate.source.strip()}\n```\n\n"
               f"## The error of its test\n{error.strip() or '(no message)'}")
    ask = ("Fix the cause of this error and return exactly one ```python block: the complete "
           "corrected module, with the same # name line, a # description line and, when "
           "useful, a # defaults line. Keep what works; change only what the error needs.")
    sections = [_task_section(context), _upstream_section(slot, context), _slot_section(slot),
                failing, ask]
    user = "\n\n".join(s for s in sections if s)
    return [{"role": "system", "content": _system()}, {"role": "user", "content": user}]
