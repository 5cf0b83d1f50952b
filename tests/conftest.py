"""Shared fixtures and the vendor markers.

``@pytest.mark.postgresql`` / ``@pytest.mark.mysql`` tests run only on that vendor and
``separate_db`` tests only with ``DBSESSIONS_SEPARATE_DB=1``: each runs in the test command's
run for that configuration, so under ``CI=true`` none of them is left out. ``tests/galera`` is
collected only with ``DBSESSIONS_GALERA=1``, which runs the rest of the suite on the cluster
too, but for the ``one_server`` tests.

A test that asks for ``session_engine``, ``SessionStore`` or ``store`` runs once per engine,
with ids ``[db]`` and ``[cached_db]`` (see ``tests.utils.ENGINES``).
"""

import os
from collections.abc import Iterator
from importlib import import_module

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connections

from dbsessions.backends.db import SessionStore as DatabaseStore
from dbsessions.conf import app_settings
from tests.galera.cluster import Cluster, ClusterError
from tests.utils import (
    CACHED_DB_ENGINE,
    ENGINES,
    PASSWORD,
    clear_session_cache,
    override_dbsessions,
)

VENDOR_MARKERS = {"postgresql": "postgresql", "mysql": "mysql"}
ONE_SERVER = (
    "waits on one server's row locks; Galera nodes do not wait for each other's locks (the "
    "loser of a conflict fails at its commit, which tests/galera covers)"
)

IN_CI = os.environ.get("CI", "") in ("true", "1")
GALERA = getattr(settings, "GALERA", False)

# tests/galera needs the cluster's settings (tox's galera environment), which run the rest of
# the suite on the cluster too, through HAProxy.
if not GALERA:
    collect_ignore_glob = ["galera/*"]


@pytest.fixture(scope="session")
def galera_cluster() -> Iterator[Cluster]:
    """The Galera suite's cluster: started unless it runs, stopped at the end if this run
    started it. One that cannot start skips the run, except under ``CI=true``: a failure."""
    if not GALERA:
        pytest.fail("the Galera suite needs DBSESSIONS_GALERA=1 (tox -e py311-django52-galera)")
    cluster = Cluster()
    started = False
    if not cluster.running():
        try:
            cluster.start()
        except (ClusterError, OSError) as exc:
            if IN_CI:
                pytest.fail(f"the Galera cluster did not start: {exc}", pytrace=False)
            pytest.skip(f"the Galera cluster did not start: {exc}")
        started = True
    yield cluster
    if started:
        cluster.stop()


if GALERA:

    @pytest.fixture(scope="session")
    def django_db_setup(galera_cluster, django_db_setup):
        """The test database, created through HAProxy once the cluster runs."""
        return django_db_setup


def pytest_collection_modifyitems(config, items):
    vendor = settings.VENDOR
    separate = getattr(settings, "SEPARATE_SESSIONS_DB", False)
    galera = getattr(settings, "GALERA", False)
    for item in items:
        for marker, name in VENDOR_MARKERS.items():
            if item.get_closest_marker(marker) and vendor != name:
                item.add_marker(pytest.mark.skip(reason=f"{name} only (DBSESSIONS_DB={vendor})"))
        if item.get_closest_marker("one_server") and galera:
            item.add_marker(pytest.mark.skip(reason=ONE_SERVER))
        if item.get_closest_marker("separate_db") and not separate:
            item.add_marker(pytest.mark.skip(reason="needs DBSESSIONS_SEPARATE_DB=1"))


@pytest.fixture(scope="module")
def sqlite_file_alias(tmp_path_factory, django_db_setup, django_db_blocker):
    """An alias for the session tables in a SQLite file in WAL mode, as sites run it (the test
    database is in memory, where a reader's lock keeps every writer out).

    Module-scoped so that it exists before the test's database access is set up: "__all__"
    then includes it.
    """
    alias = "sessions_file"
    connections.settings[alias] = {
        **connections["default"].settings_dict,
        "NAME": str(tmp_path_factory.mktemp("sqlite") / "sessions.sqlite3"),
        "OPTIONS": {"init_command": "PRAGMA journal_mode=WAL;", "timeout": 20},
    }
    try:
        # Every app: the flush after each test fills contenttypes and permissions there. (The
        # sessions' own tables go where SessionRouter says, when there is one.)
        with django_db_blocker.unblock(), override_dbsessions(DATABASE=alias):
            call_command("migrate", database=alias, verbosity=0)
        yield alias
    finally:
        connections[alias].close()
        del connections.settings[alias]
        delattr(connections._connections, alias)


@pytest.fixture
def sqlite_wal_sessions(sqlite_file_alias):
    """The sessions on that file, for this test; its connection settings."""
    with override_dbsessions(DATABASE=sqlite_file_alias):
        yield connections[sqlite_file_alias].settings_dict


@pytest.fixture
def sessions_connection():
    """The connection that holds the session tables."""
    return connections[app_settings.DATABASE]


@pytest.fixture(params=ENGINES)
def session_engine(request, settings) -> str:
    """The SESSION_ENGINE under test, each engine in turn; cached_db starts on an empty cache.

    A module narrows or widens the list with
    ``@pytest.mark.parametrize("session_engine", [...], indirect=True)``.
    """
    settings.SESSION_ENGINE = request.param
    if request.param == CACHED_DB_ENGINE:
        clear_session_cache()
    return request.param


@pytest.fixture(name="SessionStore")
def session_store_class(session_engine) -> type[DatabaseStore]:
    """The SessionStore class of the engine under test."""
    return import_module(session_engine).SessionStore


@pytest.fixture
def store(SessionStore) -> DatabaseStore:
    """A new, empty SessionStore of the engine under test."""
    return SessionStore()


@pytest.fixture
def alice(django_user_model):
    """A user who can log in with ``PASSWORD``."""
    return django_user_model.objects.create_user("alice", password=PASSWORD)


@pytest.fixture
def bob(django_user_model):
    """Another user, with the same password."""
    return django_user_model.objects.create_user("bob", password=PASSWORD)
