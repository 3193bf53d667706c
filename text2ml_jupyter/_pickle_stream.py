"""A pickle sent in chunks over a worker's connection (the refit's fitted pipeline).

A forest fitted on 1M rows pickles to 100+ MB. As one bytes object it is copied again by
the send and twice by the receive; in chunks, the worker's ``pickle.dump`` writes into a
``ChunkWriter`` that sends each chunk as a question (``WorkerContext.ask``), and the caller
unpickles from a ``ChunkReader`` that drops each chunk once read (``_refit.refit_in_worker``).
"""

from __future__ import annotations

import collections
from typing import Any

_CHUNK_BYTES = 8 * 2**20


class ChunkWriter:
    """(Worker side.) A file for ``pickle.dump`` that sends what it is given to the caller
    in chunks of ``_CHUNK_BYTES``; a large array's buffer is sliced, not copied whole."""

    def __init__(self, ask: Any) -> None:
        self._ask = ask
        self._pending = bytearray()

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        size = len(view)
        if self._pending:
            take = min(size, _CHUNK_BYTES - len(self._pending))
            self._pending += view[:take]
            view = view[take:]
            if len(self._pending) == _CHUNK_BYTES:
                self._send(bytes(self._pending))
                self._pending.clear()
        while len(view) >= _CHUNK_BYTES:
            self._send(bytes(view[:_CHUNK_BYTES]))
            view = view[_CHUNK_BYTES:]
        self._pending += view
        return size

    def close(self) -> None:
        if self._pending:
            self._send(bytes(self._pending))
            self._pending.clear()

    def _send(self, chunk: bytes) -> None:
        self._ask(("pickle", chunk))


class ChunkReader:
    """(Caller side.) The received chunks as a file for ``pickle.load``; each chunk is
    dropped once read, so the bytes shrink as the pipeline grows."""

    def __init__(self, chunks: collections.deque[bytes]) -> None:
        self._chunks = chunks
        self._current = memoryview(b"")

    def _next(self) -> bool:
        while not self._current and self._chunks:
            self._current = memoryview(self._chunks.popleft())
        return bool(self._current)

    def read(self, size: int = -1) -> bytes:
        parts = []
        while size != 0 and self._next():
            take = len(self._current) if size < 0 else min(size, len(self._current))
            parts.append(self._current[:take].tobytes())
            self._current = self._current[take:]
            size -= 0 if size < 0 else take
        return b"".join(parts)

    def readinto(self, buffer: Any) -> int:
        target = memoryview(buffer).cast("B")
        filled = 0
        while filled < len(target) and self._next():
            take = min(len(target) - filled, len(self._current))
            target[filled:filled + take] = self._current[:take]
            self._current = self._current[take:]
            filled += take
        return filled

    def readline(self) -> bytes:
        parts = []
        while self._next():
            end = bytes(self._current[:4096]).find(b"\n")
            take = end + 1 if end >= 0 else min(4096, len(self._current))
            parts.append(self._current[:take].tobytes())
            self._current = self._current[take:]
            if end >= 0:
                break
        return b"".join(parts)
