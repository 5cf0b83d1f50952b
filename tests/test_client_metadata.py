"""Opt-in capture of the client's IP address and user agent on the session row."""

import pytest
from asgiref.sync import async_to_sync
from django.contrib.sessions.middleware import SessionMiddleware
from django.http import HttpResponse
from django.test import RequestFactory
from django.urls import reverse

from dbsessions.middleware import ClientMetadataMiddleware
from dbsessions.models import Session

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


def test_login_keeps_recording(client, django_user_model):
    django_user_model.objects.create_user("dora", password="pw-dora-123")
    client.post(
        reverse("login"),
        {"username": "dora", "password": "pw-dora-123"},
        REMOTE_ADDR="198.51.100.2",
        HTTP_USER_AGENT=BROWSER,
    )
    row = Session.objects.get()
    assert (row.principal, row.client_ip) == (
        str(django_user_model.objects.get().pk),
        "198.51.100.2",
    )


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
