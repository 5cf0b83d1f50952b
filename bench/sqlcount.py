"""SQL statements per operation, with transaction control counted apart."""

import re
from collections.abc import Callable

from django.db import connections
from django.test.utils import CaptureQueriesContext

_CONTROL = re.compile(r"^\s*(BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE\b|START TRANSACTION)", re.I)
# Literals may hold session keys (Django's engines look sessions up by key): never recorded.
_LITERAL = re.compile(r"'(?:[^']|'')*'|\b[0-9a-f]{32,64}\b", re.I)


def is_control(sql: str) -> bool:
    return bool(_CONTROL.match(sql))


def redact(sql: str, limit: int = 220) -> str:
    text = _LITERAL.sub("?", " ".join(sql.split()))
    return text if len(text) <= limit else text[: limit - 3] + "..."


def capture(operation: Callable[[], object], using: str = "default") -> dict:
    """Run ``operation`` once and describe the SQL it sent."""
    with CaptureQueriesContext(connections[using]) as captured:
        operation()
    sqls = [q["sql"] for q in captured.captured_queries]
    return {
        "statements": sum(1 for s in sqls if not is_control(s)),
        "transaction": sum(1 for s in sqls if is_control(s)),
        "sql": [redact(s) for s in sqls],
    }
