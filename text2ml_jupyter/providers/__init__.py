"""Providers write candidate source for each slot (offline catalog, or an LLM)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from ..candidates import Candidate
from ..errors import Text2MLError
from ..slots import Slot
from ..spec import TaskSpec


@dataclass
class GenerationContext:
    """What a provider knows when it writes candidates for a slot.

    ``accepted`` holds the candidates that passed their tests in earlier slots (the
    upstream context of Contextual Modular Generation); ``data_summary`` is a compact,
    privacy-safe description of the columns.
    """

    spec: TaskSpec
    n_rows: int
    n_features: int
    seed: int = 0
    k: int = 4  # candidates wanted per slot
    accepted: dict[str, list[Candidate]] = field(default_factory=dict)
    data_summary: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


class Provider(Protocol):
    """Writes candidates; may repair one from its test failure (returns None if it cannot)."""

    name: str

    def generate(self, slot: Slot, context: GenerationContext) -> list[Candidate]: ...

    def repair(self, candidate: Candidate, error: str,
               context: GenerationContext) -> Candidate | None: ...


def get_provider(name: str | Provider, **options: Any) -> Provider:
    """A provider by name ("offline"), or the given provider object as is."""
    if not isinstance(name, str):
        return name
    if name == "offline":
        from .offline import OfflineProvider

        return OfflineProvider(**options)
    raise Text2MLError(f"Unknown provider {name!r}.", "Use provider='offline'.")
