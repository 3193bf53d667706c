"""The run folder: everything a run leaves behind, written atomically.

``<run_dir>/<run_id>/`` holds spec.json, candidates.json and candidates/*.py (every
candidate's source and test outcome), study.journal (the Optuna storage, unless the run
was given another), program.py and result.json. ``scratch/`` holds the worker logs and
the copy of the data the workers read; the data copy is removed when the run ends.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .candidates import Candidate


def new_run_id() -> str:
    """Sortable and unique: UTC time plus a few random hex digits."""
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + "-" + secrets.token_hex(2)


def write_atomic(path: Path, text: str) -> None:
    """Write via a temporary file in the same folder and rename, so readers never see
    half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@dataclass
class RunFolder:
    path: Path
    run_id: str

    @classmethod
    def create(cls, root: Path, run_id: str) -> RunFolder:
        folder = cls(root / run_id, run_id)
        folder.scratch.mkdir(parents=True, exist_ok=True)
        return folder

    @property
    def scratch(self) -> Path:
        return self.path / "scratch"

    def storage(self) -> object:
        """The study's storage: an Optuna journal file (appends only, so it stays cheap
        per trial and consistent if the process dies mid-write; SQLite here cost ~8x more
        per trial)."""
        from optuna.storages import JournalStorage
        from optuna.storages.journal import JournalFileBackend

        return JournalStorage(JournalFileBackend(str(self.path / "study.journal")))

    def write_text(self, name: str, text: str) -> None:
        write_atomic(self.path / name, text)

    def write_json(self, name: str, data: Any) -> None:
        write_atomic(self.path / name, json.dumps(data, indent=1, default=str))

    def write_candidates(self, candidates: list[Candidate]) -> None:
        for candidate in candidates:
            write_atomic(self.path / "candidates" / f"{candidate.key}.py", candidate.source)
        self.write_json("candidates.json", [
            {k: v for k, v in c.to_dict().items() if k != "source"} for c in candidates])

    def clean_scratch(self) -> None:
        """Remove the data copy; keep the worker logs."""
        for item in self.scratch.glob("*.pkl"):
            item.unlink(missing_ok=True)
        if not any(self.scratch.iterdir()):
            shutil.rmtree(self.scratch, ignore_errors=True)
