"""A metric's chart when its values span more than a float holds: versions recording 1.7e308 and -1.7e308
made the highest minus the lowest overflow to infinity and every point's y "nan", an SVG no browser draws."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from registry_process import Registry
from ui_support import Pages, push_version


def test_a_chart_of_values_spanning_more_than_a_float_holds_is_drawn(registry: Registry, ui: Callable[..., str],
                                                                      tmp_path: Path) -> None:
    repo = f"{registry.host}/team/extreme"
    for i, value in enumerate([1.7e308, 0.5, -1.7e308]):
        push_version(tmp_path / f"v{i}", f"{repo}:v{i}", {"version": f"{i}", "metrics": {"score": value}})
    page = Pages(ui([repo])).get(f"/r/{repo}")
    points = re.findall(r'<polyline[^>]* points="([^"]*)"', page)
    assert len(points) == 1, points
    ys = sorted(float(point.split(",")[1]) for point in points[0].split())
    assert ys == [12.0, 67.0, 122.0]  # top, middle and bottom of the plot (12 to 122), no "nan"
