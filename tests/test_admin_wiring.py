"""The admin on a custom AdminSite, and how the sessions panel gets onto user admins."""

import pytest
from django.contrib.admin import AdminSite
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse

from dbsessions.admin import SessionAdmin, UserSessionsMixin, extend_user_admin, extend_user_admins
from dbsessions.models import Session
from tests.utils import saved_session, session_rows

pytestmark = [pytest.mark.django_db(databases="__all__"), pytest.mark.urls("tests.admin_urls")]

#: The second site's name and URL prefix (tests/admin_site.py, tests/admin_urls.py).
SITE = "staff"
PREFIX = "/staff/"


def staff_client(django_user_model, *codenames: str) -> Client:
    user = django_user_model.objects.create_user("operator", is_staff=True)
    user.user_permissions.set(
        Permission.objects.filter(
            content_type__app_label__in=["auth", "dbsessions"], codename__in=codenames
        )
    )
    client = Client()
    client.force_login(user)
    return client


def test_urls_of_the_second_site_are_its_own():
    # The premise of the tests below: reversing without current_app lands on admin.site.
    assert reverse("admin:dbsessions_session_changelist").startswith("/admin/")
    on_site = reverse("admin:dbsessions_session_changelist", current_app=SITE)
    assert on_site == f"{PREFIX}dbsessions/session/"


def test_user_page_panel_links_into_its_own_site(admin_client, django_user_model):
    alice = django_user_model.objects.create_user("alice")
    saved_session(alice)

    page = admin_client.get(f"{PREFIX}auth/user/{alice.pk}/change/")

    assert page.status_code == 200
    assert 'id="dbsessions-user-sessions"' in page.content.decode()
    panel = page.context["dbsessions_user_sessions"]
    assert panel["active"] == 1
    assert panel["list_url"].startswith(f"{PREFIX}dbsessions/session/?")
    assert panel["end_url"] == f"{PREFIX}dbsessions/session/end-user-sessions/{alice.pk}/"
    listed = admin_client.get(panel["list_url"])
    assert [s.principal for s in listed.context["cl"].result_list] == [str(alice.pk)]


def test_end_all_on_the_second_site_ends_and_returns_to_it(django_user_model):
    alice = django_user_model.objects.create_user("alice")
    store = saved_session(alice)
    client = staff_client(django_user_model, "view_user", "view_session", "delete_session")
    end_url = f"{PREFIX}dbsessions/session/end-user-sessions/{alice.pk}/"

    response = client.post(end_url, {"next": "https://elsewhere.example/"})

    assert response.status_code == 302
    assert response.url == f"{PREFIX}dbsessions/session/"
    assert not session_rows().filter(pk=store._row_id).exists()


def test_changelist_and_confirmation_link_into_their_own_site(admin_client, django_user_model):
    alice = django_user_model.objects.create_user("alice")
    store = saved_session(alice)
    changelist = f"{PREFIX}dbsessions/session/"

    html = admin_client.get(changelist).content.decode()
    assert f'action="{changelist}find-by-key/"' in html
    assert f'<a href="{PREFIX}auth/user/{alice.pk}/change/">alice</a>' in html

    page = admin_client.post(
        changelist,
        {"action": "end_selected_sessions", "_selected_action": [store._row_id], "index": "0"},
    )
    assert page.status_code == 200
    html = page.content.decode()
    assert "Yes, end 1 session" in html
    assert f'<a href="{PREFIX}">Home</a>' in html
    assert f'<a href="{changelist}">Sessions</a>' in html


def test_extend_user_admins_extends_every_site_once(django_user_model):
    site = AdminSite(name="elsewhere")
    site.register(django_user_model, UserAdmin)
    bare = AdminSite(name="bare")

    extend_user_admins()
    extended = type(site.get_model_admin(django_user_model))
    extend_user_admins()

    assert issubclass(extended, UserSessionsMixin)
    assert issubclass(extended, UserAdmin)
    assert type(site.get_model_admin(django_user_model)) is extended
    assert not bare.is_registered(django_user_model)


def test_extend_user_admin_keeps_a_projects_own_user_admin(django_user_model):
    class ProjectUserAdmin(UserAdmin):
        list_display = ("username", "last_login")

    site = AdminSite(name="project")
    site.register(django_user_model, ProjectUserAdmin)
    site.register(Session, SessionAdmin)

    extend_user_admin(site)

    registered = site.get_model_admin(django_user_model)
    assert isinstance(registered, UserSessionsMixin)
    assert isinstance(registered, ProjectUserAdmin)
    assert registered.list_display == ("username", "last_login")
    assert registered.admin_site is site
