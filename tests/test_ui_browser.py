"""`modelpack ui` in a real browser: headless Chromium (Debian's `chromium`) loads the home page, follows
its link to a repository and from there to a version, as read from the DOM Chromium built, and saves a
screenshot of each page into the test's temporary directory."""

from __future__ import annotations

import base64
import os
import shutil
import signal
import struct
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from conftest import AUTH_PASSWORD, AUTH_USER, missing
from registry_process import Registry
from ui_support import links, push_version

WINDOW = (1280, 900)


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        missing("chromium is not installed (apt-get install chromium; `make deps` does it)")
    return str(found)


def _browser(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    profile = tmp_path / "chromium-profile"
    command = [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
               "--disable-dev-shm-usage", f"--user-data-dir={profile}", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "HOME": str(tmp_path)}, check=True)


def dump_dom(tmp_path: Path, url: str) -> str:
    """The DOM Chromium built from the page, serialized."""
    return _browser(tmp_path, "--dump-dom", url).stdout


def screenshot(tmp_path: Path, url: str, name: str) -> Path:
    path = tmp_path / name
    _browser(tmp_path, f"--screenshot={path}", f"--window-size={WINDOW[0]},{WINDOW[1]}", url)
    return path


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


@pytest.fixture
def ui_command() -> Iterator[Callable[..., str]]:
    """start(*arguments) -> the URL the real `modelpack ui` command says it serves on. Its log (with -v,
    every registry request) is checked for credentials when it stops."""
    started: list[tuple[subprocess.Popen[str], list[str]]] = []
    readers: dict[int, threading.Thread] = {}

    def start(*arguments: str) -> str:
        proc = subprocess.Popen([sys.executable, "-m", "modelpack", "ui", "--port", "0", *arguments],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        seen: list[str] = []
        started.append((proc, seen))
        assert proc.stderr is not None
        for line in iter(proc.stderr.readline, ""):  # -v logs before it: the line saying where it serves
            seen.append(line)
            if line.startswith("browse http://127.0.0.1:"):
                # The rest of its log is read as it comes, so a full pipe never stalls the server.
                reader = readers[proc.pid] = threading.Thread(
                    target=lambda: seen.extend(iter(proc.stderr.readline, "")), daemon=True)
                reader.start()
                return line.split()[1].rstrip("/")
        raise AssertionError("modelpack ui stopped before serving:\n" + "".join(seen))

    yield start
    for proc, seen in started:
        if proc.poll() is not None:
            continue  # it failed to start: said above
        proc.send_signal(signal.SIGINT)  # a clean stop: exit 0
        assert proc.wait(timeout=30) == 0
        readers[proc.pid].join(timeout=30)  # to the end of its log
        log = "".join(seen)
        assert "/v2/" in log  # -v logged the registry requests...
        for secret in (AUTH_PASSWORD, base64.b64encode(f"{AUTH_USER}:{AUTH_PASSWORD}".encode()).decode(),
                       "Authorization"):
            assert secret not in log  # ...and never the credentials


def test_chromium_follows_links_home_repository_version(auth_registry: Registry, ui_command: Callable[..., str],
                                                        tmp_path: Path) -> None:
    repo = f"{auth_registry.host}/vision/resnet"
    for i in range(4):
        push_version(tmp_path / f"v{i}", f"{repo}:{i}.0", {"version": f"{i}.0", "description": "an image classifier",
                                                             "metrics": {"top1": 0.7 + i / 50, "top5": 0.9 + i / 100}})
    base = ui_command("-v", "--plain-http", auth_registry.host)

    home = dump_dom(tmp_path, base + "/")
    to_repo = [href for href, text in links(home, "/r/") if text == repo]
    assert to_repo, home
    page = dump_dom(tmp_path, base + to_repo[0])
    assert page.count("<circle") == 8  # two charts of four versions each, drawn by the browser as SVG
    to_version = [href for href, text in links(page, "/v/") if text == "3.0"]
    assert to_version, page
    version = dump_dom(tmp_path, base + to_version[0])
    assert "an image classifier" in version and "modelpack pull --plain-http " + repo + "@sha256:" in version

    for name, path in (("home.png", "/"), ("repository.png", to_repo[0]), ("version.png", to_version[0])):
        shot = screenshot(tmp_path, base + path, name)
        assert png_size(shot) == WINDOW
        assert shot.stat().st_size > 10_000  # drawn, not a blank page
