"""OAuth 1.0a request signing (HMAC-SHA1), as X documents it for user-context requests.

Signed: the method, the URL without query, the query parameters and the oauth_* parameters.
A JSON body is not signed (only form-encoded bodies are, and X v2 takes JSON).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Iterable, Mapping
from urllib.parse import quote, urlsplit, urlunsplit


def pct(value: str) -> str:
    """RFC 3986 percent-encoding: everything but unreserved characters."""
    return quote(value, safe="-._~")


def base_string(method: str, url: str, params: Iterable[tuple[str, str]]) -> str:
    parts = urlsplit(url)
    base_url = urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path, "", ""))
    encoded = sorted((pct(k), pct(v)) for k, v in params)
    param_string = "&".join(f"{k}={v}" for k, v in encoded)
    return "&".join((method.upper(), pct(base_url), pct(param_string)))


def signature(
    method: str,
    url: str,
    params: Iterable[tuple[str, str]],
    consumer_secret: str,
    token_secret: str,
) -> str:
    key = f"{pct(consumer_secret)}&{pct(token_secret)}".encode()
    digest = hmac.new(key, base_string(method, url, params).encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def authorization_header(
    method: str,
    url: str,
    query: Mapping[str, str],
    *,
    consumer_key: str,
    consumer_secret: str,
    token: str,
    token_secret: str,
    nonce: str | None = None,
    timestamp: int | None = None,
) -> str:
    """The ``Authorization: OAuth ...`` value for one request. ``query`` is the request's query
    string as a mapping (it is signed); the nonce and timestamp are fresh unless given (tests)."""
    oauth = {
        "oauth_consumer_key": consumer_key,
        "oauth_nonce": nonce or secrets.token_hex(16),
        "oauth_signature_method": "HMAC-SHA1",
        "oauth_timestamp": str(timestamp if timestamp is not None else int(time.time())),
        "oauth_token": token,
        "oauth_version": "1.0",
    }
    params = [*query.items(), *oauth.items()]
    oauth["oauth_signature"] = signature(method, url, params, consumer_secret, token_secret)
    return "OAuth " + ", ".join(f'{pct(k)}="{pct(v)}"' for k, v in sorted(oauth.items()))
