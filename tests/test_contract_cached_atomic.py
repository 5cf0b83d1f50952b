"""The contract tests of the cached_db engine again, each inside one transaction.

As in a ``django.test.TestCase`` (or under ``ATOMIC_REQUESTS``), nothing commits: the engine
must show a transaction its own saves, deletes and rotations although the cache learns of them
only at a commit that never comes.
"""

import pytest

from tests import test_contract, test_contract_async
from tests.test_contract_cached import _rebound, cached_engine, store  # noqa: F401 (fixtures)

pytestmark = pytest.mark.django_db(databases="__all__")

globals().update(_rebound(test_contract, "sync"))
globals().update(_rebound(test_contract_async, "async"))
