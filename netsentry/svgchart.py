"""Small inline-SVG charts for the HTML report, drawn in Python.

Why SVG from Python rather than a JavaScript charting library: the report must
open offline, from a mail attachment or an air-gapped analyst box, with no
network and ideally no script at all. Inline SVG is plain markup that every
browser renders, prints and zooms crisply; it needs no bundled 200 KB library,
no ``script-src`` in the page's Content-Security-Policy, and nothing in it can
run. Two chart shapes are all the report needs (horizontal bars and a stacked
timeline), which is ~150 lines here. Every label is escaped: chart text can come
from captured traffic.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

SEVERITY_COLORS: dict[str, str] = {
    "critical": "#7f1d1d",
    "high": "#dc2626",
    "medium": "#f59e0b",
    "low": "#0ea5e9",
    "info": "#94a3b8",
}
DEFAULT_COLOR = "#6366f1"


def _num(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def bar_chart(
    rows: Sequence[tuple[str, int, str]],
    *,
    title: str,
    width: int = 560,
    bar_height: int = 18,
    label_width: int = 200,
) -> str:
    """Horizontal bars: ``rows`` of (label, value, colour); value printed at the bar's end."""
    if not rows:
        return ""
    gap = 6
    height = len(rows) * (bar_height + gap) + gap
    peak = max(v for _, v, _ in rows) or 1
    span = width - label_width - 60
    parts = [
        f'<svg class="chart" role="img" aria-label="{escape(title)}" '
        f'xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}"><title>{escape(title)}</title>'
    ]
    for i, (label, value, color) in enumerate(rows):
        y = gap + i * (bar_height + gap)
        length = max(1.0, span * value / peak)
        shown = label if len(label) <= 30 else label[:29] + "…"
        parts.append(
            f'<text x="{label_width - 6}" y="{y + bar_height - 5}" text-anchor="end" '
            f'font-size="12">{escape(shown)}</text>'
            f'<rect x="{label_width}" y="{y}" width="{_num(length)}" height="{bar_height}" '
            f'fill="{escape(color)}" rx="2"><title>{escape(label)}: {value:,}</title></rect>'
            f'<text x="{_num(label_width + length + 4)}" y="{y + bar_height - 5}" '
            f'font-size="12">{value:,}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def timeline_chart(
    buckets: Sequence[tuple[str, dict[str, int]]],
    order: Sequence[str],
    *,
    title: str,
    width: int = 900,
    height: int = 220,
) -> str:
    """Stacked columns over time: ``buckets`` of (label, counts by series), series in ``order``."""
    if not buckets:
        return ""
    left, bottom, top = 44, 36, 10
    plot_w = width - left - 10
    plot_h = height - bottom - top
    peak = max(sum(c.values()) for _, c in buckets) or 1
    step = plot_w / len(buckets)
    bar_w = max(1.0, min(step * 0.8, 24.0))
    parts = [
        f'<svg class="chart" role="img" aria-label="{escape(title)}" '
        f'xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}"><title>{escape(title)}</title>',
        f'<line x1="{left}" y1="{top + plot_h}" x2="{width - 10}" y2="{top + plot_h}" '
        'stroke="#475569"/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" stroke="#475569"/>',
        f'<text x="{left - 4}" y="{top + 10}" text-anchor="end" font-size="11">{peak:,}</text>',
        f'<text x="{left - 4}" y="{top + plot_h}" text-anchor="end" font-size="11">0</text>',
    ]
    for i, (label, counts) in enumerate(buckets):
        x = left + i * step + (step - bar_w) / 2
        y: float = top + plot_h
        for series in order:
            n = counts.get(series, 0)
            if not n:
                continue
            h = plot_h * n / peak
            y -= h
            parts.append(
                f'<rect x="{_num(x)}" y="{_num(y)}" width="{_num(bar_w)}" height="{_num(h)}" '
                f'fill="{SEVERITY_COLORS.get(series, DEFAULT_COLOR)}">'
                f"<title>{escape(label)}: {n:,} {escape(series)}</title></rect>"
            )
    # first and last bucket labels under the axis
    parts.append(
        f'<text x="{left}" y="{height - 18}" font-size="11">{escape(buckets[0][0])}</text>'
    )
    if len(buckets) > 1:
        parts.append(
            f'<text x="{width - 10}" y="{height - 18}" text-anchor="end" font-size="11">'
            f"{escape(buckets[-1][0])}</text>"
        )
    x = left
    for series in order:
        parts.append(
            f'<rect x="{x}" y="{height - 12}" width="10" height="10" '
            f'fill="{SEVERITY_COLORS.get(series, DEFAULT_COLOR)}"/>'
            f'<text x="{x + 14}" y="{height - 3}" font-size="11">{escape(series)}</text>'
        )
        x += 24 + 7 * len(series)
    parts.append("</svg>")
    return "".join(parts)
