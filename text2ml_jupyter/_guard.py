"""What candidate code may not do inside a worker, enforced by a Python audit hook.

Installed once per worker process (``install``), the hook refuses: network connections
and name lookups; starting programs (``subprocess``, ``os.system``, exec, spawn, fork);
signals to other processes; writing, creating, renaming or deleting files outside the
run's scratch folder; and native calls through ``ctypes`` made from candidate code. The
refused operation raises ``SandboxViolation`` and is recorded, so a call whose code
caught the error still fails (``take_violation``).

Audit hooks are not a security boundary on their own (native code can get past them; the
Python docs say so); the OS limits set in sandbox.py (memory, file size, own session,
kill on timeout) and process isolation are the backstop. docs/reliability.md says what
is and is not stopped.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable
from typing import Any

# Events that are always refused (the worker itself needs none of them after start-up).
_NETWORK = {"socket.__new__", "socket.connect", "socket.bind", "socket.getaddrinfo",
            "socket.gethostbyname", "socket.gethostbyaddr", "socket.getnameinfo",
            "socket.sendto", "socket.sendmsg"}
_PROCESSES = {"subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn",
              "os.fork", "os.forkpty", "os.startfile", "pty.spawn"}
# Events whose first argument is a path that must lie inside the scratch folder.
_PATH_CHANGES = {"os.remove": "delete", "os.rmdir": "delete", "shutil.rmtree": "delete",
                 "os.truncate": "truncate", "os.chmod": "change", "os.chown": "change",
                 "os.mkdir": "create a folder", "os.utime": "change", "os.setxattr": "change",
                 "os.removexattr": "change", "os.chflags": "change", "os.lchflags": "change"}
# Events with a source and a destination, both checked.
_TWO_PATHS = {"os.rename": "rename", "os.link": "link", "os.symlink": "link",
              "shutil.copyfile": "copy to", "shutil.copytree": "copy to",
              "shutil.move": "move"}
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
_WRITE_MODES = set("wax+")
_CTYPES_FILES = (os.sep + "ctypes" + os.sep, "ctypeslib")


# From candidate code only (libraries use these): native calls, frame and traceback
# introspection (the way to the worker's own state), and restricted attributes.
_INTROSPECTION = {"sys._getframe", "sys._current_frames", "object.__getattr__",
                  "object.__setattr__", "object.__delattr__"}
_SIGNALS = {"os.kill", "os.killpg", "signal.pthread_kill"}
# Every event the hook looks at (besides ctypes.*): one set lookup turns the others away.
_WATCHED = frozenset({"open"} | _NETWORK | _PROCESSES | _SIGNALS | _PATH_CHANGES.keys()
                     | _TWO_PATHS.keys() | _INTROSPECTION)


class SandboxViolation(PermissionError):
    """Candidate code tried something workers do not allow; the message says what."""


class _Guard:
    """The hook's state. Only closures hold it (no module global a candidate could reach
    through ``sys.modules`` to widen the scratch folder or clear the record)."""

    def __init__(self, scratch: str) -> None:
        self.scratch = scratch
        self.violations: list[str] = []
        self.busy = threading.local()  # the hook's own sys._getframe raises events too

    def refuse(self, what: str) -> None:
        self.violations.append(what)
        raise SandboxViolation(what)

    def take(self) -> str | None:
        violations, self.violations = self.violations, []
        return violations[0] if violations else None

    def hook(self) -> Callable[[str, tuple[Any, ...]], None]:
        """The audit hook. It runs on every audit event of the worker, thousands per trial
        of a linear model on a few hundred rows, most of them none of ours (builtins.id,
        for one): a closure over local names turns those away in about a third of a bound
        method's time (benchmarks/guard_overhead.py)."""
        watched, check = _WATCHED, self.check

        def hook(event: str, args: tuple[Any, ...]) -> None:
            if event in watched or event[:7] == "ctypes.":
                check(event, args)

        return hook

    def check(self, event: str, args: tuple[Any, ...]) -> None:
        """Refuse ``event`` if it is one of the forbidden ones (a watched event)."""
        if getattr(self.busy, "on", False):
            return
        native = event[:7] == "ctypes."
        if native or event in _INTROSPECTION:  # the commonest first
            if self._from_candidate():
                what = "call native code through ctypes" if native \
                    else "inspect the worker's frames or restricted attributes"
                self.refuse(f"tried to {what} ({event}); candidates may not")
        elif event == "open":
            self._check_open(args)
        elif event in _NETWORK:
            self.refuse(f"tried to use the network ({event}{_short(args)}); candidates may "
                        "not open connections")
        elif event in _PROCESSES:
            self.refuse(f"tried to start a program ({event}{_short(args)}); candidates may "
                        "not run other programs")
        elif event in _SIGNALS:
            if event != "os.kill" or args[0] not in (0, os.getpid()):
                self.refuse(f"tried to send a signal to another process "
                            f"({event}{_short(args)})")
        elif event in _PATH_CHANGES:
            self._check_path(args[0], _PATH_CHANGES[event])
        elif event in _TWO_PATHS:
            self._check_path(args[0], _TWO_PATHS[event], source=True)
            self._check_path(args[1], _TWO_PATHS[event])

    def _check_open(self, args: tuple[Any, ...]) -> None:
        path, mode, flags = (tuple(args) + (None, None))[:3]
        writes = (isinstance(mode, str) and not _WRITE_MODES.isdisjoint(mode)) or \
            (isinstance(flags, int) and bool(flags & _WRITE_FLAGS))
        if writes and not isinstance(path, int):  # an int is an already-open descriptor
            self._check_path(path, "write")

    def _check_path(self, path: Any, action: str, *, source: bool = False) -> None:
        if isinstance(path, int) or path is None:
            return
        try:
            resolved = os.path.realpath(os.fsdecode(path))
        except (TypeError, ValueError):
            self.refuse(f"tried to {action} a file given as {type(path).__name__}")
            return
        if source and action in ("copy to", "link"):
            return  # reading the source is allowed; only the destination counts
        if resolved == os.devnull or _inside(resolved, self.scratch):
            return
        self.refuse(f"tried to {action} {resolved!r}, outside the run's scratch folder; "
                    "candidates may not write or delete files")

    def _from_candidate(self) -> bool:
        """True when the code that raised the event (past ctypes' own frames) is a
        candidate's: the libraries' own use (threadpoolctl, numpy, warnings) is allowed."""
        self.busy.on = True
        try:
            # 0: here, 1: check, 2: the hook, 3: the code raising the event
            frame = sys._getframe(3)
            # "ctypes" first: one substring test per frame on this hot path
            while frame is not None and "ctypes" in frame.f_code.co_filename and any(
                    part in frame.f_code.co_filename for part in _CTYPES_FILES):
                frame = frame.f_back
            return frame is not None and frame.f_code.co_filename.startswith("<candidate")
        finally:
            self.busy.on = False


_installed = threading.Event()


def install(scratch: str | os.PathLike[str]) -> tuple[Callable[[], str | None],
                                                      Callable[[str], None]]:
    """Allow writes only under ``scratch`` and install the hook (once per process).

    Returns ``take`` (the first violation since the last ``take``, then forgets them) and
    ``refuse`` (record a violation and raise ``SandboxViolation``).
    """
    if _installed.is_set():
        raise RuntimeError("the sandbox guard is installed once per process")
    _installed.set()
    guard = _Guard(os.path.realpath(scratch))
    sys.addaudithook(guard.hook())
    return guard.take, guard.refuse


def _inside(path: str, folder: str | None) -> bool:
    return folder is not None and (path == folder or path.startswith(folder + os.sep))


def _short(args: tuple[Any, ...]) -> str:
    text = repr(args[:2]) if args else ""
    return f" {text[:120]}" if text else ""


class CappedOutput:
    """A text stream that refuses more than ``limit`` characters per call: a candidate
    printing without end would fill the disk through the worker's log."""

    def __init__(self, stream: Any, limit: int, refuse: Callable[[str], None]) -> None:
        self._stream = stream
        self._limit = limit
        self._refuse = refuse
        self.written = 0

    def write(self, text: str) -> int:
        self.written += len(text)
        if self.written > self._limit:
            self._refuse(f"printed more than {self._limit // 1_000_000} MB of output; "
                    "candidates should not print")
        return self._stream.write(text)

    def __getattr__(self, name: str) -> Any:  # flush, fileno, encoding, isatty...
        return getattr(self._stream, name)
