"""A metric across versions as inline SVG geometry: points, a line, axis labels. Pure: the template
draws it (so every label a registry chose is escaped there), and no script or CDN is needed."""

from __future__ import annotations

from dataclasses import dataclass, field

WIDTH, HEIGHT = 360, 150
LEFT, RIGHT, TOP, BOTTOM = 52, 12, 12, 28  # margins: the value labels on the left, tags below
LABEL_CHAR = 6  # px a character of a value label takes at most (10px system-ui: digits 5.5, "-" and "." less)


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
    left: int = LEFT  # wide enough for the value labels, right-aligned 4 px left of the axis

    @property
    def labels(self) -> tuple[str, str]:
        """The highest and lowest value as the axis shows them."""
        return f"{self.high:.4g}", f"{self.low:.4g}"

    @property
    def ticks(self) -> list[tuple[float, str]]:
        """The value labels left of the axis: (baseline y, text). The highest at the top and the lowest at
        the bottom; one value (or all equal), drawn mid-height, is labelled once, beside its points (two
        labels alike at both ends said nothing of where the line is)."""
        _, y0, _, height = self.plot
        if self.high == self.low:
            return [(y0 + height / 2 + 4, self.labels[0])]
        return [(y0 + 4, self.labels[0]), (y0 + height, self.labels[1])]

    @property
    def line(self) -> str:
        """The polyline's `points` attribute."""
        return " ".join(f"{p.x:.1f},{p.y:.1f}" for p in self.points)

    @property
    def plot(self) -> tuple[int, int, int, int]:
        """The plotting area: x, y, width, height."""
        return self.left, TOP, self.width - self.left - RIGHT, self.height - TOP - BOTTOM


def chart(metric: str, series: list[tuple[str, float | None]]) -> Chart:
    """The chart of one metric: `series` is (tag, value) in version order; versions without the metric
    are skipped (the line joins the versions that have it)."""
    known = [(label, value) for label, value in series if value is not None]
    result = Chart(metric)
    if not known:
        return result
    values = [value for _, value in known]
    result.low, result.high = min(values), max(values)
    # A label wider than the margin was cut at the SVG's edge: -0.0001234 showed as 0.0001234.
    result.left = max(LEFT, 4 + LABEL_CHAR * max(map(len, result.labels)) + 2)
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
