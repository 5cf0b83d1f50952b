"""The session engines under comparison, by the label used in results and charts."""

from importlib import import_module
from itertools import count
from typing import Any

from bench.data import changed_value, payload

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


class StoredSessions:
    """``sessions`` saved sessions of the engine ``label``, each holding the payload of
    ``size``, and a save that changes one of its keys (``CHANGED_KEY``) to a new value each
    time."""

    CHANGED_KEY = "k1"

    def __init__(self, label: str, sessions: int, size: str = "small") -> None:
        self.store = store_class(label)
        self.payload = payload(size)
        self.counter = count()
        self.keys: list[str] = []
        for _ in range(sessions):
            session = self.store()
            session.update(self.payload)
            session.save()
            self.keys.append(session.session_key)

    def changed_value(self) -> str:
        """A new value of ``CHANGED_KEY``, different from every earlier one."""
        return changed_value(self.payload[self.CHANGED_KEY], next(self.counter))

    def save(self, key: str) -> None:
        session = self.store(key)
        session[self.CHANGED_KEY] = self.changed_value()
        session.save()
