"""Django's own session tests (its ``sessions_tests`` module), run against both dbsessions engines.

The module is read from ``tests/sessions_tests`` of the installed Django version's source
distribution, which ``scripts/bootstrap.sh`` fetches into the venv; nothing of it is copied into
this project. Each Django class that applies is subclassed once per engine, sync and async
tests alike:

- ``SessionTestsMixin`` (mapping methods, expiry, ``cycle_key``, invalid keys, no resurrection
  of a deleted session) through the two classes below, plus once more for ``cached_db`` in a
  ``TransactionTestCase``, where its changes commit and its cache entries are dropped.
- ``DatabaseSessionTests`` with ``backend = dbsessions.backends.db.SessionStore``, its
  ``model`` hook answered by ``dbsessions.models.Session`` (so ``test_clearsessions_command``
  and ``test_aclear_expired`` count our rows after Django's ``clearsessions`` and
  ``aclear_expired()``). Left out: ``test_session_str``, ``test_session_get_decoded`` and
  ``test_sessionmanager_save``, which read contrib.sessions' model API (its ``session_key``
  column, ``get_decoded()``, ``SessionManager.save()``) that a row-per-attribute store does
  not have.
- ``CacheDBSessionTests`` with ``dbsessions.backends.cached_db``. Left out:
  ``test_exists_searches_cache_first``, which tests a choice of Django's engine (``exists()``
  answered from the cache) where ours answers from the database by design (the cache only
  spares the load query, README "A cache in front"); ``test_cache_set_failure_non_fatal`` and
  its async twin, which need Django's ``tests/cache/failing_cache.py`` and assert the log
  message of Django's engine (``Error saving to cache``) on ``django.contrib.sessions``' logger.
- ``SessionMiddlewareTests`` under ``SESSION_ENGINE`` set to each engine, with the module's
  ``DatabaseSession`` (the engine ``test_session_update_error_redirect`` deletes a session
  with) pointed at the engine under test. Left out: ``test_empty_session_saved``, whose end
  reads contrib.sessions' ``Session`` model (``Session.objects.get(session_key=...)``).

Left out whole: ``DatabaseSessionWithTimeZoneTests`` and ``CacheDBSessionWithTimeZoneTests``
(``USE_TZ=True``, which the test settings already use: they would repeat the classes above);
``CustomDatabaseSessionTests`` (contrib.sessions' ``AbstractBaseSession`` with a custom model);
``FileSessionTests``, ``FileSessionPathLibTests``, ``CacheSessionTests`` and
``CookieSessionTests`` (other engines); ``ClearSessionsCommandTests`` (``clearsessions`` with a
stub engine of Django's suite, no dbsessions code involved); ``SessionBaseTests`` (the abstract
``SessionBase`` itself). Model modules the module imports for those classes are answered with
stand-ins.
"""

import importlib.util
import os
import sys
import types
from collections.abc import Callable
from pathlib import Path
from unittest import mock

import django
import pytest
from django.contrib.sessions.backends.db import SessionStore as DjangoDatabaseStore
from django.core.cache import caches
from django.test import TransactionTestCase, override_settings

from dbsessions.backends import cached_db, db
from dbsessions.models import Session

SUITE = Path(sys.prefix) / "django-tests" / django.__version__ / "sessions_tests"
PACKAGE = "django_sessions_tests"

if not (SUITE / "tests.py").is_file():
    message = f"Django's session tests are not in {SUITE}; run ./scripts/bootstrap.sh"
    if os.environ.get("CI") == "true":
        raise RuntimeError(message)
    pytest.skip(message, allow_module_level=True)


def _load_suite() -> types.ModuleType:
    """Import Django's ``sessions_tests/tests.py`` as a module of its own.

    It also imports two model modules for classes not run here: its own ``.models`` and
    ``django.contrib.sessions.models``, whose model needs ``django.contrib.sessions`` in
    INSTALLED_APPS. Both are answered with stand-ins, the latter only while the module is
    imported. The module stays out of this one's namespace: pytest would collect its classes.
    """
    package = types.ModuleType(PACKAGE)
    package.__path__ = [str(SUITE)]
    models = types.ModuleType(f"{PACKAGE}.models")
    models.SessionStore = DjangoDatabaseStore
    contrib_models = types.ModuleType("django.contrib.sessions.models")
    contrib_models.Session = None
    spec = importlib.util.spec_from_file_location(f"{PACKAGE}.tests", SUITE / "tests.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.update({PACKAGE: package, models.__name__: models, spec.name: module})
    real_contrib_models = sys.modules.get(contrib_models.__name__)
    sys.modules[contrib_models.__name__] = contrib_models
    try:
        spec.loader.exec_module(module)
    finally:
        if real_contrib_models is None:
            del sys.modules[contrib_models.__name__]
        else:
            sys.modules[contrib_models.__name__] = real_contrib_models
    return module


suite = _load_suite()


def leave_out(*names: str) -> Callable[[type], type]:
    """Drop inherited tests from a class; the module docstring says why for each."""

    def decorate(cls: type) -> type:
        for name in names:
            getattr(cls, name)  # fails loudly if a Django release renames the test
            setattr(cls, name, None)  # unittest collects only callables
        return cls

    return decorate


class CacheClearedMixin:
    """Starts each test with an empty cache, so no test is served another one's entries."""

    def setUp(self) -> None:
        caches["default"].clear()
        super().setUp()


@leave_out("test_session_str", "test_session_get_decoded", "test_sessionmanager_save")
class TestDatabaseEngine(suite.DatabaseSessionTests):
    backend = db.SessionStore
    session_engine = "dbsessions.backends.db"
    databases = "__all__"

    @property
    def model(self) -> type[Session]:
        return Session


@leave_out(
    "test_exists_searches_cache_first",
    "test_cache_set_failure_non_fatal",
    "test_cache_async_set_failure_non_fatal",
)
class TestCachedDatabaseEngine(CacheClearedMixin, suite.CacheDBSessionTests):
    backend = cached_db.SessionStore
    databases = "__all__"


class TestCachedDatabaseEngineCommitted(
    CacheClearedMixin, suite.SessionTestsMixin, TransactionTestCase
):
    """Transactional: the engine drops its cache entries when a change commits."""

    backend = cached_db.SessionStore
    databases = "__all__"


@leave_out("test_empty_session_saved")
class MiddlewareTests(suite.SessionMiddlewareTests):
    """Django's middleware tests; ``engine`` is the SESSION_ENGINE's store."""

    __test__ = False  # a base: each engine's subclass below runs it
    engine: type[db.SessionStore]
    databases = "__all__"

    def setUp(self) -> None:
        super().setUp()
        self.enterContext(mock.patch.object(suite, "DatabaseSession", self.engine))


@override_settings(SESSION_ENGINE="dbsessions.backends.db")
class TestMiddlewareDatabaseEngine(MiddlewareTests):
    __test__ = True
    engine = db.SessionStore


@override_settings(SESSION_ENGINE="dbsessions.backends.cached_db")
class TestMiddlewareCachedDatabaseEngine(CacheClearedMixin, MiddlewareTests):
    __test__ = True
    engine = cached_db.SessionStore
