"""The app configs: what ready() wires, and the opt-out of the sessions panel."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.apps import apps
from django.contrib import admin
from django.core.checks import registry, run_checks
from django.db.models.signals import post_save

from dbsessions.admin import UserSessionsMixin
from dbsessions.apps import PASSWORD_RECEIVER_UID, DbSessionsConfig
from dbsessions.checks import check_session_cache, check_settings
from tests.utils import override_dbsessions, saved_session, session_rows

ROOT = Path(__file__).resolve().parent.parent


def test_dbsessions_installs_the_config_that_extends_the_user_admin(django_user_model):
    assert type(apps.get_app_config("dbsessions")) is DbSessionsConfig
    assert isinstance(admin.site.get_model_admin(django_user_model), UserSessionsMixin)


@pytest.mark.django_db(databases="__all__")
def test_ready_connects_the_password_change_receiver(django_user_model):
    alice = django_user_model.objects.create_user("alice")
    here, elsewhere = saved_session(alice), saved_session(alice)
    assert post_save.disconnect(sender=django_user_model, dispatch_uid=PASSWORD_RECEIVER_UID)
    try:
        apps.get_app_config("dbsessions").ready()
        alice.set_password("a new password")
        with override_dbsessions(END_OTHER_SESSIONS_ON_PASSWORD_CHANGE=True):
            alice.save()
    finally:
        apps.get_app_config("dbsessions").ready()
    assert not session_rows().filter(pk__in=[here._row_id, elsewhere._row_id]).exists()
    # The rotation Django's update_session_auth_hash() does next carries the changing
    # request's session on (and leaves this thread nothing more to carry on).
    here.cycle_key()
    assert dict(here.items()) == {"_auth_user_id": str(alice.pk)}


def test_ready_registers_the_checks():
    for check in (check_settings, check_session_cache):
        registry.registry.registered_checks.discard(check)
    try:
        apps.get_app_config("dbsessions").ready()
        with override_dbsessions(WRITE_CONTENTS="some"):
            ids = [message.id for message in run_checks()]
    finally:
        apps.get_app_config("dbsessions").ready()
    assert "dbsessions.E005" in ids
    assert {check_settings, check_session_cache} <= set(registry.registry.get_checks())


def test_ready_twice_wraps_the_user_admin_once(django_user_model):
    before = type(admin.site.get_model_admin(django_user_model))

    apps.get_app_config("dbsessions").ready()

    assert type(admin.site.get_model_admin(django_user_model)) is before


def test_simple_config_leaves_the_user_admin_alone():
    """tests/app_simple_config.py, run under SimpleDbSessionsConfig in its own process (the
    app registry and admin.site of this one already have the default config's panel)."""
    env = {
        **os.environ,
        # Its own test databases, beside this run's.
        "DBSESSIONS_TEST_SUFFIX": os.environ.get("DBSESSIONS_TEST_SUFFIX", "") + "_simple",
    }
    command = [
        sys.executable,
        "-m",
        "pytest",
        "tests/app_simple_config.py",
        "--ds=tests.app_simple_settings",
        "-p",
        "no:cacheprovider",
        "-q",
    ]
    run = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)

    assert run.returncode == 0, run.stdout + run.stderr
    assert "3 passed" in run.stdout
