"""Referrers typed as Notary Project signatures are anyone's to attach: an envelope of 6 MiB (past every cap on
what modelpack reads of a signature), one that is not JSON, one nested 100,000 arrays deep (a recursive parser's
end), and an index typed as one (a graph, not a signature manifest). modelpack reads no envelope: `verify`
refuses in one line naming them, `report` and `ui` list them, `copy` carries them digest-checked, and nothing
prints a traceback. Attached with oras (a real client writing the fallback index) to the real registry."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

import modelpack as mp
from helpers import modelpack
from modelpack.oci import digest as digests
from modelpack.oci import mediatypes as mt
from modelpack.oci.descriptor import Descriptor, Index, parse_manifest
from modelpack.signatures.lookup import fallback_tag
from modelpack.signatures.notary import NOTARY_SIGNATURE
from modelpack.store.options import ClientOptions
from registry_process import Registry
from test_signing import assert_refused, keypair
from ui_support import Pages

PLAIN = ClientOptions(plain_http=True)
pytestmark = pytest.mark.interop


def _attach(oras: Path, reference: str, envelope: Path) -> None:
    done = subprocess.run([str(oras), "attach", "--plain-http", "--disable-path-validation", "--artifact-type",
                           NOTARY_SIGNATURE, reference, f"{envelope}:application/jose+json"],
                          capture_output=True, text=True, timeout=120, cwd=envelope.parent)
    assert done.returncode == 0, done.stderr


def _attach_index(reference: str, digest: str) -> str:
    """An index typed as a Notary Project signature, its subject the model, listing the model itself, written into
    the fallback index as a hostile registry's user could."""
    repo = mp.remote(mp.Reference.parse(reference), PLAIN)
    model = repo.resolve(digest)
    data = Index(manifests=[model], artifactType=NOTARY_SIGNATURE, subject=model).canonical_bytes()
    nested = Descriptor(mediaType=mt.OCI_INDEX, digest=digests.of_bytes(data), size=len(data),
                        artifactType=NOTARY_SIGNATURE)
    repo.push_manifest(nested, data)
    listing = parse_manifest(repo.fetch_manifest(fallback_tag(digest))[1])
    assert isinstance(listing, Index)
    listed = Index(manifests=[*listing.manifests, nested]).canonical_bytes()
    repo.push_manifest(Descriptor(mediaType=mt.OCI_INDEX, digest=digests.of_bytes(listed), size=len(listed)), listed,
                       fallback_tag(digest))
    return nested.digest


def test_hostile_notation_typed_referrers_are_listed_carried_and_never_read(
        registry: Registry, pushed: tuple[str, str], oras_bin: Path, ui: Callable[..., str], tmp_path: Path) -> None:
    tag_ref, digest_ref = pushed
    digest = digest_ref.split("@")[1]
    envelopes = {"huge.jws": b'{"payload": "' + b"A" * (6 * 1024 * 1024) + b'"}', "malformed.jws": b"\xff{{ not json",
                 "nested.jws": b"[" * 100_000 + b"]" * 100_000}
    for name, body in envelopes.items():
        (tmp_path / name).write_bytes(body)
        _attach(oras_bin, digest_ref, tmp_path / name)
    index = _attach_index(tag_ref, digest)
    _, public = keypair(tmp_path, "k")
    refused = modelpack("verify", "--plain-http", "--key", str(public), tag_ref)
    assert_refused(refused, "3 Notary Project signatures are attached", "check it with notation verify",
                   f"{index} is not a signature manifest")
    report = modelpack("report", "--plain-http", "--json", "--key", str(public), tag_ref)
    assert report.code == 0, report.err
    facts = json.loads(report.out)
    assert [r["kind"] for r in facts["referrers"]] == ["notary-signature"] * 3
    assert any(index in note for note in facts["notes"]["integrity"]), facts["notes"]
    for fmt in ("md", "html"):
        shown = modelpack("report", "--plain-http", "--format", fmt, tag_ref)
        assert shown.code == 0 and "Traceback" not in shown.err, shown.err
    assert "check it with notation verify" in Pages(ui([registry.host])).get(f"/v/{digest_ref}")
    target = registry.repo("notation-hostile")
    copied = modelpack("copy", "--plain-http", tag_ref, f"{target}:v1")
    assert copied.code == 0, copied.err
    assert "carried 4 referrers" in copied.err and "Traceback" not in copied.err
    moved = mp.remote(mp.Reference.parse(f"{target}:v1"), PLAIN)
    listing = parse_manifest(moved.fetch_manifest(fallback_tag(digest))[1])
    assert isinstance(listing, Index) and {m.artifact_type for m in listing.manifests} == {NOTARY_SIGNATURE}
    assert len(listing.manifests) == 4
