"""Two requests that change the same attribute: ``atomic_update`` and
``SAME_KEY_WRITES = "detect"``, on both engines, with real threads on every live database.

The thread tests run on PostgreSQL and MariaDB in their runs, and on SQLite on a file in WAL
mode (the in-memory test database fails concurrent writers at once instead of queueing them).
"""

import threading

import pytest
from asgiref.sync import async_to_sync
from django.conf import settings
from django.contrib.sessions.backends.base import UpdateError
from django.contrib.sessions.exceptions import SessionInterrupted
from django.contrib.sessions.middleware import SessionMiddleware
from django.core import checks
from django.db import connections, transaction
from django.http import HttpResponse
from django.test import RequestFactory

from dbsessions import SessionConflict
from dbsessions.conf import app_settings
from dbsessions.models import Attribute
from tests.utils import (
    CACHED_DB,
    DB_ENGINE,
    ENGINES_AND_CACHED_IN_ATOMIC,
    SERVER_VENDORS,
    engine_store,
    override_dbsessions,
    run_threads,
    saved_session,
)

THREADS = 8
ITERATIONS = 25

pytestmark = [
    pytest.mark.django_db(databases="__all__"),
    pytest.mark.usefixtures("session_engine"),
]

#: Both engines, committing: what other threads and connections must see.
COMMITTING = pytest.mark.parametrize(
    "session_engine",
    [
        pytest.param(
            DB_ENGINE,
            id="db",
            marks=pytest.mark.django_db(transaction=True, databases="__all__"),
        ),
        CACHED_DB,
    ],
    indirect=True,
)
#: Both engines, and cached_db inside a transaction that never commits.
IN_ATOMIC_TOO = pytest.mark.parametrize(
    "session_engine", ENGINES_AND_CACHED_IN_ATOMIC, indirect=True
)


def stored(key: str, name: str):
    """What a new store of the engine loads for ``name``."""
    return engine_store()(key).get(name)


def attribute_rows(name: str) -> int:
    return Attribute.objects.using(app_settings.DATABASE).filter(name=name).count()


def append(item):
    return lambda cart: [*cart, item]


# atomic_update ----------------------------------------------------------------------


@IN_ATOMIC_TOO
def test_atomic_update_stores_and_returns_the_new_value():
    session = saved_session(cart=["apple"])

    assert session.atomic_update("cart", append("pear"), default=[]) == ["apple", "pear"]

    assert session["cart"] == ["apple", "pear"]
    assert stored(session.session_key, "cart") == ["apple", "pear"]


def test_atomic_update_starts_from_the_default_and_reads_the_stored_value_each_time():
    session = saved_session(visits=1)
    other = engine_store()(session.session_key)

    assert session.atomic_update("count", lambda n: n + 1, default=0) == 1
    assert other.atomic_update("count", lambda n: n + 1, default=0) == 2
    assert session.atomic_update("count", lambda n: n + 1, default=0) == 3

    assert stored(session.session_key, "count") == 3
    assert attribute_rows("count") == 1


@IN_ATOMIC_TOO
def test_a_later_save_of_the_request_keeps_what_others_added_since():
    """The request's copy is the value it wrote; another request's later update stays."""
    session = saved_session(cart=["apple"])
    assert session["cart"] == ["apple"]
    session.atomic_update("cart", append("pear"))
    engine_store()(session.session_key).atomic_update("cart", append("plum"))

    session["visits"] = 1
    session.save()

    assert stored(session.session_key, "cart") == ["apple", "pear", "plum"]
    assert stored(session.session_key, "visits") == 1


def test_a_new_session_is_saved_first():
    session = engine_store()()
    session["theme"] = "dark"

    assert session.atomic_update("count", lambda n: n + 1, default=0) == 1

    assert session.session_key is not None
    assert stored(session.session_key, "count") == 1
    assert stored(session.session_key, "theme") == "dark"


@IN_ATOMIC_TOO
def test_a_session_ended_meanwhile_raises_update_error_and_writes_nothing():
    session = saved_session(cart=["apple"])
    assert session["cart"] == ["apple"]
    engine_store()(session.session_key).delete()

    with pytest.raises(UpdateError):
        session.atomic_update("count", lambda n: n + 1, default=0)

    assert attribute_rows("count") == 0


def test_an_expired_session_raises_update_error():
    session = saved_session(cart=["apple"])
    assert session["cart"] == ["apple"]
    session.set_expiry(-10)  # stored as expired by this save
    session.save()

    with pytest.raises(UpdateError):
        session.atomic_update("cart", append("pear"))


@IN_ATOMIC_TOO
def test_a_function_that_raises_writes_nothing():
    session = saved_session(cart=["apple"])

    with pytest.raises(ZeroDivisionError):
        session.atomic_update("count", lambda n: n / 0, default=0)
    with pytest.raises(ZeroDivisionError):
        session.atomic_update("cart", lambda cart: 1 / 0)

    assert attribute_rows("count") == 0
    assert stored(session.session_key, "cart") == ["apple"]


def test_an_oversized_result_is_refused_and_nothing_is_written():
    session = saved_session(cart=["apple"])

    with override_dbsessions(MAX_VALUE_SIZE=100), pytest.raises(ValueError, match="MAX_VALUE"):
        session.atomic_update("cart", lambda cart: [*cart, "x" * 200])

    assert stored(session.session_key, "cart") == ["apple"]


def test_an_undecodable_stored_value_starts_from_the_default():
    session = saved_session(count=5)
    Attribute.objects.using(app_settings.DATABASE).filter(name="count").update(value=b"\xff")

    assert session.atomic_update("count", lambda n: n + 1, default=0) == 1
    assert stored(session.session_key, "count") == 1


def test_inside_a_callers_transaction_it_commits_or_rolls_back_with_it():
    session = saved_session(cart=["apple"])
    key = session.session_key

    with pytest.raises(RuntimeError), transaction.atomic(using=app_settings.DATABASE):
        session.atomic_update("cart", append("pear"))
        assert stored(key, "cart") == ["apple", "pear"]  # the transaction sees its change
        raise RuntimeError
    assert stored(key, "cart") == ["apple"]

    with transaction.atomic(using=app_settings.DATABASE):
        engine_store()(key).atomic_update("cart", append("plum"))
    assert stored(key, "cart") == ["apple", "plum"]


@COMMITTING
def test_no_load_is_served_the_value_from_before():
    """cached_db: a snapshot cached before the update is never served after it."""
    session = saved_session(cart=["apple"])
    assert stored(session.session_key, "cart") == ["apple"]  # cached now, for cached_db

    engine_store()(session.session_key).atomic_update("cart", append("pear"))

    assert stored(session.session_key, "cart") == ["apple", "pear"]


def test_the_async_twin():
    session = saved_session(count=1)

    assert async_to_sync(session.aatomic_update)("count", lambda n: n + 1) == 2
    assert stored(session.session_key, "count") == 2


def appends_from_threads_are_all_kept() -> None:
    key = saved_session(cart=[]).session_key

    def appender(index: int) -> None:
        for iteration in range(ITERATIONS):
            engine_store()(key).atomic_update("cart", append([index, iteration]), default=[])

    assert run_threads(appender, THREADS) == []
    cart = stored(key, "cart")
    assert len(cart) == THREADS * ITERATIONS
    assert sorted(map(tuple, cart)) == [(i, j) for i in range(THREADS) for j in range(ITERATIONS)]


def a_counter_incremented_from_threads_counts_every_increment() -> None:
    key = saved_session().session_key

    def incrementer(index: int) -> None:
        for _ in range(ITERATIONS):
            engine_store()(key).atomic_update("count", lambda n: n + 1, default=0)

    assert run_threads(incrementer, THREADS) == []
    assert stored(key, "count") == THREADS * ITERATIONS


@pytest.mark.parametrize("vendor", SERVER_VENDORS)
@COMMITTING
@pytest.mark.one_server
def test_only_that_attribute_is_locked(vendor):
    """While one update holds ``cart``, a save of another key of the session goes through."""
    key = saved_session(cart=["apple"], visits=0).session_key
    inside, release, saved = threading.Event(), threading.Event(), threading.Event()

    def slow(cart):
        inside.set()
        assert release.wait(30)
        return [*cart, "pear"]

    def updater(index: int) -> None:
        if index == 0:
            engine_store()(key).atomic_update("cart", slow)
            return
        assert inside.wait(30)
        session = engine_store()(key)
        session["visits"] = 1
        session.save()
        saved.set()
        release.set()

    errors = run_threads(updater, 2)
    assert errors == []
    assert saved.is_set()
    assert stored(key, "cart") == ["apple", "pear"]
    assert stored(key, "visits") == 1


# SAME_KEY_WRITES = "detect" -----------------------------------------------------------


@pytest.fixture
def detect():
    with override_dbsessions(SAME_KEY_WRITES="detect"):
        yield


def two_loads(**data):
    """Two requests' stores of one saved session, both loaded."""
    key = saved_session(**data).session_key
    first, second = engine_store()(key), engine_store()(key)
    assert set(first.keys()) == set(second.keys()) == set(data)  # both loaded now
    return key, first, second


@IN_ATOMIC_TOO
@pytest.mark.usefixtures("detect")
def test_overwriting_a_key_changed_since_the_load_raises_and_writes_nothing():
    key, first, second = two_loads(cart=["apple"])
    second["cart"] = [*second["cart"], "pear"]
    second.save()

    first["cart"] = [*first["cart"], "plum"]
    first["theme"] = "dark"
    with pytest.raises(SessionConflict) as raised:
        first.save()

    assert isinstance(raised.value, UpdateError)
    assert raised.value.names == ["cart"]
    assert "'cart'" in str(raised.value)
    assert key not in str(raised.value)
    assert stored(key, "cart") == ["apple", "pear"]
    assert stored(key, "theme") is None


@pytest.mark.usefixtures("detect")
def test_long_values_are_checked_too():
    """Long values (compared by their digest on MySQL and MariaDB)."""
    key, first, second = two_loads(note="a" * 5000, other="b" * 5000)
    second["note"] = "c" * 5000
    second.save()

    first["note"] = "d" * 5000
    with pytest.raises(SessionConflict, match="'note'"):
        first.save()
    del first["other"]  # unchanged by anybody else: removed as before
    del first["note"]
    with pytest.raises(SessionConflict, match="'note'"):
        first.save()

    third = engine_store()(key)
    third["note"] = third["note"] + "e"
    del third["other"]
    third.save()
    assert stored(key, "note") == "c" * 5000 + "e"
    assert stored(key, "other") is None


@pytest.mark.usefixtures("detect")
def test_keys_nobody_else_changed_save_as_before():
    key, first, second = two_loads(a=1, b=1)
    second["a"] = 2
    second.save()

    first["b"] = 2
    first["c"] = 3
    first.save()

    assert [stored(key, name) for name in "abc"] == [2, 2, 3]


@pytest.mark.usefixtures("detect")
def test_a_key_both_requests_add_is_a_conflict_for_the_second():
    key, first, second = two_loads(visits=1)
    second["fresh"] = "second"
    second.save()

    first["fresh"] = "first"
    with pytest.raises(SessionConflict, match="'fresh'"):
        first.save()
    assert stored(key, "fresh") == "second"


@pytest.mark.usefixtures("detect")
def test_removing_a_key_another_request_removed_too_is_no_conflict():
    key, first, second = two_loads(coupon="A", visits=1)
    del second["coupon"]
    second.save()

    del first["coupon"]
    first["visits"] = 2
    first.save()

    assert stored(key, "coupon") is None
    assert stored(key, "visits") == 2


@pytest.mark.usefixtures("detect")
def test_removing_a_key_another_request_changed_is_a_conflict():
    key, first, second = two_loads(cart=["apple"])
    second["cart"] = ["pear"]
    second.save()

    del first["cart"]
    with pytest.raises(SessionConflict, match="'cart'"):
        first.save()
    assert stored(key, "cart") == ["pear"]


@pytest.mark.usefixtures("detect")
def test_a_save_after_an_atomic_update_of_the_request_is_no_conflict():
    key, first, _ = two_loads(cart=["apple"])
    first.atomic_update("cart", append("pear"))
    first["cart"] = [*first["cart"], "plum"]
    first.save()
    assert stored(key, "cart") == ["apple", "pear", "plum"]


@pytest.mark.usefixtures("detect")
def test_an_ended_session_still_raises_plain_update_error():
    key, first, second = two_loads(cart=["apple"])
    second.delete()
    first["cart"] = ["pear"]
    with pytest.raises(UpdateError) as raised:
        first.save()
    assert not isinstance(raised.value, SessionConflict)


def test_last_wins_is_the_default_and_unchanged():
    key, first, second = two_loads(cart=["apple"])
    second["cart"] = ["apple", "pear"]
    second.save()
    first["cart"] = ["apple", "plum"]
    first.save()
    assert stored(key, "cart") == ["apple", "plum"]


@pytest.mark.usefixtures("detect")
def test_session_middleware_answers_a_conflict_as_an_interrupted_session():
    key = saved_session(cart=["apple"]).session_key
    request = RequestFactory().get("/")
    request.COOKIES[settings.SESSION_COOKIE_NAME] = key
    middleware = SessionMiddleware(lambda request: HttpResponse())
    middleware.process_request(request)
    request.session["cart"] = [*request.session["cart"], "plum"]
    engine_store()(key).atomic_update("cart", append("pear"))

    with pytest.raises(SessionInterrupted):
        middleware.process_response(request, HttpResponse())
    assert stored(key, "cart") == ["apple", "pear"]


def every_lost_update_from_threads_is_reported() -> None:
    """Plain read-modify-write appends from 8 threads under "detect": each lands or raises."""
    key = saved_session(cart=[]).session_key
    landed, conflicts = [], []

    def appender(index: int) -> None:
        for iteration in range(ITERATIONS):
            session = engine_store()(key)
            session["cart"].append([index, iteration])
            session.modified = True
            try:
                session.save()
            except SessionConflict:
                conflicts.append((index, iteration))
            else:
                landed.append((index, iteration))

    with override_dbsessions(SAME_KEY_WRITES="detect"):
        assert run_threads(appender, THREADS) == []
    cart = stored(key, "cart")
    assert len(landed) + len(conflicts) == THREADS * ITERATIONS
    assert sorted(map(tuple, cart)) == sorted(landed)  # lost silently: none


@pytest.mark.parametrize("value", ["last", 1, None])
def test_an_unknown_same_key_writes_value_is_an_error(value):
    with override_dbsessions(SAME_KEY_WRITES=value):
        errors = [e for e in checks.run_checks() if e.id == "dbsessions.E012"]
    assert len(errors) == 1
    assert "last_wins, detect" in errors[0].hint


def test_the_advised_values_pass_the_check():
    for value in ("last_wins", "detect"):
        with override_dbsessions(SAME_KEY_WRITES=value):
            assert not [e for e in checks.run_checks() if e.id == "dbsessions.E012"]


THREAD_TESTS = [
    appends_from_threads_are_all_kept,
    a_counter_incremented_from_threads_counts_every_increment,
    every_lost_update_from_threads_is_reported,
]
THREAD_TEST = pytest.mark.parametrize("check", THREAD_TESTS, ids=lambda check: check.__name__)


@pytest.mark.parametrize("vendor", SERVER_VENDORS)
@COMMITTING
@THREAD_TEST
def test_threads_on_a_server(vendor, check):
    check()


@pytest.mark.parametrize("vendor", SERVER_VENDORS)
@COMMITTING
def test_appends_from_threads_at_repeatable_read_are_all_kept(vendor):
    """Connections configured for REPEATABLE READ: each update's own transaction still reads
    the row the previous one committed (PostgreSQL would otherwise fail it)."""
    if vendor == "postgresql":
        from django.db.backends.postgresql.psycopg_any import IsolationLevel

        level = IsolationLevel.REPEATABLE_READ
    else:
        level = "repeatable read"
    base = connections[app_settings.DATABASE].settings_dict
    repeatable_read = {**base, "OPTIONS": {**base["OPTIONS"], "isolation_level": level}}
    key = saved_session(count=0).session_key

    def incrementer(index: int) -> None:
        connections[app_settings.DATABASE].settings_dict = repeatable_read
        for _ in range(ITERATIONS):
            engine_store()(key).atomic_update("count", lambda n: n + 1)

    assert run_threads(incrementer, THREADS) == []
    assert stored(key, "count") == THREADS * ITERATIONS


@pytest.mark.parametrize("vendor", SERVER_VENDORS)
@pytest.mark.django_db(transaction=True, databases="__all__")
@pytest.mark.parametrize("session_engine", [DB_ENGINE], indirect=True)
def test_inside_a_repeatable_read_transaction_nothing_is_lost(vendor):
    """A caller's REPEATABLE READ transaction that read before another update committed: MySQL's
    locking read sees the latest row; PostgreSQL fails the caller's transaction (a
    serialization failure, for the caller to retry), as any write of that row would."""
    from django.db import DatabaseError

    key = saved_session(cart=["apple"]).session_key
    base = connections[app_settings.DATABASE].settings_dict
    level = "repeatable read"
    if vendor == "postgresql":
        from django.db.backends.postgresql.psycopg_any import IsolationLevel

        level = IsolationLevel.REPEATABLE_READ
    outcome = []

    def request(index: int) -> None:
        connections[app_settings.DATABASE].settings_dict = {
            **base,
            "OPTIONS": {**base["OPTIONS"], "isolation_level": level},
        }
        try:
            with transaction.atomic(using=app_settings.DATABASE):
                session = engine_store()(key)
                assert session["cart"] == ["apple"]  # the snapshot starts here
                other = threading.Thread(
                    target=lambda: engine_store()(key).atomic_update("cart", append("pear"))
                )
                other.start()
                other.join()
                outcome.append(session.atomic_update("cart", append("plum")))
        except DatabaseError as exc:
            outcome.append(type(exc).__name__)

    assert run_threads(request, 1) == []
    if vendor == "mysql":
        assert outcome == [["apple", "pear", "plum"]]
        assert stored(key, "cart") == ["apple", "pear", "plum"]
    else:
        assert outcome == ["OperationalError"]
        assert stored(key, "cart") == ["apple", "pear"]


@pytest.mark.skipif(settings.VENDOR != "sqlite", reason="in the SQLite run")
@COMMITTING
@THREAD_TEST
def test_threads_on_a_sqlite_file(sqlite_wal_sessions, check):
    check()
