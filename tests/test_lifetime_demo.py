"""The session lifetime on the demo site, end to end: a login through its login view, then page
views through the whole middleware stack as time passes (time-machine moves Python's clock,
which the engine takes "now" from).

The cart page only reads the session, so every write it causes is a touch.
"""

from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

import pytest
import time_machine
from django.conf import settings
from django.db import connections
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from dbsessions.conf import app_settings
from dbsessions.keys import hash_key
from tests.utils import PASSWORD, override_dbsessions, session_rows

pytestmark = [
    pytest.mark.django_db(databases="__all__"),
    pytest.mark.usefixtures("session_engine"),
]

T0 = datetime(2031, 6, 1, 9, 0, tzinfo=UTC)
AGE = 600  # SESSION_COOKIE_AGE: ten minutes of idleness end a session
INTERVAL = 60
ABSOLUTE = 3600


@pytest.fixture(autouse=True)
def lifetime(settings):
    settings.SESSION_COOKIE_AGE = AGE
    with override_dbsessions(TOUCH_INTERVAL=INTERVAL, ABSOLUTE_TIMEOUT=ABSOLUTE):
        yield


@pytest.fixture
def clock():
    """Python's clock, stopped at T0; ``clock.move_to(T0 + ...)`` moves it."""
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


def at(clock, seconds: float) -> None:
    clock.move_to(T0 + timedelta(seconds=seconds))


def log_in(client: Client) -> str:
    """Sign in through the demo's login form; the session key the response set."""
    response = client.post(reverse("login"), {"username": "alice", "password": PASSWORD})
    assert response.status_code == 302
    return client.cookies[settings.SESSION_COOKIE_NAME].value


def view_cart(client: Client):
    """A page view that only reads the session: (its response, the statements that wrote)."""
    with ExitStack() as stack:
        contexts = [
            stack.enter_context(CaptureQueriesContext(connections[alias]))
            for alias in {app_settings.DATABASE, "default"}
        ]
        response = client.get(reverse("cart"))
    assert response.status_code == 200
    sqls = [q["sql"] for context in contexts for q in context.captured_queries]
    written = [s for s in sqls if s.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))]
    return response, written


def session_cookie(response):
    """The session cookie the response sets, or None."""
    return response.cookies.get(settings.SESSION_COOKIE_NAME)


def cookie_expiry(morsel) -> datetime:
    return parsedate_to_datetime(morsel["expires"])


def row_of(key: str):
    return session_rows().get(key_hash=hash_key(key), app_name=app_settings.APP_NAME)


def test_a_page_view_after_the_interval_refreshes_cookie_and_expiry(alice, clock):
    client = Client()
    key = log_in(client)
    login_expiry = row_of(key).expires_at
    assert login_expiry == T0 + timedelta(seconds=AGE)

    at(clock, INTERVAL + 30)
    response, written = view_cart(client)

    cookie = session_cookie(response)
    assert cookie is not None and cookie.value == key
    assert int(cookie["max-age"]) == AGE
    assert cookie_expiry(cookie) == T0 + timedelta(seconds=INTERVAL + 30 + AGE)
    assert len(written) == 1 and written[0].lstrip().upper().startswith("UPDATE")
    assert row_of(key).expires_at == T0 + timedelta(seconds=INTERVAL + 30 + AGE)
    assert response.context["user"] == alice


def test_a_page_view_within_the_interval_sets_no_cookie_and_writes_nothing(alice, clock):
    client = Client()
    key = log_in(client)
    expiry = row_of(key).expires_at

    at(clock, INTERVAL - 1)
    response, written = view_cart(client)

    assert session_cookie(response) is None
    assert written == []
    assert row_of(key).expires_at == expiry
    assert response.context["user"] == alice


def test_the_absolute_cap_logs_the_user_out_however_active(alice, clock):
    client = Client()
    # An anonymous visit half an hour before the login: the login's new key starts the
    # session's absolute lifetime afresh, so the cap counts from the login.
    at(clock, -1800)
    client.get(reverse("home"))
    at(clock, 0)
    key = log_in(client)

    # A page view every five minutes: each is a touch, none lets the idle timeout run out.
    for seconds in range(300, ABSOLUTE, 300):
        at(clock, seconds)
        response, written = view_cart(client)
        assert response.context["user"] == alice, seconds
        assert len(written) == 1, seconds
        cookie = session_cookie(response)
        # Neither the cookie nor the row outlives the cap.
        assert int(cookie["max-age"]) == min(AGE, ABSOLUTE - seconds), seconds
        expected = T0 + timedelta(seconds=min(seconds + AGE, ABSOLUTE))
        assert row_of(key).expires_at == expected, seconds

    at(clock, ABSOLUTE + 1)
    response, _ = view_cart(client)
    assert not response.context["user"].is_authenticated

    response = client.get(reverse("home"))
    new_key = client.cookies[settings.SESSION_COOKIE_NAME].value
    assert new_key != key
    assert response.context["visits"] == 1  # an empty session, not the old one
    assert not response.context["user"].is_authenticated
