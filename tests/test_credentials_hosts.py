"""Credentials go only to the host that asked for them: redirects, `Link` pages and upload locations on
another host, and token realms on plain HTTP behind HTTPS, never see the registry's password."""

from __future__ import annotations

import base64
import json
import os
import ssl
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

import modelpack as mp
from helpers import modelpack
from hostile_registry import OCI_MANIFEST, HostileRegistry, model_content, reply, serve_content, weights_digest
from modelpack.store.options import ClientOptions
from registry_process import Registry, self_signed_certificate

SECRET = "registry-S3cret"
BASIC = "Basic " + base64.b64encode(f"alice:{SECRET}".encode()).decode()
Answer = Callable[[BaseHTTPRequestHandler], None]


def login_to(host: str) -> None:
    """alice's password for `host` in the docker config the test runs with."""
    path = Path(os.environ["DOCKER_CONFIG"]) / "config.json"
    path.write_text(json.dumps({"auths": {host: {"auth": BASIC.removeprefix("Basic ")}}}))


def basic_only(answer: Answer) -> Answer:
    def guarded(handler: BaseHTTPRequestHandler) -> None:
        if handler.headers.get("Authorization") != BASIC:
            reply(handler, 401, b"", {"WWW-Authenticate": 'Basic realm="a"'})
        else:
            answer(handler)

    return guarded


def bearer_host(server: HostileRegistry, answer: Answer) -> None:
    """`server` asks for a bearer token from its own realm, hands one to anyone, and then answers."""
    server.routes["GET /token"] = lambda h: reply(h, 200, json.dumps({"token": "b-token"}))

    def guarded(handler: BaseHTTPRequestHandler) -> None:
        if handler.headers.get("Authorization") != "Bearer b-token":
            reply(handler, 401, b"", {"WWW-Authenticate": f'Bearer realm="http://localhost:{server.port}/token"'})
        else:
            answer(handler)

    server.routes[""] = guarded


def assert_never_saw_the_secret(server: HostileRegistry) -> None:
    assert server.seen, "the other host was never asked: the test proves nothing"
    for auth in server.authorizations():
        assert auth != BASIC and SECRET not in base64.b64decode(auth.split()[-1] + "==").decode(errors="replace"), auth


def test_a_blob_redirected_to_another_host_gets_that_hosts_auth_only(tmp_path: Path) -> None:
    content = model_content()
    layer = weights_digest(content)
    with HostileRegistry() as registry, HostileRegistry() as storage:
        bearer_host(storage, lambda h: reply(h, 200, content[layer][1]))
        redirect = lambda h: reply(h, 307, b"", {"Location": f"http://localhost:{storage.port}/blob/{layer}"})  # noqa: E731
        registry.routes[f"GET /v2/a/b/blobs/{layer}"] = basic_only(redirect)
        registry.routes[r"^(GET|HEAD) /v2/a/b/"] = basic_only(serve_content(content))
        registry.routes["/v2/"] = basic_only(lambda h: reply(h, 200, b"{}"))
        login_to(registry.host)
        result = modelpack("pull", "--plain-http", f"{registry.host}/a/b:1", "-o", str(tmp_path / "out"))
    assert_never_saw_the_secret(storage)
    assert result.code == 0, result.err
    assert (tmp_path / "out" / "w.bin").read_bytes() == content[layer][1]


def test_a_link_page_on_another_host_gets_no_credentials() -> None:
    with HostileRegistry() as registry, HostileRegistry() as other:
        other.routes["/tags/list"] = lambda h: reply(h, 200, json.dumps({"name": "a/b", "tags": ["2"]}))
        registry.routes["/tags/list"] = basic_only(lambda h: reply(h, 200, json.dumps({"tags": ["1"]}), {
            "Link": f'<http://localhost:{other.port}/v2/a/b/tags/list?last=1>; rel="next"'}))
        registry.routes["/v2/"] = basic_only(lambda h: reply(h, 404, b""))
        login_to(registry.host)
        modelpack("ls", "--plain-http", f"{registry.host}/a/b")
    assert_never_saw_the_secret(other)


def test_an_upload_location_on_another_host_gets_no_credentials(tmp_path: Path) -> None:
    model = tmp_path / "m"
    model.mkdir()
    (model / "w.bin").write_bytes(os.urandom(1000))
    with HostileRegistry() as registry, HostileRegistry() as other:
        location = {"Location": f"http://localhost:{other.port}/upload/1?state=x"}
        other.routes["^PATCH"] = lambda h: reply(h, 202, b"", location)
        other.routes["^PUT"] = lambda h: reply(h, 201, b"")
        other.routes[""] = lambda h: reply(h, 202, b"")
        registry.routes["^POST /v2/a/b/blobs/uploads/"] = basic_only(lambda h: reply(h, 202, b"", location))
        registry.routes["^PUT /v2/a/b/manifests/"] = basic_only(lambda h: reply(h, 201, b""))
        registry.routes["^GET /v2/$"] = basic_only(lambda h: reply(h, 200, b"{}"))  # as every registry answers
        registry.routes["/v2/"] = basic_only(lambda h: reply(h, 404, b""))
        login_to(registry.host)
        mp.push(model, f"{registry.host}/a/b:1", options=ClientOptions(plain_http=True, backoff=0.01))
    assert_never_saw_the_secret(other)


def test_a_plain_http_token_realm_behind_https_gets_no_password(tmp_path: Path) -> None:
    cert, key = self_signed_certificate(tmp_path)
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    content = model_content()
    with HostileRegistry() as registry, HostileRegistry() as realm:
        registry._server.socket = tls.wrap_socket(registry._server.socket, server_side=True)
        realm.routes["GET /token"] = lambda h: reply(h, 200, json.dumps({"token": "t"}))

        def bearer(handler: BaseHTTPRequestHandler) -> None:
            if handler.headers.get("Authorization") != "Bearer t":
                reply(handler, 401, b"", {"WWW-Authenticate": f'Bearer realm="http://localhost:{realm.port}/token"'})
            else:
                serve_content(content)(handler)

        registry.routes[""] = bearer
        login_to(registry.host)
        result = modelpack("pull", "--insecure", f"{registry.host}/a/b:1", "-o", str(tmp_path / "out"))
    assert_never_saw_the_secret(realm)
    assert result.code == 0, result.err


def test_a_mirror_and_where_it_redirects_never_see_the_origins_password(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from modelpack.store.credentials import Credentials

    content = model_content(os.urandom(2_000_000))  # a streamed blob and a small one (the curl engine's)
    with HostileRegistry() as origin, HostileRegistry() as mirror, HostileRegistry() as storage:
        origin.routes[""] = basic_only(serve_content(content))
        # The mirror asks for a password for manifests (a cache needing one: it gets none, and is passed
        # over) and sends blobs to its storage, which asks for one too.
        mirror.routes["/blobs/"] = lambda h: reply(h, 307, b"", {"Location": f"http://{storage.host}/o{h.path}"})
        mirror.routes[""] = basic_only(serve_content(content))
        storage.routes[""] = basic_only(serve_content(content))
        conf = tmp_path / "registries.conf"
        conf.write_text(f'[[registry]]\nlocation = "{origin.host}"\n[[registry.mirror]]\nlocation = "{mirror.host}"\n')
        monkeypatch.setenv("CONTAINERS_REGISTRIES_CONF", str(conf))
        monkeypatch.setenv("MODELPACK_HOME", str(tmp_path / "home"))
        given = ClientOptions(plain_http=True, credentials=Credentials("alice", SECRET))
        mp.pull(f"{origin.host}/team/m:1", output=tmp_path / "out", options=given)
        login_to(origin.host)  # and the same password read from the docker config, by the CLI
        pulled = modelpack("pull", "--plain-http", f"{origin.host}/team/m:1", "-o", str(tmp_path / "out2"))
        assert pulled.code == 0, pulled.err
    assert (tmp_path / "out" / "w.bin").read_bytes() == (tmp_path / "out2" / "w.bin").read_bytes()
    assert BASIC in origin.authorizations()
    assert_never_saw_the_secret(mirror)
    assert_never_saw_the_secret(storage)


@pytest.mark.parametrize("url", [
    "https://Reg.Example:5000/v2/m/blobs/sha256:ab", "http://user:pw@reg.example/v2/", "https://reg.example",
    "https://reg.example?x=/a/b", "https://reg.example#f/g/h", "https://a@b@reg.example:1/x",
    "https://reg.exa\tmple/v2/x", "HTTPS://REG.EXAMPLE/", "reg.example/v2/x", "//reg.example/x/y",
    "https://[::1]:5000/v2/", "https://reg.example\\@evil.example/x", "https://evil.example\\/reg.example/x",
])
def test_an_origin_is_what_urlsplit_says_of_the_whole_url(url: str) -> None:
    # origin() parses only the URL's head (before the third "/") and caches it: credentials are bound
    # by it, so it must agree with a parse of the whole URL, whatever the URL holds.
    import urllib.parse

    from modelpack.store.hostauth import origin

    parts = urllib.parse.urlsplit(url)
    assert origin(url) == f"{parts.scheme}://{parts.netloc.rsplit('@', 1)[-1]}".lower()


def tls_registry(registry: HostileRegistry, tmp_path: Path) -> None:
    """`registry` speaks HTTPS (a self-signed certificate: clients pass --insecure)."""
    cert, key = self_signed_certificate(tmp_path)
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    registry._server.socket = tls.wrap_socket(registry._server.socket, server_side=True)


@pytest.mark.parametrize("size", [1000, 2_000_000])  # the curl engine's quick upload, and a streamed one
def test_an_https_registrys_upload_location_in_plain_http_is_refused(tmp_path: Path, size: int) -> None:
    # As a redirect from HTTPS to HTTP is refused: the model's bytes (and a bearer token, where the plain
    # host asks for one) would cross the network in the clear, where the user asked for HTTPS.
    from modelpack.errors import RegistryError

    model = tmp_path / "m"
    model.mkdir()
    (model / "w.bin").write_bytes(os.urandom(size))
    with HostileRegistry() as registry, HostileRegistry() as plain:
        tls_registry(registry, tmp_path)
        plain.routes[""] = lambda h: reply(h, 201 if h.command == "PUT" else 202, b"",
                                           {"Location": f"http://{plain.host}/upload/1"})
        registry.routes["^POST /v2/a/b/blobs/uploads/"] = lambda h: reply(
            h, 202, b"", {"Location": f"http://{plain.host}/upload/1?state=x"})
        with pytest.raises(RegistryError, match="plain HTTP"):
            mp.push(model, f"{registry.host}/a/b:1", options=ClientOptions(insecure=True, backoff=0.01))
        assert registry.requests("POST /v2/a/b/blobs/uploads/"), "the registry was never asked: proves nothing"
    assert plain.seen == []


def test_an_https_registrys_next_page_in_plain_http_is_refused(tmp_path: Path) -> None:
    with HostileRegistry() as registry, HostileRegistry() as plain:
        tls_registry(registry, tmp_path)
        plain.routes["/tags/list"] = lambda h: reply(h, 200, json.dumps({"name": "a/b", "tags": ["2"]}))
        registry.routes["/tags/list"] = lambda h: reply(h, 200, json.dumps({"tags": ["1"]}), {
            "Link": f'<http://{plain.host}/v2/a/b/tags/list?last=1>; rel="next"'})
        listed = modelpack("ls", "--insecure", "--json", f"{registry.host}/a/b")
        assert registry.requests("/tags/list"), "the registry was never asked: proves nothing"
    assert plain.seen == []
    assert listed.code == 1 and "plain HTTP" in listed.err, listed


@pytest.mark.parametrize("scheme", ["basic", "bearer"])
def test_plain_http_asked_for_the_registry_sends_no_other_hosts_password_in_the_clear(tmp_path: Path,
                                                                                   scheme: str) -> None:
    # --plain-http is the user's word about the registry: a plain-HTTP host a blob is redirected to does
    # not get its own saved password (nor a token asked with it) over plain HTTP on that word.
    content = model_content()
    layer = weights_digest(content)
    with HostileRegistry() as registry, HostileRegistry() as storage:
        if scheme == "basic":
            storage.routes[""] = basic_only(serve_content(content))
        else:
            storage.routes["GET /token"] = lambda h: reply(h, 200, json.dumps({"token": "t"}))
            storage.routes[""] = lambda h: reply(h, 401, b"", {
                "WWW-Authenticate": f'Bearer realm="http://{storage.host}/token"'})
        registry.routes[f"GET /v2/a/b/blobs/{layer}"] = lambda h: reply(
            h, 307, b"", {"Location": f"http://{storage.host}/blob/{layer}"})
        registry.routes[""] = serve_content(content)
        login_to(storage.host)
        result = modelpack("pull", "--plain-http", f"{registry.host}/a/b:1", "-o", str(tmp_path / "out"))
        assert storage.seen, "the storage host was never asked: the test proves nothing"
        assert all(auth != BASIC for _, auth in storage.seen), storage.seen
    assert result.code == 4, result  # a token asked without the password (as a plain realm behind HTTPS) is refused
    assert scheme == "bearer" or "asks for a password over plain HTTP; refused" in result.err, result.err


def test_a_redirect_whose_host_parsers_disagree_on_gets_no_credentials(tmp_path: Path) -> None:
    # `http://STORAGE\@REGISTRY/x`: urllib.parse (which binds credentials to a host) reads REGISTRY, with
    # `STORAGE\` as a user name; urllib3 (which streams large blobs) ends the host at the backslash and
    # connected to STORAGE, sending it the registry's password. No URL holds a backslash (RFC 3986).
    content = model_content(os.urandom(2_000_000))  # streamed by urllib3, not read whole by the curl engine
    layer = weights_digest(content)
    with HostileRegistry() as registry, HostileRegistry() as storage:
        storage.routes[""] = serve_content(content)
        registry.routes[f"GET /v2/a/b/blobs/{layer}"] = basic_only(lambda h: reply(h, 307, b"", {
            "Location": f"http://{storage.host}\\@{registry.host}/v2/a/b/blobs/{layer}"}))
        registry.routes[""] = basic_only(serve_content(content))
        login_to(registry.host)
        result = modelpack("pull", "--plain-http", f"{registry.host}/a/b:1", "-o", str(tmp_path / "out"))
        assert registry.requests(f"GET /v2/a/b/blobs/{layer}"), "the blob was never asked for: proves nothing"
    assert storage.authorizations() == []
    assert result.code == 1 and "unusable URL" in result.err, result


def test_a_delete_redirected_to_a_registry_the_user_is_logged_in_to_is_refused(
        fresh_registry: Callable[..., Registry], tmp_path: Path) -> None:
    # Each hop is authenticated for its own host, so a hostile registry answering `rm --remote`'s DELETE
    # with a 307 to another registry's manifest had it deleted there, with the user's credentials for it.
    from conftest import AUTH_PASSWORD, AUTH_USER
    from helpers import htpasswd_file

    cert, key = self_signed_certificate(tmp_path)
    victim = fresh_registry(tls=(cert, key), auth_htpasswd=htpasswd_file(tmp_path / "htpasswd", AUTH_USER,
                                                                         AUTH_PASSWORD))
    tls = ClientOptions(ca_file=str(cert))
    mp.login(victim.host, AUTH_USER, AUTH_PASSWORD, options=tls)
    model = tmp_path / "m"
    model.mkdir()
    (model / "w.bin").write_bytes(os.urandom(1000))
    digest = mp.push(model, f"{victim.host}/team/m:1", options=tls).descriptor.digest
    manifest = _manifest(victim.host, f"team/m/manifests/{digest}", cert, f"{AUTH_USER}:{AUTH_PASSWORD}")
    with HostileRegistry() as hostile:
        hostile.routes["^DELETE "] = lambda h: reply(h, 307, b"", {
            "Location": f"https://{victim.host}/v2/team/m/manifests/{digest}"})
        hostile.routes["/tags/list"] = lambda h: reply(h, 200, json.dumps({"name": "x/y", "tags": []}))
        hostile.routes[r"^(GET|HEAD) /v2/x/y/"] = serve_content({digest: (OCI_MANIFEST, manifest)})
        removed = modelpack("rm", "--remote", "--yes", "--plain-http", "--ca-file", str(cert),
                            f"{hostile.host}/x/y@{digest}")
        assert hostile.requests("DELETE"), "the hostile registry was never asked: proves nothing"
    assert removed.code == 1 and "to another host" in removed.err, removed
    assert mp.resolve(f"{victim.host}/team/m:1", options=tls).digest == digest  # still there


def _manifest(host: str, path: str, cert: Path, user: str) -> bytes:
    """The bytes of a manifest on an HTTPS registry with Basic auth (to serve them from elsewhere)."""
    import urllib.request

    request = urllib.request.Request(f"https://{host}/v2/{path}", headers={
        "Accept": OCI_MANIFEST, "Authorization": "Basic " + base64.b64encode(user.encode()).decode()})
    with urllib.request.urlopen(request, context=ssl.create_default_context(cafile=str(cert))) as answer:
        return bytes(answer.read())


@pytest.mark.parametrize("size", [1000, 2_000_000])  # the curl engine's quick upload, and a streamed one
def test_an_upload_location_on_a_host_the_user_is_logged_in_to_gets_no_credentials(tmp_path: Path,
                                                                                  size: int) -> None:
    # The upload's PATCH/PUT (and the DELETE cancelling it) go where the registry says: a write on another
    # host that the user is logged in to went with the user's credentials for it, for a request the
    # hostile registry chose (a Location naming a manifest there).
    model = tmp_path / "m"
    model.mkdir()
    (model / "w.bin").write_bytes(os.urandom(size))
    with HostileRegistry() as registry, HostileRegistry() as victim:
        tls_registry(victim, tmp_path)
        victim.routes[""] = basic_only(lambda h: reply(h, 201, b""))
        registry.routes["^POST /v2/a/b/blobs/uploads/"] = lambda h: reply(h, 202, b"", {
            "Location": f"https://{victim.host}/v2/team/m/manifests/latest"})
        login_to(victim.host)
        pushed = modelpack("push", "--plain-http", "--insecure", str(model), f"{registry.host}/a/b:1")
        assert victim.seen, "the other host was never asked: proves nothing"
    assert_never_saw_the_secret(victim)
    assert pushed.code == 4, pushed
