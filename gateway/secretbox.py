"""Encryption at rest for channel credentials (Fernet: AES-128-CBC + HMAC-SHA256)."""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken


class SecretKeyError(Exception):
    pass


def load_or_create_key(secret_key: str, data_dir: str | Path) -> bytes:
    """GATEWAY_SECRET_KEY when set, else ``<data_dir>/secret.key`` (created 0600 on first start)."""
    if secret_key:
        key = secret_key.encode()
    else:
        path = Path(data_dir) / "secret.key"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(Fernet.generate_key())
        key = path.read_bytes().strip()
    try:
        Fernet(key)
    except ValueError:
        raise SecretKeyError(
            "secret_key: must be 32 url-safe base64-encoded bytes "
            '(make one with: python -c "from cryptography.fernet import Fernet; '
            'print(Fernet.generate_key().decode())")'
        ) from None
    return key


class SecretBox:
    def __init__(self, key: bytes) -> None:
        self._fernet = Fernet(key)

    def seal(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def open(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken:
            raise SecretKeyError(
                "stored credentials cannot be decrypted: the secret key changed"
            ) from None
