"""The Galera suite: dbsessions on a three-node MariaDB Galera cluster behind HAProxy.

Runs with ``DBSESSIONS_GALERA=1`` (tox's ``galera`` environment), which points ``default`` at
HAProxy and adds the aliases ``node1`` to ``node3``. The cluster is started before the test
database is created, unless it is already running, and stopped at the end if this run started
it. Where it cannot start, the suite is skipped, except under ``CI=true``, where that fails.
"""

import os
from collections.abc import Iterator

import pytest
from django.conf import settings

from tests.galera.cluster import Cluster, ClusterError, on_node

__all__ = ["on_node"]

IN_CI = os.environ.get("CI", "") in ("true", "1")


@pytest.fixture(scope="session")
def galera_cluster() -> Iterator[Cluster]:
    if not getattr(settings, "GALERA", False):
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


@pytest.fixture(scope="session")
def django_db_setup(galera_cluster, django_db_setup):
    """The test database, created through HAProxy once the cluster runs."""
    return django_db_setup


@pytest.fixture
def cluster(galera_cluster: Cluster) -> Iterator[Cluster]:
    """The cluster, all three nodes Synced and in HAProxy's rotation before and after the
    test."""
    galera_cluster.wait_synced()
    galera_cluster.wait_balanced()
    yield galera_cluster
    galera_cluster.wait_synced(timeout=120)
    galera_cluster.wait_balanced()
