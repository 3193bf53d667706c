"""An ensemble as a standalone, readable program (see ensemble.py for the selection).

The same layout as program.py's single pipeline: a markdown summary, the setup cell
(imports, hoisted once for all members; TARGET, COLUMNS, FEATURES), then one cell per
member with its four builders renamed ``build_preprocess_1``, ``build_model_1``, ... (every
module-level name of member i gets the suffix ``_i``, so two members may use the same
candidate with different hyperparameters), then the pipeline cell: the members, the weighted
vote (``VotingRegressor`` or soft ``VotingClassifier``), the same ``cross_val_score`` as the
search and the fit on all rows; then how to predict.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from . import _ast_rewrite as _rw
from . import program as _p
from ._blend_selection import blend_threshold
from .ensemble import threshold_of
from .metrics import get_metric
from .slots import SLOTS

_NO_POSTPROCESS = "def build_postprocess(trial, pipeline):\n    return pipeline\n"


@dataclass
class EnsembleProgram(_p.Program):
    """A Program whose pipeline is a weighted vote; ``members`` describes them: trial,
    weight, own CV score, params, decision threshold (or None)."""

    members: list[dict[str, Any]] = field(default_factory=list)


def assemble_ensemble_program(
    spec: Any, members: Sequence[tuple[Mapping[str, tuple[Any, Mapping[str, Any]]], int, Any]],
    *, evaluation: Any, data_name: str = "df", pipeline_name: str = "pipeline",
    run_id: str = "", score: float | None = None,
    n_candidates: Mapping[str, int] | None = None,
) -> EnsembleProgram:
    """The program of a weighted vote of ``members``: (slot -> (candidate, its own
    hyperparameters), integer weight, the trial (``number``, ``value``, ``params``)), best
    trial first. ``score`` is the ensemble's CV score on the validation predictions.

    Raises ValueError when fewer than two members are given or a candidate cannot be
    bound or renamed (the engine then refits the single best pipeline)."""
    if len(members) < 2:
        raise ValueError("an ensemble needs at least two members")
    metric = get_metric(spec.metric)
    classification = spec.is_classification
    binary = spec.task_type == "binary"
    thresholds = [threshold_of(*chosen["postprocess"]) if binary else None
                  for chosen, _, _ in members]
    weights = [int(w) for _, w, _ in members]
    threshold = blend_threshold(thresholds, weights)

    scorer_imports, scorer_expr = metric.scorer_code(spec.task_type, spec.pos_label)
    if scorer_expr.startswith("'") and isinstance(ast.literal_eval(scorer_expr), str):
        scorer_expr = _rw.py_str(ast.literal_eval(scorer_expr))
    splitter_import, splitter_expr = evaluation.splitter_code()
    vote = "VotingClassifier" if classification else "VotingRegressor"
    lines = ["from sklearn.model_selection import cross_val_score",
             "from sklearn.pipeline import Pipeline", f"from sklearn.ensemble import {vote}",
             splitter_import, *scorer_imports]
    if threshold is not None:
        lines.append("from sklearn.model_selection import FixedThresholdClassifier")
    own_imports = [e for line in lines for e in _p._parse_imports(line)]

    _p._check_identifier(data_name, "data_name")
    _p._check_identifier(pipeline_name, "pipeline_name")
    variables = [member_variable(i) for i in range(1, len(members) + 1)]
    reserved = {*_p._OWN_NAMES, data_name, pipeline_name, *variables,
                *(e.bound for e in own_imports)}
    if pipeline_name == data_name or {pipeline_name, data_name} & (
            reserved - {pipeline_name, data_name}):
        raise ValueError(f"data_name {data_name!r} and pipeline_name {pipeline_name!r} must "
                         "differ from each other and from the program's own names")

    bound_origin = {e.bound: e.origin for e in own_imports}
    taken = set(reserved)
    imports: list[_rw.ImportEntry] = []
    member_cells: list[_p.Cell] = []
    builders: list[dict[str, str]] = []
    for i, ((chosen, weight, trial), thr) in enumerate(zip(members, thresholds, strict=True), 1):
        chosen = dict(chosen)
        if thr is not None:  # the vote applies the thresholds (see the pipeline cell)
            post, _ = chosen["postprocess"]
            chosen["postprocess"] = (replace(post, source=_NO_POSTPROCESS), {})
        sources, entries = _p._slot_sources(chosen, own_imports, data_name, pipeline_name)
        mapping: dict[str, str] = {}
        for e in entries:  # the same name imported as something else by another member
            if bound_origin.setdefault(e.bound, e.origin) != e.origin:
                if e.module is None and "." in e.name and not e.asname:
                    raise ValueError(f"'import {e.name}' of member {i} clashes with another "
                                     "member's import")
                mapping[e.bound] = _fresh(f"{e.bound}_{i}", taken)
                e = e._replace(asname=mapping[e.bound])
            imports.append(e)
        for slot in SLOTS:
            if thr is not None and slot.name == "postprocess":
                continue
            for name, kind in _rw.module_bindings(sources[slot.name])[0]:
                if kind in ("def", "assign") and name not in mapping:
                    mapping[name] = _fresh(f"{name}_{i}", taken)
        builders.append({s.function: mapping.get(s.function, s.function) for s in SLOTS})
        parts = [f"# Member {i} of {len(members)} (weight {weight}): trial {trial.number}, "
                 f"CV {metric.label} {trial.value:.4f}"]
        for slot in SLOTS:
            candidate = chosen[slot.name][0]
            what = _p._first_line(candidate.description) or f"candidate {candidate.name!r}"
            if thr is not None and slot.name == "postprocess":
                parts.append(f"# Postprocess: its decision threshold ({thr:g}) is applied by "
                             "the vote (see the pipeline cell).")
                continue
            count = (n_candidates or {}).get(slot.name)
            header = f"# {slot.name.capitalize()}: {what}" + (
                f" (chosen from {count} candidates)" if count and count > 1 else "")
            source = _rw.rename_globals(sources[slot.name], mapping).strip("\n")
            parts.append(f"{header}\n{source}")
        body = "\n\n\n".join(parts[1:])
        member_cells.append(_p.Cell("code", f"{parts[0]}\n\n{body}\n", "member"))

    imports_block = _rw.render_imports([*imports, *own_imports], stdlib=_p._STDLIB,
                                       width=_p._WIDTH)
    setup = f"{imports_block}\n\n\n{_p._setup_body(spec, data_name)}"
    build = _build_code(spec, pipeline_name, variables, builders, thresholds, weights,
                        threshold, vote)
    _, validate = _p._pipeline_code(spec, metric, evaluation, pipeline_name, splitter_expr,
                                    scorer_expr)
    described = [{"trial": t.number, "weight": w, "score": t.value, "params": dict(t.params),
                  "threshold": thr} for (_, w, t), thr in zip(members, thresholds, strict=True)]
    summary = _summary_markdown(spec, members, evaluation, score, run_id, metric, threshold)
    cells = [_p.Cell("markdown", summary, "summary"), _p.Cell("code", setup, "setup"),
             *member_cells, _p.Cell("code", f"{build.rstrip()}\n\n{validate}", "pipeline"),
             _p.Cell("code", _p._predict_code(spec, pipeline_name), "predict")]
    build_parts = [setup, *(c.source for c in member_cells), build]
    return EnsembleProgram(
        code="\n\n\n".join(c.source.strip("\n") for c in cells if c.kind == "code") + "\n",
        cells=cells,
        build_code="\n\n\n".join(p.strip("\n") for p in build_parts) + "\n",
        summary=summary, imports=imports_block, data_name=data_name,
        pipeline_name=pipeline_name, run_id=run_id,
        docstring=_summary_text(spec, members, evaluation, score, run_id, metric),
        import_entries=[*imports, *own_imports], members=described)


def member_variable(i: int) -> str:
    """The program's variable (and the vote's step name) of member ``i``, from 1."""
    return f"member_{i}"


def _fresh(name: str, taken: set[str]) -> str:
    """``name``, or ``name_2``, ``name_3``... if taken; recorded as taken."""
    new, k = name, 2
    while new in taken:
        new, k = f"{name}_{k}", k + 1
    taken.add(new)
    return new


def _build_code(spec: Any, pipeline_name: str, variables: list[str],
                builders: list[dict[str, str]], thresholds: list[float | None],
                weights: list[int], threshold: float | None, vote: str) -> str:
    lines = ["# The members: preprocess -> features -> model, wrapped by their postprocess."]
    for var, names, thr in zip(variables, builders, thresholds, strict=True):
        inner = ["    Pipeline([",
                 f'        ("preprocess", {names["build_preprocess"]}(COLUMNS)),',
                 f'        ("features", {names["build_features"]}()),',
                 f'        ("model", {names["build_model"]}()),',
                 "    ])"]
        if thr is None:
            lines += [f"{var} = {names['build_postprocess']}(", *inner, ")"]
        else:
            lines += [f"{var} = (", *inner, ")"]
    pairs = ", ".join(f'("{v}", {v})' for v in variables)
    lines += ["",
              "# The ensemble: a weighted vote of the members (the weights are how often greedy",
              "# ensemble selection picked each member on their validation predictions).",
              f"{pipeline_name} = {vote}(",
              f"    [{pairs}],",
              *(['    voting="soft",'] if vote == "VotingClassifier" else []),
              f"    weights={weights!r},",
              ")"]
    if threshold is not None:
        lines += [
            "# VotingClassifier fits its members on encoded labels (0, 1, ...), so a member's",
            "# own decision threshold (which names the positive label) cannot stay inside",
            "# it: the vote applies the members' weighted mean threshold instead (0.5 for a",
            "# member without one), as the ensemble selection scored it.",
            f"{pipeline_name} = FixedThresholdClassifier(",
            f"    {pipeline_name},",
            f"    threshold={_rw.literal(threshold)},",
            f"    pos_label={_p._literal_or_repr(spec.pos_label)},",
            '    response_method="predict_proba",',
            ")"]
    return "\n".join(lines) + "\n"


def _modules(trial: Any) -> str:
    return ", ".join(f"{s.name} `{trial.params.get(s.name)}`" for s in SLOTS)


def _summary_markdown(spec: Any, members: Sequence[Any], evaluation: Any,
                      score: float | None, run_id: str, metric: Any,
                      threshold: float | None) -> str:
    lines = _p.summary_header(spec, evaluation)
    if score is not None:
        lines.append(f"| **Ensemble CV score** | {score:.4f} (optimistic: the weights were "
                     "chosen on the same validation predictions) |")
    lines += [f"| **Rows** | {spec.n_rows} |", f"| **Features** | {len(spec.features)} "
              "columns |", "", f"**An ensemble of {len(members)} pipelines** (a weighted "
              f"{'soft ' if spec.is_classification else ''}vote; weights from greedy "
              "ensemble selection on the trials' validation predictions"
              + (f"; decision threshold {threshold:.4g}" if threshold is not None else "")
              + ")", ""]
    for i, (_, weight, trial) in enumerate(members, 1):
        lines.append(f"{i}. weight {weight}: trial {trial.number}, CV {trial.value:.4f}; "
                     f"{_modules(trial)}")
    if spec.notes:
        lines += ["", "**Notes**", ""] + [f"- {_p._md(n)}" for n in spec.notes]
    if run_id:
        lines += ["", f"<sub>text2ml run `{run_id}`</sub>"]
    return "\n".join(lines) + "\n"


def _summary_text(spec: Any, members: Sequence[Any], evaluation: Any, score: float | None,
                  run_id: str, metric: Any) -> str:
    title = _p._first_line(spec.text) or "Text-to-ML program"
    lines = [title if len(title) <= 72 else title[:69] + "...", "", f"Task: {spec.text.strip()}",
             "", spec.summary(), f"Validation: {evaluation.describe()}"]
    if score is not None:
        lines.append(f"Ensemble validation score: {score:.4f} (optimistic: the weights were "
                     "chosen on the same validation predictions)")
    lines += ["", f"An ensemble of {len(members)} pipelines (weighted vote):"]
    lines += [f"  weight {w}: trial {t.number} (CV {t.value:.4f}): "
              + ", ".join(f"{s.name} {t.params.get(s.name)}" for s in SLOTS)
              for _, w, t in members]
    lines += ["", "Standalone: runs with the libraries imported below; text2ml_jupyter is "
                  "not needed."]
    if run_id:
        lines.append(f"Generated by text2ml-jupyter, run {run_id}.")
    return "\n".join(lines)
