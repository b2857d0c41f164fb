"""The EU billing information chart as inline SVG: monthly consumption over 13 months [MWh], the same
months a year earlier, and the weather-normalised consumption (a line)."""

from __future__ import annotations

import math
from decimal import Decimal
from xml.sax.saxutils import escape

from babel.dates import format_date

from billing.documents.content import MonthPoint
from billing.fr import LOCALE, number

WIDTH, HEIGHT = 640.0, 190.0
LEFT, BOTTOM, TOP = 44.0, 30.0, 12.0
CURRENT, BEFORE, NORMAL = "#b03a2e", "#c9c9c9", "#1f5f8b"


def consumption_chart(points: tuple[MonthPoint, ...]) -> str:
    """An SVG of ``points`` (oldest first); empty when there is no history."""
    if not points:
        return ""
    values = [v for p in points for v in (p.kwh, p.kwh_year_before, p.kwh_normalised) if v is not None]
    top = max([*values, Decimal(1)]) / 1000
    scale = _nice(float(top))
    plot_h = HEIGHT - BOTTOM - TOP
    slot = (WIDTH - LEFT - 8) / len(points)

    def y(kwh: Decimal | None) -> float:
        return HEIGHT - BOTTOM - (float(kwh or 0) / 1000 / scale) * plot_h

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH:.0f} {HEIGHT:.0f}" class="chart" '
             f'role="img" aria-label="Consommation mensuelle sur 13 mois" font-family="DejaVu Sans" '
             f'font-size="9" fill="#333">']
    for k in range(5):
        value = scale * k / 4
        yy = HEIGHT - BOTTOM - plot_h * k / 4
        parts.append(f'<line x1="{LEFT}" y1="{yy:.1f}" x2="{WIDTH - 4}" y2="{yy:.1f}" stroke="#e3e3e3" '
                     'stroke-width="0.6"/>')
        parts.append(f'<text x="{LEFT - 4}" y="{yy + 3:.1f}" text-anchor="end">{number(Decimal(str(value)), 0)}'
                     '</text>')
    line = []
    for i, p in enumerate(points):
        x = LEFT + i * slot
        bar = slot * 0.36
        if p.kwh_year_before is not None:
            parts.append(f'<rect x="{x + slot * 0.1:.1f}" y="{y(p.kwh_year_before):.1f}" width="{bar:.1f}" '
                         f'height="{HEIGHT - BOTTOM - y(p.kwh_year_before):.1f}" fill="{BEFORE}"/>')
        if p.kwh is not None:
            parts.append(f'<rect x="{x + slot * 0.1 + bar:.1f}" y="{y(p.kwh):.1f}" width="{bar:.1f}" '
                         f'height="{HEIGHT - BOTTOM - y(p.kwh):.1f}" fill="{CURRENT}"/>')
        if p.kwh_normalised is not None:
            line.append(f"{x + slot * 0.1 + bar:.1f},{y(p.kwh_normalised):.1f}")
        label = escape(str(format_date(p.month, "MMM yy", locale=LOCALE)))
        parts.append(f'<text x="{x + slot / 2:.1f}" y="{HEIGHT - BOTTOM + 12:.1f}" text-anchor="middle">{label}</text>')
    if len(line) > 1:
        parts.append(f'<polyline points="{" ".join(line)}" fill="none" stroke="{NORMAL}" stroke-width="1.6"/>')
    parts.append(f'<text x="4" y="{TOP:.0f}" fill="#555">MWh</text>')
    legend_y = HEIGHT - 4
    parts.append(f'<rect x="{LEFT}" y="{legend_y - 7}" width="9" height="7" fill="{CURRENT}"/>'
                 f'<text x="{LEFT + 12}" y="{legend_y}">consommation du mois</text>'
                 f'<rect x="{LEFT + 130}" y="{legend_y - 7}" width="9" height="7" fill="{BEFORE}"/>'
                 f'<text x="{LEFT + 142}" y="{legend_y}">même mois un an plus tôt</text>'
                 f'<line x1="{LEFT + 275}" y1="{legend_y - 3}" x2="{LEFT + 290}" y2="{legend_y - 3}" '
                 f'stroke="{NORMAL}" stroke-width="1.6"/>'
                 f'<text x="{LEFT + 294}" y="{legend_y}">corrigée du climat (degrés-jours)</text>')
    parts.append("</svg>")
    return "".join(parts)


def _nice(top: float) -> float:
    """The smallest of 1, 2, 2.5, 5 × 10^k at or above ``top`` (a round axis maximum)."""
    magnitude = 10 ** math.floor(math.log10(top)) if top > 0 else 1.0
    return next(step * magnitude for step in (1, 2, 2.5, 5, 10) if step * magnitude >= top)
