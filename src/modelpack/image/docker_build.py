"""`build-image --docker`: the same image built by a Docker engine (for teams that want `docker build`
semantics), through the `docker` Python package. Fails with one clear line when no engine answers."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from modelpack.errors import ModelpackError, TransportError, UsageError
from modelpack.image.modelcar import LAYOUT_ANNOTATION, Layout
from modelpack.image.serving import SERVE_COMMAND, SERVE_PORT
from modelpack.oci.descriptor import Descriptor
from modelpack.oci.reference import Reference
from modelpack.places import is_layout
from modelpack.signatures.policy import NO_IMAGE, PolicyVerdict, policy_verdict

SERVE_ENTRYPOINT = json.dumps(SERVE_COMMAND)  # the exec form


def dockerfile(base: str, modelcar: bool, labels: dict[str, str]) -> str:
    lines = [f"FROM {base}", "COPY models /models", "ENV MODEL_DIR=/models"]
    lines += [f'LABEL "{k}"="{v}"' for k, v in sorted(labels.items())]
    if not modelcar:
        lines += [f"EXPOSE {SERVE_PORT}", f"ENTRYPOINT {SERVE_ENTRYPOINT}"]
    return "\n".join(lines) + "\n"


def build_with_docker(model_ref: str, image: str, *, base: str | None, modelcar: bool, options: Any,
                      verify_key: str | None = None, trust_unverified_pickle: bool = False,
                      signature_policy: str | None = None) -> Descriptor:
    """Build and push the image with a Docker engine (see `api.build_image` for what it holds and refuses).

    What is refused is decided before an engine is asked: the model's signature verified (`verify_key`), or
    its manifest read for pickles; the model is then pulled by exactly that digest, and its unpacked files
    (an archive layer's too) are checked again before the build.

    Raises:
        UsageError: no docker package, no --base for a serving image, or `image` is an OCI layout.
        TransportError: no engine answers.
        UntrustedContentError: a serving image would load, or a modelcar would hold, an unverified pickle.
        VerificationError: `verify_key` given and no signature verifies.
        ModelpackError: the engine's build or push failed.
    """
    if is_layout(image):
        raise UsageError(f"--docker builds with an engine that pushes to a registry, not to {image}: drop --docker "
                         "to write an OCI layout directory")
    try:
        import docker
    except ImportError:
        raise UsageError("--docker needs the docker package: pip install 'modelpack[docker]'") from None
    if base is None and not modelcar:
        raise UsageError("--docker builds on a base that already has modelpack[serve]: build one with "
                         "`docker build -t BASE -f serve/Dockerfile .` and pass --base BASE (or drop --docker: "
                         "without it the serving layer is installed on any Python base)")
    from modelpack import api

    ref = api.parse_reference(model_ref)
    digest, annotations, verdict = checked_digest(ref, modelcar, options, verify_key, trust_unverified_pickle,
                                                  signature_policy)
    try:
        client = docker.from_env()
        client.ping()
    except Exception as exc:
        raise TransportError(f"no Docker engine reachable ({type(exc).__name__}); "
                             "build without --docker, which needs no engine") from None
    pinned = ref.with_digest(digest)
    api.pull(pinned, options=options, signature_policy=verdict)  # exactly the digest checked (and verified)
    base = base or api.DEFAULT_MODELCAR_BASE
    with tempfile.TemporaryDirectory() as context:
        models = Path(context) / "models"
        api.unpack(pinned, models)
        if verify_key is None and not verdict.signed and not trust_unverified_pickle:
            # Again on the files themselves: an archive layer's were not seen in the manifest.
            _refuse_pickles({str(p.relative_to(models)): p for p in models.rglob("*") if p.is_file()}, model_ref,
                            modelcar)
        labels = {"io.modelpack.model.digest": digest, "org.opencontainers.image.base.name": base}
        if modelcar:
            labels[LAYOUT_ANNOTATION] = arrange_modelcar(Path(context), annotations, ref.repository).name
        (Path(context) / "Dockerfile").write_text(dockerfile(base, modelcar, labels))
        try:
            client.images.build(path=context, tag=image, rm=True)
            for line in client.images.push(image, stream=True, decode=True):
                if isinstance(line, dict) and line.get("error"):
                    raise ModelpackError(f"docker push failed: {line['error']}")
        except ModelpackError:
            raise
        except Exception as exc:
            raise ModelpackError(f"docker build failed: {exc}") from None
    return api.resolve(image, options=options)


def checked_digest(ref: Reference, modelcar: bool, options: Any, verify_key: str | None,
                   trust_unverified_pickle: bool,
                   signature_policy: str | None = None) -> tuple[str, dict[str, str], PolicyVerdict]:
    """The model's digest, once what `build-image` refuses was asked of its manifest: the signature policy's
    verdict, its signature verified with `verify_key`, or else (unless `trust_unverified_pickle`, or a
    signature the policy verified) no pickle the image would load.

    Args:
        ref: the model.
        modelcar: a modelcar (any file KServe's runtimes unpickle) rather than a serving image (the file
            its `serve /models` chooses).
        options: registry client options.
        verify_key: a public key the model's signature must verify with.
        trust_unverified_pickle: build with an unverified pickle.
        signature_policy: a containers-policy.json file (default: the one in effect, see `pull`).

    Returns:
        The digest read (and verified), the one to pull; the manifest's annotations; the policy's verdict.

    Raises:
        UntrustedContentError: an unverified pickle the image would load or hold.
        VerificationError: no signature verifies with `verify_key`, or the signature policy refuses the model.
        PolicyError: the policy file cannot be read or parsed.
    """
    from modelpack.api.core import remote
    from modelpack.image.mlserver_settings import MAX_SETTINGS
    from modelpack.image.modelcar import SNIFF_BYTES, SNIFFED_SUFFIXES
    from modelpack.image.served_file import JSON_HEAD, declared_sizes, remote_heads
    from modelpack.oci.descriptor import parse_manifest

    repo = remote(ref, options, mirrors=True)
    verdict = policy_verdict(ref, repo, signature_policy, NO_IMAGE)
    desc, data = repo.fetch_manifest(verdict.digest or ref.version)  # exactly what the policy verified
    node = parse_manifest(data)
    if verify_key is not None:
        from modelpack.signatures import keys, referrers

        referrers.verify_signatures(repo, desc.digest, keys.load_public_key(Path(verify_key)))
    elif not trust_unverified_pickle and not verdict.signed:
        # (a modelcar's .json files: MLServer's model-settings.json, read whole up to its limit)
        heads = {**dict.fromkeys(SNIFFED_SUFFIXES, SNIFF_BYTES), ".json": MAX_SETTINGS + 1} if modelcar \
            else {".json": JSON_HEAD}
        with tempfile.TemporaryDirectory(prefix="modelpack-docker-") as folder:
            _refuse_pickles(remote_heads(repo, node, Path(folder), heads), str(ref), modelcar, declared_sizes(node))
    return desc.digest, dict(node.annotations or {}), verdict


def _refuse_pickles(files: dict[str, Path], model_ref: str, modelcar: bool,
                    sizes: dict[str, int] | None = None) -> None:
    """A modelcar holding a file KServe's runtimes unpickle, or a serving image whose `serve /models`
    loads a pickle, is refused (`files` holds heads of files of these `sizes`, when given)."""
    from modelpack.image.modelcar import refuse_unverified_pickles
    from modelpack.image.served_file import refuse_unverified_pickle

    if modelcar:
        refuse_unverified_pickles(files, model_ref, sizes)
    else:
        refuse_unverified_pickle(files, f"build a serving image of {model_ref}")


def arrange_modelcar(context: Path, annotations: dict[str, str], repository: str) -> Layout:
    """Move the model unpacked in `context/models` into its modelcar layout (`modelcar.model_layout`):
    for an ONNX model, `models/NAME/1/`, and Triton's config.pbtxt beside it when one is needed; for a
    TensorFlow SavedModel, `models/1/`.

    Args:
        context: the build context, holding `models/`.
        annotations: the model manifest's annotations (its framework and name).
        repository: the model's repository.

    Returns:
        The layout the files are now in.
    """
    from modelpack.image.modelcar import model_layout

    models = context / "models"
    layout = model_layout({str(p.relative_to(models)): p for p in models.rglob("*") if p.is_file()}, annotations,
                          repository)
    if layout.root == "models":
        return layout
    staging = context / "modelcar"
    (staging / layout.root).parent.mkdir(parents=True)
    models.rename(staging / layout.root)
    (staging / "models").rename(models)
    staging.rmdir()
    if layout.config is not None:
        (context / layout.model_folder / "config.pbtxt").write_text(layout.config)
    return layout
