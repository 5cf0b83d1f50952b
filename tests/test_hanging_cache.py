"""cached_db in front of a Redis that accepts connections but never answers.

With socket timeouts in the cache's OPTIONS (what check ``dbsessions.W002`` asks for), every
cache call gives up quickly and the engine falls back to the database, so requests and logins
still work. Transactional: the engine's cache writes run when the database commits.
"""

import socket
import threading

import pytest
from django.core.cache import caches
from django.test import override_settings
from django.urls import reverse

from dbsessions.backends.cached_db import SessionStore
from dbsessions.backends.db import SessionStore as DatabaseStore
from dbsessions.checks import check_session_cache
from tests.utils import PASSWORD

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")

TIMEOUT = 0.3


@pytest.fixture
def hanging_redis():
    """The port of a TCP server that accepts every connection and never sends a byte, and the
    list of connections it accepted."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.05)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1], accepted
    stop.set()
    thread.join(timeout=5)
    for connection in accepted:
        connection.close()
    listener.close()


@pytest.fixture
def hanging_session_cache(hanging_redis):
    port, accepted = hanging_redis
    cache = {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": f"redis://127.0.0.1:{port}/0",
        "OPTIONS": {"socket_timeout": TIMEOUT, "socket_connect_timeout": TIMEOUT},
    }
    with override_settings(
        SESSION_ENGINE="dbsessions.backends.cached_db", CACHES={"default": cache}
    ):
        yield accepted
    caches["default"].close()


def test_the_configuration_passes_the_timeout_check(hanging_session_cache):
    assert check_session_cache() == []


def test_a_load_falls_back_to_the_database(hanging_session_cache):
    stored = DatabaseStore()
    stored.update({"cart": {"tea": 2}, "visits": 3})
    stored.save()

    store = SessionStore(stored.session_key)

    assert dict(store.items()) == {"cart": {"tea": 2}, "visits": 3}
    assert hanging_session_cache, "the session cache was never asked"


def test_requests_and_a_login_work_without_an_answering_cache(
    hanging_session_cache, client, alice
):

    assert [client.get(reverse("home")).context["visits"] for _ in range(2)] == [1, 2]
    response = client.post(
        reverse("login"), {"username": "alice", "password": PASSWORD}, follow=True
    )

    assert response.context["user"] == alice
    assert response.context["visits"] == 3
    assert hanging_session_cache
