"""`build-image --docker`: the same image built by a Docker engine (for teams that want `docker build`
semantics), through the `docker` Python package. Fails with one clear line when no engine answers."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from modelpack.errors import ModelpackError, TransportError, UsageError
from modelpack.image.serving import SERVE_COMMAND, SERVE_PORT
from modelpack.oci.descriptor import Descriptor

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

    Raises:
        UsageError: no docker package, or no --base for a serving image.
        TransportError: no engine answers.
        UntrustedContentError: a serving image would load an unverified pickle.
        ModelpackError: the engine's build or push failed.
    """
    try:
        import docker
    except ImportError:
        raise UsageError("--docker needs the docker package: pip install 'modelpack[docker]'") from None
    try:
        client = docker.from_env()
        client.ping()
    except Exception as exc:
        raise TransportError(f"no Docker engine reachable ({type(exc).__name__}); "
                             "build without --docker, which needs no engine") from None
    if base is None and not modelcar:
        raise UsageError("--docker builds on a base that already has modelpack[serve]: build one with "
                         "`docker build -t BASE -f serve/Dockerfile .` and pass --base BASE (or drop --docker: "
                         "without it the serving layer is installed on any Python base)")
    from modelpack import api

    pulled = api.pull(model_ref, options=options, verify_key=verify_key,  # exactly the verified digest
                      signature_policy=signature_policy)
    digest = pulled.descriptor.digest
    base = base or api.DEFAULT_MODELCAR_BASE
    with tempfile.TemporaryDirectory() as context:
        models = Path(context) / "models"
        api.unpack(api.parse_reference(model_ref).with_digest(digest), models)
        if verify_key is None and not pulled.policy_verified and not modelcar and not trust_unverified_pickle:
            from modelpack.image.served_file import refuse_unverified_pickle

            refuse_unverified_pickle({str(p.relative_to(models)): p for p in models.rglob("*") if p.is_file()},
                                     f"build a serving image of {model_ref}")
        labels = {"io.modelpack.model.digest": digest, "org.opencontainers.image.base.name": base}
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
