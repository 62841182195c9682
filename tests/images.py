"""A tiny container image pushed to a registry, with any config: a base image for build-image tests, or
a hostile registry's malformed one."""

from __future__ import annotations

import io
import json
from typing import Any

import modelpack as mp
from modelpack.oci import digest as digests
from modelpack.oci.descriptor import Descriptor, Manifest
from modelpack.store.options import ClientOptions

PLAIN = ClientOptions(plain_http=True)
LAYER = b"\0" * 1024
GOOD_CONFIG: dict[str, Any] = {"architecture": "amd64", "os": "linux", "config": {"Cmd": ["/bin/sh"]},
                               "rootfs": {"type": "layers", "diff_ids": [digests.of_bytes(LAYER)]},
                               "history": [{"created_by": "test"}]}


def push_image(ref: str, config: dict[str, Any] | bytes = GOOD_CONFIG, tag: bool = True,
               layer: bytes = LAYER) -> Descriptor:
    """A one-layer image; `config` (and `layer`, a tar) may be anything, to play a hostile registry's base."""
    target = mp.remote(mp.Reference.parse(ref), PLAIN)
    data = config if isinstance(config, bytes) else json.dumps(config).encode()
    layer_desc = Descriptor(mediaType="application/vnd.oci.image.layer.v1.tar", digest=digests.of_bytes(layer),
                            size=len(layer))
    config_desc = Descriptor(mediaType="application/vnd.oci.image.config.v1+json", digest=digests.of_bytes(data),
                             size=len(data))
    for desc, blob in ((layer_desc, layer), (config_desc, data)):
        target.push_blob(desc, lambda blob=blob: io.BytesIO(blob))
    manifest = Manifest(config=config_desc, layers=[layer_desc]).canonical_bytes()
    desc = Descriptor(mediaType="application/vnd.oci.image.manifest.v1+json", digest=digests.of_bytes(manifest),
                      size=len(manifest))
    target.put_manifest(desc, manifest, mp.Reference.parse(ref).tag if tag else None)
    return desc
