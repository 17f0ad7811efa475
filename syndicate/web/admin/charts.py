"""Charts as server-side SVG: pure functions from series to an SVG string (no script).

Every label is escaped (``markupsafe``), every chart has a ``<title>`` and ``<desc>`` (and is
``role="img"``) for screen readers, and colours come from CSS classes (``chart-s0`` …) that
the admin stylesheet sets per colour scheme, over ``currentColor`` defaults, so a chart is
readable in dark mode and under a strict CSP (no inline style).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

from markupsafe import Markup
from markupsafe import escape as _escape

# Characters XML 1.0 cannot hold at all (escaped or not): shown as U+FFFD.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")

WIDTH, HEIGHT = 640, 240
LEFT, RIGHT, TOP, BOTTOM = 60, 12, 14, 58  # room for the axes' labels and the legend
# Text is sized in the viewBox's units, which shrink with the chart: the stylesheet sets a
# larger size when the chart's box is narrow (a container query), so labels stay readable
# on a phone. The legend is spaced for that larger size.
LEGEND_CHAR, LEGEND_GAP = 13, 34


def escape(text: str) -> Markup:
    """Text for an SVG element: escaped, and without characters XML cannot carry."""
    return _escape(_NOT_XML.sub("\ufffd", text))


def short(value: float) -> str:
    """A number as an axis shows it: 950, 12.5k, 3.2M, 1.1G."""
    if not math.isfinite(value):
        return "?"
    for limit, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= limit:
            shown = f"{value / limit:.1f}".removesuffix(".0")
            return f"{shown}{suffix}"
    if value == int(value):
        return str(int(value))
    return f"{value:.2f}".rstrip("0").rstrip(".")


def nice_max(value: float) -> float:
    """A round number at or above ``value`` for the top of an axis (1, 2, 5 × 10ⁿ)."""
    if not math.isfinite(value) or value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if value <= step * power:
            return float(step * power)
    return float(10 * power)  # pragma: no cover (10 × power always fits)


def ticks(top: float, *, counts: bool) -> list[float]:
    """The y axis' tick values from 0 to ``top``: five for a rate; for a count, whole
    numbers only (no "1.25 subscribers"): every one up to 5, else 4 or 5 equal steps."""
    if not counts:
        return [top * i / 4 for i in range(5)]
    whole = max(1, round(top))
    if whole <= 5:
        steps = whole
    elif whole % 4 == 0:
        steps = 4
    elif whole % 5 == 0:
        steps = 5
    else:
        steps = 2 if whole % 2 == 0 else 1
    return [whole * i / steps for i in range(steps + 1)]


def _clean(values: Sequence[float]) -> list[float]:
    return [v if math.isfinite(v) and v > 0 else 0.0 for v in values]


def _frame(
    title: str,
    desc: str,
    body: list[str],
    top: float,
    labels: Sequence[str],
    *,
    counts: bool = False,
) -> Markup:
    """The svg element, axes, tick labels, and the chart's own shapes."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'class="chart" role="img" preserveAspectRatio="xMidYMid meet">',
        f"<title>{escape(title)}</title>",
        f"<desc>{escape(desc)}</desc>",
    ]
    for value in ticks(top, counts=counts):  # y axis: a gridline per tick, 0 to top
        y = TOP + plot_h - plot_h * value / top
        parts.append(
            f'<line class="chart-grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" '
            f'y2="{y:.1f}" stroke="currentColor" stroke-opacity="0.2"/>'
        )
        parts.append(
            f'<text class="chart-label" x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" '
            f'font-size="12" fill="currentColor">{escape(short(value))}</text>'
        )
    if labels:  # x axis: the first, middle and last labels (more would overlap)
        n = len(labels)
        shown = sorted({0, n // 2, n - 1})
        for i in shown:
            x = LEFT + (plot_w * (i + 0.5) / n)
            anchor = "start" if i == 0 and n > 1 else "end" if i == n - 1 and n > 1 else "middle"
            parts.append(
                f'<text class="chart-label" x="{x:.1f}" y="{HEIGHT - BOTTOM + 22}" '
                f'text-anchor="{anchor}" font-size="12" fill="currentColor">'
                f"{escape(labels[i])}</text>"
            )
    parts.extend(body)
    parts.append("</svg>")
    return Markup("".join(parts))


def line_chart(
    points: Sequence[tuple[str, float]],
    *,
    title: str,
    desc: str,
    empty: str = "No data yet",
    counts: bool = False,
) -> Markup:
    """One series over time (e.g. active subscribers per day): a line, a dot per point,
    each point with a tooltip (``<title>``) giving its label and value; ``counts``: whole
    numbers, so the axis has whole ticks only."""
    if not points:
        return _empty(title, desc, empty)
    values = _clean([v for _, v in points])
    top = nice_max(max(values))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    n = len(points)
    xy = [
        (LEFT + plot_w * (i + 0.5) / n, TOP + plot_h - plot_h * v / top)
        for i, v in enumerate(values)
    ]
    body = [
        '<polyline class="chart-s0" fill="none" stroke="currentColor" stroke-width="2" '
        f'points="{" ".join(f"{x:.1f},{y:.1f}" for x, y in xy)}"/>'
    ]
    if n <= 120:  # dots (and their tooltips) while they do not pile up
        for (label, raw), (x, y) in zip(points, xy, strict=True):
            body.append(
                f'<circle class="chart-s0 chart-dot" cx="{x:.1f}" cy="{y:.1f}" r="3" '
                f'fill="currentColor"><title>{escape(label)}: {escape(short(raw))}</title>'
                "</circle>"
            )
    return _frame(title, desc, body, top, [label for label, _ in points], counts=counts)


def bar_chart(
    groups: Sequence[tuple[str, Sequence[float]]],
    *,
    series: Sequence[str],
    title: str,
    desc: str,
    empty: str = "No data yet",
    counts: bool = False,
) -> Markup:
    """Grouped bars: per label (e.g. a week), one bar per series (subscribes, unsubscribes,
    bounces …), each with a tooltip; a legend names the series; ``counts`` as for
    :func:`line_chart`."""
    if not groups:
        return _empty(title, desc, empty)
    top = nice_max(max((max(_clean(vals), default=0.0) for _, vals in groups), default=0.0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / len(groups)
    width = max(slot * 0.8 / max(len(series), 1), 0.5)
    body: list[str] = []
    for g, (label, values) in enumerate(groups):
        for s, (raw, value) in enumerate(zip(values, _clean(values), strict=False)):
            h = plot_h * value / top
            x = LEFT + slot * g + slot * 0.1 + width * s
            name = series[s] if s < len(series) else f"series {s + 1}"
            body.append(
                f'<rect class="chart-s{s % 4}" x="{x:.2f}" y="{TOP + plot_h - h:.2f}" '
                f'width="{width:.2f}" height="{h:.2f}" fill="currentColor" '
                f'fill-opacity="{1 - 0.25 * (s % 4):.2f}"><title>{escape(label)}, '
                f"{escape(name)}: {escape(short(raw))}</title></rect>"
            )
    x = LEFT
    for s, name in enumerate(series):  # the legend, along the bottom
        body.append(
            f'<rect class="chart-s{s % 4}" x="{x}" y="{HEIGHT - 16}" width="12" height="12" '
            f'fill="currentColor" fill-opacity="{1 - 0.25 * (s % 4):.2f}"/>'
            f'<text class="chart-label" x="{x + 16}" y="{HEIGHT - 5}" font-size="12" '
            f'fill="currentColor">{escape(name)}</text>'
        )
        x += 16 + LEGEND_CHAR * len(name) + LEGEND_GAP
    return _frame(title, desc, body, top, [label for label, _ in groups], counts=counts)


def _empty(title: str, desc: str, message: str) -> Markup:
    body = [
        f'<text class="chart-label" x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle" '
        f'font-size="14" fill="currentColor">{escape(message)}</text>'
    ]
    return _frame(title, desc, body, 1.0, [])
