"""A disk cache of LLM answers, keyed by the request.

The same prompt to the same model at the same endpoint gets the stored answer: a rerun
or a resumed run costs nothing and is reproducible. The key is the SHA-256 of the
request's canonical JSON (model, messages, temperature, base URL); the API key is never
part of a request, a key or a file. Each entry is one JSON file written atomically, so a
crash mid-write leaves the old entry or none; a corrupted entry reads as a miss and is
replaced by the next ``put``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any

from .._runfolder import write_atomic

_log = logging.getLogger(__name__)

_FORMAT = 1  # bump when an entry's layout changes: older entries then read as misses

# Request fields that could carry a credential; never hashed, never stored.
_SECRET_FIELDS = frozenset({"api_key", "authorization", "headers"})


class ResponseCache:
    """Answers stored as ``<folder>/<sha256>.json``; safe to share between threads and runs."""

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder).expanduser()

    @staticmethod
    def key(request: dict[str, Any]) -> str:
        """SHA-256 hex digest of the request's canonical JSON (sorted keys, no spaces)."""
        return hashlib.sha256(_canonical(request).encode("utf-8")).hexdigest()

    def path(self, request: dict[str, Any]) -> Path:
        return self.folder / f"{self.key(request)}.json"

    def get(self, request: dict[str, Any]) -> dict[str, Any] | None:
        """The stored response for ``request``, or None (missing, unreadable, corrupted)."""
        path = self.path(request)
        try:
            entry = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:  # ValueError covers bad JSON and bad UTF-8
            _log.warning("Ignoring the unreadable LLM cache entry %s (%s)", path.name,
                         type(exc).__name__)
            return None
        if (not isinstance(entry, dict) or entry.get("format") != _FORMAT
                or not isinstance(entry.get("response"), dict)):
            _log.warning("Ignoring the malformed LLM cache entry %s", path.name)
            return None
        return entry["response"]

    def put(self, request: dict[str, Any], response: dict[str, Any]) -> None:
        """Store ``response`` for ``request`` atomically (temporary file + rename).

        A cache that cannot be written (read-only folder, full disk) is logged and
        skipped: the run goes on without it.
        """
        entry = {"format": _FORMAT, "request": _public(request), "response": response}
        text = json.dumps(entry, ensure_ascii=False, indent=1, default=str)
        path = self.path(request)
        try:
            write_atomic(path, text)
        except OSError as exc:
            _log.warning("Could not write the LLM cache entry %s (%s)", path.name, exc)


def _public(request: dict[str, Any]) -> dict[str, Any]:
    """The request without any field that could hold a credential."""
    return {k: v for k, v in request.items() if str(k).lower() not in _SECRET_FIELDS}


def _canonical(request: dict[str, Any]) -> str:
    return json.dumps(_public(request), sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False, default=str)
