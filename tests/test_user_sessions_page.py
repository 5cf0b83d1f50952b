"""The "your sessions" page: a user sees and ends their own sessions, and only theirs."""

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from dbsessions import api
from dbsessions.backends.db import SessionStore
from dbsessions.keys import hash_key
from dbsessions.views import session_token
from tests.utils import session_rows

pytestmark = pytest.mark.django_db(databases="__all__")

PAGE = "dbsessions:user_sessions"
END = "dbsessions:end_session"
END_OTHERS = "dbsessions:end_other_sessions"


def cookie(client: Client) -> str:
    return client.cookies[settings.SESSION_COOKIE_NAME].value


def logged_in(user, **kwargs) -> Client:
    client = Client(**kwargs)
    client.force_login(user)
    return client


@pytest.fixture
def mallory(django_user_model):
    return django_user_model.objects.create_user("mallory")


def test_page_needs_login(client):
    response = client.get(reverse(PAGE))

    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_page_lists_own_sessions_with_this_device_first(alice, mallory):
    laptop, phone = logged_in(alice), logged_in(alice)
    logged_in(mallory)
    session_rows().filter(key_hash=hash_key(cookie(laptop))).update(
        client_ip="192.0.2.7", user_agent="Firefox on Linux"
    )

    response = phone.get(reverse(PAGE))

    entries = response.context["entries"]
    assert [e["current"] for e in entries] == [True, False]
    assert {e["session"].principal for e in entries} == {str(alice.pk)}
    html = response.content.decode()
    assert "This device" in html
    assert "Firefox on Linux" in html and "192.0.2.7" in html
    assert "Log out everywhere else (1 session)" in html
    for key in (cookie(laptop), cookie(phone)):
        assert key not in html
        assert hash_key(key) not in html
    for entry in entries:
        assert entry["token"] in html
        assert str(entry["session"].key_hash)[:8] not in entry["token"]


def test_ending_another_of_my_sessions_logs_it_out(alice):
    laptop, phone = logged_in(alice), logged_in(alice)
    laptop_row = session_rows().get(key_hash=hash_key(cookie(laptop)))

    response = phone.post(reverse(END), {"session": session_token(alice, laptop_row)})

    assert response.status_code == 302
    assert response.url == reverse(PAGE)
    assert not session_rows().filter(pk=laptop_row.pk).exists()
    assert laptop.get(reverse("home")).context["user"].is_anonymous
    assert phone.get(reverse("home")).context["user"] == alice


def test_another_users_identifier_is_refused(alice, mallory):
    victim = logged_in(alice)
    victim_row = session_rows().get(key_hash=hash_key(cookie(victim)))
    attacker = logged_in(mallory)
    # Tokens issued to alice, or forged for mallory with alice's session id, both fail.
    for token in (session_token(alice, victim_row), f"{victim_row.pk}:forged", str(victim_row.pk)):
        response = attacker.post(reverse(END), {"session": token})
        assert response.status_code == 404

    assert session_rows().filter(pk=victim_row.pk).exists()
    assert victim.get(reverse("home")).context["user"] == alice


def test_a_validly_signed_id_of_someone_elses_session_is_refused(alice, mallory):
    victim = logged_in(alice)
    victim_row = session_rows().get(key_hash=hash_key(cookie(victim)))
    attacker = logged_in(mallory)

    # Even a token signed for mallory fails, because the session is not hers.
    response = attacker.post(reverse(END), {"session": session_token(mallory, victim_row)})

    assert response.status_code == 404
    assert session_rows().filter(pk=victim_row.pk).exists()


def test_ending_the_current_session_logs_out(alice):
    client = logged_in(alice)
    row = session_rows().get(key_hash=hash_key(cookie(client)))

    response = client.post(reverse(END), {"session": session_token(alice, row)})

    assert response.status_code == 302
    assert not session_rows().filter(pk=row.pk).exists()
    assert client.get(reverse("home")).context["user"].is_anonymous


def test_log_out_everywhere_else(alice, mallory):
    here = logged_in(alice)
    elsewhere = [logged_in(alice) for _ in range(3)]
    mallorys = logged_in(mallory)

    response = here.post(reverse(END_OTHERS))

    assert response.status_code == 302
    assert api.live_sessions(alice).count() == 1
    assert all(c.get(reverse("home")).context["user"].is_anonymous for c in elsewhere)
    assert here.get(reverse("home")).context["user"] == alice
    assert mallorys.get(reverse("home")).context["user"] == mallory
    assert "Ended 3 other sessions." in here.get(reverse(PAGE)).content.decode()


@pytest.mark.parametrize("name", [END, END_OTHERS])
def test_ending_needs_post_and_csrf(alice, name):
    client = logged_in(alice, enforce_csrf_checks=True)
    other = logged_in(alice)
    row = session_rows().get(key_hash=hash_key(cookie(other)))

    assert client.get(reverse(name)).status_code == 405
    response = client.post(reverse(name), {"session": session_token(alice, row)})

    assert response.status_code == 403
    assert session_rows().filter(pk=row.pk).exists()


def test_anonymous_post_is_sent_to_login(alice):
    row_client = logged_in(alice)
    row = session_rows().get(key_hash=hash_key(cookie(row_client)))

    response = Client().post(reverse(END), {"session": session_token(alice, row)})

    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))
    assert session_rows().filter(pk=row.pk).exists()


def test_nav_links_to_the_page_when_logged_in(alice, client):
    assert reverse(PAGE) not in client.get(reverse("home")).content.decode()
    assert reverse(PAGE) in logged_in(alice).get(reverse("home")).content.decode()


def test_templates_can_be_overridden(alice, settings, tmp_path):
    (tmp_path / "dbsessions").mkdir()
    (tmp_path / "dbsessions" / "base.html").write_text(
        "<main class=custom>{% block dbsessions_content %}{% endblock %}</main>"
    )
    settings.TEMPLATES = [
        {**settings.TEMPLATES[0], "DIRS": [tmp_path, *settings.TEMPLATES[0]["DIRS"]]}
    ]

    html = logged_in(alice).get(reverse(PAGE)).content.decode()

    assert html.startswith("<main class=custom>")
    assert "Your sessions" in html


def test_store_of_an_ended_session_starts_fresh(alice):
    other = logged_in(alice)
    key = cookie(other)
    api.end_all_sessions(alice)
    assert SessionStore(key).load() == {}
