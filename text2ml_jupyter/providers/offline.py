"""The offline provider: candidates from a curated catalog of scikit-learn building blocks.

No model is called: each slot's candidates are chosen and parameterized from the TaskSpec
(task type, metric, column roles) and the data size, best first. The catalog lives in the
``_catalog_*`` modules, one per slot.
"""

from __future__ import annotations

from collections.abc import Callable

from ..candidates import Candidate
from ..errors import Text2MLError
from ..slots import Slot
from . import GenerationContext
from ._catalog_common import Profile, profile_of
from ._catalog_features import features_candidates
from ._catalog_models import model_candidates
from ._catalog_postprocess import postprocess_candidates
from ._catalog_preprocess import preprocess_candidates

_CATALOG: dict[str, Callable[[Profile], list[Candidate]]] = {
    "preprocess": preprocess_candidates,
    "features": features_candidates,
    "model": model_candidates,
    "postprocess": postprocess_candidates,
}


class OfflineProvider:
    """Writes up to ``context.k`` catalog candidates per slot, best first; cannot repair."""

    name = "offline"  # takes no options: the catalog is decided by the task and the data

    def generate(self, slot: Slot, context: GenerationContext) -> list[Candidate]:
        """The ``context.k`` most promising catalog candidates for ``slot``, best first."""
        try:
            catalog = _CATALOG[slot.name]
        except KeyError:
            raise Text2MLError(f"The offline catalog has no candidates for the slot "
                               f"{slot.name!r}.", "Use the slots defined in slots.py.") from None
        if context.k < 1:
            return []
        return catalog(profile_of(context))[: context.k]

    def repair(self, candidate: Candidate, error: str,
               context: GenerationContext) -> Candidate | None:
        """The catalog's candidates are fixed code: a failure is not repairable here."""
        return None
