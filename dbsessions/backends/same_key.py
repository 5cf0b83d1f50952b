"""Two requests that change the same attribute: ``atomic_update`` and detected conflicts.

Attribute rows already keep saves of different keys apart. For one key there are two tools:

- ``lock_and_replace``, behind ``SessionStore.atomic_update``: the attribute's row is locked,
  read, replaced and committed while the caller's function runs, so concurrent updates of it
  queue instead of reading the same old value. Only that row is locked: saves of the
  session's other keys go on. A missing attribute is first inserted with the default
  (``claim_attribute_sql``), so that there is a row to lock; SQLite, which locks the whole
  database for a write, takes that lock first with the same insert.
- ``write_unless_changed``, behind ``DBSESSIONS["SAME_KEY_WRITES"] = "detect"``: every write of
  an attribute names the value it loaded (by its SHA-256, for a long value on MySQL and MariaDB,
  whose driver would escape it back into the SQL), and a row that no longer holds it (or one that now
  exists where none was loaded) is a conflict. Each statement checks its own row, and the
  database re-checks the condition after any lock wait (PostgreSQL re-reads the row, InnoDB
  updates what it last committed), so no column of the schema is needed: the value itself is
  the row's version.
"""

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from dbsessions.dialects import Dialect, as_bytes

if TYPE_CHECKING:
    from django.db.backends.utils import CursorWrapper

#: Turns a serialized value into the parameter the driver takes (``BinaryField``'s prep).
Prepare = Callable[[bytes], Any]


def lock_and_replace(
    cursor: "CursorWrapper",
    dialect: Dialect,
    name: str,
    placeholder: Any,
    session: list[Any],
    replace: Callable[[bytes], bytes],
    prepare: Prepare,
) -> int | None:
    """Lock attribute ``name`` of the live session ``session`` (the parameters of
    ``live_session_id_sql``) inside the caller's transaction, inserting it as ``placeholder``
    (prepared) if missing, and overwrite it with ``replace(stored value)``.

    Returns the session's row id, or None when no live session has that key.
    """
    claim = dialect.claim_attribute_params(name, placeholder, session)
    if not dialect.locks_rows:  # the insert takes SQLite's write lock before the read
        cursor.execute(dialect.claim_attribute_sql, claim)
    lock = [name, *session]
    cursor.execute(dialect.lock_attribute_sql, lock)
    row = cursor.fetchone()
    if row is None and dialect.locks_rows:
        cursor.execute(dialect.claim_attribute_sql, claim)
        cursor.execute(dialect.lock_attribute_sql, lock)
        row = cursor.fetchone()
    if row is None:
        return None
    session_id, stored = row[0], as_bytes(row[1])
    cursor.execute(dialect.update_attribute_sql, [prepare(replace(stored)), session_id, name])
    return int(session_id)


def write_unless_changed(
    cursor: "CursorWrapper",
    dialect: Dialect,
    session_id: int,
    session: list[Any],
    loaded: Mapping[str, bytes | None],
    changed: list[tuple[str, bytes]],
    removed: list[str],
    prepare: Prepare,
) -> list[str]:
    """Write ``changed`` and delete ``removed`` attributes of a locked session, each only
    where the row still holds what was ``loaded`` (no row, for a name not loaded); the names
    that did not. The caller rolls everything back when any did not."""
    conflicts = []
    for name, value in changed:
        old = loaded.get(name)
        if old is None:
            claim = dialect.claim_attribute_params(name, prepare(value), session)
            cursor.execute(dialect.claim_attribute_sql, claim)
        else:
            digest = dialect.compares_digest(old)
            cursor.execute(
                dialect.update_attribute_if_sql(digest),
                [prepare(value), session_id, name, loaded_param(dialect, old, digest, prepare)],
            )
        if cursor.rowcount != 1:
            conflicts.append(name)
    for name in removed:
        old = loaded.get(name)
        if old is None:  # no loaded value to compare with
            cursor.execute(dialect.delete_attributes_sql(1), [session_id, name])
            continue
        digest = dialect.compares_digest(old)
        cursor.execute(
            dialect.delete_attribute_if_sql(digest),
            [session_id, name, loaded_param(dialect, old, digest, prepare)],
        )
        if cursor.rowcount == 0:
            # Removed by another request too: nothing of theirs is lost.
            cursor.execute(dialect.attribute_exists_sql, [session_id, name])
            if cursor.fetchone() is not None:
                conflicts.append(name)
    return conflicts


def loaded_param(dialect: Dialect, loaded: bytes, digest: bool, prepare: Prepare) -> Any:
    """The parameter a conditional write compares the stored value with."""
    if digest:
        return dialect.value_digest(loaded)
    return prepare(loaded)
