"""``SESSION_ENGINE = "dbsessions.backends.cached_db"``: the database engine behind a cache.

The database stays the source of truth; the cache (``SESSION_CACHE_ALIAS``) only spares the
load query. A session has two cache entries, named by a hash of its app name and key hash,
never by the key:

- its *version*: a random token, replaced after every committed save and removed after every
  other committed change (a key rotation, a delete, an end through ``dbsessions.api``);
- its *snapshot*: the rows a load read from the database (the session row's times and the
  attributes), tagged with the version the load read (or created) before its query.

A load fetches both with one ``get_many``. A snapshot is served only while its tag is the
current version and the session has not expired; otherwise the database is read. A load that
raced with a change cannot leave a stale snapshot behind: the change replaced or removed the
version after its commit, and the racing load's tag matches neither the new version nor one
created later. A save does not refill the snapshot: concurrent saves of one session merge in
the database, which neither request's copy shows; the next load refills it. Only a new
session is cached as it is written, since no other request can know its key yet.

A hit knows the session's ``last_access``, so it tells whether a touch (``TOUCH_INTERVAL``) is
due without a query. A touch changes no attribute, so it keeps the version: once it commits,
the snapshot is written again under the version the load saw, with the touch's times. Should a
change or an end have come in between, that version is no longer current (or no longer
exists) and the rewritten snapshot is never served.

Inside a transaction (``atomic()``, ``ATOMIC_REQUESTS``, every ``TestCase`` test) the cache
changes only once the transaction commits, so the engine also remembers, per connection, which
sessions the open transaction changed: their loads go to the database, which shows the
transaction its own changes, and never fill the cache with data a rollback could undo. A
snapshot is only built from a query that sees every change committed before it: outside a
transaction, or inside one whose reads take a fresh snapshot per statement (READ COMMITTED
on PostgreSQL and MySQL, Oracle, SQLite's IMMEDIATE and EXCLUSIVE transactions). A
REPEATABLE READ transaction, or SQLite's default deferred one, may read rows older than the
last change, so its loads are served from the cache when it has them and from the database
otherwise, without caching what they read.

Cache errors never fail a request: loads fall back to the database, and writes that fail are
logged (an unreachable cache cannot serve a snapshot either).
"""

import logging
import secrets
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import UTC, datetime
from hashlib import sha256
from importlib import import_module
from typing import Any, TypeGuard

from django.conf import settings
from django.core.cache import caches
from django.db import connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from dbsessions.backends import db
from dbsessions.backends.db import KEY_VARIABLES
from dbsessions.backends.measured import measured
from dbsessions.backends.session_cache import SessionCache, session_cache
from dbsessions.dialects import dialect_for

logger = logging.getLogger("dbsessions.cached_db")

KEY_PREFIX = "dbsessions:"

#: A cached load: (version, row id, created_at, last_access, expires_at, {name: serialized
#: value}), the times as POSIX timestamps (a tenth of the cost of datetimes to unpickle).
Snapshot = tuple[str, int, float, float, float, dict[str, bytes]]

#: Attribute of a connection: snapshot keys of the sessions its open transaction changed.
_CHANGED = "_dbsessions_changed_sessions"


def cache_keys(app_name: str, key_hash: str) -> tuple[str, str]:
    """(snapshot, version) cache keys of a session; safe for memcached whatever the app name."""
    # 128 bits name a session well enough, and a short key is cheaper for the cache to check.
    base = KEY_PREFIX + sha256(f"{app_name}\n{key_hash}".encode()).hexdigest()[:32]
    return base + ":s", base + ":v"


def _cache() -> SessionCache:
    return session_cache(caches[settings.SESSION_CACHE_ALIAS])


def forget(sessions: Iterable[tuple[str, str]], using: str) -> None:
    """Drop the cache entries of ``(app_name, key_hash)`` sessions once ``using`` commits.

    Does nothing unless the site's ``SESSION_ENGINE`` is this one (or built on it).
    """
    if not _engine_in_use():
        return
    keys = _keys_of(sessions)
    if keys:
        _delete_on_commit(keys, using)


def _keys_of(sessions: Iterable[tuple[str, str]]) -> list[str]:
    """The cache keys of ``(app_name, key_hash)`` sessions."""
    return [key for app_name, key_hash in sessions for key in cache_keys(app_name, key_hash)]


def _delete_on_commit(keys: list[str], using: str) -> None:
    """Drop (snapshot, version) key pairs once ``using`` commits; until then the open
    transaction reads those sessions from the database."""
    _changed_here(using, keys[::2])
    transaction.on_commit(lambda: _delete_many(keys), using=using)


def _changed_here(using: str, snapshot_keys: list[str]) -> None:
    """Note that the open transaction on ``using`` changed these sessions."""
    connection = connections[using]
    if not connection.in_atomic_block:
        return
    changed = connection.__dict__.setdefault(_CHANGED, set())
    changed.update(snapshot_keys)
    # Registered each time: a callback registered in a savepoint that rolls back is dropped.
    transaction.on_commit(changed.clear, using=using)


def _changed_in_transaction(connection: BaseDatabaseWrapper, snapshot_key: str) -> bool:
    """Whether the connection's open transaction changed this session."""
    changed = connection.__dict__.get(_CHANGED)
    if not changed:
        return False
    if not connection.in_atomic_block:
        changed.clear()  # what a rolled-back transaction left behind
        return False
    return snapshot_key in changed


def _reads_latest(connection: BaseDatabaseWrapper) -> bool:
    """Whether a query now sees every change committed before it started."""
    if not connection.in_atomic_block:
        return True
    return dialect_for(connection).reads_latest_in_transaction(connection)


def _engine_in_use() -> bool:
    engine = import_module(settings.SESSION_ENGINE)
    return issubclass(getattr(engine, "SessionStore", object), SessionStore)


def _delete_many(keys: list[str]) -> None:
    try:
        _cache().delete_many(keys)
    except Exception:
        # The snapshots may outlive the change until their timeout; say so loudly.
        logger.exception("Could not drop %d session cache entries.", len(keys))


@contextmanager
def _dropped_if_failed(keys: list[str], using: str) -> Iterator[None]:
    """Drop these cache entries at once if the block raises outside a caller's transaction.

    A change that fails may still have committed (the connection lost while its COMMIT was in
    flight, as when a server kills it), and then the commit's callbacks never ran: without
    this, the cache would go on serving the session as it was before, a logout undone. Inside
    a caller's transaction nothing has committed yet, and the usual on-commit callbacks decide.
    """
    try:
        yield
    except BaseException:
        _drop_after_failure(keys, using)
        raise


@contextmanager
def forgotten_if_failed(using: str) -> Iterator[list[tuple[str, str]]]:
    """A list for the ``(app_name, key_hash)`` sessions the block ends; if the block raises
    outside a caller's transaction, their cache entries are dropped at once (``forget`` drops
    them on commit, which a lost COMMIT answer skips: see ``_dropped_if_failed``)."""
    sessions: list[tuple[str, str]] = []
    try:
        yield sessions
    except BaseException:
        if sessions and _engine_in_use():
            _drop_after_failure(_keys_of(sessions), using)
        raise


def _drop_after_failure(keys: list[str], using: str) -> None:
    """Drop ``keys`` now, unless a caller's transaction is open (its commit decides)."""
    if not connections[using].in_atomic_block:
        _delete_many(keys)


def _is_snapshot(value: object) -> TypeGuard[Snapshot]:
    """Whether ``value`` has the shape of (version, row id, created_at, last_access,
    expires_at, {name: bytes})."""
    return (
        type(value) is tuple
        and len(value) == 6
        and type(value[2]) is type(value[3]) is type(value[4]) is float
        and type(value[5]) is dict
    )


def _snapshot(version: str, row_id: int, times: db.RowTimes, stored: dict[str, bytes]) -> Snapshot:
    created_at, last_access, expires_at = times
    return (
        version,
        row_id,
        created_at.timestamp(),
        last_access.timestamp(),
        expires_at.timestamp(),
        stored,
    )


def _row_times(snapshot: Snapshot) -> db.RowTimes:
    """The snapshot's times as Django has them: aware with ``USE_TZ``, naive (local, as
    ``timestamp()`` took them) without."""
    zone = UTC if settings.USE_TZ else None
    return db.RowTimes(*(datetime.fromtimestamp(ts, zone) for ts in snapshot[2:5]))


class SessionStore(db.SessionStore):
    def __init__(self, session_key: str | None = None) -> None:
        super().__init__(session_key)
        self._cache = _cache()
        #: The version of the snapshot this store's data came from (or was cached under);
        #: None when the cache holds no snapshot of it.
        self._snapshot_version: str | None = None

    @sensitive_variables(*KEY_VARIABLES)
    def _cache_keys(self, session_key: str) -> tuple[str, str]:
        key_hash, app_name = self._key_params(session_key)
        return cache_keys(app_name, key_hash)

    # Reads ------------------------------------------------------------------------

    @measured("load")
    def load(self) -> dict[str, Any]:
        self._snapshot_version = None
        if self.session_key is None:
            return self._start_afresh()
        snapshot_key, version_key = self._cache_keys(self.session_key)
        connection = connections[self._using]
        if _changed_in_transaction(connection, snapshot_key):
            self._cache_use = "bypass"
            return super().load()
        try:
            found = self._cache.get_many([snapshot_key, version_key])
        except Exception:
            logger.warning("Session cache unreachable; loading from the database.", exc_info=True)
            self._cache_use = "bypass"
            return super().load()
        version = found.get(version_key)
        snapshot = found.get(snapshot_key)
        # Anything else under the snapshot's name (say, written by another release of this
        # engine) is a miss, never an error.
        if (
            version is not None
            and _is_snapshot(snapshot)
            and snapshot[0] == version
            and snapshot[4] > time.time()  # not expired
        ):
            # Only the lifetime settings need the times as datetimes, as in a db load.
            times = _row_times(snapshot) if db.lifetime_in_use() else None
            if times is None or not self._past_absolute_timeout(times.created_at):
                self._snapshot_version = version
                self._cache_use = "hit"
                return self._loaded(snapshot[1], snapshot[5], times)
        self._cache_use = "miss"
        if not _reads_latest(connection):
            return super().load()
        created = False
        if version is None:
            version, created = self._new_version(version_key)
        data = self._load_and_snapshot(snapshot_key, version)
        if created and self._row_id is None:
            # An unknown key (a forged or long-expired cookie) leaves nothing in the cache.
            _delete_many([version_key])
        return data

    def _new_version(self, version_key: str) -> tuple[str | None, bool]:
        """Create the session's version, or read the one a concurrent load just created;
        also say whether this load created it."""
        version = secrets.token_hex(16)
        try:
            if self._cache.add(version_key, version, settings.SESSION_COOKIE_AGE):
                return version, True
            return self._cache.get(version_key), False
        except Exception:
            logger.warning("Session cache unreachable; not caching this load.", exc_info=True)
            return None, False

    def _load_and_snapshot(self, snapshot_key: str, version: str | None) -> dict[str, Any]:
        rows = self._select_session()
        if not rows:
            return self._start_afresh()
        row_id = rows[0][0]
        times = self._row_times(rows[0])
        if self._past_absolute_timeout(times.created_at):
            return self._start_afresh()
        stored = db.stored_values(rows, name_at=4)
        if version is not None:
            lifetime = int((times.expires_at - timezone.now()).total_seconds())
            if lifetime > 0:
                self._set_snapshot(
                    snapshot_key, _snapshot(version, row_id, times, stored), lifetime
                )
                self._snapshot_version = version
        return self._loaded(row_id, stored, times)

    def _set_snapshot(self, snapshot_key: str, snapshot: Snapshot, lifetime: int) -> None:
        try:
            self._cache.set(snapshot_key, snapshot, lifetime)
        except Exception:
            # Too large for the cache, or the cache is gone: the database still has it.
            logger.warning("Could not cache a session snapshot.", exc_info=True)

    # Writes -----------------------------------------------------------------------

    @measured("save")
    @sensitive_variables(*KEY_VARIABLES)
    def save(self, must_create: bool = False) -> None:
        key = self.session_key
        with self._dropped_if_failed(key):
            super().save(must_create)
        if key is None or must_create or key != self.session_key or self._only_touched:
            return
        self._replace_version(key)
        self._snapshot_version = None

    @measured("atomic_update")
    def atomic_update(self, key: str, function: Callable[[Any], Any], default: Any = None) -> Any:
        """The database's ``atomic_update``; the version is replaced once it commits, so no
        load is served the snapshot from before."""
        with self._dropped_if_failed(self.session_key):
            new = super().atomic_update(key, function, default)
        assert self.session_key is not None  # the update saved a new session first
        self._replace_version(self.session_key)
        self._snapshot_version = None
        return new

    def _touch_only(self, now: datetime, expires_at: datetime) -> bool:
        """A touch keeps the snapshot's version: once it commits, the snapshot is written
        again with the touch's times (never served if a change or an end came in between)."""
        touched = super()._touch_only(now, expires_at)
        version, times, stored = self._snapshot_version, self._times, self._stored
        if not touched or version is None or times is None or stored is None:
            return touched
        assert self.session_key is not None and self._row_id is not None  # a loaded session
        lifetime = int((times.expires_at - now).total_seconds())
        if lifetime > 0:
            snapshot_key = self._cache_keys(self.session_key)[0]
            values = {name: value for name, value in stored.items() if value is not None}
            snapshot = _snapshot(version, self._row_id, times, values)
            transaction.on_commit(
                lambda: self._set_snapshot(snapshot_key, snapshot, lifetime), using=self._using
            )
        return touched

    @sensitive_variables(*KEY_VARIABLES)
    def _replace_version(self, session_key: str) -> None:
        """After a save: a new version outdates the snapshot, and the next load, finding a
        version, needs no cache write before its query."""
        snapshot_key, version_key = self._cache_keys(session_key)
        version, lifetime = secrets.token_hex(16), max(self.get_expiry_age(), 1)
        _changed_here(self._using, [snapshot_key])

        def replace() -> None:
            try:
                self._cache.set(version_key, version, lifetime)
            except Exception:
                # Without a new version the old snapshot stays current; drop it instead.
                _delete_many([version_key])

        transaction.on_commit(replace, using=self._using)

    def _insert_session(
        self,
        now: datetime,
        expires_at: datetime,
        principal: str | None,
        encoded: dict[str, bytes],
    ) -> None:
        """A new session is cached as written: nobody else knows its key yet, so no other
        request can have changed it in between."""
        super()._insert_session(now, expires_at, principal, encoded)
        lifetime = int((expires_at - now).total_seconds())
        if lifetime <= 0:
            return
        # save() gives the session a key first; the insert gave it its row.
        assert self.session_key is not None and self._row_id is not None
        snapshot_key, version_key = self._cache_keys(self.session_key)
        _changed_here(self._using, [snapshot_key])
        version = secrets.token_hex(16)
        entries = {
            version_key: version,
            snapshot_key: _snapshot(
                version, self._row_id, db.RowTimes(now, now, expires_at), dict(encoded)
            ),
        }

        def cache_it() -> None:
            try:
                self._cache.set_many(entries, lifetime)
            except Exception:
                logger.warning("Could not cache a new session.", exc_info=True)

        transaction.on_commit(cache_it, using=self._using)

    @measured("delete")
    @sensitive_variables(*KEY_VARIABLES)
    def delete(self, session_key: str | None = None) -> None:
        key = session_key if session_key is not None else self.session_key
        with self._dropped_if_failed(key):
            super().delete(session_key)
        if key is not None and self._validate_session_key(key):
            self._forget(key)

    @measured("cycle_key")
    @sensitive_variables(*KEY_VARIABLES)
    def cycle_key(self) -> None:
        old_key = self.session_key
        with self._dropped_if_failed(old_key):
            super().cycle_key()
        self._snapshot_version = None  # the snapshot was the old key's
        if old_key is not None and self._validate_session_key(old_key):
            self._forget(old_key)
        if self.session_key is not None:
            # The rotated row is this transaction's until it commits: not the cache's yet.
            _changed_here(self._using, [self._cache_keys(self.session_key)[0]])

    @sensitive_variables(*KEY_VARIABLES)
    def _dropped_if_failed(self, session_key: str | None) -> AbstractContextManager[None]:
        """``_dropped_if_failed`` for this session's entries (nothing to drop without a key)."""
        if session_key is None or not self._validate_session_key(session_key):
            return nullcontext()
        return _dropped_if_failed(list(self._cache_keys(session_key)), self._using)

    @sensitive_variables(*KEY_VARIABLES)
    def _forget(self, session_key: str) -> None:
        _delete_on_commit(list(self._cache_keys(session_key)), self._using)
