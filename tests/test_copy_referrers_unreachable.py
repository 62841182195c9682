"""A copy whose model went through but whose signatures could not all be read says so: the air-gap case, a
model copied into an `oci:` layout from a site's pull-through cache while the origin is down, the cache
holding the model and the signature index its pulls asked for but not every signature manifest. Before, the
one line was the origin's 'cannot connect' (exit 5), as if nothing had been copied and nothing could be."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers import modelpack
from registry_process import Registry
from test_mirrors import cache_pair, layer_digests, make_model, mirrored, wait_cached, write_conf

PW = {"COSIGN_PASSWORD": "pw"}

__all__ = ["cache_pair"]  # the fixture, used by name


def test_a_copy_that_could_not_carry_every_signature_says_the_model_was_written(
        cache_pair: tuple[Registry, Registry], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    origin, cache = cache_pair
    pushed = modelpack("push", "--plain-http", str(make_model(tmp_path / "model")), f"{origin.host}/team/m:1")
    assert pushed.code == 0, pushed.err
    pinned = pushed.out.strip()
    assert modelpack("generate-key-pair", cwd=tmp_path, env=PW).code == 0
    signed = modelpack("sign", "--plain-http", "--key", str(tmp_path / "cosign.key"), pinned, env=PW)
    assert signed.code == 0, signed.err
    write_conf(tmp_path, monkeypatch, mirrored(origin.host, cache.host))
    # A node's pull through the cache: the model and the signature index it looks model.sig up in.
    warm = modelpack("pull", "--plain-http", pinned, "-o", str(tmp_path / "node"))
    assert warm.code == 0, warm.err
    wait_cached(cache, [pinned.split("@")[1], *layer_digests(pinned)])

    origin.stop()
    layout = tmp_path / "usb"
    copied = modelpack("copy", "--plain-http", pinned, f"oci:{layout}")
    assert copied.code == 5, copied.err
    line = copied.err.strip()
    assert len(line.splitlines()) == 1, line
    assert line.startswith(f"error: the model {pinned.split('@')[1]} was copied, but not all of its signatures and "
                           f"attestations: cannot connect to {origin.host}"), line
    assert line.endswith("; copy it again once that is fixed, or with --no-referrers to leave them behind"), line
    listed = [m["digest"] for m in json.loads((layout / "index.json").read_text())["manifests"]]
    assert pinned.split("@")[1] in listed
    alone = modelpack("copy", "--plain-http", "--no-referrers", pinned, f"oci:{tmp_path / 'alone'}")
    assert alone.code == 0, alone.err
