"""Ed25519 of QQ Bot webhooks: the key derived from the bot secret, the op 13 answer, the check
of every event.

As the platform documents (bot.q.qq.com/wiki/develop/api-v2/dev-prepare/interface-framework/
sign.html and event-emit.html): the seed is the bot secret repeated until it is at least 32
bytes, cut to 32; the callback URL check (op 13) is answered with the signature of
``event_ts + plain_token``; every event carries ``X-Signature-Ed25519`` (hex) over
``X-Signature-Timestamp + body``.
"""

from __future__ import annotations

import re

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

SEED_SIZE = 32
SIGNATURE_SIZE = 64
# What a plain_token and an event_ts look like. Op 13 is not signed (anyone can post one), so
# the answer would sign whatever string it is handed: restricted to these shapes it can never
# be "timestamp + JSON body", i.e. never a valid signature of a forged event.
_PLAIN_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
_DIGITS = re.compile(r"^[0-9]{1,20}$")


class SignatureError(Exception):
    """A webhook request whose signature is missing or wrong."""


def seed_of(secret: str) -> bytes:
    """The documented derivation: repeat the secret to at least 32 bytes, keep the first 32."""
    raw = secret.encode()
    if not raw:
        raise ValueError("the bot secret is empty")
    while len(raw) < SEED_SIZE:
        raw = raw * 2
    return raw[:SEED_SIZE]


def private_key(secret: str) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(seed_of(secret))


def public_key(secret: str) -> Ed25519PublicKey:
    return private_key(secret).public_key()


def sign(secret: str, message: bytes) -> str:
    """Hex Ed25519 signature of ``message`` with the bot's key."""
    return private_key(secret).sign(message).hex()


def validation_answer(secret: str, plain_token: str, event_ts: str) -> dict[str, str]:
    """The answer to op 13: ``{"plain_token", "signature"}``. Raises ValueError for a token or
    timestamp not shaped like the platform's (see _PLAIN_TOKEN)."""
    if not _PLAIN_TOKEN.match(plain_token) or not _DIGITS.match(event_ts):
        raise ValueError("plain_token or event_ts is malformed")
    return {
        "plain_token": plain_token,
        "signature": sign(secret, (event_ts + plain_token).encode()),
    }


def verify(key: Ed25519PublicKey, signature_hex: str, timestamp: str, body: bytes) -> None:
    """Raise SignatureError unless ``signature_hex`` signs ``timestamp + body``."""
    if not signature_hex or not timestamp:
        raise SignatureError("missing X-Signature-Ed25519 or X-Signature-Timestamp")
    # Checked first: bytes that are no UTF-8 (as surrogates) cannot be encoded to verify, and
    # the caller compares it with the clock (a 400-digit number overflows a float).
    if not _DIGITS.fullmatch(timestamp):
        raise SignatureError("X-Signature-Timestamp is not a Unix time (1-20 digits)")
    try:
        signature = bytes.fromhex(signature_hex)
    except ValueError:
        raise SignatureError("X-Signature-Ed25519 is not hex") from None
    # The documented check: 64 bytes, and the top three bits of the last byte clear.
    if len(signature) != SIGNATURE_SIZE or signature[63] & 224:
        raise SignatureError("X-Signature-Ed25519 has the wrong shape")
    try:
        key.verify(signature, timestamp.encode() + body)
    except InvalidSignature:
        raise SignatureError("bad signature") from None
