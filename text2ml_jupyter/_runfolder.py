"""The run folder: everything a run leaves behind, written atomically, read back carefully.

``<run_dir>/<run_id>/`` holds spec.json, candidates.json and candidates/*.py (every
candidate's source and test outcome), study.journal (the Optuna storage, unless the run
was given another), run.json (what a resume needs besides the study, written when the
search starts), program.py and result.json (when the run finished), notebook.json (from
the notebook layer) and usage.json (when an LLM wrote). ``scratch/`` holds the worker
logs (the only place workers may write); ``shipped/`` the copy of the data the workers
read, removed when the run ends.

Every file is written whole or not at all (temporary file, fsync, rename), so a process
killed at any moment leaves each file old, new or absent, never half-written. The journal
is the exception Optuna owns: it appends one line per operation, so a kill can cut its
last line short; :meth:`RunFolder.repair_journal` drops that line before a resume appends.
Reading a folder back (:meth:`RunFolder.load_saved`) says precisely what is missing or
damaged and how to get out of it, instead of failing deep inside.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import os
import re
import secrets
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from .candidates import Candidate
from .errors import Text2MLError

JOURNAL = "study.journal"
RUN_INFO = "run.json"
# A journal write holds its lock for milliseconds: one still there after this is stale.
_LOCK_WAIT_SECONDS = 2.0
# Files only a run writes: a folder with none of them is not a run folder.
_RUN_FILES = ("spec.json", "candidates.json", JOURNAL, RUN_INFO, "result.json",
              "notebook.json")

# Called with the new RunFolder by RunFolder.create, in the thread that set it (see on_create).
_ON_CREATE: contextvars.ContextVar[Callable[[RunFolder], None] | None] = \
    contextvars.ContextVar("text2ml_on_create", default=None)


def new_run_id() -> str:
    """Sortable and unique: UTC time plus a few random hex digits."""
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + "-" + secrets.token_hex(2)


def write_atomic(path: Path, text: str | bytes, *, mode: int | None = None,
                 fsync: bool = True) -> None:
    """Write via a temporary file in the same folder, flushed to disk, then rename, so
    readers never see half a file, even after a crash (without ``fsync``, for a copy
    that is cheap to lose, a crash may leave an empty or short file instead).

    The file is private to the user (0600) unless ``mode`` is given: run folders and the
    LLM cache stay private, files the user asked for get ``plain_mode(path)``.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        binary = isinstance(text, bytes)  # e.g. the pickled data of a shared study
        how = {"mode": "wb"} if binary else {"mode": "w", "encoding": "utf-8"}
        with os.fdopen(fd, **how) as handle:
            handle.write(text)
            handle.flush()
            if fsync:
                os.fsync(handle.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def plain_mode(path: Path) -> int:
    """The mode a plain ``open(path, "w")`` would give: the existing file's, else 0666
    without the process umask (read from /proc: ``os.umask`` would have to change it)."""
    try:
        return path.stat().st_mode & 0o777
    except OSError:
        pass
    umask = 0o022
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                umask = int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return 0o666 & ~umask


@contextlib.contextmanager
def on_create(callback: Callable[[RunFolder], None]) -> Iterator[None]:
    """Within this block (and thread), call ``callback(folder)`` as soon as a run creates
    its folder: the notebook layer writes notebook.json there at once, so that after a
    kernel restart mid-run ``%text2ml resume`` still finds the run."""
    token = _ON_CREATE.set(callback)
    try:
        yield
    finally:
        _ON_CREATE.reset(token)


def public_storage(storage: Any) -> str | None:
    """A storage URL fit to be written down: its password replaced by ``***`` (the run
    folder holds no secrets), also a ``password=`` query value. None for the default
    journal and for storage objects."""
    if not isinstance(storage, str):
        return None
    try:
        parts = urlsplit(storage)
        password, port = parts.password, parts.port
    except ValueError:  # not a URL a parser can take apart: hide all before the host
        head, at, host = storage.rpartition("@")
        scheme, sep, _ = head.partition("://")
        return f"{scheme}{sep}***@{host}" if at else _masked_query(storage)
    if not password:
        return _masked_query(storage)
    host = parts.hostname or ""
    if port:
        host += f":{port}"
    return _masked_query(urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}")))


def _masked_query(url: str) -> str:
    """``...?password=secret`` (libpq takes the password there too) -> ``password=***``."""
    return re.sub(r"(?i)([?&;](?:password|passwd|pwd)=)[^&;#]*", r"\1***", url)


def damaged(folder: Path, detail: str) -> Text2MLError:
    """The error for a run folder whose files cannot be trusted."""
    return Text2MLError(f"The run folder {str(folder)!r} is damaged: {detail}.",
                        _way_out(folder))


def not_started(folder: Path, detail: str) -> Text2MLError:
    """The error for a run that stopped (killed, crashed) before there was a study to
    continue."""
    return Text2MLError(f"The run in {str(folder)!r} stopped before its search started "
                        f"({detail}), so there is nothing to resume.", _way_out(folder))


def _way_out(folder: Path) -> str:
    return (f"Start a new run (a %%text2ml cell, or text2ml_jupyter.run()), or delete "
            f"{str(folder)!r} if you no longer need it.")


@dataclass
class SavedRun:
    """What the run folder says about a run, checked file by file (see load_saved)."""

    spec: dict[str, Any]
    candidates: list[dict[str, Any]]  # candidates.json entries, each with its "source"
    evaluation: dict[str, Any] | None  # None: the study's user attribute has it
    data_name: str
    pipeline_name: str
    storage: str | None  # a storage URL (password masked), None for the journal
    notebook: dict[str, Any] | None  # notebook.json, when the run came from a notebook


@dataclass
class RunFolder:
    path: Path
    run_id: str

    @classmethod
    def create(cls, root: Path, run_id: str) -> RunFolder:
        folder = cls(root / run_id, run_id)
        folder.scratch.mkdir(parents=True, exist_ok=True)
        callback = _ON_CREATE.get()
        if callback is not None:
            callback(folder)
        return folder

    @property
    def scratch(self) -> Path:
        return self.path / "scratch"

    @property
    def journal(self) -> Path:
        return self.path / JOURNAL

    def storage(self) -> object:
        """The study's storage: an Optuna journal file (appends only, so it stays cheap
        per trial and consistent if the process dies mid-write; SQLite here cost ~8x more
        per trial)."""
        from optuna.storages import JournalStorage

        from ._journal import RunJournal

        return JournalStorage(RunJournal(str(self.journal)))

    # ------------------------------------------------------------------ writing
    def write_text(self, name: str, text: str) -> None:
        write_atomic(self.path / name, text)

    def write_json(self, name: str, data: Any) -> None:
        write_atomic(self.path / name, json.dumps(data, indent=1, default=str))

    def write_candidates(self, candidates: list[Candidate]) -> None:
        # The sources first: once candidates.json exists, every file it names does.
        for candidate in candidates:
            write_atomic(self.path / "candidates" / f"{candidate.key}.py", candidate.source)
        self.write_json("candidates.json", [
            {k: v for k, v in c.to_dict().items() if k != "source"} for c in candidates])

    def write_run_info(self, *, evaluation: dict[str, Any], data_name: str,
                       pipeline_name: str, storage: Any, study_name: str | None = None
                       ) -> None:
        """run.json: what a resume needs besides spec, candidates and study, written
        before the first trial so that a run killed mid-search can be resumed."""
        self.write_json(RUN_INFO, {"evaluation": evaluation, "data_name": data_name,
                                   "pipeline_name": pipeline_name,
                                   "storage": public_storage(storage),
                                   "study_name": study_name or self.run_id})

    @property
    def shipped(self) -> Path:
        """Where the data goes for the workers (_shipping.write_frame): beside the scratch
        folder, not in it, so no worker can change what another worker loads (a worker
        writes only in the scratch folder, _guard.py)."""
        return self.path / "shipped"

    def clean_scratch(self) -> None:
        """Remove the data copy (_shipping.write_frame's files); keep the worker logs."""
        shutil.rmtree(self.shipped, ignore_errors=True)
        for pattern in ("*.pkl", "*.npy", "*.parts"):  # where older versions shipped it
            for item in self.scratch.glob(pattern):
                item.unlink(missing_ok=True)
        if self.scratch.is_dir() and not any(self.scratch.iterdir()):
            shutil.rmtree(self.scratch, ignore_errors=True)

    # ------------------------------------------------------------------ reading
    def read_json(self, name: str) -> Any:
        """The parsed file, None when it is absent; damaged() when it cannot be read."""
        path = self.path / name
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:  # ValueError: not UTF-8
            raise damaged(self.path, f"{name} cannot be read ({_short(exc)})") from None
        try:
            return json.loads(text)
        except ValueError as exc:
            raise damaged(self.path, f"{name} is not valid JSON ({exc})") from None

    def reached_search(self) -> bool:
        """True once the run created its study (the files a resume continues from)."""
        return any((self.path / name).exists() for name in (JOURNAL, RUN_INFO, "result.json"))

    def load_saved(self) -> SavedRun:
        """Read and check what a resume needs. Raises ``Text2MLError``: no such folder,
        not a run folder, a run that never reached its search, or a damaged file."""
        if not self.path.is_dir():
            raise Text2MLError(f"No run folder at {str(self.path)!r}.",
                               "Pass the folder of a run: .text2ml/<run id> (a Result's "
                               "run_dir).")
        if not any((self.path / name).exists() for name in _RUN_FILES):
            raise Text2MLError(f"{str(self.path)!r} is not a text2ml run folder (it has no "
                               "spec.json, candidates.json or study.journal).",
                               "Pass the folder of one run: .text2ml/<run id> (a Result's "
                               "run_dir).")
        notebook = self._read_dict("notebook.json", "the notebook's run")
        result = self._read_dict("result.json", "a run's result")
        info = self._read_dict(RUN_INFO, "a run")
        info_name = RUN_INFO if info is not None else "result.json"
        info = info if info is not None else result
        spec = self._read_dict("spec.json", "a task")
        if spec is None:
            raise self._missing("spec.json", "it stopped while reading the task")
        candidates = self._read_candidates()
        info = info or {}
        storage = info.get("storage")
        # The journal must exist once the search started, unless the study lives elsewhere.
        self.check_journal(required=bool(info) and not storage)
        evaluation = info.get("evaluation")
        if evaluation is not None and not isinstance(evaluation, dict):
            raise damaged(self.path, f"{info_name} has no valid validation protocol")
        names = {key: info.get(key) or (notebook or {}).get(key) or default
                 for key, default in (("data_name", "df"), ("pipeline_name", "pipeline"))}
        for key, value in names.items():
            if not isinstance(value, str) or not value.isidentifier():
                raise damaged(self.path, f"its {key} {value!r} is not a variable name")
        return SavedRun(spec, candidates, evaluation, names["data_name"],
                        names["pipeline_name"], storage if isinstance(storage, str) else None,
                        notebook)

    def _read_dict(self, name: str, what: str) -> dict[str, Any] | None:
        data = self.read_json(name)
        if data is not None and not isinstance(data, dict):
            raise damaged(self.path, f"{name} does not describe {what} (a JSON "
                          f"{type(data).__name__}, not an object)")
        return data

    def _missing(self, name: str, when: str) -> Text2MLError:
        """A required file is absent: damaged if the run got further than writing it,
        else it simply stopped early."""
        if self.reached_search():
            return damaged(self.path, f"{name} is missing")
        return not_started(self.path, f"{name} is missing: {when}")

    def _read_candidates(self) -> list[dict[str, Any]]:
        entries = self.read_json("candidates.json")
        if entries is None:
            raise self._missing("candidates.json", "it stopped while writing and testing "
                                "the candidates")
        if not isinstance(entries, list):
            raise damaged(self.path, "candidates.json does not list candidates")
        out = []
        for number, entry in enumerate(entries, start=1):
            if not (isinstance(entry, dict) and _plain_name(entry.get("slot"))
                    and _plain_name(entry.get("name"))):
                raise damaged(self.path, f"entry {number} of candidates.json has no valid "
                              "slot and name")
            relative = f"candidates/{entry['slot']}.{entry['name']}.py"
            try:
                source = (self.path / relative).read_text(encoding="utf-8")
            except FileNotFoundError:
                raise damaged(self.path, f"{relative} is missing") from None
            except (OSError, ValueError) as exc:
                raise damaged(self.path, f"{relative} cannot be read ({_short(exc)})") from None
            out.append({**entry, "source": source})
        return out

    # ------------------------------------------------------------------ the journal
    def check_journal(self, *, required: bool) -> None:
        """Every complete line of study.journal must be a JSON object (an unfinished last
        line is expected after a kill: repair_journal drops it). ``required``: the run
        got far enough to have one."""
        try:
            data = self.journal.read_bytes()
        except FileNotFoundError:
            if required:
                raise damaged(self.path, f"{JOURNAL} is missing") from None
            return
        except OSError as exc:
            raise damaged(self.path, f"{JOURNAL} cannot be read ({_short(exc)})") from None
        lines = data.split(b"\n")[:-1]  # the last piece is "" or an unfinished line
        for number, line in enumerate(lines, start=1):
            try:
                ok = isinstance(json.loads(line), dict)
            except ValueError:
                ok = False
            if not ok:
                raise damaged(self.path, f"{JOURNAL} is unreadable at line {number} of "
                              f"{len(lines)}")

    def repair_journal(self) -> list[str]:
        """Make the journal safe to append to after its writer died: drop an unfinished
        last line (Optuna would glue the next operation onto it, and the journal would
        then fail to load) and a lock its dead writer left. Returns notes on what it did.
        """
        notes: list[str] = []
        if self._break_stale_lock():
            notes.append(f"Removed the lock file {JOURNAL}.lock left by a run that stopped "
                         "while writing.")
        try:
            data = self.journal.read_bytes()
        except FileNotFoundError:
            return notes
        if data and not data.endswith(b"\n"):
            keep = data.rfind(b"\n") + 1
            with open(self.journal, "r+b") as handle:
                handle.truncate(keep)
                handle.flush()
                os.fsync(handle.fileno())
            notes.append(f"Dropped the unfinished last write of {JOURNAL} "
                         f"({len(data) - keep} bytes) left by a run that was stopped.")
        return notes

    def _break_stale_lock(self) -> bool:
        """Remove the journal's lock if no writer releases it soon. A process killed while
        appending leaves it behind, and Optuna would wait 30 s before breaking it, which
        could be a resume's whole budget. (Only one process works on a run at a time.)"""
        lock = self.journal.with_name(JOURNAL + ".lock")
        deadline = time.monotonic() + _LOCK_WAIT_SECONDS
        while os.path.lexists(lock):
            if time.monotonic() > deadline:
                with contextlib.suppress(FileNotFoundError):
                    lock.unlink()
                return True
            time.sleep(0.05)
        return False


def _plain_name(value: Any) -> bool:
    """A slot or candidate name that is safe in a file name (no path separators)."""
    return isinstance(value, str) and value.replace("_", "a").replace("-", "a").isalnum()


def _short(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:200]
