"""The demo site's settings with ``SimpleDbSessionsConfig`` (run by tests/test_app_config.py)."""

from testproject.settings import *  # noqa: F403  (the demo site's settings, one app swapped)
from testproject.settings import INSTALLED_APPS

INSTALLED_APPS = [
    "dbsessions.apps.SimpleDbSessionsConfig" if app == "dbsessions" else app
    for app in INSTALLED_APPS
]
