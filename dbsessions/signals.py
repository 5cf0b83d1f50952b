"""Signals sent by dbsessions, each once the change it reports is committed.

``session_created``: a new session row was stored. Keyword arguments: ``using`` (database
alias), ``app_name`` and ``session_id`` (the row id, as the admin shows it). Sender: the
``Session`` model.

``sessions_ended``: sessions were ended other than by a purge, and their rows deleted.
Keyword arguments: ``using``, ``session_ids`` (row ids), ``reason`` (why they ended, below)
and ``source`` (who ended them: ``"store"`` for the engine, ``"api"`` for ``dbsessions.api``;
kept for receivers written before ``reason``). Sender: the ``Session`` model.

``sessions_purged``: after each purge of expired sessions (``purge_sessions``,
``clearsessions`` or ``SessionStore.clear_expired()``), with keyword arguments ``using``
(database alias), ``app_name`` (``None`` for all applications), ``sessions`` and
``attributes`` (rows deleted), ``reasons`` (how many of those sessions ended for each reason
of a purge, below), ``seconds`` (duration) and ``complete`` (False when a time budget stopped
it before every expired session was gone). The sender is ``PurgeResult``.

Reasons, the same words in both signals:

- ``"logout"``: ``SessionStore.delete()`` or ``flush()`` (Django's ``logout()``);
- ``"rotation"``: ``cycle_key()`` deleted the row of the key it replaced;
- ``"end"``: ``dbsessions.api`` ended it (log out everywhere, the "Your sessions" page, the
  admin's actions);
- ``"password_change"``: ``END_OTHER_SESSIONS_ON_PASSWORD_CHANGE`` ended it;
- ``"idle"``: it expired unused, and a purge removed it (or a save of a session never
  loaded, such as ``clear()`` then ``save()``, found it expired);
- ``"absolute"``: it reached its absolute deadline, ``created_at + ABSOLUTE_TIMEOUT``; a purge
  counts a session so when its expiry had reached that cap (see ``dbsessions.purge``).

For operators (``dbsessions.prometheus`` turns them into metrics), two more, sent at once,
not on commit:

``session_operation``: after each operation of a session engine, with keyword arguments
``operation`` (``"load"``, ``"save"``, ``"delete"``, ``"cycle_key"`` or ``"atomic_update"``),
``seconds`` (how long it took, retries included), ``outcome`` (``"ok"``; ``"conflict"`` for
``SessionConflict``; ``"ended"`` for another ``UpdateError``, a session ended meanwhile;
``"error"`` for any other exception, which still propagates), ``cache`` (for a load of
``dbsessions.backends.cached_db``: ``"hit"``, ``"miss"``, or ``"bypass"`` when the load went
to the database without asking the cache; otherwise None) and ``touch`` (True for a save that
only moved the expiry). An operation inside another (the save of ``cycle_key()``) is not sent
apart. The sender is the ``SessionStore`` class. With no receiver connected, nothing is
timed.

``operation_retried``: an operation lost a deadlock or serialization conflict and is about to
run again, with keyword arguments ``using``, ``operation`` (``"save"``, ``"delete"``,
``"rotation"``, ``"atomic update"``, ``"purge"``, ...) and ``attempt`` (1 for the first
retry). The sender is ``None``.

Receivers of these two are called with ``send_robust``: one that raises is logged by Django and
never fails the request.

Session keys and their hashes are never sent: the row id names a session.
"""

from django.db import transaction
from django.dispatch import Signal

session_created = Signal()
sessions_ended = Signal()
sessions_purged = Signal()
# Sent on every operation: the receivers found for each sender class are kept.
session_operation = Signal(use_caching=True)
operation_retried = Signal()


def send_on_commit(signal: Signal, using: str, **kwargs: object) -> None:
    """Send ``signal`` (sender ``Session``) when ``using``'s current transaction commits, or
    now outside one; never for work that is rolled back."""
    from dbsessions.models import Session

    transaction.on_commit(lambda: signal.send(sender=Session, using=using, **kwargs), using)
