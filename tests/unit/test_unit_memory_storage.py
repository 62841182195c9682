"""copy(), signing and referrer walks against the in-memory storage: no disk, no registry, milliseconds."""

from __future__ import annotations

import io
from collections.abc import Sequence

import pytest

from modelpack.errors import IntegrityError, VerificationError
from modelpack.oci import digest as digests
from modelpack.oci import mediatypes as mt
from modelpack.oci.descriptor import Descriptor, Index, Manifest
from modelpack.signatures import keys
from modelpack.signatures.lookup import fallback_tag, referrers
from modelpack.signatures.referrers import attach_signature, copy_referrers, verify_signatures
from modelpack.store.copy import CopyOptions, copy
from modelpack.store.memory import MemoryStore
from modelpack.store.target import Opener, Progress, ReferrerLister
from modelpack.streams import ByteStream

RAW = "application/vnd.cncf.model.weight.v1.raw"


def _blob(store: MemoryStore, data: bytes, media_type: str = RAW, path: str | None = None) -> Descriptor:
    desc = Descriptor(mediaType=media_type, digest=digests.of_bytes(data), size=len(data),
                      annotations={mt.A_FILEPATH: path} if path else None)
    store.push_blob(desc, lambda: io.BytesIO(data))
    return desc


def _model(store: MemoryStore, tag: str, weights: bytes = b"weights") -> Descriptor:
    config = _blob(store, b'{"descriptor":{"name":"m"}}', "application/vnd.cncf.model.config.v1+json")
    layers = [_blob(store, weights, path="w.bin"), _blob(store, b"{}", path="config.json")]
    data = Manifest(artifactType="application/vnd.cncf.model.manifest.v1+json", config=config,
                    layers=layers).canonical_bytes()
    desc = Descriptor(mediaType=mt.OCI_MANIFEST, digest=digests.of_bytes(data), size=len(data))
    store.push_manifest(desc, data, tag)
    return desc


class TagsOnly:
    """A storage without a referrer index (a registry without the referrers API, the local store)."""

    def __init__(self, inner: MemoryStore) -> None:
        self.inner = inner

    def open_blob(self, desc: Descriptor) -> ByteStream:
        return self.inner.open_blob(desc)

    def has_blob(self, desc: Descriptor) -> bool:
        return self.inner.has_blob(desc)

    def push_blob(self, desc: Descriptor, opener: Opener, progress: Progress | None = None,
                  mount_from: Sequence[str] = ()) -> None:
        self.inner.push_blob(desc, opener, progress)

    def has_manifest(self, desc: Descriptor) -> bool:
        return self.inner.has_manifest(desc)

    def fetch_manifest(self, version: str) -> tuple[Descriptor, bytes]:
        return self.inner.fetch_manifest(version)

    def push_manifest(self, desc: Descriptor, data: bytes, tag: str | None = None) -> None:
        self.inner.push_manifest(desc, data, tag)

    def resolve(self, version: str) -> Descriptor:
        return self.inner.resolve(version)

    def find(self, version: str) -> Descriptor | None:
        return self.inner.find(version)


def test_copy_moves_a_model_once_and_then_costs_nothing() -> None:
    src, dst = MemoryStore("src"), MemoryStore("dst")
    root = _model(src, "1")
    first = copy(src, dst, "1", "1")
    assert len(first.copied) == 3 and dst.resolve("1").digest == root.digest
    again = copy(src, dst, "1", "1")
    assert again.copied == [] and len(again.skipped) == 3


def test_copy_of_an_index_that_names_a_child_twice_fetches_it_once() -> None:
    src, dst = MemoryStore("src"), MemoryStore("dst")
    child = _model(src, "child")
    data = Index(manifests=[child, child]).canonical_bytes()
    index = Descriptor(mediaType=mt.OCI_INDEX, digest=digests.of_bytes(data), size=len(data))
    src.push_manifest(index, data, "all")
    fetched: list[str] = []
    original = src.fetch_manifest

    def counting(version: str) -> tuple[Descriptor, bytes]:
        fetched.append(version)
        return original(version)

    src.fetch_manifest = counting  # type: ignore[method-assign]
    copy(src, dst, "all", "all")
    assert fetched.count(child.digest) == 1 and dst.has_manifest(child)


def test_a_blob_that_does_not_match_its_digest_is_refused() -> None:
    store = MemoryStore()
    desc = Descriptor(mediaType=RAW, digest=digests.of_bytes(b"good"), size=4)
    with pytest.raises(IntegrityError):
        store.push_blob(desc, lambda: io.BytesIO(b"evil"))
    assert not store.has_blob(desc)


@pytest.mark.parametrize("indexed", [True, False], ids=["referrer-index", "fallback-tag"])
def test_sign_verify_and_copy_signatures_in_any_storage(indexed: bool) -> None:
    inner = MemoryStore("signed")
    store = inner if indexed else TagsOnly(inner)
    assert isinstance(store, ReferrerLister) == indexed
    subject = _model(inner, "1")
    signer, other = keys.generate(), keys.generate()
    attach_signature(store, subject, signer)
    assert (fallback_tag(subject.digest) in inner.tags()) != indexed
    assert len(verify_signatures(store, subject.digest, signer.public_key)) == 1
    with pytest.raises(VerificationError):
        verify_signatures(store, subject.digest, other.public_key)
    # The signatures travel with the model: to a storage that indexes referrers, and to one that does not.
    for target in (MemoryStore("indexed"), TagsOnly(MemoryStore("tags"))):
        copy(store, target, "1", "1")
        assert copy_referrers(store, target, subject.digest, CopyOptions()) == len(referrers(store, subject.digest))
        assert len(verify_signatures(target, subject.digest, signer.public_key)) == 1


def test_a_signature_of_another_model_does_not_verify_this_one() -> None:
    store = MemoryStore()
    one, two = _model(store, "1", b"one"), _model(store, "2", b"two")
    signer = keys.generate()
    attach_signature(store, one, signer)
    with pytest.raises(VerificationError):
        verify_signatures(store, two.digest, signer.public_key)
