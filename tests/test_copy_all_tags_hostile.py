"""`copy --all-tags` from what its source controls: an OCI layout's index.json names its tags with any text,
and a tag list may name one manifest thousands of times."""

from __future__ import annotations

import hashlib
import json
from http.server import BaseHTTPRequestHandler
from pathlib import Path

from helpers import modelpack
from hostile_registry import HostileRegistry, crafted_model, reply, serve_content, serve_tags
from registry_process import Registry

REF_NAME = "org.opencontainers.image.ref.name"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def _layout_tags(layout: Path) -> set[str]:
    index = json.loads((layout / "index.json").read_text())
    return {m["annotations"][REF_NAME] for m in index["manifests"] if REF_NAME in m.get("annotations", {})}


def _model(folder: Path, content: bytes = b"w") -> Path:
    folder.mkdir()
    (folder / "weights.bin").write_bytes(content * 300)
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


def test_a_tag_list_of_padded_pages_is_refused_after_64_mib(tmp_path: Path) -> None:
    # Each page at the 4 MiB cap, one tag and a link to the next: read until MAX_PAGES (40 GB) before.
    pad = "x" * (4 * 2**20 - 200)

    def page(handler: BaseHTTPRequestHandler) -> None:
        number = int(handler.path.rpartition("page=")[2]) if "page=" in handler.path else 0
        more = {"Link": f'</v2/a/b/tags/list?n=1000&page={number + 1}>; rel="next"'} if number < 40 else {}
        reply(handler, 200, json.dumps({"tags": [f"v{number}"], "pad": pad}),
              {"Content-Type": "application/json", **more})

    with HostileRegistry({r"^GET /v2/a/b/tags/list": page}) as hostile:
        refused = modelpack("copy", "--all-tags", "--plain-http", f"{hostile.host}/a/b", f"oci:{tmp_path / 'out'}")
        pages = len(hostile.requests("/tags/list"))
    assert refused.code == 1, refused.err  # a registry's refusal
    assert refused.err.strip() == f"error: tags of {hostile.host}/a/b: more than 64 MiB of pages; refused"
    assert pages <= 17  # (the one that passes 64 MiB is read)
    assert not (tmp_path / "out").exists()


def test_a_tag_removed_during_the_copy_is_left_out_with_a_warning(registry: Registry, tmp_path: Path) -> None:
    import modelpack as mp
    from modelpack.store.options import ClientOptions

    source = registry.repo("models")
    for tag in ("1.0", "2.0", "3.0"):
        model = _model(tmp_path / tag, tag.encode())
        assert modelpack("push", "--plain-http", str(model), f"{source}:{tag}").code == 0

    def prune(tag: str, _: object) -> None:  # another hand prunes the repository while it is copied
        if tag == "1.0":
            assert modelpack("rm", "--remote", "--yes", "--plain-http", f"{source}:2.0").code == 0

    warned: list[str] = []
    results = mp.copy_all_tags(source, f"oci:{tmp_path / 'out'}", options=ClientOptions(plain_http=True),
                               copied=prune, warn=warned.append)
    assert [r.reference.tag for r in results] == ["1.0", "3.0"]
    assert warned == [f"tag 2.0: removed from {source} since its tag list was read; left out"]
    assert _layout_tags(tmp_path / "out") == {"1.0", "3.0"}


def test_a_tag_listed_thousands_of_times_is_copied_once(tmp_path: Path) -> None:
    with HostileRegistry() as hostile:
        hostile.routes[r"^(GET|HEAD) /v2/a/b/(manifests|blobs)/"] = serve_content(crafted_model(tags=("1",)))
        hostile.routes["/tags/list"] = serve_tags(["1"] * 5000)
        copied = modelpack("copy", "--all-tags", "--plain-http", f"{hostile.host}/a/b", f"oci:{tmp_path / 'out'}")
        asked = [line for line in hostile.requests("/manifests/") if line.endswith("/manifests/1")]
    assert copied.code == 0, copied.err
    assert copied.err.strip().endswith(f"copied 1 tag of {hostile.host}/a/b to oci:{tmp_path / 'out'}"), copied.err
    assert len(asked) == 1, asked


def test_a_layout_signature_missing_a_blob_is_left_behind_naming_the_layout(registry: Registry, tmp_path: Path) -> None:
    layout = tmp_path / "disk"
    assert modelpack("push", str(_model(tmp_path / "model")), f"oci:{layout}:1.0").code == 0
    index = json.loads((layout / "index.json").read_text())
    model = index["manifests"][0]["digest"]

    def blob(data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        (layout / "blobs" / "sha256" / digest).write_bytes(data)
        return f"sha256:{digest}"

    absent = "sha256:" + "ab" * 32  # a signature layer the disk lost (or never had)
    signature = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                            "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                       "digest": blob(b"{}"), "size": 2},
                            "layers": [{"mediaType": "application/vnd.dev.cosign.simplesigning.v1+json",
                                        "digest": absent, "size": 10,
                                        "annotations": {"dev.cosignproject.cosign/signature": "MEUC"}}]}).encode()
    index["manifests"].append({"mediaType": OCI_MANIFEST, "digest": blob(signature), "size": len(signature),
                               "annotations": {REF_NAME: model.replace(":", "-") + ".sig"}})
    (layout / "index.json").write_text(json.dumps(index))

    copied = modelpack("copy", "--all-tags", "--plain-http", f"oci:{layout}", registry.repo("site"))
    assert copied.code == 0, copied.err
    assert f"not copied: blob {absent} is not in the OCI layout {layout}" in copied.err, copied.err


def test_a_tag_removed_from_a_layout_during_the_copy_is_left_out_too(tmp_path: Path) -> None:
    import modelpack as mp

    layout = tmp_path / "disk"
    for tag in ("1.0", "2.0"):
        assert modelpack("push", str(_model(tmp_path / tag, tag.encode())), f"oci:{layout}:{tag}").code == 0

    def prune(tag: str, _: object) -> None:  # another tool untags 2.0 in the layout meanwhile
        index = json.loads((layout / "index.json").read_text())
        index["manifests"] = [m for m in index["manifests"] if m.get("annotations", {}).get(REF_NAME) != "2.0"]
        (layout / "index.json").write_text(json.dumps(index))

    warned: list[str] = []
    results = mp.copy_all_tags(f"oci:{layout}", f"oci:{tmp_path / 'out'}", copied=prune, warn=warned.append)
    assert [r.reference.tag for r in results] == ["1.0"]
    assert warned == [f"tag 2.0: removed from oci:{layout} since its tag list was read; left out"]


def test_signature_tags_of_manifests_the_source_lacks_are_one_warning(tmp_path: Path) -> None:
    # A source listing 40 signature tags for digests it has no manifest of: one line for them all, naming a
    # few (a line each before: a source listing thousands wrote thousands).
    absent = sorted("sha256:" + hashlib.sha256(str(n).encode()).hexdigest() for n in range(40))
    with HostileRegistry() as hostile:
        hostile.routes[r"^(GET|HEAD) /v2/a/b/(manifests|blobs)/"] = serve_content(crafted_model(tags=("1",)))
        hostile.routes["/tags/list"] = serve_tags(["1", *(d.replace(":", "-") + ".sig" for d in absent)])
        copied = modelpack("copy", "--all-tags", "--plain-http", f"{hostile.host}/a/b", f"oci:{tmp_path / 'out'}")
    assert copied.code == 0, copied.err
    warnings = [line for line in copied.err.splitlines() if line.startswith("warning: ")]
    named = ", ".join(d.replace(":", "-") for d in absent[:3])
    assert warnings == [f"warning: {named} and 37 more: signatures of 40 manifests, which the source no longer has; "
                        "left out"], copied.err
    assert _layout_tags(tmp_path / "out") == {"1"}


def test_a_signature_tag_naming_a_blob_is_left_out(registry: Registry, tmp_path: Path) -> None:
    # Distribution answers a manifest request by a blob's digest with HTTP 500: the copy of every tag ended
    # in exit 3 ("it is the digest of a blob ... not of a model") after the tags were copied.
    import modelpack as mp
    from modelpack.store.options import ClientOptions

    source, plain = registry.repo("models"), ClientOptions(plain_http=True)
    assert modelpack("push", "--plain-http", str(_model(tmp_path / "model")), f"{source}:1.0").code == 0
    repo = mp.remote(mp.Reference.parse(f"{source}:1.0"), plain)
    desc, body = repo.fetch_manifest("1.0")
    layer = mp.inspect(f"{source}:1.0", options=plain, remote_only=True).manifest.layers[0].digest
    repo.put_manifest(desc, body, layer.replace(":", "-") + ".sig")
    copied = modelpack("copy", "--all-tags", "--plain-http", source, f"oci:{tmp_path / 'out'}")
    assert copied.code == 0, copied.err
    assert f"warning: {layer.replace(':', '-')}: signatures of {layer}, which the source no longer has; left out" \
        in copied.err.splitlines(), copied.err
    assert copied.out.split() == [f"oci:{tmp_path / 'out'}@{desc.digest}"]
