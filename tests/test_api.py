"""The per-user session API: list, end all, end all but the current one (both engines)."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.contrib.sessions.backends.base import UpdateError
from django.db import connections, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from dbsessions import api
from dbsessions.backends.db import SessionStore
from dbsessions.conf import app_settings
from dbsessions.models import Attribute
from tests.utils import PASSWORD, override_dbsessions, saved_session, session_rows

pytestmark = [
    pytest.mark.django_db(databases="__all__"),
    pytest.mark.usefixtures("session_engine"),
]


def test_live_sessions_are_the_users_unexpired_sessions_newest_first(alice, bob):
    older = saved_session(alice)
    newer = saved_session(alice, cart={"tea": 1})
    session_rows().filter(pk=older._row_id).update(last_access=timezone.now() - timedelta(hours=1))
    expired = saved_session(alice)
    session_rows().filter(pk=expired._row_id).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    other_app = saved_session(alice)
    session_rows().filter(pk=other_app._row_id).update(app_name="other-app")
    saved_session(bob)
    SessionStore().save()  # anonymous

    listed = list(api.live_sessions(alice))

    assert [s.pk for s in listed] == [newer._row_id, older._row_id]


def test_end_all_sessions_deletes_rows_and_attributes_of_that_user_only(alice, bob):
    first = saved_session(alice, cart={"apple": 2})
    second = saved_session(alice, visits=3)
    bobs = saved_session(bob, visits=1)

    ended = api.end_all_sessions(alice)

    assert ended == 2
    assert not session_rows().filter(pk__in=[first._row_id, second._row_id]).exists()
    attributes = Attribute.objects.using(app_settings.DATABASE)
    assert not attributes.filter(session_id__in=[first._row_id, second._row_id]).exists()
    # Their next request finds no session: a fresh, anonymous one.
    assert SessionStore(first.session_key).load() == {}
    assert SessionStore(bobs.session_key).load()["visits"] == 1


def test_end_all_sessions_leaves_other_app_names_alone(alice):
    mine = saved_session(alice)
    theirs = saved_session(alice)
    session_rows().filter(pk=theirs._row_id).update(app_name="other-app")

    assert api.end_all_sessions(alice) == 1

    assert not session_rows().filter(pk=mine._row_id).exists()
    assert session_rows().filter(pk=theirs._row_id).exists()


def test_end_other_sessions_keeps_the_current_one(alice):
    current = saved_session(alice, cart={"tea": 1})
    other = saved_session(alice)
    third = saved_session(alice)

    assert api.end_other_sessions(alice, current.session_key) == 2

    assert SessionStore(current.session_key).load()["cart"] == {"tea": 1}
    assert SessionStore(other.session_key).load() == {}
    assert SessionStore(third.session_key).load() == {}


def test_end_other_sessions_without_a_current_key_ends_them_all(alice):
    saved_session(alice)
    saved_session(alice)

    assert api.end_other_sessions(alice, None) == 2
    assert not api.live_sessions(alice).exists()


def test_end_sessions_by_id_returns_the_ids_that_existed(alice):
    first = saved_session(alice)
    second = saved_session(alice)

    ended = api.end_sessions([second._row_id, first._row_id, 10**12])

    assert sorted(ended) == sorted([first._row_id, second._row_id])
    assert not session_rows().filter(pk__in=ended).exists()


def test_end_sessions_with_no_ids_runs_no_query(sessions_connection):
    with CaptureQueriesContext(sessions_connection) as queries:
        assert api.end_sessions([]) == []
    assert len(queries) == 0


def test_a_store_saving_an_ended_session_gets_update_error(alice):
    store = saved_session(alice)
    store.load()
    api.end_all_sessions(alice)

    store["cart"] = {"bread": 1}
    with pytest.raises(UpdateError):
        store.save()
    assert not session_rows().filter(principal=str(alice.pk)).exists()


def test_is_current_matches_the_hash_of_the_cookie_key(alice):
    current = saved_session(alice)
    other = saved_session(alice)
    row = session_rows().get(pk=current._row_id)

    assert api.is_current(row, current.session_key)
    assert not api.is_current(row, other.session_key)
    assert not api.is_current(row, None)


def change_password_through_admin(client: Client, user) -> None:
    response = client.post(
        reverse("admin:auth_user_password_change", args=[user.pk]),
        {"password1": "new-horse-battery", "password2": "new-horse-battery"},
    )
    assert response.status_code == 302, response.content[:2000]


def logged_in_client(user) -> Client:
    client = Client()
    response = client.post(reverse("login"), {"username": user.username, "password": PASSWORD})
    assert response.status_code == 302
    return client


def connection_of_sessions():
    return connections[app_settings.DATABASE]


@pytest.fixture
def boss(django_user_model):
    return django_user_model.objects.create_superuser("boss", "boss@example.com", PASSWORD)


@override_dbsessions(END_OTHER_SESSIONS_ON_PASSWORD_CHANGE=True)
def test_password_change_ends_the_other_sessions_when_enabled(boss):
    here, elsewhere = logged_in_client(boss), logged_in_client(boss)
    elsewhere_key = elsewhere.cookies[settings.SESSION_COOKIE_NAME].value

    change_password_through_admin(here, boss)

    assert SessionStore(elsewhere_key).load() == {}
    assert api.live_sessions(boss).count() == 1
    assert here.get(reverse("home")).context["user"] == boss
    assert elsewhere.get(reverse("home")).context["user"].is_anonymous


def test_password_change_leaves_rows_alone_by_default(boss):
    here, elsewhere = logged_in_client(boss), logged_in_client(boss)
    elsewhere_key = elsewhere.cookies[settings.SESSION_COOKIE_NAME].value

    change_password_through_admin(here, boss)

    # Django's session hash check still logs it out on its next request.
    assert SessionStore(elsewhere_key).load()["_auth_user_id"] == str(boss.pk)
    assert api.live_sessions(boss).count() == 2
    assert here.get(reverse("home")).context["user"] == boss


def test_other_saves_of_the_user_end_nothing(alice):
    saved_session(alice)
    alice.first_name = "Alice"
    with override_dbsessions(END_OTHER_SESSIONS_ON_PASSWORD_CHANGE=True):
        alice.save()

    assert api.live_sessions(alice).count() == 1


class RolledBack(Exception):
    pass


@override_dbsessions(END_OTHER_SESSIONS_ON_PASSWORD_CHANGE=True)
def test_a_rolled_back_password_change_lets_no_other_ended_session_through(
    alice, bob, SessionStore
):
    # A request that changed the password and then failed: its transaction rolls back, no
    # rotation follows, and on SQLite the next session gets the same row id again.
    with pytest.raises(RolledBack), transaction.atomic(using=app_settings.DATABASE):
        ended_id = saved_session(alice)._row_id
        alice.set_password("new-horse-battery")
        alice.save()
        raise RolledBack
    later = saved_session(bob, cart=["apple"])
    if connection_of_sessions().vendor == "sqlite":
        assert later._row_id == ended_id
    loaded = SessionStore(later.session_key)
    assert loaded["cart"] == ["apple"]

    api.end_sessions([later._row_id])
    loaded.cycle_key()

    assert dict(loaded.items()) == {}
    assert not session_rows().filter(pk=later._row_id).exists()
