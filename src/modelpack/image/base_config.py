"""The base image's config, checked against the OCI image spec's config shape before build-image extends it.

The registry's content is not trusted to be well formed: an image built on a config whose fields have the
wrong JSON types, or whose rootfs does not list one diff_id per layer, is broken for every runtime that
pulls it. Such a base is refused, naming the field. Fields the spec does not define are kept as they are.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from modelpack.advice import ANOTHER_BASE
from modelpack.errors import IntegrityError
from modelpack.oci.jsontext import parse_or_none
from modelpack.oci.reference import Reference

Check = Callable[[Any], bool]


def _string(value: Any) -> bool:
    return isinstance(value, str)


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _string_map(value: Any) -> bool:
    return isinstance(value, dict) and all(isinstance(v, str) for v in value.values())


def _object_map(value: Any) -> bool:  # ExposedPorts, Volumes: {"8080/tcp": {}}
    return isinstance(value, dict) and all(isinstance(v, dict) for v in value.values())


def _object(value: Any) -> bool:
    return isinstance(value, dict)


def _objects(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, dict) for v in value)


def _boolean(value: Any) -> bool:
    return isinstance(value, bool)


# image-spec config.md; `None` (JSON null) is accepted for every optional field, as Docker writes it.
_TOP: dict[str, tuple[Check, str]] = {
    "created": (_string, "a string"), "author": (_string, "a string"),
    "architecture": (_string, "a string"), "os": (_string, "a string"), "variant": (_string, "a string"),
    "os.version": (_string, "a string"), "os.features": (_strings, "an array of strings"),
    "config": (_object, "an object"), "rootfs": (_object, "an object"), "history": (_objects, "an array of objects"),
}
_SETTINGS: dict[str, tuple[Check, str]] = {
    "User": (_string, "a string"), "WorkingDir": (_string, "a string"), "StopSignal": (_string, "a string"),
    "Env": (_strings, "an array of strings"), "Entrypoint": (_strings, "an array of strings"),
    "Cmd": (_strings, "an array of strings"), "ExposedPorts": (_object_map, "an object of objects"),
    "Volumes": (_object_map, "an object of objects"), "Labels": (_string_map, "an object of strings"),
    "ArgsEscaped": (_boolean, "a boolean"),
}
_HISTORY: dict[str, tuple[Check, str]] = {
    "created": (_string, "a string"), "author": (_string, "a string"), "created_by": (_string, "a string"),
    "comment": (_string, "a string"), "empty_layer": (_boolean, "a boolean"),
}
_REQUIRED = ("architecture", "os", "rootfs")


def checked_config(raw: bytes, base_ref: Reference, layer_count: int) -> dict[str, Any]:
    """The base image's config as a dict, refused where it breaks the image spec's shape.

    Args:
        raw: the config blob.
        base_ref: the base image, for the message.
        layer_count: layers in the base manifest: rootfs.diff_ids must list as many.

    Returns:
        The parsed config.

    Raises:
        IntegrityError: naming the base image and the malformed field (exit code 6, as for a malformed
            manifest).
    """
    def bad(what: str) -> IntegrityError:
        return IntegrityError(f"base image {base_ref}: its config is malformed ({what})", advice=ANOTHER_BASE)

    config = parse_or_none(raw)  # also nested 50,000 deep, NaN, 1e999: not JSON
    if config is None:
        raise bad("not JSON")
    if not isinstance(config, dict):
        raise bad("not a JSON object")
    for key in _REQUIRED:
        if config.get(key) is None:
            raise bad(f"{key} is missing")
    _check_fields(config, _TOP, "", bad)
    for key in ("architecture", "os"):  # `crane append` without a base writes "": no runtime matches it
        if config[key] == "":
            raise bad(f"{key} is empty: `crane mutate IMAGE --set-platform linux/amd64` sets the platform")
    _check_fields(config.get("config") or {}, _SETTINGS, "config.", bad)
    for i, entry in enumerate(config.get("history") or []):
        _check_fields(entry, _HISTORY, f"history[{i}].", bad)
    rootfs = config["rootfs"]
    if rootfs.get("type") != "layers":
        raise bad('rootfs.type is not "layers"')
    diff_ids = rootfs.get("diff_ids")
    if not _strings(diff_ids):
        raise bad("rootfs.diff_ids is not an array of strings")
    if len(diff_ids) != layer_count:
        raise bad(f"rootfs.diff_ids lists {len(diff_ids)} layers, the manifest {layer_count}")
    return config


def _check_fields(node: dict[str, Any], shape: dict[str, tuple[Check, str]], prefix: str,
                  bad: Callable[[str], IntegrityError]) -> None:
    for key, (check, expected) in shape.items():
        if node.get(key) is not None and not check(node[key]):
            raise bad(f"{prefix}{key} is not {expected}")
