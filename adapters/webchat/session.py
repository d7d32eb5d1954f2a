"""Visitor session tokens: ``v1.<session id>.<signature>``, signed with the channel's secret.

The widget keeps the token in localStorage; presenting it again resumes the same conversation.
The signature covers the channel id, so a token of one channel is worthless on another.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets

_SID = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
_MAC = re.compile(r"[A-Za-z0-9_-]{1,64}")  # base64url of the HMAC-SHA256
VERSION = "v1"


def new_session_id() -> str:
    return secrets.token_urlsafe(18)


def _signature(secret: str, channel_id: str, session_id: str) -> str:
    mac = hmac.new(
        secret.encode(), f"{VERSION}.{channel_id}.{session_id}".encode(), hashlib.sha256
    ).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def issue(secret: str, channel_id: str, session_id: str) -> str:
    return f"{VERSION}.{session_id}.{_signature(secret, channel_id, session_id)}"


def session_of(secret: str, channel_id: str, token: object) -> str | None:
    """The session id of a valid token, or None (tampered, other channel, malformed)."""
    if not isinstance(token, str) or len(token) > 200:
        return None
    parts = token.split(".")
    if len(parts) != 3 or parts[0] != VERSION or not _SID.match(parts[1]):
        return None
    if not _MAC.fullmatch(parts[2]):  # e.g. a header's bytes that are no UTF-8 (surrogates)
        return None
    expected = _signature(secret, channel_id, parts[1])
    if not hmac.compare_digest(expected.encode(), parts[2].encode()):
        return None
    return parts[1]
