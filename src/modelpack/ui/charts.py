"""A metric across versions as inline SVG geometry: points, a line, axis labels. Pure: the template
draws it (so every label a registry chose is escaped there), and no script or CDN is needed."""

from __future__ import annotations

from dataclasses import dataclass, field

WIDTH, HEIGHT = 360, 150
LEFT, RIGHT, TOP, BOTTOM = 52, 12, 12, 28  # margins: the value labels on the left, tags below


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    label: str  # the version's tag
    value: float


@dataclass
class Chart:
    metric: str
    points: list[Point] = field(default_factory=list)
    low: float = 0.0
    high: float = 0.0
    width: int = WIDTH
    height: int = HEIGHT

    @property
    def line(self) -> str:
        """The polyline's `points` attribute."""
        return " ".join(f"{p.x:.1f},{p.y:.1f}" for p in self.points)

    @property
    def plot(self) -> tuple[int, int, int, int]:
        """The plotting area: x, y, width, height."""
        return LEFT, TOP, self.width - LEFT - RIGHT, self.height - TOP - BOTTOM


def chart(metric: str, series: list[tuple[str, float | None]]) -> Chart:
    """The chart of one metric: `series` is (tag, value) in version order; versions without the metric
    are skipped (the line joins the versions that have it)."""
    known = [(label, value) for label, value in series if value is not None]
    result = Chart(metric)
    if not known:
        return result
    values = [value for _, value in known]
    result.low, result.high = min(values), max(values)
    # Halves: high - low of finite values can overflow (1.7e308 and -1.7e308 made every y "nan", which
    # no browser draws); high/2 - low/2 cannot.
    span = (result.high / 2 - result.low / 2) or 1.0  # one value, or all equal: a flat line mid-height
    x0, y0, width, height = result.plot
    step = width / (len(known) - 1) if len(known) > 1 else 0.0
    for i, (label, value) in enumerate(known):
        x = x0 + (i * step if len(known) > 1 else width / 2)
        fraction = (value / 2 - result.low / 2) / span if result.high != result.low else 0.5
        result.points.append(Point(x, y0 + height - fraction * height, label, value))
    return result
