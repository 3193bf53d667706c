"""Understanding the task with an LLM: its proposed TaskSpec, checked against the data.

The LLM reads the text and a schema summary and proposes target, task type, metric and
positive label. Each proposed value is used only if the data allows it (the column
exists, the type fits its values, the metric fits the type); otherwise the offline
inference decides. Where the two readings differ, a note says which was used and why.
The user's explicit options always win over both.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from .errors import Text2MLError
from .metrics import get_metric
from .spec import TaskSpec, infer_spec

_TYPES = ("binary", "multiclass", "regression")


def understand(task: str, frame: pd.DataFrame, *, proposal: dict[str, Any] | None,
               target: str | None, metric: str | None, task_type: str | None,
               pos_label: Any, roles: dict[str, str] | None) -> TaskSpec:
    """The TaskSpec: explicit options > the LLM's valid proposal > the offline reading."""
    try:
        offline: TaskSpec | None = infer_spec(task, frame, target=target, metric=metric,
                                              task_type=task_type, pos_label=pos_label,
                                              roles=roles)
        offline_error: Text2MLError | None = None
    except Text2MLError as exc:
        offline, offline_error = None, exc
    if not proposal:
        if offline is None:
            raise offline_error  # type: ignore[misc]
        return offline

    notes: list[str] = []
    columns = [str(c) for c in frame.columns]
    chosen: dict[str, Any] = {}
    llm_target = proposal.get("target")
    if target is None and isinstance(llm_target, str):
        if llm_target in columns:
            chosen["target"] = llm_target
        else:
            notes.append(f"The LLM proposed the target {llm_target!r}, which is not a column; "
                         "ignored.")
    llm_type = str(proposal.get("task_type") or "").strip().lower()
    if task_type is None and llm_type:
        if llm_type in _TYPES:
            chosen["task_type"] = llm_type
        else:
            notes.append(f"The LLM proposed the task type {llm_type!r}; ignored.")
    llm_metric = proposal.get("metric")
    if metric is None and isinstance(llm_metric, str) and llm_metric.strip():
        try:
            chosen["metric"] = get_metric(llm_metric).name
        except Text2MLError:
            notes.append(f"The LLM proposed the metric {llm_metric!r}, which is not known; "
                         "ignored.")
    if pos_label is None and proposal.get("pos_label") not in (None, ""):
        chosen["pos_label"] = proposal["pos_label"]

    spec, dropped = _first_valid(task, frame, chosen, target=target, metric=metric,
                                 task_type=task_type, pos_label=pos_label, roles=roles)
    notes += [f"The LLM's {key} {value!r} does not fit the data ({reason}); the offline "
              "reading decides." for key, value, reason in dropped]
    if spec is None:
        if offline is None:
            raise offline_error  # type: ignore[misc]
        spec = offline
    if offline is not None:
        for field in ("target", "task_type", "metric"):
            mine, theirs = getattr(spec, field), getattr(offline, field)
            if mine != theirs:
                notes.append(f"The LLM read the {field.replace('_', ' ')} as {mine!r}; the "
                             f"offline reading was {theirs!r}. Using {mine!r} (say "
                             f"--{field.replace('_', '-')} to choose).")
    spec.notes = notes + spec.notes
    return spec


def _first_valid(task: str, frame: pd.DataFrame, chosen: dict[str, Any], **explicit: Any
                 ) -> tuple[TaskSpec | None, list[tuple[str, Any, str]]]:
    """Infer with the LLM's values, dropping the ones the data rejects (later keys first:
    a metric that does not fit is dropped before the task type, the target last)."""
    dropped: list[tuple[str, Any, str]] = []
    values = dict(chosen)
    while True:
        options = {k: explicit[k] if explicit.get(k) is not None else values.get(k)
                   for k in ("target", "metric", "task_type", "pos_label")}
        try:
            return infer_spec(task, frame, roles=explicit.get("roles"), **options), dropped
        except Text2MLError as exc:
            if not values:
                return None, dropped
            key = next(k for k in ("pos_label", "metric", "task_type", "target") if k in values)
            dropped.append((key, values.pop(key), exc.problem.rstrip(".")))
