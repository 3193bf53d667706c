"""Value formatting and inline styles shared by the run's views (_summary, _curve).

Styles are inline because a saved output has no stylesheet of its own; colours come from
JupyterLab's theme variables with fallbacks that read on light and dark backgrounds alike.
"""

from __future__ import annotations

import html
import math
from typing import Any

from ._progress import RunProgress
from ..candidates import FAILED, PASSED, PENDING, TESTING

# -- styles (inline: a saved output has no stylesheet of its own) ---------------------------
ROOT = ("font-family: var(--jp-ui-font-family, system-ui, sans-serif); "
        "font-size: var(--jp-ui-font-size1, 13px); color: var(--jp-ui-font-color1, inherit); "
        "line-height: 1.4; max-width: 980px")
HEADING = "margin: 10px 0 4px; font-size: 1.05em; font-weight: 600"
MUTED = "opacity:.75"
SMALL = "font-size:.9em;opacity:.8"
BORDER = "var(--jp-border-color2,#8885)"
# Per-cell styles: JupyterLab's output CSS right-aligns and pads every td, so a table-level
# style would not win. Kept short, since they repeat on every cell.
TABLE = "border-collapse:collapse;margin:2px 12px 6px 0;font-size:.95em;color:inherit"
TR = f"border-bottom:1px solid {BORDER}"
CELL = "padding:1px 8px 1px 0;text-align:left;vertical-align:top"
NUM = "padding:1px 8px 1px 0;text-align:right;vertical-align:top"
CODE = "font-family:var(--jp-code-font-family,monospace);font-size:var(--jp-code-font-size,12px)"
PRE = (CODE + "; background: var(--jp-layout-color2, rgba(128, 128, 128, 0.1)); "
       "padding: 8px; margin: 4px 0; overflow-x: auto; white-space: pre")
STATE_COLOR = {
    PASSED: "var(--jp-success-color1, #2e7d32)",
    FAILED: "var(--jp-error-color1, #d32f2f)",
    TESTING: "var(--jp-warn-color1, #ef6c00)",
    PENDING: "var(--jp-ui-font-color2, inherit)",
}
BRAND = "var(--jp-brand-color1, #1e88e5)"


# -- small formatting helpers -----------------------------------------------------------------

def esc(value: Any) -> str:
    """HTML-escaped text (quotes too: the values also go into attributes)."""
    return html.escape(str(value), quote=True)


def fmt_score(value: Any) -> str:
    """A score to 4 decimals; "n/a" when there is none yet."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:.4f}"


def fmt_seconds(value: float | None) -> str:
    """"4.2 s", "42 s", "3 min 05 s"; "?" when unknown."""
    if value is None:
        return "?"
    if value < 120:
        return f"{value:.0f} s" if value >= 10 else f"{value:.1f} s"
    minutes, seconds = divmod(int(round(value)), 60)
    return f"{minutes} min {seconds:02d} s"


def fmt_value(value: Any) -> str:
    """A hyperparameter as a reader wants it: floats to 4 significant digits."""
    if isinstance(value, float):
        return f"{value:.4g}"
    return repr(value) if isinstance(value, str) else str(value)


def metric_label(progress: RunProgress) -> str:
    """The metric's label (with the positive class when it matters), or "score"."""
    spec = progress.spec
    if spec is not None and hasattr(spec, "metric_label"):
        return spec.metric_label()
    name = getattr(progress.result, "metric", None)
    if name:
        from ..metrics import get_metric

        return get_metric(name).label
    return "score"
