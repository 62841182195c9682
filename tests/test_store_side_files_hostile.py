"""The local store's other files (the hash cache, origins.json, recorded provenance), build-image's layer cache,
and what a user names as a predicate or a library caller as a key: each read no further than a cap, the store's
and the cache's only from a regular file. A FIFO in their place hung pack, push and attest; a link to /dev/zero
(or `--predicate /dev/zero`) ended them in MemoryError, "internal error". The caches and origins.json only save
work, so one that cannot be read is ignored and written anew; recorded provenance is refused in one line."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import modelpack as mp
from registry_process import Registry
from test_local_input import _model
from test_oci_layout_hostile_files import _capped, _one_line
from test_signing import keypair

PLANTED = ["fifo", "/dev/zero"]


def _plant(path: Path, planted: str) -> None:
    path.unlink(missing_ok=True)
    os.mkfifo(path) if planted == "fifo" else path.symlink_to(planted)


def _replaced_by_a_file(path: Path) -> bool:
    return path.is_file() and not path.is_symlink()


@pytest.mark.parametrize("planted", PLANTED)
def test_a_hash_cache_that_is_no_file_is_ignored_and_written_anew(tmp_path: Path, modelpack_home: Path,
                                                                  planted: str) -> None:
    model = _model(tmp_path / "m")
    time.sleep(0.5)  # files changed just now are not cached (hashcache.RACY_NS): nothing would be written
    modelpack_home.mkdir(exist_ok=True)
    cache = modelpack_home / "hash-cache"
    _plant(cache, planted)
    packed = _capped("pack", str(model), "-t", "localhost:5000/t/m:1")
    assert packed.returncode == 0, packed.stderr
    assert _replaced_by_a_file(cache)


@pytest.mark.parametrize("planted", PLANTED)
def test_origins_that_are_no_file_are_ignored_and_written_anew(registry: Registry, tmp_path: Path,
                                                               modelpack_home: Path, planted: str) -> None:
    ref = registry.repo("origins") + ":1"
    mp.pack(_model(tmp_path / "m"), ref)
    origins = modelpack_home / "origins.json"
    _plant(origins, planted)
    pushed = _capped("push", "--plain-http", ref)
    assert pushed.returncode == 0, pushed.stderr
    assert _replaced_by_a_file(origins) and ref.rsplit(":", 1)[0] in origins.read_text()


@pytest.mark.parametrize("planted", PLANTED)
def test_recorded_provenance_that_is_no_file_is_refused_in_one_line(tmp_path: Path, planted: str,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    ref = "localhost:5000/t/p:1"
    recorded = mp.pack(_model(tmp_path / "m"), ref, provenance=True).provenance
    assert recorded is not None
    _plant(recorded, planted)
    private, _ = keypair(tmp_path, "k")
    monkeypatch.setenv("COSIGN_PASSWORD", "pw")
    _one_line(_capped("attest", "--local", "--key", str(private), "--provenance", ref), 6, str(recorded),
              "not a regular file")


def test_a_predicate_of_endless_bytes_is_refused_in_one_line(tmp_path: Path) -> None:
    key = tmp_path / "k.key"
    key.write_text("not read: the predicate is refused first")
    _one_line(_capped("attest", "localhost:1/t/m:1", "--key", str(key), "--predicate", "/dev/zero"), 2,
              "the predicate /dev/zero is over 1048576 bytes")


def test_a_library_callers_key_of_endless_bytes_is_refused() -> None:
    # In a child whose address space is capped: read whole, /dev/zero exhausts it.
    code = ("import resource; resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30)); "
            "from pathlib import Path; from modelpack.signatures import keys\n"
            "try:\n    keys.load_public_key(Path('/dev/zero'))\n"
            "except keys.KeyFileError as exc:\n    print(exc)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "/dev/zero is too large to be a key" in result.stdout, result.stderr


@pytest.mark.parametrize("planted", PLANTED)
def test_a_cached_layer_whose_note_is_no_file_is_no_entry(tmp_path: Path, planted: str) -> None:
    entry = tmp_path / "entry"
    entry.mkdir()
    (entry / "layer.tar.gz").write_bytes(b"x")
    _plant(entry / "layer.json", planted)
    _plant(entry / "installed.json", planted)
    # In a child, capped in memory and time: a FIFO's open waits for a writer for ever, /dev/zero never ends.
    code = ("import resource, sys; resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30)); "
            "from pathlib import Path; from modelpack.image import serving_layer as s; entry = Path(sys.argv[1]); "
            "print(s._load(entry), repr(s._installed_summary(entry / 'installed.json')))")
    result = subprocess.run([sys.executable, "-c", code, str(entry)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stdout.split() == ["None", "''"], result.stderr
