"""The purge lease: one purge at a time on a database, as a row every node of a cluster sees.

Real databases throughout; where two purges meet, each runs on its own thread and so on its
own connection. The lease's SQL for Oracle and SQL Server is checked in test_vendor_sql.
"""

import logging
import re
import threading
import time
from datetime import UTC, timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connections, transaction
from django.utils import timezone

from dbsessions.conf import app_settings
from dbsessions.dialects import dialect_for
from dbsessions.models import PurgeLease, Session
from dbsessions.purge import LEASE_SECONDS, PURGE_LEASE, Lease, purge_expired, purge_lock
from dbsessions.signals import sessions_purged
from tests.test_purge import make_sessions
from tests.utils import SERVER_VENDORS

pytestmark = pytest.mark.django_db(databases="__all__", transaction=True)


def alias() -> str:
    return app_settings.DATABASE


def row() -> PurgeLease:
    return PurgeLease.objects.using(alias()).get(name=PURGE_LEASE)


def purge(*args: str) -> str:
    out = StringIO()
    call_command("purge_sessions", *args, stdout=out)
    return out.getvalue()


def in_thread(target, *args):
    """Run ``target`` on a thread of its own (its own connection); return its outcome."""
    outcome: dict = {}

    def run():
        try:
            outcome["value"] = target(*args)
        except BaseException as exc:
            outcome["error"] = exc
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(60)
    assert not thread.is_alive()
    return outcome


def test_a_lease_is_taken_renewed_and_released_in_the_row():
    before = timezone.now()
    with purge_lock(connections[alias()]) as lease:
        assert lease
        assert re.fullmatch(r"[0-9a-f]{32}", lease.token)
        held = row()
        assert held.holder == lease.token and held.expires_at == lease.expires_at
        assert before + timedelta(seconds=LEASE_SECONDS) <= held.expires_at
        first = held.expires_at
        assert lease.renew()
        assert row().expires_at == lease.expires_at > first
    # Released: expired now, so the next purge takes it at once.
    assert not lease and row().expires_at <= timezone.now()
    with purge_lock(connections[alias()]) as again:
        assert again and again.token != lease.token
    assert PurgeLease.objects.using(alias()).count() == 1


def test_a_second_purge_is_told_when_the_lease_ends():
    other = Lease(alias())
    assert other.acquire()
    second = Lease(alias())
    assert not second.acquire() and not second.renew()
    assert second.expires_at == other.expires_at
    ends = other.expires_at.astimezone(UTC)
    make_sessions(2, expired=True)
    assert purge() == (
        f"Another purge_sessions is running on database {alias()!r} (its lease runs until "
        f"{ends:%Y-%m-%d %H:%M:%S} UTC); leaving the work to it.\n"
    )
    assert Session.objects.count() == 2
    other.release()
    assert purge().startswith("Purged 2 sessions")


def test_a_lease_left_by_a_purge_that_died_lapses_and_is_taken():
    dead = Lease(alias(), seconds=0.5)
    assert dead.acquire()  # and never renewed nor released
    waiting = Lease(alias())
    assert not waiting.acquire()
    time.sleep(max(0.0, (dead.expires_at - timezone.now()).total_seconds()) + 0.05)
    assert waiting.acquire()
    assert row().holder == waiting.token
    # The dead purge's token no longer holds anything.
    assert not dead.renew()
    waiting.release()


@pytest.mark.parametrize("vendor", SERVER_VENDORS)
def test_a_lease_left_by_a_closed_connection_lapses_and_is_taken(vendor):
    """The lease belongs to no connection: closing it (a process that died) keeps it until it
    expires, unlike a session-level lock."""

    def die_holding():
        lease = Lease(alias(), seconds=1)
        assert lease.acquire()
        connections[alias()].close()
        return lease.expires_at

    outcome = in_thread(die_holding)
    assert "error" not in outcome
    assert not Lease(alias()).acquire()
    time.sleep(max(0.0, (outcome["value"] - timezone.now()).total_seconds()) + 0.05)
    with purge_lock(connections[alias()]) as lease:
        assert lease


@pytest.mark.concurrency
@pytest.mark.parametrize("vendor", SERVER_VENDORS)
def test_two_purges_at_once_one_runs_and_one_is_told(vendor):
    """Rounds of two threads taking the lease at the same moment, with the row missing (both
    insert it) or present: exactly one gets it each time, and neither sees an error."""
    for round_ in range(8):
        if round_ % 2 == 0:
            PurgeLease.objects.using(alias()).all().delete()
        outcomes = two_takes_at_once()
        assert [o.get("error") for o in outcomes] == [None, None]
        assert sorted(o["value"] for o in outcomes) == [False, True]
        assert row().expires_at <= timezone.now()


def two_takes_at_once() -> list[dict]:
    """Two threads enter ``purge_lock`` at the same moment and leave once both have tried."""
    start, tried = threading.Barrier(2, timeout=30), threading.Barrier(2, timeout=30)
    outcomes: list[dict] = [{}, {}]

    def run(index):
        try:
            start.wait()
            with purge_lock(connections[alias()]) as lease:
                tried.wait()
                outcomes[index]["value"] = bool(lease)
        except BaseException as exc:
            outcomes[index]["error"] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return outcomes


@pytest.mark.concurrency
@pytest.mark.parametrize("vendor", SERVER_VENDORS)
def test_a_take_that_meets_another_mid_take_is_never_an_error(vendor, caplog):
    """Another process is inside its take's transaction (it has made sure of the row) when
    this one starts, and then updates: on MySQL both hold the row's shared lock and one is a
    deadlock victim (error 1213, as a Galera node that loses certification), on PostgreSQL
    this take waits or goes first. Either way exactly one holds the lease, and this take
    raises nothing."""
    PurgeLease.objects.using(alias()).create(
        name=PURGE_LEASE, holder="", expires_at=timezone.now()
    )
    ensured, taking = threading.Event(), threading.Event()
    other = Lease(alias())

    def other_take():
        connection = connections[alias()]
        dialect = dialect_for(connection)
        adapt = connection.ops.adapt_datetimefield_value
        now = timezone.now()
        try:
            with transaction.atomic(using=alias()), connection.cursor() as cursor:
                cursor.execute(dialect.lease_insert_sql, [PURGE_LEASE, "", adapt(now)])
                ensured.set()
                assert taking.wait(30)
                time.sleep(0.3)  # this take is blocked on the row by now
                cursor.execute(
                    dialect.lease_take_sql,
                    [other.token, adapt(now + timedelta(seconds=60)), PURGE_LEASE, adapt(now)]
                    + [other.token],
                )
                return cursor.rowcount == 1
        finally:
            ensured.set()

    outcome: dict = {}

    def run():
        try:
            outcome["value"] = other_take()
        except DatabaseError as exc:
            outcome["error"] = exc
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    try:
        assert ensured.wait(30)
        taking.set()
        with caplog.at_level(logging.WARNING, logger="dbsessions"):
            mine = Lease(alias())
            acquired = mine.acquire()
    finally:
        thread.join(60)
    other_holds = outcome.get("value", False)
    assert acquired != other_holds
    assert row().holder == (mine.token if acquired else other.token)
    if not acquired:
        assert mine.expires_at == row().expires_at
    if vendor == "mysql":
        lost_by_other = "error" in outcome
        retried = "lost a deadlock" in caplog.text
        assert lost_by_other or retried, (outcome, caplog.text)
    else:
        assert "error" not in outcome


class StealAtFirstRenewal:
    """Another purge takes the lease just before this purge's first renewal (as one would
    once this purge's lease had lapsed): a real UPDATE of the row, on the same database."""

    def __init__(self, connection):
        self.hold_sql = dialect_for(connection).lease_hold_sql
        self.stolen = False

    def __call__(self, execute, sql, params, many, context):
        if sql == self.hold_sql and not self.stolen:
            self.stolen = True
            PurgeLease.objects.using(alias()).filter(name=PURGE_LEASE).update(
                holder="another purge", expires_at=timezone.now() + timedelta(seconds=60)
            )
        return execute(sql, params, many, context)


def test_a_purge_whose_renewal_finds_the_lease_taken_stops():
    make_sessions(10, expired=True, attrs=1)
    connection = connections[alias()]
    sent = []

    def receiver(**kwargs):
        sent.append(kwargs)

    sessions_purged.connect(receiver)
    try:
        with (
            purge_lock(connection) as lease,
            connection.execute_wrapper(StealAtFirstRenewal(connection)),
        ):
            assert lease
            result = purge_expired(alias(), "default", batch_size=2, sleep=0, lease=lease)
    finally:
        sessions_purged.disconnect(receiver)
    assert result.lease_lost and not result.stopped_early
    assert (result.batches, result.sessions) == (1, 2)
    assert Session.objects.count() == 8
    assert sent[0]["complete"] is False and sent[0]["sessions"] == 2
    # Not ours any more: the release left the other purge's lease alone.
    assert not lease and row().holder == "another purge"
    assert row().expires_at > timezone.now()


def test_the_command_says_when_another_purge_took_over():
    make_sessions(10, expired=True, attrs=1)
    connection = connections[alias()]
    with connection.execute_wrapper(StealAtFirstRenewal(connection)):
        output = purge("--batch-size", "3")
    assert output == (
        f"Stopped: another purge_sessions took over the purge lease on database {alias()!r}. "
        "Purged 3 sessions (3 attributes) in "
        + output.split(" in ", 1)[1].split(" s.")[0]
        + " s. 7 expired sessions remain, left to it.\n"
    )
    assert Session.objects.count() == 7


def test_the_command_renews_after_each_batch():
    make_sessions(6, expired=True, attrs=1)
    connection = connections[alias()]
    statements = []

    def record(execute, sql, params, many, context):
        statements.append(sql)
        return execute(sql, params, many, context)

    dialect = dialect_for(connection)
    with connection.execute_wrapper(record):
        assert purge("--batch-size", "2").startswith("Purged 6 sessions")
    # Three full batches and the empty one that ends the purge, each renewing; then the
    # release, the same statement with the expiry now.
    assert statements.count(dialect.lease_take_sql) == 1
    assert statements.count(dialect.lease_hold_sql) == 4 + 1
    assert row().expires_at <= timezone.now()


def test_a_purge_inside_the_callers_transaction_takes_and_releases_the_lease_in_it():
    make_sessions(4, expired=True)
    connection = connections[alias()]
    with transaction.atomic(using=alias()):
        with purge_lock(connection) as lease:
            assert lease and connection.in_atomic_block
            result = purge_expired(alias(), "default", batch_size=3, sleep=0, lease=lease)
            assert row().holder == lease.token
        assert row().expires_at <= timezone.now()
    assert result.sessions == 4 and not result.lease_lost
    assert Session.objects.count() == 0
    # A rolled-back transaction takes its take with it.
    with transaction.atomic(using=alias()):
        with purge_lock(connection) as lease:
            assert lease
        transaction.set_rollback(True, using=alias())
    assert row().holder != lease.token


def test_an_error_inside_the_callers_transaction_is_not_masked_by_the_release():
    connection = connections[alias()]
    with (
        pytest.raises(DatabaseError) as failure,
        transaction.atomic(using=alias()),
        purge_lock(connection) as lease,
        connection.cursor() as cursor,
    ):
        assert lease
        cursor.execute("SELECT * FROM dbsessions_no_such_table")
    assert "no_such_table" in str(failure.value).lower()


@pytest.mark.parametrize("vendor", SERVER_VENDORS)
def test_outside_a_transaction_the_lease_is_committed_at_once(vendor):
    """Another connection sees the lease as soon as it is taken, and sees it free as soon as
    it is released."""
    with purge_lock(connections[alias()]) as lease:
        assert lease and not connections[alias()].in_atomic_block
        seen = in_thread(lambda: bool(Lease(alias()).acquire()))
        assert seen == {"value": False}
    seen = in_thread(lambda: bool(Lease(alias()).acquire()))
    assert seen == {"value": True}
