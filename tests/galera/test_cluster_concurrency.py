"""Concurrent saves, ends and reads of one session across the three nodes, with real threads,
each thread connected to its own node (``on_node``)."""

import contextlib
import logging
import threading

import pytest
from django.contrib.sessions.backends.base import UpdateError
from django.db import connections

from dbsessions.backends.db import SessionStore
from dbsessions.models import Attribute, Session
from tests.galera.cluster import on_node
from tests.utils import override_dbsessions, run_threads

pytestmark = [pytest.mark.django_db(databases="__all__", transaction=True)]

THREADS = 8
SAVES = 25
NODES = 3


def node_of(index: int) -> int:
    return index % NODES + 1


def new_session(**data) -> str:
    session = SessionStore()
    session.update(data)
    session.save()
    return session.session_key


def node_name() -> str:
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT @@wsrep_node_name")
        return cursor.fetchone()[0]


#: Without TOUCH_INTERVAL every save rewrites the session row; with it, saves within the
#: interval write only their attributes.
TOUCH_INTERVALS = pytest.mark.parametrize(
    "touch_interval", [None, 300], ids=["rows", "attributes"]
)


@TOUCH_INTERVALS
def test_distinct_keys_saved_from_every_node_are_all_kept(cluster, touch_interval):
    key = new_session(shared="start")
    names = set()

    def writer(index: int) -> None:
        with on_node(node_of(index)):
            names.add(node_name())
            for save in range(SAVES):
                session = SessionStore(key)
                session[f"thread{index}-{save}"] = save
                session.save()

    with override_dbsessions(TOUCH_INTERVAL=touch_interval):
        assert run_threads(writer, THREADS) == []
    assert names == {"node1", "node2", "node3"}
    data = SessionStore(key).load()
    expected = {f"thread{i}-{s}": s for i in range(THREADS) for s in range(SAVES)}
    assert {name: data[name] for name in expected} == expected
    assert data["shared"] == "start"
    assert Attribute.objects.count() == len(data)


def test_one_key_saved_from_every_node_raises_nothing(cluster, caplog):
    key = new_session(counter=-1)
    written = set()
    lock = threading.Lock()

    def writer(index: int) -> None:
        with on_node(node_of(index)):
            for save in range(SAVES):
                session = SessionStore(key)
                session.load()
                session["counter"] = index * 1000 + save
                session.save()
                with lock:
                    written.add(index * 1000 + save)

    with caplog.at_level(logging.WARNING, logger="dbsessions"):
        assert run_threads(writer, THREADS) == []
    # The nodes did disagree, and the retries settled it.
    assert any("lost a deadlock" in record.getMessage() for record in caplog.records)
    assert len(written) == THREADS * SAVES
    # Last write wins: whatever is stored is one of the values written, on every node.
    values = set()
    for number in range(1, NODES + 1):
        with on_node(number):
            values.add(SessionStore(key).load()["counter"])
    assert len(values) == 1
    assert values <= written


def race_end_and_save(key: str) -> None:
    """End the session on node 1 while node 2 saves a change to it, both loaded first."""
    go = threading.Barrier(2)

    def end() -> None:
        with on_node(1):
            session = SessionStore(key)
            session.load()
            go.wait()
            session.delete()

    def save() -> None:
        with on_node(2):
            session = SessionStore(key)
            session.load()
            session["cart"] = ["apple"]
            session["new"] = 1  # a new attribute row: its foreign key must find the session
            go.wait()
            # UpdateError: the end came first, and the save must not bring the session back.
            with contextlib.suppress(UpdateError):
                session.save()

    assert run_threads(lambda index: (end, save)[index](), 2) == []


@TOUCH_INTERVALS
def test_session_ended_on_one_node_while_another_saves_it_stays_ended(cluster, touch_interval):
    for _ in range(20):
        key = new_session(cart=[])
        with override_dbsessions(TOUCH_INTERVAL=touch_interval):
            race_end_and_save(key)
        for number in range(1, NODES + 1):
            with on_node(number):
                assert SessionStore(key).load() == {}, f"node {number} brought the session back"
                assert not SessionStore().exists(key)
    assert Session.objects.count() == 0
    assert Attribute.objects.count() == 0
