"""Named locks for periodic work: one beat acting, one poll at a time — and none outliving its holder.

With a Redis broker the lock lives in Redis (``SET NX PX`` with a token, through redis-py's
``Lock``), so beats and workers on different hosts agree. A Redis key cannot see its holder die, so
the lock is *short* (about one period of the work it guards) and renewed while the holder works:
by a daemon thread for a periodic task (:meth:`RedisLock.acquire` with ``renew=True``; a task that
hangs is killed by Celery's hard time limit, and the thread with it), by each tick for the beat
leader (a beat whose loop hangs must lose leadership). A SIGKILLed holder renews nothing, so its
lock lapses within one TTL and the next run after that goes ahead: within two periods of the kill,
where a TTL of the task time limit (900 s) used to stop the poll and the reconciler for 15 minutes.

Without Redis (the embedded default: everything on one machine) it is an ``flock`` on a file under
``<var_dir>/locks``, which the kernel releases when the holder dies — no stale lock survives a crash.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import threading
from pathlib import Path
from typing import Any, Protocol

from core.config import Settings

log = logging.getLogger(__name__)
KEY_PREFIX = "finetuner:lock:"
# Below this a Redis round trip or a GC pause could let a live holder's lock lapse between renewals.
MIN_TTL_SECONDS = 1.0
RENEWALS_PER_TTL = 3  # renew every third of the TTL: two renewals may fail before the lock lapses


def periodic_lock_ttl(period_seconds: float) -> float:
    """The TTL of the lock guarding a task that beat sends every ``period_seconds``: one period, so a
    dead holder's lock is gone by the time the message after next arrives."""
    return max(MIN_TTL_SECONDS, period_seconds)


class NamedLock(Protocol):
    name: str

    def acquire(self) -> bool:
        """Take the lock without waiting; ``True`` if it is ours now (or still ours: renews it)."""

    def release(self) -> None: ...


class _Renewer(threading.Thread):
    """Keeps a held Redis lock alive while this process lives; stops on release or when it was lost."""

    def __init__(self, lock: RedisLock, every: float) -> None:
        super().__init__(name=f"lock-renewer-{lock.name}", daemon=True)
        self._owner = lock
        self._every = every
        self.stopped = threading.Event()

    def run(self) -> None:
        from redis.exceptions import LockError, RedisError

        while not self.stopped.wait(self._every):
            try:
                self._owner.redis_lock.reacquire()
            except LockError:  # lapsed (a stall longer than the TTL): someone else may hold it now
                log.warning("lock %s: lost while held (renewal came too late)", self._owner.name)
                return
            except RedisError as exc:  # a blip: the next renewal may still come in time
                log.warning("lock %s: renewal failed (%s)", self._owner.name, exc)


class RedisLock:
    """Expires after ``ttl`` unless renewed: a holder that hangs or vanishes frees it on its own.

    ``renew=True`` renews it from a thread until :meth:`release`; otherwise each :meth:`acquire`
    by the holder renews it (the beat's tick).
    """

    def __init__(self, client: Any, name: str, ttl: float, *, renew: bool = False) -> None:
        self.name = name
        self.ttl = ttl
        # Not thread-local: the renewer thread must see the token the acquiring thread stored.
        self.redis_lock = client.lock(KEY_PREFIX + name, timeout=ttl, blocking=False, thread_local=False)
        self._held = False
        self._renew = renew
        self._renewer: _Renewer | None = None

    def acquire(self) -> bool:
        from redis.exceptions import LockError, RedisError

        try:
            if self._held:
                try:
                    self.redis_lock.reacquire()
                    return True
                except LockError:  # expired and maybe taken by someone else: try afresh
                    self._held = False
            self._held = bool(self.redis_lock.acquire(blocking=False))
        except RedisError as exc:
            log.warning("lock %s: Redis unavailable (%s); not acting this time", self.name, exc)
            self._held = False
        if self._held and self._renew and self._renewer is None:
            self._renewer = _Renewer(self, self.ttl / RENEWALS_PER_TTL)
            self._renewer.start()
        return self._held

    def release(self) -> None:
        from redis.exceptions import LockError, RedisError

        if self._renewer is not None:
            self._renewer.stopped.set()
            self._renewer.join(timeout=5)
            self._renewer = None
        if not self._held:
            return
        self._held = False
        with contextlib.suppress(LockError, RedisError):  # expired already: nothing of ours left to release
            self.redis_lock.release()


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


def named_lock(settings: Settings, name: str, *, ttl: float, renew: bool = False) -> NamedLock:
    """The right lock for this deployment; ``ttl`` and ``renew`` only matter for Redis (files die with
    their holder)."""
    if is_redis(settings.broker_url):
        import redis

        client = _clients.get(settings.broker_url)
        if client is None:
            client = _clients[settings.broker_url] = redis.Redis.from_url(
                settings.broker_url, socket_timeout=5, socket_connect_timeout=5)
        return RedisLock(client, name, ttl, renew=renew)
    return FileLock(settings.var_dir / "locks", name)
