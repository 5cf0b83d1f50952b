"""Run in its own process by tests/test_app_config.py, under tests.app_simple_settings:
``SimpleDbSessionsConfig`` wires everything but the sessions panel on the user's page."""

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from django.core.checks import registry
from django.urls import reverse

from dbsessions.apps import SimpleDbSessionsConfig
from dbsessions.checks import check_session_cache, check_settings
from tests.utils import override_dbsessions, saved_session, session_rows

pytestmark = pytest.mark.django_db(databases="__all__")


def test_the_simple_config_is_installed():
    assert type(apps.get_app_config("dbsessions")) is SimpleDbSessionsConfig


def test_user_page_has_no_sessions_panel(admin_client, admin_user):
    saved_session(admin_user)

    page = admin_client.get(reverse("admin:auth_user_change", args=[admin_user.pk]))

    assert page.status_code == 200
    assert "dbsessions_user_sessions" not in page.context
    assert "dbsessions-user-sessions" not in page.content.decode()
    assert type(admin.site.get_model_admin(admin_user._meta.model)) is UserAdmin


def test_sessions_admin_receiver_and_checks_are_wired(admin_client, django_user_model):
    assert admin_client.get(reverse("admin:dbsessions_session_changelist")).status_code == 200
    assert {check_settings, check_session_cache} <= set(registry.registry.get_checks())
    alice = django_user_model.objects.create_user("alice")
    store = saved_session(alice)
    alice.set_password("a new password")
    with override_dbsessions(END_OTHER_SESSIONS_ON_PASSWORD_CHANGE=True):
        alice.save()
    assert not session_rows().filter(pk=store._row_id).exists()
    store.cycle_key()  # as update_session_auth_hash() does, which carries the session on
    assert dict(store.items()) == {"_auth_user_id": str(alice.pk)}
