"""HMAC-SHA256 signatures of request bodies: ``X-Gateway-Signature: sha256=<hex>``."""

from __future__ import annotations

import hashlib
import hmac

HEADER = "X-Gateway-Signature"


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, header: str | None) -> bool:
    """Constant-time comparison; a missing or malformed header never verifies. The hex digits
    may be upper case (.NET's Convert.ToHexString and Java's common encoders write them so)."""
    # Not ASCII: bytes that are no UTF-8 reach us as surrogates, which cannot be compared.
    if not header or not header.isascii():
        return False
    scheme, _, digest = header.strip().partition("=")
    if scheme.lower() != "sha256":
        return False
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), digest.lower().encode())
