"""Isolated worker processes: candidate code runs here, never in the caller's process.

Each worker is a spawned Python process in its own session, started in the run's scratch
folder, with a memory limit (``RLIMIT_AS``), a file-size limit, no core dumps, numeric
libraries limited to ``Limits.threads`` threads (one by default: parallelism is across
workers), no secrets in its environment and its output sent to a capped log file in the
scratch folder. An audit hook (``_guard``) refuses network use, other programs, signals to
other processes, native calls from candidate code and file changes outside the scratch
folder; a call that tried any of these fails with what it tried, even if its code caught
the error. Workers are warm: they stay up across
calls and cache the data they loaded, so the data crosses the process boundary once per
worker, not once per trial. A call that passes its deadline, or a worker that dies, is
answered with ``WorkerFailure`` and the worker is replaced on the next acquire.

A call names a function ``"module:function"`` that the worker imports and runs as
``function(context, **kwargs)``; the function may ask the caller questions mid-call
(``context.ask(...)``), which is how a trial's ``suggest_*`` calls reach the real Optuna
trial in the caller's process.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import queue
import re
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import _forkserver, _guard
from .errors import CandidateError

_POLL_SECONDS = 0.2
_OUTPUT_LIMIT = 1_000_000  # characters a call may print (the rest would fill the log)
_FILE_SIZE_LIMIT = 256 * 2**20  # bytes: any one file a worker writes, its log included
_LOG_ROTATE_BYTES = 8 * 2**20  # a worker log past this is moved aside when one starts
_WARM_UP = "text2ml_jupyter.sandbox:_warm_up"
_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")


class WorkerFailure(Exception):
    """A call did not return normally: timeout, crash, or the run was stopped."""

    def __init__(self, reason: str, kind: str) -> None:
        super().__init__(reason)
        self.kind = kind  # "timeout" | "crash" | "stopped"


@dataclass(frozen=True)
class Limits:
    """Per-worker limits. ``memory_mb=None`` leaves memory unlimited. ``threads``: how many
    threads the numeric libraries (OpenMP, BLAS) may use in each worker."""

    memory_mb: int | None = None
    threads: int = 1


class WorkerContext:
    """What a function running inside a worker can use: cached data and questions back."""

    def __init__(self, conn: Any) -> None:
        import gc

        self._conn = conn
        self._cache: dict[str, Any] = {}
        self._derived: dict[Any, Any] = {}
        # The objects a worker starts with (the libraries, inherited from the fork server)
        # live as long as it does. Frozen, the garbage collector never walks them, so it
        # does not write to (and copy) their pages: a forked worker's first full
        # collection otherwise copies ~40 MB it shared with the server.
        gc.freeze()

    def load(self, path: str) -> Any:
        """The data the caller shipped to the scratch folder (``_shipping.read_frame``: a
        frame over a shared mapping of its numbers, or a pickle), loaded once per worker."""
        if path not in self._cache:
            from ._shipping import read_frame

            self._cache.clear()  # one dataset at a time keeps memory flat
            self._derived.clear()
            self._cache[path] = read_frame(path)
        return self._cache[path]

    def memo(self, key: Any, make: Callable[[], Any]) -> Any:
        """Something derived from the loaded data, made once per worker (and dropped
        with the data when another dataset is loaded)."""
        if key not in self._derived:
            self._derived[key] = make()
        return self._derived[key]

    def ask(self, question: Any) -> Any:
        """Send a question to the caller and wait for its answer."""
        self._conn.send(("ask", question))
        kind, answer = self._conn.recv()
        if kind == "error":
            raise CandidateError(answer)
        return answer


def worker_main(conn: Any, limits: Limits, scratch: str) -> None:
    """The worker's loop: receive calls, run them, send back results or short errors."""
    import sys

    _apply_limits(limits)
    _import_libraries()  # before the hook: trusted imports need not pay for its checks
    _apply_threads()
    take_violation, refuse = _guard.install(scratch)
    outputs = [_guard.CappedOutput(sys.stdout, _OUTPUT_LIMIT, refuse),
               _guard.CappedOutput(sys.stderr, _OUTPUT_LIMIT, refuse)]
    sys.stdout, sys.stderr = outputs  # type: ignore[assignment]
    context = WorkerContext(conn)
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        if message[0] == "exit":
            return
        _, target, kwargs = message
        for output in outputs:
            output.written = 0
        take_violation()
        try:
            module_name, function_name = target.split(":")
            function = getattr(importlib.import_module(module_name), function_name)
            reply = ("result", function(context, **kwargs))
        except CandidateError as exc:
            reply = ("error", str(exc))
        except BaseException as exc:  # noqa: BLE001 - candidate code may raise anything
            reply = ("error", describe_exception(exc))
        violation = take_violation()  # refused even if the code caught the error
        conn.send(("error", f"blocked: {violation}") if violation else reply)


def describe_exception(exc: BaseException) -> str:
    """A short, precise reason: exception type, message, and the candidate line if any."""
    if isinstance(exc, SystemExit):
        return f"called sys.exit({exc.code!r})"
    if isinstance(exc, MemoryError):
        return "ran out of memory (the worker's memory limit)"
    where = ""
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if frame.filename.startswith("<candidate"):
            where = f" (at {frame.filename[1:-1]}, line {frame.lineno}: {frame.line})"
            break
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    text = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    return (text[:300] + where)[:500]


def _apply_limits(limits: Limits) -> None:
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        # Python ignores SIGXFSZ, so a write past this fails with "File too large".
        resource.setrlimit(resource.RLIMIT_FSIZE, (_FILE_SIZE_LIMIT, _FILE_SIZE_LIMIT))
        if limits.memory_mb:
            size = limits.memory_mb * 1024 * 1024
            resource.setrlimit(resource.RLIMIT_AS, (size, size))
    except (ImportError, ValueError, OSError):  # not on this platform: best effort
        pass


class Worker:
    """The caller's handle on one worker process.

    The worker is a fork of the warm fork server (``_forkserver``), or where that is not
    available a fresh interpreter (``python -m text2ml_jupyter._worker``), connected by a
    socket pair: unlike multiprocessing's spawn, it never re-imports the caller's
    ``__main__``, and it runs in its own session, so Ctrl-C reaches only the caller.
    """

    def __init__(self, limits: Limits, log_path: Path, scratch: Path | None = None, *,
                 use_fork_server: bool = True) -> None:
        import socket
        import subprocess
        import sys
        from multiprocessing.connection import Connection

        scratch = (scratch or log_path.parent).resolve()
        temp = scratch / "tmp"  # tempfile writes land inside the scratch folder
        temp.mkdir(parents=True, exist_ok=True)
        parent, child = socket.socketpair()
        env = dict(_without_secrets(os.environ),
                   **{name: str(limits.threads) for name in _THREAD_VARS})
        package_root = str(Path(__file__).resolve().parent.parent)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (package_root, env.get("PYTHONPATH", "")) if p)
        env.update(TMPDIR=str(temp), PYTHONDONTWRITEBYTECODE="1")
        _rotate(log_path)
        self.process: Any = None
        server = _forkserver.get_server() if use_fork_server else None
        if server is not None:
            try:  # a fork of the warm server: ready in milliseconds
                self.process = server.spawn(child, scratch=str(scratch),
                                            log_path=str(log_path),
                                            memory_mb=limits.memory_mb or 0, env=env)
            except _forkserver.ForkServerError:
                self.process = None  # start a fresh interpreter instead
        if self.process is None:
            with open(log_path, "ab") as log:
                self.process = subprocess.Popen(
                    [sys.executable, "-m", "text2ml_jupyter._worker", str(child.fileno()),
                     str(limits.memory_mb or 0), str(scratch)],
                    pass_fds=(child.fileno(),), stdin=subprocess.DEVNULL, stdout=log,
                    stderr=subprocess.STDOUT, env=env, start_new_session=True,
                    close_fds=True, cwd=scratch)  # relative paths stay in the scratch folder
        child.close()
        self._conn = Connection(parent.detach())
        self.ready = False  # true once a call returned: the worker's imports are done

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def call(self, target: str, kwargs: dict[str, Any], *, deadline: float,
             on_ask: Callable[[Any], Any] | None = None,
             should_stop: Callable[[], bool] | None = None) -> Any:
        """Run ``target(context, **kwargs)`` in the worker and return its result.

        Raises CandidateError for an error inside the call, WorkerFailure when the
        deadline (``time.monotonic()`` seconds) passes, ``should_stop()`` turns true, or
        the process dies; in those cases the process is killed.
        """
        try:
            self._conn.send(("call", target, kwargs))
        except OSError:  # it died since its last call
            raise WorkerFailure(self._death_reason(), "crash") from None
        while True:
            if should_stop is not None and should_stop():
                self.kill()
                raise WorkerFailure("stopped", "stopped")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.kill()
                raise WorkerFailure("exceeded its time limit", "timeout")
            try:
                ready = self._conn.poll(min(remaining, _POLL_SECONDS))
                if not ready:
                    if self.process.poll() is not None:
                        raise EOFError
                    continue
                message = self._conn.recv_bytes()
            except (EOFError, OSError):
                raise WorkerFailure(self._death_reason(), "crash") from None
            kind, payload = self._plain(message)
            if kind == "result":
                self.ready = True
                return payload
            if kind == "error":
                raise CandidateError(payload)
            self._answer(payload, on_ask)

    def _plain(self, message: bytes) -> tuple[str, Any]:
        """A message as plain values (``_safe_pickle.loads_plain``); anything else means
        code in the worker wrote to its connection: the worker is killed, the call fails."""
        from ._safe_pickle import loads_plain

        try:
            kind, payload = loads_plain(message)
        except Exception as exc:  # noqa: BLE001 - refused, malformed, or not a pair
            self.kill()
            raise WorkerFailure(f"the worker sent something other than plain values ({exc}); "
                                "it was stopped", "crash") from None
        return kind, payload

    def _answer(self, question: Any, on_ask: Callable[[Any], Any] | None) -> None:
        try:
            if on_ask is None:
                raise CandidateError("this call takes no questions")
            self._conn.send(("answer", on_ask(question)))
        except CandidateError as exc:
            self._conn.send(("error", str(exc)))
        except Exception as exc:  # an invalid suggest call (bad bounds, reused name)
            self._conn.send(("error", f"{type(exc).__name__}: {exc}"))

    def _death_reason(self) -> str:
        try:
            code = self.process.wait(timeout=2)
        except Exception:  # noqa: BLE001 - still running but not answering
            code = None
        if code is None:
            self.kill()
            return "the worker stopped answering"
        if code < 0:
            import signal

            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = str(-code)
            return f"crashed the worker process (signal {name})"
        return f"ended the worker process (exit code {code})"

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        try:
            self.process.wait(timeout=5)
        except Exception:  # noqa: BLE001 - a zombie is reaped by the OS at exit
            pass
        self._conn.close()

    def request_exit(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self._conn.send(("exit",))

    def close(self) -> None:
        self.request_exit()
        try:
            self.process.wait(timeout=2)
        except Exception:  # noqa: BLE001 - did not exit in time
            pass
        self.kill()


class WorkerPool:
    """A fixed number of warm workers, handed out one call at a time."""

    def __init__(self, n_workers: int, scratch: Path, limits: Limits = Limits()) -> None:
        self.n_workers = n_workers
        self.scratch = Path(scratch).resolve()
        self.limits = limits
        self._idle: queue.Queue[int] = queue.Queue()
        self._workers: list[Worker | None] = [None] * n_workers
        self._lock = threading.Lock()
        self.replaced = 0
        # Set once LLM-written code ran in a worker: such a worker may have been changed by
        # it (a patched library), so what the caller loads unchecked comes from a fresh one.
        self.ran_generated_code = False
        self.start_seconds = 2.0  # how long a worker takes to start; measured by warm()
        # Workers are forked on first use (warm() or a call), not here: in a fresh process
        # the fork server answers only after its imports (2 s or more), and the caller's
        # own work meanwhile (reading the task, writing the data; an LLM's reading of the
        # task) should overlap with them instead of waiting.
        _forkserver.prestart()
        for index in range(n_workers):
            self._idle.put(index)

    def _spawn(self, index: int) -> Worker:
        return Worker(self.limits, self.scratch / f"worker-{index}.log", self.scratch)

    def warm(self, timeout: float = 120.0, exercise: tuple[str, dict[str, Any]] | None = None,
             should_stop: Callable[[], bool] | None = None) -> None:
        """Send every idle worker a cheap call so its imports happen now, not in a test
        or trial; returns when all have answered (or died, or the timeout passed).

        ``exercise`` (target, kwargs) then runs on every one of them: a call that pays the
        first-use costs which would otherwise be counted in the first thing timed there
        (``testing.warm_up``). ``start_seconds`` measures the start only."""
        started = time.monotonic()
        deadline = started + timeout
        indices = []
        while not self._idle.empty():
            indices.append(self._idle.get())
        answered: list[float] = []
        threads = [threading.Thread(target=self._warm_one,
                                    args=(i, deadline, exercise, should_stop, answered))
                   for i in indices]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for index in indices:
            self._idle.put(index)
        self.start_seconds = max(answered, default=time.monotonic() - started)

    def _warm_one(self, index: int, deadline: float,
                  exercise: tuple[str, dict[str, Any]] | None,
                  should_stop: Callable[[], bool] | None, answered: list[float]) -> None:
        try:
            worker = self._ensure(index)
            spawned = time.monotonic()  # the fork server's own start is not the worker's
            worker.call(_WARM_UP, {}, deadline=deadline, should_stop=should_stop)
            answered.append(time.monotonic() - spawned)
            if exercise is not None:
                target, kwargs = exercise
                worker.call(target, kwargs, deadline=deadline, should_stop=should_stop)
        except (WorkerFailure, CandidateError):
            self._ensure(index)  # replaced; the next call finds a fresh worker

    def call(self, target: str, kwargs: dict[str, Any], *, deadline: float,
             time_limit: float | None = None, on_ask: Callable[[Any], Any] | None = None,
             should_stop: Callable[[], bool] | None = None) -> Any:
        """Run a call on the next idle worker (blocking until one is free).

        ``deadline`` is absolute (``time.monotonic()``); ``time_limit`` (seconds) counts
        from when the call starts on a started worker, so a replacement worker's imports
        never eat into it.
        """
        index = self._idle.get()
        replace_now = True
        try:
            worker = self._ensure(index)
            if time_limit is not None:
                if not worker.ready:
                    worker.call(_WARM_UP, {}, deadline=deadline,
                                should_stop=should_stop)
                deadline = min(deadline, time.monotonic() + time_limit)
            return worker.call(target, kwargs, deadline=deadline, on_ask=on_ask,
                               should_stop=should_stop)
        except WorkerFailure as exc:
            # After a crash or timeout the run goes on: replace the worker now, so its
            # imports overlap other work. After a stop, the next call spawns it if needed.
            replace_now = exc.kind != "stopped"
            raise
        finally:
            if replace_now:
                self._ensure(index)
            self._idle.put(index)

    def _ensure(self, index: int) -> Worker:
        with self._lock:
            worker = self._workers[index]
            if worker is None or not worker.alive:
                if worker is not None:
                    self.replaced += 1
                worker = self._workers[index] = self._spawn(index)
            return worker

    def retire_idle(self, keep: int = 1) -> None:
        """Let all but ``keep`` idle workers exit (before the refit on all rows, which
        needs one worker and the memory the others hold). A later call on a retired
        slot starts a new worker (a fork: milliseconds)."""
        with self._lock:
            retired = [self._workers[i] for i in range(keep, self.n_workers)]
            for index in range(keep, self.n_workers):
                self._workers[index] = None
            idle = []
            while not self._idle.empty():
                idle.append(self._idle.get())
            for index in sorted(idle):  # the kept (warm) workers are handed out first
                self._idle.put(index)
        for worker in retired:
            if worker is not None:
                worker.request_exit()
        _reap_in_background([w for w in retired if w is not None])

    def close(self) -> None:
        """Ask every worker to exit; they shut down in parallel and are reaped in the
        background (killed if they linger), so the caller does not wait for them."""
        workers = [w for w in self._workers if w is not None]
        self._workers = [None] * self.n_workers
        for worker in workers:
            worker.request_exit()
        _reap_in_background(workers)

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _reap_in_background(workers: list[Worker]) -> None:
    """Wait for exiting workers (killing any that linger) without holding up the caller."""
    if workers:
        threading.Thread(target=lambda: [w.close() for w in workers], daemon=True,
                         name="text2ml-reaper").start()


def _warm_up(context: WorkerContext) -> bool:
    """A cheap call that returns once the worker has started (``worker_main`` imports the
    libraries before it reads its first call)."""
    return True


def _apply_threads() -> None:
    """Let the numeric libraries use the threads the worker's environment gives it
    (``Limits.threads``): a worker forked from the server inherits thread pools started
    with one thread, whatever its own ``OMP_NUM_THREADS`` says."""
    try:
        threads = int(os.environ.get("OMP_NUM_THREADS", "1"))
    except ValueError:
        return
    if threads > 1:
        from threadpoolctl import threadpool_limits

        threadpool_limits(threads)


def _import_libraries() -> None:
    """The heavy libraries every test and trial needs, imported as the worker starts."""
    import numpy  # noqa: F401
    import pandas  # noqa: F401
    import sklearn.compose  # noqa: F401
    import sklearn.ensemble  # noqa: F401
    import sklearn.linear_model  # noqa: F401
    import sklearn.model_selection  # noqa: F401
    import sklearn.pipeline  # noqa: F401
    import sklearn.preprocessing  # noqa: F401


def _rotate(log_path: Path) -> None:
    """Move a large worker log aside, so a long run's logs stay under the file-size limit
    (and the newest lines are in ``worker-N.log``)."""
    with contextlib.suppress(OSError):
        if log_path.stat().st_size > _LOG_ROTATE_BYTES:
            log_path.replace(log_path.with_name(log_path.name + ".1"))


# Environment variables a worker never sees: candidate code is untrusted, and an API key
# in its environment could be printed into a test error or sent away.
_SECRET_NAME = re.compile(r"KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|AUTH", re.IGNORECASE)


_HIDDEN: set[str] = set()  # more names to drop: e.g. the variable an API key was read from


def hide_from_workers(name: str) -> None:
    """Never pass the environment variable ``name`` to a worker (whatever it is called)."""
    _HIDDEN.add(name)


def _without_secrets(environ: Any) -> dict[str, str]:
    return {name: value for name, value in environ.items()
            if not _SECRET_NAME.search(name) and name not in _HIDDEN}
