"""The run's Optuna journal without a disk flush per operation.

Optuna's ``JournalFileBackend`` fsyncs the file on every append: about 7 ms each, and a
trial makes 15-25 of them (its suggestions, one report per fold, user attributes, tell),
which on small data cost more than the trial's own fits. What a resume has to survive is
the process dying, not the machine: a completed ``write`` is in the OS page cache and
outlives the process, so appends here skip the flush, and :func:`sync` flushes
once when the search ends. A kill mid-write can still cut the last line short;
``RunFolder.repair_journal`` drops it. The file format is Optuna's (one JSON log per
line), read by Optuna's own ``read_logs``.
"""

from __future__ import annotations

import fcntl
import json
import os
from typing import Any

from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock


class RunJournal(JournalFileBackend):
    """Appends under an exclusive ``flock`` on the journal itself (released by the OS if
    the process dies, so no stale lock file is left behind) and without ``fsync``."""

    def __init__(self, path: str) -> None:
        self._path = path
        super().__init__(path, lock_obj=JournalFileOpenLock(path))

    def append_logs(self, logs: list[dict[str, Any]]) -> None:
        data = "".join(json.dumps(log, separators=(",", ":")) + "\n" for log in logs)
        with open(self._path, "ab") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            handle.write(data.encode("utf-8"))  # one write: lines stay whole in the file


def sync(path: str | os.PathLike[str]) -> None:
    """Flush a journal to disk (once, when the search ends); no journal, nothing to do."""
    try:
        with open(path, "ab") as handle:
            os.fsync(handle.fileno())
    except FileNotFoundError:
        pass
