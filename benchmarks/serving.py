#!/usr/bin/env python3
"""`make bench`, serving: `modelpack serve` against the kserve SDK's ModelServer, same model, same run.

Both serve one scikit-learn model (a logistic regression on iris, saved with skops) over the Open Inference
Protocol's REST API, each in one process: modelpack with `modelpack serve DIR`, kserve with a tiny
`kserve.Model` subclass (benchmarks/kserve_server.py). wrk (benchmarks/post.lua) POSTs a 1-row or a 100-row
JSON request over 1, 8 and 32 keep-alive connections. For every point and trial both servers are measured
one after the other, which goes first alternating; neither is niced. Reported per point: the medians of
requests/s and p99 latency, the medians of the per-trial ratios (modelpack/kserve: req/s ≥ 1 and p99 ≤ 1
mean modelpack is at least as good), every trial's figures, and the servers' CPU time per request (from
/proc, so less sensitive to other work on the machine). Start-to-ready (process start until the model's
`ready` endpoint answers 200) is measured for both, alternating, `--trials` times.

    python benchmarks/serving.py [--trials 5] [--seconds 5] [--connections 1,8,32] [--rows 1,100] [--json F]
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
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT / "tests"))

from proc_cpu import process_cpu  # noqa: E402

from serve_models import iris_skops  # noqa: E402

SERVERS = ("modelpack", "kserve")


@dataclass
class Run:
    server: str
    connections: int
    rows: int
    trial: int
    req_s: float
    p50_ms: float
    p99_ms: float
    cpu_us_per_req: float
    errors: int


class Server:
    """One server process on a free port, started and stopped by the benchmark."""

    def __init__(self, kind: str, model_dir: Path, work: Path) -> None:
        self.kind, self.model_dir, self.work = kind, model_dir, work
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v2/models/iris"

    def command(self) -> list[str]:
        if self.kind == "modelpack":
            return [str(Path(sys.executable).parent / "modelpack"), "serve", str(self.model_dir),
                    "--host", "127.0.0.1", "--port", str(self.port)]
        return [sys.executable, str(HERE / "kserve_server.py"), str(self.model_dir / "model.skops"), "iris",
                str(self.port)]

    def start(self) -> float:
        """Start the process; seconds until the model's ready endpoint answers 200."""
        started = time.perf_counter()
        log = (self.work / f"{self.kind}.log").open("ab")
        self.proc = subprocess.Popen(self.command(), stdout=log, stderr=log, cwd=self.work)
        deadline = started + 120
        while time.perf_counter() < deadline:
            if self.proc.poll() is not None:
                sys.exit(f"{self.kind} exited with {self.proc.returncode}; see {self.work / (self.kind + '.log')}")
            try:
                with urllib.request.urlopen(self.url + "/ready", timeout=2) as resp:
                    if resp.status == 200:
                        return time.perf_counter() - started
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.02)
        sys.exit(f"{self.kind} was not ready in 120 s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def cpu_seconds(self) -> float:
        """User + system CPU time of the server process so far."""
        assert self.proc is not None
        return process_cpu(self.proc.pid)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def bodies(work: Path, rows: list[int]) -> dict[int, Path]:
    """A V2 JSON request of `n` iris rows for each `n`."""
    from sklearn.datasets import load_iris

    features = load_iris().data
    paths = {}
    for n in rows:
        chosen = [features[i % len(features)].tolist() for i in range(n)]
        body = {"inputs": [{"name": "input-0", "shape": [n, 4], "datatype": "FP64",
                            "data": [v for row in chosen for v in row]}]}
        paths[n] = work / f"body-{n}.json"
        paths[n].write_text(json.dumps(body))
    return paths


def same_answers(servers: dict[str, Server], body: Path) -> None:
    """Both servers must give the same labels for the same request, or the comparison means nothing."""
    labels = {}
    for name, server in servers.items():
        request = urllib.request.Request(server.url + "/infer", data=body.read_bytes(),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as resp:
            outputs = {o["name"]: o["data"] for o in json.loads(resp.read())["outputs"]}
        labels[name] = outputs["predict"]
    if labels["modelpack"] != labels["kserve"]:
        sys.exit("modelpack and kserve disagree on the model's predictions")


def wrk(server: Server, connections: int, body: Path, seconds: int) -> tuple[dict[str, float], float]:
    """wrk's JSON summary line, and the server's CPU seconds during the run."""
    wrk_bin = shutil.which("wrk")
    if wrk_bin is None:
        sys.exit("wrk is not installed: apt-get install wrk (make deps)")
    cpu = server.cpu_seconds()
    proc = subprocess.run([wrk_bin, "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s",
                           "-s", str(HERE / "post.lua"), server.url + "/infer", "--", str(body)],
                          capture_output=True, text=True, check=True)
    cpu = server.cpu_seconds() - cpu
    return json.loads(proc.stdout.strip().splitlines()[-1]), cpu


def image_row() -> str:
    """Size and start-to-ready of the serving image, from the serving-image test (root, debootstrap)."""
    if os.geteuid() != 0:
        return "serving image: not measured (building and running it in a chroot needs root)"
    env = {**os.environ, "MODELPACK_TOOLS_DIR": os.environ.get("MODELPACK_TOOLS_DIR", str(ROOT / ".tools")),
           "MODELPACK_TEST_REGISTRY": "process"}
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider",
                           "tests/test_serving_image.py"], cwd=ROOT, env=env, capture_output=True, text=True)
    found = [line for line in proc.stdout.splitlines() if line.startswith("serving image:")]
    return found[0] if found and proc.returncode == 0 else \
        f"serving image: the test failed ({proc.stdout.strip().splitlines()[-1:]})"


def median_ratio(runs: list[Run], key: str) -> tuple[float, list[float]]:
    mine = [getattr(r, key) for r in runs if r.server == "modelpack"]
    theirs = [getattr(r, key) for r in runs if r.server == "kserve"]
    ratios = [a / b for a, b in zip(mine, theirs, strict=True)]
    return statistics.median(ratios), ratios


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=5, help="length of each wrk run")
    parser.add_argument("--connections", default="1,8,32")
    parser.add_argument("--rows", default="1,100", help="rows per request")
    parser.add_argument("--no-image", action="store_true", help="skip the serving image's row")
    parser.add_argument("--json", type=Path, default=ROOT / ".bench" / "serving.json")
    args = parser.parse_args()
    connections = [int(c) for c in args.connections.split(",")]
    rows = [int(r) for r in args.rows.split(",")]

    tmpfs = Path("/dev/shm") if Path("/dev/shm").is_dir() else Path(tempfile.gettempdir())
    work = Path(tempfile.mkdtemp(prefix="modelpack-serve-bench-", dir=tmpfs))
    import kserve

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
          f"kserve {kserve.__version__ if hasattr(kserve, '__version__') else '0.21'}; "
          f"{subprocess.run(['wrk', '-v'], capture_output=True, text=True).stdout.split(chr(10))[0]}")
    model_dir, _ = iris_skops(work / "iris")
    paths = bodies(work, rows)
    servers = {kind: Server(kind, model_dir, work) for kind in SERVERS}
    ready: dict[str, list[float]] = {kind: [] for kind in SERVERS}
    runs: list[Run] = []
    try:
        for trial in range(args.trials):
            for kind in SERVERS if trial % 2 == 0 else SERVERS[::-1]:
                ready[kind].append(servers[kind].start())
                if trial < args.trials - 1:
                    servers[kind].stop()
        same_answers(servers, paths[max(rows)])
        for kind in SERVERS:  # warm-up: first connections, first requests of each size
            for n in rows:
                wrk(servers[kind], max(connections), paths[n], 1)
        for n in rows:
            for c in connections:
                for trial in range(args.trials):
                    for kind in SERVERS if trial % 2 == 0 else SERVERS[::-1]:
                        result, cpu = wrk(servers[kind], c, paths[n], args.seconds)
                        count = max(1, result["requests"])
                        run = Run(kind, c, n, trial, result["requests"] / result["seconds"], result["p50_us"] / 1e3,
                                  result["p99_us"] / 1e3, cpu / count * 1e6, result["errors"] + result["non_2xx"])
                        runs.append(run)
                        print(f"  {n:3} rows  {c:2} conns  {kind:9}  {run.req_s:7.0f} req/s  p50 {run.p50_ms:6.1f} ms  "
                              f"p99 {run.p99_ms:6.1f} ms  cpu {run.cpu_us_per_req:5.0f} µs/req  "
                              f"errors {run.errors}", flush=True)
    finally:
        for server in servers.values():
            server.stop()
        shutil.rmtree(work, ignore_errors=True)

    print("\n| rows | conns | req/s modelpack | req/s kserve | req/s ratio (median) | p99 modelpack | p99 kserve | "
          "p99 ratio (median) | per-trial req/s ratios | per-trial p99 ratios | CPU/req modelpack | CPU/req kserve |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    table = []
    for n in rows:
        for c in connections:
            point = [r for r in runs if (r.rows, r.connections) == (n, c)]
            mine = [r for r in point if r.server == "modelpack"]
            theirs = [r for r in point if r.server == "kserve"]
            rps_ratio, rps_ratios = median_ratio(point, "req_s")
            p99_ratio, p99_ratios = median_ratio(point, "p99_ms")
            row = {"rows": n, "connections": c, "req_s_ratio": rps_ratio, "p99_ratio": p99_ratio,
                   "modelpack_req_s": statistics.median(r.req_s for r in mine),
                   "kserve_req_s": statistics.median(r.req_s for r in theirs),
                   "modelpack_p99_ms": statistics.median(r.p99_ms for r in mine),
                   "kserve_p99_ms": statistics.median(r.p99_ms for r in theirs),
                   "modelpack_cpu_us": statistics.median(r.cpu_us_per_req for r in mine),
                   "kserve_cpu_us": statistics.median(r.cpu_us_per_req for r in theirs)}
            table.append(row)
            print(f"| {n} | {c} | {row['modelpack_req_s']:.0f} | {row['kserve_req_s']:.0f} | **{rps_ratio:.2f}** | "
                  f"{row['modelpack_p99_ms']:.1f} ms | {row['kserve_p99_ms']:.1f} ms | **{p99_ratio:.2f}** | "
                  f"{', '.join(f'{r:.2f}' for r in rps_ratios)} | {', '.join(f'{r:.2f}' for r in p99_ratios)} | "
                  f"{row['modelpack_cpu_us']:.0f} µs | {row['kserve_cpu_us']:.0f} µs |")
    errors = sum(r.errors for r in runs)
    ready_ms = {kind: statistics.median(times) * 1e3 for kind, times in ready.items()}
    print(f"\nstart to ready (median of {args.trials}): modelpack {ready_ms['modelpack']:.0f} ms "
          f"({', '.join(f'{t * 1e3:.0f}' for t in ready['modelpack'])}), kserve {ready_ms['kserve']:.0f} ms "
          f"({', '.join(f'{t * 1e3:.0f}' for t in ready['kserve'])}); failed requests: {errors}")
    image = "" if args.no_image else image_row()
    if image:
        print(image)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"rows": table, "runs": [asdict(r) for r in runs], "ready_s": ready,
                                     "image": image}, indent=2))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
