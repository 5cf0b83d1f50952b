"""``atomic_update`` and ``SAME_KEY_WRITES = "detect"`` across the three nodes, with real threads,
each thread connected to its own node (``on_node``).

A node does not wait for another node's row lock: two updates of one attribute on different
nodes both run, and the one that commits second loses the certification (a deadlock error),
is rolled back and runs again, reading the winner's value. Nothing is lost either way.
"""

import pytest

from dbsessions import SessionConflict
from dbsessions.backends.db import SessionStore
from tests.galera.cluster import on_node
from tests.galera.test_cluster_concurrency import NODES, new_session, node_of
from tests.utils import override_dbsessions, run_threads

pytestmark = [pytest.mark.django_db(databases="__all__", transaction=True)]

THREADS = 8
WRITES = 25


def test_appends_through_atomic_update_from_every_node_are_all_kept(cluster):
    key = new_session(cart=[])

    def appender(index: int) -> None:
        with on_node(node_of(index)):
            for write in range(WRITES):
                item = [index, write]
                SessionStore(key).atomic_update("cart", lambda cart, item=item: [*cart, item])

    assert run_threads(appender, THREADS) == []
    cart = SessionStore(key).load()["cart"]
    assert sorted(map(tuple, cart)) == [(i, w) for i in range(THREADS) for w in range(WRITES)]
    for node in range(1, NODES + 1):
        with on_node(node):
            assert len(SessionStore(key).load()["cart"]) == THREADS * WRITES


def test_a_counter_incremented_from_every_node_counts_every_increment(cluster):
    key = new_session()

    def incrementer(index: int) -> None:
        with on_node(node_of(index)):
            for _ in range(WRITES):
                SessionStore(key).atomic_update("count", lambda n: n + 1, default=0)

    assert run_threads(incrementer, THREADS) == []
    assert SessionStore(key).load()["count"] == THREADS * WRITES


def test_detect_reports_every_lost_update_across_nodes(cluster):
    key = new_session(cart=[])
    landed, conflicts = [], []

    def appender(index: int) -> None:
        with on_node(node_of(index)):
            for write in range(WRITES):
                session = SessionStore(key)
                session["cart"].append([index, write])
                session.modified = True
                try:
                    session.save()
                except SessionConflict:
                    conflicts.append((index, write))
                else:
                    landed.append((index, write))

    with override_dbsessions(SAME_KEY_WRITES="detect"):
        assert run_threads(appender, THREADS) == []
    cart = SessionStore(key).load()["cart"]
    assert len(landed) + len(conflicts) == THREADS * WRITES
    assert sorted(map(tuple, cart)) == sorted(landed)
