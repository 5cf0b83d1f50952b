"""Copy live sessions from ``django.contrib.sessions`` (its ``django_session`` table).

Switching engines then logs nobody out: each session keeps its key (stored hashed), its data
(one attribute row per key, serialized with ``SESSION_SERIALIZER``) and its expiry. The rows
are decoded with Django's own ``db`` engine's signing salt and serializer. Sessions already
present are left alone, and every imported key is written to a ledger (``ImportedSession``) in
the import's transaction: a later run skips it even once dbsessions has ended the session
(logout, rotation, an admin's end, purge), so running the import again brings nothing back.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from django.conf import settings
from django.contrib.auth import SESSION_KEY as AUTH_USER_ID_KEY
from django.contrib.sessions.backends.db import SessionStore as DjangoDbStore
from django.core import signing
from django.db import connections, transaction
from django.db.models import Case, DateTimeField, Value, When
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from dbsessions.conf import app_settings
from dbsessions.keys import hash_key, is_plausible_key
from dbsessions.models import MAX_NAME_LENGTH, Attribute, ImportedSession, Session

SOURCE_TABLE = "django_session"
CHUNK_SIZE = 500


@dataclass
class ImportResult:
    imported: int = 0
    attributes: int = 0
    expired: int = 0
    already_present: int = 0
    #: Imported by an earlier run, then ended in dbsessions: never imported again.
    ended: int = 0
    undecodable: int = 0

    @property
    def seen(self) -> int:
        return self.imported + self.already_present + self.ended + self.undecodable


def import_sessions(
    source: str = "default",
    *,
    dry_run: bool = False,
    chunk_size: int = CHUNK_SIZE,
    on_chunk: Callable[[ImportResult, int], None] | None = None,
) -> ImportResult:
    """Import every live session of ``source``'s ``django_session`` table.

    ``on_chunk`` receives the running result and the number of live rows to go through.
    """
    connection = connections[source]
    now = timezone.now()
    result = ImportResult()
    table = connection.ops.quote_name(SOURCE_TABLE)
    key, data, expire = (
        connection.ops.quote_name(column)
        for column in ("session_key", "session_data", "expire_date")
    )
    adapted_now = connection.ops.adapt_datetimefield_value(now)
    if not dry_run:
        _forget_expired(now)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM {table} WHERE {expire} <= %s", [adapted_now])
        result.expired = cursor.fetchone()[0]
        cursor.execute(f"SELECT COUNT(*) FROM {table} WHERE {expire} > %s", [adapted_now])
        live = cursor.fetchone()[0]
    last_key = ""
    while True:
        # Keyset pagination: no OFFSET, and rows added meanwhile cannot shift the pages.
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT {key}, {data}, {expire} FROM {table} "
                f"WHERE {expire} > %s AND {key} > %s ORDER BY {key} "
                f"{connection.ops.limit_offset_sql(0, chunk_size)}",
                [adapted_now, last_key],
            )
            rows = cursor.fetchall()
        if not rows:
            break
        last_key = rows[-1][0]
        decoded = []
        for session_key, session_data, expire_date in rows:
            session = _decode(session_key, session_data)
            if session is None:
                result.undecodable += 1
            else:
                decoded.append((session_key, session, _aware(expire_date)))
        _store(decoded, result, now, dry_run)
        if on_chunk is not None:
            on_chunk(result, live)
    return result


def _decode(session_key: str, session_data: str) -> dict[str, Any] | None:
    if not is_plausible_key(session_key):
        return None
    django_store = DjangoDbStore()
    try:
        data = signing.loads(
            session_data, salt=django_store.key_salt, serializer=django_store.serializer
        )
    except Exception:  # bad signature, or a payload the serializer rejects
        return None
    if not isinstance(data, dict) or any(len(str(name)) > MAX_NAME_LENGTH for name in data):
        return None
    return data


def _aware(value: datetime | str) -> datetime:
    # SQLite hands datetimes back as text, which always parses.
    moment = cast(datetime, parse_datetime(value)) if isinstance(value, str) else value
    if settings.USE_TZ and timezone.is_naive(moment):
        moment = timezone.make_aware(moment, UTC)
    return moment


def _forget_expired(now: datetime) -> None:
    """Drop ledger rows past the expiry their import last saw: an expired ``django_session``
    row is never imported, so they can keep nothing out."""
    ImportedSession.objects.using(app_settings.DATABASE).filter(
        app_name=app_settings.APP_NAME, expires_at__lte=now
    ).delete()


def _store(
    decoded: list[tuple[str, dict[str, Any], datetime]],
    result: ImportResult,
    now: datetime,
    dry_run: bool,
) -> None:
    using = app_settings.DATABASE
    app_name = app_settings.APP_NAME
    hashes = {hash_key(session_key): (data, expires) for session_key, data, expires in decoded}
    with transaction.atomic(using=using):
        ledger = dict(
            ImportedSession.objects.using(using)
            .filter(app_name=app_name, key_hash__in=list(hashes))
            .values_list("key_hash", "expires_at")
        )
        present = set(
            Session.objects.using(using)
            .filter(app_name=app_name, key_hash__in=list(hashes))
            .values_list("key_hash", flat=True)
        )
        result.already_present += len(present)
        result.ended += len(ledger.keys() - present)
        new = {h: v for h, v in hashes.items() if h not in present and h not in ledger}
        result.imported += len(new)
        result.attributes += sum(len(data) for data, _ in new.values())
        if dry_run:
            return
        _record(hashes, ledger)
        if new:
            _create_sessions(new, now)


def _record(
    hashes: dict[str, tuple[dict[str, Any], datetime]], ledger: dict[str, datetime]
) -> None:
    """Ledger every key seen live, with the latest expiry seen.

    Keys already present but not in the ledger were imported before it existed. A later
    expiry means Django's engine extended the session since: the ledger row must last as long.
    """
    using = app_settings.DATABASE
    app_name = app_settings.APP_NAME
    ImportedSession.objects.using(using).bulk_create(
        ImportedSession(app_name=app_name, key_hash=key_hash, expires_at=expires)
        for key_hash, (_, expires) in hashes.items()
        if key_hash not in ledger
    )
    later = {h: hashes[h][1] for h, expires in ledger.items() if hashes[h][1] > expires}
    if later:
        ImportedSession.objects.using(using).filter(
            app_name=app_name, key_hash__in=list(later)
        ).update(
            expires_at=Case(
                *(When(key_hash=h, then=Value(e)) for h, e in later.items()),
                output_field=DateTimeField(),
            )
        )


def _create_sessions(new: dict[str, tuple[dict[str, Any], datetime]], now: datetime) -> None:
    using = app_settings.DATABASE
    app_name = app_settings.APP_NAME
    serializer = DjangoDbStore().serializer()
    Session.objects.using(using).bulk_create(
        Session(
            key_hash=key_hash,
            app_name=app_name,
            principal=None if data.get(AUTH_USER_ID_KEY) is None else str(data[AUTH_USER_ID_KEY]),
            created_at=now,
            last_access=now,
            expires_at=expires,
        )
        for key_hash, (data, expires) in new.items()
    )
    ids = dict(
        Session.objects.using(using)
        .filter(app_name=app_name, key_hash__in=list(new))
        .values_list("key_hash", "id")
    )
    Attribute.objects.using(using).bulk_create(
        Attribute(session_id=ids[key_hash], name=str(name), value=serializer.dumps(value))
        for key_hash, (data, _) in new.items()
        for name, value in data.items()
    )
