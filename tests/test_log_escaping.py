"""A warning the library logs reaches the terminal escaped, like everything else a registry chose: here a
layer path with an escape sequence (a folder name is any bytes but `/`)."""

from __future__ import annotations

from pathlib import Path

import modelpack as mp
from helpers import modelpack
from modelpack.store.options import ClientOptions
from registry_process import Registry

EVIL = "evil\x1b]0;pwned\x07"  # OSC 0: retitles the terminal


def test_a_library_warning_is_escaped_on_the_terminal(registry: Registry, tmp_path: Path) -> None:
    model = tmp_path / "m"
    (model / EVIL).mkdir(parents=True)
    (model / EVIL / "a.txt").write_text("a")
    (model / "w.safetensors").write_bytes(b"w" * 64)
    (model / "modelpack.yaml").write_text('files: {archives: ["evil\\e]0;pwned\\a"]}\n')
    ref = registry.repo() + ":v1"
    mp.push(model, ref, options=ClientOptions(plain_http=True))

    out = modelpack("k8s", "--plain-http", "--kind", "image-volume", ref,
                    "--serving-image", f"{registry.host}/serving@sha256:{'0' * 64}")

    assert "image volume shows tar layers as single files" in out.err, out.err
    assert "evil\\x1b]0;pwned\\x07" in out.err
    assert "\x1b" not in out.err and "\x07" not in out.err
