"""attach REF FILE... -t NEWREF: a new version with more files, uploading only the new blobs, its parent
recorded for lineage."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

import modelpack as mp
from fault_proxy import FaultProxy
from helpers import modelpack
from modelpack.errors import UsageError
from modelpack.oci import digest as digests
from modelpack.store.options import ClientOptions
from registry_process import Registry
from test_transfer import _repo

PLAIN = ClientOptions(plain_http=True)


def _version(registry: Registry, proxy: FaultProxy, tmp_path: Path) -> tuple[str, str]:
    model = tmp_path / "m"
    model.mkdir()
    (model / "w.safetensors").write_bytes(os.urandom(200_000))
    (model / "config.json").write_text('{"a": 1}\n')
    (model / "modelpack.yaml").write_text("name: base\nversion: '1.0'\nmetrics: {acc: 0.9}\n")
    ref = _repo(registry, proxy) + ":1.0"
    digest = mp.push(model, ref, options=PLAIN).descriptor.digest
    proxy.clear()
    return ref, digest


def test_attach_uploads_only_the_new_blobs_and_records_the_parent(registry: Registry, proxy: FaultProxy,
                                                                  tmp_path: Path) -> None:
    ref, parent_digest = _version(registry, proxy, tmp_path)
    work = tmp_path / "work"
    (work / "eval").mkdir(parents=True)
    report = b"# evaluation\naccuracy 0.91\n"
    (work / "eval" / "report.md").write_bytes(report)
    result = modelpack("attach", "--plain-http", ref, "eval/report.md", "-t", "1.0-eval", "--set", "version=1.0.1",
                       "--json", cwd=work)
    assert result.code == 0, result.err
    out = json.loads(result.out)
    assert out["blobsCopied"] == 2  # the report and the new config
    uploads = [line for line in proxy.requests() if line.startswith(("POST", "PUT")) and "/blobs/" in line]
    put_digests = {line.split("digest=")[1].split("&")[0].split(" ")[0] for line in uploads if "digest=" in line}
    assert digests.of_bytes(report) in put_digests
    assert len(put_digests) == 2
    assert len(proxy.requests("GET", "/blobs/")) == 1  # nothing downloaded but the old config
    new_ref = ref.rsplit(":", 1)[0] + ":1.0-eval"
    info = mp.inspect(new_ref, remote_only=True, options=PLAIN)
    assert [f.path for f in info.files] == ["config.json", "eval/report.md", "w.safetensors"]  # as pack orders
    assert info.version == "1.0.1" and info.metrics == {"acc": 0.9}
    assert "records its parent's version" not in result.err  # the version was set
    # Without --set version=, the new tag and the version it records differ: said, with the fix.
    kept = modelpack("attach", "--plain-http", ref, "eval/report.md", "-t", "1.0.2", cwd=work)
    assert kept.code == 0, kept.err
    # In the CLI's words only (flags), one line: no Python parameter named on the command line.
    assert kept.err.splitlines()[0] == (f"warning: {ref.rsplit(':', 1)[0]}:1.0.2 records its parent's version 1.0: "
                                        "attach again with --set version=1.0.2 to record 1.0.2")
    assert "overrides" not in kept.err and "API" not in kept.err
    assert info.parent == f"{ref}@{parent_digest}"
    chain = list(mp.lineage(new_ref, options=PLAIN))
    assert [entry["digest"] for entry in chain] == [info.digest, parent_digest]
    pulled = tmp_path / "pulled"
    mp.pull(new_ref, output=pulled, options=PLAIN)
    assert (pulled / "eval" / "report.md").read_bytes() == report
    # Packing the pulled new version, unchanged, gives its digest again (as for any pulled version).
    assert mp.pack(pulled, "example.com/again/model:1").descriptor.digest == info.digest


def test_a_library_caller_hears_of_the_kept_version_in_python_terms(registry: Registry, proxy: FaultProxy,
                                                                    tmp_path: Path,
                                                                    caplog: pytest.LogCaptureFixture) -> None:
    ref, _ = _version(registry, proxy, tmp_path)
    (tmp_path / "notes.md").write_text("notes\n")
    with caplog.at_level("WARNING", logger="modelpack"):
        mp.attach(ref, ["notes.md"], "1.0.3", options=PLAIN, base=tmp_path)
    said = [record.getMessage() for record in caplog.records if "parent's version" in record.getMessage()]
    assert said == [f"{ref.rsplit(':', 1)[0]}:1.0.3 records its parent's version 1.0: attach again with "
                    "overrides=['version=1.0.3'] to record 1.0.3"]


def test_attach_refuses_paths_outside_and_links(registry: Registry, proxy: FaultProxy, tmp_path: Path) -> None:
    ref, _ = _version(registry, proxy, tmp_path)
    work = tmp_path / "work"
    work.mkdir()
    (tmp_path / "secret.txt").write_text("secret")
    (work / "link.md").symlink_to(tmp_path / "secret.txt")
    (work / "inner").symlink_to(tmp_path)
    (work / "config.json").write_text("{}")
    for name in ("../secret.txt", str(tmp_path / "secret.txt"), "link.md", "inner/secret.txt", "config.json"):
        result = modelpack("attach", "--plain-http", ref, name, "-t", "bad", cwd=work)
        assert result.code == 2, (name, result.err)
        assert "Traceback" not in result.err and result.err.count("\n") == 1
    assert not [line for line in proxy.requests() if line.startswith(("POST", "PUT"))]
    # The folder named as the user knows it (its absolute path, not "."), and the way out, in each one's terms.
    outside = modelpack("attach", "--plain-http", ref, "../secret.txt", "-t", "bad", cwd=work)
    assert outside.err == (f"error: ../secret.txt: outside {work}, the folder whose files attach adds (their path "
                           "there becomes the layer's path); run attach from a folder that holds it\n")
    with pytest.raises(UsageError, match=rf"outside {re.escape(str(work))}, .*; pass base=, a folder that holds it"):
        mp.attach(ref, ["../secret.txt"], "bad", options=PLAIN, base=work)


def test_a_path_the_model_has_names_how_to_change_it(registry: Registry, proxy: FaultProxy, tmp_path: Path) -> None:
    ref, _ = _version(registry, proxy, tmp_path)
    work = tmp_path / "work"
    work.mkdir()
    (work / "config.json").write_text('{"a": 2}\n')  # a newcomer's edit of a file the version holds
    result = modelpack("attach", "--plain-http", ref, "config.json", "-t", "1.1", cwd=work)
    assert result.code == 2 and result.err.count("\n") == 1, result.err
    assert result.err == (f"error: config.json: {ref} already has a file at that path (attach adds new paths); to "
                          f"change it, `modelpack pull {ref} -o DIR`, edit it there and `modelpack push DIR NEWREF`\n")
    with pytest.raises(mp.ModelpackError, match=r"modelpack\.pull\("):  # the API's own terms
        mp.attach(ref, ["config.json"], "1.1", options=PLAIN, base=work)
