"""Shared fixtures and the vendor markers.

``@pytest.mark.postgresql`` / ``@pytest.mark.mysql`` tests run only on that vendor and
``separate_db`` tests only with ``DBSESSIONS_SEPARATE_DB=1``: each runs in the test command's
run for that configuration, so under ``CI=true`` none of them is left out.
"""

import os

import pytest
from django.conf import settings
from django.db import connections

from dbsessions.conf import app_settings

VENDOR_MARKERS = {"postgresql": "postgresql", "mysql": "mysql"}


def pytest_collection_modifyitems(config, items):
    vendor = os.environ.get("DBSESSIONS_DB", "sqlite")
    separate = getattr(settings, "SEPARATE_SESSIONS_DB", False)
    for item in items:
        for marker, name in VENDOR_MARKERS.items():
            if item.get_closest_marker(marker) and vendor != name:
                item.add_marker(pytest.mark.skip(reason=f"{name} only (DBSESSIONS_DB={vendor})"))
        if item.get_closest_marker("separate_db") and not separate:
            item.add_marker(pytest.mark.skip(reason="needs DBSESSIONS_SEPARATE_DB=1"))


@pytest.fixture
def sessions_connection():
    """The connection that holds the session tables."""
    return connections[app_settings.DATABASE]


@pytest.fixture
def store():
    """A new, empty SessionStore of the engine under test."""
    from dbsessions.backends.db import SessionStore

    return SessionStore()
