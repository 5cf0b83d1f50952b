"""One purge at a time across the nodes: the lease row, which every node certifies, where a
GET_LOCK would be local to one node."""

import threading
from datetime import timedelta

import pytest
from django.db import connections
from django.utils import timezone

from dbsessions.backends.db import SessionStore
from dbsessions.models import Session
from dbsessions.purge import purge_expired, purge_lock
from tests.galera.cluster import on_node
from tests.utils import run_threads

pytestmark = [pytest.mark.django_db(databases="__all__", transaction=True)]

ROUNDS = 15


def take_lease_on_two_nodes() -> list[bool]:
    """Whether each of two threads, on nodes 1 and 2, got the lease they asked for at once."""
    taken: list[bool] = []
    lock = threading.Lock()
    both_tried = threading.Barrier(2)

    def take(index: int) -> None:
        with on_node(index + 1), purge_lock(connections["default"]) as lease:
            with lock:
                taken.append(bool(lease))
            both_tried.wait()  # hold it until the other has tried

    assert run_threads(take, 2) == []
    return taken


def test_two_nodes_taking_the_lease_at_once_get_it_once(cluster):
    for _ in range(ROUNDS):
        assert sorted(take_lease_on_two_nodes()) == [False, True]


def test_purges_started_on_two_nodes_delete_each_expired_session_once(cluster):
    past = timezone.now() - timedelta(days=1)
    for _ in range(300):
        session = SessionStore()
        session["cart"] = ["apple"]
        session.save()
    live = SessionStore()
    live["keep"] = 1
    live.save()
    Session.objects.exclude(pk=live._row_id).update(expires_at=past)
    outcomes: list[tuple[bool, int]] = []
    lock = threading.Lock()
    both_tried = threading.Barrier(2)

    def purge(index: int) -> None:
        with on_node(index + 1), purge_lock(connections["default"]) as lease:
            purged = purge_expired("default", None, lease=lease).sessions if lease else 0
            with lock:
                outcomes.append((bool(lease), purged))
            both_tried.wait()

    assert run_threads(purge, 2) == []
    assert sorted(outcomes) == [(False, 0), (True, 300)]
    assert list(Session.objects.values_list("pk", flat=True)) == [live._row_id]
    assert SessionStore(live.session_key).load() == {"keep": 1}
