"""What `build-image --modelcar` makes for KServe: no unverified pickle (KServe's runtime, not modelpack,
chooses what it loads), a base with the `sh` KServe runs the modelcar with, the base's entrypoint out of the
way of KServe's `args`, and an ONNX model in the repository layout of Triton (KServe's `onnx` runtime)."""

from __future__ import annotations

import io
import json
import os
import pickle
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

import modelpack as mp
from helpers import modelpack
from modelpack.image.modelcar import layout_for, unpickled_files
from registry_process import Registry
from test_image import crane, exported, push_base
from test_image_refusals import tags
from test_serve_trust import PLAIN, Hostile, assert_one_line, keypair, model_dir, sign

pytestmark = pytest.mark.interop


def _push(registry: Registry, tmp_path: Path, files: dict[str, Any], yaml_text: str = "name: car\n") -> str:
    folder = tmp_path / "model"
    folder.mkdir()
    for name, content in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(content if isinstance(content, bytes) else pickle.dumps(content))
    (folder / "modelpack.yaml").write_text(yaml_text)
    ref = registry.repo("model") + ":1"
    mp.push(folder, ref, options=PLAIN)
    return ref


def _car(registry: Registry, ref: str, *extra: str, base: str | None = None) -> tuple[Any, str]:
    if base is None:
        base = registry.repo("base") + ":1"
        push_base(base, ("amd64",))
    image = registry.repo("car") + ":1"
    return modelpack("build-image", "--plain-http", "--modelcar", ref, "-t", image, "--base", base, *extra), image


# float32 weights as numpy writes them, the first one's low byte 0x80 (PROTO); the next, 0x3c, is no opcode
RAW_0X80 = b"\x80\x3c\xa2\x3c" + np.linspace(-1, 1, 2000, dtype="<f4").tobytes()
TORCH_ZIP = b"PK\x03\x04" + b"\0" * 600  # torch.save's format: a zip holding archive/data.pkl
PROTOCOL_2 = pickle.dumps(Hostile("/nonexistent/pwned"), protocol=2)  # a pickle stream, as torch's legacy format


@pytest.mark.parametrize("name, content", [("model.joblib", None), ("pytorch_model.bin", TORCH_ZIP),
                                           ("weights.bin", PROTOCOL_2), ("model.pt", b"anything"),
                                           ("checkpoint.pth", b"x"), ("handler.mar", TORCH_ZIP)])
def test_a_modelcar_holding_what_a_runtime_unpickles_is_refused(registry: Registry, tmp_path: Path, name: str,
                                                                content: bytes | None) -> None:
    marker = tmp_path / "pwned"
    ref = _push(registry, tmp_path, {name: Hostile(marker) if content is None else content,
                                     "model.onnx": b"\x08\x07"})  # an ONNX file beside it changes nothing
    run, image = _car(registry, ref)
    assert_one_line(run.err, 2, run.code, "modelcar", name, "--verify-key", "--trust-unverified-pickle")
    assert tags(image) == [] and run.out == "" and not marker.exists()
    built, image = _car(registry, ref, "--trust-unverified-pickle")
    assert built.code == 0, built.err
    assert tags(image) == ["1"] and not marker.exists()  # built, never loaded


def test_a_signed_pickle_builds_and_another_key_is_refused(registry: Registry, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    ref = registry.repo("evil") + ":1"
    mp.push(model_dir(tmp_path, "evil", {"model.joblib": Hostile(marker)}), ref, options=PLAIN)
    private, public = keypair(tmp_path, "ours")
    _, other = keypair(tmp_path, "other")
    sign(ref, private)
    wrong, image = _car(registry, ref, "--verify-key", str(other))
    assert_one_line(wrong.err, 7, wrong.code, "no valid signature")
    assert tags(image) == []
    run, image = _car(registry, ref, "--verify-key", str(public))
    assert run.code == 0, run.err
    assert tags(image) == ["1"] and not marker.exists()


@pytest.mark.parametrize("files", [{"openvino_model.bin": b"\xff\xfe" * 400, "openvino_model.xml": b"<net/>"},
                                   {"model.skops": b"PK\x03\x04 skops"}, {"model.bin": b""},
                                   {"weights.bin": RAW_0X80}])
def test_files_no_runtime_unpickles_build_without_a_flag(registry: Registry, tmp_path: Path,
                                                         files: dict[str, bytes]) -> None:
    """Raw weights in a `.bin` (whose first byte is no pickle opcode, or is PROTO as a float's low byte
    may be: the unpickler stops a byte or two on, having run nothing), a `.skops` file, an empty file."""
    run, image = _car(registry, _push(registry, tmp_path, files))
    assert run.code == 0, run.err
    assert tags(image) == ["1"]


def test_bin_files_are_judged_by_their_first_bytes(tmp_path: Path) -> None:
    tar = io.BytesIO()
    with tarfile.open(fileobj=tar, mode="w") as archive:  # torch.load's oldest format: pickles in a tar
        archive.addfile(tarfile.TarInfo("zzz"), io.BytesIO(b""))
    cases = {"a.bin": TORCH_ZIP, "b.bin": PROTOCOL_2, "c.bin": b"cos\nsystem\n", "d.bin": tar.getvalue(),
             "e.bin": b"\xff" * 600, "f.bin": b"wwww", "g.BIN": b"(" + b"I1\n" * 3000, "h.txt": PROTOCOL_2,
             "i.bin": b"(", "j.bin": b"\x80\x02" + b"\0" * 600}
    files = {}
    for name, content in cases.items():
        files[name] = tmp_path / name
        files[name].write_bytes(content)
    files["gone.bin"] = tmp_path / "missing"  # unreadable: counted
    # g.BIN: opcodes that run nothing, past what is read while the file goes on; i.bin ends after its MARK
    # and j.bin's third byte is no opcode: the unpickler stops there, having run nothing
    assert unpickled_files(files) == ["a.bin", "b.bin", "c.bin", "d.bin", "g.BIN", "gone.bin"]


def _tar_layer(path: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o755
            tar.addfile(info, io.BytesIO(data))
    return path


def _crane_base(crane_bin: Path, ref: str, *layers: Path, base: str | None = None) -> None:
    """A base made as users make one: `crane append` of tar layers (then the platform set)."""
    for layer in layers:
        args = ["append", "-f", str(layer), "-t", ref, "--insecure"] + (["-b", base] if base else [])
        subprocess.run([str(crane_bin), *args], check=True, capture_output=True)
        base = ref
    subprocess.run([str(crane_bin), "mutate", ref, "--set-platform", "linux/amd64", "-t", ref, "--insecure"],
                   check=True, capture_output=True)


def test_a_base_without_sh_is_refused_naming_one_with_it(registry: Registry, tmp_path: Path,
                                                         crane_bin: Path) -> None:
    """KServe runs a modelcar with `args: [sh, -c, "ln -sf /proc/$$/root/models /mnt/models && sleep
    infinity"]` (and its init container with `sh -c`): on a distroless base the pod never starts."""
    ref = _push(registry, tmp_path, {"model.onnx": b"\x08\x07"})
    distroless = registry.repo("distroless") + ":1"
    _crane_base(crane_bin, distroless, _tar_layer(tmp_path / "app.tar", {"app/server": b"\x7fELF", "bin/hello": b"x"}))
    run, image = _car(registry, ref, base=distroless)
    assert_one_line(run.err, 2, run.code, f"--base {distroless} has no shell", "sleep infinity",
                    "docker.io/library/busybox:1.36")
    assert tags(image) == []
    # A shell in the first layer, deleted by a whiteout in the next, is no shell either.
    deleted = registry.repo("deleted") + ":1"
    _crane_base(crane_bin, deleted, _tar_layer(tmp_path / "sh.tar", {"usr/bin/sh": b"\x7fELF"}),
                _tar_layer(tmp_path / "wh.tar", {"usr/bin/.wh.sh": b""}))
    assert _car(registry, ref, base=deleted)[0].code == 2
    # One where PATH finds it (a merged-/usr layout lists usr/bin/sh) builds.
    shell = registry.repo("shell") + ":1"
    _crane_base(crane_bin, shell, _tar_layer(tmp_path / "ok.tar", {"./usr/bin/sh": b"\x7fELF"}))
    built, image = _car(registry, ref, base=shell)
    assert built.code == 0, built.err
    assert tags(image) == ["1"]


def test_the_base_entrypoint_moves_into_the_command(registry: Registry, tmp_path: Path, crane_bin: Path) -> None:
    """KServe gives the modelcar `args` only: Kubernetes appends those to an image's entrypoint, so an
    entrypoint of the base (`tini --`, `python`) would receive `sh -c ...` as its arguments."""
    ref = _push(registry, tmp_path, {"model.onnx": b"\x08\x07"})
    base = registry.repo("tini") + ":1"
    _crane_base(crane_bin, base, _tar_layer(tmp_path / "l.tar", {"bin/sh": b"\x7fELF", "tini": b"\x7fELF"}))
    subprocess.run([str(crane_bin), "mutate", base, "--entrypoint", "/tini,--", "--cmd", "/bin/hello", "-t", base,
                    "--insecure"], check=True, capture_output=True)
    run, image = _car(registry, ref, base=base)
    assert run.code == 0, run.err
    settings = json.loads(crane(crane_bin, "config", image))["config"]
    assert not settings.get("Entrypoint")
    assert settings["Cmd"] == ["/tini", "--", "/bin/hello"]  # `docker run` still runs what the base ran


def _onnx_isvc(registry: Registry, image: str, *extra: str) -> dict[str, Any]:
    run = modelpack("k8s", "--plain-http", "--kind", "kserve", image, *extra)
    assert run.code == 0, run.err
    return yaml.safe_load(run.out)["spec"]["predictor"]["model"]


def test_an_onnx_modelcar_is_a_triton_model_repository(registry: Registry, tmp_path: Path, crane_bin: Path) -> None:
    """KServe serves `modelFormat: onnx` (protocol v2) with kserve-tritonserver, `tritonserver
    --model-store=/mnt/models`: a repository of NAME/1/model.onnx folders, which a flat /models is not."""
    onnx = os.urandom(300)
    ref = _push(registry, tmp_path, {"model.onnx": onnx, "labels.txt": b"a\nb\n"},
                "name: linear\nversion: '2'\nframework: onnx\n")
    run, image = _car(registry, ref)
    assert run.code == 0, run.err
    files = exported(crane_bin, image)
    assert files["models/linear/1/model.onnx"][0] == onnx  # /mnt/models/linear/1/model.onnx in the pod
    assert "models/linear/1/labels.txt" in files
    assert not [f for f in files if f.startswith("models/") and not f.startswith("models/linear/1/")]
    manifest = json.loads(crane(crane_bin, "manifest", image))
    assert manifest["annotations"]["io.modelpack.modelcar.layout"] == "triton"
    model = _onnx_isvc(registry, image)
    assert model["modelFormat"]["name"] == "onnx" and model["protocolVersion"] == "v2"
    assert model["storageUri"].startswith("oci://") and "@sha256:" in model["storageUri"]


def test_an_onnx_file_of_another_name_gets_a_triton_config(registry: Registry, tmp_path: Path,
                                                           crane_bin: Path) -> None:
    """Triton's onnxruntime backend loads `model.onnx` unless config.pbtxt names another file; the file keeps
    its name and folder (its external data is found beside it)."""
    ref = _push(registry, tmp_path, {"onnx/decoder.onnx": b"\x08\x07", "onnx/decoder.onnx_data": b"w" * 10},
                "name: dec\nframework: onnx\n")
    run, image = _car(registry, ref)
    assert run.code == 0, run.err
    files = exported(crane_bin, image)
    assert {"models/dec/1/onnx/decoder.onnx", "models/dec/1/onnx/decoder.onnx_data"} <= set(files)
    assert files["models/dec/config.pbtxt"][0] == (b'backend: "onnxruntime"\n'
                                                  b'default_model_filename: "onnx/decoder.onnx"\n')


def test_an_onnx_modelcar_of_ours_held_flat_is_refused_by_k8s(registry: Registry, tmp_path: Path) -> None:
    """Two ONNX files: which one Triton should serve is not ours to guess, so the modelcar stays flat, and
    `k8s` refuses the InferenceService Triton could not load (a modelcar built before Triton's layout, too)."""
    ref = _push(registry, tmp_path, {"a.onnx": b"\x08\x07", "b.onnx": b"\x08\x07"}, "name: two\nframework: onnx\n")
    run, image = _car(registry, ref)
    assert run.code == 0, run.err
    refused = modelpack("k8s", "--plain-http", "--kind", "kserve", image)
    assert_one_line(refused.err, 2, refused.code, "Triton", "/mnt/models/NAME/1/model.onnx", "--modelcar")
    assert refused.out == ""
    # Anyone else's modelcar (no model recorded) is taken as it is: its layout is its builder's.
    other = registry.repo("other") + ":1"
    push_base(other, ("amd64",))
    assert _onnx_isvc(registry, other, "--model-format", "onnx")["modelFormat"]["name"] == "onnx"


@pytest.mark.parametrize("name, folder", [("linear", "linear"), ("../../etc", "model"), ("a/b", "model"),
                                          (".hidden", "model"), ("x" * 64, "model"), ("Iris_v2.1", "Iris_v2.1")])
def test_the_triton_folder_is_a_name_triton_takes(tmp_path: Path, name: str, folder: str) -> None:
    """The model's name is the artifact's: one that is no plain folder name never becomes a path."""
    onnx = tmp_path / "m"
    onnx.write_bytes(b"\x08")
    layout = layout_for({"model.onnx": onnx}, "onnx", name)
    assert layout.root == f"models/{folder}/1" and layout.name == "triton" and layout.config is None


def test_other_frameworks_and_pickled_models_stay_flat(tmp_path: Path) -> None:
    blob = tmp_path / "b"
    blob.write_bytes(b"\x08")
    assert layout_for({"model.onnx": blob}, "scikit-learn", "iris").root == "models"  # KServe runs sklearn
    assert layout_for({"model.joblib": blob}, None, "iris").root == "models"
    assert layout_for({"model.onnx": blob, "model.joblib": blob}, None, "iris").root == "models/iris/1"
    quoted = layout_for({'we"ird\n.onnx': blob}, "onnx", "iris").config
    assert quoted == 'backend: "onnxruntime"\ndefault_model_filename: "we\\042ird\\012.onnx"\n'
