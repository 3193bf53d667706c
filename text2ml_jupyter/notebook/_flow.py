"""How a magic's flow runs: blocking (``drive_sync``) or in the kernel's event loop
(``drive_async``, so comm messages from the JupyterLab extension arrive while it waits),
and the input transformer that makes a cell holding only a text2ml magic an async cell.

A flow is a generator (``Text2ML._run_cell`` and friends): it yields ("run", LiveRun) or
("wait", predicate, seconds) and gets back the run's result or the wait's outcome.
"""

from __future__ import annotations

import re
from collections.abc import Generator
from typing import Any


class Flow:
    """Steps a flow generator: it yields ("run", LiveRun) or ("wait", predicate, seconds)
    and gets back the run's result (or its exception, thrown in) or the wait's outcome."""

    def __init__(self, flow: Generator[Any, Any, Any]) -> None:
        self._flow = flow
        self.value: Any = None
        self.error: BaseException | None = None
        self.done = False

    def next_request(self) -> Any:
        try:
            if self.error is not None:
                error, self.error = self.error, None
                return self._flow.throw(error)
            return self._flow.send(self.value)
        except StopIteration as stop:
            self.done, self.value = True, stop.value
            return None


def drive_sync(flow: Generator[Any, Any, Any]) -> Any:
    """Run a flow, blocking: nothing can arrive over comms meanwhile, so a wait is
    answered at once."""
    step = Flow(flow)
    while (request := step.next_request()) is not None:
        if request[0] == "run":
            try:
                step.value = request[1].run_sync()
            except BaseException as exc:  # noqa: BLE001 - thrown into the flow to report
                step.error = exc
        else:
            step.value = bool(request[1]())
    return step.value


async def drive_async(flow: Generator[Any, Any, Any]) -> Any:
    """Run a flow in the kernel's event loop: comm messages are handled while it waits."""
    from ._live import wait_for

    step = Flow(flow)
    while (request := step.next_request()) is not None:
        if request[0] == "run":
            try:
                step.value = await request[1].run_async()
            except BaseException as exc:  # noqa: BLE001 - thrown into the flow to report
                step.error = exc
        else:
            step.value = await wait_for(request[1], request[2])
    return step.value


_CELL_CALL = re.compile(r"^get_ipython\(\)\.run_cell_magic\('text2ml', (.*)\)\s*$", re.S)
_LINE_CALL = re.compile(r"^get_ipython\(\)\.run_line_magic\('text2ml', (.*)\)\s*$", re.S)


class AsyncCellTransformer:
    """Turns a cell that is only a text2ml magic into an awaited call, so it runs as an
    async cell (IPython's autoawait). Cells that mix code with the magic are left alone."""

    def __init__(self, shell: Any) -> None:
        self.shell = shell

    def __call__(self, lines: list[str]) -> list[str]:
        code = [line for line in lines if line.strip()]
        if len(code) != 1 or not can_await(self.shell):
            return lines
        cell = _CELL_CALL.match(code[0])
        if cell:
            target = f"cell_async({cell.group(1)})"
        else:
            line = _LINE_CALL.match(code[0])
            if not line:
                return lines
            target = f"line_async({line.group(1)})"
        return [f"await get_ipython().magics_manager.registry['Text2ML'].{target}\n"]


def can_await(shell: Any) -> bool:
    try:
        from IPython.core.async_helpers import _asyncio_runner
    except ImportError:
        return False
    return bool(getattr(shell, "autoawait", False)) and shell.loop_runner is _asyncio_runner
