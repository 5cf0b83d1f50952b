"""Django's SessionBase contract (sync and async), held by the cached_db engine too.

The tests of ``test_contract`` and ``test_contract_async`` run again, unchanged, with their
``SessionStore`` (and the ``store`` fixture) bound to ``dbsessions.backends.cached_db``. They
run transactionally: the engine drops its cache entries when a change commits.
"""

from types import FunctionType, ModuleType

import pytest
from django.core.cache import caches
from django.test import override_settings

from dbsessions.backends.cached_db import SessionStore
from tests import test_contract, test_contract_async

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")


@pytest.fixture(autouse=True)
def cached_engine():
    with override_settings(SESSION_ENGINE="dbsessions.backends.cached_db"):
        caches["default"].clear()
        yield


@pytest.fixture
def store():
    return SessionStore()


def _rebound(module: ModuleType, prefix: str) -> dict[str, FunctionType]:
    """The module's test functions, seeing the cached engine's ``SessionStore``.

    Every function of the module is copied into one namespace where ``SessionStore`` is the
    cached engine's, so helpers such as ``saved()`` build cached stores too.
    """
    namespace = {**vars(module), "SessionStore": SessionStore}
    for name, function in vars(module).items():
        if isinstance(function, FunctionType) and function.__module__ == module.__name__:
            copy = FunctionType(
                function.__code__, namespace, name, function.__defaults__, function.__closure__
            )
            copy.__dict__.update(function.__dict__)  # pytest marks
            namespace[name] = copy
    return {
        f"test_{prefix}_{name.removeprefix('test_')}": function
        for name, function in namespace.items()
        if name.startswith("test_") and isinstance(function, FunctionType)
    }


globals().update(_rebound(test_contract, "sync"))
globals().update(_rebound(test_contract_async, "async"))
