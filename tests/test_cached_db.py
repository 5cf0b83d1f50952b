"""The cached_db engine: loads served from the cache, and never a snapshot a change outdated.

Transactional tests: the cache entries are dropped when a change commits, so the changes here
really commit (on every database of the run).
"""

import time
from contextlib import nullcontext

import pytest
from django.core.cache import caches
from django.db import transaction
from django.test import override_settings

from dbsessions import api
from dbsessions.backends.cached_db import SessionStore
from dbsessions.backends.db import SessionStore as DatabaseStore
from dbsessions.conf import app_settings
from dbsessions.keys import hash_key
from tests.utils import (
    CACHED_DB_ONLY,
    REDIS_URL,
    SERVER_VENDORS,
    clear_session_cache,
    needs_redis,
    queries_to_load,
    run_threads,
    saved_session,
)

pytestmark = CACHED_DB_ONLY


def test_a_new_session_is_cached_as_created():
    key = saved_session(cart={"tea": 2}, visits=1).session_key

    assert queries_to_load(key) == ({"cart": {"tea": 2}, "visits": 1}, 0)


def test_a_loaded_session_is_then_served_without_a_query():
    key = saved_session(cart={"tea": 2}, visits=1).session_key
    caches["default"].clear()

    assert queries_to_load(key) == ({"cart": {"tea": 2}, "visits": 1}, 1)
    assert queries_to_load(key) == ({"cart": {"tea": 2}, "visits": 1}, 0)


def test_a_save_is_seen_by_the_next_load():
    key = saved_session(visits=1).session_key
    queries_to_load(key)  # cached

    store = SessionStore(key)
    store["visits"] = 2
    store.save()

    assert queries_to_load(key) == ({"visits": 2}, 1)
    assert queries_to_load(key) == ({"visits": 2}, 0)


def test_a_load_racing_a_save_never_leaves_a_stale_snapshot():
    key = saved_session(visits=1).session_key

    class Racing(SessionStore):
        def _select_session(self) -> list[tuple]:
            rows = super()._select_session()  # reads visits=1
            other = SessionStore(key)
            other["visits"] = 2
            other.save()  # commits after that read, before this load caches it
            return rows

    caches["default"].clear()  # so that the racing load goes to the database
    assert dict(Racing(key).items()) == {"visits": 1}

    assert queries_to_load(key) == ({"visits": 2}, 1)


def test_unchanged_values_still_written_only_when_changed():
    key = saved_session(a=1, b=2).session_key
    queries_to_load(key)
    store = SessionStore(key)
    store["a"] = 10  # loaded from the snapshot; only "a" changes
    store.save()

    assert queries_to_load(key) == ({"a": 10, "b": 2}, 1)


def test_logout_and_key_rotation_end_the_cached_session():
    flushed, rotated = saved_session(user="alice"), saved_session(user="bob")
    old_keys = [flushed.session_key, rotated.session_key]
    for key in old_keys:
        queries_to_load(key)

    SessionStore(flushed.session_key).flush()
    rotating = SessionStore(rotated.session_key)
    rotating.cycle_key()

    for key in old_keys:
        assert queries_to_load(key) == ({}, 1)
    assert queries_to_load(rotating.session_key)[0] == {"user": "bob"}


def test_ending_sessions_through_the_api_ends_the_cached_ones(alice):
    phone = saved_session(alice)
    queries_to_load(phone.session_key)

    assert api.end_all_sessions(alice) == 1

    assert queries_to_load(phone.session_key) == ({}, 1)


def test_a_snapshot_never_outlives_its_session():
    store = SessionStore()
    store["visits"] = 1
    store.set_expiry(2)
    store.save()
    assert queries_to_load(store.session_key)[0]["visits"] == 1

    time.sleep(2.1)

    assert queries_to_load(store.session_key)[0] == {}


def test_cache_entries_are_named_by_neither_key_nor_hash():
    store = saved_session(visits=1)
    queries_to_load(store.session_key)

    names = list(caches["default"]._cache)
    assert len(names) == 2
    for secret in (store.session_key, hash_key(store.session_key)):
        assert not [name for name in names if secret in name]
    assert not [v for v in caches["default"]._cache.values() if store.session_key.encode() in v]


@pytest.mark.parametrize(
    "entry", [None, "not a snapshot", ("v",), ("v", 1, "tomorrow", {}), ["v", 1, None, {}]]
)
def test_a_malformed_snapshot_is_a_miss_not_an_error(entry):
    store = saved_session(visits=1)
    snapshot_key, version_key = store._cache_keys(store.session_key)
    caches["default"].set_many({version_key: "v", snapshot_key: entry})

    assert queries_to_load(store.session_key) == ({"visits": 1}, 1)
    assert queries_to_load(store.session_key) == ({"visits": 1}, 0)


def test_forged_cookies_leave_nothing_in_the_cache():
    for n in range(20):
        assert queries_to_load(f"forged-cookie-{n:04d}-xxxxxxxxxxxxxxxx") == ({}, 1)

    assert list(caches["default"]._cache) == []


@override_settings(
    CACHES={
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
        # Nothing listens on port 1: every cache call fails.
        "down": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1",
        },
    },
    SESSION_CACHE_ALIAS="down",
)
def test_an_unreachable_cache_falls_back_to_the_database(caplog):
    store = saved_session(visits=1)

    assert queries_to_load(store.session_key) == ({"visits": 1}, 1)
    store = SessionStore(store.session_key)
    store["visits"] = 2
    store.save()
    assert queries_to_load(store.session_key) == ({"visits": 2}, 1)
    store.flush()

    assert "Session cache unreachable" in caplog.text
    assert "Could not drop 1 session cache entries." in caplog.text  # the save's version
    assert "Could not drop 2 session cache entries." in caplog.text  # the flush's


@needs_redis()
@override_settings(
    CACHES={
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
        "redis": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL},
    },
    SESSION_CACHE_ALIAS="redis",
)
def test_on_redis_a_hit_takes_no_query_and_an_end_takes_effect():
    caches["redis"].clear()
    store = saved_session(cart={"tea": 2})
    key = store.session_key

    assert queries_to_load(key) == ({"cart": {"tea": 2}}, 0)
    SessionStore(key).flush()
    assert queries_to_load(key) == ({}, 1)


def test_a_save_rolled_back_keeps_the_snapshot_true():
    key = saved_session(visits=1).session_key
    queries_to_load(key)

    with pytest.raises(RuntimeError), transaction.atomic(using=app_settings.DATABASE):
        store = SessionStore(key)
        store["visits"] = 2
        store.save()
        raise RuntimeError("the view failed")

    assert queries_to_load(key) == ({"visits": 1}, 0)
    assert dict(DatabaseStore(key).load()) == {"visits": 1}


ON_REDIS = override_settings(
    CACHES={
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
        "redis": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL},
    },
    SESSION_CACHE_ALIAS="redis",
)


@pytest.mark.concurrency
@pytest.mark.parametrize("vendor", SERVER_VENDORS)
@pytest.mark.parametrize("cache", ["locmem", pytest.param("redis", marks=needs_redis())])
def test_concurrent_loads_and_saves_leave_no_stale_snapshot(vendor, cache):
    """Threads load (from the cache when they can) and save their own keys; afterwards the
    cache serves exactly what the database holds. On Redis the engine goes through its
    shortcut (``session_cache.RedisShortcut``) from every thread."""
    with ON_REDIS if cache == "redis" else nullcontext():
        clear_session_cache()
        check_no_stale_snapshot()


def check_no_stale_snapshot() -> None:
    threads, iterations = 6, 15
    key = saved_session(shared="start").session_key

    def worker(index: int) -> None:
        for iteration in range(iterations):
            session = SessionStore(key)
            session[f"count{index}"] = iteration + 1
            session.save()
            SessionStore(key).load()  # a reader racing the other threads' saves

    errors = run_threads(worker, threads)

    assert errors == []
    expected = {"shared": "start", **{f"count{i}": iterations for i in range(threads)}}
    assert dict(DatabaseStore(key).load()) == expected
    assert queries_to_load(key)[0] == expected
    assert queries_to_load(key) == (expected, 0)
