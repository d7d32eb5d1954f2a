"""Callback authentication: SHA-1 signatures, timestamp freshness and AES message decryption.

The signature and cipher are wechatpy's (WeChatSigner, PrpCrypto); the comparison is ours,
because wechatpy compares with ``!=`` and we want constant time.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import time

from wechatpy.crypto import PrpCrypto as OaPrpCrypto
from wechatpy.enterprise.crypto import PrpCrypto as CorpPrpCrypto
from wechatpy.utils import WeChatSigner


class AuthError(Exception):
    """The callback is not from WeChat, or is too old (answer 403)."""


def signature(*parts: str) -> str:
    """WeChat's callback signature: SHA-1 of the sorted, concatenated parts (the token,
    timestamp and nonce, plus the ciphertext for ``msg_signature``)."""
    signer = WeChatSigner()
    signer.add_data(*parts)
    return signer.signature


def check_signature(given: str, *parts: str) -> None:
    expected = signature(*parts)
    if not given or not hmac.compare_digest(expected.encode(), given.lower().encode()):
        raise AuthError("bad signature")


def check_timestamp(timestamp: str, max_skew_seconds: int, now: float | None = None) -> None:
    """Refuse replays of old captured requests: WeChat's timestamp is the send time."""
    try:
        ts = int(timestamp)
    except (TypeError, ValueError):
        raise AuthError("missing or invalid timestamp") from None
    # In whole seconds: a float of a 400-digit timestamp would overflow (a 500).
    off = int(time.time() if now is None else now) - ts
    if abs(off) > max_skew_seconds:
        shown = f"{off} s" if abs(off) < 10**12 else "far"
        raise AuthError(f"stale timestamp ({shown} off, limit {max_skew_seconds} s)")


def aes_key(encoding_aes_key: str) -> bytes:
    """The 43-character EncodingAESKey is base64 of the 32-byte AES key, without its '='."""
    try:
        key = base64.b64decode(encoding_aes_key + "=", validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("EncodingAESKey must be 43 base64 characters") from None
    if len(key) != 32:
        raise ValueError("EncodingAESKey must be 43 base64 characters")
    return key


def decrypt(encoding_aes_key: str, receiver_id: str, encrypted: str, *, corp: bool = False) -> str:
    """Decrypt a safe-mode ``Encrypt`` field (or a WeCom ``echostr``). The plaintext ends with
    the AppID (or CorpID) it was meant for; a different one is refused."""
    crypto_class = CorpPrpCrypto if corp else OaPrpCrypto
    try:
        return crypto_class(aes_key(encoding_aes_key)).decrypt(encrypted, receiver_id)
    except Exception:  # bad base64, bad padding, wrong receiver: all mean "not for us"
        raise AuthError("cannot decrypt the message for this account") from None
