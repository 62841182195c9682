"""A CycloneDX 1.6 ML-BOM for a model version, built with cyclonedx-python-lib from its `ModelInfo`.

The model is the BOM's subject (`metadata.component`), a `machine-learning-model` component: identified
by a `pkg:oci` purl pinned to the manifest digest, its hashes the weight layers' digests (every layer's
when none is a weight), each file a `file` sub-component with its layer digest. Datasets are `data`
components, the parent model (when recorded) a component the model depends on. cyclonedx-python-lib
has no type for a model card, so `modelCard` is added to the serialized subject: `modelParameters`
(architecture, family, datasets by reference), `quantitativeAnalysis` (the metrics), and the parameter
size, precision and quantization as properties. The result is checked against the 1.6 JSON schema.

Imported only by `modelpack sbom`: cyclonedx-python-lib comes with the `sbom` extra.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from typing import Any

from modelpack.errors import IntegrityError, InvalidReferenceError, MissingDependencyError
from modelpack.model_info import FileInfo, ModelInfo
from modelpack.oci.jsontext import replace_surrogates
from modelpack.oci.reference import Reference
from modelpack.version import __version__

try:
    try:  # its newer home; the old one warns (DeprecationWarning) where both exist
        from cyclonedx.contrib.license.factories import LicenseFactory
    except ImportError:  # pragma: no cover - older releases
        from cyclonedx.factory.license import LicenseFactory
    from cyclonedx.model import ExternalReference, ExternalReferenceType, HashAlgorithm, HashType, Property, XsUri
    from cyclonedx.model.bom import Bom
    from cyclonedx.model.component import Component, ComponentType
    from cyclonedx.model.contact import OrganizationalContact
    from cyclonedx.output.json import JsonV1Dot6
    from packageurl import PackageURL
except ImportError:  # pragma: no cover - depends on the installation
    raise MissingDependencyError("the ML-BOM needs cyclonedx-python-lib: pip install 'modelpack[sbom]'") from None

MODEL_REF = "model"
# cyclonedx-python-lib links each top-level component into the dependency graph by a scan of the graph: its
# time grows with the square of their count (1,000 datasets: 1 s; the 400,000 names a 4 MiB annotation holds,
# days). No model is trained on more; the artifact's claim that it is, is refused.
MAX_DATASETS = 1000
NS = "modelpack:"  # property names of ours


def ml_bom(info: ModelInfo, repository: str) -> dict[str, Any]:
    """The ML-BOM of a model, validated against the CycloneDX 1.6 JSON schema.

    Args:
        info: the model (a single manifest, not an index).
        repository: where it lives (`registry/repository`, or the layout's name), for the purl.

    Returns:
        The BOM as a JSON object.

    Raises:
        UsageError: the reference names an index or a container image (a BOM describes one model).
        IntegrityError: the model records more than `MAX_DATASETS` datasets.
        ValueError: the document does not validate (a bug of ours, never of the model's).
    """
    info.one_model(info.reference, "sbom")
    model = _model_component(info, repository)
    bom = Bom()
    bom.metadata.component = model
    bom.metadata.tools.components.add(Component(type=ComponentType.APPLICATION, name="modelpack",
                                                version=__version__))
    names = _datasets(info)
    if len(names) > MAX_DATASETS:
        raise IntegrityError(f"{info.reference} records {len(names)} datasets, over the {MAX_DATASETS} an ML-BOM "
                             "lists (each a component)")
    datasets = [Component(type=ComponentType.DATA, name=name, bom_ref=f"dataset-{i}",
                          external_references=_links(name)) for i, name in enumerate(names)]
    for dataset in datasets:
        bom.components.add(dataset)
    # The model depends on the data it was trained and evaluated on, and on its parent: with datasets
    # listed but no dependency, the graph is incomplete (and the library warns so on stderr).
    depends: list[Component] = list(datasets)
    if info.parent:
        parent = _parent_component(info.parent)
        bom.components.add(parent)
        depends.append(parent)
    bom.register_dependency(model, depends)
    document: dict[str, Any] = json.loads(JsonV1Dot6(bom).output_as_string())
    document["metadata"]["component"]["modelCard"] = _model_card(info, [d.bom_ref.value or "" for d in datasets])
    document = replace_surrogates(document)  # else it could not be attached (signed) nor read strictly
    _validate(document)
    return document


def _model_component(info: ModelInfo, repository: str) -> Component:
    name = info.name or repository.rsplit("/", 1)[-1]
    files = [_file_component(f, i) for i, f in enumerate(info.files)]
    weights = [f for f in info.files if f.kind == "weight"] or list(info.files)
    factory = LicenseFactory()
    return Component(
        type=ComponentType.MACHINE_LEARNING_MODEL, name=name, version=info.version, bom_ref=MODEL_REF,
        description=info.description, purl=_purl(repository, info.digest),
        hashes=[h for h in (_hash(f.digest) for f in weights) if h is not None],
        licenses=[factory.make_from_string(text) for text in info.licenses],
        authors=[OrganizationalContact(name=author) for author in info.authors],
        components=files, external_references=_links(info.source or ""),
    )


def _file_component(file: FileInfo, index: int) -> Component:
    hashed = _hash(file.digest)
    return Component(type=ComponentType.FILE, name=file.path or file.digest, bom_ref=f"file-{index}",
                     hashes=[hashed] if hashed else [],
                     properties=[Property(name=NS + "mediaType", value=file.media_type)])


def _parent_component(parent: str) -> Component:
    """The parent model: pinned by digest (its hash and purl) when the annotation is a reference holding one.
    The registry wrote it: anything else (a malformed digest, no repository name) stays a name alone."""
    try:
        ref = Reference.parse(parent, default_tag=None)
    except InvalidReferenceError:
        ref = None
    digest = ref.digest if ref is not None and ref.digest else None
    hashed = _hash(digest) if digest else None
    purl = _purl(ref.name, digest) if ref is not None and digest else None
    return Component(type=ComponentType.MACHINE_LEARNING_MODEL, name=parent, bom_ref="parent",
                     hashes=[hashed] if hashed else [], purl=purl)


def _model_card(info: ModelInfo, dataset_refs: list[str]) -> dict[str, Any]:
    parameters: dict[str, Any] = {}
    if info.family:
        parameters["architectureFamily"] = info.family
    if info.architecture:
        parameters["modelArchitecture"] = info.architecture
    if dataset_refs:
        parameters["datasets"] = [{"ref": ref} for ref in dataset_refs]
    card: dict[str, Any] = {"bom-ref": "model-card", "modelParameters": parameters}
    if info.metrics:
        card["quantitativeAnalysis"] = {"performanceMetrics": [{"type": key, "value": _number(value)}
                                                               for key, value in sorted(info.metrics.items())]}
    properties = [{"name": NS + key, "value": str(value)} for key, value in
                  (("paramSize", info.param_size), ("precision", info.precision),
                   ("quantization", info.quantization), ("framework", info.framework)) if value]
    properties += [{"name": NS + "hyperparameter:" + str(key), "value": json.dumps(value)}
                   for key, value in sorted(info.parameters.items())]
    if properties:
        card["properties"] = properties
    return card


def _datasets(info: ModelInfo) -> list[str]:
    return list(dict.fromkeys(info.datasets))


# What RFC 3987 allows nowhere in an IRI (beside controls and bidi marks, which isprintable() refuses), and a
# `%` not followed by two hex digits. Checked here, as the validator's own IRI check is not installed: it
# pulls in a grammar compiled at import (~1 s of every `sbom`; jsonschema's format-nongpl extra).
_NOT_IN_IRIS = re.compile(r'[\s<>"{}|\\^`]|%(?![0-9A-Fa-f]{2})')


def _links(text: str) -> list[ExternalReference]:
    """A dataset named by an http(s) IRI as a reference to it; any other text stays a name alone."""
    if text.startswith(("https://", "http://")) and text.isprintable() and not _NOT_IN_IRIS.search(text) \
            and text.count("#") <= 1 and _hostname(text):
        return [ExternalReference(type=ExternalReferenceType.DISTRIBUTION, url=XsUri(text))]
    return []


def _hostname(url: str) -> str | None:
    """The URL's host; None where it names none, or an unbalanced or malformed `[...]` host (`http://[::1`,
    `http://[zz]/`), which urllib refuses with ValueError."""
    try:
        return urllib.parse.urlsplit(url).hostname
    except ValueError:
        return None


def _hash(digest: str) -> HashType | None:
    alg, _, hexd = digest.partition(":")
    algorithm = {"sha256": HashAlgorithm.SHA_256, "sha512": HashAlgorithm.SHA_512}.get(alg)
    return HashType(alg=algorithm, content=hexd) if algorithm and hexd else None


def _purl(repository: str, digest: str) -> PackageURL:
    """`pkg:oci/NAME@DIGEST?repository_url=REGISTRY/REPO` (the purl spec's OCI type)."""
    return PackageURL(type="oci", name=repository.rsplit("/", 1)[-1].lower(), version=digest,
                      qualifiers={"repository_url": repository})


def _number(value: float) -> str:
    return str(int(value)) if value.is_integer() else repr(value)


def _validate(document: dict[str, Any]) -> None:
    from modelpack.bom_schema import schema_problem

    reason = schema_problem(document)
    if reason is not None:
        raise ValueError(f"the ML-BOM does not validate against CycloneDX 1.6: {reason}")
