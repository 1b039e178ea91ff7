"""The after-action chart as SVG markup (pure): time since the report on the x-axis, people on the
way (YES) and people reached on the y-axis, the quorum as a dashed line, each layer's alert as a
mark. Drawn on the server, no script: presentation attributes only, so the page's CSP (no
inline styles) holds.
"""

from __future__ import annotations

from markupsafe import Markup, escape

from rapidresponse.afteraction.figures import Figures, span

WIDTH, HEIGHT = 600, 250
LEFT, RIGHT, TOP, BOTTOM = 40, 34, 14, 56
YES_COLOUR = "#1e7a3a"
REACHED_COLOUR = "#0b6bcb"
QUORUM_COLOUR = "#b3261e"
LAYER_COLOUR = "#6b4bb8"
GRID = "#e4e4e7"
TEXT = "#555"

_STEPS = (15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 28800, 86400)


def _tick_step(total: float) -> int:
    """A round step giving at most about six ticks along `total` seconds."""
    return next((s for s in _STEPS if total / s <= 6), _STEPS[-1])


def _y_step(top: int) -> int:
    return next((s for s in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000) if top / s <= 5), 1000)


def svg(figures: Figures, *, title: str = "Acknowledgements over time") -> Markup:
    total = max(figures.duration, 60.0)
    highest = max([p.reached for p in figures.points] + [p.on_the_way for p in figures.points]
                  + [figures.quorum_needed, 1])
    y_step = _y_step(highest)
    top = (highest // y_step + 1) * y_step  # headroom above the highest line
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(seconds: float) -> float:
        return round(LEFT + plot_w * min(seconds, total) / total, 1)

    def y(count: float) -> float:
        return round(TOP + plot_h * (1 - count / top), 1)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" '
             f'role="img" aria-labelledby="chart-title" class="after-action-chart" '
             f'font-family="system-ui, sans-serif" font-size="12">',
             f'<title id="chart-title">{escape(title)}</title>']
    for count in range(0, top + 1, y_step):
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(count)}" y2="{y(count)}" stroke="{GRID}"/>')
        parts.append(f'<text x="{LEFT - 6}" y="{y(count) + 4}" text-anchor="end" fill="{TEXT}">{count}</text>')
    step = _tick_step(total)
    tick = 0
    while tick <= total:
        parts.append(f'<line x1="{x(tick)}" x2="{x(tick)}" y1="{TOP + plot_h}" y2="{TOP + plot_h + 4}" '
                     f'stroke="{TEXT}"/>')
        parts.append(f'<text x="{x(tick)}" y="{TOP + plot_h + 16}" text-anchor="middle" fill="{TEXT}">'
                     f'{escape(span(tick) if tick else "0")}</text>')
        tick += step
    parts.append(f'<text x="{WIDTH - RIGHT}" y="{HEIGHT - 6}" text-anchor="end" fill="{TEXT}">'
                 'time since the report</text>')
    parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{TOP + plot_h}" y2="{TOP + plot_h}" stroke="{TEXT}"/>')
    for number, at in figures.layer_marks:
        parts.append(f'<line x1="{x(at)}" x2="{x(at)}" y1="{TOP}" y2="{TOP + plot_h}" stroke="{LAYER_COLOUR}" '
                     'stroke-dasharray="2 3"/>')
        parts.append(f'<text x="{x(at) + 3}" y="{TOP + 10}" fill="{LAYER_COLOUR}">L{number}</text>')
    if figures.quorum_needed:
        q = y(figures.quorum_needed)
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{q}" y2="{q}" stroke="{QUORUM_COLOUR}" '
                     'stroke-dasharray="6 4"/>')
        parts.append(f'<text x="{WIDTH - RIGHT - 2}" y="{q - 4}" text-anchor="end" fill="{QUORUM_COLOUR}">'
                     f'quorum {figures.quorum_needed}</text>')
    for attribute, colour, width in (("reached", REACHED_COLOUR, 1.5), ("on_the_way", YES_COLOUR, 2.5)):
        points: list[str] = []
        previous = 0
        for point in figures.points:
            value = getattr(point, attribute)
            points.append(f"{x(point.at)},{y(previous)}")
            points.append(f"{x(point.at)},{y(value)}")
            previous = value
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="{width}" points="{" ".join(points)}"/>')
    legend_y = HEIGHT - 10  # the legend under the axis, left; the axis's name on the right
    for i, (label, colour) in enumerate((("on the way (YES)", YES_COLOUR), ("reached", REACHED_COLOUR))):
        lx = LEFT + i * 130
        parts.append(f'<rect x="{lx}" y="{legend_y - 4}" width="14" height="4" fill="{colour}"/>')
        parts.append(f'<text x="{lx + 19}" y="{legend_y}" fill="{TEXT}">{escape(label)}</text>')
    parts.append("</svg>")
    # Every value put in above is a number we computed or passed through escape().
    return Markup("".join(parts))  # noqa: S704
