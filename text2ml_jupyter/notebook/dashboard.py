"""The live dashboard: ipywidgets showing a :class:`RunProgress` while the run goes on.

The only module that imports ipywidgets, and only when a Dashboard is built, so the engine
and the command line never load Jupyter. The sections are the static summary's
(``_summary``): the live view and the output saved at the end show the same thing, and
:meth:`Dashboard.static_bundle` is that saved output.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import _summary as summary
from ._progress import RunProgress

STOPPING = "Stopping… (keeping the best so far)"


class Dashboard:
    """Widgets for one run: headline and Stop button, time against budget, the task,
    candidates per slot, the search (best score and curve), and the result when done.

    The caller applies events to ``progress`` and calls :meth:`update` on the main thread
    (a few times a second at most); it displays :attr:`widget`, and at the end may replace
    it with :meth:`static_bundle`, which survives without a kernel.
    """

    def __init__(self, progress: RunProgress, on_stop: Callable[[], None]) -> None:
        import ipywidgets as widgets

        self.progress = progress
        self._on_stop = on_stop
        self._stop_requested = False
        self._headline = widgets.HTML()
        self._stop = widgets.Button(description="Stop", icon="stop", button_style="warning",
                                    tooltip="Stop the search and keep the best pipeline so far",
                                    layout=widgets.Layout(width="auto"))
        self._stop.on_click(self._clicked)
        self._time = widgets.FloatProgress(value=0.0, min=0.0, max=1.0,
                                           layout=widgets.Layout(width="240px"))
        self._time_label = widgets.Label()
        self._task = widgets.HTML()
        self._candidates = widgets.HTML()
        self._search = widgets.HTML()
        self._final = widgets.HTML()
        row = widgets.Layout(align_items="center")
        self.widget = widgets.VBox(
            [widgets.HBox([self._headline, self._stop], layout=row),
             widgets.HBox([widgets.Label("Time"), self._time, self._time_label], layout=row),
             self._task, self._candidates, self._search, self._final],
            layout=widgets.Layout(max_width="1000px"))
        self.update()

    # ------------------------------------------------------------------ refresh
    def update(self) -> None:
        """Re-render from the progress. Only values that changed are sent: each assignment
        is a message to the front end, and most refreshes change one line or none."""
        progress = self.progress
        with progress.lock:  # events keep arriving from the run's threads meanwhile
            done = progress.done
            values = [
                (self._headline, summary.wrap(summary.headline_html(progress))),
                (self._time_label, summary.time_text(progress)),
                (self._task, summary.wrap(summary.task_html(progress))),
                (self._candidates, summary.wrap(summary.candidates_html(progress))),
                (self._search, summary.wrap(summary.optimization_html(progress, bar=False))),
                (self._final, summary.wrap(summary.final_html(progress)
                                           + summary.code_html(progress))),
            ]
            # whole percents: the clock moves the bar on every refresh otherwise
            fraction = round(summary.time_fraction(progress), 2)
        for widget, value in values:
            _set(widget, "value", value)
        _set(self._time, "value", fraction)
        if progress.stopped or done:  # a stop may come from elsewhere too (Ctrl-C, the API)
            _set(self._stop, "disabled", True)
            _set(self._stop, "description", STOPPING)
            _set(self._stop, "icon", "hourglass-half")
        if done:
            _set(self._time, "bar_style", "warning" if progress.stopped else "success")
            _set(self._stop.layout, "display", "none")

    # ------------------------------------------------------------------ stop
    def _clicked(self, _button: Any = None) -> None:
        """Stop once: later clicks (double clicks, after a stop from elsewhere, after the
        end) do nothing."""
        if self._stop_requested or self.progress.done or self.progress.stopped:
            return
        self._stop_requested = True
        self.progress.mark_stopping()
        self.update()  # disable the button before anything else can click it
        self._on_stop()

    # ------------------------------------------------------------------ saved output
    def static_bundle(self) -> dict[str, str]:
        """The run as static output ({"text/plain", "text/html"}) to replace the widget:
        a saved notebook keeps it without the kernel or the widget state."""
        return {"text/plain": summary.render_text(self.progress),
                "text/html": summary.render_html(self.progress)}


def _set(obj: Any, name: str, value: Any) -> None:
    """Assign only on change (every trait assignment on a widget is a comm message)."""
    if getattr(obj, name) != value:
        setattr(obj, name, value)
