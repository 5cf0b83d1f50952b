"""Signals sent by dbsessions, each once the change it reports is committed.

``session_created``: a new session row was stored. Keyword arguments: ``using`` (database
alias), ``app_name`` and ``session_id`` (the row id, as the admin shows it). Sender: the
``Session`` model.

``sessions_ended``: sessions were ended before their expiry and their rows deleted. Keyword
arguments: ``using``, ``session_ids`` (row ids) and ``source``: ``"store"`` for
``SessionStore.delete()`` (Django's ``logout()`` and ``flush()``), ``"api"`` for ``dbsessions.api`` (log out everywhere, the "Your
sessions" page, the admin's actions, a password change). Sender: the ``Session`` model.

``sessions_purged``: after each purge of expired sessions (``purge_sessions``,
``clearsessions`` or ``SessionStore.clear_expired()``), with keyword arguments ``using``
(database alias), ``app_name`` (``None`` for all applications), ``sessions`` and
``attributes`` (rows deleted), ``seconds`` (duration) and ``complete`` (False when a time
budget stopped it before every expired session was gone). The sender is ``PurgeResult``.

Session keys and their hashes are never sent: the row id names a session.
"""

from django.db import transaction
from django.dispatch import Signal

session_created = Signal()
sessions_ended = Signal()
sessions_purged = Signal()


def send_on_commit(signal: Signal, using: str, **kwargs: object) -> None:
    """Send ``signal`` (sender ``Session``) when ``using``'s current transaction commits, or
    now outside one; never for work that is rolled back."""
    from dbsessions.models import Session

    transaction.on_commit(lambda: signal.send(sender=Session, using=using, **kwargs), using)
