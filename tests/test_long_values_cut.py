"""`inspect` and `diff` printed a 100 KB annotation value (a description, a label) on one line, filling the
terminal: a value is cut for the terminal past 200 characters, saying how many were left out, as `ls` cuts
its columns; `--json` keeps the whole value. So are `lineage`'s name and version, and both values of the
warning that annotations and config disagree. Against the real registry."""

from __future__ import annotations

import json
from pathlib import Path

from helpers import modelpack, push_edited_manifest
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


def test_ls_cuts_a_long_value_saying_how_many_characters_were_left_out(registry: Registry, tmp_path: Path) -> None:
    """`ls` cut its version and created columns past 40 characters with a bare ellipsis, and an escape
    sequence in half (`\\x1` ...): it cuts as inspect does (whole escapes, how many characters left out),
    the cell with its note still 40 characters wide; a long metric name is cut in the METRICS column."""
    repo = registry.repo("long-ls")
    version = "1.0-\x1b[31m" + "x" * 300  # 309 characters; the escape shows as 4
    push_version(tmp_path / "a", f"{repo}:1", {"name": "m", "version": version,
                                               "metrics": {"m" * 1000: 0.5, "accuracy": 0.9}})
    push_version(tmp_path / "b", f"{repo}:2", {"name": "m", "version": "2.0"})
    run = modelpack("ls", "--plain-http", repo)
    assert run.code == 0, run.err
    assert "\x1b" not in run.out
    header, *rows = run.out.splitlines()
    row = next(x for x in rows if x.startswith("1 "))
    # 27 shown characters (24 of the value: the escape shows as 4) and the note: 40 wide
    cell = "1.0-\\x1b[31m" + "x" * 15 + "…(+285 chars)"
    assert len(cell) == 40 and cell in row, run.out
    assert all(x[header.index("CREATED") - 2:header.index("CREATED")] == "  " for x in rows), run.out
    metrics = row[header.index("METRICS"):]
    assert metrics.startswith("accuracy=0.9, mmm") and metrics.endswith(" more characters; --json shows them)")
    assert len(metrics) < 300, metrics
    whole = json.loads(modelpack("ls", "--plain-http", "--json", repo).out)
    assert next(v for v in whole if v["tag"] == "1")["metadata"]["version"] == version


def test_lineage_and_a_disagreement_warning_cut_a_long_value(registry: Registry, tmp_path: Path) -> None:
    """`lineage` printed a 100 KB version whole; the warning that the annotations and the config disagree
    quoted both values whole (a 100 KB name: 200 KB on one line of stderr)."""
    repo = registry.repo("long-lineage")
    push_version(tmp_path / "a", f"{repo}:1", {"name": "m", "version": "1." + LONG})
    edited = push_edited_manifest(registry, f"{repo}:1", {"io.modelpack.model.name": "n" + LONG}, "2")

    chain = modelpack("lineage", "--plain-http", f"{repo}:1")
    assert chain.code == 0, chain.err
    assert max(len(line) for line in chain.out.splitlines()) < 400, chain.out[:1000]
    assert chain.out.rstrip().endswith(" more characters; --json shows them)"), chain.out[-300:]
    whole = json.loads(modelpack("lineage", "--plain-http", "--json", f"{repo}:1").out)
    assert whole[0]["version"] == "1." + LONG

    shown = modelpack("inspect", "--remote", "--plain-http", edited)
    assert shown.code == 0, shown.err
    warning = next(line for line in shown.err.splitlines() if "disagree on name" in line)
    assert len(warning) < 800 and warning.count("more characters; --json shows them") == 2, warning[:1000]
    as_json = json.loads(modelpack("inspect", "--remote", "--plain-http", "--json", edited).out)
    assert as_json["metadataDisagreements"][0]["annotations"] == "n" + LONG
