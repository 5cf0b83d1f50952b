"""``manage.py clearsessions`` without ``django.contrib.sessions`` in INSTALLED_APPS.

Django's command of that name lives in ``django.contrib.sessions``, which dbsessions does not
need; cron jobs and Django's own tests call it all the same. Like Django's, it asks the
configured engine to delete its expired sessions (ours purge in batches; see
``purge_sessions`` for progress, time limits and a dry run).
"""

from importlib import import_module
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Delete expired sessions through SESSION_ENGINE's clear_expired() (run it from cron)."

    def handle(self, **options: Any) -> None:
        engine = import_module(settings.SESSION_ENGINE)
        try:
            engine.SessionStore.clear_expired()
        except NotImplementedError:
            raise CommandError(
                f"Session engine {settings.SESSION_ENGINE!r} cannot delete expired sessions."
            ) from None
