"""`k8s --kind kserve MODELCAR`: a file a layer names outside /models lands in /models when a link among its
parent folders leads there (containerd resolves each entry's parent through the image's links, inside its
root; Docker and CRI-O unpack in a chroot, where the kernel does). The check read only names under /models:
a pickle written as `data/evil.pkl` below `data -> /models` passed (exit 0). Links that lead elsewhere (a
merged /usr's `bin -> usr/bin`) still count for nothing."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from registry_process import Registry
from test_kserve_modelcar_layers import PICKLE, TAR, TAR_GZIP, _kserve, push_image
from test_serve_trust import assert_one_line

pytestmark = pytest.mark.interop


def _layer(path: Path, entries: dict[str, bytes | str]) -> Path:
    """A tar of `entries`: bytes are a file's, text a symbolic link's target."""
    with tarfile.open(path, "w") as tar:
        for name, value in entries.items():
            info = tarfile.TarInfo(name)
            if isinstance(value, str):
                info.type, info.linkname = tarfile.SYMTYPE, value
                tar.addfile(info)
            else:
                info.size = len(value)
                tar.addfile(info, io.BytesIO(value))
    return path


def test_a_pickle_written_through_a_link_in_its_own_layer_is_refused(registry: Registry, tmp_path: Path) -> None:
    layer = _layer(tmp_path / "l.tar", {"models/config.json": b"{}", "data": "/models", "data/evil.pkl": PICKLE})
    run = _kserve(push_image(registry.repo("car") + ":1", [(TAR, layer)]))
    assert_one_line(run.err, 2, run.code, "/models/evil.pkl (written as /data/evil.pkl)", "unpickle")


def test_a_pickle_written_through_links_of_a_lower_layer_is_refused(registry: Registry, tmp_path: Path) -> None:
    # `srv` leads (relative, through a second link to the root) to /models, made by the layer below.
    base = _layer(tmp_path / "base.tar", {"models/config.json": b"{}", "up": "/", "srv": "up/./x/../models"})
    top = _layer(tmp_path / "top.tar", {"srv/sub/model.joblib": PICKLE})
    run = _kserve(push_image(registry.repo("car") + ":2", [(TAR_GZIP, base), (TAR, top)]))
    assert_one_line(run.err, 2, run.code, "/models/sub/model.joblib (written as /srv/sub/model.joblib)")


def test_links_that_lead_elsewhere_count_for_nothing(registry: Registry, tmp_path: Path) -> None:
    base = _layer(tmp_path / "base.tar", {"bin": "usr/bin", "lib": "/usr/lib", "etc/mtab": "/proc/mounts"})
    top = _layer(tmp_path / "top.tar", {"bin/tool.pkl": PICKLE, "lib/x/cache.pkl": PICKLE,
                                        "models/model.onnx": b"\x08\x07", "models/config.json": b"{}"})
    run = _kserve(push_image(registry.repo("car") + ":3", [(TAR, base), (TAR, top)]))
    assert run.code == 0 and "kind: InferenceService" in run.out, run.err


def test_a_pickle_written_through_a_link_placed_by_another_link_is_refused(registry: Registry,
                                                                          tmp_path: Path) -> None:
    # The link `a/data` is written through `a -> /b` at /b/data: `b/data/evil.pkl` lands in /models. The
    # check knew links only by the names they were written as (`a/data`), so it missed /b/data (exit 0).
    base = _layer(tmp_path / "base.tar", {"models/config.json": b"{}", "b/keep": b"", "a": "/b",
                                          "a/data": "/models"})
    top = _layer(tmp_path / "top.tar", {"b/data/evil.pkl": PICKLE})
    run = _kserve(push_image(registry.repo("car") + ":4", [(TAR, base), (TAR, top)]))
    assert_one_line(run.err, 2, run.code, "/models/evil.pkl (written as /b/data/evil.pkl)", "unpickle")


def test_a_pickle_written_through_a_link_later_repointed_is_refused(registry: Registry, tmp_path: Path) -> None:
    # `data` led to /models when evil.pkl was written through it, and elsewhere from the layer above: the
    # check knew each link by its last target only, so the pickle left in /models passed (exit 0).
    base = _layer(tmp_path / "base.tar", {"models/config.json": b"{}", "data": "/models", "data/evil.pkl": PICKLE})
    top = _layer(tmp_path / "top.tar", {"data": "/srv"})
    run = _kserve(push_image(registry.repo("car") + ":5", [(TAR, base), (TAR, top)]))
    assert_one_line(run.err, 2, run.code, "/models/evil.pkl (written as /data/evil.pkl)", "unpickle")
