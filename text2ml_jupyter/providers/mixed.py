"""An LLM and the offline catalog competing in one study.

The catalog gives a strong, instant floor; the LLM adds what the catalog lacks
(task-specific features, other models). Per slot the catalog's batch is ready at once and
is tested while the LLM is still writing its batch (``generate_batches``). If the LLM
becomes unavailable, the run goes on with the catalog and says so.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from ..candidates import Candidate
from ..errors import Text2MLError
from ..slots import Slot
from . import GenerationContext


class MixedProvider:
    """``llm`` candidates plus ``catalog`` candidates for every slot."""

    def __init__(self, llm: Any, catalog: Any) -> None:
        self.llm = llm
        self.catalog = catalog
        self.name = f"{llm.name}+{catalog.name}"
        self.notes: list[str] = []
        self._lost = threading.Event()  # the LLM failed: stop asking it
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="text2ml-llm")

    @property
    def usage(self) -> Any:
        return getattr(self.llm, "usage", None)

    def propose_spec(self, task: str, schema: str) -> dict[str, Any] | None:
        return self._ask(lambda: self.llm.propose_spec(task, schema))

    def generate(self, slot: Slot, context: GenerationContext) -> list[Candidate]:
        return [c for batch in self.generate_batches(slot, context) for c in batch.result()]

    def generate_batches(self, slot: Slot, context: GenerationContext
                         ) -> list[Future[list[Candidate]]]:
        """The catalog's batch (done) and the LLM's (running on a thread)."""
        done: Future[list[Candidate]] = Future()
        done.set_result(self.catalog.generate(slot, context))
        if self._lost.is_set():
            return [done]
        return [done, self._pool.submit(lambda: self._ask(
            lambda: self.llm.generate(slot, context)) or [])]

    def repair(self, candidate: Candidate, error: str,
               context: GenerationContext) -> Candidate | None:
        if candidate.origin == self.catalog.name or self._lost.is_set():
            return None
        return self._ask(lambda: self.llm.repair(candidate, error, context))

    def drop_llm(self, reason: str) -> None:
        """Stop asking the LLM in this run (too slow for the budget); say so once."""
        if not self._lost.is_set():
            self._lost.set()
            self.notes.append(f"The LLM was too slow ({reason}); the run went on with the "
                              "offline catalog's candidates.")

    def _ask(self, call: Any) -> Any:
        """Call the LLM; when it is lost, note it once and let the catalog carry on."""
        if self._lost.is_set():
            return None
        from .openai import LLMUnavailable

        try:
            return call()
        except LLMUnavailable as exc:  # unreachable, key rejected, no such model: stop asking
            if not self._lost.is_set():
                self._lost.set()
                self.notes.append(f"The LLM stopped answering ({exc.problem}); the run went "
                                  "on with the offline catalog's candidates.")
        except Exception as exc:  # noqa: BLE001 - one failed call: skip it, keep the LLM
            reason = exc.problem if isinstance(exc, Text2MLError) else type(exc).__name__
            self.notes.append(f"An LLM call failed ({reason}); its candidates are missing.")
        return None

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
