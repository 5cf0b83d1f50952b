"""Delete expired sessions in batches, each its own short transaction.

A batch locks the expired rows it picks, skipping rows a request holds (SKIP LOCKED on
PostgreSQL, MySQL 8 / MariaDB 10.6+, Oracle and SQL Server), deletes their attributes, then
those sessions. Outside PostgreSQL (which locks tuples) it reads the expired sessions first
and then locks them by key hash, the way a save locks its session: InnoDB locks index entries,
and locking rows through the expiry index would deadlock with a save of one. A request that
extends a session either commits first, and the session is no longer expired when locked, or
holds the row and is skipped, or arrives after the batch locked it and then finds it gone, as
Django reports a session deleted mid-request. Nothing ever deletes a session whose expiry lies
in the future.

``SessionStore.clear_expired()`` (and so ``clearsessions``) and ``purge_sessions`` both call
``purge_expired``. What each vendor does differently is in its dialect (``dbsessions.dialects``).

Why each purged session ended (``sessions_purged``'s ``reasons``): with ``ABSOLUTE_TIMEOUT``,
a session whose ``expires_at`` had reached ``created_at + ABSOLUTE_TIMEOUT`` ended at its cap,
``"absolute"``; every other one expired unused first, ``"idle"``. Saves and touches cap the
expiry exactly there, so a capped session is one kept in use until its absolute deadline (or a
row saved before the setting, whose expiry lies past it). The setting at purge time decides: a
session capped under a shorter timeout than today's counts as idle. Telling them apart costs
one read of the batch's locked rows by primary key, and nothing without the setting.

One purge at a time (``purge_lock``): a purge takes the ``"purge"`` row of the lease table
(``PurgeLease``) for ``LEASE_SECONDS``, renews it after each batch and releases it at the end.
The lease is a row, not a server's lock, so it holds across the nodes of a cluster (Galera's
GET_LOCK is local to one node) and on every vendor. Its times are the application's clock.
"""

import json
import logging
import secrets
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import DatabaseError, IntegrityError, connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models.expressions import RawSQL
from django.utils import timezone

from dbsessions import purge_pace, retry, tally
from dbsessions.conf import app_settings
from dbsessions.dialects import Dialect, chunks, dialect_for, id_list
from dbsessions.locks import lock_sessions
from dbsessions.models import PurgeLease, Session
from dbsessions.signals import sessions_purged

logger = logging.getLogger("dbsessions")

#: Seconds a purge lease lasts unless renewed. A purge renews it after every batch (about
#: 50 ms), so only a purge that died, or a batch stuck for a minute, lets it lapse; after a
#: crash, the next purge can start at most this long after the last renewal.
LEASE_SECONDS = 60.0
#: The lease a purge takes: one per database, whatever application it purges.
PURGE_LEASE = "purge"


@dataclass
class PurgeResult:
    sessions: int = 0
    attributes: int = 0
    batches: int = 0
    seconds: float = 0.0
    #: True when ``max_seconds`` ran out before every expired session was purged.
    stopped_early: bool = False
    #: Expired rows a batch picked; fewer may be deleted if a request extended one.
    picked: int = 0
    #: Of ``sessions``, those that had reached their ``ABSOLUTE_TIMEOUT`` cap.
    absolute: int = 0
    #: True when a renewal found the purge lease taken by another purge, which goes on.
    lease_lost: bool = False

    def add(self, other: "PurgeResult") -> None:
        self.sessions += other.sessions
        self.attributes += other.attributes
        self.batches += other.batches
        self.picked += other.picked
        self.absolute += other.absolute

    @property
    def reasons(self) -> dict[str, int]:
        """Purged sessions by why they ended: ``"idle"`` and ``"absolute"``."""
        return {"idle": self.sessions - self.absolute, "absolute": self.absolute}


def purge_batch(
    using: str, app_name: str, batch_size: int | None = None, now: datetime | None = None
) -> PurgeResult:
    """Delete up to ``batch_size`` expired sessions of ``app_name`` in one transaction.

    A batch that loses a deadlock is retried (``DBSESSIONS["RETRIES"]``).
    """
    return retry.run(lambda: _purge_batch(using, app_name, batch_size, now), using, "purge")


def _purge_batch(
    using: str, app_name: str, batch_size: int | None, now: datetime | None
) -> PurgeResult:
    connection = connections[using]
    dialect = dialect_for(connection)
    limit = batch_size or purge_pace.BatchSizer.for_connection(connection).size
    expired_before = connection.ops.adapt_datetimefield_value(now or timezone.now())
    result = PurgeResult(batches=1)
    # Outside a transaction only; inside one the checks stay on, which is merely slower.
    checks_off = (
        connection.constraint_checks_disabled()
        if dialect.purge_without_constraint_checks
        else nullcontext()
    )
    # A caller's open transaction cannot change its isolation level.
    isolation = None if connection.in_atomic_block else dialect.purge_isolation_sql
    with checks_off, transaction.atomic(using=using), connection.cursor() as cursor:
        if isolation:
            cursor.execute(isolation)
        if dialect.has_purge_lock_and_delete:
            cursor.execute(dialect.purge_lock_expired_sql(limit), [app_name, expired_before])
            ids = [row[0] for row in cursor.fetchall()]
            result.picked = len(ids)
            if ids:
                result.absolute = _count_capped(using, ids)
                cursor.execute(dialect.purge_delete_sql(ids))
                result.sessions, result.attributes = cursor.fetchone()
                tally.record_purged(using, app_name, result.reasons)
            return result
        cursor.execute(dialect.expired_sessions_sql(limit), [app_name, expired_before])
        found = cursor.fetchall()
        if not dialect.purge_locks_rows:
            ids = [pk for pk, _ in found]
        else:
            # Skipping the rows a request holds: it is extending them, or will find them gone.
            locked = lock_sessions(
                cursor,
                dialect,
                sorted(key_hash for _, key_hash in found),
                expired_before=expired_before,
                skip_locked=connection.features.has_select_for_update_skip_locked,
            )
            ids = [pk for pk, _, _ in locked]
        result.picked = len(ids)
        if ids:
            result.absolute = _count_capped(using, ids)
            result.sessions, result.attributes = _delete_batch(cursor, dialect, ids)
            tally.record_purged(using, app_name, result.reasons)
    return result


def _count_capped(using: str, ids: list[int]) -> int:
    """How many of the locked sessions ``ids`` had reached their absolute cap (see the
    module's doc); 0 without ``ABSOLUTE_TIMEOUT``, and then no query."""
    timeout = app_settings.ABSOLUTE_TIMEOUT
    if timeout is None:
        return 0
    cap = timedelta(seconds=timeout)
    # Compared here rather than in SQL: datetime arithmetic differs between vendors (SQLite's
    # compares text). The ids are literals, as the batch's DELETEs write them: no vendor's
    # parameter limit applies.
    rows = (
        Session.objects.using(using)
        .filter(pk__in=RawSQL(id_list(ids), ()))
        .values_list("created_at", "expires_at")
    )
    return sum(expires_at >= created_at + cap for created_at, expires_at in rows)


def _delete_batch(cursor: Any, dialect: Dialect, ids: list[int]) -> tuple[int, int]:
    """Delete the attributes of sessions ``ids``, then the sessions; return both counts."""
    if not dialect.deletes_by_id_join:
        cursor.execute(dialect.delete_attributes_of_sessions_sql(ids))
        attributes = cursor.rowcount
        # By primary key only: the batch holds these rows' locks (on SQLite, the database's
        # write lock), so they are still expired.
        cursor.execute(dialect.delete_sessions_sql(ids))
        return cursor.rowcount, attributes
    cursor.execute(dialect.attribute_keys_sql(ids))
    attributes = 0
    for keys in chunks(cursor.fetchall(), dialect.attribute_keys_per_delete):
        cursor.execute(
            dialect.delete_attributes_by_key_sql(len(keys)), [json.dumps([*map(list, keys)])]
        )
        attributes += cursor.rowcount
    cursor.execute(dialect.delete_by_ids_sql(dialect.quoted_session_table), [_id_json(ids)])
    return cursor.rowcount, attributes


def _id_json(ids: Sequence[int]) -> str:
    return json.dumps([int(i) for i in ids])


def purge_expired(
    using: str,
    app_name: str | None,
    batch_size: int | None = None,
    *,
    max_seconds: float | None = None,
    sleep: float | None = None,
    on_batch: Callable[[PurgeResult], None] | None = None,
    lease: "Lease | None" = None,
) -> PurgeResult:
    """Purge batch after batch until no expired session is left (or time runs out).

    ``app_name=None`` purges every application sharing the tables. ``sleep`` (seconds between
    batches) defaults to what lets concurrent requests in on the vendor (25 ms on SQLite).
    ``on_batch`` receives the running total after each batch. With ``lease`` (``purge_lock``'s),
    each batch renews it, and the purge stops once another purge has taken it
    (``lease_lost``). Sends ``sessions_purged`` with the counts when done.
    """
    started = time.monotonic()
    connection = connections[using]
    if sleep is None:
        sleep = dialect_for(connection).purge_pause
    sizer = purge_pace.BatchSizer.for_connection(connection, batch_size)
    deadline = None if max_seconds is None else started + max_seconds
    total = PurgeResult()
    # Sessions that expire while the purge runs are left for the next run, so it ends.
    now = timezone.now()
    with purge_pace.checkpoints(connection) as checkpoint:
        for app in [app_name] if app_name is not None else app_names(using):
            while True:
                if deadline is not None and time.monotonic() >= deadline:
                    total.stopped_early = True
                    break
                batch_started = time.monotonic()
                batch = purge_batch(using, app, sizer.size, now)
                sizer.record(batch.picked, time.monotonic() - batch_started)
                total.add(batch)
                if on_batch is not None:
                    on_batch(total)
                if lease is not None and not lease.renew():
                    total.lease_lost = True
                    break
                # Requests can write while the WAL is checkpointed: that is pause already.
                paused = checkpoint()
                if batch.picked == 0:
                    break
                if sleep > paused:
                    time.sleep(sleep - paused)
            if total.stopped_early or total.lease_lost:
                break
    tally.prune(using, now)
    total.seconds = time.monotonic() - started
    sessions_purged.send(
        sender=PurgeResult,
        using=using,
        app_name=app_name,
        sessions=total.sessions,
        attributes=total.attributes,
        reasons=total.reasons,
        seconds=total.seconds,
        complete=not (total.stopped_early or total.lease_lost),
    )
    return total


def app_names(using: str) -> list[str]:
    connection = connections[using]
    with connection.cursor() as cursor:
        cursor.execute(dialect_for(connection).app_names_sql)
        return sorted(row[0] for row in cursor.fetchall())


def count_expired(using: str, app_name: str | None) -> tuple[int, int]:
    """(sessions, attributes) that a purge would delete now."""
    connection = connections[using]
    dialect = dialect_for(connection)
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    sessions = attributes = 0
    with connection.cursor() as cursor:
        for app in [app_name] if app_name is not None else app_names(using):
            cursor.execute(dialect.count_expired_sql, [app, now, app, now])
            found, attrs = cursor.fetchone()
            sessions += found
            attributes += attrs
    return sessions, attributes


class Lease:
    """A purge lease on one database: true while this process holds it.

    ``expires_at`` is when the lease ends unless renewed: ours when held, the other holder's
    when not (None if the row was gone). The holder token is random per purge.
    """

    def __init__(self, using: str, name: str = PURGE_LEASE, seconds: float = LEASE_SECONDS):
        self.using = using
        self.name = name
        self.seconds = seconds
        self.token = secrets.token_hex(16)
        self.held = False
        self.expires_at: datetime | None = None

    def __bool__(self) -> bool:
        return self.held

    def acquire(self) -> bool:
        """Take the lease if it is free or expired, in a short transaction of its own (inside a
        caller's transaction, in that one). A conflict with another taker (a deadlock, or a
        cluster node's certification failure) is retried, and then shows the other's lease;
        one that outlasts the retries counts as not acquired."""
        self.held = self._run(self._take, "not acquired")
        if not self.held:
            self.expires_at = (
                PurgeLease.objects.using(self.using)
                .filter(name=self.name)
                .values_list("expires_at", flat=True)
                .first()
            )
        return self.held

    def renew(self) -> bool:
        """Extend the lease by ``seconds`` from now; False (and no longer held) if another
        purge has taken it meanwhile, or a conflict outlasted the retries."""
        if not self.held:
            return False
        until = timezone.now() + timedelta(seconds=self.seconds)
        self.held = self._run(lambda: self._hold(until), "renewal lost")
        if self.held:
            self.expires_at = until
        else:
            logger.warning("Purge lease on database %r taken by another purge.", self.using)
        return self.held

    def release(self) -> None:
        """Expire the lease now, if it is still ours; it lapses by itself if this fails on a
        conflict."""
        if not self.held:
            return
        self.held = False
        connection = connections[self.using]
        if connection.in_atomic_block and connection.needs_rollback:
            return  # the caller's transaction rolls back our take with the rest
        now = timezone.now()
        if self._run(lambda: self._hold(now), f"not released; it ends at {self.expires_at}"):
            self.expires_at = now

    def _run(self, operation: Callable[[], bool], outcome: str) -> bool:
        """``operation`` (a statement on the lease row), retried after a conflict; False, with
        a warning that says ``outcome``, when a conflict outlasts the retries. Inside a
        caller's transaction the conflict propagates, as ``retry.run`` leaves it."""
        try:
            return retry.run(operation, self.using, "purge lease")
        except DatabaseError as exc:
            if connections[self.using].in_atomic_block or not _conflict(exc, self.using):
                raise
            logger.warning("Purge lease on database %r: conflict; %s.", self.using, outcome)
            return False

    def _take(self) -> bool:
        connection = connections[self.using]
        dialect = dialect_for(connection)
        adapt = connection.ops.adapt_datetimefield_value
        now = timezone.now()
        until = now + timedelta(seconds=self.seconds)
        with transaction.atomic(using=self.using), connection.cursor() as cursor:
            try:
                # A savepoint: a duplicate the statement does not ignore (two inserts at once
                # on Oracle) leaves the transaction usable.
                with transaction.atomic(using=self.using):
                    cursor.execute(dialect.lease_insert_sql, [self.name, "", adapt(now)])
            except IntegrityError:
                pass
            cursor.execute(
                dialect.lease_take_sql,
                [self.token, adapt(until), self.name, adapt(now), self.token],
            )
            taken: bool = cursor.rowcount == 1
        if taken:
            self.expires_at = until
        return taken

    def _hold(self, until: datetime) -> bool:
        connection = connections[self.using]
        dialect = dialect_for(connection)
        with connection.cursor() as cursor:
            cursor.execute(
                dialect.lease_hold_sql,
                [connection.ops.adapt_datetimefield_value(until), self.name, self.token],
            )
            return bool(cursor.rowcount == 1)


def _conflict(exc: DatabaseError, using: str) -> bool:
    return retry.is_conflict(exc, connections[using].vendor)


@contextmanager
def purge_lock(
    connection: BaseDatabaseWrapper, *, seconds: float = LEASE_SECONDS
) -> Iterator[Lease]:
    """Yield the purge lease of ``connection``'s database: true if this process may purge,
    false while another purge holds it (its ``expires_at`` then says until when).

    Pass it to ``purge_expired(lease=...)`` so that each batch renews it; it is released on
    the way out. A process that dies leaves it to lapse ``seconds`` after its last renewal.
    """
    lease = Lease(connection.alias, seconds=seconds)
    if not lease.acquire():
        yield lease
        return
    try:
        yield lease
    except BaseException:
        # The purge's own error matters more than the release's; the lease then lapses.
        try:
            lease.release()
        except DatabaseError:
            logger.warning(
                "Purge lease on database %r not released; it lapses at %s.",
                connection.alias,
                lease.expires_at,
            )
        raise
    lease.release()
