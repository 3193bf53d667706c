"""What the LLM calls of a run cost: calls, tokens and, for well-known models, dollars.

The totals are shown to the user at the end of a run (``Usage.summary``), so a run's cost
is never a surprise. Prices are list prices per million tokens and only an estimate: the
bill is the provider's.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from typing import Any

# USD per 1M (input, output) tokens, from the providers' public price lists.
PRICES: dict[str, tuple[float, float]] = {
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4o": (2.50, 10.00),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-4-turbo": (10.00, 30.00),
    "gpt-3.5-turbo": (0.50, 1.50),
    "gpt-5": (1.25, 10.00),
    "gpt-5-mini": (0.25, 2.00),
    "gpt-5-nano": (0.05, 0.40),
    "o3-mini": (1.10, 4.40),
    "o4-mini": (1.10, 4.40),
}

# A dated snapshot of a known model: "gpt-4o-mini-2024-07-18", "gpt-4-turbo-2024-04-09".
_DATED = re.compile(r"-\d{4}(-\d{2}-\d{2})?$")


def price_of(model: str) -> tuple[float, float] | None:
    """The (input, output) price of ``model`` per 1M tokens, or None when unknown.

    A dated name costs what its base model costs; other suffixes ("gpt-4o-audio-preview")
    are different models and stay unknown rather than priced wrongly. A routing prefix
    such as ``openai/`` is ignored.
    """
    name = model.strip().lower().rsplit("/", 1)[-1]
    if name in PRICES:
        return PRICES[name]
    base = _DATED.sub("", name)
    return PRICES.get(base) if base != name else None


@dataclass
class Usage:
    """Running totals of one provider's calls; ``add`` may be called from several threads.

    ``calls`` counts every request including the ``cached`` ones (answered from the disk
    cache, no tokens spent). ``cost_usd`` is None when the model's price is unknown.
    """

    calls: int = 0
    cached: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = None

    def __post_init__(self) -> None:
        # Not a dataclass field: dataclasses.asdict (usage.json) and pickling skip it.
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "_lock"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def add(self, prompt_tokens: int = 0, completion_tokens: int = 0, *, model: str = "",
            cached: bool = False) -> None:
        """Count one call; a cached call adds no tokens and no cost."""
        price = price_of(model) if model else None
        prompt_tokens, completion_tokens = int(prompt_tokens or 0), int(completion_tokens or 0)
        with self._lock:
            self.calls += 1
            if price is not None and self.cost_usd is None:
                self.cost_usd = 0.0  # known price: a run answered from the cache cost $0
            if cached:
                self.cached += 1
                return
            self.prompt_tokens += prompt_tokens
            self.completion_tokens += completion_tokens
            if price is not None:
                spent = (prompt_tokens * price[0] + completion_tokens * price[1]) / 1e6
                self.cost_usd = (self.cost_usd or 0.0) + spent

    def to_dict(self) -> dict[str, Any]:
        """The totals as plain values (for result.json and events)."""
        with self._lock:
            return {"calls": self.calls, "cached": self.cached,
                    "prompt_tokens": self.prompt_tokens,
                    "completion_tokens": self.completion_tokens, "cost_usd": self.cost_usd}

    def summary(self) -> str:
        """One line, e.g. ``LLM: 9 calls (3 cached), 12,345 prompt + 2,345 completion
        tokens, about $0.004``."""
        data = self.to_dict()
        calls = f"{data['calls']} call{'' if data['calls'] == 1 else 's'}"
        if data["cached"]:
            calls += f" ({data['cached']} cached)"
        text = (f"LLM: {calls}, {data['prompt_tokens']:,} prompt + "
                f"{data['completion_tokens']:,} completion tokens")
        if data["cost_usd"] is not None:
            text += f", {_dollars(data['cost_usd'])}"
        return text


def _dollars(cost: float) -> str:
    if cost <= 0:
        return "$0"
    if cost < 0.001:
        return "under $0.001"
    return f"about ${cost:.3f}" if cost < 1 else f"about ${cost:.2f}"
