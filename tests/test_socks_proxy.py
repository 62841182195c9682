"""Through a SOCKS proxy (ALL_PROXY=socks5h://...): the curl engine reaches it by itself, urllib3's
streams through PySocks (modelpack[socks]) with the same stall watch as any stream; without PySocks one
line says what to install, naming the proxy without its credentials. A real registry behind a stdlib
SOCKS5 proxy (tests/socks_proxy.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from helpers import modelpack, push_weight
from registry_process import Registry
from socks_proxy import SocksProxy

BIG = 70 * 1024 * 1024  # streamed through urllib3, not read whole by the curl engine


def _env(proxy: str, home: Path) -> dict[str, str]:
    return {"ALL_PROXY": proxy, "all_proxy": proxy, "NO_PROXY": "", "no_proxy": "", "MODELPACK_HOME": str(home)}


def test_a_large_blob_is_pulled_through_a_socks_proxy(registry: Registry, tmp_path: Path) -> None:
    ref, weight, _ = push_weight(registry.repo(), tmp_path, BIG)
    with SocksProxy() as proxy:
        run = modelpack("pull", "--plain-http", ref, "-o", str(tmp_path / "out"), env=_env(proxy.url, tmp_path / "h"))
    assert run.code == 0, run.err
    assert (tmp_path / "out" / "w.safetensors").read_bytes() == weight
    assert len(proxy.connects) >= 2  # the curl engine's connection and the stream's


def test_a_trickling_socks_link_is_cut_by_the_stall_watch(registry: Registry, tmp_path: Path) -> None:
    # 1 KiB every 0.3 s after the first MiB: each read returns in time, so only the watch (16 KiB per
    # window) tells the link is stalled; urllib3's own SOCKS connections would read on for hours.
    ref, _, _ = push_weight(registry.repo(), tmp_path, BIG)
    with SocksProxy(trickle_after=1024 * 1024) as proxy:
        run = modelpack("pull", "--plain-http", "--timeout", "2", ref, "-o", str(tmp_path / "out"),
                        env=_env(proxy.url, tmp_path / "h"), timeout=300)
    assert run.code == 5, run.err
    assert "sent less than 16 KiB" in run.err, run.err
    assert not (tmp_path / "out").exists()


def test_without_pysocks_one_line_names_the_extra(registry: Registry, tmp_path: Path) -> None:
    ref, _, _ = push_weight(registry.repo(), tmp_path, BIG)
    with SocksProxy() as proxy:
        url = proxy.url.replace("://", "://someone:s3cret@")
        # PySocks made unimportable in that process alone (sys.modules[name] = None makes import fail).
        code = ("import sys; sys.modules['socks'] = None; from modelpack.cli.entry import main; "
                f"sys.argv = ['modelpack', 'pull', '--plain-http', {ref!r}, '-o', {str(tmp_path / 'out')!r}]; main()")
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                              env={**os.environ, **_env(url, tmp_path / "h")})
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and "pip install 'modelpack[socks]'" in proc.stderr, proc.stderr
    assert "s3cret" not in proc.stderr and "someone" not in proc.stderr
    assert "Traceback" not in proc.stderr
