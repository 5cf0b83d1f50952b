"""The DBSESSIONS settings dict, read on first use and again after every change.

The dict is read from ``settings`` once and kept (every load reads several values, and an
attribute of Django's lazy settings costs a microsecond or two); ``setting_changed``, which
``override_settings`` sends, drops the copy. The one exception is the pair of table names:
Django fixes a model's table when the model class is created.
"""

from typing import Any, cast

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed

DEFAULTS: dict[str, Any] = {
    "DATABASE": "default",
    "APP_NAME": "default",
    "WRITE_CONTENTS": "changed",
    "MAX_VALUE_SIZE": None,
    "SESSION_TABLE": "dbsessions_session",
    "ATTRIBUTE_TABLE": "dbsessions_attribute",
    "REDACT_NAMES": ["_auth_user_hash", "*password*", "*token*", "*secret*"],
    "END_OTHER_SESSIONS_ON_PASSWORD_CHANGE": False,
    "RETRIES": 3,
    "TOUCH_INTERVAL": None,
    "ABSOLUTE_TIMEOUT": None,
    "SAME_KEY_WRITES": "last_wins",
    "PROMETHEUS": False,
}

WRITE_CONTENTS_CHOICES = ("changed", "all")
SAME_KEY_WRITES_CHOICES = ("last_wins", "detect")
#: The RETRIES a multi-primary cluster (Galera) needs (check ``dbsessions.W006``): of the saves
#: of one key from three nodes at once, none needed more than 8 retries (docs/scaling.md).
CLUSTER_RETRIES = 15


class Settings:
    """One typed property per key of ``settings.DBSESSIONS``.

    Values come as the project wrote them: the casts state the documented types, and the
    system checks (``checks.py``) report values of any other type.
    """

    def __init__(self) -> None:
        self._user: dict[str, Any] | None = None

    def _get(self, name: str) -> Any:
        user = self._user
        if user is None:
            user = getattr(settings, "DBSESSIONS", None) or {}
            self._user = user = user if isinstance(user, dict) else {}
        return user.get(name, DEFAULTS[name])

    def reload(self) -> None:
        """Read ``settings.DBSESSIONS`` again on next use."""
        self._user = None

    @property
    def DATABASE(self) -> str:
        """Database alias that holds the session tables."""
        return cast(str, self._get("DATABASE"))

    @property
    def APP_NAME(self) -> str:
        """Name stamped on every session; other app names are invisible."""
        return cast(str, self._get("APP_NAME"))

    @property
    def WRITE_CONTENTS(self) -> str:
        """``"changed"`` writes only changed attributes, ``"all"`` rewrites them all."""
        return cast(str, self._get("WRITE_CONTENTS"))

    @property
    def MAX_VALUE_SIZE(self) -> int | None:
        """Largest serialized attribute value a save accepts, in bytes; None: no limit."""
        return cast(int | None, self._get("MAX_VALUE_SIZE"))

    @property
    def SESSION_TABLE(self) -> str:
        return cast(str, self._get("SESSION_TABLE"))

    @property
    def ATTRIBUTE_TABLE(self) -> str:
        return cast(str, self._get("ATTRIBUTE_TABLE"))

    @property
    def REDACT_NAMES(self) -> list[str]:
        """Attribute names (shell-style patterns, any case) the admin never shows decoded."""
        return list(self._get("REDACT_NAMES"))

    @property
    def END_OTHER_SESSIONS_ON_PASSWORD_CHANGE(self) -> bool:
        """End a user's other sessions when their password changes."""
        return bool(self._get("END_OTHER_SESSIONS_ON_PASSWORD_CHANGE"))

    @property
    def RETRIES(self) -> int:
        """Extra attempts of a save, end or purge batch that lost a deadlock; 0: none."""
        value = self._get("RETRIES")
        if type(value) is not int or value < 0:
            raise ImproperlyConfigured(
                "DBSESSIONS['RETRIES'] must be a whole number of extra attempts (0 disables "
                f"retries), not {value!r}."
            )
        return value

    @property
    def TOUCH_INTERVAL(self) -> int | None:
        """Seconds after which a request that only reads a session moves its expiry; None:
        only saves move it, as in Django."""
        return cast(int | None, self._get("TOUCH_INTERVAL"))

    @property
    def ABSOLUTE_TIMEOUT(self) -> int | None:
        """Seconds after its creation past which no session lives, however active; None: no
        cap."""
        return cast(int | None, self._get("ABSOLUTE_TIMEOUT"))

    @property
    def SAME_KEY_WRITES(self) -> str:
        """``"last_wins"``: the last save of a key wins; ``"detect"``: a save that would
        overwrite a key another request changed since this one loaded it raises
        ``SessionConflict``."""
        return cast(str, self._get("SAME_KEY_WRITES"))

    @property
    def PROMETHEUS(self) -> bool:
        """Register dbsessions' Prometheus metrics on the default registry when ready."""
        return bool(self._get("PROMETHEUS"))


app_settings = Settings()


def _reload(*, setting: str, **kwargs: Any) -> None:
    if setting == "DBSESSIONS":
        app_settings.reload()


setting_changed.connect(_reload)
