"""Redis locks for periodic work are short and renewed while held: they outlive no holder."""

from __future__ import annotations

import time

import redis

from core.config import Settings
from tests.integration.worker.conftest import REDIS_URL
from worker.locks import KEY_PREFIX, RedisLock, named_lock, periodic_lock_ttl


def test_a_renewed_lock_outlasts_its_ttl_while_held_and_frees_at_once_on_release() -> None:
    client = redis.Redis.from_url(REDIS_URL)
    client.delete(KEY_PREFIX + "renew-test")
    held = RedisLock(client, "renew-test", 0.6, renew=True)
    other = RedisLock(client, "renew-test", 0.6)
    assert held.acquire()
    time.sleep(1.5)  # two and a half TTLs: only the renewals keep it
    assert not other.acquire(), "a held, renewed lock must not lapse"
    held.release()
    assert other.acquire(), "a released lock is free at once"
    other.release()


def test_an_unrenewed_lock_lapses_after_its_ttl() -> None:
    """What a SIGKILLed holder leaves: a key nobody renews, gone after one TTL."""
    client = redis.Redis.from_url(REDIS_URL)
    client.delete(KEY_PREFIX + "lapse-test")
    assert RedisLock(client, "lapse-test", 0.5).acquire()
    time.sleep(0.8)
    assert client.exists(KEY_PREFIX + "lapse-test") == 0


def test_periodic_locks_last_one_period_not_the_task_time_limit() -> None:
    settings = Settings(broker_url=REDIS_URL)
    lock = named_lock(settings, "poll", ttl=periodic_lock_ttl(settings.poll_interval_seconds), renew=True)
    assert isinstance(lock, RedisLock)
    assert lock.ttl == settings.poll_interval_seconds < settings.task_time_limit_seconds
    assert periodic_lock_ttl(0.1) == 1.0  # never so short that a round trip lets a live holder's lock lapse
