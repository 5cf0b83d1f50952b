"""SQL statements per operation, with transaction control counted apart."""

import re
from collections.abc import Callable

from django.db import connections
from django.test.utils import CaptureQueriesContext

_WRITE = re.compile(r"^\s*(INSERT|UPDATE|DELETE|REPLACE|MERGE)\b", re.I)
# A common table expression that writes (PostgreSQL's save of changed keys in one statement).
_WRITING_CTE = re.compile(r"^\s*WITH\b.*\b(INSERT|UPDATE|DELETE)\b", re.I | re.S)
_CONTROL = re.compile(r"^\s*(BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE\b|START TRANSACTION)", re.I)
# Literals may hold session keys (Django's engines look sessions up by key): never recorded.
_LITERAL = re.compile(r"'(?:[^']|'')*'|\b[0-9a-f]{32,64}\b", re.I)


def is_control(sql: str) -> bool:
    return bool(_CONTROL.match(sql))


def is_write(sql: str) -> bool:
    """Whether a statement writes rows (SET, SELECT and transaction control do not)."""
    return bool(_WRITE.match(sql) or _WRITING_CTE.match(sql))


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
