"""Helpers shared by the integration tests: run the real CLI, build model directories, compare trees."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Run:
    code: int
    out: str
    err: str


def modelpack(*args: str, env: dict[str, str] | None = None, stdin: str | None = None, timeout: float = 120) -> Run:
    """Run the real `modelpack` command in a child process (exit codes and stderr as a user sees them)."""
    proc = subprocess.run(
        [sys.executable, "-m", "modelpack", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        input=stdin,
        timeout=timeout,
    )
    return Run(proc.returncode, proc.stdout, proc.stderr)


def make_tricky_model(root: Path) -> Path:
    """Nested folders, names with spaces, an empty file, an executable script, a read-only file."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "weights").mkdir()
    (root / "weights" / "model part 1.safetensors").write_bytes(os.urandom(200_000))
    (root / "weights" / "nested" / "deeper").mkdir(parents=True)
    (root / "weights" / "nested" / "deeper" / "shard.bin").write_bytes(os.urandom(50_000))
    (root / "empty.txt").write_bytes(b"")
    script = root / "run model.sh"
    script.write_text("#!/bin/sh\necho serving\n")
    script.chmod(0o755)
    ro = root / "config.json"
    ro.write_text('{"hidden_size": 8}\n')
    ro.chmod(0o444)
    (root / "README.md").write_text("# tricky\n")
    (root / "modelpack.yaml").write_text("name: tricky\nversion: '2.0'\nmetrics: {accuracy: 0.5}\n")
    return root


def tree(root: Path, skip: tuple[str, ...] = ("modelpack.yaml",)) -> dict[str, tuple[str, int]]:
    """relative path -> (sha256, permission bits) of every file below root."""
    out = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_file() and rel not in skip:
            out[rel] = (hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mode & 0o777)
    return out
