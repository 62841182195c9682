"""`modelpack ui`: a hostile README (model card) costs its Markdown rendering once, not on every view of
its page, and no more than `MAX_RENDERED` bytes of it are rendered; the page says the rest was left out."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from registry_process import Registry
from ui_support import Pages, push_version


def test_a_readme_is_rendered_once_and_at_most_max_rendered(registry: Registry, ui: Callable[..., str],
                                                            tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from markdown_it import MarkdownIt

    from modelpack.ui.readme import MAX_README, MAX_RENDERED

    rendered: list[int] = []
    render = MarkdownIt.render

    def counting(self: MarkdownIt, src: str, env: Any = None) -> str:
        rendered.append(len(src.encode()))
        return render(self, src, env)

    monkeypatch.setattr(MarkdownIt, "render", counting)
    # A table of ~400 KiB (the costliest shape measured), unique to this test: nothing cached it before.
    first, last = f"first-{uuid.uuid4().hex}", f"last-{uuid.uuid4().hex}"
    rows = "|x|y|z|\n" * ((MAX_README - 120 * 1024) // 8)
    text = f"# {first}\n\n|a|b|c|\n|-|-|-|\n{rows}\n{last}\n"
    assert MAX_RENDERED < len(text.encode()) <= MAX_README
    repo = f"{registry.host}/hostile/card"
    digest = push_version(tmp_path / "m", f"{repo}:1", {"version": "1"}, readme=text)
    pages = Pages(ui([repo]))

    page = pages.get(f"/v/{repo}@{digest}")
    readme = page.split('class="readme"')[1]
    assert first in readme and "<table>" in readme
    assert last not in page  # past the cap: not rendered
    assert f"README.md is {len(text.encode())} bytes: only its first {MAX_RENDERED // 1024} KiB are shown" in page
    assert len(rendered) == 1 and rendered[0] <= MAX_RENDERED

    again = pages.get(f"/v/{repo}@{digest}")
    assert len(rendered) == 1  # the second view rendered nothing
    assert again.split('class="readme"')[1] == readme
