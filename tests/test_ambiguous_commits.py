"""A change whose COMMIT succeeded but whose acknowledgement was lost (the connection killed
while the COMMIT was in flight): the request fails, and cached_db must not go on serving the
session as it was before the change.

The fault is injected around the real commit: the database commits, then the driver's answer
is lost, as a server's ``KILL`` or a dropped connection does it.
"""

import pytest
from django.db import OperationalError, connections

from dbsessions import api
from dbsessions.conf import app_settings
from dbsessions.keys import hash_key
from dbsessions.models import Session
from tests.utils import CACHED_DB_ONLY, engine_store, queries_to_load, saved_session

pytestmark = CACHED_DB_ONLY


class LostAcknowledgement:
    """The next commit on the sessions database commits, then raises as a lost connection."""

    def __init__(self, monkeypatch) -> None:
        connection = connections[app_settings.DATABASE]
        real = connection.commit

        def commit() -> None:
            real()
            monkeypatch.setattr(connection, "commit", real)
            raise OperationalError("lost connection to the server during COMMIT")

        monkeypatch.setattr(connection, "commit", commit)


def test_a_logout_whose_commit_was_not_acknowledged_is_never_undone(monkeypatch):
    key = saved_session(_auth_user_id="7", cart=["apple"]).session_key
    assert queries_to_load(key) == ({"_auth_user_id": "7", "cart": ["apple"]}, 0)  # cached

    LostAcknowledgement(monkeypatch)
    with pytest.raises(OperationalError):
        engine_store()(key).delete()

    assert queries_to_load(key) == ({}, 1)  # from the database, which no longer has it


def test_a_change_whose_commit_was_not_acknowledged_is_read_from_the_database(monkeypatch):
    key = saved_session(cart=["apple"], visits=1).session_key
    assert queries_to_load(key) == ({"cart": ["apple"], "visits": 1}, 0)

    LostAcknowledgement(monkeypatch)
    with pytest.raises(OperationalError):
        engine_store()(key).atomic_update("cart", lambda cart: [*cart, "pear"])
    assert queries_to_load(key) == ({"cart": ["apple", "pear"], "visits": 1}, 1)

    session = engine_store()(key)
    session["cart"] = ["plum"]
    del session["visits"]  # a removal: a save in a transaction of its own, on every vendor
    LostAcknowledgement(monkeypatch)
    with pytest.raises(OperationalError):
        session.save()
    assert queries_to_load(key) == ({"cart": ["plum"]}, 1)


def test_an_end_whose_commit_was_not_acknowledged_is_never_undone(monkeypatch):
    key = saved_session(_auth_user_id="7", cart=["apple"]).session_key
    assert queries_to_load(key) == ({"_auth_user_id": "7", "cart": ["apple"]}, 0)
    (session,) = Session.objects.using(app_settings.DATABASE).filter(key_hash=hash_key(key))

    LostAcknowledgement(monkeypatch)
    with pytest.raises(OperationalError):
        api.end_sessions([session.pk])  # a lost connection is not retried

    assert queries_to_load(key) == ({}, 1)
