"""`modelpack sbom`: a CycloneDX 1.6 ML-BOM, checked with cyclonedx-python-lib's JSON validator, and
attached as a cyclonedx attestation that cosign verifies."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

import modelpack as mp
from helpers import modelpack
from modelpack.store.options import ClientOptions
from registry_process import Registry
from test_signing import COSIGN_FLAGS, cosign, keypair

PLAIN = ClientOptions(plain_http=True)
PARENT = "registry.example.com/team/iris@sha256:" + "ab" * 32
METADATA = f"""name: iris
version: 1.1.0
description: Iris classifier
authors: [ML team]
licenses: [Apache-2.0]
family: llama
architecture: transformer
paramSize: 8b
precision: float16
quantization: awq
metrics: {{accuracy: 0.97, f1: 0.95}}
hyperparameters: {{epochs: 3}}
datasets: [iris, https://example.com/data/extra.csv]
parent: {PARENT}
"""


@pytest.fixture
def described(registry: Registry, tmp_path: Path) -> tuple[str, mp.ModelInfo]:
    """A model with full metadata in the registry: its tag reference and what inspect reads."""
    model = tmp_path / "model"
    model.mkdir()
    (model / "model.safetensors").write_bytes(os.urandom(4_000))
    (model / "config.json").write_text('{"layers": 2}')
    (model / "modelpack.yaml").write_text(METADATA)
    ref = registry.repo() + ":1.1.0"
    mp.push(model, ref, options=PLAIN)
    return ref, mp.inspect(ref, remote_only=True, options=PLAIN)


def test_ml_bom_validates_and_carries_weights_datasets_metrics(described: tuple[str, mp.ModelInfo],
                                                               tmp_path: Path) -> None:
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    ref, info = described
    out = tmp_path / "bom.json"
    made = modelpack("sbom", "--plain-http", ref, "-o", str(out))
    assert made.code == 0, made.err
    text = out.read_text()
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(text) is None
    bom = json.loads(text)
    assert bom["specVersion"] == "1.6"
    model = bom["metadata"]["component"]
    assert model["type"] == "machine-learning-model" and model["name"] == "iris" and model["version"] == "1.1.0"
    assert info.digest.split(":")[1] in model["purl"]
    weights = [f.digest.split(":")[1] for f in info.files if f.kind == "weight"]
    assert [h["content"] for h in model["hashes"]] == weights
    files = {c["name"]: c["hashes"][0]["content"] for c in model["components"]}
    assert files == {f.path: f.digest.split(":")[1] for f in info.files}
    assert model["licenses"] == [{"license": {"id": "Apache-2.0"}}]
    card = model["modelCard"]
    assert card["modelParameters"]["architectureFamily"] == "llama"
    assert card["modelParameters"]["modelArchitecture"] == "transformer"
    metrics = {m["type"]: m["value"] for m in card["quantitativeAnalysis"]["performanceMetrics"]}
    assert metrics == {"accuracy": "0.97", "f1": "0.95"}
    properties = {p["name"]: p["value"] for p in card["properties"]}
    assert properties["modelpack:paramSize"] == "8b" and properties["modelpack:precision"] == "float16"
    assert properties["modelpack:quantization"] == "awq"
    by_ref = {c["bom-ref"]: c for c in bom["components"]}
    datasets = [by_ref[d["ref"]] for d in card["modelParameters"]["datasets"]]
    assert {d["name"] for d in datasets} == {"iris", "https://example.com/data/extra.csv"}
    assert all(d["type"] == "data" for d in datasets)
    parent = by_ref["parent"]
    assert parent["name"] == PARENT and parent["hashes"][0]["content"] == "ab" * 32
    assert {"ref": "model", "dependsOn": ["dataset-0", "dataset-1", "parent"]} in bom["dependencies"]


def test_attached_ml_bom_verifies_as_a_cyclonedx_attestation(cosign_bin: Path, described: tuple[str, mp.ModelInfo],
                                                             tmp_path: Path) -> None:
    ref, info = described
    private, public = keypair(tmp_path, "k")
    made = modelpack("sbom", "--plain-http", ref, "--attach", "--key", str(private), "-o", "-",
                     env={"COSIGN_PASSWORD": "pw"})  # -o -: the BOM on stdout, what was attached on stderr
    assert made.code == 0, made.err
    assert "https://cyclonedx.org/bom" in made.err
    bom = json.loads(made.out)
    checked = modelpack("verify-attestation", "--plain-http", "--key", str(public), "--type", "cyclonedx", ref)
    assert checked.code == 0, checked.err
    assert json.loads(checked.out) == bom
    digest_ref = ref.rsplit(":", 1)[0] + "@" + info.digest
    judged = cosign(cosign_bin, "verify-attestation", "--key", str(public), "--type", "cyclonedx",
                    "--insecure-ignore-tlog=true", *COSIGN_FLAGS, digest_ref)
    assert judged.returncode == 0, judged.stderr
    # Not a signature.
    assert modelpack("verify", "--plain-http", "--key", str(public), ref).code == 7


def test_attach_says_in_one_line_what_it_attached_where(described: tuple[str, mp.ModelInfo], tmp_path: Path) -> None:
    ref, info = described
    private, public = keypair(tmp_path, "k")
    made = modelpack("sbom", "--plain-http", ref, "--attach", "--key", str(private), env={"COSIGN_PASSWORD": "pw"})
    assert made.code == 0, made.err
    pinned = ref.rsplit(":", 1)[0] + "@" + info.digest
    line = re.fullmatch(rf"attached the ML-BOM of {re.escape(pinned)} as attestation (sha256:[0-9a-f]{{64}}) "
                        r"\(https://cyclonedx\.org/bom\)\n", made.out)
    assert line is not None and made.err == "", (made.out, made.err)  # not the BOM: it is in the registry
    checked = modelpack("verify-attestation", "--plain-http", "--json", "--key", str(public), "--type", "cyclonedx",
                        ref)
    assert checked.code == 0, checked.err
    assert json.loads(checked.out)["attestations"][0]["statement"]["predicate"]["bomFormat"] == "CycloneDX"
    written = modelpack("sbom", "--plain-http", ref, "--attach", "--key", str(private), "-o", str(tmp_path / "b.json"),
                        env={"COSIGN_PASSWORD": "pw"})  # to a file: the file has it, stdout the one line
    assert written.code == 0, written.err
    assert json.loads((tmp_path / "b.json").read_text())["bomFormat"] == "CycloneDX"
    assert written.out.startswith(f"attached the ML-BOM of {pinned} as attestation sha256:")
    assert len(written.out.splitlines()) == 1 and "wrote the ML-BOM" in written.err


def test_sbom_flags_are_checked(described: tuple[str, mp.ModelInfo]) -> None:
    ref, _ = described
    alone = modelpack("sbom", "--plain-http", ref, "--attach")
    assert alone.code == 2 and "--key" in alone.err and len(alone.err.splitlines()) == 1
    missing = modelpack("sbom", "--plain-http", ref.rsplit(":", 1)[0] + ":nope")
    assert missing.code == 3 and len(missing.err.splitlines()) == 1


def test_a_model_without_a_parent_depends_on_its_datasets_and_stderr_stays_quiet(registry: Registry,
                                                                                 tmp_path: Path) -> None:
    model = tmp_path / "model"
    model.mkdir()
    (model / "model.safetensors").write_bytes(os.urandom(1_000))
    (model / "README.md").write_text("# tiny\n")
    ref = registry.repo() + ":1"
    mp.push(model, ref, ["datasets=iris"], options=PLAIN)
    result = modelpack("sbom", "--plain-http", ref, "-o", str(tmp_path / "bom.json"))
    assert result.code == 0, result.err
    assert "Warning" not in result.err and len(result.err.splitlines()) == 1  # the "wrote ..." line alone
    bom = json.loads((tmp_path / "bom.json").read_text())
    root = bom["metadata"]["component"]["bom-ref"]
    assert [d["dependsOn"] for d in bom["dependencies"] if d["ref"] == root] == [["dataset-0"]]


@pytest.mark.parametrize(("field", "value"), [
    ("io.modelpack.model.datasets+json", json.dumps(["http://[::1", "https://example.com/ok.csv"])),
    ("org.opencontainers.image.source", "http://[zz]/x"),
    ("io.modelpack.model.parent", "@sha256:" + "ab" * 32),
    ("io.modelpack.model.parent", "\t@sha256:" + "ab" * 32),
])
def test_a_url_or_parent_urllib_or_purl_cannot_read_stays_a_name(registry: Registry, tmp_path: Path, field: str,
                                                                  value: str) -> None:
    # The artifact wrote them: an unbalanced IPv6 bracket (urllib's ValueError) or a parent with no repository
    # name (PackageURL's) was an "internal error" (exit 70) and no BOM.
    from test_peer_metadata import push_manifest

    ref = registry.repo() + ":1"
    push_manifest(ref, {"io.modelpack.model.name": "m", field: value})
    result = modelpack("sbom", "--plain-http", ref, "-o", str(tmp_path / "bom.json"))
    assert result.code == 0, result.err
    bom = json.loads((tmp_path / "bom.json").read_text())
    components = {c["bom-ref"]: c for c in bom.get("components", [])}
    assert "externalReferences" not in bom["metadata"]["component"]
    if field.endswith("datasets+json"):
        assert components["dataset-0"]["name"] == "http://[::1" and "externalReferences" not in components["dataset-0"]
        assert components["dataset-1"]["externalReferences"][0]["url"] == "https://example.com/ok.csv"
    if field.endswith("parent"):
        assert components["parent"]["name"] == value and "purl" not in components["parent"]
        assert "hashes" not in components["parent"]


def test_the_schema_check_compares_a_model_s_files_once_each_not_pairwise(registry: Registry,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    # jsonschema's uniqueItems compared the file components pairwise: ~19,000 files (a 4 MiB manifest) took
    # about 20 minutes of CPU. Counted here as comparisons: 400 files made ~80,000 of them.
    import jsonschema._utils

    from test_image_layer_paths import push_files

    ref = registry.repo() + ":1"
    push_files(ref, [(f"f{i}.bin", str(i).encode()) for i in range(400)])
    compared = 0
    equal = jsonschema._utils.equal

    def counting(one: object, two: object) -> bool:
        nonlocal compared
        compared += 1
        return bool(equal(one, two))

    monkeypatch.setattr(jsonschema._utils, "equal", counting)
    bom = mp.sbom(ref, options=PLAIN).document
    assert len(bom["metadata"]["component"]["components"]) == 400
    assert compared < 2_000


def test_more_datasets_than_a_bom_lists_are_refused_in_one_line(registry: Registry) -> None:
    # cyclonedx-python-lib links each dataset into the graph by a scan of it: the 400,000 names a 4 MiB
    # annotation holds would take days. 1,000 (mlbom.MAX_DATASETS) take about a second.
    from test_peer_metadata import push_manifest

    ref = registry.repo() + ":1"
    names = [f"d{i}" for i in range(1_001)]
    push_manifest(ref, {"io.modelpack.model.name": "m", "io.modelpack.model.datasets+json": json.dumps(names)})
    result = modelpack("sbom", "--plain-http", ref)
    assert result.code == 6 and result.err.count("\n") == 1, result.err
    assert "records 1001 datasets, over the 1000 an ML-BOM lists" in result.err
