"""System checks for the DBSESSIONS settings (IDs are listed in the README).

The app's ``ready()`` registers them.
"""

from importlib import import_module
from importlib.util import find_spec
from typing import Any, TypeGuard

from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning
from django.db import connections

from dbsessions.backends.cached_db import SessionStore as CachedSessionStore
from dbsessions.conf import (
    CLUSTER_RETRIES,
    DEFAULTS,
    SAME_KEY_WRITES_CHOICES,
    WRITE_CONTENTS_CHOICES,
    app_settings,
)
from dbsessions.dialects import dialect_for
from dbsessions.models import MAX_APP_NAME_LENGTH

ROUTER_PATH = "dbsessions.routers.SessionRouter"


def check_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    user = getattr(settings, "DBSESSIONS", {})
    if not isinstance(user, dict):
        return [
            Error(
                f"DBSESSIONS must be a dict, not {type(user).__name__}.",
                id="dbsessions.E001",
            )
        ]
    errors: list[CheckMessage] = []
    unknown = sorted(set(user) - set(DEFAULTS))
    if unknown:
        errors.append(
            Error(
                f"DBSESSIONS has unknown keys: {', '.join(unknown)}.",
                hint=f"Known keys: {', '.join(sorted(DEFAULTS))}.",
                id="dbsessions.E002",
            )
        )
    alias = app_settings.DATABASE
    if alias not in settings.DATABASES:
        errors.append(
            Error(
                f"DBSESSIONS['DATABASE'] is {alias!r}, which is not in DATABASES.",
                id="dbsessions.E003",
            )
        )
    elif alias != "default" and ROUTER_PATH not in _router_paths():
        errors.append(
            Error(
                f"DBSESSIONS['DATABASE'] is {alias!r} but {ROUTER_PATH} is not in "
                "DATABASE_ROUTERS.",
                hint=f"Add {ROUTER_PATH!r} to DATABASE_ROUTERS.",
                id="dbsessions.E004",
            )
        )
    if app_settings.WRITE_CONTENTS not in WRITE_CONTENTS_CHOICES:
        errors.append(
            Error(
                f"DBSESSIONS['WRITE_CONTENTS'] is {app_settings.WRITE_CONTENTS!r}.",
                hint=f"Use one of: {', '.join(WRITE_CONTENTS_CHOICES)}.",
                id="dbsessions.E005",
            )
        )
    if app_settings.SAME_KEY_WRITES not in SAME_KEY_WRITES_CHOICES:
        errors.append(
            Error(
                f"DBSESSIONS['SAME_KEY_WRITES'] is {app_settings.SAME_KEY_WRITES!r}.",
                hint=f"Use one of: {', '.join(SAME_KEY_WRITES_CHOICES)}.",
                id="dbsessions.E012",
            )
        )
    if app_settings.PROMETHEUS and find_spec("prometheus_client") is None:
        errors.append(
            Error(
                "DBSESSIONS['PROMETHEUS'] is set but prometheus_client is not installed.",
                hint="pip install prometheus-client, or leave PROMETHEUS out.",
                id="dbsessions.E013",
            )
        )
    app_name = app_settings.APP_NAME
    if not isinstance(app_name, str) or not 0 < len(app_name) <= MAX_APP_NAME_LENGTH:
        errors.append(
            Error(
                "DBSESSIONS['APP_NAME'] must be a non-empty string of at most "
                f"{MAX_APP_NAME_LENGTH} characters.",
                id="dbsessions.E006",
            )
        )
    limit = app_settings.MAX_VALUE_SIZE
    if limit is not None and (type(limit) is not int or limit <= 0):
        errors.append(
            Error(
                "DBSESSIONS['MAX_VALUE_SIZE'] must be None or a positive number of bytes.",
                id="dbsessions.E008",
            )
        )
    retries = app_settings._get("RETRIES")
    if type(retries) is not int or retries < 0:
        errors.append(
            Error(
                "DBSESSIONS['RETRIES'] must be a whole number of extra attempts (0 disables "
                f"retries), not {retries!r}.",
                id="dbsessions.E010",
            )
        )
    redact = app_settings._get("REDACT_NAMES")
    if not isinstance(redact, (list, tuple)) or not all(isinstance(n, str) for n in redact):
        errors.append(
            Error(
                "DBSESSIONS['REDACT_NAMES'] must be a list of names or glob patterns.",
                id="dbsessions.E007",
            )
        )
    return errors + _check_lifetime()


def _is_seconds(value: object) -> TypeGuard[int]:
    """A positive whole number of seconds (a bool is not one)."""
    return type(value) is int and value > 0


def _check_lifetime() -> list[CheckMessage]:
    """TOUCH_INTERVAL and ABSOLUTE_TIMEOUT: seconds, and compatible with each other and with
    SESSION_COOKIE_AGE."""
    messages: list[CheckMessage] = []
    touch, absolute = app_settings.TOUCH_INTERVAL, app_settings.ABSOLUTE_TIMEOUT
    for name, value in (("TOUCH_INTERVAL", touch), ("ABSOLUTE_TIMEOUT", absolute)):
        if value is not None and not _is_seconds(value):
            messages.append(
                Error(
                    f"DBSESSIONS[{name!r}] must be None or a positive whole number of seconds, "
                    f"not {value!r}.",
                    id="dbsessions.E011",
                )
            )
    if not _is_seconds(absolute):
        return messages
    if _is_seconds(touch) and absolute < touch:
        messages.append(
            Warning(
                f"DBSESSIONS['ABSOLUTE_TIMEOUT'] ({absolute} s) is shorter than "
                f"DBSESSIONS['TOUCH_INTERVAL'] ({touch} s).",
                hint="No session lives long enough for a touch to fall due, so reads never "
                "move an expiry. Make TOUCH_INTERVAL a small part of SESSION_COOKIE_AGE, and "
                "ABSOLUTE_TIMEOUT longer than both.",
                id="dbsessions.W003",
            )
        )
    cookie_age = settings.SESSION_COOKIE_AGE
    if isinstance(cookie_age, int) and cookie_age > absolute:
        messages.append(
            Warning(
                f"SESSION_COOKIE_AGE ({cookie_age} s) is longer than "
                f"DBSESSIONS['ABSOLUTE_TIMEOUT'] ({absolute} s).",
                hint="Every session reaches its absolute timeout before it could be idle for "
                "SESSION_COOKIE_AGE: the idle timeout can never be reached. Make "
                "SESSION_COOKIE_AGE (the idle timeout) shorter than ABSOLUTE_TIMEOUT.",
                id="dbsessions.W004",
            )
        )
    return messages


def check_cluster(
    app_configs: Any = None, databases: Any = None, **kwargs: Any
) -> list[CheckMessage]:
    """On a multi-primary cluster (Galera): reads that wait for their node to catch up, and
    retries enough for certification conflicts. A database check: ``migrate`` and
    ``check --database`` run it."""
    alias = app_settings.DATABASE
    if not databases or alias not in databases or alias not in settings.DATABASES:
        return []
    connection = connections[alias]
    reads_wait = dialect_for(connection).cluster_reads_wait(connection)
    if reads_wait is None:
        return []
    messages: list[CheckMessage] = []
    if not reads_wait:
        messages.append(
            Warning(
                f"The sessions database {alias!r} is a Galera cluster, and its reads do not "
                "wait for their node to catch up (wsrep_sync_wait).",
                hint="A request that another node serves right after a save can read the "
                "session as it was before the save (or find a rotated key unknown). Add "
                "'init_command': 'SET SESSION wsrep_sync_wait = 1' to the database's OPTIONS.",
                id="dbsessions.W005",
            )
        )
    retries = app_settings._get("RETRIES")
    if type(retries) is int and retries < CLUSTER_RETRIES:
        messages.append(
            Warning(
                f"DBSESSIONS['RETRIES'] is {retries}, and the sessions database {alias!r} is "
                "a Galera cluster.",
                hint="Saves of one session on several nodes at once lose certification "
                "conflicts, which a retry settles; a save that runs out of retries fails. "
                f"Set RETRIES to {CLUSTER_RETRIES} or more.",
                id="dbsessions.W006",
            )
        )
    return messages


PER_PROCESS_CACHES = {"django.core.cache.backends.locmem.LocMemCache"}
#: The OPTIONS that bound a call to a Redis that accepts connections but never answers.
REDIS_TIMEOUT_OPTIONS = {
    "django.core.cache.backends.redis.RedisCache": ("socket_timeout", "socket_connect_timeout"),
    "django_redis.cache.RedisCache": ("SOCKET_TIMEOUT", "SOCKET_CONNECT_TIMEOUT"),
}


def check_session_cache(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """The cached engine needs a cache every process shares, or an end is not seen by all,
    and socket timeouts on Redis, or a Redis that stops answering holds every request.

    The cached engine is ``dbsessions.backends.cached_db`` or any engine whose
    ``SessionStore`` is built on it.
    """
    if not _cached_engine_in_use():
        return []
    engine = settings.SESSION_ENGINE
    alias = settings.SESSION_CACHE_ALIAS
    if alias not in settings.CACHES:
        return [
            Error(
                f"SESSION_CACHE_ALIAS is {alias!r}, which is not in CACHES.",
                hint=f"{engine} keeps its snapshots in that cache.",
                id="dbsessions.E009",
            )
        ]
    cache = settings.CACHES[alias]
    backend = cache.get("BACKEND", "")
    if backend in REDIS_TIMEOUT_OPTIONS:
        options = cache.get("OPTIONS") or {}
        missing = [o for o in REDIS_TIMEOUT_OPTIONS[backend] if options.get(o) is None]
        if missing:
            return [
                Warning(
                    f"The session cache {alias!r} ({backend}) OPTIONS lacks {', '.join(missing)}.",
                    hint="Without them, a Redis that accepts connections but never answers "
                    "holds each cache call for redis-py's default (5 s in recent releases, "
                    "no limit in older ones), several times per login. Set both to a "
                    "fraction of a second: a cache call that times out falls back to the "
                    "database.",
                    id="dbsessions.W002",
                )
            ]
    if backend in PER_PROCESS_CACHES:
        return [
            Warning(
                f"{engine} uses the per-process cache {alias!r} ({backend}).",
                hint="A session changed or ended by one process stays cached in the others "
                "until it expires. Use a cache every process shares (Redis, Memcached), or "
                "run a single process.",
                id="dbsessions.W001",
            )
        ]
    return []


def _cached_engine_in_use() -> bool:
    try:
        engine = import_module(settings.SESSION_ENGINE)
    except ImportError:
        # Not for this check to report: SessionMiddleware fails loudly on such an engine.
        return False
    store = getattr(engine, "SessionStore", None)
    return isinstance(store, type) and issubclass(store, CachedSessionStore)


def _router_paths() -> list[str]:
    paths = []
    for router in settings.DATABASE_ROUTERS:
        if isinstance(router, str):
            paths.append(router)
        else:
            cls = router if isinstance(router, type) else type(router)
            paths.append(f"{cls.__module__}.{cls.__qualname__}")
    return paths
