"""The demo site, end to end through the test client and the dbsessions engine."""

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from dbsessions.backends.db import SessionStore
from tests.utils import PASSWORD, SERVER_VENDORS, run_threads

# "__all__": with DBSESSIONS_SEPARATE_DB=1 the sessions live on the "sessions" alias.
pytestmark = pytest.mark.django_db(databases="__all__")


def session_key(client: Client) -> str:
    return client.cookies[settings.SESSION_COOKIE_NAME].value


def test_visit_counter_counts_each_request(client):
    for expected in (1, 2, 3):
        response = client.get(reverse("home"))
        assert response.status_code == 200
        assert response.context["visits"] == expected
        assert f"<strong>{expected}</strong>" in response.content.decode()

    assert SessionStore(session_key(client)).load() == {"visits": 3}


def test_visit_counter_is_per_client(client):
    client.get(reverse("home"))
    client.get(reverse("home"))

    response = Client().get(reverse("home"))

    assert response.context["visits"] == 1


def test_cart_starts_empty(client):
    response = client.get(reverse("cart"))

    assert response.status_code == 200
    assert response.context["lines"] == []
    assert "Your cart is empty." in response.content.decode()


def test_cart_add_and_remove_persist_across_requests(client):
    url = reverse("cart")
    for item in ("apple", "apple", "tea"):
        response = client.post(url, {"item": item, "action": "add"})
        assert response.status_code == 302
        assert response.url == url

    response = client.post(url, {"item": "apple", "action": "remove"})
    assert response.status_code == 302

    response = client.get(url)
    assert response.context["lines"] == [("apple", "Apple", 1), ("tea", "Tea", 1)]
    assert response.context["total"] == 2
    assert SessionStore(session_key(client)).load()["cart"] == {"apple": 1, "tea": 1}


def test_cart_remove_last_unit_drops_the_item(client):
    url = reverse("cart")
    client.post(url, {"item": "bread", "action": "add"})
    client.post(url, {"item": "bread", "action": "remove"})
    client.post(url, {"item": "bread", "action": "remove"})

    assert client.get(url).context["lines"] == []
    assert SessionStore(session_key(client)).load()["cart"] == {}


@pytest.mark.parametrize(
    "data", [{"item": "caviar", "action": "add"}, {"item": "apple", "action": "steal"}]
)
def test_cart_rejects_unknown_item_or_action(client, data):
    response = client.post(reverse("cart"), data)

    assert response.status_code == 400


def test_cart_post_needs_csrf_token():
    response = Client(enforce_csrf_checks=True).post(
        reverse("cart"), {"item": "apple", "action": "add"}
    )

    assert response.status_code == 403


def test_login_rotates_session_key_and_keeps_data(client, alice):
    client.get(reverse("home"))
    old_key = session_key(client)

    response = client.post(reverse("login"), {"username": "alice", "password": PASSWORD})

    assert response.status_code == 302
    assert response.url == reverse("home")
    new_key = session_key(client)
    assert new_key != old_key
    assert SessionStore(old_key).load() == {}
    data = SessionStore(new_key).load()
    assert data["visits"] == 1
    assert data["_auth_user_id"] == str(alice.pk)
    assert client.get(reverse("home")).context["user"] == alice


def test_login_with_wrong_password_fails(client, alice):
    response = client.post(reverse("login"), {"username": "alice", "password": "wrong"})

    assert response.status_code == 200
    assert response.context["form"].errors
    assert response.context["user"].is_anonymous


def test_logout_ends_the_session(client, alice):
    client.post(reverse("login"), {"username": "alice", "password": PASSWORD})
    key = session_key(client)

    response = client.post(reverse("logout"))

    assert response.status_code == 302
    assert response.url == reverse("home")
    assert SessionStore(key).load() == {}
    assert session_key(client) == ""  # the cookie was deleted
    assert client.get(reverse("home")).context["user"].is_anonymous


def test_logout_refuses_get(client, alice):
    client.force_login(alice)

    assert client.get(reverse("logout")).status_code == 405


def test_admin_login_page_is_reachable(client):
    response = client.get(reverse("admin:login"))

    assert response.status_code == 200
    assert client.get(reverse("admin:index")).status_code == 302


def test_admin_index_for_superuser(admin_client):
    assert admin_client.get(reverse("admin:index")).status_code == 200


@pytest.mark.concurrency
@pytest.mark.parametrize("vendor", SERVER_VENDORS)
@pytest.mark.django_db(transaction=True, databases="__all__")
def test_cart_adds_from_many_tabs_at_once_are_all_kept(vendor):
    """Eight "tabs" (clients with one cookie) add five apples each, all at once."""
    first = Client()
    first.get(reverse("home"))  # the session, and its cookie
    cookie = session_key(first)

    def tab(index: int) -> None:
        client = Client()
        client.cookies[settings.SESSION_COOKIE_NAME] = cookie
        for _ in range(5):
            assert (
                client.post(reverse("cart"), {"item": "apple", "action": "add"}).status_code == 302
            )

    assert run_threads(tab, 8) == []
    assert SessionStore(cookie).load()["cart"] == {"apple": 40}
