"""Settings of the soak's site (``python -m bench soak``): the demo site on a database of its own.

The demo's settings, with what a long run under load needs instead:

- ``SOAK_DB``: ``postgresql`` (default) or ``mysql``; ``SOAK_DB_NAME``: the database, which the
  soak creates and drops (default ``soak_dbsessions``).
- ``SOAK_ENGINE``: the ``SESSION_ENGINE`` (default ``dbsessions.backends.db``); the cached
  engine keeps its snapshots in ``SOAK_REDIS_URL`` (default ``redis://127.0.0.1:6379/13``, a
  Redis database the soak empties at its start), so that every gunicorn worker shares them.
- ``SOAK_ERROR_LOG``: a file that gets one line per request that ended in a server error.
- Server connection: as the demo's settings (``PG*``, ``MYSQL_*``).

``DEBUG`` is off (it keeps every query in memory, which the memory criterion would see);
connections persist across requests and are checked before each request reuses one, as a
production site runs them, so that a connection the database killed between two requests is
replaced instead of failing the next one. Passwords use a fast hasher: logins are part of the
mix, and PBKDF2's deliberate cost would make the soak a benchmark of the hasher.
"""

import logging
import os
import time

from testproject.databases import connection_settings
from testproject.settings import *  # noqa: F403
from testproject.settings import BASE_DIR

VENDOR = os.environ.get("SOAK_DB", "postgresql")
DB_NAME = os.environ.get("SOAK_DB_NAME", "soak_dbsessions")
REDIS_URL = os.environ.get("SOAK_REDIS_URL", "redis://127.0.0.1:6379/13")
ERROR_LOG = os.environ.get("SOAK_ERROR_LOG", "")

DEBUG = False
GALERA = False
SEPARATE_SESSIONS_DB = False
DATABASES = {
    "default": {
        **connection_settings(VENDOR, DB_NAME, BASE_DIR),
        "CONN_MAX_AGE": 300,
        "CONN_HEALTH_CHECKS": True,
    }
}
DATABASE_ROUTERS: list[str] = []
DBSESSIONS: dict = {}

SESSION_ENGINE = os.environ.get("SOAK_ENGINE", "dbsessions.backends.db")
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        # Runs on other databases at the same time keep apart in the same Redis database.
        "KEY_PREFIX": DB_NAME,
    }
}
SESSION_CACHE_ALIAS = "default"

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


class OneLineErrors(logging.Handler):
    """Each server error as one tab-separated line: the time, the path, the exception's type
    and the first line of its message (no traceback, no request data)."""

    def __init__(self, filename: str) -> None:
        super().__init__(level=logging.ERROR)
        self.filename = filename

    def emit(self, record: logging.LogRecord) -> None:
        error = "no exception"
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            lines = str(exc).strip().splitlines()
            error = f"{type(exc).__module__}.{type(exc).__name__}: {lines[0] if lines else ''}"
        request = getattr(record, "request", None)
        path = getattr(request, "path", "?")
        line = f"{time.time():.3f}\t{path}\t{error[:200]}\n"
        with open(self.filename, "a") as file:  # appends of one line from every worker
            file.write(line)


LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {
        "console": {"class": "logging.StreamHandler"},
        "errors": (
            {"()": OneLineErrors, "filename": ERROR_LOG}
            if ERROR_LOG
            else {"class": "logging.NullHandler"}
        ),
    },
    "loggers": {
        "dbsessions": {"handlers": ["console"], "level": "WARNING"},
        "django.request": {"handlers": ["errors"], "level": "ERROR"},
    },
}
