"""Candidates: one proposal of source code for one slot, and what became of it."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

PENDING = "pending"
TESTING = "testing"
PASSED = "passed"
FAILED = "failed"


@dataclass
class Candidate:
    """Source code for one slot, with its test outcome.

    ``name`` is unique within its slot and is the value the search's categorical choice
    takes; the candidate's hyperparameters appear in the study as ``"{slot}.{name}.{param}"``.
    """

    slot: str
    name: str
    source: str
    description: str = ""
    origin: str = "offline"  # offline | openai | ...
    status: str = PENDING
    reason: str | None = None  # why it failed, short and precise
    test_seconds: float | None = None
    defaults: dict[str, Any] = field(default_factory=dict)  # good first values, enqueued
    catalog: bool = False  # written by the built-in catalog (trusted to be deterministic)

    @property
    def key(self) -> str:
        return f"{self.slot}.{self.name}"

    def param_prefix(self) -> str:
        return f"{self.key}."

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Candidate:
        return cls(**data)
