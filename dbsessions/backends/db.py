"""The session engine: ``SESSION_ENGINE = "dbsessions.backends.db"``.

A session is one row of ``Session`` plus one ``Attribute`` row per key. Loading is one query,
and values are decoded when the request first reads them (``lazy.SessionData``). Saving updates
the session row, then writes only the attributes whose serialized value changed since they were
read, all in one transaction on the sessions database (or in one statement, where that is all
a save needs).

With ``DBSESSIONS["TOUCH_INTERVAL"]``, a load that finds the session's ``last_access`` that old
marks a *touch* due and the session modified, so that ``SessionMiddleware`` saves it and sends
a refreshed cookie; a save whose only change is that touch is one UPDATE of the session row
(``Dialect.touch_only_sql``), and where foreign keys are checked at the statement (InnoDB), a
save within the interval that changes only attributes writes only those (``_leaves_row_alone``).
With ``DBSESSIONS["ABSOLUTE_TIMEOUT"]``, every expiry the store
writes or reports is capped at ``created_at`` plus that timeout, and a load past it starts
afresh, like a load of an expired session.
"""

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import nullcontext
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, NamedTuple, cast

from asgiref.sync import sync_to_async
from django.contrib.auth import SESSION_KEY as AUTH_USER_ID_KEY
from django.contrib.sessions.backends.base import (
    VALID_KEY_CHARS,
    CreateError,
    SessionBase,
    UpdateError,
)
from django.db import IntegrityError, connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.utils import timezone
from django.utils.crypto import get_random_string
from django.utils.dateparse import parse_datetime
from django.views.decorators.debug import sensitive_variables

from dbsessions import tally
from dbsessions.backends import same_key
from dbsessions.backends.lazy import PENDING, SessionData
from dbsessions.backends.measured import measured
from dbsessions.conf import app_settings
from dbsessions.dialects import Dialect, as_bytes, chunks, dialect_for, upsert_batches
from dbsessions.exceptions import SessionConflict
from dbsessions.keys import hash_key, is_plausible_key
from dbsessions.retry import retried
from dbsessions.signals import send_on_commit, session_created, sessions_ended

if TYPE_CHECKING:
    from django.db.backends.utils import CursorWrapper
    from django.db.models import BinaryField

logger = logging.getLogger("dbsessions")

#: Keys whose change the session row must follow: its ``principal`` and its expiry.
ROW_KEYS = (AUTH_USER_ID_KEY, "_session_expiry")

#: Locals and arguments that hold a session key: Django's error reports (the debug page,
#: AdminEmailHandler) show them as "********************".
KEY_VARIABLES = ("session_key", "old_key", "new_key", "key")

#: Attribute of a connection: key hashes of the sessions a password change on this thread
#: ended. Key hashes, not row ids: a row id can come back (SQLite reuses the highest one), a
#: key hash cannot, so a mark no rotation consumed never lets another session through.
_ENDED_BY_PASSWORD_CHANGE = "_dbsessions_ended_by_password_change"


def ended_by_password_change(using: str, key_hashes: Iterable[str]) -> None:
    """Let this thread's ``cycle_key()`` of these just-ended sessions keep their data.

    Django's ``update_session_auth_hash()`` rotates the key of the request that changed the
    password; with ``END_OTHER_SESSIONS_ON_PASSWORD_CHANGE`` that session was ended with the
    others, and only that request (on this thread) may carry it on under a new key.
    """
    connections[using].__dict__.setdefault(_ENDED_BY_PASSWORD_CHANGE, set()).update(key_hashes)


def lifetime_in_use() -> bool:
    """Whether ``TOUCH_INTERVAL`` or ``ABSOLUTE_TIMEOUT`` is set."""
    return app_settings.TOUCH_INTERVAL is not None or app_settings.ABSOLUTE_TIMEOUT is not None


class RowTimes(NamedTuple):
    """The session row's times, as a load read them."""

    created_at: datetime
    last_access: datetime
    expires_at: datetime


class SessionStore(SessionBase):
    if TYPE_CHECKING:
        # SessionBase's private API used here, which django-stubs leaves out.
        _session_cache: dict[str, Any]

        def _get_session(self, no_load: bool = False) -> dict[str, Any]: ...

        @property
        def _session(self) -> dict[str, Any]: ...

    @sensitive_variables(*KEY_VARIABLES)
    def __init__(self, session_key: str | None = None) -> None:
        super().__init__(session_key)
        self._row_id: int | None = None
        # name -> serialized value as the database holds it; None when not known.
        self._stored: Mapping[str, bytes | None] | None = None
        self._hashed: tuple[str, str] | None = None
        #: The row's times as last read or written; None for a session not loaded or stored,
        #: and after a load without the lifetime settings, which never read them.
        self._times: RowTimes | None = None
        #: Whether the load found the session due a touch (``TOUCH_INTERVAL``).
        self._touch_due = False
        #: Whether the last save() wrote only a touch (no attribute, principal or key).
        self._only_touched = False
        #: For ``session_operation`` (``dbsessions.backends.measured``).
        self._measuring = False
        self._cache_use: str | None = None
        #: (IP address, user agent) of the request, set by ClientMetadataMiddleware; saved
        #: with the session row when not None.
        self.client_metadata: tuple[str | None, str | None] | None = None

    # Keys -------------------------------------------------------------------------

    def _validate_session_key(self, key: Any) -> bool:
        return is_plausible_key(key)

    def _get_new_session_key(self) -> str:
        # No exists() round trip: the unique key_hash index rejects the (astronomically
        # unlikely) duplicate and the caller retries with a fresh key.
        return get_random_string(32, VALID_KEY_CHARS)

    async def _aget_new_session_key(self) -> str:
        return self._get_new_session_key()

    # Plumbing ---------------------------------------------------------------------

    @property
    def _using(self) -> str:
        return app_settings.DATABASE

    def _connection(self) -> tuple[BaseDatabaseWrapper, Dialect]:
        connection = connections[self._using]
        return connection, dialect_for(connection)

    @sensitive_variables(*KEY_VARIABLES)
    def _key_params(self, session_key: str) -> list[str]:
        if self._hashed is None or self._hashed[0] != session_key:
            self._hashed = (session_key, hash_key(session_key))
        return [self._hashed[1], app_settings.APP_NAME]

    def _encode(self, data: dict[str, Any]) -> dict[str, bytes]:
        """Serialize every value; values never decoded keep the bytes they were loaded as."""
        from dbsessions.models import MAX_NAME_LENGTH  # the models need the app registry

        dumps = self.serializer().dumps
        limit = app_settings.MAX_VALUE_SIZE
        size_of = self._connection()[1].value_wire_size if limit is not None else len
        raw_values: dict[str, bytes]
        pairs: Iterable[tuple[str, Any]]
        if isinstance(data, SessionData):
            raw_values, pairs = data.raw_values, data.raw_items()
        else:
            raw_values, pairs = {}, data.items()
        encoded: dict[str, bytes] = {}
        for name, value in pairs:
            if value is PENDING:  # loaded, never read: unchanged, and its name was checked
                encoded[name] = raw_values[name]
                continue
            name = str(name)
            if len(name) > MAX_NAME_LENGTH:
                raise ValueError(
                    f"Session attribute names are limited to {MAX_NAME_LENGTH} characters; "
                    f"{name[:40]!r}... has {len(name)}."
                )
            encoded[name] = raw = dumps(value)
            if limit is not None and (size := size_of(raw)) > limit:
                raise ValueError(
                    f"Session attribute {name!r} is {size:,} bytes serialized, over "
                    f"DBSESSIONS['MAX_VALUE_SIZE'] ({limit:,}) as sent to the database; "
                    "nothing was saved."
                )
        return encoded

    # Reads ------------------------------------------------------------------------

    @measured("load")
    def load(self) -> dict[str, Any]:
        if self.session_key is None:
            return self._start_afresh()
        rows = self._select_session()
        if not rows:
            return self._start_afresh()
        # Only the lifetime settings read the times: converting them (SQLite returns text)
        # would cost a load without them about a fifth of its time there.
        times = self._row_times(rows[0]) if lifetime_in_use() else None
        if times is not None and self._past_absolute_timeout(times.created_at):
            return self._start_afresh()
        return self._loaded(rows[0][0], stored_values(rows, name_at=4), times)

    def _select_session(self) -> list[tuple[Any, ...]]:
        """The session's rows: (id, created_at, last_access, expires_at, name, value), one
        per attribute."""
        assert self.session_key is not None  # a load without a key starts afresh instead
        connection, dialect = self._connection()
        now = connection.ops.adapt_datetimefield_value(timezone.now())
        params = [*self._key_params(self.session_key), now]
        return dialect.fetch_all(connection, dialect.load_sql, params)

    def _row_times(self, row: tuple[Any, ...]) -> RowTimes:
        """The times of a load query's row, as datetimes."""
        connection = connections[self._using]
        return RowTimes(*(as_datetime(connection, value) for value in row[1:4]))

    def _start_afresh(self) -> dict[str, Any]:
        """Unknown or expired: start afresh under a new key, as Django's engines do."""
        self._session_key = None
        self._row_id = None
        self._stored = {}
        self._times = None
        self._touch_due = False
        return {}

    def _loaded(
        self, row_id: int, stored: dict[str, bytes], times: RowTimes | None
    ) -> dict[str, Any]:
        self._row_id = row_id
        self._stored = stored
        self._times = times
        interval = app_settings.TOUCH_INTERVAL
        if (
            interval is not None
            and times is not None
            and timezone.now() - times.last_access >= timedelta(seconds=interval)
        ):
            # SessionMiddleware then saves the session (a touch, unless more changed) and
            # sends the cookie again with the expiry moved.
            self._touch_due = True
            self.modified = True
        # An undecodable value is dropped from the data but stays in ``_stored``, so the
        # next save deletes its row.
        return SessionData(stored, self.serializer().loads, label=row_id)

    @sensitive_variables(*KEY_VARIABLES)
    def exists(self, session_key: str) -> bool:
        if not self._validate_session_key(session_key):
            return False
        connection, dialect = self._connection()
        with connection.cursor() as cursor:
            cursor.execute(dialect.exists_sql, self._key_params(session_key))
            return cursor.fetchone() is not None

    # Lifetime ---------------------------------------------------------------------

    def _absolute_deadline(self) -> datetime | None:
        """When the session must end, however active (``ABSOLUTE_TIMEOUT``); None: never.

        A session not stored yet counts from now, as its first save will.
        """
        timeout = app_settings.ABSOLUTE_TIMEOUT
        if timeout is None:
            return None
        created_at = self._times.created_at if self._times is not None else timezone.now()
        return created_at + timedelta(seconds=timeout)

    @staticmethod
    def _past_absolute_timeout(created_at: datetime) -> bool:
        timeout = app_settings.ABSOLUTE_TIMEOUT
        return timeout is not None and created_at + timedelta(seconds=timeout) <= timezone.now()

    def get_expiry_date(self, **kwargs: Any) -> datetime:
        """Django's expiry, capped at the absolute deadline."""
        expiry = super().get_expiry_date(**kwargs)
        deadline = self._absolute_deadline()
        return expiry if deadline is None else min(expiry, deadline)

    def get_expiry_age(self, **kwargs: Any) -> int:
        """Django's age (the cookie's ``max_age``), capped at the absolute deadline."""
        age = super().get_expiry_age(**kwargs)
        deadline = self._absolute_deadline()  # after super(), which loaded the session
        if deadline is None:
            return age
        return self._capped_age(age, kwargs.get("modification"), deadline)

    async def aget_expiry_date(self, **kwargs: Any) -> datetime:
        expiry = await super().aget_expiry_date(**kwargs)
        deadline = self._absolute_deadline()
        return expiry if deadline is None else min(expiry, deadline)

    async def aget_expiry_age(self, **kwargs: Any) -> int:
        age = await super().aget_expiry_age(**kwargs)
        deadline = self._absolute_deadline()
        if deadline is None:
            return age
        return self._capped_age(age, kwargs.get("modification"), deadline)

    @staticmethod
    def _capped_age(age: int, modification: datetime | None, deadline: datetime) -> int:
        left = deadline - (modification or timezone.now())
        return min(age, left.days * 86400 + left.seconds)

    # Writes -----------------------------------------------------------------------

    def create(self) -> None:
        while True:
            self._session_key = self._get_new_session_key()
            try:
                self.save(must_create=True)
            except CreateError:
                continue
            self.modified = True
            return

    @measured("save")
    @retried("save")
    def save(self, must_create: bool = False) -> None:
        if self.session_key is None:
            return self.create()
        data = self._get_session(no_load=must_create)
        if self.session_key is None:  # that first load found the session gone: start afresh
            return self.create()
        encoded = self._encode(data)
        now = timezone.now()
        principal = data.get(AUTH_USER_ID_KEY)
        principal = None if principal is None else str(principal)
        self._only_touched = False
        if must_create:
            self._times = None  # the new row's lifetime starts now
            expires_at = self.get_expiry_date(modification=now)
            self._insert_session(now, expires_at, principal, encoded)
            self._times = RowTimes(now, now, expires_at)
        elif self._touch_due and self._unchanged(encoded):
            self._only_touched = True
            self._touch_only(now, self.get_expiry_date(modification=now))
        else:
            self._update_session(now, principal, encoded)
        self._touch_due = False
        self._stored = encoded

    def _insert_session(
        self,
        now: datetime,
        expires_at: datetime,
        principal: str | None,
        encoded: dict[str, bytes],
    ) -> None:
        from dbsessions.models import Session

        assert self.session_key is not None  # save() gives the session a key first
        connection, dialect = self._connection()
        row = Session(
            key_hash=hash_key(self.session_key),
            app_name=app_settings.APP_NAME,
            principal=principal,
            created_at=now,
            last_access=now,
            expires_at=expires_at,
        )
        if self.client_metadata is not None:
            row.client_ip, row.user_agent = self.client_metadata
        try:
            with transaction.atomic(using=self._using), connection.cursor() as cursor:
                row.save(force_insert=True, using=self._using)
                if encoded:
                    self._upsert(cursor, dialect, row.pk, list(encoded.items()))
        except IntegrityError:
            raise CreateError from None
        self._row_id = row.pk
        send_on_commit(session_created, self._using, app_name=row.app_name, session_id=row.pk)

    def _touch_params(self, now: datetime, principal: str | None) -> list[Any]:
        """Parameters of ``touch_session_sql``; notes the times it writes."""
        assert self.session_key is not None  # save() gives the session a key first
        expires_at = self.get_expiry_date(modification=now)
        if self._times is not None:
            self._times = self._times._replace(last_access=now, expires_at=expires_at)
        ops = connections[self._using].ops
        return [
            ops.adapt_datetimefield_value(now),
            ops.adapt_datetimefield_value(expires_at),
            principal,
            *(self.client_metadata or ()),
            *self._key_params(self.session_key),
        ]

    def _unchanged(self, encoded: dict[str, bytes]) -> bool:
        """Whether the data to save is exactly what the load read (whatever WRITE_CONTENTS)."""
        stored = self._stored
        if stored is None or self._row_id is None or stored.keys() != encoded.keys():
            return False
        return all((old := stored[n]) is v or old == v for n, v in encoded.items())

    def _touch_only(self, now: datetime, expires_at: datetime) -> bool:
        """Move the session row's ``last_access`` and ``expires_at`` forward, nothing else.

        Whether the row was still there: a session ended or rotated since the load matches
        nothing and stays ended, and a request that only read it does not fail. On its own
        transaction it commits without waiting for its flush to disk where the dialect can
        (PostgreSQL); inside a caller's that would weaken the caller's own writes too.
        """
        assert self.session_key is not None and self._row_id is not None  # a loaded session
        connection, dialect = self._connection()
        ops = connection.ops
        # Outside atomic() only: inside it, autocommit is off.
        sql = dialect.touch_sql(self._with_client, own_transaction=connection.get_autocommit())
        params = dialect.touch_only_params(
            ops.adapt_datetimefield_value(now),
            ops.adapt_datetimefield_value(expires_at),
            [*(self.client_metadata or ()), self._row_id, *self._key_params(self.session_key)],
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            touched = bool(cursor.rowcount > 0)
        if touched and self._times is not None:
            times = self._times
            self._times = times._replace(
                last_access=max(times.last_access, now),
                expires_at=max(times.expires_at, expires_at),
            )
        return touched

    def _update_session(
        self, now: datetime, principal: str | None, encoded: dict[str, bytes]
    ) -> None:
        """Refresh the session row, then write what changed; UpdateError if it is gone.

        The UPDATE comes first so that it takes the row lock that queues concurrent writers
        of the same session. A save that is one statement runs without a transaction.
        """
        connection, dialect = self._connection()
        if self._stored is None or self._row_id is None:
            self._update_unknown_session(now, principal, encoded)
            return
        changed, removed = self._changes(self._stored, encoded)
        if (changed or removed) and app_settings.SAME_KEY_WRITES == "detect":
            self._update_detecting(now, principal, changed, removed)
            return
        if self._leaves_row_alone(now, encoded, changed):
            self._write_attributes_only(connection, dialect, changed, removed)
            return
        touch_params = self._touch_params(now, principal)
        if not removed:
            batches = list(upsert_batches(changed, dialect))
            if not batches:
                with connection.cursor() as cursor:
                    self._touch(cursor, dialect, touch_params)
                return
            if len(batches) == 1 and dialect.has_touch_and_upsert:
                prepared = self._prepared(batches[0])
                written = dialect.execute(
                    connection,
                    dialect.touch_and_upsert_sql(len(prepared), self._with_client),
                    touch_params + dialect.values_params(prepared),
                )
                if written == 0:
                    raise UpdateError
                return
        with transaction.atomic(using=self._using), connection.cursor() as cursor:
            self._touch(cursor, dialect, touch_params)
            self._write(cursor, dialect, self._row_id, changed, removed)

    def _update_detecting(
        self,
        now: datetime,
        principal: str | None,
        changed: list[tuple[str, bytes]],
        removed: list[str],
    ) -> None:
        """A save under ``SAME_KEY_WRITES = "detect"``: the session row first (its lock
        queues the session's other saves), then each attribute only if it still holds what
        this request loaded; otherwise nothing at all, and ``SessionConflict``."""
        assert self.session_key is not None and self._row_id is not None  # a loaded session
        assert self._stored is not None
        connection, dialect = self._connection()
        touch_params = self._touch_params(now, principal)
        if dialect.has_touch_and_update_if and not removed and len(changed) == 1:
            ((name, value),) = changed
            old = self._stored.get(name)
            if old is not None and name not in ROW_KEYS:
                self._touch_and_update_if(connection, dialect, touch_params, name, value, old)
                return
        session = self._live_session_params(self.session_key)
        with transaction.atomic(using=self._using), connection.cursor() as cursor:
            self._touch(cursor, dialect, touch_params)
            conflicts = same_key.write_unless_changed(
                cursor,
                dialect,
                self._row_id,
                session,
                self._stored,
                changed,
                removed,
                self._prepare,
            )
            if conflicts:
                raise SessionConflict(conflicts)

    def _touch_and_update_if(
        self,
        connection: BaseDatabaseWrapper,
        dialect: Dialect,
        touch_params: list[Any],
        name: str,
        value: bytes,
        old: bytes,
    ) -> None:
        """A "detect" save of one changed attribute in one statement (PostgreSQL). On a
        conflict the session row was still touched (its expiry moved, as a read's touch
        moves it); no attribute was written."""
        assert self._row_id is not None  # a loaded session
        digest = dialect.compares_digest(old)
        loaded = same_key.loaded_param(dialect, old, digest, self._prepare)
        params = [*touch_params, self._prepare(value), name, loaded]
        sql = dialect.touch_and_update_if_sql(self._with_client, digest)
        if dialect.execute(connection, sql, params) == 1:
            return
        # Rare: tell a session ended or rotated meanwhile from a changed attribute.
        if not dialect.fetch_all(connection, dialect.exists_sql, touch_params[-2:]):
            raise UpdateError
        raise SessionConflict([name])

    def _live_session_params(self, session_key: str) -> list[Any]:
        """Parameters of ``live_session_id_sql``."""
        now = connections[self._using].ops.adapt_datetimefield_value(timezone.now())
        return [*self._key_params(session_key), now]

    def _leaves_row_alone(
        self, now: datetime, encoded: dict[str, bytes], changed: list[tuple[str, bytes]]
    ) -> bool:
        """Whether this save may write its attributes without the session row.

        With ``TOUCH_INTERVAL``, a save that changes attributes, no touch and no login, may
        leave ``expires_at`` as it is while the move would be within the interval and the
        session is not due to end before then: one row fewer for every save to rewrite (on a
        cluster, fewer certification conflicts between saves of different keys). Only where
        the database checks a foreign key at the statement (InnoDB) and the upsert is one
        statement: an attribute row written for a session ended meanwhile then fails at
        once, where a deferred check would fail the caller's transaction at its commit.
        """
        interval = app_settings.TOUCH_INTERVAL
        times = self._times
        if interval is None or times is None or self._touch_due or not changed:
            return False
        connection, dialect = self._connection()
        if connection.features.can_defer_constraint_checks or not dialect.has_upsert:
            return False
        stored = self._stored or {}
        if any(stored.get(name) != encoded.get(name) for name in ROW_KEYS):
            return False
        slack = timedelta(seconds=interval)
        moved = self.get_expiry_date(modification=now) - times.expires_at
        return moved <= slack and times.expires_at - now > slack

    def _write_attributes_only(
        self,
        connection: BaseDatabaseWrapper,
        dialect: Dialect,
        changed: list[tuple[str, bytes]],
        removed: list[str],
    ) -> None:
        """The changed and removed attribute rows alone; UpdateError if the session is gone.

        An end deletes a session's attributes with its row, so every changed attribute is
        then a new row, whose foreign key finds no session.
        """
        assert self._row_id is not None  # a loaded session
        one_statement = not removed and len(list(upsert_batches(changed, dialect))) == 1
        block = nullcontext() if one_statement else transaction.atomic(using=self._using)
        try:
            with block, connection.cursor() as cursor:
                self._write(cursor, dialect, self._row_id, changed, removed)
        except IntegrityError:
            raise UpdateError from None

    def _update_unknown_session(
        self, now: datetime, principal: str | None, encoded: dict[str, bytes]
    ) -> None:
        """Save a session that was never loaded (e.g. ``clear()`` before ``save()``).

        A session that is gone raises UpdateError, as any save does; one that has expired (or
        passed its absolute timeout) is never extended: its rows go, and the data is saved as
        a new session under a new key, as a load of the expired key would have started it.
        """
        assert self.session_key is not None  # save() gives the session a key first
        connection, dialect = self._connection()
        with transaction.atomic(using=self._using), connection.cursor() as cursor:
            cursor.execute(dialect.lock_session_sql, self._key_params(self.session_key))
            row = cursor.fetchone()
            if row is None:
                raise UpdateError
            row_id, expires_at, created_at = row
            expires_at = as_datetime(connection, expires_at)
            created_at = as_datetime(connection, created_at)
            absolute = self._past_absolute_timeout(created_at)
            if absolute or expires_at <= timezone.now():
                reason = "absolute" if absolute else "idle"
                self._delete_rows(cursor, dialect, row_id, reason)
                self._start_afresh()
                self.create()
                return
            self._times = RowTimes(created_at, now, expires_at)
            self._touch(cursor, dialect, self._touch_params(now, principal))
            # Every name the row holds is suspect: those not in the data are deleted.
            cursor.execute(dialect.attribute_names_sql, [row_id])
            stored: dict[str, bytes | None] = {name: None for (name,) in cursor.fetchall()}
            self._write(cursor, dialect, row_id, *self._changes(stored, encoded))
        self._row_id = row_id

    @property
    def _with_client(self) -> bool:
        return self.client_metadata is not None

    def _touch(self, cursor: "CursorWrapper", dialect: Dialect, touch_params: list[Any]) -> None:
        cursor.execute(dialect.touch_session_sql(self._with_client), touch_params)
        if cursor.rowcount == 0:
            raise UpdateError

    @staticmethod
    def _changes(
        stored: Mapping[str, bytes | None], encoded: dict[str, bytes]
    ) -> tuple[list[tuple[str, bytes]], list[str]]:
        if app_settings.WRITE_CONTENTS == "all":
            changed = list(encoded.items())
        else:
            # An unread value is the very bytes object it was loaded as: "is" settles it.
            changed = [
                (n, v) for n, v in encoded.items() if (old := stored.get(n)) is not v and old != v
            ]
        removed = list(stored.keys() - encoded.keys())
        return changed, removed

    def _write(
        self,
        cursor: "CursorWrapper",
        dialect: Dialect,
        row_id: int,
        changed: list[tuple[str, bytes]],
        removed: list[str],
    ) -> None:
        if changed:
            self._upsert(cursor, dialect, row_id, changed)
        for names in chunks(removed):
            cursor.execute(dialect.delete_attributes_sql(len(names)), [row_id, *names])

    def _prepared(self, rows: list[tuple[str, bytes]]) -> list[tuple[str, Any]]:
        connection = connections[self._using]
        field = _value_field()
        return [(name, field.get_db_prep_value(value, connection)) for name, value in rows]

    def _prepare(self, value: bytes) -> Any:
        """One serialized value as the driver takes it."""
        return _value_field().get_db_prep_value(value, connections[self._using])

    # One key under a row lock -----------------------------------------------------

    @measured("atomic_update")
    @sensitive_variables(*KEY_VARIABLES)
    def atomic_update(self, key: str, function: Callable[[Any], Any], default: Any = None) -> Any:
        """Replace attribute ``key`` with ``function(its stored value)`` (``default`` when
        there is none) under a lock of that attribute's row alone, and return the new value.

        The value comes from the database, not from this request's copy, and concurrent
        calls for the same key queue on the lock, so none of their changes is lost. The row
        is written and (outside a caller's transaction) committed before this returns; the
        lock lasts until then, inside a caller's transaction until it ends. ``function`` may
        run more than once (after a deadlock or a cluster's certification conflict, the whole
        update is run again), so it should only compute. A new session is saved first; one
        ended meanwhile raises ``UpdateError``.
        """
        self._get_session()  # a key that no longer loads starts afresh, under no key
        if self.session_key is None:
            self.create()
        assert self.session_key is not None
        name = str(key)
        placeholder = self._encode({name: default})[name]
        result: list[Any] = []

        def replace(stored: bytes) -> bytes:
            new = function(self._decoded(stored, default))
            encoded = self._encode({name: new})[name]
            result[:] = [new, encoded]
            return encoded

        self._locked_update(self.session_key, name, self._prepare(placeholder), replace)
        new, encoded = result
        # This request's copy shows the new value; as it is what the row holds, a later save
        # of the request finds it unchanged and leaves the row alone.
        self._session[name] = new
        self._stored = {**(self._stored or {}), name: encoded}
        return new

    async def aatomic_update(
        self, key: str, function: Callable[[Any], Any], default: Any = None
    ) -> Any:
        """``atomic_update`` for async views; ``function`` is called in a worker thread."""
        return await sync_to_async(self.atomic_update)(key, function, default)

    def _decoded(self, stored: bytes, default: Any) -> Any:
        """A stored value, decoded; ``default`` (with a warning) when it cannot be."""
        try:
            return self.serializer().loads(stored)
        except Exception as exc:
            logger.warning(
                "Session attribute of session %s cannot be decoded (%s); atomic_update() "
                "starts from the default.",
                self._row_id,
                type(exc).__name__,
            )
            return default

    @retried("atomic update")
    @sensitive_variables(*KEY_VARIABLES)
    def _locked_update(
        self, session_key: str, name: str, placeholder: Any, replace: Callable[[bytes], bytes]
    ) -> None:
        connection, dialect = self._connection()
        session = self._live_session_params(session_key)
        own = not connection.in_atomic_block
        with transaction.atomic(using=self._using), connection.cursor() as cursor:
            isolation = dialect.read_committed_sql
            if own and isolation and not dialect.reads_latest_in_transaction(connection):
                cursor.execute(isolation)
            row_id = same_key.lock_and_replace(
                cursor, dialect, name, placeholder, session, replace, self._prepare
            )
        if row_id is None:
            raise UpdateError
        self._row_id = row_id

    def _upsert(
        self, cursor: "CursorWrapper", dialect: Dialect, row_id: int, rows: list[tuple[str, bytes]]
    ) -> None:
        for batch in upsert_batches(rows, dialect):
            prepared = self._prepared(batch)
            if dialect.has_upsert:
                cursor.execute(
                    dialect.upsert_sql(len(prepared)), dialect.upsert_params(row_id, prepared)
                )
                continue
            for name, value in prepared:
                self._insert_or_update(cursor, dialect, row_id, name, value)

    def _insert_or_update(
        self, cursor: "CursorWrapper", dialect: Dialect, row_id: int, name: str, value: Any
    ) -> None:
        """The portable upsert, for vendors without one of their own."""
        try:
            with transaction.atomic(using=self._using):
                cursor.execute(dialect.insert_attribute_sql, [row_id, name, value])
        except IntegrityError:
            cursor.execute(dialect.update_attribute_sql, [value, row_id, name])

    @measured("delete")
    @sensitive_variables(*KEY_VARIABLES)
    def delete(self, session_key: str | None = None) -> None:
        self._delete(session_key, reason="logout")

    @retried("delete")
    @sensitive_variables(*KEY_VARIABLES)
    def _delete(self, session_key: str | None, reason: str) -> None:
        """Delete the session of ``session_key`` (this one's if None); ``reason`` goes with
        ``sessions_ended``."""
        if session_key is None:
            if self.session_key is None:
                return
            session_key = self.session_key
        if not self._validate_session_key(session_key):
            return
        connection, dialect = self._connection()
        with transaction.atomic(using=self._using), connection.cursor() as cursor:
            # Lock the row first so a concurrent save waits and then finds it gone,
            # instead of adding an attribute between our two DELETEs.
            cursor.execute(dialect.lock_session_sql, self._key_params(session_key))
            row = cursor.fetchone()
            if row is not None:
                self._delete_rows(cursor, dialect, row[0], reason)
        if session_key == self.session_key:
            self._row_id = None
            self._stored = {}
            self._times = None
            self._touch_due = False

    def _delete_rows(
        self, cursor: "CursorWrapper", dialect: Dialect, row_id: int, reason: str
    ) -> None:
        """Delete a locked session row and its attributes; ``sessions_ended`` on commit."""
        cursor.execute(dialect.delete_all_attributes_sql, [row_id])
        cursor.execute(dialect.delete_session_sql, [row_id])
        tally.record_ended(self._using, [app_settings.APP_NAME], reason)
        send_on_commit(
            sessions_ended, self._using, session_ids=[row_id], source="store", reason=reason
        )

    @measured("cycle_key")
    @sensitive_variables(*KEY_VARIABLES)
    def cycle_key(self) -> None:
        """Give the session a new key with one UPDATE of its row; attributes stay put.

        A session that another request ended (or rotated) since this one loaded it is not
        brought back under the new key: the store starts an empty session instead, so a
        rotation cannot undo "log out everywhere".
        """
        data = self._session
        old_key = self.session_key
        if old_key is not None and self._row_id is not None:
            if self._rekey(old_key):
                self._session_cache = data
                self.modified = True
                return
            # Ended or rotated by another request: the old key matches no row, nothing to delete.
            ended = connections[self._using].__dict__.get(_ENDED_BY_PASSWORD_CHANGE, set())
            if self._key_params(old_key)[0] not in ended:
                data = {}
            # Only the rotation that follows the password change may use them: no later load
            # can find these rows, so the set holds nothing of use after it.
            ended.clear()
            self._start_afresh()
            old_key = None
        self._session_cache = data
        self.create()
        if old_key:
            self._delete(old_key, reason="rotation")

    @retried("rotation")
    @sensitive_variables(*KEY_VARIABLES)
    def _rekey(self, old_key: str) -> bool:
        """Give the row a new key hash; with ``ABSOLUTE_TIMEOUT`` its lifetime starts again
        (Django rotates the key when the user authenticates: login, a password change)."""
        connection, dialect = self._connection()
        restart = app_settings.ABSOLUTE_TIMEOUT is not None
        now = timezone.now()
        sql = dialect.rekey_and_restart_sql if restart else dialect.rekey_session_sql
        created = [connection.ops.adapt_datetimefield_value(now)] if restart else []
        while True:
            new_key = self._get_new_session_key()
            # A lone UPDATE is atomic by itself; inside a caller's transaction a savepoint
            # keeps a key collision from breaking that transaction.
            guard = (
                transaction.atomic(using=self._using)
                if connection.in_atomic_block
                else nullcontext()
            )
            try:
                with guard, connection.cursor() as cursor:
                    cursor.execute(
                        sql,
                        [hash_key(new_key), *created, self._row_id, *self._key_params(old_key)],
                    )
                    updated = cursor.rowcount
            except IntegrityError:
                continue
            if updated == 0:
                return False
            self._session_key = new_key
            if restart and self._times is not None:
                self._times = self._times._replace(created_at=now)
            return True

    async def acycle_key(self) -> None:
        await sync_to_async(self.cycle_key)()

    @classmethod
    def clear_expired(cls) -> None:
        from dbsessions.purge import purge_expired

        purge_expired(using=app_settings.DATABASE, app_name=app_settings.APP_NAME)


def stored_values(rows: Sequence[tuple[Any, ...]], name_at: int) -> dict[str, bytes]:
    """name -> serialized value of the load query's rows (name and value are adjacent).

    A session without attributes comes back as one LEFT JOIN row with a NULL name.
    """
    if rows[0][name_at] is None:
        return {}
    value_at = name_at + 1
    if isinstance(rows[0][value_at], bytes):  # every driver but Oracle's
        return {row[name_at]: row[value_at] for row in rows}
    return {row[name_at]: as_bytes(row[value_at]) for row in rows}


def as_datetime(connection: BaseDatabaseWrapper, value: Any) -> datetime:
    """A datetime column read by raw SQL, as the ORM would return it: aware with ``USE_TZ``,
    naive without (the load query's times come as text on SQLite and MySQL, PostgreSQL's
    binary results are aware, the other drivers' results naive)."""
    if isinstance(value, str):  # the load query's times on SQLite and MySQL
        parsed = parse_datetime(value)
        if parsed is None:
            raise ValueError(f"Not a datetime: {value!r}")
        value = parsed
    zone = connection.timezone  # None without USE_TZ
    if zone is None:
        return cast(datetime, value if value.tzinfo is None else value.replace(tzinfo=None))
    return cast(datetime, value if value.tzinfo is not None else timezone.make_aware(value, zone))


def _value_field() -> "BinaryField[Any, Any]":
    from dbsessions.models import Attribute

    return Attribute._meta.get_field("value")
