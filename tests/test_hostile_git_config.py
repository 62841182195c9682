"""A model folder whose repository came from elsewhere, past test_provenance_untrusted_git's cases: filter
drivers whose names the command line's `-c filter.NAME.clean=` cannot switch off (`a=b`: git splits `-c` at
the first `=`; and `[filter ""]`, which `filter=` in .gitattributes names), an attributes file that is
/dev/zero (git reads it as one endless line: gigabytes until its time-out), and an origin URL of megabytes or
with line breaks (it became the artifact's sourceURL)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import modelpack as mp
from test_provenance_untrusted_git import _source, git


def _checkout(tmp_path: Path, attributes: str) -> Path:
    """A committed model folder whose files' timestamps moved after the commit (git must compare them)."""
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "model.safetensors").write_bytes(b"w" * 4000)
    (repo / ".gitattributes").write_text(attributes)
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "model")
    later = time.time() + 5
    for name in ("model.safetensors", ".gitattributes"):
        os.utime(repo / name, (later, later))
    return repo


@pytest.mark.parametrize(("attributes", "section", "clean"), [
    ("* filter=a=b\n", '[filter "a=b"]', None),  # cannot be switched off: the status is unknown
    ("* filter=\n", '[filter ""]', True),
])
def test_a_filter_driver_with_an_odd_name_does_not_run(tmp_path: Path, attributes: str, section: str,
                                                       clean: bool | None) -> None:
    repo, marker = _checkout(tmp_path, attributes), tmp_path / "ran"
    with open(repo / ".git" / "config", "a") as config:
        config.write(f"{section}\n\tclean = echo clean >> {marker}; cat\n")
    source = _source(mp.pack(repo, "localhost:5000/untrusted/git:1", provenance=True))
    assert not marker.exists(), f"pack ran the repository's filter: {marker.read_text()!r}"
    assert source.get("clean") is clean
    assert len(str(source["revision"])) == 40


_PACK = ("import json, resource, sys, modelpack as mp\n"
         "packed = mp.pack(sys.argv[1], 'localhost:5000/untrusted/git:2', provenance=True)\n"
         "source = json.loads(packed.provenance.read_text())['buildDefinition']['externalParameters']['source']\n"
         "print(json.dumps([source.get('clean'), resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss]))\n")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the bound is Linux's RLIMIT_DATA")
def test_an_endless_attributes_file_costs_git_a_bounded_memory(tmp_path: Path) -> None:
    repo = _checkout(tmp_path, "*.safetensors -text\n")
    os.symlink("/dev/zero", repo / ".git" / "info" / "attributes")  # (git reads it, link or not)
    done = subprocess.run([sys.executable, "-c", _PACK, str(repo)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    clean, largest_child_kib = json.loads(done.stdout)
    assert clean is None  # git failed: unknown, not clean
    assert largest_child_kib < 1536 * 1024  # git_command.MAX_MEMORY is 1 GiB; unbounded, it read ~700 MB a second


@pytest.mark.parametrize("url", ["https://example.com/" + "a" * 3_000_000, "https://example.com/a\\nX-Injected: b"])
def test_an_origin_url_no_remote_has_is_not_recorded(tmp_path: Path, url: str) -> None:
    repo = _checkout(tmp_path, "")
    with open(repo / ".git" / "config", "a") as config:  # (too long for a command line)
        config.write(f'[remote "origin"]\n\turl = "{url}"\n')
    shown = subprocess.run(["git", "-C", str(repo), "remote", "get-url", "origin"], capture_output=True,
                           check=True, timeout=60).stdout
    assert len(shown) > 3_000_000 or b"\nX-Injected" in shown  # (git gives it as written)
    packed = mp.pack(repo, "localhost:5000/untrusted/git:3")
    metadata = mp.inspect("localhost:5000/untrusted/git:3").metadata
    assert "sourceURL" not in metadata
    assert metadata["revision"] == subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True,
                                                  text=True, check=True, timeout=60).stdout.strip()
    assert packed.descriptor.size < 4096
