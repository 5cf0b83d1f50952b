"""Helpers shared by the test modules."""

from django.conf import settings
from django.test import override_settings


def override_dbsessions(**values) -> override_settings:
    """Override some DBSESSIONS keys, keeping the others (such as DATABASE) as configured."""
    return override_settings(DBSESSIONS={**getattr(settings, "DBSESSIONS", {}), **values})
