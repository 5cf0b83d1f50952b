"""The Redis shortcut of cached_db (``dbsessions.backends.session_cache``), on a real Redis.

It must write what Django's RedisCache would write (same names, bytes and expiry), read what
Django's wrote, and step aside for any cache or client that is not Django's own.
"""

import pytest
import redis
from django.core.cache.backends.locmem import LocMemCache
from django.core.cache.backends.redis import RedisCache, RedisCacheClient

from dbsessions.backends.session_cache import RedisShortcut, session_cache
from tests.utils import REDIS_URL, needs_redis

pytestmark = needs_redis()

SNAPSHOT = ("version", 7, 1.5, 2.5, 3.5, {"cart": b'["tea"]', "n": b"1"})


def redis_cache(backend=RedisCache, **options) -> RedisCache:
    cache = backend(REDIS_URL, {"KEY_PREFIX": "shortcut-test", "OPTIONS": options})
    cache.clear()
    return cache


def raw_redis() -> redis.Redis:
    return redis.Redis.from_url(REDIS_URL)


def test_djangos_redis_cache_gets_the_shortcut_and_others_do_not():
    cache = redis_cache()
    assert isinstance(session_cache(cache), RedisShortcut)
    assert session_cache(cache) is session_cache(cache)  # one per cache object
    locmem = LocMemCache("shortcut-test", {})
    assert session_cache(locmem) is locmem


class CompressingClient(RedisCacheClient):
    def set(self, key, value, timeout):  # pragma: no cover - never called here
        super().set(key, value, timeout)


class OwnGetMany(RedisCache):
    def get_many(self, keys, version=None):  # pragma: no cover - never called here
        return super().get_many(keys, version)


def test_a_cache_or_client_that_changes_a_method_keeps_its_own():
    assert session_cache(redis_cache(OwnGetMany)).__class__ is OwnGetMany

    cache = redis_cache()
    cache._class = CompressingClient
    assert session_cache(cache) is cache


def test_what_the_shortcut_writes_django_reads_with_the_same_expiry():
    cache = redis_cache()
    shortcut = session_cache(cache)

    shortcut.set("snapshot", SNAPSHOT, 300)
    shortcut.set_many({"a": "one", "b": ["two"]}, 200)

    assert cache.get("snapshot") == SNAPSHOT
    assert cache.get_many(["a", "b", "missing"]) == {"a": "one", "b": ["two"]}
    client = raw_redis()
    assert 290 < client.ttl(cache.make_key("snapshot")) <= 300
    assert [0 < client.ttl(cache.make_key(k)) <= 200 for k in ("a", "b")] == [True, True]


def test_what_django_writes_the_shortcut_reads():
    cache = redis_cache()
    cache.set_many({"snapshot": SNAPSHOT, "version": "v1", "count": 3}, 300)
    shortcut = session_cache(cache)

    assert shortcut.get_many(["snapshot", "version", "count", "missing"]) == {
        "snapshot": SNAPSHOT,
        "version": "v1",
        "count": 3,
    }
    assert shortcut.get("version") == "v1"
    assert shortcut.get("missing") is None


def test_add_writes_only_a_missing_key():
    cache = redis_cache()
    shortcut = session_cache(cache)

    assert shortcut.add("version", "first", 300) is True
    assert shortcut.add("version", "second", 300) is False
    assert cache.get("version") == "first"
    assert 290 < raw_redis().ttl(cache.make_key("version")) <= 300


def test_delete_many_and_a_zero_timeout_delete_as_django_does():
    cache = redis_cache()
    shortcut = session_cache(cache)
    cache.set_many({"a": 1, "b": 2, "c": 3}, 300)

    shortcut.delete_many(["a", "b"])
    shortcut.delete_many([])
    shortcut.set("c", 4, 0)  # Django's RedisCache deletes a key set with timeout 0

    assert cache.get_many(["a", "b", "c"]) == {}


def test_an_unreachable_redis_raises_as_djangos_cache_does():
    cache = RedisCache("redis://127.0.0.1:1", {})  # nothing listens on port 1
    shortcut = session_cache(cache)
    assert isinstance(shortcut, RedisShortcut)

    with pytest.raises(redis.ConnectionError):
        shortcut.get_many(["a", "b"])
    with pytest.raises(redis.ConnectionError):
        shortcut.set("a", 1, 10)
