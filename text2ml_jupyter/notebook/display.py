"""How a run shows itself in IPython: the live dashboard in a kernel, printed progress in
a terminal, and at the end a static summary that survives saving (and carries the cells
for headless runners)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from ..events import Event
from ._progress import RunProgress

_REFRESH = 0.2  # seconds between dashboard refreshes: each one is a message to the browser


def _in_kernel() -> bool:
    """Widgets render only where a kernel talks to a front end (not terminal IPython)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and hasattr(shell, "kernel")


def _static_bundle(progress: RunProgress, cells: list[Any] | None, *, anchor: str,
                   run_id: str | None, message: str) -> dict[str, Any]:
    from html import escape

    from . import _summary
    from .writeback import CELLS_MIME, cell_payloads

    text = _summary.render_text(progress)
    html = _summary.render_html(progress)
    if message:
        text += f"\n\n{message}"
        html += f"<p style='margin:4px 0'>{escape(message)}</p>"
    bundle: dict[str, Any] = {"text/plain": text, "text/html": html}
    if cells is not None and run_id:
        bundle[CELLS_MIME] = {"run": run_id, "anchor": anchor,
                              "cells": cell_payloads(cells, run_id=run_id, anchor=anchor)}
    return bundle


class RunView:
    """One run's output. ``on_stop`` is called when the user clicks Stop."""

    def __init__(self, progress: RunProgress, *, widgets: bool) -> None:
        self.progress = progress
        self.on_stop: Callable[[], None] = lambda: None
        self._dashboard: Any = None
        self._handle: Any = None
        self._last_refresh = 0.0
        if widgets:
            from IPython.display import display

            from .dashboard import Dashboard

            self._dashboard = Dashboard(progress, on_stop=lambda: self.on_stop())
            self._handle = display(self._dashboard.widget, display_id=True)

    @classmethod
    def start(cls, budget: float) -> RunView:
        progress = RunProgress()
        progress.budget = budget
        view = cls(progress, widgets=_in_kernel())
        if view._dashboard is None:
            print(f"text2ml: running (budget {budget:g} s; Ctrl-C stops and keeps the best "
                  "so far)", flush=True)
        return view

    def apply(self, events: list[Event]) -> None:
        for event in events:
            self.progress.apply(event)
            if self._dashboard is None and event.message:
                print(event.message, flush=True)
        now = time.monotonic()
        if self._dashboard is not None and now - self._last_refresh >= _REFRESH:
            self._last_refresh = now
            self._dashboard.update()

    def stopping(self) -> None:
        self.progress.mark_stopping()
        if self._dashboard is not None:
            self._dashboard.update()
        else:
            print("text2ml: stopping, keeping the best pipeline so far...", flush=True)

    def _replace(self, bundle: dict[str, Any]) -> None:
        """Swap the widget for static output, so a saved notebook shows it later."""
        if self._handle is not None:
            self._handle.update(bundle, raw=True)
            self._dashboard.widget.close()
            self._dashboard = None
        else:
            print(bundle["text/plain"], flush=True)

    def fail(self, message: str) -> None:
        bundle = _static_bundle(self.progress, None, anchor="", run_id=None, message="")
        from html import escape

        self._replace({"text/plain": f"{bundle['text/plain']}\n\ntext2ml: {message}",
                       "text/html": bundle["text/html"] + "<p style='color:var(--jp-error-"
                       f"color1,#d32f2f);white-space:pre-wrap'>{escape(message)}</p>"})

    def finish(self, result: Any, cells: list[Any] | None, *, anchor: str,
               message: str) -> None:
        """The static summary; ``cells`` (None: not written back, --no-insert) ride along
        as CELLS_MIME for headless runners."""
        self._replace(_static_bundle(self.progress, cells, anchor=anchor,
                                     run_id=result.run_id, message=message))

    @staticmethod
    def show_final(progress: RunProgress | None, *, result: Any, anchor: str) -> None:
        """``%text2ml show``: the last run's summary again (static: it is finished)."""
        from IPython.display import display

        if progress is None:
            progress = RunProgress()
            progress.apply(Event("done", "", {"result": result}))
        bundle = _static_bundle(progress, None, anchor=anchor, run_id=result.run_id,
                                message="")
        display(bundle, raw=True)
