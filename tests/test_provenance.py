"""`pack/push --provenance`: the SLSA v1 provenance of a model packed from a git checkout, kept per digest,
signed later by `attest --provenance`, and accepted by `cosign verify-attestation --type slsaprovenance1`."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from pathlib import Path

import pytest

import modelpack as mp
from conftest import missing
from helpers import modelpack
from modelpack.store.options import ClientOptions
from registry_process import Registry
from test_signing import COSIGN_FLAGS, cosign, keypair

PLAIN = ClientOptions(plain_http=True)
pytestmark = pytest.mark.interop


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(cwd), *args], capture_output=True, text=True, check=True, timeout=60)
    return done.stdout.strip()


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A git repository with a remote whose URL holds a token, and a model folder inside it."""
    if shutil.which("git") is None:
        missing("git is not installed")
    repo = tmp_path / "repo"
    model = repo / "models" / "iris"
    model.mkdir(parents=True)
    (model / "model.safetensors").write_bytes(b"w" * 4000)
    (model / "README.md").write_text("# iris\n")
    git(repo, "init", "-q")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "--allow-empty", "-m", "0")
    git(repo, "remote", "add", "origin", "https://bot:s3cret-token@git.example.com/team/iris.git")
    return model


def test_provenance_is_recorded_signed_later_and_accepted_by_cosign(registry: Registry, cosign_bin: Path,
                                                                    checkout: Path, tmp_path: Path) -> None:
    repo = registry.repo("prov")
    base = tmp_path / "base"
    base.mkdir()
    (base / "w.bin").write_bytes(b"base")
    parent_digest = mp.push(base, repo + ":base", options=PLAIN).descriptor.digest
    (checkout / "modelpack.yaml").write_text(json.dumps({
        "name": "iris", "version": "2.0", "parent": repo + ":base", "datasets": ["https://example.com/iris.csv"],
        "hyperparameters": {"epochs": 7, "optimizer": {"lr": 0.1}}}))
    root = checkout.parents[1]
    git(root, "add", "-A")
    git(root, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", "model")
    commit = git(root, "rev-parse", "HEAD")
    out = tmp_path / "provenance.json"
    pushed = modelpack("push", "--plain-http", "--json", "--provenance-out", str(out), str(checkout), repo + ":2.0")
    assert pushed.code == 0, pushed.err
    digest = json.loads(pushed.out)["digest"]
    predicate = json.loads(out.read_text())
    assert json.loads(Path(json.loads(pushed.out)["provenance"]).read_text()) == predicate  # kept per digest
    assert "s3cret" not in out.read_text()
    definition = predicate["buildDefinition"]
    external = definition["externalParameters"]
    assert external["source"] == {"uri": "https://git.example.com/team/iris.git", "revision": commit,
                                  "path": "models/iris", "clean": True}
    assert external["hyperparameters"] == {"epochs": 7, "optimizer": {"lr": 0.1}}
    assert external["parent"] == f"{repo}:base@{parent_digest}"
    assert external["datasets"] == ["https://example.com/iris.csv"]
    dependencies = {d["name"]: d for d in definition["resolvedDependencies"]}
    assert dependencies["source"] == {"name": "source", "uri": "git+https://git.example.com/team/iris.git",
                                      "digest": {"gitCommit": commit}}
    assert dependencies["parent"]["digest"] == {"sha256": parent_digest.split(":")[1]}
    assert dependencies["dataset"]["uri"] == "https://example.com/iris.csv"
    assert predicate["runDetails"]["builder"]["version"]["modelpack"] == mp.__version__

    private, public = keypair(tmp_path, "k")
    signed = modelpack("attest", "--plain-http", "--key", str(private), "--provenance", repo + ":2.0",
                       env={"COSIGN_PASSWORD": "pw"})
    assert signed.code == 0, signed.err
    assert "https://slsa.dev/provenance/v1" in signed.out
    checked = cosign(cosign_bin, "verify-attestation", "--key", str(public), "--type", "slsaprovenance1",
                     "--insecure-ignore-tlog=true", *COSIGN_FLAGS, f"{repo}@{digest}")
    assert checked.returncode == 0, checked.stderr
    statement = json.loads(base64.b64decode(json.loads(checked.stdout.splitlines()[0])["payload"]))
    assert statement["predicate"] == predicate
    assert statement["subject"][0]["digest"] == {"sha256": digest.split(":")[1]}
    # The report lists it, verified with the key.
    facts = mp.build_report(repo + ":2.0", [public], options=PLAIN)
    assert [(r.kind, r.predicate_type, bool(r.verified_by)) for r in facts.referrers] == \
        [("attestation", "https://slsa.dev/provenance/v1", True)]
    assert [(p["source"], p["revision"], p["clean"]) for p in facts.provenance] == \
        [("https://git.example.com/team/iris.git", commit, "True")]
    page = mp.render_report(facts, "html")
    assert "Verified provenance (SLSA v1)" in page and commit in page and parent_digest.split(":")[1] in page


def test_a_dirty_tree_is_said_and_misuse_is_refused(registry: Registry, checkout: Path, tmp_path: Path) -> None:
    root = checkout.parents[1]
    git(root, "add", "-A")
    git(root, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", "model")
    (checkout / "README.md").write_text("# iris, edited after the commit\n")
    ref = registry.repo("prov") + ":1"
    packed = mp.pack(checkout, ref, provenance=True)
    assert packed.provenance is not None
    assert json.loads(packed.provenance.read_text())["buildDefinition"]["externalParameters"]["source"]["clean"] \
        is False
    private, _ = keypair(tmp_path, "k")
    env = {"COSIGN_PASSWORD": "pw"}
    # A model packed without --provenance has none to sign: exit 3, one line.
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "w.bin").write_bytes(b"x")
    other = registry.repo("prov") + ":plain"
    mp.push(plain, other, options=PLAIN)
    none = modelpack("attest", "--plain-http", "--key", str(private), "--provenance", other, env=env)
    assert none.code == 3 and "no provenance recorded" in none.err and len(none.err.strip().splitlines()) == 1
    both = modelpack("attest", "--plain-http", "--key", str(private), "--provenance", "--predicate", "x.json", other,
                     env=env)
    assert both.code == 2 and "leave out --predicate" in both.err
    stored = modelpack("push", "--plain-http", "--provenance", ref)
    assert stored.code == 2 and "use it with pack, or push DIR REF" in stored.err
