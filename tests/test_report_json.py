"""`report --json` (or `--format json`, or -o FILE.json): the report's facts as JSON, for scripts and
evidence stores, agreeing with what `resolve` says of the version; and -o writes through a temporary name
(never half a document) but into a pipe or device in place, never replacing it with a file. Real registry."""

from __future__ import annotations

import json
import os
import stat
import threading
from pathlib import Path

import modelpack as mp
from helpers import modelpack
from modelpack.store.options import ClientOptions
from registry_process import Registry
from test_errors_and_auth import assert_one_line_error

PLAIN = ClientOptions(plain_http=True)


def _pushed(registry: Registry, tmp_path: Path) -> str:
    model = tmp_path / "m"
    model.mkdir()
    (model / "model.safetensors").write_bytes(b"w" * 1000)
    ref = registry.repo("report-json") + ":1.0"
    mp.push(model, ref, ["version=1.0", "authors=Ada \x1b[31mred", "metrics.accuracy=0.9"], options=PLAIN)
    return ref


def test_report_json_is_the_facts_and_agrees_with_resolve(registry: Registry, tmp_path: Path) -> None:
    ref = _pushed(registry, tmp_path)
    run = modelpack("report", "--plain-http", "--json", ref)
    assert run.code == 0, run.err
    assert "\x1b" not in run.out  # the author's escape reaches the terminal as \u001b only
    facts = json.loads(run.out)
    resolved = json.loads(modelpack("resolve", "--plain-http", "--json", ref).out)
    assert facts["digest"] == resolved["digest"]
    assert facts["reference"] == ref
    assert "Ada \\u001b[31mred" in run.out  # kept, as data, escaped by JSON itself
    out = tmp_path / "evidence.json"
    written = modelpack("report", "--plain-http", ref, "-o", str(out))
    assert written.code == 0, written.err
    assert json.loads(out.read_text())["digest"] == resolved["digest"]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".evidence")] == []  # no temporary left
    assert_one_line_error(modelpack("report", "--plain-http", "--json", "--format", "md", ref), "give one")


def test_report_into_a_fifo_writes_it_in_place(registry: Registry, tmp_path: Path) -> None:
    ref = _pushed(registry, tmp_path)
    fifo = tmp_path / "pipe.md"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()), daemon=True)
    reader.start()
    run = modelpack("report", "--plain-http", ref, "-o", str(fifo))
    reader.join(30)
    assert run.code == 0, run.err
    assert stat.S_ISFIFO(fifo.stat().st_mode)  # still the pipe: not replaced by a regular file
    assert received and received[0].startswith(b"# ")
