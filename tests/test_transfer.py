"""Transfer behaviour seen on the wire, through a recording proxy in front of a real registry:
skip-existing, one-file updates, cross-repository mount, store hits, resume after a cut connection,
retries, and healing a damaged store blob."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

import modelpack as mp
from fault_proxy import Fault, FaultProxy
from helpers import modelpack, tree
from modelpack.store import origins
from modelpack.store.layout import LayoutStore
from modelpack.store.options import ClientOptions
from registry_process import Registry

PLAIN = ClientOptions(plain_http=True, backoff=0.01)


def _repo(registry: Registry, proxy: FaultProxy) -> str:
    return proxy.host + "/" + registry.repo().split("/", 1)[1]


def _model(root: Path, files: dict[str, int]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, size in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(os.urandom(size))
    return root


def _digest(path: Path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def test_unchanged_push_is_one_request(registry: Registry, proxy: FaultProxy, tmp_path: Path) -> None:
    model = _model(tmp_path / "m", {"a.safetensors": 300_000, "b.safetensors": 200_000,
                                    **{f"s/{i}.bin": 100 for i in range(20)}})
    ref = _repo(registry, proxy) + ":v1"
    mp.push(model, ref, options=PLAIN)
    proxy.clear()
    again = mp.push(model, ref, options=PLAIN)
    assert (again.copied, again.skipped) == (0, 23)
    manifest_path = "/v2/" + ref.split("/", 1)[1].replace(":", "/manifests/")
    assert [line.split()[:2] for line in proxy.requests()] == [["GET", manifest_path]]


def test_small_files_into_a_new_repository_are_sent_without_asking_first(
        registry: Registry, proxy: FaultProxy, tmp_path: Path) -> None:
    model = _model(tmp_path / "m", {f"s/{i}.bin": 100 for i in range(20)})
    ref = _repo(registry, proxy) + ":v1"
    result = mp.push(model, ref, options=PLAIN)
    assert result.copied == 21  # 20 files and the config
    assert proxy.requests("HEAD", "/blobs/") == []  # two requests per file (POST, PUT), not three
    # A second tag in the repository (now not new): whatever is there is asked about, not sent again.
    proxy.clear()
    again = mp.push(model, ref.rsplit(":", 1)[0] + ":v2", options=PLAIN, store=LayoutStore(tmp_path / "b"))
    assert again.copied == 0 and proxy.requests("PUT", "/blobs/") == []
    mp.pull(ref, output=tmp_path / "out", options=PLAIN, store=LayoutStore(tmp_path / "other"))
    assert tree(tmp_path / "out") == tree(model)


def test_files_of_equal_bytes_are_uploaded_once(registry: Registry, proxy: FaultProxy, tmp_path: Path) -> None:
    # A dataset folder of repeated (and empty) files: one blob per distinct content, not one per path.
    model = tmp_path / "m"
    (model / "s").mkdir(parents=True)
    for i in range(12):
        (model / "s" / f"{i}.txt").write_bytes(b"" if i % 3 == 0 else b"same bytes\n")
    ref = _repo(registry, proxy) + ":v1"
    mp.push(model, ref, options=PLAIN)
    uploads = proxy.requests("PUT", "/blobs/uploads/")
    assert len(uploads) == 3, uploads  # the empty file, the repeated one, the config
    mp.pull(ref, output=tmp_path / "out", options=PLAIN, store=LayoutStore(tmp_path / "other"))
    assert tree(tmp_path / "out") == tree(model)


def test_a_changed_file_under_the_same_tag_sends_that_file_and_no_head_for_the_rest(
        registry: Registry, proxy: FaultProxy, tmp_path: Path) -> None:
    model = _model(tmp_path / "m", {"a.safetensors": 300_000, "b.safetensors": 200_000,
                                    **{f"s/{i}.bin": 100 for i in range(20)}})
    ref = _repo(registry, proxy) + ":v1"
    mp.push(model, ref, options=PLAIN)
    (model / "s" / "3.bin").write_bytes(os.urandom(100))
    proxy.clear()
    result = mp.push(model, ref, options=PLAIN)
    uploads = proxy.requests("PUT", "/blobs/uploads/")
    uploaded = {line.split("digest=")[1].split()[0].replace("%3A", ":") for line in uploads}
    assert _digest(model / "s" / "3.bin") in uploaded and len(uploaded) == 2  # the changed file, the new config
    blob_heads = proxy.requests("HEAD", "/blobs/")
    assert len(blob_heads) <= 2, blob_heads  # at most the new file and config are asked about
    assert result.copied == 2
    mp.pull(ref, output=tmp_path / "out", options=PLAIN, store=LayoutStore(tmp_path / "other"))
    assert tree(tmp_path / "out") == tree(model)


def test_new_version_uploads_only_the_changed_file(registry: Registry, proxy: FaultProxy, tmp_path: Path) -> None:
    model = _model(tmp_path / "m", {"a.safetensors": 300_000, "b.safetensors": 200_000, "c.bin": 1000})
    repo = _repo(registry, proxy)
    mp.push(model, repo + ":v1", options=PLAIN)
    (model / "b.safetensors").write_bytes(os.urandom(200_000))
    proxy.clear()
    result = mp.push(model, repo + ":v2", options=PLAIN)
    uploads = proxy.requests("PUT", "/blobs/uploads/")
    uploaded = {line.split("digest=")[1].split()[0].replace("%3A", ":") for line in uploads}
    assert _digest(model / "b.safetensors") in uploaded
    assert len(uploaded) == 2  # the changed file and the new config
    assert result.copied == 2 and result.skipped == 2


def test_new_version_with_a_folder_archive_uploads_only_the_changed_file(registry: Registry, proxy: FaultProxy,
                                                                         tmp_path: Path) -> None:
    # The archive's tar recorded the model's `created` (the newest mtime of any file) as every entry's
    # mtime: touching one weight file changed every archive's digest, and each was uploaded again.
    model = _model(tmp_path / "m", {"w.safetensors": 3000, "tok/vocab.json": 500, "tok/merges.txt": 400,
                                    "README.md": 100})
    (model / "modelpack.yaml").write_text("files: {archives: [tok], compress: gzip}\n")
    repo = _repo(registry, proxy)
    mp.push(model, repo + ":v1", options=PLAIN)
    (model / "w.safetensors").write_bytes(os.urandom(3000))
    later = (model / "w.safetensors").stat().st_mtime + 3600
    os.utime(model / "w.safetensors", (later, later))
    proxy.clear()
    result = mp.push(model, repo + ":v2", options=PLAIN)
    uploads = proxy.requests("PUT", "/blobs/uploads/")
    uploaded = {line.split("digest=")[1].split()[0].replace("%3A", ":") for line in uploads}
    assert _digest(model / "w.safetensors") in uploaded and len(uploaded) == 2, uploads  # and the config
    assert result.copied == 2
    out = tmp_path / "out"
    mp.pull(repo + ":v2", output=out, options=PLAIN, store=LayoutStore(tmp_path / "other"))
    assert tree(out) == tree(model)
    again = mp.pack(out, repo + ":v2", store=LayoutStore(tmp_path / "third"))  # the pulled folder packs as pushed
    assert again.descriptor.digest == result.descriptor.digest


def test_a_push_reads_the_stores_blob_origins_once_not_once_per_file(
        registry: Registry, proxy: FaultProxy, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # origins.json holds every blob ever pushed or pulled: read per file, a push of 8,000 files took 115 s
    # of CPU (2,000 files: 4 s).
    model = _model(tmp_path / "m", {f"s/{i}.bin": 100 for i in range(30)})
    store = LayoutStore(tmp_path / "store")
    mp.push(model, _repo(registry, proxy) + ":1", options=PLAIN, store=store)
    reads: list[int] = []
    read = origins.read

    def counted(path: Path) -> dict[str, list[str]]:
        reads.append(1)
        return read(path)

    monkeypatch.setattr(origins, "read", counted)
    proxy.clear()
    mp.push(model, _repo(registry, proxy) + ":1", options=PLAIN, store=store)
    assert len(reads) <= 2, len(reads)  # the mount candidates, and recording the new repository
    assert len(proxy.requests("POST", "mount=")) == 30  # each file still mounted (the config names the repository)


def test_a_new_tag_asks_nothing_about_the_blobs_the_repositorys_latest_version_has(
        registry: Registry, proxy: FaultProxy, tmp_path: Path) -> None:
    # 5,000 files, one changed, pushed as a new version: 5,000 HEADs (5-11 s) for blobs the previous
    # version's manifest already proves are there.
    model = _model(tmp_path / "m", {"w.safetensors": 2000, **{f"s/{i}.bin": 100 for i in range(20)}})
    repo = _repo(registry, proxy)
    mp.push(model, repo + ":1.9", options=PLAIN)
    (model / "s" / "3.bin").write_bytes(os.urandom(100))
    mp.push(model, repo + ":1.10", options=PLAIN)  # the highest version: what 2.0 is compared with
    (model / "s" / "4.bin").write_bytes(os.urandom(100))
    proxy.clear()
    result = mp.push(model, repo + ":2.0", options=PLAIN)
    blob_heads = proxy.requests("HEAD", "/blobs/")
    assert len(blob_heads) <= 2, blob_heads  # at most the new file and the new config
    uploads = proxy.requests("PUT", "/blobs/uploads/")
    uploaded = {line.split("digest=")[1].split()[0].replace("%3A", ":") for line in uploads}
    assert _digest(model / "s" / "4.bin") in uploaded and len(uploaded) == 2, uploads
    assert (result.copied, result.skipped) == (2, 20)  # 21 layers and a config in all
    mp.pull(repo + ":2.0", output=tmp_path / "out", options=PLAIN, store=LayoutStore(tmp_path / "other"))
    assert tree(tmp_path / "out") == tree(model)


def test_push_to_another_repository_mounts_known_blobs(registry: Registry, proxy: FaultProxy,
                                                        tmp_path: Path) -> None:
    model = _model(tmp_path / "m", {"w.safetensors": 500_000})
    mp.push(model, _repo(registry, proxy) + ":1", options=PLAIN)
    proxy.clear()
    mp.push(model, _repo(registry, proxy) + ":1", options=PLAIN)
    mounts = proxy.requests("POST", "mount=")
    assert mounts, proxy.requests()
    uploaded = " ".join(proxy.requests("PUT", "/blobs/uploads/"))
    assert _digest(model / "w.safetensors").split(":")[1] not in uploaded


def test_pull_with_blobs_in_the_store_downloads_no_blob(registry: Registry, proxy: FaultProxy,
                                                         tmp_path: Path) -> None:
    model = _model(tmp_path / "m", {"w.safetensors": 400_000, "x.onnx": 1000})
    ref = _repo(registry, proxy) + ":1"
    packed = mp.pack(model, ref)
    mp.push(ref, options=PLAIN)
    proxy.clear()
    by_digest = ref.rsplit(":", 1)[0] + "@" + packed.descriptor.digest
    result = mp.pull(by_digest, output=tmp_path / "out", options=PLAIN)
    assert result.copied == 0
    assert proxy.requests("GET", "/blobs/") == []
    assert tree(tmp_path / "out") == tree(model)


def test_inspect_remote_by_digest_makes_one_manifest_and_one_config_request(
    registry: Registry, proxy: FaultProxy, tmp_path: Path
) -> None:
    model = _model(tmp_path / "m", {"w.safetensors": 100_000})
    ref = _repo(registry, proxy) + ":1"
    pushed = mp.push(model, ref, options=PLAIN)
    proxy.clear()
    info = mp.inspect(ref.rsplit(":", 1)[0] + "@" + pushed.descriptor.digest, remote_only=True, options=PLAIN)
    assert info.config is not None
    assert proxy.requests() == [
        f"GET /v2/{ref.split('/', 1)[1].rsplit(':', 1)[0]}/manifests/{pushed.descriptor.digest}",
        f"GET /v2/{ref.split('/', 1)[1].rsplit(':', 1)[0]}/blobs/{info.to_json()['config']['digest']}",
    ]


def test_pull_resumes_a_cut_download_with_range(registry: Registry, proxy: FaultProxy, tmp_path: Path) -> None:
    model = _model(tmp_path / "m", {"big.safetensors": 3_000_000})
    ref = _repo(registry, proxy) + ":1"
    mp.push(model, ref, options=PLAIN)
    digest = _digest(model / "big.safetensors")
    proxy.faults.append(Fault(f"GET .*/blobs/{digest}", times=1, cut_after=1_000_000))
    proxy.clear()
    mp.pull(ref, output=tmp_path / "out", options=PLAIN)
    assert tree(tmp_path / "out") == tree(model)
    gets = proxy.requests("GET", digest)
    assert len(gets) == 2
    assert "[Range: bytes=" in gets[1] and "bytes=0-" not in gets[1]


def test_server_errors_mid_pull_are_retried(registry: Registry, proxy: FaultProxy, tmp_path: Path) -> None:
    model = _model(tmp_path / "m", {"w.safetensors": 100_000})
    ref = _repo(registry, proxy) + ":1"
    mp.push(model, ref, options=PLAIN)
    proxy.faults.append(Fault("GET .*/blobs/", times=2, status=503))
    proxy.faults.append(Fault("GET .*/manifests/", times=1, status=429, headers={"Retry-After": "0"}))
    mp.pull(ref, output=tmp_path / "out", options=PLAIN)
    assert tree(tmp_path / "out") == tree(model)


def test_pull_heals_a_blob_corrupted_in_the_store(registry: Registry, tmp_path: Path) -> None:
    model = _model(tmp_path / "m", {"w.safetensors": 200_000})
    ref = registry.repo() + ":1"
    mp.push(model, ref, options=PLAIN)
    mp.pull(ref, output=tmp_path / "out", options=PLAIN, keep=True)
    blob = LayoutStore().blob_path(_digest(model / "w.safetensors"))
    # Damaged behind modelpack's back (a disk error, an old hard-linked output edited in place):
    # the next pull notices and fetches it again.
    os.chmod(blob, 0o644)
    with open(blob, "r+b") as f:
        f.write(b"edited")
    result = mp.pull(ref, output=tmp_path / "again", options=PLAIN, keep=True)
    assert result.copied == 1
    assert tree(tmp_path / "again") == tree(model)
    assert hashlib.sha256(blob.read_bytes()).hexdigest() == blob.name  # the store's copy is whole again
    # Without --keep the corrupt blob is not used either: it is downloaded instead.
    os.chmod(blob, 0o644)
    with open(blob, "r+b") as f:
        f.write(b"edited")
    result = mp.pull(ref, output=tmp_path / "third", options=PLAIN)
    assert result.copied == 1 and tree(tmp_path / "third") == tree(model)
    assert not blob.exists()


BIG = 40 * 1024 * 1024  # above the size at which uploads start before the digest is known


def test_large_file_uploads_while_it_is_hashed(registry: Registry, proxy: FaultProxy, tmp_path: Path) -> None:
    model = _model(tmp_path / "m", {"big.safetensors": BIG, "config.json": 100})
    ref = _repo(registry, proxy) + ":1"
    result = mp.push(model, ref, options=PLAIN)
    digest = _digest(model / "big.safetensors")
    assert proxy.requests("PATCH", "/blobs/uploads/"), "streamed without knowing the digest"
    assert any(digest.replace(":", "%3A") in line or digest in line for line in proxy.requests("PUT"))
    assert result.copied == 3
    mp.pull(ref, output=tmp_path / "out", options=PLAIN, store=LayoutStore(tmp_path / "other"))
    assert tree(tmp_path / "out") == tree(model)


def test_speculative_upload_is_abandoned_when_the_registry_has_the_blob(
    registry: Registry, proxy: FaultProxy, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = _model(tmp_path / "m", {"big.safetensors": BIG})
    ref = _repo(registry, proxy) + ":1"
    mp.push(model, ref, options=PLAIN)
    # Another machine (nothing cached) pushes the same weights under a new tag, and a new name (at the
    # name and size tag 1 records, the file is taken as unchanged and nothing is speculated).
    monkeypatch.setenv("MODELPACK_HOME", str(tmp_path / "machine-b"))
    (model / "big.safetensors").rename(model / "renamed.safetensors")
    proxy.clear()
    result = mp.push(model, ref.rsplit(":", 1)[0] + ":2", options=PLAIN)
    digest = _digest(model / "renamed.safetensors")
    assert result.skipped >= 1 and result.bytes < 1024 * 1024  # at most the new config went up
    assert not [line for line in proxy.requests("PUT") if digest.split(":")[1] in line]
    assert proxy.requests("DELETE", "/blobs/uploads/"), "the abandoned upload session is cancelled"


def test_equal_large_files_upload_their_bytes_once(registry: Registry, proxy: FaultProxy, tmp_path: Path) -> None:
    # Two files of equal bytes, both large enough to start uploading before their digest is known: one
    # blob, committed once; the other upload stops once the digests match (or never starts).
    model = _model(tmp_path / "m", {"a.safetensors": BIG})
    (model / "b.safetensors").write_bytes((model / "a.safetensors").read_bytes())
    ref = _repo(registry, proxy) + ":1"
    result = mp.push(model, ref, options=PLAIN)
    hexdigest = _digest(model / "a.safetensors").split(":")[1]
    commits = [line for line in proxy.requests("PUT", "/blobs/uploads/") if hexdigest in line]
    assert len(commits) == 1, commits
    started = proxy.requests("POST", "/blobs/uploads/")
    assert len(started) - len(proxy.requests("DELETE", "/blobs/uploads/")) == 2, started  # the weight, the config
    assert result.copied == 2 and result.bytes < BIG + 1024 * 1024
    mp.pull(ref, output=tmp_path / "out", options=PLAIN, store=LayoutStore(tmp_path / "other"))
    assert tree(tmp_path / "out") == tree(model)


def test_registry_refusing_streamed_upload_falls_back_to_a_plain_put(
    registry: Registry, proxy: FaultProxy, tmp_path: Path
) -> None:
    model = _model(tmp_path / "m", {"big.safetensors": BIG})
    ref = _repo(registry, proxy) + ":1"
    proxy.faults.append(Fault("PATCH ", times=1, status=405))
    mp.push(model, ref, options=PLAIN)
    digest = _digest(model / "big.safetensors")
    assert [line for line in proxy.requests("PUT") if digest.split(":")[1] in line]
    mp.pull(ref, output=tmp_path / "out", options=PLAIN, store=LayoutStore(tmp_path / "other"))
    assert tree(tmp_path / "out") == tree(model)


@pytest.mark.usefixtures("settled_files")
def test_second_pack_of_an_unchanged_model_reads_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = _model(tmp_path / "m", {"w.safetensors": 100_000, "x.bin": 10})
    first = mp.describe(model).descriptor.digest
    import modelpack.oci.digest as digests

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a cached file was hashed again")

    monkeypatch.setattr(digests, "of_stream", refuse)
    assert mp.describe(model).descriptor.digest == first
    (model / "x.bin").write_bytes(b"changed")
    monkeypatch.undo()
    assert mp.describe(model).descriptor.digest != first


def test_a_file_changed_a_moment_ago_is_hashed_again_next_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A file rewritten within one timestamp tick keeps its stat (size, mtime, ctime): a digest kept for
    # it could be the previous content's. Such a recent file's digest is not kept (git's "racily clean").
    model = _model(tmp_path / "m", {"w.safetensors": 100_000})
    from modelpack.packing import hashcache

    changed = os.stat(model / "w.safetensors").st_ctime_ns
    monkeypatch.setattr(hashcache.time, "time_ns", lambda: changed + hashcache.RACY_NS // 2)
    first = mp.describe(model).descriptor.digest
    import modelpack.oci.digest as digests

    hashed = []
    real = digests.of_stream
    monkeypatch.setattr(digests, "of_stream", lambda *a, **k: hashed.append(1) or real(*a, **k))
    monkeypatch.setattr(hashcache.time, "time_ns", lambda: changed + 3 * hashcache.RACY_WHOLE_SECONDS_NS)
    assert mp.describe(model).descriptor.digest == first
    assert hashed == [1]  # read again, being recent when it was last hashed; and now kept:
    assert mp.describe(model).descriptor.digest == first and hashed == [1]


def test_a_file_edited_while_it_is_hashed_is_hashed_again_next_time(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    # The cache must vouch for a digest with what stat said before the bytes were read: an edit (same
    # size) between the read and the cache's entry left the old digest under the new file's stat.
    model = _model(tmp_path / "m", {"w.safetensors": 100_000})
    import modelpack.oci.digest as digests

    hashed = digests.of_stream

    def edited_after_reading(*args: object, **kwargs: object) -> tuple[str, int]:
        result = hashed(*args, **kwargs)  # type: ignore[arg-type]
        with open(model / "w.safetensors", "r+b") as f:
            f.write(b"edited")
        return result

    monkeypatch.setattr(digests, "of_stream", edited_after_reading)
    mp.describe(model)
    monkeypatch.setattr(digests, "of_stream", hashed)  # (not undo(): that would leave MODELPACK_HOME too)
    layer = mp.describe(model).layers[0].descriptor
    assert layer.digest == _digest(model / "w.safetensors")


def test_a_proxy_from_the_environment_carries_every_request(registry: Registry, proxy: FaultProxy,
                                                             tmp_path: Path) -> None:
    """HTTP_PROXY is honoured for every request of a command (the settings are read once per host), and
    NO_PROXY still bypasses it."""
    model = _model(tmp_path / "m", {"a.safetensors": 300_000, "b.bin": 1000})
    ref = registry.repo() + ":p"
    mp.push(model, ref, options=PLAIN)
    base = {"HTTP_PROXY": f"http://{proxy.host}", "http_proxy": f"http://{proxy.host}",
            "MODELPACK_HOME": str(tmp_path / "home")}
    proxy.clear()
    run = modelpack("pull", "--plain-http", ref, "-o", str(tmp_path / "out"),
                    env={**base, "NO_PROXY": "", "no_proxy": ""})
    assert run.code == 0, run.err
    assert tree(tmp_path / "out") == tree(model)
    seen = proxy.requests()
    assert len([line for line in seen if "/blobs/sha256:" in line]) >= 3, seen  # config and both files
    assert all(f"http://{registry.host}/v2/" in line for line in seen), seen  # absolute URIs: a forward proxy
    proxy.clear()
    run = modelpack("pull", "--plain-http", ref, "-o", str(tmp_path / "out2"),
                    env={**base, "MODELPACK_HOME": str(tmp_path / "home2"), "NO_PROXY": "127.0.0.1",
                         "no_proxy": "127.0.0.1"})
    assert run.code == 0, run.err
    assert proxy.requests() == []


def test_a_proxy_url_with_a_user_and_password_authenticates_to_the_proxy(registry: Registry, proxy: FaultProxy,
                                                                          tmp_path: Path) -> None:
    """The user and password in HTTP_PROXY (percent-encoded) reach the proxy as Proxy-Authorization, and
    a proxy refusing them is one line naming the status."""
    model = _model(tmp_path / "m", {"a.bin": 1000})
    ref = registry.repo() + ":auth"
    mp.push(model, ref, options=PLAIN)
    proxy.proxy_auth = "Basic " + __import__("base64").b64encode(b"me:p@ss").decode()
    base = {"MODELPACK_HOME": str(tmp_path / "home"), "NO_PROXY": "", "no_proxy": ""}
    good = f"http://me:p%40ss@{proxy.host}"
    run = modelpack("pull", "--plain-http", ref, "-o", str(tmp_path / "out"),
                    env={**base, "HTTP_PROXY": good, "http_proxy": good})
    assert run.code == 0, run.err
    assert tree(tmp_path / "out") == tree(model)
    assert proxy.requests(contains="/blobs/sha256:"), "the blobs came through the proxy"
    bad = f"http://me:wrong@{proxy.host}"
    run = modelpack("pull", "--plain-http", ref, "-o", str(tmp_path / "out2"),
                    env={**base, "HTTP_PROXY": bad, "http_proxy": bad, "MODELPACK_HOME": str(tmp_path / "h2")})
    assert run.code != 0
    assert "407" in run.err and "Traceback" not in run.err, run.err
    assert len(run.err.strip().splitlines()) == 1, run.err


def test_the_curl_engine_thread_ends_when_idle_and_comes_back(registry: Registry,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Small exchanges run on one libcurl thread per client; it ends after a quiet spell (a long-lived
    process keeps no idle thread) and the next request starts it again; a refused connection is a
    CurlFailure that reads as refused, not a hang."""
    import threading
    import time

    from modelpack.store import curl_engine

    monkeypatch.setattr(curl_engine, "IDLE_EXIT", 0.2)
    engine = curl_engine.CurlEngine(verify=True)

    def get(url: str) -> curl_engine.Answer:
        return engine.exchange(curl_engine.Exchange("GET", url, {}, None, 1024, 2.0, 5.0, 5.0, 1, ""))

    assert get(f"http://{registry.host}/v2/").status == 200
    assert any(t.name == "modelpack-curl" for t in threading.enumerate())
    deadline = time.monotonic() + 10
    while engine._thread is not None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert engine._thread is None
    assert get(f"http://{registry.host}/v2/").status == 200
    with pytest.raises(curl_engine.CurlFailure) as failure:
        get("http://127.0.0.1:9/v2/")
    assert "refused" in str(failure.value)
    answer = get(f"http://{registry.host}/v2/_catalog")
    assert answer.status == 200 and answer.headers.get("content-type", "").startswith("application/json")


def test_small_uploads_handed_back_after_a_refusal_still_arrive(registry: Registry, proxy: FaultProxy,
                                                                tmp_path: Path) -> None:
    """Small files go up as callbacks on the curl engine; a refused POST or PUT (503 here, a 401 before
    credentials are settled elsewhere) hands the file back to the ordinary path, which retries it. Every
    file arrives, none is sent twice once accepted."""
    model = _model(tmp_path / "m", {f"part-{i:02d}.bin": 20_000 + i for i in range(30)})
    proxy.faults.append(Fault("POST .*/blobs/uploads/", times=3, status=503))
    proxy.faults.append(Fault("PUT .*/blobs/uploads/", times=3, status=503))
    ref = f"{proxy.host}/{registry.repo().split('/', 1)[1]}:q"
    result = mp.push(model, ref, options=ClientOptions(plain_http=True, backoff=0.01))
    assert result.copied == 31  # 30 files and the config
    accepted = [line for line, status in proxy.log if line.startswith("PUT") and "/blobs/uploads/" in line
                and status == 201]
    assert len(accepted) == 31, proxy.log
    out = tmp_path / "out"
    mp.pull(ref, output=out, options=PLAIN)
    assert {name: data for name, data in tree(out).items() if name != "modelpack.yaml"} == tree(model)


def test_small_downloads_handed_back_after_a_refusal_or_a_cut_still_arrive(registry: Registry, proxy: FaultProxy,
                                                                           tmp_path: Path) -> None:
    """Small blobs of a `pull -o` are fetched as callbacks on the curl engine; a refused GET or one cut
    mid-body hands the blob back to the ordinary path, which retries it. Every file arrives intact and the
    hidden download folder is gone."""
    model = _model(tmp_path / "m", {f"part-{i:02d}.bin": 20_000 + i for i in range(30)})
    ref = f"{proxy.host}/{registry.repo().split('/', 1)[1]}:f"
    mp.push(model, ref, options=PLAIN)
    proxy.faults.append(Fault("GET .*/blobs/", times=3, status=503))
    proxy.faults.append(Fault("GET .*/blobs/", times=2, cut_after=100))
    out = tmp_path / "out"
    mp.pull(ref, output=out, options=ClientOptions(plain_http=True, backoff=0.01))
    assert {name: data for name, data in tree(out).items() if name != "modelpack.yaml"} == tree(model)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".modelpack")]
    gets = [status for line, status in proxy.log if line.startswith("GET") and "/blobs/" in line]
    assert gets.count(503) == 3 and gets.count(200) >= 31
