"""Ending and purging sessions while they are being saved: no deadlock, bounded retries.

Real threads, one connection each. The stress tests run with ``RETRIES = 0``, so they show the
lock order alone; the retry tests provoke a real deadlock with two connections.
"""

import json
import logging
import random
import threading
import time
from datetime import timedelta

import pytest
import sqlglot
from django.contrib.sessions.backends.base import UpdateError
from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError, OperationalError, connections, transaction
from django.utils import timezone

from dbsessions import api, retry
from dbsessions.backends.db import SessionStore
from dbsessions.conf import app_settings
from dbsessions.dialects import DIALECTS, MySQLDialect, PostgreSQLDialect, dialect_for
from dbsessions.keys import hash_key
from dbsessions.models import Attribute
from dbsessions.purge import purge_expired
from tests.utils import (
    SERVER_VENDORS,
    override_dbsessions,
    run_threads,
    saved_session,
    session_rows,
)

pytestmark = [
    pytest.mark.django_db(databases="__all__", transaction=True),
    pytest.mark.concurrency,
    pytest.mark.one_server,
]

SAVERS = 8
ROUNDS = 12
SESSIONS = 10
#: Each round of the stress tests ends within this many seconds or the test fails.
ROUND_SECONDS = 10


class Rounds:
    """One ender and ``SAVERS`` savers meeting at a barrier at each phase of each round."""

    def __init__(self) -> None:
        self.barrier = threading.Barrier(SAVERS + 1, timeout=ROUND_SECONDS)
        self.keys: list[str] = []
        self.ended = threading.Event()
        self.errors: list[BaseException] = []
        self.update_errors = 0
        self.lock = threading.Lock()

    def failed(self, exc: BaseException) -> None:
        with self.lock:
            self.errors.append(exc)

    def interrupted(self) -> None:
        with self.lock:
            self.update_errors += 1


def save_or_record(rounds: Rounds, store: SessionStore) -> bool:
    """Save; whether the session still exists. Anything but UpdateError is recorded."""
    try:
        store.save()
    except UpdateError:
        rounds.interrupted()
        return False
    except DatabaseError as exc:
        rounds.failed(exc)
    return True


@override_dbsessions(RETRIES=0)
@pytest.mark.parametrize("vendor", SERVER_VENDORS)
def test_ending_sessions_being_saved_raises_only_update_error(vendor, alice):
    """The api ends sessions that 8 threads keep saving: savers see UpdateError, nothing else."""
    rounds = Rounds()

    def ender() -> None:
        for number in range(ROUNDS):
            rounds.keys = [saved_session(alice, n=0).session_key for _ in range(SESSIONS)]
            rounds.ended.clear()
            rounds.barrier.wait()
            time.sleep(0.02)  # the savers are saving by now
            try:
                if number % 2:
                    api.end_all_sessions(alice)
                else:
                    api.end_sessions(session_rows().values_list("pk", flat=True))
            except DatabaseError as exc:
                rounds.failed(exc)
            rounds.ended.set()
            rounds.barrier.wait()

    def saver(index: int) -> None:
        for _ in range(ROUNDS):
            rounds.barrier.wait()
            while not rounds.ended.is_set():
                store = SessionStore(random.choice(rounds.keys))
                if "n" not in store:
                    continue  # ended: its next request starts afresh
                store["n"] += 1
                store[f"saver{index}"] = store["n"]
                store.pop(f"saver{(index + 1) % SAVERS}", None)
                save_or_record(rounds, store)
            rounds.barrier.wait()

    started = time.monotonic()
    assert run_threads(lambda index: saver(index) if index else ender(), SAVERS + 1) == []
    assert rounds.errors == []
    assert rounds.update_errors > 0  # the ends did meet saves
    assert not session_rows().exists()
    assert time.monotonic() - started < ROUNDS * ROUND_SECONDS


@override_dbsessions(RETRIES=0)
@pytest.mark.parametrize("vendor", SERVER_VENDORS)
def test_purging_expired_sessions_being_saved_raises_only_update_error(vendor):
    """A purge deletes expired sessions that 8 threads keep saving (still expired)."""
    rounds = Rounds()

    def ender() -> None:
        for _ in range(ROUNDS):
            rounds.keys = [saved_session(n=0).session_key for _ in range(SESSIONS)]
            rounds.ended.clear()
            rounds.barrier.wait()  # the savers load their stores
            rounds.barrier.wait()  # and save them, expired, while the purge runs
            deadline = time.monotonic() + ROUND_SECONDS / 2
            while session_rows().exists() and time.monotonic() < deadline:
                try:
                    purge_expired(app_settings.DATABASE, app_settings.APP_NAME)
                except DatabaseError as exc:
                    rounds.failed(exc)
            rounds.ended.set()
            rounds.barrier.wait()
            # A saver whose session the purge took starts a fresh one (expired too, as it
            # sets it), and SKIP LOCKED passes over a session a saver holds: on a loaded
            # machine some are left at the deadline. The savers have stopped now, so the
            # next purge (a cron run) takes them all.
            purge_expired(app_settings.DATABASE, app_settings.APP_NAME)

    def saver(index: int) -> None:
        for _ in range(ROUNDS):
            rounds.barrier.wait()
            stores = [SessionStore(key) for key in rounds.keys]
            for store in stores:
                store.load()
            rounds.barrier.wait()
            expired = timezone.now() - timedelta(minutes=1)
            while stores and not rounds.ended.is_set():
                store = stores.pop(0)
                store.set_expiry(expired)
                store[f"saver{index}"] = time.monotonic()
                if save_or_record(rounds, store):
                    stores.append(store)
            rounds.barrier.wait()

    assert run_threads(lambda index: saver(index) if index else ender(), SAVERS + 1) == []
    assert rounds.errors == []
    assert rounds.update_errors > 0
    assert not session_rows().exists()


@override_dbsessions(RETRIES=0)
@pytest.mark.parametrize("vendor", SERVER_VENDORS)
def test_rotating_keys_of_sessions_being_saved_raises_only_update_error(vendor):
    """A login rotates the key of sessions that 8 threads keep saving under the current key."""
    keys = [saved_session(n=0).session_key for _ in range(3)]
    rounds = Rounds()
    deadline = time.monotonic() + 3

    def rotator() -> None:
        while time.monotonic() < deadline:
            index = random.randrange(len(keys))
            store = SessionStore(keys[index])
            store.load()
            try:
                store.cycle_key()
            except DatabaseError as exc:
                rounds.failed(exc)
            keys[index] = store.session_key
        rounds.ended.set()

    def saver(index: int) -> None:
        while not rounds.ended.is_set():
            store = SessionStore(random.choice(keys))
            if "n" not in store:
                continue  # rotated meanwhile
            store["n"] += 1
            store[f"saver{index}"] = store["n"]
            save_or_record(rounds, store)

    assert run_threads(lambda index: saver(index) if index else rotator(), SAVERS + 1) == []
    assert rounds.errors == []
    assert rounds.update_errors > 0
    assert session_rows().count() == 3


def backend_id(connection) -> int:
    """The server's id of ``connection``'s session, as its lock views name it."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT pg_backend_pid()")
        else:
            cursor.execute("SELECT CONNECTION_ID()")
        return cursor.fetchone()[0]


def wait_until_blocked(connection, backend: int) -> None:
    """Return once session ``backend`` waits for a row lock."""
    if connection.vendor == "postgresql":
        sql = "SELECT 1 FROM pg_locks WHERE pid = %s AND NOT granted"
    else:
        # A row lock wait during the optimizer's key lookup is missing from INNODB_TRX: a
        # statement still running after 200 ms is the one waiting.
        sql = (
            "SELECT 1 FROM information_schema.PROCESSLIST "
            "WHERE ID = %s AND COMMAND = 'Query' AND TIME_MS > 200"
        )
    deadline = time.monotonic() + 20
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(sql, [backend])
            if cursor.fetchone():
                return
            time.sleep(0.01)
    raise AssertionError("the end never waited for the lock")


def into_a_deadlock(operation, held, wanted) -> None:
    """Run ``operation`` while another connection holds lock ``held`` and, once the operation
    waits for it, asks for lock ``wanted``, which the operation holds: a real deadlock.

    The other connection has deleted rows first, so InnoDB (which rolls back the lighter
    transaction) picks the operation; PostgreSQL picks it too, the first to have waited for
    deadlock_timeout.
    """
    ballast = saved_session(**{f"k{i}": i for i in range(50)})
    alias = app_settings.DATABASE
    waiter = backend_id(connections[alias])
    holding, errors = threading.Event(), []

    def other() -> None:
        try:
            with transaction.atomic(using=alias):
                Attribute.objects.using(alias).filter(session_id=ballast._row_id).delete()
                held()
                holding.set()
                wait_until_blocked(connections[alias], waiter)
                wanted()
                transaction.set_rollback(True, using=alias)
        except BaseException as exc:
            errors.append(exc)
        finally:
            holding.set()
            connections.close_all()

    thread = threading.Thread(target=other)
    thread.start()
    try:
        assert holding.wait(20)
        operation()
    finally:
        thread.join(30)
        assert errors == []


def lock_session(row_id: int) -> None:
    list(session_rows().select_for_update().filter(pk=row_id))


def end_into_a_deadlock(end) -> None:
    """Run ``end([a, b])``, which locks ``a`` and then ``b`` (key hash order), while another
    connection holds ``b`` and then asks for ``a``."""
    a, b = sorted((saved_session(n=1), saved_session(n=2)), key=lambda s: hash_key(s.session_key))
    into_a_deadlock(
        lambda: end([a._row_id, b._row_id]),
        held=lambda: lock_session(b._row_id),
        wanted=lambda: lock_session(a._row_id),
    )


def retries_logged(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if "lost a deadlock" in r.getMessage()]


@pytest.mark.parametrize("vendor", SERVER_VENDORS)
def test_an_end_that_loses_a_deadlock_is_retried(vendor, caplog):
    caplog.set_level(logging.WARNING, logger="dbsessions")
    ended = []

    end_into_a_deadlock(lambda ids: ended.extend(api.end_sessions(ids)))

    assert len(ended) == 2
    assert session_rows().count() == 1  # the ballast
    (message,) = retries_logged(caplog)
    assert message.startswith("Session end on database ") and "retry 1 of 3" in message


@override_dbsessions(RETRIES=0)
@pytest.mark.parametrize("vendor", SERVER_VENDORS)
def test_without_retries_the_deadlock_is_raised(vendor, caplog):
    with pytest.raises(OperationalError) as raised:
        end_into_a_deadlock(api.end_sessions)

    assert retry.is_conflict(raised.value, connections[app_settings.DATABASE].vendor)
    assert session_rows().count() == 3
    assert retries_logged(caplog) == []


@pytest.mark.parametrize("vendor", SERVER_VENDORS)
def test_inside_a_callers_transaction_the_deadlock_is_raised(vendor, caplog):
    """The rollback undid the caller's work too: only the caller can run it again."""

    def end_in_a_transaction(ids: list[int]) -> None:
        with transaction.atomic(using=app_settings.DATABASE):
            api.end_sessions(ids)

    with pytest.raises(OperationalError):
        end_into_a_deadlock(end_in_a_transaction)

    assert session_rows().count() == 3
    assert retries_logged(caplog) == []


@pytest.mark.parametrize("vendor", SERVER_VENDORS)
def test_a_save_that_loses_a_deadlock_is_retried(vendor, caplog):
    """The save locks its row, then waits for an attribute row the other connection holds."""
    caplog.set_level(logging.WARNING, logger="dbsessions")
    stored = saved_session(x=1, y=2)
    store = SessionStore(stored.session_key)
    store["x"] = 10
    del store["y"]
    attributes = Attribute.objects.using(app_settings.DATABASE)

    into_a_deadlock(
        store.save,
        held=lambda: attributes.filter(session_id=stored._row_id, name="x").update(value=b"0"),
        wanted=lambda: lock_session(stored._row_id),
    )

    assert dict(SessionStore(stored.session_key).items()) == {"x": 10}
    (message,) = retries_logged(caplog)
    assert message.startswith("Session save on database ") and "retry 1 of 3" in message


class DriverError(Exception):
    """A driver's exception, as Django's wrapper carries it in ``__cause__``."""


class OracleErrorObject:
    def __init__(self, code: int) -> None:
        self.code = code


def wrapped(*args: object) -> DatabaseError:
    error = OperationalError()
    error.__cause__ = DriverError(*args)
    return error


def test_conflicts_are_told_from_other_errors_by_the_drivers_codes():
    assert retry.is_conflict(wrapped(1213, "Deadlock found"), "mysql")
    # A lock wait timeout is not retried: a lock held that long is no passing conflict.
    assert not retry.is_conflict(wrapped(1205, "Lock wait timeout exceeded"), "mysql")
    assert not retry.is_conflict(wrapped(1062, "Duplicate entry"), "mysql")
    assert retry.is_conflict(wrapped(OracleErrorObject(60)), "oracle")
    assert not retry.is_conflict(wrapped(OracleErrorObject(1)), "oracle")
    victim = "[40001] [SQL Server]Transaction was deadlocked ... deadlock victim. (1205)"
    assert retry.is_conflict(wrapped("40001", victim), "microsoft")
    assert not retry.is_conflict(wrapped("23000", "Violation of UNIQUE KEY (2627)"), "microsoft")
    assert not retry.is_conflict(wrapped("database is locked"), "sqlite")


def test_backoff_grows_with_jitter_and_is_bounded():
    for attempt in (1, 2, 3):
        ceiling = retry.BASE_DELAY * 2 ** (attempt - 1)
        assert all(ceiling / 2 <= retry.delay(attempt) <= ceiling for _ in range(50))
    assert retry.delay(20) <= retry.MAX_DELAY


@pytest.mark.parametrize("value", [-1, "3", 1.5, True, None])
def test_a_bad_retries_setting_is_refused_clearly(value):
    with override_dbsessions(RETRIES=value), pytest.raises(ImproperlyConfigured) as raised:
        _ = app_settings.RETRIES
    assert "DBSESSIONS['RETRIES'] must be a whole number" in str(raised.value)


GRAMMARS = {"oracle": "oracle", "microsoft": "tsql", "postgresql": "postgres", "mysql": "mysql"}
PLACEHOLDERS = {"oracle": ":p", "microsoft": "?", "postgresql": "$1", "mysql": "?"}


@pytest.mark.parametrize("vendor", GRAMMARS)
def test_the_locking_statements_parse_in_every_vendor_grammar(vendor):
    """Oracle and SQL Server run nowhere here: their statements are parsed (as in
    test_vendor_sql) instead."""
    d = DIALECTS[vendor]("dbsessions_session", "dbsessions_attribute")
    statements = [
        d.expired_sessions_sql(50),
        d.lock_sessions_sql(3),
        d.lock_sessions_sql(2, expired=True, skip_locked=True),
        d.rekey_session_sql,
    ]
    if vendor == "postgresql":
        statements.append(d.purge_lock_expired_sql(50))
        statements.append(d.purge_delete_sql([1]))
    for sql in statements:
        parsed = sqlglot.parse_one(sql.replace("%s", PLACEHOLDERS[vendor]), read=GRAMMARS[vendor])
        assert not isinstance(parsed, sqlglot.exp.Command), sql


def test_mysql_locks_each_session_through_its_key():
    d = MySQLDialect("s", "a")
    sql = d.lock_sessions_sql(2, expired=True, skip_locked=True)
    assert "FROM JSON_TABLE(%s, '$[*]'" in sql and "STRAIGHT_JOIN `s` AS s" in sql
    assert sql.endswith(
        "ON s.`key_hash` = d.`key_hash` AND s.`expires_at` < %s FOR UPDATE SKIP LOCKED"
    )
    assert d.lock_sessions_params(["h1", "h2"], expired_before="t") == ['["h1", "h2"]', "t"]
    assert "IGNORE INDEX (PRIMARY)" in d.rekey_session_sql
    p = PostgreSQLDialect("s", "a")
    assert p.lock_sessions_params(["h1", "h2"], expired_before="t") == ["h1", "h2", "t"]


@pytest.mark.mysql
@pytest.mark.django_db(databases="__all__")
def test_mysql_ends_and_purges_find_every_row_by_one_key_lookup():
    """The lock order argument above holds only if InnoDB looks every session up through its
    key hash's unique index, and every attribute through its primary key, in the order of the
    JSON array: an ``eq_ref`` after the array, never a scan."""
    session = saved_session(a=1, b=2)
    connection = connections[app_settings.DATABASE]
    d = dialect_for(connection)
    key_hashes = json.dumps([hash_key(session.session_key)])
    statements = [
        (d.lock_sessions_sql(1, expired=True, skip_locked=True), [key_hashes, "2099-01-01"], "s"),
        (d.delete_attributes_by_key_sql(2), [json.dumps([[session._row_id, "a"]])], "a"),
    ]
    with connection.cursor() as cursor:
        for sql, params, table in statements:
            cursor.execute("EXPLAIN " + sql, params)
            plan = [(row[2], row[3]) for row in cursor.fetchall()]
            assert plan == [("d", "ALL"), (table, "eq_ref")], sql
