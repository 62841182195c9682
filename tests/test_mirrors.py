"""registries.conf mirrors against real registries: a Distribution pull-through cache (`proxy: remoteurl:`)
in front of another Distribution registry, a dead mirror, a blocked registry, a digest-only mirror, a
cache serving corrupt bytes."""

from __future__ import annotations

import contextlib
import os
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from helpers import modelpack
from registry_process import Registry, free_port

CONF = "CONTAINERS_REGISTRIES_CONF"


def write_conf(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str) -> Path:
    path = tmp_path / "registries.conf"
    path.write_text(text)
    monkeypatch.setenv(CONF, str(path))
    return path


def mirrored(origin: str, mirror: str, *, insecure: bool = False, pull_from: str = "all") -> str:
    flag = "insecure = true\n" if insecure else ""
    return (f'[[registry]]\nlocation = "{origin}"\n{flag}'
            f'[[registry.mirror]]\nlocation = "{mirror}"\n{flag}pull-from-mirror = "{pull_from}"\n')


def make_model(root: Path) -> Path:
    root.mkdir(parents=True)
    (root / "weights.bin").write_bytes(os.urandom(300_000))
    (root / "config.json").write_text('{"layers": 2}\n')
    return root


def blob_file(reg: Registry, digest: str) -> Path:
    hexdigest = digest.split(":", 1)[1]
    return reg.storage / "docker" / "registry" / "v2" / "blobs" / "sha256" / hexdigest[:2] / hexdigest / "data"


def wait_cached(cache: Registry, digests: list[str], timeout: float = 20.0) -> None:
    """Distribution's cache stores a blob it served in the background (a second fetch from upstream)."""
    deadline = time.monotonic() + timeout
    while not all(blob_file(cache, d).is_file() for d in digests):
        assert time.monotonic() < deadline, f"the cache did not keep {digests}"
        time.sleep(0.1)


def served(err: str, what: str) -> list[str]:
    """The `-v` lines saying which host served `what` (a manifest or blob digest)."""
    return [line for line in err.splitlines() if line.startswith("modelpack.mirrors: ") and what in line
            and "served by" in line]


def layer_digests(ref: str) -> list[str]:
    import json

    info = json.loads(modelpack("inspect", "--remote", "--plain-http", "--json", ref).out)
    return [layer["digest"] for layer in info["layers"]]


@pytest.fixture
def cache_pair(fresh_registry: Callable[..., Registry]) -> tuple[Registry, Registry]:
    """(origin, a pull-through cache of it)."""
    origin = fresh_registry()
    return origin, fresh_registry(proxy=origin.url)


def test_pull_goes_through_the_cache_and_push_goes_to_the_origin(
        cache_pair: tuple[Registry, Registry], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    origin, cache = cache_pair
    # insecure = true and no --plain-http: each host is tried in HTTPS, then plain HTTP (as containers do).
    write_conf(tmp_path, monkeypatch, mirrored(origin.host, cache.host, insecure=True))
    ref = f"{origin.host}/team/m:1"
    pushed = modelpack("push", "-v", str(make_model(tmp_path / "model")), ref)
    assert pushed.code == 0, pushed.err  # a Distribution cache refuses pushes: this one reached the origin
    assert cache.host not in pushed.err
    assert not (cache.storage / "docker").exists()
    digest = pushed.out.strip().split("@")[1]

    pulled = modelpack("pull", "-v", ref, "-o", str(tmp_path / "out"), env={"MODELPACK_HOME": str(tmp_path / "h2")})
    assert pulled.code == 0, pulled.err
    assert (tmp_path / "out" / "weights.bin").read_bytes() == (tmp_path / "model" / "weights.bin").read_bytes()
    assert served(pulled.err, "manifest 1 ") == [f"modelpack.mirrors: manifest 1 served by {cache.host} (mirror)"]
    layers = layer_digests(pushed.out.strip())
    for layer in layers:
        assert served(pulled.err, layer) == [f"modelpack.mirrors: blob {layer} served by {cache.host} (mirror)"]
    wait_cached(cache, [digest, *layers])


def test_origin_down_a_digest_the_cache_holds_still_pulls(
        cache_pair: tuple[Registry, Registry], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    origin, cache = cache_pair
    write_conf(tmp_path, monkeypatch, mirrored(origin.host, cache.host))
    pushed = modelpack("push", "--plain-http", str(make_model(tmp_path / "model")), f"{origin.host}/team/m:1")
    assert pushed.code == 0, pushed.err
    by_digest = pushed.out.strip()
    layers = layer_digests(by_digest)
    warm = modelpack("pull", "--plain-http", by_digest, env={"MODELPACK_HOME": str(tmp_path / "warm")})
    assert warm.code == 0, warm.err
    wait_cached(cache, [by_digest.split("@")[1], *layers])

    origin.stop()
    pulled = modelpack("pull", "-v", "--plain-http", by_digest, "-o", str(tmp_path / "out"),
                       env={"MODELPACK_HOME": str(tmp_path / "cold")})
    assert pulled.code == 0, pulled.err
    assert (tmp_path / "out" / "weights.bin").read_bytes() == (tmp_path / "model" / "weights.bin").read_bytes()
    for layer in layers:
        assert served(pulled.err, layer) == [f"modelpack.mirrors: blob {layer} served by {cache.host} (mirror)"]
    # The signature lookup (the origin's referrers) could not be done: said, and not fatal.
    assert "model.sig not looked up" in pulled.err
    # The cache answered (no referrers API, no fallback tag for this digest): said so, not "no answer".
    assert f"(mirrors tried first: {cache.host}: not found)" in pulled.err and "no answer" not in pulled.err, \
        pulled.err

    # What the cache does not hold fails with the origin's error, naming what the mirror said.
    missing = by_digest.split("@")[0] + "@sha256:" + "0" * 64
    failed = modelpack("pull", "--plain-http", missing, env={"MODELPACK_HOME": str(tmp_path / "none")})
    assert failed.code == 5 and f"mirrors tried first: {cache.host}" in failed.err, failed.err
    assert len(failed.err.strip().splitlines()) == 1


def test_a_dead_mirror_falls_back_to_the_origin_once(
        fresh_registry: Callable[..., Registry], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    origin = fresh_registry()
    dead = f"127.0.0.1:{free_port()}"  # nothing listens there: connection refused
    write_conf(tmp_path, monkeypatch, mirrored(origin.host, dead))
    ref = f"{origin.host}/team/m:1"
    assert modelpack("push", "--plain-http", str(make_model(tmp_path / "model")), ref).code == 0
    pulled = modelpack("pull", "-v", "--plain-http", ref, "-o", str(tmp_path / "out"))
    assert pulled.code == 0, pulled.err
    assert served(pulled.err, "manifest 1 ") == [f"modelpack.mirrors: manifest 1 served by {origin.host} (origin)"]
    blobs = [line for line in pulled.err.splitlines() if "blob sha256:" in line and "served by" in line]
    assert len(blobs) == 3 and all(line.endswith(f"{origin.host} (origin)") for line in blobs)  # config + 2 files
    # Tried once, not retried, and skipped for the rest of the pull.
    assert [line for line in pulled.err.splitlines() if dead in line and "unreachable" in line] == \
        [f"modelpack.mirrors: manifest 1: {dead} (mirror) unreachable (cannot connect to {dead}: connection refused); "
         "trying the next endpoint"]
    assert "retrying" not in "\n".join(line for line in pulled.err.splitlines() if dead in line)


@pytest.fixture
def black_hole() -> Iterator[str]:
    """host:port where connections are never answered: a listener that never accepts, its backlog full,
    so the kernel drops further SYNs (what a firewalled or powered-off mirror does)."""
    with contextlib.ExitStack() as stack:
        listener = stack.enter_context(socket.socket())
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        for _ in range(4):
            filler = stack.enter_context(socket.socket())
            filler.setblocking(False)
            filler.connect_ex(("127.0.0.1", port))
        time.sleep(0.2)
        probe = stack.enter_context(socket.socket())
        probe.settimeout(1)
        try:
            probe.connect(("127.0.0.1", port))
        except TimeoutError:
            yield f"127.0.0.1:{port}"
            return
        pytest.skip("this kernel answers connections beyond a full backlog: no black hole to test against")


def test_a_black_hole_mirror_costs_one_connect_timeout(
        fresh_registry: Callable[..., Registry], black_hole: str, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    origin = fresh_registry()
    write_conf(tmp_path, monkeypatch, mirrored(origin.host, black_hole))
    ref = f"{origin.host}/team/m:1"
    assert modelpack("push", "--plain-http", str(make_model(tmp_path / "model")), ref).code == 0
    pulled = modelpack("pull", "-v", "--plain-http", ref, "-o", str(tmp_path / "out"))
    assert pulled.code == 0, pulled.err
    tried = [line for line in pulled.err.splitlines() if black_hole in line]
    assert tried == [f"modelpack.mirrors: manifest 1: {black_hole} (mirror) unreachable (cannot connect to "
                     f"{black_hole}: no answer within 3 s); trying the next endpoint"]
    assert served(pulled.err, "manifest 1 ") == [f"modelpack.mirrors: manifest 1 served by {origin.host} (origin)"]


def test_a_blocked_registry_is_refused_for_pulls_and_pushes_in_one_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    port = free_port()
    conf = write_conf(tmp_path, monkeypatch, f'[[registry]]\nprefix = "127.0.0.1:{port}/secret"\n'
                                             f'location = "127.0.0.1:{port}/secret"\nblocked = true\n')
    model = make_model(tmp_path / "model")
    for args in (("pull", f"127.0.0.1:{port}/secret/m:1"), ("push", str(model), f"127.0.0.1:{port}/secret/m:1"),
                 ("inspect", "--remote", f"127.0.0.1:{port}/secret/m:1")):
        result = modelpack(*args, "--plain-http")
        assert result.code == 2, result.err
        assert result.err.strip() == (f"error: 127.0.0.1:{port}/secret/m is blocked by {conf} (prefix "
                                      f"'127.0.0.1:{port}/secret', blocked = true): nothing was sent; edit that "
                                      "file to allow it")

    conf.write_text("[[registry]]\nlocation = 'oops\n")
    broken = modelpack("pull", "--plain-http", f"127.0.0.1:{port}/other/m:1")
    assert broken.code == 2 and broken.err.startswith(f"error: {conf} is not valid TOML")
    assert len(broken.err.strip().splitlines()) == 1 and "Traceback" not in broken.err


def test_a_blocked_host_is_refused_for_login_and_its_catalog_too(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    # As containers/image refuses any client for a blocked registry: no password goes to it.
    host = f"127.0.0.1:{free_port()}"
    conf = write_conf(tmp_path, monkeypatch, f'[[registry]]\nlocation = "{host}"\nblocked = true\n')
    for args in (("login", host, "-u", "alice", "--password-stdin"), ("ls", host)):
        result = modelpack(*args, "--plain-http", stdin="secret\n")
        assert result.code == 2, result.err
        assert result.err.strip() == (f"error: {host} is blocked by {conf} (prefix '{host}', blocked = true): nothing "
                                      "was sent; edit that file to allow it")


def test_blocked_holds_for_the_host_written_in_other_case_and_a_doubled_domain(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # skopeo lets both through to the network: DNS finds the same host for `Evil.Example.com`.
    write_conf(tmp_path, monkeypatch, '[[registry]]\nlocation = "evil.example.com"\nblocked = true\n'
                                      '[[registry]]\nprefix = "*.evil.example.com"\nblocked = true\n')
    for args in (("pull", "Evil.Example.com/m:1"), ("pull", "a.evil.example.com.evil.example.com/m:1"),
                 ("login", "EVIL.example.com", "-u", "alice", "--password-stdin"), ("ls", "Evil.Example.COM")):
        result = modelpack(*args, "--timeout", "3", stdin="secret\n")
        assert result.code == 2 and "blocked = true): nothing was sent" in result.err, (args, result.err)


def test_a_digest_only_mirror_is_skipped_for_a_tag_pull(
        cache_pair: tuple[Registry, Registry], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    origin, cache = cache_pair
    write_conf(tmp_path, monkeypatch, mirrored(origin.host, cache.host, pull_from="digest-only"))
    ref = f"{origin.host}/team/m:1"
    pushed = modelpack("push", "--plain-http", str(make_model(tmp_path / "model")), ref)
    assert pushed.code == 0, pushed.err
    by_tag = modelpack("pull", "-v", "--plain-http", ref, env={"MODELPACK_HOME": str(tmp_path / "h1")})
    assert by_tag.code == 0, by_tag.err
    # With a single applicable endpoint the origin is read directly: the cache is never asked.
    assert cache.host not in by_tag.err
    assert not (cache.storage / "docker").exists()
    by_digest = modelpack("pull", "-v", "--plain-http", pushed.out.strip(),
                          env={"MODELPACK_HOME": str(tmp_path / "h2")})
    assert by_digest.code == 0, by_digest.err
    assert served(by_digest.err, "manifest sha256:")[0].endswith(f"served by {cache.host} (mirror)")


def test_a_mirror_serving_corrupt_bytes_fails_digest_verification(
        cache_pair: tuple[Registry, Registry], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    origin, cache = cache_pair
    write_conf(tmp_path, monkeypatch, mirrored(origin.host, cache.host))
    pushed = modelpack("push", "--plain-http", str(make_model(tmp_path / "model")), f"{origin.host}/team/m:1")
    assert pushed.code == 0, pushed.err
    by_digest = pushed.out.strip()
    weights = max(layer_digests(by_digest), key=lambda d: blob_file(origin, d).stat().st_size)
    assert modelpack("pull", "--plain-http", by_digest, env={"MODELPACK_HOME": str(tmp_path / "warm")}).code == 0
    wait_cached(cache, [weights])
    stored = blob_file(cache, weights)
    stored.chmod(0o644)
    stored.write_bytes(os.urandom(stored.stat().st_size))  # same size, other bytes: the cache's disk rotted

    out = tmp_path / "out"
    pulled = modelpack("pull", "-v", "--plain-http", by_digest, "-o", str(out),
                       env={"MODELPACK_HOME": str(tmp_path / "cold")})
    assert pulled.code == 6, pulled.err
    assert pulled.err.strip().splitlines()[-1] == (f"error: digest mismatch: expected {weights}, got sha256:"
                                                   f"{pulled.err.split('got sha256:')[1][:64]} (served by mirror "
                                                   f"{cache.host}: fix it or take it out of registries.conf)")
    assert served(pulled.err, weights) == [f"modelpack.mirrors: blob {weights} served by {cache.host} (mirror)"]
    assert not out.exists()  # nothing unverified is written
    into_store = modelpack("pull", "--plain-http", by_digest, env={"MODELPACK_HOME": str(tmp_path / "cold")})
    assert into_store.code == 6 and into_store.err.rstrip().endswith(f"served by mirror {cache.host}: fix it or "
                                                                     "take it out of registries.conf)")



def test_a_mirror_listing_no_referrers_does_not_hide_the_origins_signature(
        fresh_registry: Callable[..., Registry], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from fault_proxy import FaultProxy
    from test_signing import keypair

    registry = fresh_registry()
    private, public = keypair(tmp_path, "k")
    # Two referrers APIs over the same registry: the origin saw the signature pushed; the mirror did not
    # (a cache that listed this digest's referrers before it was signed), so it answers an empty list.
    with FaultProxy(registry.host, referrers_api=True) as origin, \
            FaultProxy(registry.host, referrers_api=True) as cache:
        ref = f"{origin.host}/team/m:1"
        assert modelpack("push", "--plain-http", str(make_model(tmp_path / "model")), ref).code == 0
        assert modelpack("sign", "--plain-http", "--key", str(private), ref, env={"COSIGN_PASSWORD": "pw"}).code == 0
        write_conf(tmp_path, monkeypatch, mirrored(origin.host, cache.host))
        pulled = modelpack("pull", "-v", "--plain-http", "--verify-key", str(public), ref, "-o", str(tmp_path / "out"),
                           env={"MODELPACK_HOME": str(tmp_path / "home")})
        assert pulled.code == 0, pulled.err
        assert cache.requests("GET", "/referrers/")  # the mirror was asked first
        assert [line for line in pulled.err.splitlines() if "referrers of" in line and "served by" in line] == \
            [line for line in pulled.err.splitlines() if "referrers of" in line and f"{origin.host} (origin)" in line]


def test_origin_down_a_signature_the_cache_holds_still_verifies(
        cache_pair: tuple[Registry, Registry], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Distribution's cache has no referrers API but keeps the fallback tag (`sha256-<hex>`) it served: with the
    origin down, `pull --verify-key` verifies from it (and cosign's legacy `.sig` tag, unknown to the cache
    and unreachable at the origin, is moot once a signature counts); one it never served fails in one line."""
    from test_signing import keypair

    origin, cache = cache_pair
    write_conf(tmp_path, monkeypatch, mirrored(origin.host, cache.host))
    private, public = keypair(tmp_path, "k")
    signed, unsigned = f"{origin.host}/team/m:1", f"{origin.host}/team/other:1"
    for ref in (signed, unsigned):
        pushed = modelpack("push", "--plain-http", str(make_model(tmp_path / ref.split("/")[-1])), ref)
        assert pushed.code == 0, pushed.err
    assert modelpack("sign", "--plain-http", "--key", str(private), signed, env={"COSIGN_PASSWORD": "pw"}).code == 0
    # Warm: the cache keeps what it served (a manifest only when fetched, not when asked about with HEAD).
    for ref, check in ((signed, ("--verify-key", str(public), "-o", str(tmp_path / "warm-out"))), (unsigned, ())):
        warm = modelpack("pull", "--plain-http", *check, ref, env={"MODELPACK_HOME": str(tmp_path / "warm")})
        assert warm.code == 0, warm.err
        wait_cached(cache, layer_digests(ref))

    origin.stop()
    out = tmp_path / "out"
    pulled = modelpack("pull", "-v", "--plain-http", "--verify-key", str(public), signed, "-o", str(out),
                       env={"MODELPACK_HOME": str(tmp_path / "cold")})
    assert pulled.code == 0, pulled.err
    assert f"verified {signed.rsplit(':', 1)[0]}@" in pulled.err and ": 1 valid signature" in pulled.err
    assert (out / "model.sig").is_file()  # the model-signing referrer, from the cache too
    assert served(pulled.err, "manifest sha256-")[0].endswith(f"served by {cache.host} (mirror)")

    refused = modelpack("pull", "--plain-http", "--verify-key", str(public), unsigned, "-o", str(tmp_path / "o2"),
                        env={"MODELPACK_HOME": str(tmp_path / "cold2")})
    assert refused.code == 5 and len(refused.err.strip().splitlines()) == 1, refused.err
    assert f"cannot connect to {origin.host}" in refused.err and f"mirrors tried first: {cache.host}" in refused.err
    assert not (tmp_path / "o2").exists()
