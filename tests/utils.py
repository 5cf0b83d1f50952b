"""Helpers shared by the test modules (and by bench/): plain functions and parameter lists.

Fixtures live in ``tests/conftest.py``; what a fixture and a helper both need is here.
"""

import os
import threading
from importlib import import_module

import pytest
from django.conf import settings
from django.core.cache import caches
from django.db import connections
from django.db.models import QuerySet
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from dbsessions.backends.db import SessionStore
from dbsessions.conf import app_settings
from dbsessions.models import Session

#: ``@pytest.mark.parametrize("vendor", SERVER_VENDORS)``: a test that needs a server, run in
#: that server's run. (SQLite's in-memory test database, shared between threads, fails
#: concurrent writers at once instead of letting them wait.)
SERVER_VENDORS = [
    pytest.param("postgresql", marks=pytest.mark.postgresql),
    pytest.param("mysql", marks=pytest.mark.mysql),
]

#: The password of the ``alice`` and ``bob`` fixtures' users.
PASSWORD = "correct-horse-battery"

DB_ENGINE = "dbsessions.backends.db"
CACHED_DB_ENGINE = "dbsessions.backends.cached_db"

#: The engines the ``session_engine`` fixture runs a test with. cached_db's runs commit: the
#: engine drops its cache entries when a change commits, which a test inside one transaction
#: never reaches. The marks of a parameter win over a module's ``pytestmark`` but not over a
#: ``django_db`` mark on the test function itself.
DB = pytest.param(DB_ENGINE, id="db")
CACHED_DB = pytest.param(
    CACHED_DB_ENGINE,
    id="cached_db",
    marks=pytest.mark.django_db(transaction=True, databases="__all__"),
)
ENGINES = [DB, CACHED_DB]

#: The engines plus cached_db inside one transaction that never commits, as in a
#: ``django.test.TestCase`` or under ``ATOMIC_REQUESTS``: the engine must show a transaction its
#: own changes although the cache learns of them only at a commit. Use with
#: ``@pytest.mark.parametrize("session_engine", ENGINES_AND_CACHED_IN_ATOMIC, indirect=True)``
#: (and ``[CACHED_DB]`` so for the tests of cached_db alone).
ENGINES_AND_CACHED_IN_ATOMIC = [
    *ENGINES,
    pytest.param(
        CACHED_DB_ENGINE, id="cached_db-atomic", marks=pytest.mark.django_db(databases="__all__")
    ),
]

#: The ``pytestmark`` of a module of cached_db's own tests: cached_db alone, committing.
CACHED_DB_ONLY = [
    pytest.mark.django_db(transaction=True, databases="__all__"),
    pytest.mark.parametrize("session_engine", [CACHED_DB], indirect=True),
    pytest.mark.usefixtures("session_engine"),
]

REDIS_URL = os.environ.get("DBSESSIONS_REDIS_URL", "redis://127.0.0.1:6379/15")


def override_dbsessions(**values) -> override_settings:
    """Override some DBSESSIONS keys, keeping the others (such as DATABASE) as configured."""
    return override_settings(DBSESSIONS={**getattr(settings, "DBSESSIONS", {}), **values})


def engine_store() -> type[SessionStore]:
    """The SessionStore class of the configured SESSION_ENGINE, as Django's middleware finds it.

    Both engines' classes are ``dbsessions.backends.db.SessionStore`` or a subclass of it.
    """
    return import_module(settings.SESSION_ENGINE).SessionStore


def saved_session(user=None, /, **data) -> SessionStore:
    """A saved session of the configured engine holding ``data``, owned by ``user`` as a login
    would leave it."""
    store = engine_store()()
    if user is not None:
        store["_auth_user_id"] = str(user.pk)
    store.update(data)
    store.save()
    return store


def session_rows() -> QuerySet[Session]:
    """The session rows, on whichever database holds them."""
    return Session.objects.using(app_settings.DATABASE)


def queries_to_load(key: str) -> tuple[dict, int]:
    """Load the session of ``key`` in a new store of the configured engine: (its data, the SQL
    queries it took), to tell a cache hit from a database read."""
    with CaptureQueriesContext(connections[app_settings.DATABASE]) as queries:
        store = engine_store()(key)
        data = dict(store.items())
    return data, len(queries)


def clear_session_cache() -> None:
    """Empty the cache cached_db keeps its snapshots in, so no earlier test's entry is served."""
    caches[settings.SESSION_CACHE_ALIAS].clear()


def redis_reachable() -> bool:
    """Whether a Redis answers at ``REDIS_URL``."""
    import redis

    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


def needs_redis() -> pytest.MarkDecorator:
    """Skip where no Redis answers at ``REDIS_URL``, except under ``CI=true``, which has one."""
    return pytest.mark.skipif(
        os.environ.get("CI") != "true" and not redis_reachable(),
        reason=f"no Redis at {REDIS_URL} (required under CI=true)",
    )


#: The first bytes of every PNG file (the benchmark charts).
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def run_bench_smoke(directory, db_name: str, *args: str):
    """``python -m bench --mode smoke`` on this run's database, into ``directory``, on database
    ``db_name`` plus ``DBSESSIONS_TEST_SUFFIX`` (never docs/benchmarks); the finished process."""
    import subprocess
    import sys
    from pathlib import Path

    vendor = os.environ.get("DBSESSIONS_DB", "sqlite")
    db_name += os.environ.get("DBSESSIONS_TEST_SUFFIX", "")
    command = [sys.executable, "-m", "bench", "--mode", "smoke", "--vendors", vendor, *args]
    command += ["--db-name", db_name, "--output", str(directory)]
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run(command, cwd=root, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return done


def run_threads(target, count: int = 8) -> list[BaseException]:
    """Start ``count`` threads together; return what they raised."""
    errors: list[BaseException] = []
    barrier = threading.Barrier(count)

    def worker(index: int) -> None:
        try:
            barrier.wait()
            target(index)
        except BaseException as exc:  # collected and asserted on by the test
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return errors
