"""Django's own session tests, run against both dbsessions engines.

``SessionTestsMixin`` (the tests every Django session engine passes: mapping methods, expiry,
``cycle_key``, invalid keys, no resurrection of a deleted session, and their async twins) is
read from ``tests/sessions_tests`` of the installed Django version's source distribution, which
``scripts/bootstrap.sh`` fetches into the venv; nothing of it is copied into this project.
Model modules it imports for test classes not run here are answered with stand-ins.
"""

import importlib.util
import os
import sys
import types
from pathlib import Path

import django
import pytest
from django.contrib.sessions.backends.db import SessionStore as DjangoDatabaseStore
from django.test import TestCase, TransactionTestCase

from dbsessions.backends import cached_db, db

SUITE = Path(sys.prefix) / "django-tests" / django.__version__ / "sessions_tests"
PACKAGE = "django_sessions_tests"

if not (SUITE / "tests.py").is_file():
    message = f"Django's session tests are not in {SUITE}; run ./scripts/bootstrap.sh"
    if os.environ.get("CI") == "true":
        raise RuntimeError(message)
    pytest.skip(message, allow_module_level=True)


def _load_mixin() -> type:
    """Import Django's ``sessions_tests/tests.py`` and return its ``SessionTestsMixin``.

    The module also imports two model modules for test classes not run here: its own
    ``.models`` and ``django.contrib.sessions.models``, whose model needs
    ``django.contrib.sessions`` in INSTALLED_APPS. Both are answered with stand-ins, the
    latter only while the module is imported.
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
    return module.SessionTestsMixin


SessionTestsMixin = _load_mixin()


class TestDatabaseEngine(SessionTestsMixin, TestCase):
    backend = db.SessionStore
    databases = "__all__"


class TestCachedDatabaseEngine(SessionTestsMixin, TransactionTestCase):
    """Transactional: the engine drops its cache entries when a change commits."""

    backend = cached_db.SessionStore
    databases = "__all__"

    def setUp(self) -> None:
        from django.core.cache import caches

        caches["default"].clear()
        super().setUp()
