"""`k8s --kind kserve MODELCAR` keeps the paths a modelcar's layers name (to stack them, and for the links that
may lead into /models): what it keeps is bounded. tarfile reads a GNU long name up to 1 MiB, no path a
container runtime can write (Linux's PATH_MAX is 4096); every entry's was kept, in tarfile's member list and the
check's own, so a gzip layer of kilobytes cost GBs of memory (150 such entries: 350 MB, from a 167 KB layer).
Now a longer path is refused (exit 6), no header is kept once read, and the paths kept for a whole image are
capped (MAX_KEPT_PATH_BYTES)."""

from __future__ import annotations

import tarfile
from pathlib import Path

import pytest

import modelpack as mp
from images import PLAIN
from modelpack.errors import IntegrityError
from registry_process import Registry
from test_kserve_modelcar_layers import TAR, TAR_GZIP, _kserve, push_image, tar_file
from test_kserve_modelcar_tar_readers import _data, _header
from test_serve_trust import assert_one_line

pytestmark = pytest.mark.interop


def _long_names(path: Path, count: int, length: int) -> Path:
    with path.open("wb") as out:
        for n in range(count):
            name = (f"opt/{n}/" + "a" * length)[:length].encode() + b"\0"
            out.write(bytes(_header("././@LongLink", len(name), tarfile.GNUTYPE_LONGNAME, tarfile.GNU_FORMAT)))
            out.write(_data(name) + bytes(_header("placeholder", 0)))
        out.write(bytes(1024))
    return path


def test_a_path_longer_than_a_runtime_can_write_is_refused(registry: Registry, tmp_path: Path) -> None:
    pinned = push_image(registry.repo("car") + ":long",
                        [(TAR_GZIP, _long_names(tmp_path / "long.tar", 4, (1 << 20) - 1))])
    run = _kserve(pinned)
    assert_one_line(run.err, 6, run.code, "a tar entry names a path of 1048575 bytes",
                    "longer than a container runtime can write (4096)")
    fits = push_image(registry.repo("car") + ":fits", [(TAR, _long_names(tmp_path / "fits.tar", 4, 4095))])
    assert _kserve(fits).code == 0  # (4095 bytes and the NUL: as long as a path may be)


def test_the_paths_kept_for_an_image_are_capped(registry: Registry, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("modelpack.image.modelcar_contents.MAX_KEPT_PATH_BYTES", 1000)
    files: dict[str, bytes | int] = {f"usr/lib/python3/site-packages/pkg/module_{n}.py": b"" for n in range(40)}
    pinned = push_image(registry.repo("car") + ":1", [(TAR, tar_file(tmp_path / "base.tar", files))])
    with pytest.raises(IntegrityError, match="refused image: its layers name more than 1000 bytes of paths"):
        mp.kubernetes(pinned, "kserve", model_format="sklearn", options=PLAIN)
