"""text2ml-jupyter: a plain-English ML task -> an optimized, tested, readable pipeline.

Text-to-ML (Xu et al., "Large Language Models Synergize with Automated Machine Learning",
TMLR 2024): the ML program is cut into modules, candidates for each module are generated in
the context of the modules before them and tested on the real data, and an Optuna study
selects the best combination and its hyperparameters.

    >>> import text2ml_jupyter
    >>> result = text2ml_jupyter.run("Predict whether a passenger survived.", titanic,
    ...                              time_budget=60)
    >>> result.pipeline.predict(new_rows)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["run", "resume", "Result", "TaskSpec", "infer_spec", "Candidate", "Event",
           "Text2MLError",
           "__version__"]

# Heavy modules (pandas, scikit-learn, Optuna) load on first use, so importing the package
# (and, later, loading the IPython extension) stays fast.
_LAZY = {
    "run": ("engine", "run"),
    "resume": ("resuming", "resume"),
    "Result": ("engine", "Result"),
    "TaskSpec": ("spec", "TaskSpec"),
    "infer_spec": ("spec", "infer_spec"),
    "Candidate": ("candidates", "Candidate"),
    "Event": ("events", "Event"),
    "Text2MLError": ("errors", "Text2MLError"),
}

if TYPE_CHECKING:
    from .candidates import Candidate
    from .engine import Result, run
    from .errors import Text2MLError
    from .events import Event
    from .resuming import resume
    from .spec import TaskSpec, infer_spec


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module, attribute = _LAZY[name]
        value = getattr(importlib.import_module(f".{module}", __name__), attribute)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext text2ml_jupyter``: the ``%%text2ml`` and ``%text2ml`` magics."""
    from .notebook.magics import load_ipython_extension as load

    load(ipython)


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    """Where the built JupyterLab extension lives (for `jupyter labextension develop`)."""
    return [{"src": "labextension", "dest": "text2ml-jupyter"}]
