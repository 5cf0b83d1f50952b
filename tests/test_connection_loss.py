"""A database that drops the connection: a clear error now, a working session store after.

The server kills the sessions connection from another connection. The next engine call raises
Django's ``DatabaseError`` (a request would end in a 500); then Django's end-of-request clean-up
(``close_if_unusable_or_obsolete``) drops the dead connection, and the following request
reconnects and finds every session as it was.
"""

import pytest
from django.db import DatabaseError, connections

from dbsessions.backends.db import SessionStore
from dbsessions.conf import app_settings
from tests.utils import SERVER_VENDORS

pytestmark = [pytest.mark.django_db(databases="__all__", transaction=True)]

BACKEND_ID = {"postgresql": "SELECT pg_backend_pid()", "mysql": "SELECT CONNECTION_ID()"}
KILL = {"postgresql": "SELECT pg_terminate_backend(%s)", "mysql": "KILL %s"}


def kill_sessions_connection() -> None:
    connection = connections[app_settings.DATABASE]
    with connection.cursor() as cursor:
        cursor.execute(BACKEND_ID[connection.vendor])
        backend_id = cursor.fetchone()[0]
    killer = connections.create_connection(app_settings.DATABASE)
    try:
        with killer.cursor() as cursor:
            cursor.execute(KILL[connection.vendor], [backend_id])
    finally:
        killer.close()


@pytest.mark.parametrize("vendor", SERVER_VENDORS)
@pytest.mark.one_server  # the KILL must reach the server that holds the connection
def test_dropped_connection_gives_an_error_then_recovers(vendor):
    mine, other = SessionStore(), SessionStore()
    mine["cart"] = {"apple": 1}
    other["visits"] = 3
    mine.save()
    other.save()

    kill_sessions_connection()
    session = SessionStore(mine.session_key)
    with pytest.raises(DatabaseError):
        session.load()

    connection = connections[app_settings.DATABASE]
    connection.close_if_unusable_or_obsolete()
    assert SessionStore(mine.session_key).load() == {"cart": {"apple": 1}}
    assert SessionStore(other.session_key).load() == {"visits": 3}

    changed = SessionStore(mine.session_key)
    changed["cart"] = {"apple": 2}  # loaded before the connection drops
    kill_sessions_connection()
    with pytest.raises(DatabaseError):
        changed.save()
    connection.close_if_unusable_or_obsolete()
    assert SessionStore(mine.session_key).load() == {"cart": {"apple": 1}}
