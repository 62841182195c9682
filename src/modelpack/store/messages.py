"""How transport failures and registry refusals read: one line, naming the host and the request,
never a credential or an upload URL's opaque query."""

from __future__ import annotations

import os
import re
import urllib.parse

from modelpack import advice
from modelpack.errors import TransportError
from modelpack.oci.jsontext import parse_or_none
from modelpack.store.hostauth import host_of
from modelpack.store.options import environment_bundle
from modelpack.store.wire_errors import is_cut, timed_out

RETRY_STATUS = frozenset({408, 429, 500, 502, 503, 504})  # answers worth another attempt


def retry_limit(exc: Exception, retries: int) -> int:
    """The attempts after which a wire failure `exc` is final: refused connections and unknown hosts are
    rarely transient, so they are retried once, not backed off `retries` times."""
    text = str(exc).lower()
    hopeless = "refused" in text or "resolve" in text or "name or service" in text
    return min(1, retries) if hopeless else retries


def error_details(text: bytes) -> tuple[list[str], list[str]]:
    body = parse_or_none(text) if text else {}
    codes, messages = [], []
    for err in (body.get("errors") or []) if isinstance(body, dict) else []:
        if isinstance(err, dict):
            codes.append(str(err.get("code", ""))[:100])
            messages.append(f"{err.get('code', '')}: {err.get('message', '')}".strip(": ")[:500])
    return codes[:5], messages[:5]


def who(url: str) -> str:
    return f"registry {host_of(url)}"


def path_of(url: str) -> str:
    return urllib.parse.urlsplit(url).path


def seconds(value: float, unit: bool = True) -> str:
    text = f"{value:g}"
    return f"{text} s" if unit else text


def redact(url: str) -> str:
    """Drop the query string: upload URLs carry opaque state we have no need to print."""
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit(parts._replace(query="", netloc=parts.netloc.rsplit("@", 1)[-1]))


def tls_error(host: str, exc: Exception) -> TransportError:
    """The error a failed TLS connection to `host` is, naming the setting that helps where one does."""
    text = str(exc)
    if "WRONG_VERSION_NUMBER" in text or "wrong version number" in text:
        return TransportError(f"TLS handshake with {host} failed: it seems to speak plain HTTP",
                              advice=advice.plain_http())
    if "CERTIFICATE_VERIFY_FAILED" in text:
        reason = text.split("certificate verify failed:", 1)[-1].split("(")[0].strip(" ')\"")
        return TransportError(f"TLS certificate of {host} not trusted ({reason})", advice=advice.TRUST)
    if "verify result:" in text or "certificate problem:" in text:  # libcurl's words (see curl_engine)
        reason = re.split(r"verify result:|certificate problem:", text, maxsplit=1)[-1].split("(")[0].strip(" ')\"")
        return TransportError(f"TLS certificate of {host} not trusted ({reason})", advice=advice.TRUST)
    chosen = environment_bundle()
    if chosen and not os.path.exists(chosen[1]):  # the trust store could not be read: say which, not just "failed"
        return TransportError(f"TLS connection to {host} failed: {chosen[0]}={chosen[1]} names no CA file or "
                              "folder; fix or unset it")
    return TransportError(f"TLS connection to {host} failed")


def connection_message(host: str, exc: Exception) -> str:
    text = str(exc).lower()
    if "refused" in text:
        return f"cannot connect to {host}: connection refused"
    if timed_out(exc):
        return f"{host} did not answer in time"
    if "name or service not known" in text or "nodename nor servname" in text or "failed to resolve" in text:
        return f"cannot resolve host {host}"
    if is_cut(exc) or "reset" in text or "aborted" in text:
        return f"connection to {host} was cut"
    return f"cannot connect to {host}"
