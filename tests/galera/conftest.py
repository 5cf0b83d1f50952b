"""The Galera suite: dbsessions on a three-node MariaDB Galera cluster behind HAProxy.

Runs with ``DBSESSIONS_GALERA=1`` (tox's ``galera`` environment), which points ``default`` at
HAProxy and adds the aliases ``node1`` to ``node3``; ``tests/conftest.py`` starts the cluster
before the test database is created (``galera_cluster``).
"""

from collections.abc import Iterator

import pytest

from tests.galera.cluster import Cluster


@pytest.fixture
def cluster(galera_cluster: Cluster) -> Iterator[Cluster]:
    """The cluster, all three nodes Synced and in HAProxy's rotation before and after the
    test."""
    galera_cluster.wait_synced()
    galera_cluster.wait_balanced()
    yield galera_cluster
    galera_cluster.wait_synced(timeout=120)
    galera_cluster.wait_balanced()
