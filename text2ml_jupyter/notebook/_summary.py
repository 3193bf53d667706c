"""A static picture of a run: HTML and plain text rendered from a :class:`RunProgress`.

The HTML needs no JavaScript and no widget state, so it survives saving the notebook,
reopening it elsewhere and nbclient/nbconvert; the plain text is what terminals and
nbclient logs show. The live dashboard reuses the section functions below, so the live
and saved views always agree.

Every user-derived string (column names, task text, failure reasons, code) goes through
``_esc``: a column named ``<script>`` must render as text. Colours come from JupyterLab's
theme variables with fallbacks that read on light and dark backgrounds alike; where a
sanitizer strips the styles (an untrusted notebook), plain tables and text remain.
"""

from __future__ import annotations

import html
import math
from typing import Any

from ._progress import RunProgress
from ..candidates import FAILED, PASSED, PENDING, TESTING
from ..slots import SLOTS

RESUME_HINT = "%text2ml resume --budget 60"

# -- styles (inline: a saved output has no stylesheet of its own) ---------------------------
_ROOT = ("font-family: var(--jp-ui-font-family, system-ui, sans-serif); "
         "font-size: var(--jp-ui-font-size1, 13px); color: var(--jp-ui-font-color1, inherit); "
         "line-height: 1.4; max-width: 980px")
_H = "margin: 10px 0 4px; font-size: 1.05em; font-weight: 600"
_MUTED = "opacity:.75"
_SMALL = "font-size:.9em;opacity:.8"
_BORDER = "var(--jp-border-color2,#8885)"
# Per-cell styles: JupyterLab's output CSS right-aligns and pads every td, so a table-level
# style would not win. Kept short, since they repeat on every cell.
_TABLE = "border-collapse:collapse;margin:2px 12px 6px 0;font-size:.95em;color:inherit"
_TR = f"border-bottom:1px solid {_BORDER}"
_CELL = "padding:1px 8px 1px 0;text-align:left;vertical-align:top"
_NUM = "padding:1px 8px 1px 0;text-align:right;vertical-align:top"
_CODE = "font-family:var(--jp-code-font-family,monospace);font-size:var(--jp-code-font-size,12px)"
_PRE = (_CODE + "; background: var(--jp-layout-color2, rgba(128, 128, 128, 0.1)); "
        "padding: 8px; margin: 4px 0; overflow-x: auto; white-space: pre")
_COLOR = {
    PASSED: "var(--jp-success-color1, #2e7d32)",
    FAILED: "var(--jp-error-color1, #d32f2f)",
    TESTING: "var(--jp-warn-color1, #ef6c00)",
    PENDING: "var(--jp-ui-font-color2, inherit)",
}
_BRAND = "var(--jp-brand-color1, #1e88e5)"

_STAGES = {
    "understand": "Understanding the task",
    "search": "Searching",
    "refit": "Refitting the best pipeline on all rows",
    "done": "Done",
}


# -- small formatting helpers -----------------------------------------------------------------

def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _score(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:.4f}"


def _seconds(value: float | None) -> str:
    if value is None:
        return "?"
    if value < 120:
        return f"{value:.0f} s" if value >= 10 else f"{value:.1f} s"
    minutes, seconds = divmod(int(round(value)), 60)
    return f"{minutes} min {seconds:02d} s"


def _value(value: Any) -> str:
    """A hyperparameter as a reader wants it: floats to 4 significant digits."""
    if isinstance(value, float):
        return f"{value:.4g}"
    return repr(value) if isinstance(value, str) else str(value)


def metric_label(progress: RunProgress) -> str:
    """The metric's label (with the positive class when it matters), or "score"."""
    spec = progress.spec
    if spec is not None and hasattr(spec, "metric_label"):
        return spec.metric_label()
    name = getattr(progress.result, "metric", None)
    if name:
        from ..metrics import get_metric

        return get_metric(name).label
    return "score"


def headline(progress: RunProgress) -> str:
    """One line: where the run is (plain text; callers escape it for HTML)."""
    result = progress.result
    if result is not None:
        run = getattr(result, "run_id", "")
        return f"text2ml run {run}: done" if run else "text2ml: done"
    if progress.stopped:
        return "text2ml: Stopping… (keeping the best so far)"
    stage = progress.stage or ""
    if stage.startswith("generate:"):
        text = f"Generating and testing {stage.split(':', 1)[1]} candidates"
    else:
        text = _STAGES.get(stage, "Starting")
    if stage == "search" and progress.evaluation is not None:
        text += f" ({progress.evaluation.describe()})"
    return f"text2ml: {text}…"


def headline_html(progress: RunProgress) -> str:
    return f'<div style="font-weight: 600">{_esc(headline(progress))}</div>'


def combination(choices: dict[str, str], hyperparams: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(slot, candidate, "param=value, …") per slot of a combination, in slot order."""
    rows = []
    for slot in (s.name for s in SLOTS):
        if slot not in choices:
            continue
        name = choices[slot]
        prefix = f"{slot}.{name}."
        params = ", ".join(f"{key[len(prefix):]}={_value(value)}"
                           for key, value in hyperparams.items() if key.startswith(prefix))
        rows.append((slot, name, params))
    return rows


def _status_text(row: Any) -> str:
    if row.status == PASSED:
        return "passed" + (f" ({row.test_seconds:.1f} s)" if row.test_seconds else "")
    if row.status == FAILED:
        return f"failed: {row.reason or 'no reason given'}"
    if row.status == TESTING:
        return "testing…"
    if row.status == PENDING:
        return "waiting for its test"
    return row.status or "—"


def _slot_state(progress: RunProgress, slot: str) -> str:
    """What to say for a slot without candidates: being generated, or not started yet."""
    return "generating…" if progress.generating == slot else "not generated yet"


# -- task ------------------------------------------------------------------------------------

def _task_facts(progress: RunProgress) -> list[tuple[str, str]]:
    spec, evaluation = progress.spec, progress.evaluation
    facts = []
    kind = spec.task_type + (f", {len(spec.classes)} classes" if spec.classes else "")
    facts.append(("Target", f"{spec.target} ({kind})"))
    facts.append(("Metric", f"{metric_label(progress)}, {spec.direction}"))
    if evaluation is not None:
        facts.append(("Evaluation", evaluation.describe()))
    rows = f"{spec.n_rows}"
    if spec.n_rows_dropped:
        rows += f" ({spec.n_rows_dropped} dropped: missing target)"
    facts.append(("Rows", rows))
    return facts


def _column_groups(spec: Any) -> tuple[list[tuple[str, list[str]]], list[tuple[str, str]]]:
    groups = [(role, [str(c) for c in cols]) for role, cols in spec.columns_by_role().items()
              if cols]
    excluded = [(str(c), role) for c, role in spec.excluded().items()]
    return groups, excluded


def task_html(progress: RunProgress) -> str:
    """The task as understood: target, type, metric, protocol, columns by role, notes."""
    spec = progress.spec
    if spec is None:
        return (f'<div style="{_H}">Task</div>'
                f'<div style="{_MUTED}">Understanding the task…</div>')
    parts = [f'<div style="{_H}">Task</div>']
    if spec.text:
        parts.append(f'<div style="{_MUTED}; font-style: italic">“{_esc(spec.text)}”</div>')
    parts.append("<div>" + " · ".join(f"<b>{_esc(k)}:</b> {_esc(v)}"
                                      for k, v in _task_facts(progress)) + "</div>")
    groups, excluded = _column_groups(spec)
    lines = [f"<b>{_esc(role.capitalize())}</b> ({len(cols)}): "
             + ", ".join(f"<code style=\"{_CODE}\">{_esc(c)}</code>" for c in cols)
             for role, cols in groups]
    if excluded:
        lines.append("<b>Excluded</b>: " + ", ".join(
            f"<code style=\"{_CODE}\">{_esc(c)}</code> ({_esc(role)})" for c, role in excluded))
    parts += [f"<div>{line}</div>" for line in lines]
    if spec.notes:
        parts.append(f'<ul style="margin: 2px 0; padding-left: 18px; {_SMALL}">'
                     + "".join(f"<li>{_esc(n)}</li>" for n in spec.notes) + "</ul>")
    return "".join(parts)


def task_text(progress: RunProgress) -> str:
    spec = progress.spec
    if spec is None:
        return "Task\n  Understanding the task…"
    lines = ["Task"]
    if spec.text:
        lines.append(f"  “{spec.text}”")
    lines += [f"  {k}: {v}" for k, v in _task_facts(progress)]
    groups, excluded = _column_groups(spec)
    lines += [f"  {role.capitalize()} ({len(cols)}): {', '.join(cols)}" for role, cols in groups]
    if excluded:
        lines.append("  Excluded: " + ", ".join(f"{c} ({role})" for c, role in excluded))
    lines += [f"  Note: {n}" for n in spec.notes]
    return "\n".join(lines)


# -- candidates ------------------------------------------------------------------------------

def candidates_html(progress: RunProgress) -> str:
    """One small table per slot: candidate, origin, status (with the failure reason),
    trials that chose it, wins (new bests), and a star on the selected one."""
    tables = []
    for slot in (s.name for s in SLOTS):
        rows = progress.rows(slot)
        head = f'<div style="font-weight: 600">{_esc(slot)}</div>'
        if not rows:
            tables.append(f'<div>{head}<div style="{_MUTED}">{_slot_state(progress, slot)}'
                          "</div></div>")
            continue
        selected = progress.selected.get(slot)
        body = []
        for row in rows:
            color = _COLOR.get(row.status, "inherit")
            status = _esc(_status_text(row))
            if row.status == FAILED:  # reasons can be long: wrap them, smaller
                status = (f'<div style="color:{color};font-size:.9em;max-width:26em;'
                          f'white-space:pre-wrap;word-break:break-word">{status}</div>')
            else:
                status = f'<span style="color:{color}">{status}</span>'
            if row.name == selected:
                star = f'<span style="color:{_BRAND}" title="selected">★</span>'
                name = f"<b>{_esc(row.name)}</b>"
            else:
                star, name = "", _esc(row.name)
            body.append(
                f'<tr style="{_TR}"><td style="{_CELL}">{star}</td>'
                f'<td style="{_CELL}" title="{_esc(row.description)}">{name}</td>'
                f'<td style="{_CELL};{_MUTED}">{_esc(row.origin)}</td>'
                f'<td style="{_CELL}">{status}</td>'
                f'<td style="{_NUM}">{row.trials}</td><td style="{_NUM}">{row.wins}</td></tr>')
        header = "".join(f'<th style="{_NUM if h in ("trials", "wins") else _CELL}">{h}</th>'
                         for h in ("", "candidate", "origin", "status", "trials", "wins"))
        tables.append(f'<div>{head}<table style="{_TABLE}"><thead>'
                      f'<tr style="{_TR};{_SMALL}">{header}</tr></thead>'
                      f'<tbody>{"".join(body)}</tbody></table></div>')
    return (f'<div style="{_H}">Candidates</div>'
            '<div style="display: flex; flex-wrap: wrap; gap: 4px 16px">'
            + "".join(tables) + "</div>")


def candidates_text(progress: RunProgress) -> str:
    lines = ["Candidates (* selected; trials that chose it, wins = new bests)"]
    for slot in (s.name for s in SLOTS):
        rows = progress.rows(slot)
        if not rows:
            lines.append(f"  {slot}: {_slot_state(progress, slot)}")
            continue
        lines.append(f"  {slot}")
        width = max(len(r.name) for r in rows)
        for row in rows:
            mark = "*" if progress.selected.get(slot) == row.name else " "
            origin = f" [{row.origin}]" if row.origin else ""
            lines.append(f"   {mark} {row.name.ljust(width)}  trials {row.trials:>3}  "
                         f"wins {row.wins:>2}  {_status_text(row)}{origin}")
    return "\n".join(lines)


# -- optimization ----------------------------------------------------------------------------

def time_text(progress: RunProgress) -> str:
    """"12 s of 60 s" (or "12 s" before the budget is known)."""
    elapsed = progress.current_elapsed()
    if progress.budget:
        return f"{_seconds(elapsed)} of {_seconds(progress.budget)}"
    return _seconds(elapsed)


def time_fraction(progress: RunProgress) -> float:
    if not progress.budget:
        return 1.0 if progress.done else 0.0
    return max(0.0, min(1.0, progress.current_elapsed() / progress.budget))


def _trial_counts(progress: RunProgress) -> str:
    text = (f"{progress.n_complete} complete, {progress.n_pruned} pruned, "
            f"{progress.n_failed} failed")
    if progress.n_replayed:
        text += f" ({progress.n_replayed} from the earlier run)"
    return text


def curve_svg(progress: RunProgress, width: int = 360, height: int = 96) -> str:
    """The best score so far against time, as an inline SVG step line ("" without points).

    A step line because the best only changes when a trial beats it; it runs on to the
    current time so a long plateau is visible as such.
    """
    curve = list(progress.curve)
    if not curve:
        return ""
    now = max(progress.current_elapsed(), curve[-1][0])
    x_max = max(progress.budget or 0.0, now, 1.0)
    values = [b for _, b in curve]
    lowest, highest = min(values), max(values)
    low, high = lowest, highest
    if high - low < 1e-12:  # one value so far: a flat line in the middle
        pad = abs(high) * 0.01 or 0.01
        low, high = low - pad, high + pad
    left, right, top, bottom = 52, 8, 8, 18
    plot_w, plot_h = width - left - right, height - top - bottom

    def x(t: float) -> float:
        return left + plot_w * min(t, x_max) / x_max

    def y(v: float) -> float:
        return top + plot_h * (high - v) / (high - low)

    path = [f"M{x(curve[0][0]):.1f},{y(curve[0][1]):.1f}"]
    for t, v in curve[1:]:
        path.append(f"H{x(t):.1f}V{y(v):.1f}")
    path.append(f"H{x(now):.1f}")
    # a dot per new best, while few enough to tell apart (and to keep the output small)
    dots = "".join(f'<circle cx="{x(t):.1f}" cy="{y(v):.1f}" r="2.5" '
                   f'style="fill: {_BRAND}"/>' for t, v in curve) if len(curve) <= 40 else ""
    text = 'style="fill: var(--jp-ui-font-color2, currentColor); font-size: 10px"'
    axis = f'style="stroke: {_BORDER}; stroke-width: 1"'
    label = f"best {metric_label(progress)} so far against seconds"
    # y labels at the lowest and highest best (one label while there is one value)
    ticks = "".join(f'<text x="{left - 4}" y="{y(v) + 3:.1f}" text-anchor="end" {text}>'
                    f"{_esc(_score(v))}</text>" for v in sorted({lowest, highest}))
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{_esc(label)}">'
        f"<title>{_esc(label)}</title>"
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" {axis}/>'
        f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" {axis}/>'
        f"{ticks}"
        f'<text x="{left}" y="{height - 4}" {text}>0 s</text>'
        f'<text x="{left + plot_w}" y="{height - 4}" text-anchor="end" {text}>'
        f"{_esc(_seconds(x_max))}</text>"
        f'<path d="{"".join(path)}" style="fill: none; stroke: {_BRAND}; stroke-width: 2"/>'
        f"{dots}</svg>")


def _combination_html(progress: RunProgress) -> str:
    rows = combination(progress.best_choices, progress.best_hyperparams)
    if not rows:
        return ""
    items = "".join(
        f'<tr style="{_TR}"><td style="{_CELL};{_MUTED}">{_esc(slot)}</td>'
        f'<td style="{_CELL}"><b>{_esc(name)}</b></td>'
        f'<td style="{_CELL};{_CODE}">{_esc(params)}</td></tr>' for slot, name, params in rows)
    title = "Best combination" if progress.done else "Best combination so far"
    return (f'<div style="margin-top: 4px">{title}:</div>'
            f'<table style="{_TABLE}">{items}</table>')


def time_bar_html(progress: RunProgress) -> str:
    """Elapsed against budget: a native <progress> bar (it survives notebook sanitizers)."""
    fraction = time_fraction(progress)
    return (f'<div>Time: {_esc(time_text(progress))} '
            f'<progress value="{fraction:.3f}" max="1" style="width: 240px; '
            f'vertical-align: middle; accent-color: {_BRAND}"></progress></div>')


def optimization_html(progress: RunProgress, *, bar: bool = True) -> str:
    """Time against budget (``bar=False`` when the widget draws its own), trial counts,
    best score, the best-so-far curve and the current best combination."""
    parts = [f'<div style="{_H}">Optimization</div>']
    if bar:
        parts.append(time_bar_html(progress))
    parts.append(f"<div>Trials: {_esc(_trial_counts(progress))}</div>")
    if progress.usage:
        parts.append(f"<div>{_esc(progress.usage)}</div>")
    parts.append(f"<div>Best {_esc(metric_label(progress))}: "
                 f"<b>{_esc(_score(progress.best))}</b></div>")
    parts.append(curve_svg(progress))
    parts.append(_combination_html(progress))
    return "".join(parts)


def optimization_text(progress: RunProgress) -> str:
    lines = ["Optimization",
             f"  Time: {time_text(progress)}",
             f"  Trials: {_trial_counts(progress)}",
             f"  Best {metric_label(progress)}: {_score(progress.best)}"]
    if progress.usage:
        lines.append(f"  {progress.usage}")
    if len(progress.curve) > 1:
        lines.append("  Best so far: " + " → ".join(
            f"{_score(v)} ({_seconds(t)})" for t, v in progress.curve[-6:]))
    rows = combination(progress.best_choices, progress.best_hyperparams)
    if rows:
        lines.append("  Best combination:" if progress.done else "  Best combination so far:")
        lines += [f"    {slot}: {name}" + (f" ({params})" if params else "")
                  for slot, name, params in rows]
    return "\n".join(lines)


# -- final -----------------------------------------------------------------------------------

def _winners(progress: RunProgress) -> list[tuple[str, str, str]]:
    """(slot, candidate, description) of the final pipeline, in slot order."""
    out = []
    for slot in (s.name for s in SLOTS):
        name = progress.selected.get(slot)
        if name is not None:
            row = progress.candidates.get(slot, {}).get(name)
            out.append((slot, name, row.description if row else ""))
    return out


def ensemble_line(progress: RunProgress) -> str:
    """"An ensemble of N pipelines: trial 12 svc (weight 2), …" ("" for a single pipeline):
    the winners above are then only its best member's modules."""
    members = getattr(progress.result, "members", None) or []
    if not members:
        return ""
    listed = ", ".join(_member(m) for m in members)
    return (f"An ensemble of {len(members)} pipelines, their predictions averaged "
            f"(the modules above are its best member's): {listed}")


def _member(member: dict[str, Any]) -> str:
    model = (member.get("params") or {}).get("model")
    return f"trial {member['trial']}" + (f" {model}" if model else "") \
        + f" (weight {_value(member['weight'])})"


def _final_facts(progress: RunProgress) -> tuple[str, str, str]:
    """(score, "(protocol)", "time of budget, N trials") of the finished run."""
    result = progress.result
    score = _score(getattr(result, "best_score", None))
    protocol = f" ({progress.evaluation.describe()})" if progress.evaluation is not None else ""
    budget = f" of {_seconds(progress.budget)}" if progress.budget else ""
    # The trials reported, as in the counts above (Result.n_trials also counts enqueued
    # trials that never ran).
    n_trials = progress.n_trials
    plural = "" if n_trials == 1 else "s"
    spent = f"{_seconds(getattr(result, 'elapsed', progress.elapsed))}{budget}, " \
        f"{n_trials} trial{plural}"
    return score, protocol, spent


def final_html(progress: RunProgress) -> str:
    """The outcome: score, winning modules, time, notes, how to continue ("" before done)."""
    result = progress.result
    if result is None:
        return ""
    score, protocol, spent = _final_facts(progress)
    parts = [f'<div style="{_H}">Result</div>',
             f'<div style="font-size: 1.1em">{_esc(metric_label(progress))}: <b>{_esc(score)}</b>'
             f'<span style="{_SMALL}">{_esc(protocol)}</span></div>',
             f"<div>Time: {_esc(spent)}</div>"]
    winners = "".join(f'<tr style="{_TR}"><td style="{_CELL};{_MUTED}">{_esc(slot)}</td>'
                      f'<td style="{_CELL}"><b>{_esc(name)}</b></td>'
                      f'<td style="{_CELL}">{_esc(text)}</td></tr>'
                      for slot, name, text in _winners(progress))
    if winners:
        parts.append(f'<table style="{_TABLE}">{winners}</table>')
    ensemble = ensemble_line(progress)
    if ensemble:
        parts.append(f"<div>{_esc(ensemble)}</div>")
    notes = list(getattr(result, "notes", None) or [])
    if notes:
        parts.append('<ul style="margin: 2px 0; padding-left: 18px">'
                     + "".join(f"<li>{_esc(n)}</li>" for n in notes) + "</ul>")
    parts.append(f'<div style="{_SMALL}">To search longer from here: '
                 f'<code style="{_CODE}">{_esc(RESUME_HINT)}</code></div>')
    return "".join(parts)


def final_text(progress: RunProgress) -> str:
    result = progress.result
    if result is None:
        return ""
    score, protocol, spent = _final_facts(progress)
    lines = ["Result", f"  {metric_label(progress)}: {score}{protocol}", f"  Time: {spent}"]
    lines += [f"  {slot}: {name}" + (f" — {text}" if text else "")
              for slot, name, text in _winners(progress)]
    ensemble = ensemble_line(progress)
    if ensemble:
        lines.append(f"  {ensemble}")
    lines += [f"  Note: {n}" for n in getattr(result, "notes", None) or []]
    lines.append(f"  To search longer from here: {RESUME_HINT}")
    return "\n".join(lines)


def code_html(progress: RunProgress) -> str:
    """The full program, folded: the user opens it, copies it or reads it in place."""
    code = getattr(progress.result, "code", None)
    if not code:
        return ""
    n_lines = code.count("\n") + 1
    return (f'<details style="margin-top: 6px"><summary style="cursor: pointer">'
            f"Program ({n_lines} lines)</summary><pre style=\"{_PRE}\">{_esc(code)}</pre>"
            "</details>")


# -- whole -----------------------------------------------------------------------------------

def wrap(fragment: str) -> str:
    """A section with the summary's font and colours ("" stays "": nothing to show)."""
    return f'<div class="text2ml-summary" style="{_ROOT}">{fragment}</div>' if fragment else ""


def render_html(progress: RunProgress) -> str:
    """The whole run as one self-contained HTML fragment (no scripts, inline styles)."""
    with progress.lock:
        sections = [headline_html(progress), task_html(progress), candidates_html(progress),
                    optimization_html(progress), final_html(progress), code_html(progress)]
    return wrap("".join(sections))


def render_text(progress: RunProgress) -> str:
    """The whole run as plain text; the program's code comes last, in full."""
    with progress.lock:
        sections = [headline(progress), task_text(progress), candidates_text(progress),
                    optimization_text(progress), final_text(progress)]
        code = getattr(progress.result, "code", None)
    if code:
        sections.append("Program\n" + code.rstrip("\n"))
    return "\n\n".join(s for s in sections if s) + "\n"
