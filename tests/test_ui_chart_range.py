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


def test_a_value_label_fits_left_of_the_axis(registry: Registry, ui: Callable[..., str], tmp_path: Path) -> None:
    # The labels are right-aligned 4 px left of the axis in a 10px font (at most 6 px a character): a
    # margin of 52 px cut -0.0001234's sign at the SVG's edge, showing 0.0001234.
    repo = f"{registry.host}/team/small"
    for i, value in enumerate([0.5, -0.0001234]):
        push_version(tmp_path / f"v{i}", f"{repo}:v{i}", {"version": f"{i}", "metrics": {"loss": value}})
    page = Pages(ui([repo])).get(f"/r/{repo}")
    labels = re.findall(r'<text x="([0-9.]+)" y="[0-9.]+" text-anchor="end">(-?[0-9][^<]*)</text>', page)[:2]
    assert [label for _, label in labels] == ["0.5", "-0.0001234"]
    assert all(float(x) - 6 * len(label) >= 0 for x, label in labels), labels
