"""Forged cookies and damaged rows give a fresh session or a logged drop, never an error."""

import logging

import pytest
from django.conf import settings
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from dbsessions.backends.db import SessionStore
from dbsessions.models import Attribute

pytestmark = pytest.mark.django_db(databases="__all__")

BAD_COOKIES = [
    "",
    "x" * (1024 * 1024),
    "séssion-clé-ünïcode",
    "'; DROP TABLE dbsessions_session; --",
    '" OR "1"="1',
    "abc",
    "a" * 33,
    "\x00\x01\x02\x03\x04\x05\x06\x07",
]


@pytest.mark.parametrize("cookie", BAD_COOKIES, ids=range(len(BAD_COOKIES)))
def test_bad_cookie_gives_a_fresh_session(cookie):
    survivor = SessionStore()
    survivor["keep"] = "me"
    survivor.save()
    client = Client()
    client.cookies[settings.SESSION_COOKIE_NAME] = cookie

    response = client.get(reverse("home"))

    assert response.status_code == 200
    assert response.context["visits"] == 1
    new_key = client.cookies[settings.SESSION_COOKIE_NAME].value
    assert new_key not in ("", cookie)
    assert SessionStore(new_key).load() == {"visits": 1}
    assert SessionStore(survivor.session_key).load() == {"keep": "me"}


@pytest.mark.parametrize("cookie", BAD_COOKIES, ids=range(len(BAD_COOKIES)))
def test_bad_key_in_the_store_api(cookie):
    session = SessionStore(cookie)
    assert dict(session.items()) == {}
    assert session.exists(cookie) is False
    session.delete(cookie)
    session["a"] = 1
    session.save()
    assert session.session_key != cookie


def test_implausible_keys_cost_no_query(sessions_connection):
    with CaptureQueriesContext(sessions_connection) as context:
        for cookie in ("x" * (1024 * 1024), "séssion-clé-ünïcode", "\x00" * 10):
            assert dict(SessionStore(cookie).items()) == {}
    assert context.captured_queries == []


def test_undecodable_attribute_is_dropped_with_a_warning(caplog):
    session = SessionStore()
    session.update({"good": "value", "bad": "placeholder", "other": [1, 2]})
    session.save()
    key = session.session_key
    Attribute.objects.filter(name="bad").update(value=b"\xff\xfe not json {")

    with caplog.at_level(logging.WARNING, logger="dbsessions"):
        loaded = SessionStore(key)
        assert dict(loaded.items()) == {"good": "value", "other": [1, 2]}

    assert len(caplog.records) == 1
    message = caplog.records[0].getMessage()
    assert "'bad'" in message and "cannot be decoded" in message
    assert key not in message

    loaded["good"] = "changed"
    loaded.save()
    assert list(Attribute.objects.order_by("name").values_list("name", flat=True)) == [
        "good",
        "other",
    ]
    assert SessionStore(key).load() == {"good": "changed", "other": [1, 2]}
