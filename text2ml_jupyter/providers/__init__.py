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


PROVIDERS = ("auto", "offline", "openai")


def get_provider(name: str | Provider, *, catalog: bool = True, **options: Any) -> Provider:
    """A provider by name, or the given provider object as is.

    "offline": the built-in catalog. "openai": an OpenAI-compatible LLM (``options`` are
    ``LLMSettings`` fields; key and endpoint from the environment), competing with the
    catalog unless ``catalog=False``. "auto": "openai" when a key or base URL is
    configured, else "offline".
    """
    if not isinstance(name, str):
        return name
    from .offline import OfflineProvider

    if name == "auto":
        from .openai import LLMSettings

        name = "openai" if options.get("base_url") or options.get("api_key") or \
            LLMSettings.configured(options.get("api_key_env") or "OPENAI_API_KEY") \
            else "offline"
    if name == "offline":
        return OfflineProvider()
    if name == "openai":
        from .mixed import MixedProvider
        from .openai import LLMSettings, OpenAIProvider

        llm = OpenAIProvider(LLMSettings.resolve(**options))
        return MixedProvider(llm, OfflineProvider()) if catalog else llm
    raise Text2MLError(f"Unknown provider {name!r}.",
                       f"Use one of: {', '.join(PROVIDERS)} (e.g. --provider offline).")
