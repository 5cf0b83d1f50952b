"""Concurrent touches, on real threads with a connection each: the session row's times never
move backwards, whatever order the touches commit in, and a touch never brings back a session
ended meanwhile.

Each thread reads its own clock (``clock``), so that one request can touch with a later time
than another that commits after it.
"""

import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connections, transaction
from django.utils import timezone

from dbsessions.conf import app_settings
from tests.utils import (
    SERVER_VENDORS,
    override_dbsessions,
    run_threads,
    saved_session,
    session_rows,
)

pytestmark = [
    pytest.mark.django_db(transaction=True, databases="__all__"),
    pytest.mark.usefixtures("session_engine"),
]

T0 = datetime(2031, 3, 1, 12, 0, tzinfo=UTC)
AGE = 3600
#: Seconds a thread holding a row lock waits before it commits, so that the other one's
#: UPDATE is sent meanwhile and waits for the lock.
HOLD = 0.5


@pytest.fixture
def clock(monkeypatch, settings):
    """Per-thread time: ``clock.now = seconds`` sets this thread's ``timezone.now()`` to
    ``T0 + seconds``; a thread that set nothing reads the real time."""
    settings.SESSION_COOKIE_AGE = AGE
    local = threading.local()
    real_now = timezone.now

    def now() -> datetime:
        seconds = getattr(local, "now", None)
        return real_now() if seconds is None else T0 + timedelta(seconds=seconds)

    monkeypatch.setattr(timezone, "now", now)
    return local


def thread(target) -> threading.Thread:
    def run() -> None:
        try:
            target()
        finally:
            connections.close_all()

    started = threading.Thread(target=run)
    started.start()
    return started


def times(store) -> tuple[datetime, datetime]:
    row = session_rows().get(pk=store._row_id)
    return row.last_access, row.expires_at


def at(seconds: int) -> tuple[datetime, datetime]:
    """(last_access, expires_at) of a touch at ``T0 + seconds``."""
    return T0 + timedelta(seconds=seconds), T0 + timedelta(seconds=seconds + AGE)


@override_dbsessions(TOUCH_INTERVAL=60)
def test_a_touch_that_commits_after_a_later_one_moves_nothing_back(clock, SessionStore):
    clock.now = 0
    store = saved_session(visits=1)
    early_loaded, late_done = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def touch(seconds: int, first: threading.Event, then: threading.Event) -> None:
        """Load, say so with ``first``, and save once ``then`` is set."""
        clock.now = seconds
        try:
            loaded = SessionStore(store.session_key)
            assert loaded["visits"] == 1 and loaded.modified  # a touch is due
            first.set()
            assert then.wait(30)
            loaded.save()
        except BaseException as exc:
            errors.append(exc)
        finally:
            first.set()
            late_done.set()

    early = thread(lambda: touch(100, early_loaded, late_done))
    assert early_loaded.wait(30)
    thread(lambda: touch(200, threading.Event(), early_loaded)).join()
    early.join()

    assert errors == []
    assert times(store) == at(200)


@pytest.mark.one_server
@pytest.mark.parametrize("vendor", SERVER_VENDORS)
@override_dbsessions(TOUCH_INTERVAL=60)
def test_a_touch_waiting_for_a_later_one_s_lock_moves_nothing_back(vendor, clock, SessionStore):
    clock.now = 0
    store = saved_session(visits=1)
    early_loaded, locked = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def late() -> None:
        clock.now = 200
        try:
            assert early_loaded.wait(30)
            loaded = SessionStore(store.session_key)
            assert loaded["visits"] == 1
            with transaction.atomic(using=app_settings.DATABASE):
                loaded.save()  # holds the row lock until the block ends
                locked.set()
                threading.Event().wait(HOLD)
        except BaseException as exc:
            errors.append(exc)
        finally:
            locked.set()

    def early() -> None:
        clock.now = 100
        try:
            loaded = SessionStore(store.session_key)
            assert loaded["visits"] == 1 and loaded.modified
            early_loaded.set()
            assert locked.wait(30)
            loaded.save()  # waits for the late touch's commit, then keeps its times
        except BaseException as exc:
            errors.append(exc)
        finally:
            early_loaded.set()

    threads = [thread(late), thread(early)]
    for started in threads:
        started.join()

    assert errors == []
    assert times(store) == at(200)


@pytest.mark.parametrize("vendor", SERVER_VENDORS)
@override_dbsessions(TOUCH_INTERVAL=60)
def test_many_concurrent_touches_leave_the_latest_times(vendor, clock, SessionStore):
    clock.now = 0
    store = saved_session(visits=1)
    count = 8
    all_loaded = threading.Barrier(count)

    def touch(index: int) -> None:
        # The later the time, the earlier the thread tends to commit.
        clock.now = 100 + 10 * (count - index)
        loaded = SessionStore(store.session_key)
        assert loaded["visits"] == 1 and loaded.modified
        all_loaded.wait(30)
        threading.Event().wait(0.02 * index)
        loaded.save()

    assert run_threads(touch, count) == []
    assert times(store) == at(100 + 10 * count)


@pytest.mark.one_server
@pytest.mark.parametrize("vendor", SERVER_VENDORS)
@override_dbsessions(TOUCH_INTERVAL=60)
def test_a_touch_waiting_on_an_end_never_brings_the_session_back(vendor, clock, SessionStore):
    clock.now = 0
    store = saved_session(visits=1)
    touch_loaded, locked = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def end() -> None:
        try:
            assert touch_loaded.wait(30)
            with transaction.atomic(using=app_settings.DATABASE):
                SessionStore(store.session_key).delete()  # locks, then deletes the row
                locked.set()
                threading.Event().wait(HOLD)
        except BaseException as exc:
            errors.append(exc)
        finally:
            locked.set()

    def touch() -> None:
        clock.now = 100
        try:
            loaded = SessionStore(store.session_key)
            assert loaded["visits"] == 1 and loaded.modified
            touch_loaded.set()
            assert locked.wait(30)
            loaded.save()  # waits for the end, then matches nothing: no error
        except BaseException as exc:
            errors.append(exc)
        finally:
            touch_loaded.set()

    threads = [thread(touch), thread(end)]
    for started in threads:
        started.join()

    assert errors == []
    assert not session_rows().filter(pk=store._row_id).exists()
    clock.now = 101
    assert dict(SessionStore(store.session_key).items()) == {}
