"""The cached_db engine inside transactions, on Redis: it sees its own changes, never caches
what a rollback undoes, and never builds a snapshot from rows older than the last change.

Each test opens its own ``atomic()`` blocks on a transactional test database, so commits and
rollbacks are real; the isolation set-ups are those users configure (REPEATABLE READ through
``OPTIONS["isolation_level"]`` on PostgreSQL and MySQL, SQLite's default deferred
transactions).
"""

import threading

import pytest
from django.conf import settings
from django.core.cache import caches
from django.db import connections, transaction
from django.test import override_settings

from dbsessions import api
from dbsessions.backends.cached_db import SessionStore
from dbsessions.backends.db import SessionStore as DatabaseStore
from dbsessions.conf import app_settings
from tests.utils import (
    CACHED_DB_ONLY,
    REDIS_URL,
    SERVER_VENDORS,
    needs_redis,
    queries_to_load,
    run_threads,
    saved_session,
)

pytestmark = [*CACHED_DB_ONLY, needs_redis()]


@pytest.fixture(autouse=True)
def redis_sessions(session_engine):
    """cached_db's snapshots on Redis, as sites keep them, emptied for each test."""
    with override_settings(
        CACHES={
            "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
            "redis": {
                "BACKEND": "django.core.cache.backends.redis.RedisCache",
                "LOCATION": REDIS_URL,
                "OPTIONS": {"socket_timeout": 5, "socket_connect_timeout": 5},
            },
        },
        SESSION_CACHE_ALIAS="redis",
    ):
        caches["redis"].clear()
        yield


def atomic():
    return transaction.atomic(using=app_settings.DATABASE)


def is_cached(key: str) -> bool:
    """Whether the next load of ``key`` would be served by the cache alone."""
    return queries_to_load(key)[1] == 0


# Its own changes, inside a transaction --------------------------------------------------


def test_a_save_is_seen_by_the_next_load_of_the_same_transaction():
    key = saved_session(visits=1).session_key
    assert is_cached(key)

    with atomic():
        store = SessionStore(key)
        store["visits"] = 2
        store.save()
        assert SessionStore(key).load() == {"visits": 2}

    assert queries_to_load(key) == ({"visits": 2}, 1)
    assert is_cached(key)


def test_a_delete_and_an_api_end_are_seen_inside_the_transaction(alice):
    deleted, ended = saved_session(visits=1).session_key, saved_session(alice).session_key
    assert is_cached(deleted) and is_cached(ended)

    with atomic():
        SessionStore(deleted).delete()
        api.end_all_sessions(alice)
        assert SessionStore(deleted).load() == {}
        assert SessionStore(ended).load() == {}

    assert queries_to_load(deleted) == ({}, 1)
    assert queries_to_load(ended) == ({}, 1)


def test_a_rotation_is_seen_inside_the_transaction():
    old_key = saved_session(visits=1).session_key
    assert is_cached(old_key)

    with atomic():
        store = SessionStore(old_key)
        store.cycle_key()
        assert SessionStore(old_key).load() == {}
        assert SessionStore(store.session_key).load() == {"visits": 1}

    assert queries_to_load(old_key) == ({}, 1)
    assert queries_to_load(store.session_key)[0] == {"visits": 1}


# Rollbacks ------------------------------------------------------------------------------


def test_a_rolled_back_save_leaves_the_cache_true():
    key = saved_session(visits=1).session_key
    assert is_cached(key)

    with pytest.raises(RuntimeError), atomic():
        store = SessionStore(key)
        store["visits"] = 2
        store.save()
        assert SessionStore(key).load() == {"visits": 2}  # read inside: not cached
        raise RuntimeError("the view failed")

    assert queries_to_load(key) == ({"visits": 1}, 0)


def test_a_rolled_back_new_session_is_never_served():
    with pytest.raises(RuntimeError), atomic():
        key = saved_session(visits=1).session_key
        assert SessionStore(key).load() == {"visits": 1}
        raise RuntimeError("the view failed")

    assert queries_to_load(key) == ({}, 1)
    assert queries_to_load(key) == ({}, 1)


def test_a_rolled_back_rotation_keeps_the_old_key():
    old_key = saved_session(visits=1).session_key

    with pytest.raises(RuntimeError), atomic():
        store = SessionStore(old_key)
        store.cycle_key()
        new_key = store.session_key
        assert SessionStore(new_key).load() == {"visits": 1}
        raise RuntimeError("the view failed")

    assert queries_to_load(new_key) == ({}, 1)
    assert queries_to_load(old_key)[0] == {"visits": 1}


def test_outside_a_transaction_loads_fill_the_cache_again_after_a_rollback():
    key = saved_session(visits=1).session_key
    with pytest.raises(RuntimeError), atomic():
        SessionStore(key).delete()
        raise RuntimeError("the view failed")

    caches["redis"].clear()
    assert queries_to_load(key) == ({"visits": 1}, 1)
    assert is_cached(key)


# Snapshots older than the last change ---------------------------------------------------


def end_while_a_transaction_holds_an_old_snapshot(key: str, settings_dict: dict) -> list:
    """A thread opens a transaction with ``settings_dict`` (its isolation), reads once, lets
    another thread end the session ``key``, then loads the session; returns what it loaded."""
    snapshot_taken, ended = threading.Event(), threading.Event()
    loaded = []

    def worker(index: int) -> None:
        if index == 0:
            connection = connections[app_settings.DATABASE]
            connection.settings_dict = settings_dict
            with atomic():
                DatabaseStore("another-session-key-0000").load()  # the snapshot starts here
                snapshot_taken.set()
                assert ended.wait(30)
                loaded.append(dict(SessionStore(key).load()))
        else:
            assert snapshot_taken.wait(30)
            SessionStore(key).delete()  # commits; the cache entries go
            ended.set()

    assert run_threads(worker, 2) == []
    return loaded


@pytest.mark.concurrency
@pytest.mark.parametrize("vendor", SERVER_VENDORS)
def test_a_repeatable_read_load_never_caches_an_ended_session(vendor):
    key = saved_session(_auth_user_id="7", visits=1).session_key
    assert is_cached(key)
    if vendor == "postgresql":
        from django.db.backends.postgresql.psycopg_any import IsolationLevel

        level = IsolationLevel.REPEATABLE_READ
    else:
        level = "repeatable read"
    base = connections[app_settings.DATABASE].settings_dict
    repeatable_read = {**base, "OPTIONS": {**base["OPTIONS"], "isolation_level": level}}

    loaded = end_while_a_transaction_holds_an_old_snapshot(key, repeatable_read)

    assert loaded == [{"_auth_user_id": "7", "visits": 1}]  # its snapshot: the old rows
    assert queries_to_load(key) == ({}, 1)  # but nothing of them in the cache
    assert queries_to_load(key) == ({}, 1)


@pytest.mark.concurrency
@pytest.mark.parametrize("vendor", SERVER_VENDORS)
def test_a_read_committed_load_inside_a_transaction_still_fills_the_cache(vendor):
    key = saved_session(visits=1).session_key
    caches["redis"].clear()

    with atomic():
        assert queries_to_load(key) == ({"visits": 1}, 1)

    assert queries_to_load(key) == ({"visits": 1}, 0)


SQLITE_ONLY = pytest.mark.skipif(settings.VENDOR != "sqlite", reason="SQLite only")


@SQLITE_ONLY
@pytest.mark.concurrency
def test_a_deferred_sqlite_transaction_never_caches_an_ended_session(sqlite_wal_sessions):
    key = saved_session(_auth_user_id="7", visits=1).session_key
    assert is_cached(key)

    loaded = end_while_a_transaction_holds_an_old_snapshot(key, sqlite_wal_sessions)

    assert loaded == [{"_auth_user_id": "7", "visits": 1}]  # its snapshot: the old rows
    assert queries_to_load(key) == ({}, 1)
    assert queries_to_load(key) == ({}, 1)


@SQLITE_ONLY
@pytest.mark.parametrize("mode, caches_it", [(None, False), ("IMMEDIATE", True)])
def test_sqlite_caches_only_from_transactions_that_hold_the_write_lock(mode, caches_it):
    """A deferred transaction reads from the snapshot of its first read, which may predate a
    change committed since; an IMMEDIATE one holds the write lock from BEGIN."""
    key = saved_session(visits=1).session_key
    caches["redis"].clear()
    connection = connections[app_settings.DATABASE]
    configured = connection.transaction_mode
    connection.transaction_mode = mode
    try:
        with atomic():
            assert queries_to_load(key) == ({"visits": 1}, 1)
    finally:
        connection.transaction_mode = configured

    assert is_cached(key) is caches_it
