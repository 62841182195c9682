"""Characters a terminal draws as nothing (Unicode's tag characters, Hangul fillers, soft hyphens) let an
annotation hide text: `v1` followed by tag characters spelling "evil" read as `v1`. `inspect`, `ls` and
`lineage` show them as escapes, as they show controls and bidi overrides; `--json` keeps them. Against the
real registry."""

from __future__ import annotations

import json
from pathlib import Path

from helpers import modelpack
from registry_process import Registry
from ui_support import push_version

HIDDEN = "".join(chr(0xE0000 + ord(c)) for c in "evil")  # invisible: "v1" + HIDDEN reads as "v1"
RAW = ("\U000e0065", "\u3164", "\u00ad")
SHOWN = "v1\\U000e0065\\U000e0076\\U000e0069\\U000e006c"


def test_invisible_characters_in_metadata_are_shown_as_escapes(registry: Registry, tmp_path: Path) -> None:
    repo = registry.repo("invisible")
    push_version(tmp_path / "m", f"{repo}:1", {"name": "m", "version": "v1" + HIDDEN,
                                               "description": "safe\u3164model\u00ad"})
    for args in (["inspect", "--remote", f"{repo}:1"], ["ls", repo], ["lineage", f"{repo}:1"]):
        run = modelpack(*args, "--plain-http")
        assert run.code == 0, (args, run.err)
        assert not any(char in run.out + run.err for char in RAW), (args, run.out)
        assert SHOWN[:14] in run.out, (args, run.out)  # (ls cuts its column past 40 characters)
    shown = modelpack("inspect", "--remote", "--plain-http", f"{repo}:1").out
    assert SHOWN in shown and "safe\\u3164model\\xad" in shown
    exact = json.loads(modelpack("inspect", "--remote", "--plain-http", "--json", f"{repo}:1").out)
    assert exact["metadata"]["version"] == "v1" + HIDDEN


def test_an_emojis_own_joiner_and_variation_selector_are_shown_as_written(registry: Registry, tmp_path: Path) -> None:
    # ❤️ is U+2764 U+FE0F, 👩‍💻 is U+1F469 U+200D U+1F4BB: parts of what is drawn, not hidden text. The same
    # characters after a digit or between letters still hide something ("v1" + U+FE0F reads as "v1").
    repo = registry.repo("emoji")
    push_version(tmp_path / "m", f"{repo}:1", {"name": "m", "version": "v1\ufe0f",
                                               "description": "\u2764\ufe0f \U0001f469\u200d\U0001f4bb mo\u200ddel"})
    shown = modelpack("inspect", "--remote", "--plain-http", f"{repo}:1").out
    assert "\u2764\ufe0f \U0001f469\u200d\U0001f4bb mo\\u200ddel" in shown, shown
    assert "v1\\ufe0f" in shown, shown
