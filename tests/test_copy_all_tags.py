"""`copy --all-tags`: a whole model repository into an OCI layout (a disk carried into an air-gapped site) and
from there into the site's registry, every version under its tag with its signatures, as `crane copy
--all-tags` and `skopeo sync` move an image repository. Before, `copy` took one reference (a repository alone
was read as `:latest`, exit 3), so a site got its versions one command at a time."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from helpers import modelpack
from registry_process import Registry

PW = {"COSIGN_PASSWORD": "pw"}


def _layout_tags(layout: Path) -> set[str]:
    index = json.loads((layout / "index.json").read_text())
    return {m["annotations"]["org.opencontainers.image.ref.name"] for m in index["manifests"]
            if "org.opencontainers.image.ref.name" in m.get("annotations", {})}


def _push(tmp_path: Path, name: str, ref: str, content: bytes) -> str:
    """A one-file model (`content`) pushed to `ref` from the folder `name`; its digest."""
    folder = tmp_path / name
    folder.mkdir()
    (folder / "weights.bin").write_bytes(content)
    pushed = modelpack("push", "--plain-http", str(folder), ref)
    assert pushed.code == 0, pushed.err
    return pushed.out.strip().split("@")[1]


def test_a_repository_goes_through_a_layout_into_another_registry_with_its_signatures(
        registry: Registry, tmp_path: Path) -> None:
    source, site = registry.repo("models"), registry.repo("site")
    digests = {tag: _push(tmp_path, f"model-{tag}", f"{source}:{tag}", tag.encode() * 500) for tag in ("1.0", "2.0")}
    assert modelpack("generate-key-pair", cwd=tmp_path, env=PW).code == 0
    key, public = str(tmp_path / "cosign.key"), str(tmp_path / "cosign.pub")
    signed = modelpack("sign", "--plain-http", "--signature-format", "both", "--key", key, f"{source}:2.0", env=PW)
    assert signed.code == 0, signed.err

    layout = tmp_path / "disk" / "models"
    out = modelpack("copy", "--all-tags", "--plain-http", source, f"oci:{layout}")
    assert out.code == 0, out.err
    assert out.err.strip().endswith(f"copied 2 tags of {source} to oci:{layout}"), out.err
    assert out.out.split() == [f"oci:{layout}@{digests['1.0']}", f"oci:{layout}@{digests['2.0']}"]
    # The versions, and cosign's .sig travelling with the one it signs (as `copy` of that one carries it).
    assert _layout_tags(layout) == {"1.0", "2.0", f"sha256-{digests['2.0'].split(':')[1]}.sig"}

    into = modelpack("copy", "--all-tags", "--plain-http", "--json", f"oci:{layout}", site)
    assert into.code == 0, into.err
    assert [(r["reference"], r["digest"]) for r in json.loads(into.out)] == \
        [(f"{site}:1.0", digests["1.0"]), (f"{site}:2.0", digests["2.0"])]
    verified = modelpack("verify", "--plain-http", "--key", public, f"{site}:2.0")
    assert verified.code == 0, verified.err
    listed = modelpack("ls", "--plain-http", "--json", site)
    assert sorted(v["tag"] for v in json.loads(listed.out)) == ["1.0", "2.0"]


def test_a_tag_or_digest_on_either_side_is_refused_before_anything_is_copied(registry: Registry,
                                                                             tmp_path: Path) -> None:
    source = registry.repo("models")
    for args in ((f"{source}:1.0", f"oci:{tmp_path / 'a'}"), (source, f"oci:{tmp_path / 'a'}:1.0"),
                 (source, f"{registry.repo('site')}:x")):
        refused = modelpack("copy", "--all-tags", "--plain-http", *args)
        assert refused.code == 2, refused.err
        assert "copying all tags takes the" in refused.err and "without a tag or digest" in refused.err
    assert not (tmp_path / "a").exists()
    local = modelpack("copy", "--all-tags", "--to-local", source, "x")
    assert local.code == 2 and "not the local store" in local.err


def test_a_repository_copied_without_all_tags_names_the_flag_when_it_has_no_latest(registry: Registry,
                                                                                  tmp_path: Path) -> None:
    source = registry.repo("models")
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "weights.bin").write_bytes(b"w" * 100)
    assert modelpack("push", "--plain-http", str(folder), f"{source}:1.0").code == 0
    missing = modelpack("copy", "--plain-http", source, f"oci:{tmp_path / 'out'}")
    assert missing.code == 3, missing.err
    assert missing.err.strip().endswith("; or copy every tag with --all-tags"), missing.err


def test_a_failure_part_way_lists_the_tags_copied_before_it_in_json(tmp_path: Path) -> None:
    layout = tmp_path / "disk"
    for tag in ("1.0", "2.0"):
        folder = tmp_path / f"model-{tag}"
        folder.mkdir()
        (folder / "weights.bin").write_bytes(tag.encode() * 500)
        assert modelpack("push", str(folder), f"oci:{layout}:{tag}").code == 0
    lost = [path for path in (layout / "blobs" / "sha256").iterdir() if path.read_bytes() == b"2.0" * 500]
    assert len(lost) == 1
    lost[0].unlink()  # 2.0's weights, lost on the disk

    out = tmp_path / "out"
    failed = modelpack("copy", "--all-tags", "--json", f"oci:{layout}", f"oci:{out}")
    assert failed.code == 3, failed.err
    assert "tag 2.0: " in failed.err and "(1 of 2 tags copied before it;" in failed.err, failed.err
    assert [r["reference"] for r in json.loads(failed.out)] == [f"oci:{out}:1.0"]
    assert _layout_tags(out) == {"1.0"}


def test_a_target_that_cannot_be_a_layout_is_refused_as_copy_of_one_refuses_it(tmp_path: Path) -> None:
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "weights.bin").write_bytes(b"w" * 100)
    assert modelpack("push", str(folder), f"oci:{tmp_path / 'disk'}:1.0").code == 0
    (tmp_path / "file").write_text("not a folder")
    refused = modelpack("copy", "--all-tags", f"oci:{tmp_path / 'disk'}", f"oci:{tmp_path / 'file'}")
    assert refused.code == 2, refused.err
    assert refused.err.strip() == f"error: {tmp_path / 'file'} is not a directory, so not an OCI image layout"


def test_a_signed_model_no_tag_names_any_more_is_copied_by_digest_with_its_signatures(
        registry: Registry, tmp_path: Path, crane_bin: Path) -> None:
    # `1.0` moved to a retrained model while clusters still pull the old one by digest: its signature tags
    # are how the repository lists it, and a copy by tags alone left the site without it (`crane copy
    # --all-tags` carries the .sig tag alone, naming a manifest the site does not have).
    source, site = registry.repo("models"), registry.repo("site")
    assert modelpack("generate-key-pair", cwd=tmp_path, env=PW).code == 0
    key, public = str(tmp_path / "cosign.key"), str(tmp_path / "cosign.pub")
    pushed = []
    for n, tag in enumerate(("1.0", "1.0", "gone")):
        pushed.append(_push(tmp_path, f"model-{n}", f"{source}:{tag}", str(n).encode() * 500))
        signed = modelpack("sign", "--plain-http", "--signature-format", "both", "--key", key,
                           f"{source}@{pushed[-1]}", env=PW)
        assert signed.code == 0, signed.err
    old, current, deleted = pushed
    # Deleted by another tool, which leaves its signature tags behind (`rm --remote` takes them too).
    removed = subprocess.run([str(crane_bin), "delete", "--insecure", f"{source}@{deleted}"],
                             capture_output=True, text=True)
    assert removed.returncode == 0, removed.stderr

    layout = tmp_path / "disk"
    out = modelpack("copy", "--all-tags", "--plain-http", source, f"oci:{layout}")
    assert out.code == 0, out.err
    assert "copied 1 tag and 1 signed untagged model of" in out.err, out.err
    assert "which the source no longer has; left out" in out.err and deleted in out.err, out.err
    assert out.out.split() == [f"oci:{layout}@{current}", f"oci:{layout}@{old}"]

    into = modelpack("copy", "--all-tags", "--plain-http", "--json", f"oci:{layout}", site)
    assert into.code == 0, into.err
    assert [r["digest"] for r in json.loads(into.out)] == [current, old]
    for digest in (old, current):
        verified = modelpack("verify", "--plain-http", "--key", public, f"{site}@{digest}")
        assert verified.code == 0, verified.err
    listed = modelpack("ls", "--plain-http", "--json", site)
    assert [v["tag"] for v in json.loads(listed.out)] == ["1.0"]

    bare = modelpack("copy", "--all-tags", "--no-referrers", "--plain-http", source, f"oci:{tmp_path / 'plain'}")
    assert bare.code == 0, bare.err
    assert bare.err.strip().endswith(f"copied 1 tag of {source} to oci:{tmp_path / 'plain'}"), bare.err


def test_the_signed_children_of_a_tagged_index_travel_with_it_not_as_signed_untagged_models(
        registry: Registry, tmp_path: Path, crane_bin: Path, cosign_bin: Path) -> None:
    # An index put together by crane of two models, each signed alone: one by cosign (its `.sig` tag), one by
    # `modelpack sign` (a bundle, listed by the referrers fallback's `sha256-<hex>` tag). Their signature tags
    # made each child count as a signed untagged model: copied again by digest and reported as such.
    from test_copy_signatures import cosign_verifies
    from test_signature_policy import cosign_keys, cosign_sign

    staging, source, site = registry.repo("staging"), registry.repo("models"), registry.repo("site")
    children = [_push(tmp_path, f"model-{n}", f"{staging}:{n}", str(n).encode() * 500) for n in range(2)]
    made = subprocess.run([str(crane_bin), "index", "append", "--insecure", "-t", f"{source}:multi",
                           *(arg for digest in children for arg in ("-m", f"{staging}@{digest}"))],
                          capture_output=True, text=True)
    assert made.returncode == 0, made.stderr
    index = made.stdout.strip().rsplit("@", 1)[1]
    cosign_key, cosign_public = cosign_keys(cosign_bin, tmp_path, "c")
    cosign_sign(cosign_bin, cosign_key, f"{source}@{children[0]}")
    assert modelpack("generate-key-pair", cwd=tmp_path, env=PW).code == 0
    signed = modelpack("sign", "--plain-http", "--key", str(tmp_path / "cosign.key"), f"{source}@{children[1]}",
                       env=PW)
    assert signed.code == 0, signed.err

    out = modelpack("copy", "--all-tags", "--plain-http", source, site)
    assert out.code == 0, out.err
    assert out.err.strip().endswith(f"copied 1 tag of {source} to {site}"), out.err
    assert out.out.split() == [f"{site}@{index}"]
    assert cosign_verifies(cosign_bin, cosign_public, f"{site}@{children[0]}")
    verified = modelpack("verify", "--plain-http", "--key", str(tmp_path / "cosign.pub"), f"{site}@{children[1]}")
    assert verified.code == 0, verified.err
