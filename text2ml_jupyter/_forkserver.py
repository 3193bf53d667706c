"""Warm worker starts: a fork server that imports the heavy libraries once.

Starting a worker as a fresh interpreter costs its imports (numpy, pandas, scikit-learn:
1.5-3 s), paid again whenever a worker is replaced after a timeout, a crash or a stop.
The fork server is one such interpreter, started on first use and kept for the life of
the calling process; each worker is a ``fork`` of it, ready in milliseconds, and shares
the imported libraries' memory pages with it and with the other workers.

The server is started with a minimal environment (no secrets can reach a worker through
``/proc/self/environ``); each worker gets the environment, scratch folder, log file and
limits of its run from the request, sets up its own session, and then runs
``sandbox.worker_main`` exactly like a worker started as a fresh interpreter. The server
never runs candidate code, and it exits when the calling process goes away.

Protocol, over a ``SOCK_SEQPACKET`` socket pair (message boundaries kept, descriptors
passed): the caller sends one JSON request with the worker's end of its connection; the
server answers ``{"spawned": pid}``, and later ``{"exited": pid, "code": returncode}``
(negative: killed by that signal, as with ``subprocess``).
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import queue
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

_START_TIMEOUT = 120.0  # seconds a spawn may wait (the first waits for the imports)
# The server's own environment: what Python and the numeric libraries need, nothing else.
_KEEP = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "VIRTUAL_ENV", "PYTHONHASHSEED",
         "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
         "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")


class ForkServerError(Exception):
    """The fork server is gone or did not answer; the caller starts a fresh interpreter."""


class ForkedProcess:
    """A worker forked by the server, with the part of ``subprocess.Popen``'s interface
    the sandbox uses: ``pid``, ``poll``, ``wait``, ``kill``."""

    def __init__(self, server: ForkServer, pid: int) -> None:
        self.server = server
        self.pid = pid

    def poll(self) -> int | None:
        code = self.server.exit_code(self.pid)
        if code is None and self.server.dead and not _exists(self.pid):
            return -signal.SIGKILL  # the server died first and cannot tell: it is gone
        return code

    def wait(self, timeout: float | None = None) -> int:
        end = None if timeout is None else time.monotonic() + timeout
        self.server.wait_exit(self.pid, timeout)
        while (code := self.poll()) is None:  # only when the server died: poll the pid
            if end is not None and time.monotonic() >= end:
                raise subprocess.TimeoutExpired(f"worker {self.pid}", timeout or 0.0)
            time.sleep(0.02)
        return code

    def kill(self) -> None:
        if self.poll() is None:  # not reaped yet, so the pid is still this worker's
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)


class ForkServer:
    """The caller's handle on the server process (see the module docstring)."""

    def __init__(self) -> None:
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        package_root = str(Path(__file__).resolve().parent.parent)
        env = {name: os.environ[name] for name in _KEEP if name in os.environ}
        env.update({name: "1" for name in _KEEP if name.endswith("_THREADS")},
                   PYTHONPATH=package_root, PYTHONDONTWRITEBYTECODE="1")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "text2ml_jupyter._forkserver", str(child.fileno())],
            pass_fds=(child.fileno(),), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, env=env, start_new_session=True, close_fds=True,
            cwd="/")
        child.close()
        self._sock = parent
        self._spawned: queue.Queue[int] = queue.Queue()
        self._codes: dict[int, int] = {}
        self._changed = threading.Condition()
        self._spawn_lock = threading.Lock()
        self.dead = False
        threading.Thread(target=self._read, daemon=True, name="text2ml-forkserver").start()

    def spawn(self, conn: socket.socket, *, scratch: str, log_path: str, memory_mb: int,
              env: dict[str, str]) -> ForkedProcess:
        """Fork a worker that serves ``conn`` (its end of the connection)."""
        request = json.dumps({"scratch": scratch, "log": log_path, "memory_mb": memory_mb,
                              "env": env}).encode()
        with self._spawn_lock:
            if self.dead:
                raise ForkServerError("the fork server is not running")
            try:
                socket.send_fds(self._sock, [request], [conn.fileno()])
                pid = self._spawned.get(timeout=_START_TIMEOUT)
            except (OSError, queue.Empty) as exc:
                self.close()
                raise ForkServerError(f"the fork server did not answer ({exc})") from None
        if pid < 0:
            raise ForkServerError("the fork server could not fork")
        return ForkedProcess(self, pid)

    def exit_code(self, pid: int) -> int | None:
        with self._changed:
            return self._codes.get(pid)

    def wait_exit(self, pid: int, timeout: float | None) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: pid in self._codes or self.dead, timeout)

    def _read(self) -> None:
        while True:
            try:
                data = self._sock.recv(4096)
            except OSError:
                data = b""
            if not data:
                break
            message = json.loads(data)
            if "spawned" in message:
                self._spawned.put(int(message["spawned"]))
            else:
                with self._changed:
                    self._codes[int(message["exited"])] = int(message["code"])
                    self._changed.notify_all()
        with self._changed:
            self.dead = True
            self._changed.notify_all()
        self._spawned.put(-1)  # a spawn waiting for an answer gets none

    def close(self) -> None:
        """Stop the server (its workers keep running until their callers close them)."""
        self.dead = True
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            self._sock.close()
        with contextlib.suppress(Exception):
            self.process.wait(timeout=5)


_server: ForkServer | None = None
_server_lock = threading.Lock()


def get_server() -> ForkServer | None:
    """The process's fork server, started on first use (and again if it died); None
    where ``fork`` is not available."""
    global _server
    if not hasattr(os, "fork") or not hasattr(socket, "send_fds"):
        return None
    with _server_lock:
        if _server is None or _server.dead:
            _server = ForkServer()
            atexit.register(_server.close)
        return _server


def prestart() -> None:
    """Start the fork server now, on a background thread, so its imports are done by the
    time a run needs workers (the extension calls this when it loads)."""
    threading.Thread(target=get_server, daemon=True, name="text2ml-prestart").start()


def shutdown() -> None:
    """Stop the process's fork server, if it runs (a later run starts a new one)."""
    global _server
    with _server_lock:
        server, _server = _server, None
    if server is not None:
        server.close()


def _exists(pid: int) -> bool:
    """Whether the process still runs (a zombie left by the dead server does not)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, IndexError):
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# ---------------------------------------------------------------- the server's side

def serve(control: socket.socket) -> None:
    """Import the libraries, then fork a worker per request until the caller goes away;
    report each worker's exit status."""
    from .sandbox import _import_libraries

    _import_libraries()
    import gc

    gc.collect()
    gc.freeze()  # the imported objects: a worker's collections then never touch (copy) them
    children: set[int] = set()
    while True:
        ready, _, _ = select.select([control], [], [], 0.2)
        _reap(control, children)
        if not ready:
            continue
        try:
            data, fds, _, _ = socket.recv_fds(control, 1 << 20, 1)
        except OSError:
            return
        if not data:
            return  # the caller exited or closed the server
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            _child(json.loads(data), fds[0], control)
        os.close(fds[0])
        children.add(pid)
        control.send(json.dumps({"spawned": pid}).encode())


def _reap(control: socket.socket, children: set[int]) -> None:
    for pid in list(children):
        try:
            done, status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            children.discard(pid)
            continue
        if done:
            children.discard(pid)
            with contextlib.suppress(OSError):
                control.send(json.dumps({"exited": pid,
                                         "code": os.waitstatus_to_exitcode(status)}).encode())


def _child(request: dict[str, Any], fd: int, control: socket.socket) -> None:
    """In the forked worker: its own session, log, folder and environment; then the
    worker's loop. Never returns."""
    code = 1
    try:
        control.close()
        os.setsid()
        log = os.open(request["log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.close(log)
        os.chdir(request["scratch"])
        os.environ.clear()
        os.environ.update(request["env"])
        import tempfile
        from multiprocessing.connection import Connection

        from .sandbox import Limits, worker_main

        tempfile.tempdir = None  # read TMPDIR again: the run's scratch folder
        # sys.path as a fresh ``python -m`` in the scratch folder would have it
        extra = [p for p in request["env"].get("PYTHONPATH", "").split(os.pathsep) if p]
        sys.path[:] = [request["scratch"], *extra,
                       *(p for p in sys.path[1:] if p not in extra)]
        worker_main(Connection(fd), Limits(memory_mb=request["memory_mb"] or None),
                    request["scratch"])
        code = 0
    except BaseException:  # noqa: BLE001 - a worker that failed to start says why in its log
        import traceback

        traceback.print_exc()
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


if __name__ == "__main__":
    serve(socket.socket(fileno=int(sys.argv[1])))
