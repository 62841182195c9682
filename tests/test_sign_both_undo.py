"""`sign --signature-format both` undoing the bundle when the `.sig` write fails, on the registries the
project's other undo test does not cover: one with the OCI 1.1 referrers API (FaultProxy answering it in
front of a real Distribution, as no registry binary here has it), and one refusing every DELETE
(Distribution with `storage.delete.enabled: false`). Afterwards the registry holds what it held before,
or the one error line names exactly what could not be undone."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from fault_proxy import Fault, FaultProxy
from helpers import Run, modelpack
from modelpack.oci.descriptor import parse_manifest
from modelpack.signatures.lookup import fallback_tag
from registry_process import Registry
from test_copy_signatures import PW, remote, sign, tags
from test_signature_policy import push_model
from test_signing import keypair

pytestmark = pytest.mark.interop

SIG_WRITE = r"PUT .*/manifests/sha256-[0-9a-f]{64}\.sig$"


def model_to_sign(proxy: FaultProxy, name: str, tmp_path: Path, before: str) -> tuple[str, str, Path, Path]:
    """(repository, digest, key A, its public half): a model behind `proxy`, signed beforehand by key B's
    bundle when `before` says "other-bundle"."""
    repo = f"{proxy.host}/t/{name}"
    digest = push_model(repo + ":v1", tmp_path, "m")
    key_a, pub_a = keypair(tmp_path, "a")
    if before == "other-bundle":
        sign(keypair(tmp_path, "b")[0], repo + ":v1", "bundle")
    return repo, digest, key_a, pub_a


def sign_both_failing_the_sig(proxy: FaultProxy, key: Path, ref: str) -> Run:
    """`sign --signature-format both` with every `.sig` write answered 500; the proxy's log holds its
    requests alone. It fails in one line, with the exit code of the failed write (1)."""
    proxy.clear()
    proxy.faults.append(Fault(SIG_WRITE, times=1000, status=500))
    failed = modelpack("sign", "--plain-http", "--key", str(key), "--signature-format", "both", ref, env=PW)
    proxy.faults.clear()
    assert failed.code == 1 and failed.err.startswith("error: ") and len(failed.err.splitlines()) == 1, failed.err
    return failed


def pushed_by_digest(proxy: FaultProxy) -> list[str]:
    """The manifests PUT by digest since the proxy's log was cleared (the signing's referrers)."""
    return [line.split("/manifests/")[1] for line in proxy.requests("PUT", "/manifests/sha256:")]


def fallback_listing(repo: str, digest: str) -> list[str] | None:
    """The digests the `sha256-<hex>` fallback index lists; None when there is no such tag."""
    found = remote(repo).find(fallback_tag(digest))
    if found is None:
        return None
    return [m.digest for m in parse_manifest(remote(repo).fetch_manifest(found.digest)[1]).manifests]


def verifies(public: Path, ref: str) -> list[str]:
    """The kinds of signature by `public` that verify at `ref` (none: exit 7)."""
    done = modelpack("verify", "--plain-http", "--json", "--key", str(public), ref)
    assert done.code in (0, 7), done.err
    return sorted(s["kind"] for s in json.loads(done.out)["signatures"]) if done.code == 0 else []


@pytest.mark.parametrize("before", ["unsigned", "other-bundle"])
def test_undo_on_a_registry_with_the_referrers_api(fresh_registry: Callable[..., Registry], tmp_path: Path,
                                                   before: str) -> None:
    with FaultProxy(fresh_registry().host, referrers_api=True) as proxy:
        repo, digest, key_a, pub_a = model_to_sign(proxy, "api", tmp_path, before)
        listed = remote(repo).list_referrers(digest)
        assert listed is not None  # the API answers: no fallback index is needed or written
        tags_before = tags(repo)
        sign_both_failing_the_sig(proxy, key_a, repo + ":v1")
        ours = pushed_by_digest(proxy)
        assert ours and proxy.requests("PUT", ".sig")  # the bundle went first, the .sig write was tried
        assert sorted(proxy.requests("DELETE")) == sorted(f"DELETE /v2/t/api/manifests/{d}" for d in ours)
        after = remote(repo).list_referrers(digest)
        assert after is not None and [d.digest for d in after] == [d.digest for d in listed]
        assert all(remote(repo).find(d) is None for d in ours)  # gone from the registry itself
        assert tags(repo) == tags_before
        assert verifies(pub_a, repo + ":v1") == []
        sign(key_a, repo + ":v1")  # once the registry takes writes, both formats are written
        assert verifies(pub_a, repo + ":v1") == ["bundle", "legacy"]


@pytest.mark.parametrize(("before", "api"), [("unsigned", False), ("other-bundle", False), ("unsigned", True)])
def test_undo_on_a_registry_refusing_deletes(fresh_registry: Callable[..., Registry], tmp_path: Path,
                                            before: str, api: bool) -> None:
    with FaultProxy(fresh_registry(delete=False).host, referrers_api=api) as proxy:
        repo, digest, key_a, pub_a = model_to_sign(proxy, "nodelete", tmp_path, before)
        listing_before = fallback_listing(repo, digest)
        # One line: the write that failed (its exit code), then what stays and why.
        line = sign_both_failing_the_sig(proxy, key_a, repo + ":v1").err.strip()
        assert "answered HTTP 500" in line and "the registry refuses deletes" in line, line
        assert "rm --remote" not in line  # it could not delete them either
        ours = pushed_by_digest(proxy)
        assert ours and all(d in line for d in ours)  # each manifest that stays, named
        assert remote(repo).find(fallback_tag(digest) + ".sig") is None
        listing = fallback_listing(repo, digest)
        if api:  # listed by the referrers API, which only a delete changes: said so, and true
            assert listing is None and "listed as its referrers" in line, line
            assert verifies(pub_a, repo + ":v1") == ["bundle"]
            return
        assert "listed nowhere" in line, line
        assert verifies(pub_a, repo + ":v1") == []  # nothing of ours is listed where verifiers look
        if before == "unsigned":  # the tag was new: it cannot go, so it names an empty index, as said
            assert listing == [] and f"{fallback_tag(digest)} now names an empty index" in line, line
        else:  # the other signer's entry alone, as before
            assert listing == listing_before and "empty index" not in line, line
