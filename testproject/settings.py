"""Demo site and test settings.

The database comes from the environment:

- ``DBSESSIONS_DB``: ``sqlite`` (default), ``postgresql`` or ``mysql``.
- ``DBSESSIONS_SEPARATE_DB=1``: keep the sessions on their own ``sessions`` alias (a real,
  separate database) behind ``dbsessions.routers.SessionRouter``.
- ``DBSESSIONS_GALERA=1``: MariaDB on the Galera suite's three-node cluster (see
  ``tests/galera/cluster.py``), through HAProxy, configured as ``docs/scaling.md`` advises; the
  aliases ``node1`` to ``node3`` reach each node directly.
- Server connection: ``PGHOST``/``PGPORT``/``PGUSER``/``PGPASSWORD`` and
  ``MYSQL_HOST``/``MYSQL_PORT``/``MYSQL_USER``/``MYSQL_PASSWORD`` (``MYSQL_UNIX_SOCKET`` to
  connect over a socket), defaulting to the local servers of the development machines.
"""

import os
from pathlib import Path

from dbsessions.conf import CLUSTER_RETRIES
from testproject.databases import connection_settings, galera_databases

BASE_DIR = Path(__file__).resolve().parent.parent
GALERA = os.environ.get("DBSESSIONS_GALERA", "") not in ("", "0")
VENDOR = "mysql" if GALERA else os.environ.get("DBSESSIONS_DB", "sqlite")
SEPARATE_SESSIONS_DB = os.environ.get("DBSESSIONS_SEPARATE_DB", "") not in ("", "0")

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "demo-only-secret-key-not-for-production")
DEBUG = os.environ.get("DJANGO_DEBUG", "1") == "1"
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "dbsessions",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "dbsessions.middleware.ClientMetadataMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "testproject.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "testproject" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]
WSGI_APPLICATION = "testproject.wsgi.application"


# Lets several test runs share one server: each run sets its own suffix.
TEST_DB_SUFFIX = os.environ.get("DBSESSIONS_TEST_SUFFIX", "")


def _database(name: str) -> dict:
    return {**connection_settings(VENDOR, name, BASE_DIR), **_test_settings(name)}


def _test_settings(name: str) -> dict:
    if VENDOR == "mysql":
        return {
            "TEST": {
                "NAME": f"test_{name}{TEST_DB_SUFFIX}",
                "CHARSET": "utf8mb4",
                "COLLATION": "utf8mb4_unicode_ci",
            }
        }
    if VENDOR == "postgresql":
        return {"TEST": {"NAME": f"test_{name}{TEST_DB_SUFFIX}"}}
    return {}


DATABASES = {"default": _database("dbsessions_demo")}
if SEPARATE_SESSIONS_DB:
    DATABASES["sessions"] = _database("dbsessions_demo_sessions")
    DBSESSIONS = {"DATABASE": "sessions"}
    DATABASE_ROUTERS = ["dbsessions.routers.SessionRouter"]

if GALERA:
    DATABASES = galera_databases("dbsessions_demo", _test_settings("dbsessions_demo"))
    DBSESSIONS = {"RETRIES": CLUSTER_RETRIES}

SESSION_ENGINE = "dbsessions.backends.db"

AUTH_PASSWORD_VALIDATORS = []
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "home"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"dbsessions": {"handlers": ["console"], "level": "WARNING"}},
}
