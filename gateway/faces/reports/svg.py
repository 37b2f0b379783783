"""Charts as SVG text, written here rather than by a plotting library.

The HTML report must open offline, with no script and no font from anywhere (a region's
intranet, an archived copy, a printout). The charts it needs are a horizontal bar chart and a
line chart over months: about a hundred lines of SVG, with every label escaped. Plotting libraries
that emit SVG without JS (matplotlib, pygal, plotly's static export) either pull a large stack into
a hub that serves appeals (matplotlib, a browser runtime for kaleido) or embed a script for their
tooltips (pygal); none is needed to draw rectangles and a polyline.

Each mark carries ``data-label`` and ``data-value``, so a test (or a screen reader's user) can
read the numbers a chart was drawn from.
"""

from __future__ import annotations

from html import escape

PALETTE = ("#1f6fb2", "#e07b24", "#2e9e57", "#c23b3b", "#7a5bb5", "#8c6d3f", "#d45fa6", "#6b6b6b")
FONT = 'font-family="sans-serif" font-size="12"'


def _number(value: float) -> str:
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.2f}"


def bar_chart(title: str, items: list[tuple[str, float]], *, width: int = 640, unit: str = "") -> str:
    """Horizontal bars, one per (label, value), longest first as given; values ≥ 0."""
    bar, gap, left, right = 18, 6, 220, 70
    height = 30 + len(items) * (bar + gap) + 10
    top = max((v for _, v in items), default=0) or 1
    span = width - left - right
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart bar-chart" role="img" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" {FONT}>',
        f"<title>{escape(title)}</title>",
        f'<text x="0" y="16" font-weight="bold">{escape(title)}</text>',
    ]
    for i, (label, value) in enumerate(items):
        y = 30 + i * (bar + gap)
        length = max(span * value / top, 1 if value else 0)
        parts += [
            f'<text x="{left - 8}" y="{y + 13}" text-anchor="end">{escape(label[:34])}</text>',
            f'<rect class="bar" x="{left}" y="{y}" width="{length:.1f}" height="{bar}" '
            f'fill="{PALETTE[0]}" data-label="{escape(label)}" data-value="{_number(value)}"/>',
            f'<text x="{left + length + 6:.1f}" y="{y + 13}">{_number(value)}{escape(unit)}</text>',
        ]
    parts.append("</svg>")
    return "\n".join(parts)


def line_chart(title: str, months: list[str], series: dict[str, list[float]], *, width: int = 640) -> str:
    """One polyline per series over the months (x), a point per month, a legend below."""
    left, right, top_pad, plot_h = 50, 20, 30, 200
    legend_h = 18 * len(series) + 10
    height = top_pad + plot_h + 30 + legend_h
    peak = max((v for values in series.values() for v in values), default=0) or 1
    step = (width - left - right) / max(len(months) - 1, 1)
    base = top_pad + plot_h

    def xy(i: int, v: float) -> tuple[float, float]:
        return left + i * step, top_pad + plot_h - plot_h * v / peak

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart line-chart" role="img" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" {FONT}>',
        f"<title>{escape(title)}</title>",
        f'<text x="0" y="16" font-weight="bold">{escape(title)}</text>',
        f'<line x1="{left}" y1="{base}" x2="{width - right}" y2="{base}" stroke="#999"/>',
        f'<text x="{left - 6}" y="{top_pad + 4}" text-anchor="end">{_number(peak)}</text>',
        f'<text x="{left - 6}" y="{top_pad + plot_h}" text-anchor="end">0</text>',
    ]
    for i, month in enumerate(months):
        x, _ = xy(i, 0)
        parts.append(
            f'<text x="{x:.1f}" y="{top_pad + plot_h + 16}" text-anchor="middle">{escape(month)}</text>'
        )
    for n, (name, values) in enumerate(series.items()):
        colour = PALETTE[n % len(PALETTE)]
        points = " ".join(f"{x:.1f},{y:.1f}" for x, y in (xy(i, v) for i, v in enumerate(values)))
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{points}"/>')
        for i, v in enumerate(values):
            x, y = xy(i, v)
            parts.append(
                f'<circle class="point" cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}" '
                f'data-label="{escape(name)} {escape(months[i])}" data-value="{_number(v)}"/>'
            )
        ly = top_pad + plot_h + 30 + n * 18
        parts += [
            f'<rect x="{left}" y="{ly}" width="12" height="12" fill="{colour}"/>',
            f'<text x="{left + 18}" y="{ly + 11}">{escape(name[:60])}</text>',
        ]
    parts.append("</svg>")
    return "\n".join(parts)
