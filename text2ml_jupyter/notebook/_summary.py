"""A static picture of a run: HTML and plain text rendered from a :class:`RunProgress`.

The HTML needs no JavaScript and no widget state, so it survives saving the notebook,
reopening it elsewhere and nbclient/nbconvert; the plain text is what terminals and
nbclient logs show. The live dashboard reuses the section functions below, so the live
and saved views always agree.

Every user-derived string (column names, task text, failure reasons, code) goes through
``esc``: a column named ``<script>`` must render as text. Colours come from JupyterLab's
theme variables with fallbacks that read on light and dark backgrounds alike; where a
sanitizer strips the styles (an untrusted notebook), plain tables and text remain.
"""

from __future__ import annotations

from typing import Any

from ._curve import curve_svg
from ._format import (BRAND, CELL, CODE, HEADING, MUTED, NUM, PRE, ROOT, SMALL,
                      STATE_COLOR, TABLE, TR, esc, fmt_score, fmt_seconds, fmt_value,
                      metric_label)
from ._progress import RunProgress
from ..candidates import FAILED, PASSED, PENDING, TESTING
from ..slots import SLOTS

RESUME_HINT = "%text2ml resume --budget 60"

_STAGES = {
    "understand": "Understanding the task",
    "search": "Searching",
    "refit": "Refitting the best pipeline on all rows",
    "done": "Done",
}


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
    return f'<div style="font-weight: 600">{esc(headline(progress))}</div>'


def combination(choices: dict[str, str], hyperparams: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(slot, candidate, "param=value, …") per slot of a combination, in slot order."""
    rows = []
    for slot in (s.name for s in SLOTS):
        if slot not in choices:
            continue
        name = choices[slot]
        prefix = f"{slot}.{name}."
        params = ", ".join(f"{key[len(prefix):]}={fmt_value(value)}"
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
        return (f'<div style="{HEADING}">Task</div>'
                f'<div style="{MUTED}">Understanding the task…</div>')
    parts = [f'<div style="{HEADING}">Task</div>']
    if spec.text:
        parts.append(f'<div style="{MUTED}; font-style: italic">“{esc(spec.text)}”</div>')
    parts.append("<div>" + " · ".join(f"<b>{esc(k)}:</b> {esc(v)}"
                                      for k, v in _task_facts(progress)) + "</div>")
    groups, excluded = _column_groups(spec)
    lines = [f"<b>{esc(role.capitalize())}</b> ({len(cols)}): "
             + ", ".join(f"<code style=\"{CODE}\">{esc(c)}</code>" for c in cols)
             for role, cols in groups]
    if excluded:
        lines.append("<b>Excluded</b>: " + ", ".join(
            f"<code style=\"{CODE}\">{esc(c)}</code> ({esc(role)})" for c, role in excluded))
    parts += [f"<div>{line}</div>" for line in lines]
    if spec.notes:
        parts.append(f'<ul style="margin: 2px 0; padding-left: 18px; {SMALL}">'
                     + "".join(f"<li>{esc(n)}</li>" for n in spec.notes) + "</ul>")
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
        head = f'<div style="font-weight: 600">{esc(slot)}</div>'
        if not rows:
            tables.append(f'<div>{head}<div style="{MUTED}">{_slot_state(progress, slot)}'
                          "</div></div>")
            continue
        selected = progress.selected.get(slot)
        body = []
        for row in rows:
            color = STATE_COLOR.get(row.status, "inherit")
            status = esc(_status_text(row))
            if row.status == FAILED:  # reasons can be long: wrap them, smaller
                status = (f'<div style="color:{color};font-size:.9em;max-width:26em;'
                          f'white-space:pre-wrap;word-break:break-word">{status}</div>')
            else:
                status = f'<span style="color:{color}">{status}</span>'
            if row.name == selected:
                star = f'<span style="color:{BRAND}" title="selected">★</span>'
                name = f"<b>{esc(row.name)}</b>"
            else:
                star, name = "", esc(row.name)
            body.append(
                f'<tr style="{TR}"><td style="{CELL}">{star}</td>'
                f'<td style="{CELL}" title="{esc(row.description)}">{name}</td>'
                f'<td style="{CELL};{MUTED}">{esc(row.origin)}</td>'
                f'<td style="{CELL}">{status}</td>'
                f'<td style="{NUM}">{row.trials}</td><td style="{NUM}">{row.wins}</td></tr>')
        header = "".join(f'<th style="{NUM if h in ("trials", "wins") else CELL}">{h}</th>'
                         for h in ("", "candidate", "origin", "status", "trials", "wins"))
        tables.append(f'<div>{head}<table style="{TABLE}"><thead>'
                      f'<tr style="{TR};{SMALL}">{header}</tr></thead>'
                      f'<tbody>{"".join(body)}</tbody></table></div>')
    return (f'<div style="{HEADING}">Candidates</div>'
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
        return f"{fmt_seconds(elapsed)} of {fmt_seconds(progress.budget)}"
    return fmt_seconds(elapsed)


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


def _combination_html(progress: RunProgress) -> str:
    rows = combination(progress.best_choices, progress.best_hyperparams)
    if not rows:
        return ""
    items = "".join(
        f'<tr style="{TR}"><td style="{CELL};{MUTED}">{esc(slot)}</td>'
        f'<td style="{CELL}"><b>{esc(name)}</b></td>'
        f'<td style="{CELL};{CODE}">{esc(params)}</td></tr>' for slot, name, params in rows)
    title = "Best combination" if progress.done else "Best combination so far"
    return (f'<div style="margin-top: 4px">{title}:</div>'
            f'<table style="{TABLE}">{items}</table>')


def time_bar_html(progress: RunProgress) -> str:
    """Elapsed against budget: a native <progress> bar (it survives notebook sanitizers)."""
    fraction = time_fraction(progress)
    return (f'<div>Time: {esc(time_text(progress))} '
            f'<progress value="{fraction:.3f}" max="1" style="width: 240px; '
            f'vertical-align: middle; accent-color: {BRAND}"></progress></div>')


def optimization_html(progress: RunProgress, *, bar: bool = True) -> str:
    """Time against budget (``bar=False`` when the widget draws its own), trial counts,
    best score, the best-so-far curve and the current best combination."""
    parts = [f'<div style="{HEADING}">Optimization</div>']
    if bar:
        parts.append(time_bar_html(progress))
    parts.append(f"<div>Trials: {esc(_trial_counts(progress))}</div>")
    if progress.usage:
        parts.append(f"<div>{esc(progress.usage)}</div>")
    parts.append(f"<div>Best {esc(metric_label(progress))}: "
                 f"<b>{esc(fmt_score(progress.best))}</b></div>")
    parts.append(curve_svg(progress))
    parts.append(_combination_html(progress))
    return "".join(parts)


def optimization_text(progress: RunProgress) -> str:
    lines = ["Optimization",
             f"  Time: {time_text(progress)}",
             f"  Trials: {_trial_counts(progress)}",
             f"  Best {metric_label(progress)}: {fmt_score(progress.best)}"]
    if progress.usage:
        lines.append(f"  {progress.usage}")
    if len(progress.curve) > 1:
        lines.append("  Best so far: " + " → ".join(
            f"{fmt_score(v)} ({fmt_seconds(t)})" for t, v in progress.curve[-6:]))
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
        + f" (weight {fmt_value(member['weight'])})"


def _final_facts(progress: RunProgress) -> tuple[str, str, str]:
    """(score, "(protocol)", "time of budget, N trials") of the finished run."""
    result = progress.result
    score = fmt_score(getattr(result, "best_score", None))
    protocol = f" ({progress.evaluation.describe()})" if progress.evaluation is not None else ""
    budget = f" of {fmt_seconds(progress.budget)}" if progress.budget else ""
    # The trials reported, as in the counts above (Result.n_trials also counts enqueued
    # trials that never ran).
    n_trials = progress.n_trials
    plural = "" if n_trials == 1 else "s"
    spent = f"{fmt_seconds(getattr(result, 'elapsed', progress.elapsed))}{budget}, " \
        f"{n_trials} trial{plural}"
    return score, protocol, spent


def final_html(progress: RunProgress) -> str:
    """The outcome: score, winning modules, time, notes, how to continue ("" before done)."""
    result = progress.result
    if result is None:
        return ""
    score, protocol, spent = _final_facts(progress)
    parts = [f'<div style="{HEADING}">Result</div>',
             f'<div style="font-size: 1.1em">{esc(metric_label(progress))}: <b>{esc(score)}</b>'
             f'<span style="{SMALL}">{esc(protocol)}</span></div>',
             f"<div>Time: {esc(spent)}</div>"]
    winners = "".join(f'<tr style="{TR}"><td style="{CELL};{MUTED}">{esc(slot)}</td>'
                      f'<td style="{CELL}"><b>{esc(name)}</b></td>'
                      f'<td style="{CELL}">{esc(text)}</td></tr>'
                      for slot, name, text in _winners(progress))
    if winners:
        parts.append(f'<table style="{TABLE}">{winners}</table>')
    ensemble = ensemble_line(progress)
    if ensemble:
        parts.append(f"<div>{esc(ensemble)}</div>")
    notes = list(getattr(result, "notes", None) or [])
    if notes:
        parts.append('<ul style="margin: 2px 0; padding-left: 18px">'
                     + "".join(f"<li>{esc(n)}</li>" for n in notes) + "</ul>")
    parts.append(f'<div style="{SMALL}">To search longer from here: '
                 f'<code style="{CODE}">{esc(RESUME_HINT)}</code></div>')
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
            f"Program ({n_lines} lines)</summary><pre style=\"{PRE}\">{esc(code)}</pre>"
            "</details>")


# -- whole -----------------------------------------------------------------------------------

def wrap(fragment: str) -> str:
    """A section with the summary's font and colours ("" stays "": nothing to show)."""
    return f'<div class="text2ml-summary" style="{ROOT}">{fragment}</div>' if fragment else ""


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
