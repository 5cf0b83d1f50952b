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
OURS_CACHED = "dbsessions_cached"

#: The store level also runs the cached engines on Redis (``bench.settings``' ``redis`` cache),
#: and Django's ``cache`` engine there, which keeps sessions in the cache alone:
#: label -> (engine module, cache alias; None for the database engines).
STORE_ENGINES: dict[str, tuple[str, str | None]] = {
    "dbsessions": (ENGINES["dbsessions"], None),
    "dbsessions_cached": (ENGINES["dbsessions_cached"], "default"),
    "dbsessions_cached_redis": (ENGINES["dbsessions_cached"], "redis"),
    "django_db": (ENGINES["django_db"], None),
    "django_cached_db": (ENGINES["django_cached_db"], "default"),
    "django_cached_db_redis": (ENGINES["django_cached_db"], "redis"),
    "django_cache_redis": ("django.contrib.sessions.backends.cache", "redis"),
}


def store_class(label: str) -> Any:
    return import_module(STORE_ENGINES[label][0]).SessionStore
