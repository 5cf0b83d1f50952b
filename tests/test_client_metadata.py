"""Opt-in capture of the client's IP address and user agent on the session row."""

import pytest
from asgiref.sync import async_to_sync
from django.contrib.sessions.middleware import SessionMiddleware
from django.http import HttpResponse
from django.test import RequestFactory
from django.urls import reverse

from dbsessions.middleware import ClientMetadataMiddleware
from dbsessions.models import Session
from tests.utils import PASSWORD

pytestmark = pytest.mark.django_db(databases="__all__")

BROWSER = "Mozilla/5.0 (X11; Linux x86_64) TestBrowser/1.0"


def test_created_session_records_the_client(client):
    client.get(reverse("home"), REMOTE_ADDR="203.0.113.7", HTTP_USER_AGENT=BROWSER)
    row = Session.objects.get()
    assert (row.client_ip, row.user_agent) == ("203.0.113.7", BROWSER)


def test_each_save_records_the_latest_client(client):
    client.get(reverse("home"), REMOTE_ADDR="203.0.113.7", HTTP_USER_AGENT=BROWSER)
    client.get(reverse("home"), REMOTE_ADDR="2001:db8::1", HTTP_USER_AGENT="Other/2.0")
    row = Session.objects.get()
    assert (row.client_ip, row.user_agent) == ("2001:db8::1", "Other/2.0")


def test_unusable_address_and_long_agent(client):
    client.get(reverse("home"), REMOTE_ADDR="not-an-ip", HTTP_USER_AGENT="x" * 1000)
    row = Session.objects.get()
    assert row.client_ip is None
    assert row.user_agent == "x" * 255


def test_login_keeps_recording(client, alice):
    client.post(
        reverse("login"),
        {"username": "alice", "password": PASSWORD},
        REMOTE_ADDR="198.51.100.2",
        HTTP_USER_AGENT=BROWSER,
    )
    row = Session.objects.get()
    assert (row.principal, row.client_ip) == (str(alice.pk), "198.51.100.2")


def test_without_the_middleware_nothing_is_recorded(client, settings):
    settings.MIDDLEWARE = [m for m in settings.MIDDLEWARE if "ClientMetadata" not in m]
    client.get(reverse("home"), REMOTE_ADDR="203.0.113.7", HTTP_USER_AGENT=BROWSER)
    row = Session.objects.get()
    assert (row.client_ip, row.user_agent) == (None, None)


def test_async_middleware_chain():
    async def view(request):
        request.session["n"] = 1
        return HttpResponse("ok")

    chain = SessionMiddleware(ClientMetadataMiddleware(view))
    request = RequestFactory().get("/", REMOTE_ADDR="192.0.2.9", HTTP_USER_AGENT=BROWSER)
    async_to_sync(chain)(request)
    row = Session.objects.get()
    assert (row.client_ip, row.user_agent) == ("192.0.2.9", BROWSER)


def test_control_characters_never_reach_the_row(client):
    # PostgreSQL refuses a NUL in text (a 500); the others would store what the admin shows.
    hostile = "Mozilla/5.0\x00 (X11)\x1b[31m Evil\x7f/1.0\u0085 \x9b" + "\x01" * 300 + "tail"

    response = client.get(reverse("home"), REMOTE_ADDR="203.0.113.7", HTTP_USER_AGENT=hostile)

    assert response.status_code == 200
    agent = Session.objects.get().user_agent
    assert agent.startswith("Mozilla/5.0")
    assert agent.isprintable()
    assert not set("\x00\x1b\x7f\u0085\x9b\x01") & set(agent)
    assert len(agent) <= 255


def test_control_characters_only_record_no_agent(client):
    client.get(reverse("home"), HTTP_USER_AGENT="\x00\x1b\x7f\u0085")

    assert Session.objects.get().user_agent is None


def test_scoped_ipv6_address_is_stored_without_its_zone(client):
    # A link-local peer's address carries a zone, which PostgreSQL's inet refuses (a 500).
    # The second request updates the row with raw SQL, which the ORM's cleaning never sees.
    for _ in range(2):
        response = client.get(reverse("home"), REMOTE_ADDR="fe80::1%eth0")
        assert response.status_code == 200
    assert Session.objects.get().client_ip == "fe80::1"
