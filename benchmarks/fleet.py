#!/usr/bin/env python3
"""How many times the origin sends a model when a fleet pulls it through a pull-through cache.

An origin Distribution registry, a recording proxy in front of it (tests/fault_proxy.py), and a second
Distribution registry configured as a pull-through cache of that proxy (`proxy: remoteurl:`). Every
"machine" is a `modelpack pull -o` with its own MODELPACK_HOME and a registries.conf naming the cache as
the origin's mirror. Reported: the blob bytes the origin sent (in model sizes) and wall times for
(1) one cold pull, (2) N-1 pulls at once after it, (3) N cold pulls at once of another model. (Pulls with
the origin down are tests/test_mirrors.py's: the recording proxy would change what the cache does then.)

    python benchmarks/fleet.py [--machines 4] [--mib 64]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from fault_proxy import FaultProxy  # noqa: E402
from registry_process import start_registry  # noqa: E402


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "modelpack", *args], env=env, capture_output=True, text=True,
                          check=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--machines", type=int, default=4)
    parser.add_argument("--mib", type=int, default=64)
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="modelpack-fleet-") as tmp_name:
        tmp = Path(tmp_name)
        origin = start_registry(tmp / "origin")
        with FaultProxy(origin.host) as recorder:
            cache = start_registry(tmp / "cache", proxy=f"http://{recorder.host}")
            conf = tmp / "registries.conf"
            conf.write_text(f'[[registry]]\nlocation = "{origin.host}"\n[[registry.mirror]]\n'
                            f'location = "{cache.host}"\n')
            env = {**os.environ, "CONTAINERS_REGISTRIES_CONF": str(conf), "MODELPACK_PLAIN_HTTP": "1"}
            sizes: dict[str, int] = {}

            def push(name: str) -> tuple[str, int]:
                model = tmp / name
                model.mkdir()
                (model / "weights.bin").write_bytes(os.urandom(opts.mib << 20))
                (model / "config.json").write_text('{"layers": 2}\n')
                pushed = run(["push", str(model), f"{origin.host}/fleet/{name}:1"],
                             {**env, "MODELPACK_HOME": str(tmp / "pusher")})
                assert pushed.returncode == 0, pushed.stderr
                info = json.loads(run(["inspect", "--remote", "--json", pushed.stdout.strip()], env).stdout)
                for layer in info["layers"]:
                    sizes[layer["digest"]] = layer["size"]
                return pushed.stdout.strip(), sum(layer["size"] for layer in info["layers"])

            def origin_bytes() -> int:
                sent = 0
                for line, status in list(recorder.log):
                    if line.startswith("GET ") and "/blobs/sha256:" in line and status == 200:
                        sent += sizes.get(line.rsplit("/", 1)[1].split()[0], 0)
                return sent

            def pulls(ref: str, machines: list[str]) -> float:
                start = time.monotonic()
                with ThreadPoolExecutor(len(machines)) as pool:
                    results = list(pool.map(lambda m: run(["pull", ref, "-o", str(tmp / m / "out")],
                                                          {**env, "MODELPACK_HOME": str(tmp / m / "home")}), machines))
                assert all(r.returncode == 0 for r in results), [r.stderr for r in results]
                return time.monotonic() - start

            def phase(label: str, ref: str, machines: list[str], model_bytes: int) -> None:
                recorder.clear()
                wall = pulls(ref, machines)
                time.sleep(3)  # the cache stores what it served in the background (a second upstream fetch)
                print(f"{label}: {len(machines)} pull(s) in {wall:.2f} s; origin sent "
                      f"{origin_bytes() / model_bytes:.2f} × the model")

            first, first_bytes = push("a")
            phase("1 cold pull (by tag)", first.split("@")[0] + ":1", ["m0"], first_bytes)
            phase(f"{opts.machines - 1} pulls at once, warm cache", first,
                  [f"m{i}" for i in range(1, opts.machines)], first_bytes)
            second, second_bytes = push("b")
            phase(f"{opts.machines} cold pulls at once", second, [f"n{i}" for i in range(opts.machines)],
                  second_bytes)
            cache.stop()
        origin.stop()


if __name__ == "__main__":
    main()
