"""Django's SessionMiddleware driving the engine, through the demo site and directly."""

import pytest
from django.conf import settings
from django.contrib.sessions.exceptions import SessionInterrupted
from django.contrib.sessions.middleware import SessionMiddleware
from django.db import connections
from django.http import HttpResponse
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from dbsessions.backends.db import SessionStore
from dbsessions.conf import app_settings
from dbsessions.models import Session
from tests.utils import PASSWORD

pytestmark = pytest.mark.django_db(databases="__all__")


def cookie(client) -> str:
    return client.cookies[settings.SESSION_COOKIE_NAME].value


def test_read_only_request_is_one_query_on_the_sessions_database(client, sessions_connection):
    client.post(reverse("cart"), {"item": "apple", "action": "add"})

    with CaptureQueriesContext(sessions_connection) as context:
        response = client.get(reverse("cart"))

    assert response.status_code == 200
    assert response.context["total"] == 1
    assert len(context.captured_queries) == 1
    assert settings.SESSION_COOKIE_NAME not in response.cookies


@pytest.mark.separate_db
def test_logged_in_read_only_request_is_one_query_on_the_sessions_database(client, alice):
    client.login(username="alice", password=PASSWORD)

    with CaptureQueriesContext(connections[app_settings.DATABASE]) as context:
        response = client.get(reverse("cart"))

    assert response.status_code == 200
    assert response.context["user"] == alice
    assert len(context.captured_queries) == 1


def test_changing_request_is_a_load_and_one_write(client, sessions_connection):
    client.get(reverse("home"))
    with CaptureQueriesContext(sessions_connection) as context:
        client.get(reverse("home"))
    verbs = [q["sql"].split()[0].upper() for q in context.captured_queries]
    if sessions_connection.vendor == "postgresql":
        assert verbs == ["SELECT", "WITH"]  # a single statement needs no transaction
    else:
        # Inside the test's own transaction the atomic block is a savepoint.
        assert verbs[0] == "SELECT" and verbs[2:4] == ["UPDATE", "INSERT"], verbs
        assert (verbs[1], verbs[4]) in (("BEGIN", "COMMIT"), ("SAVEPOINT", "RELEASE")), verbs


def test_untouched_session_sets_no_cookie(client):
    response = client.get(reverse("login"))
    assert settings.SESSION_COOKIE_NAME not in response.cookies
    assert Session.objects.count() == 0


def test_flushed_session_deletes_the_cookie(client, alice):
    client.login(username="alice", password=PASSWORD)
    key = cookie(client)

    response = client.post(reverse("logout"))

    assert response.cookies[settings.SESSION_COOKIE_NAME].value == ""
    assert SessionStore(key).load() == {}
    assert Session.objects.count() == 0


@override_settings(SESSION_SAVE_EVERY_REQUEST=True)
def test_save_every_request_refreshes_last_access(client):
    client.get(reverse("home"))
    before = Session.objects.get().last_access
    client.get(reverse("cart"))
    assert Session.objects.get().last_access > before


def test_session_deleted_during_the_request_interrupts_it(rf):
    existing = SessionStore()
    existing["visits"] = 1
    existing.save()
    key = existing.session_key

    def view(request):
        request.session["visits"] += 1  # loaded here
        SessionStore(key).delete()  # meanwhile another request logs the user out
        return HttpResponse("ok")

    request = rf.get("/")
    request.COOKIES[settings.SESSION_COOKIE_NAME] = key

    with pytest.raises(SessionInterrupted):
        SessionMiddleware(view)(request)
    assert SessionStore(key).load() == {}
    assert Session.objects.count() == 0


def test_middleware_creates_and_updates_the_session(rf):
    def view(request):
        request.session["n"] = request.session.get("n", 0) + 1
        return HttpResponse("ok")

    response = SessionMiddleware(view)(rf.get("/"))
    key = response.cookies[settings.SESSION_COOKIE_NAME].value
    request = rf.get("/")
    request.COOKIES[settings.SESSION_COOKIE_NAME] = key
    SessionMiddleware(view)(request)

    assert SessionStore(key).load() == {"n": 2}
