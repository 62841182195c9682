#!/usr/bin/env python3
"""`make demo`: the main job end to end, against a real registry started for the occasion.

Packs the scikit-learn example, pushes it, inspects it by tag and by digest (remote: manifest and
config only), pulls it by digest on a "second machine" (an empty store) into a fresh directory, and checks
every byte. Then a second version derived from the first is pushed and signed, and the demo ends with the
`modelpack ui` command that browses the registry (MODELPACK_DEMO_KEEP=1, `make demo KEEP=1`, keeps the
registry running for it until Ctrl-C)."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from registry_process import start_registry  # noqa: E402  (test-support module, shared with the demo)

BIN = Path(sys.executable).parent / "modelpack"


def run(*args: str, env: dict[str, str]) -> str:
    print("$ modelpack " + " ".join(args), flush=True)
    out = subprocess.run([str(BIN), *args], env=env, check=True, capture_output=True, text=True)
    if out.stderr.strip():
        print(out.stderr.rstrip())
    print(out.stdout.rstrip())
    return out.stdout.strip()


def tree_hashes(root: Path) -> dict[str, tuple[str, int]]:
    return {
        str(p.relative_to(root)): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mode & 0o777)
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="modelpack-demo-"))
    try:
        model = work / "iris"
        print("== training the example model (scikit-learn, iris)")
        subprocess.run([sys.executable, str(ROOT / "examples/sklearn-iris/train.py"), str(model)], check=True)
        env = {**os.environ, "MODELPACK_HOME": str(work / "store-a"), "DOCKER_CONFIG": str(work / "docker")}
        with start_registry(work / "registry") as registry:
            ref = f"{registry.host}/demo/iris-classifier:1.0.0"
            print(f"== registry running at {registry.url}")
            digest = run("pack", str(model), "-t", ref, env=env)
            run("push", "--plain-http", ref, env=env)
            run("inspect", "--remote", "--plain-http", ref, env=env)
            by_digest = f"{registry.host}/demo/iris-classifier@{digest}"
            run("inspect", "--remote", "--plain-http", "--json", by_digest, env=env)
            # A second machine: empty store, pull by digest into a fresh directory.
            env_b = {**env, "MODELPACK_HOME": str(work / "store-b")}
            restored = work / "restored"
            run("pull", "--plain-http", by_digest, "-o", str(restored), env=env_b)
            # modelpack.yaml is restored too, rebuilt from the artifact's metadata (not byte for byte the
            # original): checked below by packing the restored directory again.
            expected = {k: v for k, v in tree_hashes(model).items() if k != "modelpack.yaml"}
            actual = {k: v for k, v in tree_hashes(restored).items() if k != "modelpack.yaml"}
            if expected != actual:
                print("FAILED: restored files differ from the originals", file=sys.stderr)
                for name in sorted(set(expected) | set(actual)):
                    if expected.get(name) != actual.get(name):
                        print(f"  {name}: {expected.get(name)} != {actual.get(name)}", file=sys.stderr)
                return 1
            print(f"== OK: {len(actual)} files restored byte-identical (modes included) from {by_digest}")
            again = run("pack", str(restored), "-t", f"{registry.host}/demo/iris-classifier:again", env=env_b)
            if again != digest:
                print(f"FAILED: packing the restored directory gave {again}, not {digest}", file=sys.stderr)
                return 1
            print("== OK: packing the restored directory gives the same digest: the model kept its identity")
            browse_command(registry.host, work, ref, model, env)
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


def browse_command(host: str, work: Path, ref: str, model: Path, env: dict[str, str]) -> None:
    """Push a second version (its parent: the first) and sign it, then print how to browse the registry."""
    print("== a model registry to browse: version 1.1.0 derives from 1.0.0, and is signed")
    second = f"{host}/demo/iris-classifier:1.1.0"
    run("push", "--plain-http", str(model), second, "--set", "version=1.1.0", "--set", f"parent={ref}", env=env)
    keys = {**env, "COSIGN_PASSWORD": "demo"}
    run("generate-key-pair", "-d", str(work / "keys"), env=keys)
    run("sign", "--plain-http", "--key", str(work / "keys" / "cosign.key"), second, env=keys)
    run("tag", "--remote", "--plain-http", second, "prod", env=env)
    command = f"modelpack ui --plain-http {host} --key {work / 'keys' / 'cosign.pub'}"
    if os.environ.get("MODELPACK_DEMO_KEEP"):
        print(f"== browse the demo registry (it runs until Ctrl-C):\n{command}", flush=True)
        for stop in (signal.SIGINT, signal.SIGTERM):  # either one: the registry stops and the files go
            signal.signal(stop, signal.default_int_handler)
        try:
            signal.pause()
        except KeyboardInterrupt:
            print()
        return
    print("== browse a registry in a web UI (this demo's registry stops now; `make demo KEEP=1` keeps it):")
    print(command)


if __name__ == "__main__":
    sys.exit(main())
