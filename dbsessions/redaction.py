"""How the admin shows attribute values: decoded, pretty-printed, some names redacted."""

import pprint
from fnmatch import fnmatchcase

from django.conf import settings
from django.utils.module_loading import import_string

from dbsessions.conf import app_settings
from dbsessions.dialects import as_bytes

REDACTED = "(redacted)"


def is_redacted(name: str) -> bool:
    """Whether ``name`` matches one of the ``REDACT_NAMES`` patterns, ignoring case."""
    lowered = name.lower()
    return any(fnmatchcase(lowered, pattern.lower()) for pattern in app_settings.REDACT_NAMES)


def display_value(name: str, raw: bytes) -> str:
    """The value as an operator may see it: decoded and pretty-printed, or redacted."""
    if is_redacted(name):
        return REDACTED
    serializer = import_string(settings.SESSION_SERIALIZER)()
    try:
        value = serializer.loads(as_bytes(raw))
    except Exception as exc:
        return f"(cannot be decoded: {type(exc).__name__})"
    return pprint.pformat(value, width=80, sort_dicts=True)
