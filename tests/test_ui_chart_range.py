"""A metric's chart when its values span more than a float holds: versions recording 1.7e308 and -1.7e308
made the highest minus the lowest overflow to infinity and every point's y "nan", an SVG no browser draws.
And when it has one value: labelled once, beside its point, not at both ends of the axis alike."""

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


def test_a_chart_of_one_value_labels_it_once_beside_its_point(registry: Registry, ui: Callable[..., str],
                                                               tmp_path: Path) -> None:
    repo = f"{registry.host}/team/single"
    push_version(tmp_path / "v0", f"{repo}:v0", {"version": "0", "metrics": {"accuracy": 0.93}})
    push_version(tmp_path / "v1", f"{repo}:v1", {"version": "1", "metrics": {"loss": 0.25}})
    push_version(tmp_path / "v2", f"{repo}:v2", {"version": "2", "metrics": {"loss": 0.25}})
    page = Pages(ui([repo])).get(f"/r/{repo}")
    figures = re.findall(r"<figure>.*?</figure>", page, re.S)
    assert len(figures) == 2, figures
    for figure, count in zip(figures, (1, 2), strict=True):
        texts = re.findall(r'<text x="[0-9.]+" y="([0-9.]+)" text-anchor="end">([^<]*)</text>', figure)
        values = [(y, text) for y, text in texts if float(y) != 150 - 8]  # (not the versions under the axis)
        points = re.findall(r'<circle cx="([0-9.]+)" cy="([0-9.]+)"', figure)
        assert len(values) == 1, figure  # one label, not the same value at the top and the bottom
        assert len(points) == count
        assert abs(float(values[0][0]) - 4 - float(points[0][1])) < 1  # level with the (flat) line
    # One version: its label under its point, centred on it.
    assert re.search(r'<text x="[0-9.]+" y="142" text-anchor="middle">0</text>', figures[0]), figures[0]
