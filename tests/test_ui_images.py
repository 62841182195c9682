"""The UI page of a container image (a modelcar or serving image `build-image` made, or a plain base image):
`report`, `pull` and `k8s --kind image-volume` refuse an image, so the page offers none of them for it; it
links to the report of the model the image was built from, and shows the `k8s` command that takes it."""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable
from pathlib import Path

from helpers import modelpack
from registry_process import Registry
from test_image import push_base
from ui_support import Pages, links, push_version


def _build(model: str, image: str, base: str, *extra: str) -> str:
    run = modelpack("build-image", "--plain-http", "--json", model, "-t", image, "--base", base, *extra)
    assert run.code == 0, run.err
    return str(json.loads(run.out)["digest"])


def _section(page: str, anchor: str) -> str:
    """The part of the page from the heading `anchor` to the next heading."""
    return page.split(f'id="{anchor}"', 1)[1].split("<h2", 1)[0]


def test_an_image_page_links_no_report_it_cannot_show(registry: Registry, ui: Callable[..., str],
                                                      tmp_path: Path) -> None:
    repo = f"{registry.host}/team/iris"
    model_digest = push_version(tmp_path / "model", f"{repo}:1", {"name": "iris", "framework": "transformers"})
    base = f"{registry.host}/base:1"
    push_base(base, ("amd64",))
    modelcar = _build(f"{repo}:1", f"{repo}-car:1", base, "--modelcar")
    serving = _build(f"{repo}:1", f"{repo}-serve:1", base, "--no-serving-layer")
    base_digest = modelpack("resolve", "--plain-http", base).out.strip()
    pages = Pages(ui([registry.host]))
    model_report = f"/report/{repo}@{model_digest}"

    for image, digest, command in ((f"{repo}-car", modelcar, "--kind kserve "), (f"{repo}-serve", serving, "")):
        page = pages.get(f"/v/{image}@{digest}")
        report = _section(page, "report")
        # It linked /report/ of the image itself, which answered 400 ("a container image, not a model").
        assert [href for href, _ in links(report, "/report/")] == [model_report]
        assert f"the model it was built from, <a href=\"{model_report}\">{repo}@{model_digest}</a>" in report
        use = _section(page, "use")
        assert "modelpack pull" not in use and "image-volume" not in use and "build-image" not in use
        pinned = shlex.quote(f"{image}@{digest}")
        assert f"<pre>modelpack k8s --plain-http {command}{pinned}</pre>" in use
        ran = modelpack("k8s", "--plain-http", *command.split(), f"{image}@{digest}")
        assert ran.code == 0, ran.err  # the command shown works
    assert "<h1>Technical documentation: iris</h1>" in pages.get(model_report)  # the link followed: the model's report

    page = pages.get(f"/v/{registry.host}/base@{base_digest}")
    assert links(page, "/report/") == []
    assert "records no model it was built from, and has no report of its own" in _section(page, "report")
    assert "modelpack " not in _section(page, "use")

    model_page = pages.get(f"/v/{repo}@{model_digest}")  # a model's page is as it was
    assert [href for href, _ in links(_section(model_page, "report"), "/report/")] == [model_report]
    assert f"modelpack pull --plain-http {repo}@{model_digest}" in _section(model_page, "use")
