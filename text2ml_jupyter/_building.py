"""Build a pipeline from candidate sources inside a worker (never in the caller's process)."""

from __future__ import annotations

import linecache
from collections.abc import Callable
from typing import Any

from .slots import SLOTS_BY_NAME

# (slot name, candidate name, source, defaults), in slot order; a prefix for tests.
Chain = list[tuple[str, str, str, dict[str, Any]]]


def load_training_data(context: Any, data_path: str, task: Any) -> tuple[Any, Any]:
    """(X, y) for the task from the worker's cached data, derived once per worker rather
    than copied again for every test and trial. Callers pass only row subsets (copies)
    to candidate code, so the shared frames stay untouched."""
    from .spec import training_data

    key = (data_path, task.target, tuple(task.features))
    return context.memo(key, lambda: training_data(task, context.load(data_path)))


def exec_candidate(slot: str, name: str, source: str) -> Callable[..., Any]:
    """Execute a candidate's source in a fresh namespace and return its builder.

    The source is registered with linecache under ``<candidate slot.name>`` so errors
    can quote the candidate's own line.
    """
    filename = f"<candidate {slot}.{name}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    namespace: dict[str, Any] = {"__name__": f"text2ml_candidate_{slot}_{name}"}
    exec(compile(source, filename, "exec"), namespace)  # noqa: S102 - isolated worker
    return namespace[SLOTS_BY_NAME[slot].function]


def build_parts(chain: Chain, trial_for: Callable[[str, str, dict[str, Any]], Any],
                columns: dict[str, list[str]]) -> dict[str, Any]:
    """Call each builder in the chain; returns slot name -> built (unfitted) object.

    ``postprocess`` receives the assembled Pipeline; ``trial_for(slot, name, defaults)``
    gives the trial object a candidate declares its hyperparameters through.
    """
    from sklearn.pipeline import Pipeline

    parts: dict[str, Any] = {}
    for slot, name, source, defaults in chain:
        builder = exec_candidate(slot, name, source)
        trial = trial_for(slot, name, defaults)
        if slot == "preprocess":
            parts[slot] = builder(trial, columns)
        elif slot == "postprocess":
            pipeline = Pipeline([(s, parts[s]) for s in ("preprocess", "features", "model")])
            parts[slot] = builder(trial, pipeline)
        else:
            parts[slot] = builder(trial)
    return parts


def full_estimator(parts: dict[str, Any]) -> Any:
    """The estimator a complete chain builds: the postprocess output."""
    return parts["postprocess"]


class DefaultTrial:
    """A stand-in trial for contract tests: the candidate's defaults, else cheap values
    (first choice, low bound), so a test is quick and deterministic."""

    def __init__(self, defaults: dict[str, Any] | None = None) -> None:
        self._defaults = defaults or {}
        self.params: dict[str, Any] = {}

    def _pick(self, name: str, value: Any) -> Any:
        self.params[name] = self._defaults.get(name, value)
        return self.params[name]

    def suggest_float(self, name: str, low: float, high: float, *, step: float | None = None,
                      log: bool = False) -> float:
        return self._pick(name, float(low))

    def suggest_int(self, name: str, low: int, high: int, *, step: int = 1,
                    log: bool = False) -> int:
        return self._pick(name, int(low))

    def suggest_categorical(self, name: str, choices: Any) -> Any:
        return self._pick(name, list(choices)[0])


class RemoteTrial:
    """A trial whose ``suggest_*`` calls are answered by the real Optuna trial in the
    caller's process; names are scoped to the candidate (``"slot.name.param"``)."""

    def __init__(self, ask: Callable[[Any], Any], prefix: str) -> None:
        self._ask = ask
        self._prefix = prefix

    def _suggest(self, method: str, name: str, args: tuple, kwargs: dict) -> Any:
        if not isinstance(name, str):
            raise TypeError(f"{method} needs a parameter name string, got {name!r}")
        return self._ask(("suggest", method, self._prefix + name, args, kwargs))

    def suggest_float(self, name: str, *args: Any, **kwargs: Any) -> float:
        return self._suggest("suggest_float", name, args, kwargs)

    def suggest_int(self, name: str, *args: Any, **kwargs: Any) -> int:
        return self._suggest("suggest_int", name, args, kwargs)

    def suggest_categorical(self, name: str, *args: Any, **kwargs: Any) -> Any:
        return self._suggest("suggest_categorical", name, args, kwargs)
