"""A request that another node serves right after a save sees the save.

Galera applies a commit on the other nodes a moment after it returns on the first; a read
there in that moment sees the old value. The configuration docs/scaling.md gives
(``wsrep_sync_wait = 1`` in each connection's ``init_command``, as the Galera settings of
testproject have it) makes every read wait until its node has caught up.
"""

import queue
import threading

import pytest
from django.db import connections

from dbsessions.backends.db import SessionStore
from tests.galera.cluster import on_node
from tests.utils import run_threads

pytestmark = [pytest.mark.django_db(databases="__all__", transaction=True)]

ROUNDS = 300


def sync_wait() -> int:
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT @@session.wsrep_sync_wait")
        return int(cursor.fetchone()[0])


def test_the_settings_make_every_connection_wait_for_its_node_to_catch_up(cluster):
    for number in (1, 2, 3):
        with on_node(number):
            assert sync_wait() & 1, f"reads on node {number} do not wait"


def test_a_save_on_one_node_is_seen_at_once_on_the_others(cluster):
    session = SessionStore()
    session["n"] = -1
    session.save()
    key = session.session_key
    saved: queue.Queue[int | None] = queue.Queue()
    read: queue.Queue[int] = queue.Queue()
    stale: list[tuple[int, int]] = []
    lock = threading.Lock()

    def writer() -> None:
        with on_node(1):
            for n in range(ROUNDS):
                store = SessionStore(key)
                store["n"] = n
                store.save()
                saved.put(n)
                read.get(timeout=30)
            saved.put(None)

    def reader(number: int) -> None:
        with on_node(number):
            while (n := saved.get(timeout=30)) is not None:
                seen = SessionStore(key).load().get("n")
                if seen != n:
                    with lock:
                        stale.append((n, seen))
                read.put(n)

    assert run_threads(lambda index: writer() if index == 0 else reader(2), 2) == []
    assert stale == []
