#!/usr/bin/env python3
"""`make bench`: modelpack against the oras Go CLI, measured in the same run on the same machine.

For each shape (one 1 GiB file; eight 128 MiB files; 2,000 files of 32 KiB) and each trial, every tool
pushes to a fresh Distribution registry (and, for the many-file shape, pushes the unchanged directory
again) and pulls the same artifact into an empty directory (and, for modelpack, an empty store); which
tool goes first alternates. Data, registry storage and outputs live in tmpfs so the
disk's write-back does not drown the clients' differences. Reported: wall time, CPU time and peak RSS
of every run, and the median of the per-trial ratios modelpack/oras (≤ 1.0 means modelpack is as fast).
The registry runs on the same cores, so the CPU it spends serving each run is measured too (from
/proc): a second table gives each tool's CPU beside the registry's and the floor (client + registry
CPU) / cores below which no run on this machine can go. The registry is Debian stable's build of
Distribution, fetched by `make bench` (`--registry-bin` for another; see bench_registry.py).
A 4 GiB run checks that peak memory does not grow with the model. A capped row pulls one 256 MiB blob
through `capping_proxy.py`, which caps each connection at ~24 MB/s (oras uses one connection, modelpack
fetches the rest in ranges over several once it sees the cap). The latency rows push and pull through
the same proxy as a delay line adding `--delay-ms` to every round trip (no cap): what a registry across a
network costs a model of many files, where round trips and concurrency set the pace, not the registry's CPU.
The TLS rows push and pull over HTTPS (a self-signed CA both tools are given with `--ca-file`): what any
registry beyond one's own machine is reached with, where each tool's TLS stack and connection reuse count.

    python benchmarks/run.py [--trials 5] [--shapes 1x1024,8x128,2000x32k] [--big-gib 4] [--capped 256]
                             [--delay-ms 10] [--latency-shapes 2000x32k,8x128] [--json out.json]
                             [--tls-shapes 2000x32k,1x1024] [--registry-bin /usr/bin/docker-registry]
    python benchmarks/run.py --capped-only          # the capped row alone
    python benchmarks/run.py --latency-only         # the latency rows alone
    python benchmarks/run.py --tls-only             # the TLS rows alone
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import bench_registry  # noqa: E402
import capping_proxy  # noqa: E402
from memory_warmup import warm_memory  # noqa: E402
from proc_cpu import process_cpu  # noqa: E402

from registry_process import Registry, self_signed_certificate, start_registry  # noqa: E402

MIB = 1024 * 1024
GNU_TIME = "/usr/bin/time"  # Debian's package `time`


@dataclass
class Sample:
    tool: str
    op: str
    shape: str
    wall: float
    cpu: float
    rss_mb: float
    registry_cpu: float = 0.0  # CPU seconds the registry spent meanwhile (it shares the machine's cores)


def find_tool(name: str) -> str:
    for base in (os.environ.get("MODELPACK_TOOLS_DIR"), str(ROOT / ".tools")):
        if base and (Path(base) / "bin" / name).exists():
            return str(Path(base) / "bin" / name)
    found = shutil.which(name)
    if not found:
        sys.exit(f"{name} not found: run `make tools`")
    return found


def measure(cmd: list[str], cwd: Path | None = None, env: dict[str, str] | None = None,
            registry: Registry | None = None) -> tuple[float, float, float, float]:
    """Wall seconds, CPU seconds (user+sys) and peak RSS in MB of one child process, and the CPU
    seconds `registry`'s process used meanwhile."""
    subprocess.run(["sync"], check=False)
    time.sleep(0.5)  # let the kernel finish freeing the previous run's tmpfs pages
    registry_pid = registry.process.pid if registry is not None and registry.process is not None else None
    registry_before = process_cpu(registry_pid) if registry_pid else 0.0
    # Peak RSS through GNU time: a child's own ru_maxrss starts at this process's peak (exec records the
    # hiwater of the memory it replaces), which would show this script's size for a small tool like oras.
    with tempfile.NamedTemporaryFile("r") as rss_file:
        start = time.perf_counter()
        proc = subprocess.Popen([GNU_TIME, "-f", "%M", "-o", rss_file.name, *cmd], cwd=cwd, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        _, status, usage = os.wait4(proc.pid, 0)  # its CPU includes the command's (time waited for it)
        wall = time.perf_counter() - start
        registry_cpu = process_cpu(registry_pid) - registry_before if registry_pid else 0.0
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            err = proc.stderr.read().decode() if proc.stderr else ""
            raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}): {err.strip()}")
        rss_kib = int(rss_file.read().split()[-1])
    return wall, usage.ru_utime + usage.ru_stime, rss_kib / 1024, registry_cpu


def make_data(root: Path, count: int, size: int) -> list[str]:
    """`count` files of `size` bytes, no two alike."""
    root.mkdir(parents=True, exist_ok=True)
    names = []
    block = os.urandom(MIB)
    for i in range(count):
        name = f"model-{i + 1:05d}-of-{count:05d}.safetensors"
        with open(root / name, "wb") as f:
            for j in range(0, size, MIB):
                # Distinct content per MiB (so nothing deduplicates), without hashing GiBs of urandom.
                f.write((j.to_bytes(8, "little") + i.to_bytes(8, "little") + block[16:])[:size - j])
        names.append(name)
    return names


def parse_shape(spec: str) -> tuple[int, int, str]:
    """`8x128` (MiB) or `2000x32k` (KiB): (count, bytes, label)."""
    count, size = spec.lower().split("x")
    if size.endswith("k"):
        return int(count), int(size[:-1]) * 1024, f"{count}x{size[:-1]}KiB"
    return int(count), int(size) * MIB, f"{count}x{size}MiB"


class Bench:
    def __init__(self, work: Path, trials: int, ops: set[str]) -> None:
        self.work = work
        self.trials = trials
        self.ops = ops
        self.modelpack = str(Path(sys.executable).parent / "modelpack")
        self.oras = find_tool("oras")
        self.samples: list[Sample] = []
        self.again = False
        self.tls: tuple[Path, Path] | None = None  # the registries' certificate and key, while TLS rows run

    def transport(self) -> list[str]:
        """How both tools reach the registry: plain HTTP, or HTTPS trusting the registry's own CA."""
        return ["--ca-file", str(self.tls[0])] if self.tls else ["--plain-http"]

    def env(self, home: Path) -> dict[str, str]:
        return {**os.environ, "MODELPACK_HOME": str(home), "DOCKER_CONFIG": str(self.work / "docker")}

    def registry(self, name: str) -> Registry:
        # One registry directory per name, emptied each time: earlier trials must not fill the tmpfs.
        path = self.work / "registries" / name
        shutil.rmtree(path, ignore_errors=True)
        return start_registry(path, tls=self.tls)

    def push(self, tool: str, shape: str, data: Path, files: list[str], trial: int,
             delay_ms: float = 0) -> list[Sample]:
        """A push to an empty registry, then (with `again`) the same push once more: nothing changed."""
        samples = []
        with self.registry("push") as reg, capping_proxy.running(reg.host, 0, delay_ms) as host:
            ref = f"{host}/bench/{tool}:{trial}"
            home = self.work / "home-push"
            shutil.rmtree(home, ignore_errors=True)
            for op in ("push", "re-push") if self.again else ("push",):
                if tool == "modelpack":
                    cmd = [self.modelpack, "push", *self.transport(), str(data), ref]
                    measured = measure(cmd, env=self.env(home), registry=reg)
                else:
                    measured = measure([self.oras, "push", *self.transport(), ref, *files], cwd=data, registry=reg)
                samples.append(Sample(tool, op, shape, *measured))
        return samples

    def pull(self, tool: str, shape: str, ref: str, registry: Registry | None = None) -> Sample:
        out = self.work / f"out-{tool}"
        home = self.work / "home-pull"
        shutil.rmtree(out, ignore_errors=True)
        shutil.rmtree(home, ignore_errors=True)
        if tool == "modelpack":
            measured = measure([self.modelpack, "pull", *self.transport(), ref, "-o", str(out)],
                               env=self.env(home), registry=registry)
        else:
            out.mkdir()
            measured = measure([self.oras, "pull", *self.transport(), ref], cwd=out, registry=registry)
        shutil.rmtree(out, ignore_errors=True)
        shutil.rmtree(home, ignore_errors=True)
        return Sample(tool, "pull", shape, *measured)

    def shape(self, count: int, size: int, shape: str, delay_ms: float = 0, tls: bool = False) -> None:
        """Push and pull trials of one shape; with `delay_ms`, both tools through a delay line adding that
        round-trip time (the registry seeded directly, not through it); with `tls`, over HTTPS (a
        self-signed CA both tools are given), as registries beyond one's own machine are reached."""
        note = f"+{delay_ms:g} ms RTT" if delay_ms else "TLS" if tls else ""
        if tls:
            self.tls = self_signed_certificate(Path(tempfile.mkdtemp(dir=self.work)))
        try:
            self._shape(count, size, shape, delay_ms, note)
        finally:
            self.tls = None

    def _shape(self, count: int, size: int, shape: str, delay_ms: float, note: str) -> None:
        data = self.work / f"data-{shape}"
        files = make_data(data, count, size)
        self.again = count > 100  # the unchanged re-push is measured where per-file cost shows
        for trial in range(self.trials if "push" in self.ops else 0):
            order = ["modelpack", "oras"] if trial % 2 == 0 else ["oras", "modelpack"]
            for tool in order:
                for sample in self.push(tool, shape, data, files, trial, delay_ms):
                    self.record(sample, note)
        if "pull" not in self.ops:
            shutil.rmtree(data, ignore_errors=True)
            return
        with self.registry("pull") as reg:
            subprocess.run([self.modelpack, "push", *self.transport(), str(data), f"{reg.host}/bench/pull:1"],
                           env=self.env(self.work / "seed"), check=True, capture_output=True)
            with capping_proxy.running(reg.host, 0, delay_ms) as host:
                ref = f"{host}/bench/pull:1"
                self.pull("oras", shape, ref)  # warm-up: a registry's first read of a blob is slower
                for trial in range(self.trials):
                    order = ["modelpack", "oras"] if trial % 2 == 0 else ["oras", "modelpack"]
                    for tool in order:
                        self.record(self.pull(tool, shape, ref, reg), note)
        shutil.rmtree(data, ignore_errors=True)

    def capped(self, size_mib: int, rate: float) -> None:
        """`pull -o` against `oras pull` of one blob through a proxy capping each connection at `rate`."""
        shape = f"1x{size_mib}MiB"
        note = f"{rate / 1e6:g} MB/s per connection"
        data = self.work / f"data-capped-{shape}"
        make_data(data, 1, size_mib * MIB)
        with self.registry("capped") as reg:
            subprocess.run([self.modelpack, "push", "--plain-http", str(data), f"{reg.host}/bench/capped:1"],
                           env=self.env(self.work / "seed-capped"), check=True, capture_output=True)
            shutil.rmtree(data, ignore_errors=True)
            with capping_proxy.running(reg.host, rate) as host:
                ref = f"{host}/bench/capped:1"
                self.pull("oras", shape, ref)  # warm-up, as for the other pulls
                for trial in range(self.trials):
                    order = ["modelpack", "oras"] if trial % 2 == 0 else ["oras", "modelpack"]
                    for tool in order:
                        self.record(self.pull(tool, shape, ref, reg), note)

    def memory(self, gib: int, root: Path) -> None:
        """Peak RSS of modelpack at a larger size (data on disk: it need not fit in memory)."""
        shape = f"1x{gib}GiB"
        data = root / f"data-{shape}"
        make_data(data, 1, gib * 1024 * MIB)
        try:
            with self.registry(f"mem-{gib}") as reg:
                ref = f"{reg.host}/bench/mem:1"
                home = root / "home-mem"
                measured = measure([self.modelpack, "push", "--plain-http", str(data), ref], env=self.env(home),
                                   registry=reg)
                self.record(Sample("modelpack", "push", shape, *measured))
                out = root / "out-mem"
                measured = measure([self.modelpack, "pull", "--plain-http", ref, "-o", str(out)],
                                   env=self.env(root / "home-mem-pull"), registry=reg)
                self.record(Sample("modelpack", "pull", shape, *measured))
        finally:
            for path in (data, root / "home-mem", root / "home-mem-pull", root / "out-mem"):
                shutil.rmtree(path, ignore_errors=True)

    def listing(self, count: int = 100) -> None:
        """`modelpack ls` over `count` versions (distinct manifests) on loopback, cold and cached."""
        import modelpack as mp
        from modelpack.store.options import ClientOptions

        model = self.work / "ls-model"
        model.mkdir(exist_ok=True)
        (model / "model.safetensors").write_bytes(os.urandom(4096))
        with self.registry("ls") as reg:
            repo = f"{reg.host}/bench/versions"
            seed = mp.LayoutStore(self.work / "ls-seed")
            for i in range(count):
                mp.push(model, f"{repo}:v{i}", [f"version=1.0.{i}", f"metrics.accuracy={i / count}"],
                        options=ClientOptions(plain_http=True), store=seed)
            home = self.work / "home-ls"
            shutil.rmtree(home, ignore_errors=True)
            for label in ("ls, cold cache", "ls, cached"):
                measured = measure([self.modelpack, "ls", "--plain-http", "--where", "metrics.accuracy>=0.5", repo],
                                   env=self.env(home), registry=reg)
                self.record(Sample("modelpack", label, f"{count} tags", *measured))

    def record(self, sample: Sample, note: str = "") -> None:
        """Keep `sample`, its operation named with `note` (the link it went over) when there is one."""
        if note:
            sample.op = f"{sample.op}, {note}"
        self.samples.append(sample)
        print(f"  {sample.op:7} {sample.shape:11} {sample.tool:9} wall {sample.wall:6.2f} s  cpu {sample.cpu:6.2f} s  "
              f"rss {sample.rss_mb:6.1f} MB  registry cpu {sample.registry_cpu:6.2f} s", flush=True)

    def ratios(self) -> list[dict[str, Any]]:
        rows = []
        keys = sorted({(s.op, s.shape) for s in self.samples if s.tool == "oras"})
        for op, shape in keys:
            mine = [s for s in self.samples if (s.tool, s.op, s.shape) == ("modelpack", op, shape)]
            theirs = [s for s in self.samples if (s.tool, s.op, s.shape) == ("oras", op, shape)]
            per_trial = [a.wall / b.wall for a, b in zip(mine, theirs, strict=False)]
            rows.append({
                "op": op, "shape": shape, "ratio_median": statistics.median(per_trial),
                "ratios": [round(r, 3) for r in per_trial],
                "modelpack_wall_median": statistics.median(s.wall for s in mine),
                "oras_wall_median": statistics.median(s.wall for s in theirs),
                "modelpack_rss_max": max(s.rss_mb for s in mine), "oras_rss_max": max(s.rss_mb for s in theirs),
                "modelpack_cpu_median": statistics.median(s.cpu for s in mine),
                "oras_cpu_median": statistics.median(s.cpu for s in theirs),
                "modelpack_registry_cpu_median": statistics.median(s.registry_cpu for s in mine),
                "oras_registry_cpu_median": statistics.median(s.registry_cpu for s in theirs),
            })
        return rows


def print_cpu_table(rows: list[dict[str, Any]]) -> None:
    """Where the CPU went (medians): on a machine where the registry shares the cores, a run cannot
    take less than (client CPU + registry CPU) / cores, whichever tool is the client."""
    cores = os.cpu_count() or 1
    print(f"\n| operation | shape | CPU modelpack + registry | CPU oras + registry | "
          f"floor on {cores} cores, modelpack / oras | wall modelpack / oras |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        mine, theirs = r["modelpack_cpu_median"], r["oras_cpu_median"]
        reg_mine, reg_theirs = r["modelpack_registry_cpu_median"], r["oras_registry_cpu_median"]
        print(f"| {r['op']} | {r['shape']} | {mine:.2f} + {reg_mine:.2f} s | {theirs:.2f} + {reg_theirs:.2f} s | "
              f"{(mine + reg_mine) / cores:.2f} / {(theirs + reg_theirs) / cores:.2f} s | "
              f"{r['modelpack_wall_median']:.2f} / {r['oras_wall_median']:.2f} s |")


def startup(modelpack: str, runs: int = 15) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([modelpack, "--version"], check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--shapes", default="1x1024,8x128,2000x32k",
                        help="COUNTxMIB or COUNTxKIBk, comma-separated")
    parser.add_argument("--big-gib", type=int, default=4, help="size of the memory check (0 to skip)")
    parser.add_argument("--json", type=Path, default=ROOT / ".bench" / "results.json")
    parser.add_argument("--ops", default="push,pull,ls", help="which operations to measure")
    parser.add_argument("--capped", type=int, default=256, help="MiB pulled through the capping proxy (0 to skip)")
    parser.add_argument("--cap-rate", type=float, default=24e6, help="bytes/s per connection through that proxy")
    parser.add_argument("--capped-only", action="store_true", help="only the capped row")
    parser.add_argument("--delay-ms", type=float, default=10,
                        help="round-trip time the latency rows add, through a delay line (0 to skip them)")
    parser.add_argument("--latency-shapes", default="2000x32k,8x128", help="shapes pushed and pulled over it")
    parser.add_argument("--latency-only", action="store_true", help="only the latency rows")
    parser.add_argument("--tls-shapes", default="2000x32k,1x1024", help="shapes pushed and pulled over HTTPS")
    parser.add_argument("--tls-only", action="store_true", help="only the TLS rows")
    parser.add_argument("--registry-bin", help="registry binary (default: Debian stable's, in .tools/stable)")
    args = parser.parse_args()
    tools = Path(os.environ.get("MODELPACK_TOOLS_DIR") or ROOT / ".tools")
    registry_bin = bench_registry.choose(args.registry_bin, tools)
    registry = bench_registry.describe(registry_bin)
    if args.capped_only:
        args.shapes, args.big_gib, args.ops, args.delay_ms, args.tls_shapes = "", 0, "pull", 0, ""
    if args.latency_only:
        args.shapes, args.big_gib, args.ops, args.capped, args.tls_shapes = "", 0, "push,pull", 0, ""
    if args.tls_only:
        args.shapes, args.big_gib, args.ops, args.capped, args.delay_ms = "", 0, "push,pull", 0, 0

    tmpfs = Path("/dev/shm") if Path("/dev/shm").is_dir() else Path(tempfile.gettempdir())
    work = Path(tempfile.mkdtemp(prefix="modelpack-bench-", dir=tmpfs))
    (ROOT / ".bench").mkdir(exist_ok=True)
    disk = Path(tempfile.mkdtemp(prefix="modelpack-bench-", dir=ROOT / ".bench"))
    bench = Bench(work, args.trials, set(args.ops.split(",")))
    python = f"{platform.python_implementation()} {platform.python_version()}"
    machine = f"{platform.machine()}, {os.cpu_count()} cores, {python}"
    oras_version = subprocess.run([bench.oras, "version"], capture_output=True, text=True).stdout.split("\n")[0]
    print(f"machine: {machine}; {oras_version}; registry: {registry_bin} ({registry}); "
          f"data in {tmpfs}")
    try:
        warm_memory(work)
        print(f"writing into {tmpfs}: {warm_memory(work, 1):.2f} s of system CPU per GiB (warm: ~0.4)")
        for spec in filter(None, args.shapes.split(",")):
            bench.shape(*parse_shape(spec))
        if args.capped and "pull" in bench.ops:
            bench.capped(args.capped, args.cap_rate)
        for spec in filter(None, args.latency_shapes.split(",") if args.delay_ms else ()):
            bench.shape(*parse_shape(spec), delay_ms=args.delay_ms)
        for spec in filter(None, args.tls_shapes.split(",")):
            bench.shape(*parse_shape(spec), tls=True)
        if args.big_gib:
            bench.memory(args.big_gib, disk)
        if "ls" in bench.ops:
            bench.listing()
        memory_end = warm_memory(work, 1)
        print(f"writing into {tmpfs} at the end: {memory_end:.2f} s of system CPU per GiB")
    finally:
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(disk, ignore_errors=True)
    start_s = startup(bench.modelpack)
    rows = bench.ratios()
    print("\n| operation | shape | modelpack / oras (median of trials) | per-trial ratios | modelpack wall | "
          "oras wall | modelpack peak RSS | oras peak RSS |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['op']} | {r['shape']} | **{r['ratio_median']:.2f}** | {', '.join(map(str, r['ratios']))} | "
              f"{r['modelpack_wall_median']:.2f} s | {r['oras_wall_median']:.2f} s | {r['modelpack_rss_max']:.0f} MB | "
              f"{r['oras_rss_max']:.0f} MB |")
    print_cpu_table(rows)
    big = [s for s in bench.samples if s.shape.endswith("GiB")]
    for s in big:
        print(f"| {s.op} | {s.shape} (memory check) | – | – | {s.wall:.2f} s | – | {s.rss_mb:.0f} MB | – |")
    for s in (s for s in bench.samples if s.op.startswith("ls")):
        print(f"| {s.op} | {s.shape} | – | – | {s.wall:.2f} s | – | {s.rss_mb:.0f} MB | – |")
    print(f"\n`modelpack --version`: median {start_s * 1000:.0f} ms over 15 runs")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"machine": machine, "oras": oras_version, "registry": registry, "rows": rows,
                                     "samples": [asdict(s) for s in bench.samples], "startup_s": start_s},
                                    indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
