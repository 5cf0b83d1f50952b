"""Signals sent by dbsessions.

``sessions_purged``: after each purge of expired sessions (``purge_sessions``,
``clearsessions`` or ``SessionStore.clear_expired()``), with keyword arguments ``using``
(database alias), ``app_name`` (``None`` for all applications), ``sessions`` and
``attributes`` (rows deleted), ``seconds`` (duration) and ``complete`` (False when a time
budget stopped it before every expired session was gone). The sender is ``PurgeResult``.
"""

from django.dispatch import Signal

sessions_purged = Signal()
