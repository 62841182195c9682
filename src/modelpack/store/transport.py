"""HTTP exchanges on urllib3's connection pools, without requests.

requests costs ~0.6 ms of CPU per request on top of urllib3 (session and settings merging, hooks,
cookies, a prepared request and a response object per call): measured over 2,000 HEADs to a local
Distribution registry, 0.91 ms per request through `requests.Session` against 0.30 ms through a
urllib3 pool. A model of 2,000 small files is ~4,000 requests, so that was seconds of a push. What
requests gave us is done here in a few lines: TLS settings (the system's CA bundle or certifi's, a
CA file or folder, or no checks), HTTP(S)_PROXY / NO_PROXY per origin (with the proxy URL's user and
password), and a small response object. Redirects, retries, authentication and body caps stay in `client`/`bodies`.

Every connection's responses read their socket through the current `Watch` (see `watch`). urllib3 itself
is imported with the pools, on the first request (`stream_pools`): most commands send none (`wire_errors`).
"""

from __future__ import annotations

import os
import threading
import urllib.parse
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from modelpack.advice import Wording
from modelpack.errors import UsageError
from modelpack.oci.jsontext import parse_or_none
from modelpack.store.curl_engine import Answer
from modelpack.store.headers import Headers
from modelpack.store.options import trusted_certificates

if TYPE_CHECKING:
    import urllib3

_SOCKS_EXTRA = "pip install 'modelpack[socks]'"
DEFAULT_HEADERS = {"User-Agent": "modelpack", "Accept-Encoding": "identity", "Accept": "*/*"}


class Response:
    """A registry's answer: status and headers, the body left on the wire in `raw` (urllib3's response)
    until `bodies` reads it; `content` holds it once read. An answer read whole by the curl engine has no
    `raw`: its body is in `content` already (`overflow`: it went past the cap it was read under)."""

    __slots__ = ("authorized", "content", "headers", "method", "overflow", "raw", "status_code", "url", "watch")

    def __init__(self, raw: urllib3.BaseHTTPResponse | None, url: str, method: str, authorized: bool, *,
                 answer: Answer | None = None) -> None:
        self.raw = raw
        self.status_code = raw.status if raw is not None else answer.status if answer else 0
        self.headers = raw.headers if raw is not None else answer.headers if answer else Headers()
        self.url = url
        self.method = method
        self.authorized = authorized  # whether the request carried credentials
        self.content = answer.body if answer is not None else b""
        self.overflow = answer.overflow if answer is not None else False
        self.watch: Any = None

    def json(self) -> Any:
        """The body as JSON, or None when it is not JSON."""
        return parse_or_none(self.content)

    def close(self) -> None:
        """Drop the connection (a body left unread cannot be reused) and give its slot back to the pool."""
        if self.raw is not None:
            self.raw.close()
            self.raw.release_conn()

    def __enter__(self) -> Response:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Transport:
    """Connection pools for one TLS setting, shared by all threads (urllib3's pools are thread-safe).

    Args:
        verify: True for the system's CA bundle (else certifi's), a CA file or folder path, or False
            for no certificate checks.
    """

    def __init__(self, verify: bool | str = True) -> None:
        self._pool_kw = _tls_settings(verify)
        # proxy URL ("" for none) -> its pools, made on its first request (see stream_pools)
        self._managers: dict[str, urllib3.PoolManager] = {}
        self._proxies: dict[str, str] = {}  # origin -> proxy URL, "" for none
        self._lock = threading.Lock()

    def request(self, method: str, url: str, headers: Mapping[str, str], body: Any, timeout: tuple[float, float],
                length: int | None = None) -> Response:
        """Send one request and return once the response's headers are in; its body is left unread.

        Args:
            body: bytes, a readable object (sent as it reads, `length` bytes), or None.
            timeout: (connect, read) seconds; reads are further bounded by the thread's `Watch`.

        Raises:
            urllib3.exceptions.HTTPError, OSError: the exchange failed (see `timed_out`).
        """
        sent = {**DEFAULT_HEADERS, **headers}
        if length is not None:
            sent["Content-Length"] = str(length)
        from modelpack.store.stream_pools import open_response

        raw = open_response(self._manager_for(url), method, url, sent, body, timeout)
        return Response(raw, url, method, "Authorization" in sent)

    def close(self) -> None:
        """Close every pooled connection (the pools open new ones if used again)."""
        with self._lock:
            managers = list(self._managers.values())
        for manager in managers:
            manager.clear()

    def proxy(self, url: str) -> str:
        """The proxy for `url`'s origin ("" for none), looked up in the environment once per origin."""
        origin = "/".join(url.split("/", 3)[:3])
        proxy = self._proxies.get(origin)
        if proxy is None:
            proxy = self._proxies[origin] = proxy_for(origin)
        return proxy

    def _manager_for(self, url: str) -> urllib3.PoolManager:
        proxy = self.proxy(url)
        with self._lock:
            manager = self._managers.get(proxy)
            if manager is None:
                manager = self._managers[proxy] = self._manager(proxy)
            return manager

    def _manager(self, proxy: str) -> urllib3.PoolManager:
        from modelpack.store.stream_pools import pool_manager

        try:
            return pool_manager(proxy or None, self._pool_kw)
        except ImportError:  # PySocks: urllib3's [socks] extra
            if not proxy.lower().startswith("socks"):
                raise
            parts = urllib.parse.urlsplit(proxy)  # (never its user name or password)
            raise UsageError(f"the proxy {parts.scheme}://{parts.hostname}:{parts.port} is a SOCKS proxy: "
                             "modelpack reaches one through PySocks, which is not installed",
                             advice=Wording(_SOCKS_EXTRA, _SOCKS_EXTRA)) from None


def proxy_for(origin: str) -> str:
    """The proxy URL for `origin` ("scheme://host:port") from HTTP(S)_PROXY / ALL_PROXY and NO_PROXY,
    as requests reads them; "" for a direct connection."""
    if not any(name.lower().endswith("_proxy") and name.lower() != "no_proxy" for name in os.environ):
        return ""  # the common case, without importing requests (~30 ms)
    import requests.utils  # its NO_PROXY rules (CIDR blocks, ports, suffixes); read once per origin

    proxies = requests.utils.get_environ_proxies(origin + "/")
    proxy = requests.utils.select_proxy(origin + "/", proxies) or ""
    if proxy and "://" not in proxy:
        proxy = "http://" + proxy
    return proxy


def _tls_settings(verify: bool | str) -> dict[str, Any]:
    trust = trusted_certificates(verify)
    if trust is None:
        return {"cert_reqs": "CERT_NONE", "assert_hostname": False}
    file, folder = trust
    return {"cert_reqs": "CERT_REQUIRED", **({"ca_cert_dir": folder} if folder else {"ca_certs": file})}

