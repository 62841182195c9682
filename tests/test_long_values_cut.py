"""`inspect` and `diff` printed a 100 KB annotation value (a description, a label) on one line, filling the
terminal: a value is cut for the terminal past 200 characters, saying how many were left out, as `ls` cuts
its columns; `--json` keeps the whole value. Against the real registry."""

from __future__ import annotations

import json
from pathlib import Path

from helpers import modelpack
from registry_process import Registry
from ui_support import push_version

LONG = "x" * 100_000


def test_inspect_and_diff_cut_a_long_value(registry: Registry, tmp_path: Path) -> None:
    repo = registry.repo("long")
    push_version(tmp_path / "a", f"{repo}:1", {"name": "m", "description": "short", "labels": {"stage": "a"}})
    push_version(tmp_path / "b", f"{repo}:2", {"name": "m", "description": LONG, "labels": {"note": LONG}})
    shown = modelpack("inspect", "--remote", "--plain-http", f"{repo}:2")
    assert shown.code == 0, shown.err
    assert max(len(line) for line in shown.out.splitlines()) < 400
    line = next(x for x in shown.out.splitlines() if x.startswith("  description:"))
    assert line == f"  description:     {'x' * 200}… (99,800 more characters; --json shows them)"
    whole = json.loads(modelpack("inspect", "--remote", "--plain-http", "--json", f"{repo}:2").out)
    assert whole["metadata"]["description"] == LONG and whole["metadata"]["labels"]["note"] == LONG

    changed = modelpack("diff", "--plain-http", "--remote", f"{repo}:1", f"{repo}:2")
    assert changed.code == 0, changed.err
    assert max(len(line) for line in changed.out.splitlines()) < 600
    line = next(x for x in changed.out.splitlines() if x.startswith("  description:"))
    assert line == f"  description: 'short' -> '{'x' * 199}… (99,802 more characters; --json shows them)"
    as_json = json.loads(modelpack("diff", "--plain-http", "--remote", "--json", f"{repo}:1", f"{repo}:2").out)
    assert as_json["metadata"]["description"]["new"] == LONG
