#!/usr/bin/env python3
"""How close to the machine's floor each pull gets: modelpack, oras and `bare_pull.py` (the least a
Python client can do), alternating, against one Distribution registry on the same cores.

`make bench` compares modelpack with oras. This asks the question behind a ratio that will not move:
what would any Python client get here? If even the bare client (no start-up beyond Python's own, no
bookkeeping) is near oras, the rest is the machine (two cores shared with the registry, one SHA-256
stream per blob, tmpfs page allocation), not modelpack. Prints, per shape, the median wall time and
CPU of each and the per-trial ratios to oras.

    python benchmarks/floor.py [--trials 7] [--shapes 1x1024,8x128,2000x32k]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import bench_registry
from run import ROOT, Bench, make_data, measure, parse_shape

from registry_process import start_registry

BARE = Path(__file__).with_name("bare_pull.py")


def pull_command(tool: str, bench: Bench, host: str, out: Path) -> list[str]:
    if tool == "modelpack":
        return [bench.modelpack, "pull", "--plain-http", f"{host}/bench/floor:1", "-o", str(out)]
    if tool == "oras":
        return [bench.oras, "pull", "--plain-http", f"{host}/bench/floor:1"]
    return [sys.executable, str(BARE), host, "bench/floor", "1", str(out)]


def run_shape(bench: Bench, spec: str, trials: int) -> None:
    count, size, shape = parse_shape(spec)
    data = bench.work / "data"
    files = make_data(data, count, size)
    tools = ["modelpack", "oras", "bare"]
    walls: dict[str, list[float]] = {tool: [] for tool in tools}
    cpus: dict[str, list[float]] = {tool: [] for tool in tools}
    with start_registry(bench.work / "registry") as reg:
        subprocess.run([bench.oras, "push", "--plain-http", f"{reg.host}/bench/floor:1", *files], cwd=data,
                       check=True, capture_output=True)
        for trial in range(trials + 1):  # the first round warms the registry up and is not kept
            order = tools[trial % 3:] + tools[:trial % 3]
            for tool in order:
                out = bench.work / f"out-{tool}"
                shutil.rmtree(out, ignore_errors=True)
                out.mkdir()
                home = bench.work / "home"
                shutil.rmtree(home, ignore_errors=True)
                wall, cpu, _, registry_cpu = measure(pull_command(tool, bench, reg.host, out), cwd=out,
                                                     env=bench.env(home), registry=reg)
                if trial:
                    walls[tool].append(wall)
                    cpus[tool].append(cpu + registry_cpu)
                shutil.rmtree(out, ignore_errors=True)
    shutil.rmtree(data, ignore_errors=True)
    oras = walls["oras"]
    for tool in tools:
        ratios = [round(a / b, 3) for a, b in zip(walls[tool], oras, strict=True)]
        print(f"| pull | {shape} | {tool} | {statistics.median(walls[tool]):.2f} s | "
              f"{statistics.median(cpus[tool]):.2f} s | **{statistics.median(ratios):.2f}** | "
              f"{', '.join(map(str, ratios))} |", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=7)
    parser.add_argument("--shapes", default="1x1024,8x128,2000x32k")
    args = parser.parse_args()
    bench_registry.choose(None, Path(os.environ.get("MODELPACK_TOOLS_DIR") or ROOT / ".tools"))
    tmpfs = Path("/dev/shm") if Path("/dev/shm").is_dir() else Path(tempfile.gettempdir())
    work = Path(tempfile.mkdtemp(prefix="modelpack-floor-", dir=tmpfs))
    bench = Bench(work, args.trials, {"pull"})
    print("| operation | shape | client | wall (median) | CPU client + registry | client / oras | per trial |")
    print("|---|---|---|---|---|---|---|")
    try:
        for spec in filter(None, args.shapes.split(",")):
            run_shape(bench, spec, args.trials)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
