"""Concurrent requests on one session, with real threads and one connection per thread."""

import threading

import pytest
from django.contrib.sessions.backends.base import UpdateError

from dbsessions.backends.db import SessionStore
from dbsessions.models import Attribute, Session
from tests.utils import SERVER_VENDORS, run_threads

THREADS = 8
ITERATIONS = 25

pytestmark = [
    pytest.mark.django_db(databases="__all__", transaction=True),
    pytest.mark.concurrency,
]


def new_session(**data) -> str:
    session = SessionStore()
    session.update(data)
    session.save()
    return session.session_key


@pytest.mark.parametrize("vendor", SERVER_VENDORS)
def test_distinct_keys_written_concurrently_are_all_kept(vendor):
    key = new_session(shared="start")

    def writer(index: int) -> None:
        for iteration in range(ITERATIONS):
            session = SessionStore(key)
            session[f"thread{index}-{iteration}"] = iteration
            session[f"count{index}"] = iteration + 1
            session.save()

    assert run_threads(writer) == []
    data = SessionStore(key).load()
    for index in range(THREADS):
        assert data[f"count{index}"] == ITERATIONS
        for iteration in range(ITERATIONS):
            assert data[f"thread{index}-{iteration}"] == iteration
    assert len(data) == 1 + THREADS + THREADS * ITERATIONS


@pytest.mark.parametrize("vendor", SERVER_VENDORS)
def test_same_key_written_concurrently_raises_nothing(vendor):
    key = new_session()
    written = {(i, j) for i in range(THREADS) for j in range(ITERATIONS)}

    def writer(index: int) -> None:
        for iteration in range(ITERATIONS):
            session = SessionStore(key)
            session["shared"] = [index, iteration]
            session.save()

    assert run_threads(writer) == []
    assert tuple(SessionStore(key).load()["shared"]) in written
    assert Attribute.objects.filter(name="shared").count() == 1


@pytest.mark.parametrize("vendor", SERVER_VENDORS)
def test_new_key_inserted_concurrently_raises_nothing(vendor):
    """Every thread inserts the same new attribute at once: the upsert absorbs the race."""
    keys = [new_session() for _ in range(ITERATIONS)]

    def writer(index: int) -> None:
        for key in keys:
            session = SessionStore(key)
            session["fresh"] = index
            session.save()

    assert run_threads(writer) == []
    assert Attribute.objects.filter(name="fresh").count() == ITERATIONS


@pytest.mark.parametrize("vendor", SERVER_VENDORS)
# On one server the delete queues the saves behind its row lock. On a cluster nothing queues
# them: each save applied on the deleting node aborts the delete there, and a save loop this
# tight starves it (docs/scaling.md); tests/galera races an end against a save instead.
@pytest.mark.one_server
def test_session_deleted_while_another_thread_saves(vendor):
    key = new_session(n=0)
    outcome: dict[str, object] = {}
    session = SessionStore(key)
    assert session["n"] == 0  # loaded before the threads start, so the delete comes after

    def saver() -> None:
        saves = 0
        while True:
            session[f"k{saves}"] = saves
            try:
                session.save()
            except UpdateError:
                outcome["update_error"] = True
                break
            saves += 1
            if saves > 5000:
                break
        outcome["saves"] = saves

    def deleter() -> None:
        SessionStore(key).delete()

    errors = run_threads(lambda index: saver() if index == 0 else deleter(), count=2)

    assert errors == []
    assert outcome.get("update_error") is True, outcome
    assert SessionStore(key).load() == {}
    assert Session.objects.count() == 0
    assert Attribute.objects.count() == 0


@pytest.mark.parametrize("vendor", SERVER_VENDORS)
def test_delete_between_load_and_save_takes_the_update_error_path(vendor):
    key = new_session(n=0)
    loaded = threading.Event()
    gone = threading.Event()
    raised: list[type] = []

    def request(index: int) -> None:
        if index == 0:
            session = SessionStore(key)
            session["n"] += 1
            loaded.set()
            gone.wait(30)
            try:
                session.save()
            except UpdateError:
                raised.append(UpdateError)
        else:
            loaded.wait(30)
            SessionStore(key).delete()
            gone.set()

    assert run_threads(request, count=2) == []
    assert raised == [UpdateError]
    assert Session.objects.count() == 0
