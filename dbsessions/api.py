"""List and end the sessions of a user: "log out everywhere (else)".

Ending a session deletes its rows, so its next request finds no session and starts a fresh,
anonymous one. Rows are locked before they are deleted, as ``SessionStore.delete()`` does, so
a request saving one of them at that moment waits and then finds it gone (Django's
``UpdateError``) instead of writing an attribute between the two DELETEs. They are locked the
way a save locks its session, by key hash and in key hash order, so that neither a save nor
another end can deadlock with an end.
"""

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from django.db import connections, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from dbsessions import retry, tally
from dbsessions.backends.cached_db import forget as forget_cached
from dbsessions.backends.cached_db import forgotten_if_failed
from dbsessions.backends.db import ended_by_password_change
from dbsessions.conf import app_settings
from dbsessions.dialects import chunks, dialect_for
from dbsessions.keys import hash_key
from dbsessions.locks import lock_sessions
from dbsessions.models import Session
from dbsessions.signals import send_on_commit, sessions_ended


def principal_of(user: Any) -> str:
    """The ``principal`` column value of a user's sessions."""
    return str(user.pk)


def live_sessions(user: Any) -> QuerySet[Session]:
    """The user's unexpired sessions of this ``APP_NAME``, most recently used first.

    With ``ABSOLUTE_TIMEOUT``, a session past its absolute deadline is expired whatever its
    ``expires_at`` (a row saved before the setting was): its next request starts afresh.
    """
    now = timezone.now()
    live = Q(expires_at__gt=now)
    timeout = app_settings.ABSOLUTE_TIMEOUT
    if timeout is not None:
        live &= Q(created_at__gt=now - timedelta(seconds=timeout))
    return (
        Session.objects.using(app_settings.DATABASE)
        .filter(live, app_name=app_settings.APP_NAME, principal=principal_of(user))
        .order_by("-last_access", "-pk")
    )


def ends_at_latest(session: Session) -> datetime | None:
    """When ``session`` ends however active it is: ``created_at + ABSOLUTE_TIMEOUT``; None
    without that setting."""
    timeout = app_settings.ABSOLUTE_TIMEOUT
    if timeout is None:
        return None
    return session.created_at + timedelta(seconds=timeout)


def ends_if_unused(session: Session) -> datetime:
    """When ``session`` ends if no request moves its expiry: ``expires_at``, or its absolute
    deadline if that comes first (as for a row saved before ``ABSOLUTE_TIMEOUT`` was set)."""
    latest = ends_at_latest(session)
    return session.expires_at if latest is None else min(session.expires_at, latest)


def end_sessions(session_ids: Iterable[int]) -> list[int]:
    """End the sessions with these row ids (any app name); returns the ids that existed."""
    ids = list(session_ids)
    return list(_end(Q(pk__in=ids), "end")) if ids else []


def end_all_sessions(user: Any) -> int:
    """End every session of the user in this ``APP_NAME``; returns how many ended."""
    return len(_end(_user_filter(user), "end"))


def end_other_sessions(user: Any, current_session_key: str | None) -> int:
    """End the user's sessions except the one with ``current_session_key``."""
    filters = _user_filter(user)
    if current_session_key:
        filters &= ~Q(key_hash=hash_key(current_session_key))
    return len(_end(filters, "end"))


def end_user_session(user: Any, session_id: int) -> bool:
    """End one session if it belongs to ``user`` in this ``APP_NAME``; whether it did."""
    return bool(_end(_user_filter(user) & Q(pk=session_id), "end"))


def is_current(session: Session, session_key: str | None) -> bool:
    """Whether ``session`` is the row of the cookie's ``session_key``."""
    if not session_key:
        return False
    return session.key_hash == hash_key(session_key)


def _user_filter(user: Any) -> Q:
    return Q(app_name=app_settings.APP_NAME, principal=principal_of(user))


def _end(filters: Q, reason: str) -> dict[int, str]:
    """End the sessions matching ``filters``, reported with ``reason`` (``dbsessions.signals``);
    returns their key hashes by row id, in id order."""
    using = app_settings.DATABASE
    return retry.run(lambda: _end_once(using, filters, reason), using, "end")


def _end_once(using: str, filters: Q, reason: str) -> dict[int, str]:
    sessions = Session.objects.using(using)
    with forgotten_if_failed(using) as ending, transaction.atomic(using=using):
        # Read without locking: a locking read through the principal or primary key index
        # would lock rows before their key_hash entries, the reverse of a save.
        found = dict(sessions.filter(filters).values_list("key_hash", "pk"))
        connection = connections[using]
        with connection.cursor() as cursor:
            rows = lock_sessions(cursor, dialect_for(connection), sorted(found))
        # Login and logout rotate or replace the key, so an unchanged key hash still matches
        # the filters. Sessions that match only now (created or rotated since the read, or
        # newer than a caller's snapshot) are locked by the filters: rarely any, and a
        # deadlock over one of them is retried.
        locked = {pk for pk, _, _ in rows}
        rows += [
            row
            for row in sessions.select_for_update()
            .filter(filters)
            .order_by("pk")
            .values_list("pk", "app_name", "key_hash")
            if row[0] not in locked
        ]
        ended = {pk: key_hash for pk, _, key_hash in sorted(rows)}  # reported by id
        ids = list(ended)
        _delete_rows(using, ids)
        if ids:
            tally.record_ended(using, (app_name for _, app_name, _ in rows), reason)
            ending += [(app_name, key_hash) for _, app_name, key_hash in rows]
            forget_cached(ending, using)
            send_on_commit(sessions_ended, using, session_ids=ids, source="api", reason=reason)
    return ended


def _delete_rows(using: str, ids: Sequence[int]) -> None:
    """Attributes first, then the session rows, in the caller's transaction."""
    connection = connections[using]
    dialect = dialect_for(connection)
    with connection.cursor() as cursor:
        for batch in chunks(ids):
            cursor.execute(dialect.delete_attributes_of_sessions_sql(batch))
            cursor.execute(dialect.delete_sessions_sql(batch))


def end_sessions_on_password_change(
    sender: type, instance: Any, created: bool, **kwargs: Any
) -> None:
    """With ``END_OTHER_SESSIONS_ON_PASSWORD_CHANGE``, a new password ends every session.

    The user model's ``post_save`` receiver, connected by the app's ``ready()``.

    ``set_password()`` leaves the clear password in ``_password`` until ``save()`` returns,
    which is how a password change is told apart from any other save. The session of the
    request that changed it survives: Django's ``update_session_auth_hash()`` then cycles its
    key, and the engine re-creates it under a new key with the same data (only on this thread:
    any other rotation of an ended session starts an empty one).
    """
    if created or getattr(instance, "_password", None) is None:
        return
    if not app_settings.END_OTHER_SESSIONS_ON_PASSWORD_CHANGE:
        return
    ended = _end(_user_filter(instance), "password_change")
    ended_by_password_change(app_settings.DATABASE, ended.values())
