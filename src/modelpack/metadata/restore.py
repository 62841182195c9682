"""A pulled model's `modelpack.yaml`, rebuilt from its config blob and manifest annotations.

`pack` turns modelpack.yaml into the config blob (what model-spec defines) and annotations (everything),
and decides each layer's kind and packing from the file rules. Here the same facts go back into a
modelpack.yaml, so that packing the restored directory, unchanged, gives the same manifest digest:
`created` is written out (it would otherwise come from the files' times), `sourceURL` and `revision`
are written even when empty (a directory inside a git checkout would otherwise take the checkout's), and
`files` says the kinds, archives and compression the layers had where the defaults would differ.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import Any

from modelpack.file_attributes import file_metadata
from modelpack.files import atomic_write, new_file_mode
from modelpack.metadata.filename import MAX_METADATA_BYTES, METADATA_FILE
from modelpack.metadata.mapping import SCALAR_FIELDS, STRUCTURED_FIELDS
from modelpack.oci import mediatypes as mt
from modelpack.oci.descriptor import Descriptor, Manifest
from modelpack.oci.jsontext import parse_or_none
from modelpack.packing.classify import default_kind
from modelpack.signatures.lookup import MODEL_SIG_FILE
from modelpack.unpacking import layer_path

log = logging.getLogger("modelpack")

DIGEST_LINE = "# modelpack-digest: "
_DIGEST = re.compile(r"^# modelpack-digest: (sha256:[0-9a-f]{64})$", re.MULTILINE)
_DESCRIPTOR_FIELDS = ("name", "version", "title", "description", "authors", "licenses", "family", "vendor",
                      "docURL", "sourceURL", "revision")
_SIGNATURE_FILE = "model.sig"  # written beside pulled files (see signatures.lookup); not a layer
_TYPEFLAG_DIR = ord("5")  # a folder, as pack annotates an archive layer (tar's typeflag)


def packed_metadata(manifest: Manifest, config: dict[str, Any]) -> dict[str, Any]:
    """The modelpack.yaml fields that pack turned into `config` and the manifest's annotations.

    Args:
        manifest: a ModelPack manifest.
        config: its config blob, parsed.

    Returns:
        The fields, in modelpack.yaml's names (empty ones left out, but for sourceURL and revision).
    """
    descriptor = _mapping(config.get("descriptor"))
    model = _mapping(config.get("config"))
    annotations = manifest.annotations or {}
    raw: dict[str, Any] = {key: descriptor[key] for key in _DESCRIPTOR_FIELDS if descriptor.get(key) not in (None, "")}
    if descriptor.get("createdAt"):
        raw["created"] = descriptor["createdAt"]
    if descriptor.get("datasetsURL"):
        raw["datasets"] = descriptor["datasetsURL"]
    raw.update({k: v for k, v in model.items() if v not in (None, "")})
    for alias in SCALAR_FIELDS:  # framework and parent live only here
        if mt.NS + alias in annotations and alias not in raw:
            raw[alias] = annotations[mt.NS + alias]
    for alias in STRUCTURED_FIELDS:  # metrics, hyperparameters, labels live only here
        value = parse_or_none(annotations.get(mt.NS + alias + "+json", ""))
        if value not in (None, {}, []) and alias not in raw:
            raw[alias] = value
    for empty in ("sourceURL", "revision"):
        raw.setdefault(empty, None)  # not the git facts of wherever the files land
    files = file_rules(manifest.layers)
    if files:
        raw["files"] = files
    return raw


def file_rules(layers: list[Descriptor]) -> dict[str, Any]:
    """The `files` section that makes pack choose these layers' kinds and packing again."""
    kinds: dict[str, str] = {}
    archives: list[str] = []
    compress: str | None = None
    paths = set()
    for layer in layers:
        parsed = mt.parse_layer_media_type(layer.media_type)
        path = layer_path(layer)
        if parsed is None or path is None:
            continue
        paths.add(path)
        kind, packing = parsed
        if packing in ("tar+gzip", "tar+zstd"):
            compress = "gzip" if packing == "tar+gzip" else "zstd"
        certain = layer.annotation(mt.A_MEDIATYPE_UNTESTED) != "true"
        if packing != "raw" and file_metadata(layer).get("typeflag") == _TYPEFLAG_DIR:
            archives.append(path)
            if certain:  # (an uncertain folder kind is what its files imply: pack finds it again)
                kinds[_exact(path)] = kind
            continue
        if certain and default_kind(path) != (kind, True):
            kinds[_exact(path)] = kind
    rules: dict[str, Any] = {}
    if _SIGNATURE_FILE not in paths:
        rules["exclude"] = ["/" + _SIGNATURE_FILE]  # the signature pull writes beside the files
    if kinds:
        rules["kinds"] = kinds
    if archives:
        rules["archives"] = sorted(archives)
    if compress:
        rules["compress"] = compress
    return rules


def metadata_yaml(manifest: Manifest, config: dict[str, Any], origin: str, digest: str) -> bytes:
    """modelpack.yaml for the model `origin` whose manifest digest is `digest`."""
    import yaml

    header = (f"# The metadata of {origin} as it was packed, restored by modelpack.\n"
              "# `modelpack pack` of this directory, unchanged, gives the same digest again;\n"
              "# change `version` (and drop `created`) when packing a new version from it.\n"
              f"{DIGEST_LINE}{digest}\n")
    body = yaml.safe_dump(packed_metadata(manifest, config), sort_keys=False, allow_unicode=True, width=1000)
    return (header + body).encode()


def restore_metadata_file(output: Path, manifest: Manifest, config_bytes: bytes | None, origin: str,
                          digest: str, restored: list[str]) -> bool:
    """Write `output`/modelpack.yaml for a ModelPack model, unless one of its layers is a file of that
    name (`manifest` is the whole model's) or a restored file already has it, or the model's OpenSSF
    signature (model.sig) is beside its files: `model_signing verify` refuses a directory holding a file
    the signature does not cover, and a verifiable directory matters more than a restored name.

    Args:
        output: the directory the model's files were restored into.
        manifest: the model's manifest (all layers, whatever was selected).
        config_bytes: its config blob; None or not JSON: nothing is written.
        origin: the reference it was pulled as.
        digest: its manifest digest (recorded for `serve`).
        restored: the paths restored into `output`.

    Returns:
        Whether the file was written.
    """
    if not mt.is_model_config(manifest.config.media_type) or config_bytes is None:
        return False
    config = parse_or_none(config_bytes)
    if not isinstance(config, dict):
        return False
    if METADATA_FILE in restored or any(layer_path(layer) == METADATA_FILE for layer in manifest.layers):
        return False
    if (output / MODEL_SIG_FILE).exists():
        log.info("%s not written: %s covers exactly the model's files (`modelpack inspect` shows its metadata)",
                 METADATA_FILE, MODEL_SIG_FILE)
        return False
    target = output / METADATA_FILE
    if target.is_dir() and not target.is_symlink():
        return False
    atomic_write(target, metadata_yaml(manifest, config, origin.replace("\n", " "), digest), mode=new_file_mode())
    return True


def recorded_digest(model_dir: Path) -> str | None:
    """The manifest digest a pulled directory's modelpack.yaml records (None if it records none)."""
    path = model_dir / METADATA_FILE
    try:
        if not path.is_file() or os.path.getsize(path) > MAX_METADATA_BYTES:
            return None
        found = _DIGEST.search(path.read_text("utf-8", errors="replace"))
    except OSError:
        return None
    return found.group(1) if found else None


def _exact(path: str) -> str:
    """A files.kinds glob matching exactly `path` (anchored; glob characters taken literally)."""
    return "/" + re.sub(r"([*?\[])", r"[\1]", path)


def _mapping(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
