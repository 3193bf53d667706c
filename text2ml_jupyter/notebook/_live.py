"""Running the engine while the notebook stays live.

The engine runs on a background thread; the cell's own thread keeps the display current
(widgets are only touched from there) and turns Stop and Kernel -> Interrupt into the
engine's ``stop`` event, so both keep the best pipeline found so far.

The ``%%text2ml`` cell runs as an async cell (see ``_flow.AsyncCellTransformer``):
while it awaits, ipykernel handles comm messages, which is how the dashboard's Stop
button and the JupyterLab extension's replies reach the kernel during a run.
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from ..events import Event

_TICK = 0.1  # seconds between display refreshes


class LiveRun:
    """``work(on_event, stop)`` on a thread; events are handed to ``on_events`` in the
    caller's thread, in order, every tick."""

    def __init__(self, work: Callable[[Callable[[Event], None], threading.Event], Any], *,
                 on_events: Callable[[list[Event]], None],
                 on_interrupt: Callable[[], None] = lambda: None) -> None:
        self._work = work
        self._on_events = on_events
        self._on_interrupt = on_interrupt
        self._events: queue.SimpleQueue[Event] = queue.SimpleQueue()
        self.stop = threading.Event()
        self._result: Any = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._target, name="text2ml-run", daemon=True)

    def _target(self) -> None:
        try:
            self._result = self._work(self._events.put, self.stop)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            self._error = exc

    def request_stop(self) -> None:
        self.stop.set()

    def _drain(self) -> None:
        batch: list[Event] = []
        while True:
            try:
                batch.append(self._events.get_nowait())
            except queue.Empty:
                break
        if batch:
            self._on_events(batch)

    def _interrupted(self) -> None:
        if not self.stop.is_set():
            self.stop.set()
            self._on_interrupt()

    def _outcome(self) -> Any:
        self._drain()
        if self._error is not None:
            raise self._error
        return self._result

    def run_sync(self) -> Any:
        """Wait on this thread (terminal IPython, autoawait off): Ctrl-C stops cleanly."""
        self._thread.start()
        while self._thread.is_alive():
            try:
                self._thread.join(_TICK)
                self._drain()
            except KeyboardInterrupt:
                self._interrupted()
        return self._outcome()

    async def run_async(self) -> Any:
        """Wait in the kernel's event loop, so comm messages are handled meanwhile.

        ipykernel turns Kernel -> Interrupt of an async cell into a CancelledError at the
        current await: the run is stopped (keeping the best so far) and finishes normally.
        """
        self._thread.start()
        while self._thread.is_alive():
            try:
                await asyncio.sleep(_TICK)
            except asyncio.CancelledError:
                self._interrupted()
                _uncancel()
            except KeyboardInterrupt:
                self._interrupted()
            self._drain()
        return self._outcome()


def _uncancel() -> None:
    """Let the current task await again after we absorbed its cancellation."""
    task = asyncio.current_task()
    if task is not None and hasattr(task, "uncancel"):
        task.uncancel()


async def wait_for(predicate: Callable[[], bool], seconds: float) -> bool:
    """Await until ``predicate()`` holds or ``seconds`` pass (comms are handled meanwhile)."""
    end = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() >= end:
            return False
        await asyncio.sleep(0.05)
    return True
