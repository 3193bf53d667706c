"""The best score so far against time, drawn as an inline SVG (no JavaScript, no widget)."""

from __future__ import annotations

from ._format import BORDER, BRAND, esc, fmt_score, fmt_seconds, metric_label
from ._progress import RunProgress


def curve_svg(progress: RunProgress, width: int = 360, height: int = 96) -> str:
    """The best score so far against time, as an inline SVG step line ("" without points).

    A step line because the best only changes when a trial beats it; it runs on to the
    current time so a long plateau is visible as such.
    """
    curve = list(progress.curve)
    if not curve:
        return ""
    now = max(progress.current_elapsed(), curve[-1][0])
    x_max = max(progress.budget or 0.0, now, 1.0)
    values = [b for _, b in curve]
    lowest, highest = min(values), max(values)
    low, high = lowest, highest
    if high - low < 1e-12:  # one value so far: a flat line in the middle
        pad = abs(high) * 0.01 or 0.01
        low, high = low - pad, high + pad
    left, right, top, bottom = 52, 8, 8, 18
    plot_w, plot_h = width - left - right, height - top - bottom

    def x(t: float) -> float:
        return left + plot_w * min(t, x_max) / x_max

    def y(v: float) -> float:
        return top + plot_h * (high - v) / (high - low)

    path = [f"M{x(curve[0][0]):.1f},{y(curve[0][1]):.1f}"]
    for t, v in curve[1:]:
        path.append(f"H{x(t):.1f}V{y(v):.1f}")
    path.append(f"H{x(now):.1f}")
    # a dot per new best, while few enough to tell apart (and to keep the output small)
    dots = "".join(f'<circle cx="{x(t):.1f}" cy="{y(v):.1f}" r="2.5" '
                   f'style="fill: {BRAND}"/>' for t, v in curve) if len(curve) <= 40 else ""
    text = 'style="fill: var(--jp-ui-font-color2, currentColor); font-size: 10px"'
    axis = f'style="stroke: {BORDER}; stroke-width: 1"'
    label = f"best {metric_label(progress)} so far against seconds"
    # y labels at the lowest and highest best (one label while there is one value)
    ticks = "".join(f'<text x="{left - 4}" y="{y(v) + 3:.1f}" text-anchor="end" {text}>'
                    f"{esc(fmt_score(v))}</text>" for v in sorted({lowest, highest}))
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{esc(label)}">'
        f"<title>{esc(label)}</title>"
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" {axis}/>'
        f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" {axis}/>'
        f"{ticks}"
        f'<text x="{left}" y="{height - 4}" {text}>0 s</text>'
        f'<text x="{left + plot_w}" y="{height - 4}" text-anchor="end" {text}>'
        f"{esc(fmt_seconds(x_max))}</text>"
        f'<path d="{"".join(path)}" style="fill: none; stroke: {BRAND}; stroke-width: 2"/>'
        f"{dots}</svg>")
