"""The README's Quick start (then its Signing block) and its Python API blocks run as a newcomer would type
them (in an empty folder, against a real registry), and the `modelpack.yaml` it quotes is exactly what its
`modelpack init` writes."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import modelpack as mp
from modelpack.store.options import ClientOptions
from registry_process import Registry

README = Path(__file__).resolve().parents[1] / "README.md"


def _quick_start() -> tuple[str, str]:
    """The Quick start's shell commands, and the YAML it says `init` writes."""
    section = README.read_text(encoding="utf-8").split("\n## Quick start\n", 1)[1].split("\n## ", 1)[0]
    script = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    written = re.search(r"```yaml\n(.*?)```", section, re.DOTALL)
    assert script and written, "the Quick start has no sh block, or no quoted modelpack.yaml"
    return script.group(1), written.group(1)


def _sh_block(title: str) -> str:
    """The first shell block of the README section `title` (a `## ` heading)."""
    section = README.read_text(encoding="utf-8").split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert block, f"{title} has no sh block"
    return block.group(1)


def _as_written(script: str, registry: Registry, ref: str) -> str:
    script = "\n".join(line for line in script.splitlines() if not line.startswith("pip install "))
    script = script.replace("registry.example.com", registry.host)
    script = script.replace("@sha256:...", f"@$(modelpack resolve {ref})")
    return script.replace("COSIGN_PASSWORD=... ", "")


def _prelude() -> str:
    return (f'set -euo pipefail\nexport MODELPACK_PLAIN_HTTP=1 COSIGN_PASSWORD=pw\n'
            f'modelpack() {{ "{sys.executable}" -m modelpack "$@"; }}\npython() {{ "{sys.executable}" "$@"; }}\n')


def test_signing_runs_as_written_after_the_quick_start(fresh_registry: Callable[..., Registry],
                                                       tmp_path: Path) -> None:
    # The Signing block continues the Quick start: what it packs and pushes over team/iris:1.0.0 must still
    # be the iris model (its metadata, its one file), not the `./iris` a verified pull wrote with model.sig.
    registry = fresh_registry()
    ref = f"{registry.host}/team/iris:1.0.0"
    script = _as_written(_quick_start()[0] + "\n" + _sh_block("Signing"), registry, ref)
    run = subprocess.run(["bash", "-c", _prelude() + script], cwd=tmp_path, capture_output=True, text=True,
                         timeout=600)
    assert run.returncode == 0, run.stderr
    pushed = mp.inspect(ref, remote_only=True, options=ClientOptions(plain_http=True))
    assert (pushed.metadata["name"], pushed.metadata["version"]) == ("iris-classifier", "1.0.0")
    assert [f.path for f in pushed.files] == ["model.skops"]
    assert mp.inspect(f"oci:{tmp_path / 'iris-layout'}:1.0.0").metadata["name"] == "iris-classifier"


def test_quick_start_runs_as_written(fresh_registry: Callable[..., Registry], tmp_path: Path) -> None:
    registry = fresh_registry()
    script, written = _quick_start()
    ref = f"{registry.host}/team/iris:1.0.0"
    # What the test cannot run as written: the install (done), and the digest the reader copies by hand.
    script = "\n".join(line for line in script.splitlines() if not line.startswith("pip install "))
    script = script.replace("registry.example.com", registry.host)
    script = script.replace("@sha256:...", f"@$(modelpack resolve {ref})")
    prelude = (f'set -euo pipefail\nexport MODELPACK_PLAIN_HTTP=1\n'
               f'modelpack() {{ "{sys.executable}" -m modelpack "$@"; }}\npython() {{ "{sys.executable}" "$@"; }}\n')
    run = subprocess.run(["bash", "-c", prelude + script], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    packed = run.stdout.splitlines()[0]  # pack prints the digest; the one-go push makes the same one
    assert packed.startswith("sha256:") and packed == mp.resolve(ref, options=ClientOptions(plain_http=True)).digest

    model = tmp_path / "iris-classifier"
    described = (model / "modelpack.yaml").read_text(encoding="utf-8")
    assert described.startswith(written), described
    assert (tmp_path / "iris" / "model.skops").read_bytes() == (model / "model.skops").read_bytes()
    metadata = mp.inspect(ref, remote_only=True, options=ClientOptions(plain_http=True)).metadata
    assert (metadata["name"], metadata["version"]) == ("iris-classifier", "1.0.0")  # (the name later sections use)
    assert (metadata["format"], metadata["framework"]) == ("skops", "scikit-learn")
    assert metadata["metrics"] == {"accuracy": 0.9333, "f1": 0.93}
    # init's labels (the versions the file was saved with) and the Quick start's own, in one mapping
    assert metadata["labels"]["stage"] == "staging" and "scikit-learn.version" in metadata["labels"]


def test_python_api_blocks_run_as_written(fresh_registry: Callable[..., Registry], tmp_path: Path) -> None:
    # The Python API section's two blocks, pasted into one script (it once used Path without importing it).
    registry = fresh_registry()
    section = README.read_text(encoding="utf-8").split("\n## Python API\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, re.DOTALL)
    assert len(blocks) == 2, "the Python API section has not its two python blocks"
    model = tmp_path / "my-model"
    model.mkdir()
    (model / "model.safetensors").write_bytes(b"w" * 1000)
    (tmp_path / "provenance.json").write_text('{"buildDefinition": {"buildType": "x"}}')
    keys = subprocess.run([sys.executable, "-m", "modelpack", "generate-key-pair"], cwd=tmp_path,
                          env={**os.environ, "COSIGN_PASSWORD": "pw"}, capture_output=True, text=True)
    assert keys.returncode == 0, keys.stderr
    # The client's store is an example path: it goes into this test's folder, not the machine's /data.
    assert 'store="/data/modelpack"' in blocks[1], "the Client example's store moved: update this test"
    script = "\n".join(blocks).replace("localhost:5000", registry.host)
    script = script.replace('store="/data/modelpack"', f'store="{tmp_path / "client-store"}"')
    run = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "restored" / "model.safetensors").read_bytes() == b"w" * 1000
    assert (tmp_path / "iris" / "model.safetensors").exists() and (tmp_path / "iris-layout" / "index.json").exists()
    assert (tmp_path / "client-store" / "oci-layout").exists()  # the Client's store: here, not in /data
