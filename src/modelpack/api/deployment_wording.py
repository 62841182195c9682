"""What `k8s` says to each audience (`kind='kserve'` in Python, `--kind kserve` on the command line), and
the refusals of an InferenceService whose KServe runtime would not load the modelcar's model: its runtime
reads no such file, or not where the modelcar put it."""

from __future__ import annotations

from modelpack.advice import Wording, compose, setting
from modelpack.errors import UsageError
from modelpack.first_few import first_few
from modelpack.image.kinds import A_MODEL_REFERENCE
from modelpack.oci.descriptor import Index, Manifest
from modelpack.oci.reference import Reference


def given(param: str, value: object, *, quoted: bool = False) -> Wording:
    """A parameter with a value, as each audience writes it: `kind='kserve'`, `--kind kserve` (`quoted`:
    a value the user gave, quoted on the command line too).

    Args:
        param: the Python parameter's name (`serving_image`).
        value: its value.
        quoted: quote the value on the command line too.

    Returns:
        Both wordings.
    """
    return setting(f"{param}={value!r}", f"--{param.replace('_', '-')} {repr(value) if quoted else value}")


def named(param: str, value: str = "") -> Wording:
    """A parameter by name (with a placeholder or a value): `serving_image=IMAGE`, `--serving-image IMAGE`.

    Args:
        param: the Python parameter's name.
        value: a placeholder or value to show after it, or none.

    Returns:
        Both wordings.
    """
    return setting(f"{param}={value}" if value else param, f"--{param.replace('_', '-')}{' ' if value else ''}{value}")


KSERVE_IMAGE = setting("kubernetes(IMAGE, 'kserve')", "`k8s --kind kserve IMAGE`")


def build_image_wording(model: str | Reference, *, modelcar: bool = False) -> Wording:
    """Building an image from `model`, as each audience does it.

    Args:
        model: the model's reference (or a placeholder).
        modelcar: a modelcar, not a serving image.

    Returns:
        Both wordings.
    """
    return setting(f"modelpack.build_image({str(model)!r}, IMAGE{', modelcar=True' if modelcar else ''})",
                   f"`modelpack build-image {model} -t IMAGE{' --modelcar' if modelcar else ''}`")


def check_runtime_loads(reference: str, model_format: str, paths: list[str]) -> None:
    """Refuse an InferenceService whose runtime would fail to load the model: KServe picks it by
    `modelFormat`, and its sklearn runtimes read pickles only (the quick start's model is a `.skops` file).

    Args:
        reference: the modelcar, as the user wrote it.
        model_format: KServe's modelFormat.
        paths: the model's file paths.

    Raises:
        UsageError: the modelcar's model has no file that runtime loads (exit 2).
    """
    from modelpack.image import k8s

    loads = k8s.runtime_cannot_load(model_format, paths)
    if loads is None:
        return
    raise UsageError(f"KServe's {model_format} runtimes load only {'/'.join(loads)} files and {reference} holds "
                     f"{first_few(paths, 3)}", advice=compose(
                         "deploy a serving image instead ({}, then {}), or pass {} for a ServingRuntime that loads it",
                         build_image_wording("MODEL"), KSERVE_IMAGE, named("model_format", "NAME")))


def check_runtime_layout(reference: str, model_format: str, node: Manifest | Index, paths: list[str]) -> None:
    """Refuse an InferenceService of a modelcar of ours laid out where the runtime KServe picks for
    `model_format` does not look (`runtime_layouts.layout_problem`: Triton for onnx, TF Serving for
    tensorflow, TorchServe for pytorch). Anyone else's modelcar (no `io.modelpack.model.reference`) is taken
    as it is.

    Args:
        reference: the modelcar, as the user wrote it.
        model_format: KServe's modelFormat.
        node: the modelcar's manifest.
        paths: the model's file paths.

    Raises:
        UsageError: the modelcar is ours and not in its runtime's layout (exit 2).
    """
    from modelpack.image.modelcar import LAYOUT_ANNOTATION
    from modelpack.image.runtime_layouts import layout_problem

    annotations = node.annotations or {}
    if not annotations.get(A_MODEL_REFERENCE):
        return
    problem = layout_problem(model_format, annotations.get(LAYOUT_ANNOTATION), paths, reference)
    if problem is None:
        return
    if model_format == "pytorch":  # TorchServe's layout is the model author's to write
        advice = compose("put {} and {} in the model folder, push it and rebuild the modelcar, or pass {} for a "
                         "ServingRuntime of yours", "model-store/NAME.mar", "config/config.properties",
                         named("model_format", "NAME"))
    elif model_format == "tensorflow":  # modelpack serve loads no SavedModel: no serving image to offer
        advice = compose("rebuild it with {} from a model holding saved_model.pb",
                         build_image_wording("MODEL", modelcar=True))
    else:
        advice = compose("rebuild it with {}, or deploy a serving image ({} of {})",
                         build_image_wording("MODEL", modelcar=True), KSERVE_IMAGE, build_image_wording("MODEL"))
    raise UsageError(problem, advice=advice)
