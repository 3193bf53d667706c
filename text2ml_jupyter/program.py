"""The result as code: the best trial written out as a standalone, readable program.

The search picks one candidate per slot and its hyperparameters; here each chosen
candidate's source gets its hyperparameters written in as literals (comments and layout
kept), the imports of all candidates are gathered in one place, and the program adds what
makes it runnable on its own: the columns, the rows used, the pipeline, the same
validation the search used (so the printed score is the search's score), the final fit
and a prediction example. The program imports pandas, numpy, scikit-learn and the like
only, never ``text2ml_jupyter``.

The same program comes as notebook cells (``Program.cells``), one per part, tagged with
the run id and role so a notebook front end can find and replace them. Nothing Jupyter is
imported at module import time; ``nbformat`` is imported by the functions that need it.
"""

from __future__ import annotations

import ast
import os
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import _ast_rewrite as _rw
from ._syntax import parse_source
from .metrics import get_metric
from .slots import SLOTS

if TYPE_CHECKING:
    import nbformat

    from .candidates import Candidate
    from .evaluation import Evaluation
    from .spec import TaskSpec

__all__ = ["Cell", "Program", "assemble_program", "bind_hyperparameters", "cells_to_notebook",
           "load_cell", "write_notebook"]

CELL_KINDS = ("markdown", "code")
CELL_ROLES = ("summary", "setup", "preprocess", "features", "model", "postprocess",
              "pipeline", "predict", "load", "member")  # member: an ensemble's (ensemble.py)

# Names the program's own code binds at module level; candidates' names yield to them.
_OWN_NAMES = ("TARGET", "COLUMNS", "FEATURES", "data", "X", "y", "X_eval", "y_eval", "cv",
              "scores", "new_rows")
_TASK_LABELS = {"binary": "binary classification", "multiclass": "multiclass classification",
                "regression": "regression"}
_EXCLUDED_REASONS = {"identifier": "an identifier", "constant": "constant",
                     "leakage": "would leak the target", "empty": "empty"}
_STDLIB = frozenset(getattr(sys, "stdlib_module_names", ())) | {"__future__"}
_WIDTH = 88


# --------------------------------------------------------------------------- binding


def bind_hyperparameters(source: str, params: Mapping[str, Any], *, function: str,
                         annotate: bool = True, strict: bool = True) -> str:
    """Write a trial's hyperparameters into a candidate's source as literals.

    Every ``trial.suggest_float/int/categorical("name", ...)`` call (and the older
    ``suggest_uniform/loguniform/discrete_uniform``), with the name positional or as
    ``name=``, becomes the literal ``params["name"]``, written exactly (``repr`` of a float
    keeps every digit, so the program reproduces the searched score). A call whose name is
    not in ``params`` sits in a branch the trial did not take; it gets the first choice
    (categorical) or the low bound (int, float). Then ``trial`` is removed from the
    signature of ``function`` and of helpers defined in the source, and from the calls that
    passed it to those helpers.

    The rewrite edits the text at the calls' exact spans, so comments and formatting
    survive; with ``annotate`` an end-of-line comment notes each value's search space
    where the line has no comment already.

    Args:
        source: The candidate's source, defining ``function``.
        params: Hyperparameter name (without the ``"slot.candidate."`` prefix) -> value;
            values are None, bool, int, float or str (numpy scalars are converted).
        function: The builder, whose first parameter is the trial.
        annotate: Whether to add the ``# searched: ...`` comments.
        strict: Whether a name in ``params`` that the source never suggests is an error
            (it usually means a prefixed or misspelled name); otherwise it is ignored.

    Returns:
        The rewritten source; it parses and no longer mentions ``trial``.

    Raises:
        ValueError: The source does not parse or lacks ``function``; a suggest call's name
            is not a string literal; ``params`` names a hyperparameter the source never
            suggests (with ``strict``); or ``trial`` is still used after the rewrite
            (anything but suggest calls and passing it to a helper in the same source).
    """
    return _rw.bind(source, params, function=function, annotate=annotate, strict=strict)


# --------------------------------------------------------------------------- cells


@dataclass(frozen=True)
class Cell:
    """One notebook cell of the program; ``role`` says which part it is (see CELL_ROLES)."""

    kind: str  # "markdown" | "code"
    source: str
    role: str

    def __post_init__(self) -> None:
        if self.kind not in CELL_KINDS:
            raise ValueError(f"cell kind must be one of {CELL_KINDS}, not {self.kind!r}")
        if self.role not in CELL_ROLES:
            raise ValueError(f"cell role must be one of {CELL_ROLES}, not {self.role!r}")


def cells_to_notebook(cells: Sequence[Cell], *, run_id: str,
                      kernel_name: str = "python3") -> nbformat.NotebookNode:
    """A v4 notebook of ``cells``; each cell carries ``{"text2ml": {"run", "role"}}``
    metadata and the tag ``text2ml``, so a front end can find the run's cells again."""
    import nbformat.v4 as v4

    nb = v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": kernel_name, "language": "python",
        "display_name": "Python 3 (ipykernel)" if kernel_name == "python3" else kernel_name,
    }
    nb.metadata["language_info"] = {"name": "python"}
    nb.metadata["text2ml"] = {"run": run_id}
    for cell in cells:
        new = v4.new_markdown_cell if cell.kind == "markdown" else v4.new_code_cell
        nb.cells.append(new(cell.source.rstrip("\n"), metadata={
            "text2ml": {"run": run_id, "role": cell.role}, "tags": ["text2ml"]}))
    return nb


def write_notebook(nb: nbformat.NotebookNode, path: str | os.PathLike[str]) -> Path:
    """Validate ``nb`` and write it to ``path`` atomically: a temporary file in the same
    folder, then ``os.replace``, so a reader never sees half a notebook.

    Raises ``nbformat.ValidationError`` (before touching the disk) for an invalid notebook.
    """
    import nbformat

    nbformat.validate(nb)
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            nbformat.write(nb, f)
            f.flush()
            os.fsync(f.fileno())
        # mkstemp creates the file private (0600); give it the mode a plain write would.
        os.chmod(tmp, path.stat().st_mode & 0o777 if path.exists() else 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_cell(data_name: str, path: str | os.PathLike[str]) -> Cell:
    """A code cell reading the CSV or Parquet file at ``path`` into ``data_name``.

    Compressed CSV (``.csv.gz``, ...) and tab-separated ``.tsv`` files work too.
    """
    _check_identifier(data_name, "data_name")
    text = str(path)
    name = Path(text).name.lower()
    if name.endswith((".parquet", ".pq")):
        call = f"pd.read_parquet({_rw.py_str(text)})"
    elif name.endswith((".tsv", ".tsv.gz", ".tab")):
        call = f'pd.read_csv({_rw.py_str(text)}, sep="\\t")'
    elif any(name.endswith(".csv" + z) for z in ("", ".gz", ".bz2", ".zip", ".xz", ".zst")):
        call = f"pd.read_csv({_rw.py_str(text)})"
    else:
        raise ValueError(f"cannot write code to load {text!r}: use a .csv (optionally "
                         f"compressed, e.g. .csv.gz), .tsv or .parquet file")
    source = f"import pandas as pd\n\n# The training data.\n{data_name} = {call}\n"
    return Cell("code", source, "load")


# --------------------------------------------------------------------------- program


@dataclass
class Program:
    """The best trial as a standalone program, and as notebook cells.

    ``code`` is the whole program (the code cells joined); ``build_code`` stops after
    constructing the unfitted pipeline named ``pipeline_name`` (with ``X`` and ``y``
    ready), so the engine can refit it without the validation; ``imports`` is the import
    block ``code`` starts with. Both expect the data in a DataFrame named ``data_name``.
    """

    code: str
    cells: list[Cell]
    build_code: str
    summary: str = ""  # markdown
    imports: str = ""
    data_name: str = "df"
    pipeline_name: str = "pipeline"
    run_id: str = ""
    docstring: str = field(default="", repr=False)  # plain-text summary for to_python
    import_entries: list[_rw.ImportEntry] = field(default_factory=list, repr=False)

    def to_python(self, data_path: str | os.PathLike[str] | None = None) -> str:
        """The program as a ``.py`` file: a docstring with the summary, the imports, the
        data loading (from ``data_path`` if given, else a comment saying how), the rest."""
        body = self.code[len(self.imports):].lstrip("\n") if self.code.startswith(
            self.imports) else self.code
        imports = self.imports
        if data_path is not None:
            load = load_cell(self.data_name, data_path).source
            load = load.replace("import pandas as pd\n\n", "", 1)
            pandas = _rw.ImportEntry(None, "pandas", "pd")
            imports = _rw.render_imports([*self.import_entries, pandas], stdlib=_STDLIB,
                                         width=_WIDTH)
        else:
            load = (f"# This program trains on a pandas DataFrame named `{self.data_name}`. "
                    f"Load it first, e.g.:\n"
                    f"#     import pandas as pd\n"
                    f'#     {self.data_name} = pd.read_csv("data.csv")  # or pd.read_parquet\n')
        doc = self.docstring.replace("\\", "\\\\").replace('"""', '\\"\\"\\"')
        parts = [f'"""{doc.rstrip()}\n"""', imports, load.rstrip("\n"), body.rstrip("\n")]
        return "\n\n".join(p for p in parts if p) + "\n"


def assemble_program(
    spec: TaskSpec,
    chosen: Mapping[str, tuple[Candidate, Mapping[str, Any]]],
    *,
    evaluation: Evaluation,
    data_name: str = "df",
    pipeline_name: str = "pipeline",
    run_id: str = "",
    best_score: float | None = None,
    n_candidates: Mapping[str, int] | None = None,
) -> Program:
    """Write the chosen candidates out as one standalone program.

    Args:
        spec: The task: target, task type, metric, column roles, notes.
        chosen: Slot name -> (candidate, its hyperparameters without the prefix), for the
            four slots preprocess, features, model, postprocess. Names the candidate's
            source never suggests are ignored.
        evaluation: The validation protocol the search used; the program's
            ``cross_val_score`` uses the same splitter and scorer, so it prints the
            search's score.
        data_name: The variable holding the input DataFrame (target column included).
        pipeline_name: The variable the pipeline is assigned to.
        run_id: Recorded in the summary.
        best_score: The search's best validation score, in the metric's natural units.
        n_candidates: Slot name -> how many candidates the slot had, for the headers.

    Raises:
        ValueError: A slot is missing or unknown, a name is not an identifier, or a
            candidate cannot be bound (see ``bind_hyperparameters``).
    """
    expected = [s.name for s in SLOTS]
    if set(chosen) != set(expected):
        raise ValueError(f"chosen must have exactly the slots {expected}, got {list(chosen)}")
    metric = get_metric(spec.metric)
    scorer_imports, scorer_expr = metric.scorer_code(spec.task_type, spec.pos_label)
    if scorer_expr.startswith("'") and isinstance(ast.literal_eval(scorer_expr), str):
        scorer_expr = _rw.py_str(ast.literal_eval(scorer_expr))  # "accuracy", as elsewhere
    splitter_import, splitter_expr = evaluation.splitter_code()
    own_imports = [e for line in ["from sklearn.model_selection import cross_val_score",
                                  "from sklearn.pipeline import Pipeline",
                                  splitter_import, *scorer_imports]
                   for e in _parse_imports(line)]

    _check_identifier(data_name, "data_name")
    _check_identifier(pipeline_name, "pipeline_name")
    taken = [*_OWN_NAMES, *(e.bound for e in own_imports), *(s.function for s in SLOTS)]
    if pipeline_name == data_name or {pipeline_name, data_name} & set(taken):
        raise ValueError(f"data_name {data_name!r} and pipeline_name {pipeline_name!r} must "
                         f"differ from each other and from the program's own names: "
                         f"{', '.join(taken)}")
    sources, imports = _slot_sources(chosen, own_imports, data_name, pipeline_name)
    imports_block = _rw.render_imports([*imports, *own_imports], stdlib=_STDLIB, width=_WIDTH)

    headers = {}
    for slot in SLOTS:
        candidate = chosen[slot.name][0]
        what = _first_line(candidate.description) or f"candidate {candidate.name!r}"
        count = (n_candidates or {}).get(slot.name)
        headers[slot.name] = f"# {slot.name.capitalize()}: {what}" + (
            f" (chosen from {count} candidates)" if count and count > 1 else "")

    setup = f"{imports_block}\n\n\n{_setup_body(spec, data_name)}"
    slot_cells = [Cell("code", f"{headers[s.name]}\n{sources[s.name]}", s.name) for s in SLOTS]
    build, validate = _pipeline_code(spec, metric, evaluation, pipeline_name,
                                     splitter_expr, scorer_expr)
    pipeline = f"{build.rstrip()}\n\n{validate}"
    predict = _predict_code(spec, pipeline_name)

    summary = _summary_markdown(spec, chosen, evaluation, best_score, run_id, n_candidates)
    cells = [Cell("markdown", summary, "summary"), Cell("code", setup, "setup"), *slot_cells,
             Cell("code", pipeline, "pipeline"), Cell("code", predict, "predict")]
    code_parts = [c.source.strip("\n") for c in cells if c.kind == "code"]
    build_parts = [setup, *(c.source for c in slot_cells), build]
    return Program(
        code="\n\n\n".join(code_parts) + "\n",
        cells=cells,
        build_code="\n\n\n".join(p.strip("\n") for p in build_parts) + "\n",
        summary=summary,
        imports=imports_block,
        data_name=data_name,
        pipeline_name=pipeline_name,
        run_id=run_id,
        docstring=_summary_text(spec, chosen, evaluation, best_score, run_id),
        import_entries=[*imports, *own_imports],
    )


# --------------------------------------------------------------------------- helpers


def _check_identifier(name: str, what: str) -> None:
    import keyword

    if not (isinstance(name, str) and name.isidentifier() and not keyword.iskeyword(name)):
        raise ValueError(f"{what} must be a Python identifier, not {name!r}")


def _first_line(text: str) -> str:
    line = (text or "").strip().split("\n")[0].strip()
    return line[:-1] if line.endswith(".") and not line.endswith("..") else line


def _parse_imports(line: str) -> list[_rw.ImportEntry]:
    return [e for node in parse_source(line).body for e in _rw.import_entries(node)]


def _slot_sources(
    chosen: Mapping[str, tuple[Candidate, Mapping[str, Any]]],
    own_imports: list[_rw.ImportEntry], data_name: str, pipeline_name: str,
) -> tuple[dict[str, str], list[_rw.ImportEntry]]:
    """Bind each candidate, lift its imports out, and rename module-level names that would
    collide once all candidates share the program's namespace.

    A name collides when another part binds it to something else (the program's own
    names and imports come first, then the slots in order), or when another candidate
    reads it without binding it (a builtin it relies on). Returns slot -> source and the
    imports, renamed where needed (``name_model``).
    """
    owner: dict[str, str] = {n: "program" for n in (*_OWN_NAMES, data_name, pipeline_name)}
    owner.update({e.bound: f"import:{e.origin}" for e in own_imports})
    owner.update({s.function: f"builder:{s.name}" for s in SLOTS})
    parts = {}
    for slot in SLOTS:
        candidate, params = chosen[slot.name]
        if candidate.slot != slot.name:
            raise ValueError(f"candidate {candidate.name!r} is for slot {candidate.slot!r}, "
                             f"not {slot.name!r}")
        try:
            # Not strict: a stale key in a candidate's defaults must not sink the run.
            bound = bind_hyperparameters(candidate.source, params, function=slot.function,
                                         strict=False)
        except ValueError as exc:
            raise ValueError(f"{candidate.key}: {exc}") from None
        source, entries = _rw.hoist_imports(bound)
        top, anywhere, read = _rw.module_bindings(source)
        parts[slot.name] = (source, entries, top, anywhere | {e.bound for e in entries}, read)

    every_name = set(owner)
    for _, _, _, anywhere, read in parts.values():
        every_name |= anywhere | read
    sources: dict[str, str] = {}
    imports: list[_rw.ImportEntry] = []
    for slot in SLOTS:
        source, entries, top, anywhere, _ = parts[slot.name]
        readers = [p[4] - p[3] for s, p in parts.items() if s != slot.name]  # free names
        defined = [(e.bound, f"import:{e.origin}") for e in entries if e.name != "*"]
        defined += [(n, f"builder:{slot.name}" if n == slot.function else
                     (kind if kind.startswith("import:") else f"{slot.name}:{n}"))
                    for n, kind in top]
        mapping: dict[str, str] = {}
        for name, origin in defined:
            if name in mapping:
                continue
            clash = owner.get(name, origin) != origin or any(name in r for r in readers)
            if not clash:
                owner[name] = origin
                continue
            new, i = f"{name}_{slot.name}", 2
            while new in every_name:
                new, i = f"{name}_{slot.name}{i}", i + 1
            every_name.add(new)
            mapping[name] = new
            owner[new] = origin
        for e in entries:
            if e.bound in mapping:
                if e.module is None and "." in e.name and not e.asname:
                    raise ValueError(f"{chosen[slot.name][0].key}: 'import {e.name}' binds "
                                     f"{e.bound!r}, which another part defines differently")
                e = e._replace(asname=mapping[e.bound])
            imports.append(e)
        sources[slot.name] = _rw.rename_globals(source, mapping)
    return sources, imports


def _wrapped(prefix: str, items: Sequence[Any], suffix: str, indent: int = 4) -> str:
    """``prefix[a, b, ...]suffix`` on one line if it fits, else items packed on lines."""
    literals = [_literal_or_repr(i) for i in items]
    one = f"{prefix}[{', '.join(literals)}]{suffix}"
    if len(one) <= _WIDTH:
        return one
    lines, line = [], " " * indent
    for lit in literals:
        piece = f"{lit},"
        if line.strip() and len(line) + 1 + len(piece) > _WIDTH:
            lines.append(line)
            line = " " * indent
        line += (" " if line.strip() else "") + piece
    lines.append(line)
    return f"{prefix}[\n" + "\n".join(lines) + f"\n{' ' * (indent - 4)}]{suffix}"


def _literal_or_repr(value: Any) -> str:
    try:
        return _rw.literal(value)
    except ValueError:  # a tuple column name (MultiIndex), say
        return repr(value)


def _setup_body(spec: TaskSpec, data_name: str) -> str:
    roles = spec.columns_by_role()
    lines = [f"TARGET = {_literal_or_repr(spec.target)}", "COLUMNS = {"]
    lines += [_wrapped(f"    {_rw.py_str(role)}: ", cols, ",", indent=8)
              for role, cols in roles.items()]
    lines += ["}", _wrapped("FEATURES = ", spec.features, ""), ""]
    if spec.n_rows_dropped:
        lines.append(f"# Rows with no target can neither train nor score a model: this "
                     f"drops {spec.n_rows_dropped} rows.")
    else:
        lines.append("# Keep the rows with a known target (every row has one here).")
    excluded = spec.excluded()
    if excluded:
        shown = [f"{c} ({_EXCLUDED_REASONS.get(r, r)})" for c, r in list(excluded.items())[:8]]
        more = f" and {len(excluded) - 8} more" if len(excluded) > 8 else ""
        lines.append(f"# Left out of FEATURES: {', '.join(shown)}{more}.")
    lines += [f"data = {data_name}.dropna(subset=[TARGET])", "X = data[FEATURES]",
              "y = data[TARGET]"]
    return "\n".join(lines) + "\n"


def _pipeline_code(spec: TaskSpec, metric: Any, evaluation: Evaluation,
                   pipeline_name: str, splitter_expr: str, scorer_expr: str) -> tuple[str, str]:
    """(construction of the unfitted pipeline, validation + final fit)."""
    build = (
        "# The pipeline: preprocess -> features -> model, wrapped by the postprocess.\n"
        f"{pipeline_name} = build_postprocess(\n"
        "    Pipeline([\n"
        '        ("preprocess", build_preprocess(COLUMNS)),\n'
        '        ("features", build_features()),\n'
        '        ("model", build_model()),\n'
        "    ])\n"
        ")\n"
    )
    natural = "-scores.mean()" if metric.scorer_name(spec.task_type).startswith("neg_") \
        else "scores.mean()"

    def esc(text: str) -> str:
        return text.replace("{", "{{").replace("}", "}}")

    message = (f"Validation {esc(spec.metric_label())}: {{{natural}:.4f}} "
               f"on {esc(evaluation.describe())}")
    rows, sample = "X, y", ""
    if evaluation.sample_rows:  # large data: the search scored trials on a seeded sample
        n, seed = evaluation.sample_rows, evaluation.seed
        rows = "X_eval, y_eval"
        sample = (f"# On large data the search scored on a sample of {n:,} rows (cheaper "
                  "trials); so does this check.\n"
                  f"X_eval, y_eval = X.sample(n={n}, random_state={seed}), "
                  f"y.sample(n={n}, random_state={seed})\n")
    validate = (
        "# Validate as the search did (same splits, same scorer): this prints its score.\n"
        f"{sample}"
        f"cv = {splitter_expr}\n"
        f"scores = cross_val_score({pipeline_name}, {rows}, cv=cv, scoring={scorer_expr})\n"
        f"print(f{_rw.py_str(message)})\n"
        "\n"
        "# The final model, fitted on all rows.\n"
        f"{pipeline_name}.fit(X, y)\n"
    )
    return build, validate


def _predict_code(spec: TaskSpec, pipeline_name: str) -> str:
    lines = ["# Predict new rows: any DataFrame with the FEATURES columns (here, the first "
             "rows of X).",
             "new_rows = X.head()",
             f"print({pipeline_name}.predict(new_rows))"]
    if spec.is_classification:
        lines.append(f"print({pipeline_name}.predict_proba(new_rows))  # one column per class,"
                     f" in {pipeline_name}.classes_ order")
    return "\n".join(lines) + "\n"


def _md(text: Any) -> str:
    """Text safe inside a markdown table cell."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def _module_lines(chosen: Mapping[str, tuple[Candidate, Any]],
                  n_candidates: Mapping[str, int] | None) -> list[tuple[str, str, str, str]]:
    rows = []
    for slot in SLOTS:
        candidate = chosen[slot.name][0]
        count = (n_candidates or {}).get(slot.name)
        rows.append((slot.name.capitalize(), candidate.name, _first_line(candidate.description),
                     f"chosen from {count} candidates" if count and count > 1 else ""))
    return rows


def summary_header(spec: TaskSpec, evaluation: Evaluation) -> list[str]:
    """The summary cell's title, the task's text and its target / metric / validation rows
    (shared by the single-pipeline and the ensemble program)."""
    better = "higher is better" if spec.direction == "maximize" else "lower is better"
    task = _TASK_LABELS.get(spec.task_type, spec.task_type)
    if spec.classes:
        task += f", {len(spec.classes)} classes"
    lines = ["## Text-to-ML program", ""]
    lines += [f"> {line}" if line.strip() else ">" for line in spec.text.strip().split("\n")]
    return lines + ["", "| | |", "|---|---|",
                    f"| **Target** | `{_md(spec.target)}` ({_md(task)}) |",
                    f"| **Metric** | {_md(spec.metric_label())}, {better} |",
                    f"| **Validation** | {_md(evaluation.describe())} |"]


def _summary_markdown(spec: TaskSpec, chosen: Mapping[str, tuple[Candidate, Any]],
                      evaluation: Evaluation, best_score: float | None, run_id: str,
                      n_candidates: Mapping[str, int] | None) -> str:
    rows = f"{spec.n_rows}" + (f" ({spec.n_rows_dropped} dropped: missing target)"
                               if spec.n_rows_dropped else "")
    lines = summary_header(spec, evaluation)
    if best_score is not None:
        lines.append(f"| **Best score** | {best_score:.4f} |")
    lines += [f"| **Rows** | {rows} |", f"| **Features** | {len(spec.features)} columns |",
              "", "**Chosen modules**", ""]
    for i, (slot, name, what, count) in enumerate(_module_lines(chosen, n_candidates), 1):
        detail = ", ".join(p for p in (f"`{name}`", count) if p)
        lines.append(f"{i}. **{slot}**: {what + ' ' if what else ''}({detail})")
    excluded = spec.excluded()
    if excluded:
        lines += ["", "**Left out:** " + ", ".join(
            f"`{_md(c)}` ({_EXCLUDED_REASONS.get(r, r)})" for c, r in excluded.items())]
    if spec.notes:
        lines += ["", "**Notes**", ""] + [f"- {_md(n)}" for n in spec.notes]
    if run_id:
        lines += ["", f"<sub>text2ml run `{run_id}`</sub>"]
    return "\n".join(lines) + "\n"


def _summary_text(spec: TaskSpec, chosen: Mapping[str, tuple[Candidate, Any]],
                  evaluation: Evaluation, best_score: float | None, run_id: str) -> str:
    title = _first_line(spec.text) or "Text-to-ML program"
    lines = [title if len(title) <= 72 else title[:69] + "...", "", f"Task: {spec.text.strip()}",
             "", spec.summary(), f"Validation: {evaluation.describe()}"]
    if best_score is not None:
        lines.append(f"Best validation score: {best_score:.4f}")
    lines += ["", "Modules:"]
    lines += [f"  {slot.lower()}: {what or name} ({name})"
              for slot, name, what, _ in _module_lines(chosen, None)]
    lines += ["", "Standalone: runs with the libraries imported below; text2ml_jupyter is "
                  "not needed."]
    if run_id:
        lines.append(f"Generated by text2ml-jupyter, run {run_id}.")
    return "\n".join(lines)
