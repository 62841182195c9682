"""Connection pools through a SOCKS proxy (`ALL_PROXY=socks5h://...`), for the requests urllib3 sends
(large blobs' streams, uploads, token requests; the curl engine reaches SOCKS proxies by itself): the
same stall watch and response-header limits as every other stream (see `watch`), where urllib3's own
SOCKS connections have neither. Needs PySocks (`modelpack[socks]`): imported only when a SOCKS proxy is
configured, so `transport` says what to install when it is missing."""

from __future__ import annotations

from typing import Any

from urllib3.contrib.socks import (
    SOCKSConnection,
    SOCKSHTTPConnectionPool,
    SOCKSHTTPSConnection,
    SOCKSHTTPSConnectionPool,
    SOCKSProxyManager,
)

from modelpack.store.stream_pools import WatchedResponse


class _WatchedSOCKSConnection(SOCKSConnection):
    response_class = WatchedResponse


class _WatchedSOCKSHTTPSConnection(SOCKSHTTPSConnection):
    response_class = WatchedResponse


class _Pool(SOCKSHTTPConnectionPool):
    ConnectionCls = _WatchedSOCKSConnection


class _TLSPool(SOCKSHTTPSConnectionPool):
    ConnectionCls = _WatchedSOCKSHTTPSConnection


def socks_manager(proxy: str, **pool_kw: Any) -> SOCKSProxyManager:
    """A pool manager reaching every origin through the SOCKS proxy `proxy` (socks4/4a/5/5h URL).

    Raises:
        ValueError: not a SOCKS URL urllib3 knows.
    """
    manager = SOCKSProxyManager(proxy, **pool_kw)
    manager.pool_classes_by_scheme = {"http": _Pool, "https": _TLSPool}
    return manager
