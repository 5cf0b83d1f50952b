"""System checks for the DBSESSIONS settings."""

import pytest
from django.core.checks import WARNING, run_checks
from django.test import override_settings

from dbsessions.checks import check_session_cache, check_settings

ROUTER = "dbsessions.routers.SessionRouter"


def ids(errors) -> list[str]:
    return [error.id for error in errors]


@override_settings(DBSESSIONS={})
def test_defaults_pass():
    assert check_settings() == []


@override_settings(DBSESSIONS=["DATABASE"])
def test_settings_must_be_a_dict():
    assert ids(check_settings()) == ["dbsessions.E001"]


@override_settings(DBSESSIONS={"DATABSE": "sessions", "APP_NAME": "shop"})
def test_unknown_keys_are_named():
    errors = check_settings()
    assert ids(errors) == ["dbsessions.E002"]
    assert "DATABSE" in errors[0].msg


@override_settings(DBSESSIONS={"DATABASE": "nowhere"})
def test_database_alias_must_exist():
    errors = check_settings()
    assert ids(errors) == ["dbsessions.E003"]
    assert "'nowhere'" in errors[0].msg


@override_settings(DBSESSIONS={"DATABASE": "default"}, DATABASE_ROUTERS=[])
def test_router_not_needed_on_default():
    assert check_settings() == []


@pytest.mark.filterwarnings("ignore:Overriding setting DATABASES")
def test_router_required_for_another_alias(settings):
    settings.DATABASES = {**settings.DATABASES, "other": settings.DATABASES["default"]}
    settings.DBSESSIONS = {"DATABASE": "other"}
    settings.DATABASE_ROUTERS = []
    assert ids(check_settings()) == ["dbsessions.E004"]
    settings.DATABASE_ROUTERS = [ROUTER]
    assert check_settings() == []


@override_settings(DBSESSIONS={"WRITE_CONTENTS": "some"})
def test_write_contents_must_be_known():
    errors = check_settings()
    assert ids(errors) == ["dbsessions.E005"]
    assert "changed, all" in errors[0].hint


@override_settings(DBSESSIONS={"APP_NAME": ""})
def test_app_name_must_be_a_short_string():
    assert ids(check_settings()) == ["dbsessions.E006"]


@override_settings(DBSESSIONS={"WRITE_CONTENTS": "some"})
def test_checks_are_registered():
    assert "dbsessions.E005" in ids(run_checks())


@override_settings(DBSESSIONS={"REDACT_NAMES": "password"})
def test_redact_names_must_be_a_list_of_strings():
    assert ids(check_settings()) == ["dbsessions.E007"]


@override_settings(DBSESSIONS={"MAX_VALUE_SIZE": "10MB"})
def test_max_value_size_must_be_a_number_of_bytes():
    assert ids(check_settings()) == ["dbsessions.E008"]


@pytest.mark.parametrize("retries", [-1, 1.5, "3", True, None])
def test_retries_must_be_a_whole_number(retries):
    with override_settings(DBSESSIONS={"RETRIES": retries}):
        assert ids(check_settings()) == ["dbsessions.E010"]


@override_settings(DBSESSIONS={"RETRIES": 0})
def test_no_retries_is_allowed():
    assert check_settings() == []


@pytest.mark.parametrize("name", ["TOUCH_INTERVAL", "ABSOLUTE_TIMEOUT"])
@pytest.mark.parametrize("value", [0, -60, 1.5, "60", True])
def test_lifetime_settings_must_be_positive_whole_seconds(name, value):
    with override_settings(DBSESSIONS={name: value}):
        errors = check_settings()
    assert ids(errors) == ["dbsessions.E011"]
    assert name in errors[0].msg


@override_settings(
    DBSESSIONS={"TOUCH_INTERVAL": 60, "ABSOLUTE_TIMEOUT": 8 * 3600}, SESSION_COOKIE_AGE=3600
)
def test_compatible_lifetime_settings_pass():
    assert check_settings() == []


@override_settings(
    DBSESSIONS={"TOUCH_INTERVAL": 600, "ABSOLUTE_TIMEOUT": 300}, SESSION_COOKIE_AGE=60
)
def test_an_absolute_timeout_shorter_than_the_touch_interval_warns():
    (warning,) = check_settings()
    assert (warning.id, warning.level) == ("dbsessions.W003", WARNING)


@override_settings(DBSESSIONS={"ABSOLUTE_TIMEOUT": 3600}, SESSION_COOKIE_AGE=7200)
def test_a_cookie_age_past_the_absolute_timeout_warns():
    (warning,) = check_settings()
    assert (warning.id, warning.level) == ("dbsessions.W004", WARNING)
    assert "never be reached" in warning.hint


@override_settings(DBSESSIONS={"ABSOLUTE_TIMEOUT": 3600}, SESSION_COOKIE_AGE=3600)
def test_a_cookie_age_equal_to_the_absolute_timeout_passes():
    assert check_settings() == []


CACHED = "dbsessions.backends.cached_db"
LOCMEM = {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
REDIS = {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://x"}
TIMEOUTS = {"socket_timeout": 0.5, "socket_connect_timeout": 0.5}
SHARED = {**REDIS, "OPTIONS": TIMEOUTS}


@override_settings(SESSION_ENGINE=CACHED, CACHES={"default": LOCMEM})
def test_cached_engine_warns_of_a_per_process_cache():
    assert ids(check_session_cache()) == ["dbsessions.W001"]


@override_settings(SESSION_ENGINE=CACHED, CACHES={"default": LOCMEM}, SESSION_CACHE_ALIAS="s")
def test_cached_engine_needs_its_cache_alias():
    assert ids(check_session_cache()) == ["dbsessions.E009"]


@override_settings(SESSION_ENGINE=CACHED, CACHES={"default": LOCMEM, "s": SHARED})
def test_cached_engine_with_a_shared_cache_passes():
    with override_settings(SESSION_CACHE_ALIAS="s"):
        assert check_session_cache() == []
    with override_settings(SESSION_ENGINE="dbsessions.backends.db"):
        assert check_session_cache() == []


@pytest.mark.parametrize(
    "options, missing",
    [
        ({}, "socket_timeout, socket_connect_timeout"),
        ({"socket_timeout": 0.5}, "socket_connect_timeout"),
        ({"socket_timeout": 0.5, "socket_connect_timeout": None}, "socket_connect_timeout"),
    ],
)
def test_cached_engine_warns_of_redis_without_socket_timeouts(options, missing):
    cache = {**REDIS, "OPTIONS": options}
    with override_settings(SESSION_ENGINE=CACHED, CACHES={"default": cache}):
        warnings = check_session_cache()
    assert ids(warnings) == ["dbsessions.W002"]
    assert f"OPTIONS lacks {missing}" in warnings[0].msg


def test_cached_engine_with_redis_socket_timeouts_passes():
    with override_settings(SESSION_ENGINE=CACHED, CACHES={"default": SHARED}):
        assert check_session_cache() == []
    # Only the session cache matters, and only for the cached engine.
    other = {"default": LOCMEM, "s": SHARED, "pages": REDIS}
    with override_settings(SESSION_ENGINE=CACHED, CACHES=other, SESSION_CACHE_ALIAS="s"):
        assert check_session_cache() == []
    with override_settings(CACHES={"default": REDIS}):
        assert check_session_cache() == []


def test_cached_engine_warns_of_django_redis_without_socket_timeouts():
    cache = {"BACKEND": "django_redis.cache.RedisCache", "LOCATION": "redis://x"}
    with override_settings(SESSION_ENGINE=CACHED, CACHES={"default": cache}):
        assert ids(check_session_cache()) == ["dbsessions.W002"]
    cache["OPTIONS"] = {"SOCKET_TIMEOUT": 0.5, "SOCKET_CONNECT_TIMEOUT": 0.5}
    with override_settings(SESSION_ENGINE=CACHED, CACHES={"default": cache}):
        assert check_session_cache() == []


SUBCLASS = "tests.app_cached_engine"


@override_settings(SESSION_ENGINE=SUBCLASS, CACHES={"default": LOCMEM})
def test_an_engine_built_on_the_cached_engine_is_checked_too():
    warnings = check_session_cache()
    assert ids(warnings) == ["dbsessions.W001"]
    assert warnings[0].msg.startswith(f"{SUBCLASS} uses the per-process cache")
    with override_settings(SESSION_CACHE_ALIAS="s"):
        assert ids(check_session_cache()) == ["dbsessions.E009"]
    with override_settings(CACHES={"default": REDIS}):
        assert ids(check_session_cache()) == ["dbsessions.W002"]


@pytest.mark.parametrize(
    "engine",
    ["tests.no_such_engine", "tests.engine_without_purge", "django.contrib.sessions.backends.db"],
)
def test_other_and_unimportable_engines_are_not_checked(engine):
    with override_settings(SESSION_ENGINE=engine, CACHES={"default": LOCMEM}):
        assert check_session_cache() == []


@pytest.mark.django_db(databases="__all__")
def test_a_database_that_is_no_cluster_gets_no_cluster_warning():
    from django.core.checks import Tags

    from dbsessions.conf import app_settings

    messages = run_checks(databases=[app_settings.DATABASE], tags=[Tags.database])
    assert [m.id for m in messages if m.id in ("dbsessions.W005", "dbsessions.W006")] == []
