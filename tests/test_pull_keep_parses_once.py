"""`pull -o --keep` / `--link` parse the manifest they pull once: `pull` parsed it already, and the path
through the store took the bytes again (parsed again, then read back from the store and parsed a third time
to write the files; an index of many manifests cost each parse). Against the real registry."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

import modelpack as mp
from modelpack.api import pulling, store_unpack
from modelpack.oci.descriptor import Index, Manifest
from modelpack.store.client import ClientOptions
from registry_process import Registry

PLAIN = ClientOptions(plain_http=True)


@pytest.mark.parametrize("how", ["keep", "link"])
def test_the_pulled_manifest_is_parsed_once(registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            how: str) -> None:
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(os.urandom(5_000))
    ref = f"{registry.repo()}:1"
    mp.push(folder, ref, options=PLAIN)
    parsed: list[Manifest | Index] = []
    for module in (pulling, store_unpack):
        real = module.parse_manifest

        def counted(data: Any, real: Any = real) -> Manifest | Index:
            node: Manifest | Index = real(data)
            if isinstance(node, Manifest) and node.layers:  # the model's manifest, not a signature's
                parsed.append(node)
            return node

        monkeypatch.setattr(module, "parse_manifest", counted)
    mp.pull(ref, output=tmp_path / "out", options=PLAIN, **{how: True})
    assert (tmp_path / "out" / "model.safetensors").read_bytes() == (folder / "model.safetensors").read_bytes()
    assert len(parsed) == 1, parsed
