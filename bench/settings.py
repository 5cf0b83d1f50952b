"""Settings for the benchmark processes (harness, gunicorn workers, load generator).

Chosen by the environment, like the demo's settings but on databases of their own:

- ``BENCH_DB``: ``sqlite`` (default), ``postgresql`` or ``mysql``.
- ``BENCH_DB_NAME``: database name (default ``bench_dbsessions``); the harness creates and
  drops it. SQLite uses a file of that name in ``BENCH_WORKDIR``.
- ``BENCH_ENGINE``: the ``SESSION_ENGINE`` the benchmark site runs with.
- ``BENCH_SESSION_CACHE``: the cache of the cached engines, ``default`` (LocMem, in-process:
  one gunicorn worker) or ``redis`` (shared by every worker).
- ``BENCH_REDIS_URL``: that Redis (default ``redis://127.0.0.1:6379/14``; the benchmark
  empties this database).
- Server connection: ``PGHOST``/``PGPORT``/``PGUSER``/``PGPASSWORD`` and
  ``MYSQL_HOST``/``MYSQL_PORT``/``MYSQL_USER``/``MYSQL_PASSWORD`` (``MYSQL_UNIX_SOCKET``).
"""

import os
from pathlib import Path

from testproject.databases import connection_settings

BASE_DIR = Path(__file__).resolve().parent.parent
VENDOR = os.environ.get("BENCH_DB", "sqlite")
DB_NAME = os.environ.get("BENCH_DB_NAME", "bench_dbsessions")
WORKDIR = Path(os.environ.get("BENCH_WORKDIR", BASE_DIR / "artifacts" / "bench"))

SECRET_KEY = "benchmark-only-secret-key"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]

# Both engines' tables live side by side; SESSION_ENGINE only matters to the site. The auth
# apps give the lifetime phase a logged-in user.
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "dbsessions",
]
MIDDLEWARE = ["django.contrib.sessions.middleware.SessionMiddleware"]
ROOT_URLCONF = "bench.site"
WSGI_APPLICATION = "bench.wsgi.application"
SESSION_ENGINE = os.environ.get("BENCH_ENGINE", "dbsessions.backends.db")
SESSION_CACHE_ALIAS = os.environ.get("BENCH_SESSION_CACHE", "default")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
CACHES = {
    # Room for every session a run creates: culling would turn hits into misses.
    "default": {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "OPTIONS": {"MAX_ENTRIES": 1_000_000},
    },
    "redis": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL},
}

USE_TZ = True
TIME_ZONE = "UTC"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"


# Persistent connections, as production sites run: a new PostgreSQL connection per request
# costs more than any session engine and would hide the differences being measured.
DATABASES = {"default": {**connection_settings(VENDOR, DB_NAME, WORKDIR), "CONN_MAX_AGE": 300}}
