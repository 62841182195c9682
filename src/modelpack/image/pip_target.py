"""`modelpack[serve]` for another machine: its requirements installed with pip for a base image's platform
and Python (`pip install --target DIR --platform ... --python-version ... --only-binary=:all:`), and
modelpack itself copied from its own installed files. Nothing runs the base image.
"""

from __future__ import annotations

import compileall
import importlib.metadata
import py_compile
import re
import shutil
import subprocess
import sys
from pathlib import Path

from modelpack.advice import NO_SERVING_LAYER, compose
from modelpack.errors import MissingDependencyError, ModelpackError
from modelpack.version import __version__

EXTRA = "serve"
# Wheels for glibc up to 2.28 (Debian 10 and later, every python:3.X-slim). Every tag is named: pip
# (23.x) does not take the older manylinux tags along with a newer one.
GLIBC = "2_28"
_OLDER_GLIBC = ("2_27", "2_26", "2_25", "2_24", "2_17", "2_12", "2_5")
_ARCHES = {"amd64": "x86_64", "arm64": "aarch64", "ppc64le": "ppc64le", "s390x": "s390x"}
_EXTRA_MARKER = re.compile(r"""\s*(?:\band\s+)?extra\s*==\s*["']([^"']+)["']\s*(?:\band\b)?""")
_PYTHON_MARKER = re.compile(r"""^python_version\s*(<=|>=|<|>|==|!=)\s*["'](\d+)\.(\d+)["']$""")
_PIP_TIMEOUT_S = 1800


def wheel_platform(architecture: str) -> str:
    """pip's `--platform` for an image architecture (`amd64` gives `manylinux_2_28_x86_64`).

    Args:
        architecture: the image config's `architecture`.

    Returns:
        The manylinux platform tag.

    Raises:
        ModelpackError: an architecture no manylinux wheel is made for (exit 1).
    """
    if architecture not in _ARCHES:
        raise ModelpackError(f"no manylinux wheels for architecture {architecture}", advice=compose(
            "build on an amd64 or arm64 base, or pass {} with a base that already has modelpack[serve]",
            NO_SERVING_LAYER))
    return f"manylinux_{GLIBC}_{_ARCHES[architecture]}"


def requirements(python_version: str) -> list[str]:
    """modelpack's own requirements and those of its `[serve]` extra, as recorded in its installed
    metadata, with `python_version` markers decided for the target Python (pip would decide them for the
    running one).

    Args:
        python_version: the target's `3.N`.

    Returns:
        Requirement strings for pip, sorted.
    """
    chosen = set()
    for requirement in importlib.metadata.requires("modelpack") or []:
        spec, _, marker = (part.strip() for part in requirement.partition(";"))
        extras = _EXTRA_MARKER.findall(marker)
        if extras and EXTRA not in extras:
            continue
        marker = _EXTRA_MARKER.sub(" ", marker).strip()
        if match := _PYTHON_MARKER.match(marker):
            op, major, minor = match.groups()
            target = tuple(int(p) for p in python_version.split("."))
            wanted = (int(major), int(minor))
            holds = {"<": target < wanted, "<=": target <= wanted, ">": target > wanted, ">=": target >= wanted,
                     "==": target == wanted, "!=": target != wanted}[op]
            if not holds:
                continue
            marker = ""
        chosen.add(f"{spec}; {marker}" if marker else spec)
    return sorted(chosen)


def platform_tags(platform: str) -> list[str]:
    """Every manylinux tag a base taking `platform` (`manylinux_2_28_ARCH`) runs, newest first.

    Args:
        platform: what `wheel_platform` gave.

    Returns:
        The tags, one `--platform` each.
    """
    arch = platform.removeprefix(f"manylinux_{GLIBC}_")
    return [platform, *(f"manylinux_{glibc}_{arch}" for glibc in _OLDER_GLIBC)]


def install(target: Path, python_version: str, platform: str, packages: list[str]) -> None:
    """Install wheels of `packages` (and their dependencies) into `target` for another Python and platform.

    Args:
        target: an empty directory, the future site-packages.
        python_version: `3.N`.
        platform: pip's platform tag, e.g. `manylinux_2_28_x86_64`.
        packages: requirement strings.

    Raises:
        MissingDependencyError: pip is not installed for this Python (exit 2).
        ModelpackError: pip failed (its last line of error output is kept; exit 1).
    """
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
               "--no-input", "--target", str(target), *(f"--platform={tag}" for tag in platform_tags(platform)),
               "--python-version", python_version,
               "--implementation", "cp", "--only-binary=:all:", "--no-compile", *packages]
    try:
        proc = subprocess.run(command, capture_output=True, text=True, timeout=_PIP_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        raise ModelpackError(f"pip did not install the serving packages within {_PIP_TIMEOUT_S} s; "
                             "check the package index is reachable") from None
    if proc.returncode != 0 and "No module named pip" in proc.stderr:
        raise MissingDependencyError("the serving layer is installed with pip, which this Python lacks",
                                     advice=compose("`{} -m ensurepip`, or pass {} with a base that has "
                                                    "modelpack[serve]", sys.executable, NO_SERVING_LAYER))
    if proc.returncode != 0:
        lines = [line for line in proc.stderr.splitlines() if line.strip() and "WARNING" not in line]
        raise ModelpackError(f"pip could not install the serving packages for Python {python_version} on "
                             f"{platform}: {lines[-1] if lines else 'exit ' + str(proc.returncode)}")
    shutil.rmtree(target / "bin", ignore_errors=True)  # console scripts naming this machine's interpreter


def copy_self(target: Path) -> None:
    """modelpack's package and its metadata (`modelpack-V.dist-info`) into `target`, from the files this
    process runs (an installed copy or a source checkout alike).

    Args:
        target: the future site-packages.
    """
    package = Path(__file__).resolve().parents[1]
    shutil.copytree(package, target / "modelpack", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    info = target / f"modelpack-{__version__}.dist-info"
    info.mkdir()
    distribution = importlib.metadata.distribution("modelpack")
    for name in ("METADATA", "entry_points.txt"):
        text = distribution.read_text(name)
        if text is not None:
            (info / name).write_text(text)
    (info / "INSTALLER").write_text("modelpack build-image\n")


def compile_for(target: Path, python_version: str, image_path: str) -> bool:
    """Byte-compile `target` when this process runs the target's Python version (a .pyc is version
    specific); hash-checked .pyc files need no mtime, so the layer stays reproducible.

    Args:
        target: the site-packages to compile.
        python_version: the target's `3.N`.
        image_path: where `target` is in the image (the file names tracebacks show).

    Returns:
        Whether it was compiled.
    """
    if f"{sys.version_info.major}.{sys.version_info.minor}" != python_version:
        return False
    compileall.compile_dir(str(target), quiet=1, workers=1, ddir=image_path,
                           invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
    return True
