"""Named locks for periodic work: one beat acting, one sweep at a time.

With a Redis broker the lock lives in Redis (``SET NX PX`` with a token, through redis-py's
``Lock``), so beats and workers on different hosts agree. Without Redis (the embedded default:
everything on one machine) it is an ``flock`` on a file under ``<var_dir>/locks``, which the kernel
releases when the holder dies — no stale lock survives a crash.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
from pathlib import Path
from typing import Any, Protocol

from core.config import Settings

log = logging.getLogger(__name__)
KEY_PREFIX = "finetuner:lock:"


class NamedLock(Protocol):
    name: str

    def acquire(self) -> bool:
        """Take the lock without waiting; ``True`` if it is ours now (or still ours: renews it)."""

    def release(self) -> None: ...


class RedisLock:
    """Expires after ``ttl`` unless renewed: a holder that hangs or vanishes frees it on its own."""

    def __init__(self, client: Any, name: str, ttl: float) -> None:
        self.name = name
        self._lock = client.lock(KEY_PREFIX + name, timeout=ttl, blocking=False)
        self._held = False

    def acquire(self) -> bool:
        from redis.exceptions import LockError, RedisError

        try:
            if self._held:
                try:
                    self._lock.reacquire()
                    return True
                except LockError:  # expired and maybe taken by someone else: try afresh
                    self._held = False
            self._held = bool(self._lock.acquire(blocking=False))
        except RedisError as exc:
            log.warning("lock %s: Redis unavailable (%s); not acting this time", self.name, exc)
            self._held = False
        return self._held

    def release(self) -> None:
        from redis.exceptions import LockError, RedisError

        if not self._held:
            return
        self._held = False
        with contextlib.suppress(LockError, RedisError):  # expired already: nothing of ours left to release
            self._lock.release()


class FileLock:
    """Held for as long as this object keeps its file descriptor open (renewing is free)."""

    def __init__(self, directory: Path, name: str) -> None:
        self.name = name
        self.path = directory / f"{name}.lock"
        self._fd: int | None = None

    def acquire(self) -> bool:
        if self._fd is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def is_redis(url: str) -> bool:
    return url.startswith(("redis://", "rediss://", "redis+socket://"))


_clients: dict[str, Any] = {}


def named_lock(settings: Settings, name: str, *, ttl: float) -> NamedLock:
    """The right lock for this deployment; ``ttl`` only matters for Redis (files die with their holder)."""
    if is_redis(settings.broker_url):
        import redis

        client = _clients.get(settings.broker_url)
        if client is None:
            client = _clients[settings.broker_url] = redis.Redis.from_url(
                settings.broker_url, socket_timeout=5, socket_connect_timeout=5)
        return RedisLock(client, name, ttl)
    return FileLock(settings.var_dir / "locks", name)
