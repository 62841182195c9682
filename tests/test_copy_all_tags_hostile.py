"""`copy --all-tags` from what its source controls: an OCI layout's index.json names its tags with any text,
and a tag list may name one manifest thousands of times."""

from __future__ import annotations

import json
from pathlib import Path

from helpers import modelpack
from registry_process import Registry

REF_NAME = "org.opencontainers.image.ref.name"


def _model(folder: Path) -> Path:
    folder.mkdir()
    (folder / "weights.bin").write_bytes(b"w" * 300)
    return folder


def test_a_layout_name_that_is_no_tag_does_not_write_another_repository(registry: Registry, tmp_path: Path) -> None:
    # Another team's repository on the same registry, the layout a copy of its model (so its blobs are there).
    victim, site = registry.repo("site"), registry.repo("site")
    model = _model(tmp_path / "model")
    assert modelpack("push", "--plain-http", str(model), f"{victim}:1.0").code == 0
    layout = tmp_path / "disk"
    assert modelpack("copy", "--plain-http", f"{victim}:1.0", f"oci:{layout}:1.0").code == 0
    index = json.loads((layout / "index.json").read_text())
    entry = index["manifests"][0]
    # /v2/site/SITE/manifests/../../VICTIM/manifests/prod is /v2/site/VICTIM/manifests/prod once a client
    # normalises the path, as libcurl does.
    escape = f"../../{victim.rsplit('/', 1)[1]}/manifests/prod"
    for name in (escape, "line\nbreak", "x" * 129):
        index["manifests"].append({**entry, "annotations": {REF_NAME: name}})
    (layout / "index.json").write_text(json.dumps(index))

    copied = modelpack("copy", "--all-tags", "--plain-http", f"oci:{layout}", site)
    assert copied.code == 0, copied.err
    assert "3 name(s) in index.json that are not valid tags left out" in copied.err
    tags = registry.session().get(f"{registry.url}/v2/{victim.split('/', 1)[1]}/tags/list").json()["tags"]
    assert tags == ["1.0"]
    listed = modelpack("ls", "--plain-http", "--json", site)
    assert [v["tag"] for v in json.loads(listed.out)] == ["1.0"]


def test_tags_of_one_signed_manifest_carry_its_signatures_once(registry: Registry, tmp_path: Path) -> None:
    source, site = registry.repo("models"), registry.repo("site")
    model = _model(tmp_path / "model")
    for tag in ("1.0", "latest", "prod", "stable"):
        assert modelpack("push", "--plain-http", str(model), f"{source}:{tag}").code == 0
    pw = {"COSIGN_PASSWORD": "pw"}
    assert modelpack("generate-key-pair", cwd=tmp_path, env=pw).code == 0
    signed = modelpack("sign", "--plain-http", "--key", str(tmp_path / "cosign.key"), f"{source}:1.0", env=pw)
    assert signed.code == 0, signed.err

    copied = modelpack("copy", "--all-tags", "--plain-http", "-v", source, site)
    assert copied.code == 0, copied.err
    asked = [line for line in copied.err.splitlines() if f"/v2/{source.split('/', 1)[1]}/manifests/sha256-" in line
             and line.split(" ", 2)[1] in ("GET", "HEAD") and ".sig " in line]
    assert len(asked) == 1, asked
    for tag in ("1.0", "stable"):
        verified = modelpack("verify", "--plain-http", "--key", str(tmp_path / "cosign.pub"), f"{site}:{tag}")
        assert verified.code == 0, verified.err
