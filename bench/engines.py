"""The session engines under comparison, by the label used in results and charts."""

from importlib import import_module
from typing import Any

ENGINES: dict[str, str] = {
    "dbsessions": "dbsessions.backends.db",
    "dbsessions_cached": "dbsessions.backends.cached_db",
    "django_db": "django.contrib.sessions.backends.db",
    "django_cached_db": "django.contrib.sessions.backends.cached_db",
}
#: Ratios are quoted against this engine.
BASELINE = "django_db"
OURS = "dbsessions"


def store_class(label: str) -> Any:
    return import_module(ENGINES[label]).SessionStore
