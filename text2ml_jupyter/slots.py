"""Module slots: the cut of an ML program into parts with fixed contracts.

A candidate for a slot is Python source defining one builder function. The builder
receives an Optuna trial first and declares its hyperparameters through it
(``trial.suggest_float(...)``), so the search space is the code itself. The builder
returns an unfitted scikit-learn object; the pipeline is always

    build_postprocess(trial, Pipeline([("preprocess", build_preprocess(trial, columns)),
                                       ("features", build_features(trial)),
                                       ("model", build_model(trial))]))
"""

from __future__ import annotations

import ast
import importlib.util
from dataclasses import dataclass

from ._syntax import parse_source
from .errors import CandidateError


@dataclass(frozen=True)
class Slot:
    """One module of the program: its builder's name and parameters, and its contract."""

    name: str
    function: str
    params: tuple[str, ...]
    contract: str


PREPROCESS = Slot(
    "preprocess", "build_preprocess", ("trial", "columns"),
    "Return an unfitted scikit-learn transformer taking the feature DataFrame (the columns in "
    "`columns`, a dict of role -> column names with keys numeric, categorical, text, datetime) "
    "and producing a 2-D numeric array or sparse matrix with the same rows and no NaN or inf: "
    "imputation, encoding, scaling, text vectorizing, date parts.",
)
FEATURES = Slot(
    "features", "build_features", ("trial",),
    "Return an unfitted scikit-learn transformer (or the string 'passthrough') taking the "
    "preprocess output and producing a 2-D numeric array or sparse matrix with the same rows, "
    "at least one column and no NaN or inf: feature selection, projection, interactions.",
)
MODEL = Slot(
    "model", "build_model", ("trial",),
    "Return an unfitted scikit-learn estimator with fit(X, y) and predict(X) on the features "
    "output; a classifier also has predict_proba(X) and classes_. Use the run's random_state.",
)
POSTPROCESS = Slot(
    "postprocess", "build_postprocess", ("trial", "pipeline"),
    "Return an unfitted scikit-learn estimator wrapping `pipeline` (the unfitted preprocess -> "
    "features -> model Pipeline), or `pipeline` itself: decision threshold, calibration, "
    "clipping or target transforms. It keeps fit/predict (and predict_proba, classes_ for a "
    "classifier) on the original feature DataFrame.",
)

SLOTS: tuple[Slot, ...] = (PREPROCESS, FEATURES, MODEL, POSTPROCESS)
SLOTS_BY_NAME = {s.name: s for s in SLOTS}

# Modules a candidate may import (a prefix match on the dotted name).
ALLOWED_IMPORTS = ("sklearn", "numpy", "pandas", "scipy", "math", "re", "string",
                   "collections", "itertools", "functools", "typing", "warnings", "datetime")
# Optional libraries a candidate may import when they are installed (the extras).
OPTIONAL_IMPORTS = ("lightgbm",)


def allowed_imports() -> tuple[str, ...]:
    """The modules a candidate may import here: the core ones and the installed optional ones
    (found without importing them)."""
    return ALLOWED_IMPORTS + tuple(m for m in OPTIONAL_IMPORTS
                                   if importlib.util.find_spec(m) is not None)

_FORBIDDEN_CALLS = {"eval", "exec", "compile", "open", "__import__", "input", "breakpoint",
                    "globals", "locals", "vars", "getattr", "setattr", "delattr"}


def check_source(slot: Slot, source: str) -> None:
    """Static contract check: parses, defines the builder with the right parameters,
    imports only allowed modules, calls nothing obviously dangerous.

    Raises CandidateError with a short, precise reason.
    """
    try:
        tree = parse_source(source)
    except SyntaxError as exc:
        raise CandidateError(f"syntax error on line {exc.lineno}: {exc.msg}") from None
    builders = [n for n in tree.body
                if isinstance(n, ast.FunctionDef) and n.name == slot.function]
    if not builders:
        raise CandidateError(f"does not define {slot.function}{_signature(slot)}")
    args = tuple(a.arg for a in builders[0].args.args)
    if args != slot.params:
        raise CandidateError(f"{slot.function} must take ({', '.join(slot.params)}), "
                             f"not ({', '.join(args)})")
    allowed = allowed_imports()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                raise CandidateError("relative imports are not allowed")
            names = [node.module or ""]
        else:
            names = []
        for name in names:
            if not any(name == m or name.startswith(m + ".") for m in allowed):
                raise CandidateError(f"imports {name!r}; allowed: {', '.join(allowed)}")
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                and node.func.id in _FORBIDDEN_CALLS:
            raise CandidateError(f"calls {node.func.id}(), which candidates may not use")
        if isinstance(node, ast.Attribute) and node.attr.startswith("__") \
                and node.attr not in ("__init__", "__name__"):
            raise CandidateError(f"uses the dunder attribute {node.attr!r}")


def _signature(slot: Slot) -> str:
    return f"({', '.join(slot.params)})"
