"""The integrity section: the signatures and attestations attached to a model (referrers, and cosign's
legacy `.sig`/`.att` tags), and which of them verify with the keys given. Verification is the same code
as `verify` and `verify-attestation`; this module only lists and labels. At most MAX_REFERRERS are
walked, as everywhere else."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from modelpack.errors import ModelpackError, NotFoundError, TransportError, VerificationError
from modelpack.oci import mediatypes as mt
from modelpack.report.facts import KeyCheck, Referrer, Statement
from modelpack.signatures.attestations import DSSE_ENVELOPE, LEGACY_PREDICATE_ANNOTATION, verify_attestations
from modelpack.signatures.dsse import COSIGN_PREDICATE
from modelpack.signatures.lookup import fallback_tag, legacy_layers, reachable, referrers, signature_manifest
from modelpack.signatures.notary import NOTARY_KIND, NOTARY_NOTE, NOTARY_SIGNATURE, is_notary
from modelpack.signatures.predicates import CYCLONEDX, SLSA_1, SPDX
from modelpack.signatures.referrers import PREDICATE_ANNOTATION, SIMPLE_SIGNING, verify_signatures
from modelpack.store.target import Storage

MAX_TEXT = 500  # characters of one provenance field shown
MAX_CLAIMED = 20  # verified signatures whose signed annotations are shown, per key
MAX_CLAIMS = 20  # annotations shown per signature
MAX_DEPENDENCIES = 50
MAX_STATEMENTS = 20  # verified attestations whose predicate is shown, in all
MAX_STATEMENT = 8192  # characters of one predicate shown (as indented JSON)
_NOT_SHOWN = (SLSA_1, CYCLONEDX, SPDX)  # provenance is summarised; an SBOM is a document of its own


def attached(repo: Storage, digest: str, problems: list[str]) -> list[Referrer]:
    """What is attached to `digest`, labelled; what could not be read goes to `problems`.

    Args:
        repo: where the model lives.
        digest: its manifest digest.
        problems: collects why something was left out.

    Returns:
        One Referrer per signature manifest, attestation, or legacy layer.
    """
    found: list[Referrer] = []
    unreachable: list[TransportError] = []  # an origin down behind a mirror holding some of them: said, and on
    try:
        listed = reachable(lambda: referrers(repo, digest), unreachable)
    except (VerificationError, NotFoundError) as exc:
        problems.append(str(exc))
        listed = []
    for ref in listed:
        try:
            manifest = signature_manifest(repo, ref.digest)
        except ModelpackError as exc:
            problems.append(str(exc))
            continue
        kind = manifest.artifact_type or ref.artifact_type or manifest.config.media_type
        created = _text((manifest.annotations or {}).get(mt.A_CREATED))
        if kind == mt.SIGSTORE_BUNDLE:
            labelled = (manifest.annotations or {}).get(PREDICATE_ANNOTATION, COSIGN_PREDICATE)
            if labelled == COSIGN_PREDICATE:
                found.append(Referrer("signature", ref.digest, COSIGN_PREDICATE, attached=created))
            else:
                found.append(Referrer("attestation", ref.digest, labelled, attached=created))
        elif kind == mt.MODEL_SIGNING_ARTIFACT:
            found.append(Referrer("model-signing", ref.digest, kind, attached=created))
        elif is_notary(ref, manifest):  # its envelope is notation's to check: named, never read here
            found.append(Referrer(NOTARY_KIND, ref.digest, NOTARY_SIGNATURE, attached=created, note=NOTARY_NOTE))
        else:
            found.append(Referrer("other", ref.digest, kind, attached=created))
    tag = fallback_tag(digest)
    for layer in reachable(lambda: legacy_layers(repo, tag + ".sig", SIMPLE_SIGNING, problems), unreachable):
        found.append(Referrer("signature", f"{tag}.sig ({layer.digest})", COSIGN_PREDICATE))
    for layer in reachable(lambda: legacy_layers(repo, tag + ".att", DSSE_ENVELOPE, problems), unreachable):
        found.append(Referrer("attestation", f"{tag}.att ({layer.digest})",
                              layer.annotation(LEGACY_PREDICATE_ANNOTATION)))
    problems.extend(dict.fromkeys(str(exc) for exc in unreachable))
    return found


def check_keys(repo: Storage, digest: str, keys: list[Path], found: list[Referrer],
               provenance: list[dict[str, Any]] | None = None,
               statements: list[Statement] | None = None) -> list[KeyCheck]:
    """Verify the model's signatures, and its attestations of every predicate type found, with each key;
    each Referrer that verifies is marked with the key's name.

    Args:
        repo: where the model lives.
        digest: its manifest digest.
        keys: public keys (cosign.pub).
        found: what `attached` listed (marked in place).
        provenance: collects a summary of each SLSA v1 provenance that verified (`provenance_summary`).
        statements: collects the predicate of every other attestation that verified (an evaluation's results:
            Annex IV 2(g) asks for signed test reports), SBOMs but for, at most MAX_STATEMENTS.

    Returns:
        One KeyCheck per key.
    """
    from modelpack.signatures.keys import key_label, load_public_key

    types = sorted({r.predicate_type for r in found if r.kind == "attestation" and r.predicate_type})
    model, model_sigs = _model_signing_bundles(repo, digest, found)  # read once, checked with each key
    checks = []
    for path in keys:
        try:
            public = load_public_key(path)
        except ModelpackError as exc:
            checks.append(KeyCheck(path.name, problems=[str(exc)]))
            continue
        # Named by file and fingerprint (sigstore's key hint): a document outlives the path on one machine.
        check = KeyCheck(key_label(path, public))
        checks.append(check)
        try:
            signatures = verify_signatures(repo, digest, public)
            check.signatures = len(signatures)
            check.claims = [_claims(s.annotations) for s in signatures[:MAX_CLAIMED]]
            _mark(found, [_where(s.location, s.layer) for s in signatures], check.key)
        except ModelpackError as exc:
            check.problems.append(str(exc))
        for predicate_type in types:
            try:
                attestations = verify_attestations(repo, digest, public, predicate_type)
            except ModelpackError:
                continue  # most keys sign some types only: the count of 0 says it
            check.attestations[predicate_type] = len(attestations)
            _mark(found, [_where(a.location, a.layer) for a in attestations], check.key)
            if predicate_type == SLSA_1 and provenance is not None:
                provenance.extend(provenance_summary(a.predicate, check.key) for a in attestations)
            if predicate_type not in _NOT_SHOWN and statements is not None:
                room = max(0, MAX_STATEMENTS - len(statements))
                statements.extend(statement(a.predicate, predicate_type, check.key) for a in attestations[:room])
        _mark(found, [location for location, bundle in model_sigs.items()
                      if _model_signing_verifies(bundle, public, model)], check.key)
    return checks


def _model_signing_bundles(repo: Storage, digest: str, found: list[Referrer]) -> tuple[Any, dict[str, bytes]]:
    """The model's manifest and each readable OpenSSF model-signing referrer's one bundle, by location
    (none read when no such referrer is attached, or the model is no single manifest)."""
    from modelpack.oci.descriptor import Manifest, parse_manifest
    from modelpack.signatures.lookup import signature_blob

    bundles: dict[str, bytes] = {}
    locations = [r.location for r in found if r.kind == "model-signing"]
    if not locations:
        return None, bundles
    try:
        model = parse_manifest(repo.fetch_manifest(digest)[1])
    except (ModelpackError, ValueError):
        return None, bundles
    if not isinstance(model, Manifest):
        return None, bundles
    for location in locations:
        try:
            layers = [layer for layer in signature_manifest(repo, location).layers
                      if layer.media_type == mt.SIGSTORE_BUNDLE]
            if len(layers) == 1:
                bundles[location] = signature_blob(repo, layers[0])
        except (ModelpackError, ValueError):
            continue
    return model, bundles


def _model_signing_verifies(bundle: bytes, public: Any, model: Any) -> bool:
    """Whether a model-signing bundle verifies with `public` and covers exactly the files of `model` (what
    `model_signing verify` would say of the directory `pull -o` writes)."""
    from modelpack.signatures.model_signing import verify_model_sig

    try:
        verify_model_sig(bundle, public, model)
    except (ModelpackError, ValueError):
        return False
    return True


def provenance_summary(predicate: Any, key: str) -> dict[str, Any]:
    """What a verified SLSA v1 provenance says of how the model was made, read defensively (signed by a
    trusted key, but its shape is still the signer's): builder, build type, source, when, dependencies.

    Args:
        predicate: the statement's predicate.
        key: the key it verified with.

    Returns:
        Text fields only (absent ones left out), and `dependencies` as name, URI and digest triples.
    """
    def text(value: Any) -> str | None:
        return str(value)[:MAX_TEXT] if isinstance(value, str | int | float | bool) else None

    body = predicate if isinstance(predicate, dict) else {}
    definition = _dict(body.get("buildDefinition"))
    external = _dict(definition.get("externalParameters"))
    source = _dict(external.get("source"))
    run = _dict(body.get("runDetails"))
    summary = {"key": key, "builder": text(_dict(run.get("builder")).get("id")),
               "buildType": text(definition.get("buildType")), "source": text(source.get("uri")),
               "revision": text(source.get("revision")), "clean": text(source.get("clean")),
               "finishedOn": text(_dict(run.get("metadata")).get("finishedOn"))}
    dependencies = definition.get("resolvedDependencies")
    summary_deps = []
    for item in dependencies[:MAX_DEPENDENCIES] if isinstance(dependencies, list) else []:
        item = _dict(item)
        digests = _dict(item.get("digest"))
        summary_deps.append({"name": text(item.get("name")), "uri": text(item.get("uri")),
                             "digest": ", ".join(f"{text(k)}:{text(v)}" for k, v in list(digests.items())[:4])})
    out: dict[str, Any] = {k: v for k, v in summary.items() if v is not None}
    out["dependencies"] = summary_deps
    return out


def statement(predicate: Any, predicate_type: str, key: str) -> Statement:
    """A verified attestation's predicate as a report shows it: indented JSON, cut at MAX_STATEMENT characters.

    Args:
        predicate: the statement's predicate (any JSON value; signed, but its size is the signer's).
        predicate_type: the statement's predicate type.
        key: the key it verified with.

    Returns:
        The Statement (its text still to be escaped by the renderer).
    """
    text = json.dumps(predicate, indent=2, ensure_ascii=False, sort_keys=True)
    return Statement(key, predicate_type, text[:MAX_STATEMENT], len(text) > MAX_STATEMENT)


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str | None:
    return str(value)[:MAX_TEXT] if isinstance(value, str) else None


def _claims(annotations: dict[str, str]) -> dict[str, str]:
    """A verified signature's signed annotations, as many and as long as a report shows."""
    return {str(k)[:MAX_TEXT]: str(v)[:MAX_TEXT] for k, v in list(annotations.items())[:MAX_CLAIMS]}


def _where(location: str, layer: str | None) -> str:
    """How `attached` names what verified: a legacy tag holds several layers, each listed on its own."""
    return f"{location} ({layer})" if layer else location


def _mark(found: list[Referrer], locations: list[str], key: str) -> None:
    # By the exact entry: one layer of a legacy tag that verifies says nothing of the others beside it.
    for referrer in found:
        if referrer.location in locations and key not in referrer.verified_by:
            referrer.verified_by.append(key)
