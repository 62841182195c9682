"""A signed in-toto statement's shape is its signer's: a `subject` whose `digest` is no object is a
signature that does not name the model (exit 7, one line), never a crash that also hides the valid
signatures beside it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import modelpack as mp
from helpers import modelpack
from modelpack.oci import mediatypes as mt
from modelpack.signatures import dsse, keys
from modelpack.signatures.referrers import PREDICATE_ANNOTATION, attach_bundle
from registry_process import Registry
from test_signature_kinds import PLAIN, _push
from test_signing import assert_refused, keypair

pytestmark = pytest.mark.interop


@pytest.mark.parametrize("subject", [[{"digest": "sha256:0"}], [{"digest": ["sha256", "0"]}], [{"digest": 7}]])
def test_a_subject_digest_of_another_shape_is_no_signature(registry: Registry, tmp_path: Path,
                                                           subject: list[Any]) -> None:
    ref, digest = _push(registry.repo(), tmp_path)
    private, public = keypair(tmp_path, "k")
    statement = json.dumps({"_type": dsse.STATEMENT_TYPE, "subject": subject,
                            "predicateType": dsse.COSIGN_PREDICATE, "predicate": {}}).encode()
    repo = mp.remote(mp.Reference.parse(ref), PLAIN)
    attach_bundle(repo, repo.resolve("v1"), mt.SIGSTORE_BUNDLE,
                  dsse.statement_bundle(keys.load_private_key(private, b"pw"), statement),
                  {PREDICATE_ANNOTATION: dsse.COSIGN_PREDICATE})
    assert_refused(modelpack("verify", "--plain-http", "--key", str(public), ref), "signs another digest")
    # A valid signature beside it still verifies.
    assert modelpack("sign", "--plain-http", "--key", str(private), ref, env={"COSIGN_PASSWORD": "pw"}).code == 0
    verified = modelpack("verify", "--plain-http", "--json", "--key", str(public), ref)
    assert verified.code == 0, verified.err
    assert json.loads(verified.out)["digest"] == digest and len(json.loads(verified.out)["signatures"]) == 1
