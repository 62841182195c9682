"""What a KServe modelcar must hold and may hold.

KServe mounts a modelcar's `/models` at `/mnt/models` for the runtime it picks by `modelFormat`, and that
runtime loads what it finds there: sklearnserver and MLServer `joblib.load` a `.joblib`/`.pkl`/`.pickle`,
TorchServe a `.mar` (a zip of `torch.load`ed weights), the Hugging Face runtime `pytorch_model.bin`. Which
file is loaded is the runtime's choice, not ours, so a modelcar holding any such file is treated as one that
runs it. ONNX is served by Triton (`kserve-tritonserver`, `--model-store=/mnt/models`), which reads a model
repository: `/mnt/models/NAME/1/model.onnx`, not a flat directory; TensorFlow by TF Serving, from
`/mnt/models/1/saved_model.pb` (see `runtime_layouts`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from modelpack.advice import compose, setting
from modelpack.errors import UntrustedContentError, UsageError
from modelpack.first_few import first_few
from modelpack.image.layers import FileEntry
from modelpack.oci.descriptor import Manifest

# Files a KServe runtime unpickles: pickles and joblib files, and PyTorch's torch.save files (a pickle, or a
# zip holding one), whatever their content says (a name is all a runtime looks at). `.skops` is not one:
# no KServe runtime loads it, and skops itself refuses types it is not told to trust.
UNPICKLED_SUFFIXES = (".joblib", ".pkl", ".pickle", ".pt", ".pth", ".ckpt", ".mar")
# `.bin` is PyTorch's too (pytorch_model.bin, which the Hugging Face runtime and vLLM torch.load), but also
# raw weights (OpenVINO, fastText, numpy's tofile): it counts unless its bytes cannot run code in torch.load.
SNIFFED_SUFFIXES = (".bin",)
SNIFF_BYTES = 4096  # the most of a `.bin` file the sniff reads (a remote one: its first bytes only)
TAR_HEADER = 512
TRITON_VERSION = "1"  # the version directory Triton serves (its default policy: the highest number)
TRITON_FILE = "model.onnx"  # onnxruntime backend's default_model_filename
LAYOUT_ANNOTATION = "io.modelpack.modelcar.layout"
_TRITON_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")


def unpickled_files(files: Mapping[str, Path], sizes: Mapping[str, int] | None = None) -> list[str]:
    """The paths a KServe runtime would unpickle, sorted.

    Args:
        files: each path, and a file holding (at least the first `SNIFF_BYTES` of) its bytes; only a
            `.bin` one is read.
        sizes: each path's whole size, where `files` holds only its head (`served_file.remote_heads`):
            the manifest's, which the blob is verified against when pulled.

    Returns:
        The paths of pickles, joblib and PyTorch files, and of `.bin` files that may be one.
    """
    found = []
    for path, content in files.items():
        suffix = Path(path).suffix.lower()
        size = (sizes or {}).get(path)
        if suffix in UNPICKLED_SUFFIXES or (suffix in SNIFFED_SUFFIXES and _may_unpickle(content, size)):
            found.append(path)
    return sorted(found)


def _may_unpickle(content: Path, whole: int | None = None) -> bool:
    """Whether torch.load could run code from this file: it reads a zip (torch.save's format: data.pkl
    inside), a tar (its oldest format, pickles inside), and else a pickle stream, judged by
    `pickle_sniff.may_run_code` (raw weights whose first byte happens to be an opcode are not one). A
    file that cannot be read counts.

    A file of exactly SNIFF_BYTES may be the head `served_file.remote_heads` cut from a longer blob, so its
    size is taken as the file's only when `whole` (the file's size) is not given. Without it a length
    that runs past the head counts: 2.7 % of random float32 tensors over 4 KiB, against none with it."""
    import tarfile

    from modelpack.inspection.pickle_sniff import may_run_code

    try:
        with content.open("rb") as f:
            size = os.fstat(f.fileno()).st_size
            head = f.read(SNIFF_BYTES)
    except OSError:
        return True
    if not head:
        return False  # nothing to unpickle
    if head.startswith(b"PK\x03\x04"):  # what torch.load takes for a zip (anything else is read as below)
        return True
    if len(head) >= TAR_HEADER:
        try:
            tarfile.TarInfo.frombuf(head[:TAR_HEADER], "utf-8", "surrogateescape")  # checks the checksum
            return True
        except tarfile.HeaderError:
            pass
    if whole is not None:
        return may_run_code(head, whole)
    return may_run_code(head, None if size == SNIFF_BYTES else size)


def refuse_unverified_pickles(files: Mapping[str, Path], model: object, sizes: Mapping[str, int] | None = None,
                              *, doing: str | None = None, links: Sequence[str] = ()) -> None:
    """Refuse a modelcar holding a file a KServe runtime unpickles, or an MLServer model-settings.json that
    makes it run code (`mlserver_settings`), when no signature was verified.

    Args:
        files: the model's paths (as under /models) and their bytes (see `unpickled_files`; a
            model-settings.json's first MAX_SETTINGS + 1 bytes at least, else it counts).
        model: the model reference, for the message.
        sizes: each path's whole size when `files` holds heads (see `unpickled_files`).
        doing: what is refused (default: building a modelcar of `model`).
        links: paths of links in the modelcar, counted as such files (where they lead is not read).

    Raises:
        UntrustedContentError: one such file is there (exit 2).
    """
    from modelpack.image.mlserver_settings import settings_running_code

    found = unpickled_files(files, sizes) + settings_running_code(files, sizes) + [f"{link} (a link)" for link in links]
    if found:
        shown = first_few(found, 3)
        raise UntrustedContentError(
            f"refusing to {doing or f'build a modelcar of {model}'}: it holds {shown[:300]}, which KServe's "
            "runtimes unpickle or run (code runs when loaded), and no signature was verified", advice=compose(
                "pass {} to verify it, or {} to {} anyway", setting("verify_key=KEY", "--verify-key KEY"),
                setting("trust_unverified_pickle=True", "--trust-unverified-pickle"),
                "build it" if doing is None else "write it"))


@dataclass(frozen=True)
class Layout:
    """Where a modelcar puts the model's files.

    Attributes:
        root: the folder under which the model's paths go, e.g. `models` or `models/iris/1`.
        name: `triton` for Triton's repository layout, `tfserving` for TF Serving's version folders, `flat`
            otherwise (recorded in an annotation).
        config: a Triton `config.pbtxt` to write at `models/NAME/config.pbtxt` (None: Triton's defaults do).
    """

    root: str = "models"
    name: str = "flat"
    config: str | None = None

    @property
    def model_folder(self) -> str:
        """Triton's model folder, `models/NAME`, where config.pbtxt goes (beside the version folder)."""
        return self.root.rsplit("/", 1)[0]


def layout_for(files: Mapping[str, Path], framework: str | None, model_name: str) -> Layout:
    """The layout of a modelcar for a model: Triton's repository for an ONNX model (KServe's `onnx`
    modelFormat runs Triton), TF Serving's version folder for a TensorFlow SavedModel
    (`runtime_layouts`), else the model's files as they are under /models.

    Args:
        files: each path of the model and the file holding its bytes.
        framework: the model's recorded framework (None: none recorded).
        model_name: the model's name; Triton serves it as `/v2/models/NAME` (a name Triton cannot take,
            e.g. one with '/' or starting with '.', becomes `model`).

    Returns:
        The layout.
    """
    from modelpack.image.k8s import kserve_format
    from modelpack.image.runtime_layouts import tfserving_root
    from modelpack.serve import model_file

    if framework is not None and kserve_format(framework) == "tensorflow":
        root = tfserving_root(files)  # TF Serving's numbered version folders
        return Layout() if root is None else Layout(root=root, name="tfserving")
    if framework is not None and kserve_format(framework) != "onnx":
        return Layout()
    try:
        chosen = model_file.pick(files, framework, "the model")
    except UsageError:
        return Layout()  # nothing, or several .onnx files: recorded flat, which `k8s --kind kserve` refuses
    if not chosen.lower().endswith(".onnx"):
        return Layout()
    name = model_name if _TRITON_NAME.match(model_name) and model_name not in (".", "..") else "model"
    config = None if chosen == TRITON_FILE else (
        f'backend: "onnxruntime"\ndefault_model_filename: "{_pbtxt_string(chosen)}"\n')
    return Layout(root=f"models/{name}/{TRITON_VERSION}", name="triton", config=config)


def _pbtxt_string(text: str) -> str:
    """`text` as the inside of a protobuf text-format string."""
    return "".join(chr(b) if 0x20 <= b < 0x7F and b not in b'"\\' else f"\\{b:03o}" for b in text.encode())


def modelcar_files(model: object, manifest: Manifest, blob_path: Callable[[str], Path], repository: str,
                   scratch: Path) -> tuple[Layout, list[FileEntry]]:
    """The layout of a modelcar of `manifest`'s model, and the files written for its runtime.

    Args:
        model: the model reference, for messages.
        manifest: the model's manifest.
        blob_path: where the local store holds a blob.
        repository: the model's repository; its last part names the model when its metadata does not.
        scratch: a folder that lives as long as the build, for the written files.

    Returns:
        The layout, and the extra files (Triton's config.pbtxt when the served file is not `model.onnx`).
    """
    from modelpack.image.layers import model_files

    try:
        entries = model_files(manifest, blob_path)
    except ValueError:
        return Layout(), []  # an archive layer: build-image refuses the model itself
    layout = model_layout({e.path.split("/", 1)[1]: e.source for e in entries}, manifest.annotations, repository)
    if layout.config is None:
        return layout, []
    config = scratch / "config.pbtxt"
    config.write_text(layout.config)
    return layout, [FileEntry(f"{layout.model_folder}/config.pbtxt", config, config.stat().st_size, 0o644)]


def model_layout(files: Mapping[str, Path], annotations: Mapping[str, str] | None, repository: str) -> Layout:
    """`layout_for` a model described by its manifest's annotations (its framework and name).

    Args:
        files: each path of the model and the file holding its bytes.
        annotations: the model manifest's annotations.
        repository: the model's repository; its last part names the model when its metadata does not.

    Returns:
        The layout.

    Raises:
        UsageError: a model-settings.json MLServer cannot read (`mlserver_settings.refuse_unreadable`).
    """
    from modelpack.image.mlserver_settings import refuse_unreadable
    from modelpack.image.serving import model_identity
    from modelpack.metadata.mapping import metadata_view

    refuse_unreadable(files)  # every modelcar build passes here, a vouched-for model's too

    meta = metadata_view(dict(annotations or {}), None)
    framework = meta.get("framework") if isinstance(meta.get("framework"), str) else None
    return layout_for(files, framework, model_identity(meta).get("name") or repository.rsplit("/", 1)[-1])
