"""Encryption at rest for secrets we must be able to read back (webhook signing secrets).

The key comes from ``FINETUNER_SECRET_KEY`` (a Fernet key). Production refuses to start without
it (``core.config``); in development a key is generated once into the var directory so restarts
can still decrypt what was stored.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from core.config import Settings, get_settings


class SecretUnreadable(RuntimeError):
    """The stored secret was encrypted with another key."""


def _development_key(var_dir: Path) -> bytes:
    path = var_dir / "secret.key"
    if path.exists():
        return path.read_bytes().strip()
    var_dir.mkdir(parents=True, exist_ok=True)
    key = Fernet.generate_key()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(key)
    return key


@cache
def _fernet(secret_key: str | None, var_dir: str) -> Fernet:
    key = secret_key.encode() if secret_key else _development_key(Path(var_dir))
    return Fernet(key)


def _current(settings: Settings | None) -> Fernet:
    settings = settings or get_settings()
    secret = settings.secret_key.get_secret_value() if settings.secret_key else None
    return _fernet(secret, str(settings.var_dir))


def encrypt(plaintext: str, settings: Settings | None = None) -> str:
    return _current(settings).encrypt(plaintext.encode()).decode()


def decrypt(token: str, settings: Settings | None = None) -> str:
    try:
        return _current(settings).decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise SecretUnreadable("stored secret cannot be decrypted with the configured FINETUNER_SECRET_KEY") from exc
