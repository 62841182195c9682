"""`modelpack ui`: a model card's YAML front matter (every Hugging Face card starts with one: `license:`,
`base_model:`, `datasets:`) is shown as it is written, above the rendered Markdown. Read as Markdown it was a
horizontal rule and a heading of its keys run together (`<hr><h2>license: mit datasets: [iris]</h2>`).
Escaped as the rest; a README without one, or with a `---` later, renders as before. Real registry."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from registry_process import Registry
from ui_support import Pages, push_version

CARD = "---\nlicense: mit\ndatasets: [iris]\nbase_model: <b>x</b>\n---\n# Iris card\n\nIntended use: demo.\n"


def test_front_matter_is_shown_as_written(registry: Registry, ui: Callable[..., str], tmp_path: Path) -> None:
    repo = f"{registry.host}/team/card"
    push_version(tmp_path / "a", f"{repo}:1.0", {"version": "1.0"}, readme=CARD)
    push_version(tmp_path / "b", f"{repo}:2.0", {"version": "2.0"}, readme="# Plain\n\ntext\n\n---\nafter: rule\n---\n")
    pages = Pages(ui([registry.host]))
    page = pages.get(f"/v/{repo}:1.0")
    readme = page.split('<div class="readme">', 1)[1].split("</div>", 1)[0]
    assert readme.startswith('<pre class="front-matter">license: mit\ndatasets: [iris]\nbase_model: '
                             "&lt;b&gt;x&lt;/b&gt;\n</pre><h1>Iris card</h1>"), readme
    assert "<hr" not in readme and "<h2>" not in readme
    plain = pages.get(f"/v/{repo}:2.0").split('<div class="readme">', 1)[1].split("</div>", 1)[0]
    assert "front-matter" not in plain and "<hr />" in plain and "<h2>after: rule</h2>" in plain
