"""A client's scores over time as an SVG chart, written by hand.

No plotting library: the picture is a few dozen elements (band stripes, a polyline, dots,
session marks, date labels), and matplotlib would add tens of megabytes (numpy included),
seconds of import time and a font cache to a service image for it. SVG is text, renders in
every browser and mail client that shows images, and scales. Every text that comes from a
definition is escaped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from xml.sax.saxutils import escape, quoteattr

from content.domain.definitions import Band

WIDTH, HEIGHT = 800, 320
LEFT, RIGHT, TOP, BOTTOM = 48, 210, 40, 44

#: Band stripes, mild to severe (a calm green to a clear red), readable in print.
COLOURS = {
    "minimal": "#e3f2e1",
    "mild": "#f4f1d0",
    "moderate": "#fbe3c4",
    "moderately_severe": "#f8cfc0",
    "severe": "#f2b8b5",
}


@dataclass(frozen=True)
class ChartPoint:
    """One score at one time."""

    at: datetime
    score: int


def _fmt(value: float) -> str:
    return f"{value:.1f}"


def render(
    *,
    title: str,
    language: str,
    min_score: int,
    max_score: int,
    bands: Sequence[Band],
    points: Sequence[ChartPoint],
    sessions: Sequence[datetime],
    now: datetime,
) -> str:
    """The chart as an SVG document."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    moments = [p.at for p in points] + list(sessions)
    start = min(moments, default=now - timedelta(days=30))
    end = max(moments, default=now)
    if end - start < timedelta(days=7):
        start, end = start - timedelta(days=3), end + timedelta(days=4)
    span = (end - start).total_seconds()
    score_span = max(max_score - min_score, 1)

    def x(at: datetime) -> float:
        return LEFT + plot_w * (at - start).total_seconds() / span

    def y(score: float) -> float:
        return TOP + plot_h * (1 - (score - min_score) / score_span)

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="11" role="img" '
        f"aria-label={quoteattr(title)}>",
        f"<title>{escape(title)}</title>",
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="#ffffff"/>',
        f'<text x="{LEFT}" y="22" font-size="14" font-weight="bold">{escape(title)}</text>',
    ]
    for band in bands:
        top, bottom = y(min(band.max + 0.5, max_score)), y(max(band.min - 0.5, min_score))
        label = band.label.ru if language == "ru" else band.label.en
        out.append(
            f'<rect x="{LEFT}" y="{_fmt(top)}" width="{plot_w}" height="{_fmt(bottom - top)}" '
            f'fill="{COLOURS.get(band.code, "#eeeeee")}"/>'
        )
        out.append(
            f'<text x="{LEFT + plot_w + 6}" y="{_fmt((top + bottom) / 2 + 4)}">'
            f"{escape(label)} ({band.min}–{band.max})</text>"
        )
    for score in (min_score, max_score):
        out.append(
            f'<text x="{LEFT - 6}" y="{_fmt(y(score) + 4)}" text-anchor="end">{score}</text>'
        )
    out.append(
        f'<line x1="{LEFT}" y1="{TOP + plot_h}" x2="{LEFT + plot_w}" y2="{TOP + plot_h}" '
        'stroke="#555555"/>'
    )
    for at in sessions:
        out.append(
            f'<line x1="{_fmt(x(at))}" y1="{TOP}" x2="{_fmt(x(at))}" y2="{TOP + plot_h}" '
            'stroke="#4a6fa5" stroke-dasharray="3,3" class="session"/>'
        )
    for at in (start, end):
        out.append(
            f'<text x="{_fmt(x(at))}" y="{TOP + plot_h + 16}" text-anchor="middle">'
            f"{at.date().isoformat()}</text>"
        )
    if points:
        path = " ".join(f"{_fmt(x(p.at))},{_fmt(y(p.score))}" for p in points)
        out.append(f'<polyline points="{path}" fill="none" stroke="#1f3b63" stroke-width="2"/>')
        for p in points:
            out.append(
                f'<circle cx="{_fmt(x(p.at))}" cy="{_fmt(y(p.score))}" r="4" fill="#1f3b63" '
                f'class="score"><title>{p.at.date().isoformat()}: {p.score}</title></circle>'
            )
    else:
        empty = "Результатов пока нет" if language == "ru" else "No results yet"
        out.append(
            f'<text x="{LEFT + plot_w / 2}" y="{TOP + plot_h / 2}" text-anchor="middle">'
            f"{empty}</text>"
        )
    legend = "пунктир — сессии" if language == "ru" else "dashed lines: sessions"
    out.append(f'<text x="{LEFT}" y="{HEIGHT - 8}" fill="#4a6fa5">{legend}</text>')
    out.append("</svg>")
    return "\n".join(out)
