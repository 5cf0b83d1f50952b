"""Delete expired sessions in small batches, each its own short transaction.

Each batch locks the expired rows it picks (skipping rows a request holds, where the vendor
can), deletes their attributes, then deletes the rows that are still expired. A request that
extends a session either commits first, and the session is no longer picked, or waits for
the batch and then finds the session gone, as Django reports a session deleted mid-request.
"""

from dataclasses import dataclass

from django.db import connections, transaction
from django.utils import timezone

from dbsessions.backends.sql import dialect_for

DEFAULT_BATCH_SIZE = 500


@dataclass
class PurgeResult:
    sessions: int = 0
    attributes: int = 0
    #: Expired rows a batch picked; fewer may be deleted if a request extended one.
    picked: int = 0


def purge_batch(using: str, app_name: str, batch_size: int = DEFAULT_BATCH_SIZE) -> PurgeResult:
    """Delete up to ``batch_size`` expired sessions of ``app_name`` in one transaction."""
    connection = connections[using]
    dialect = dialect_for(connection)
    skip_locked = connection.features.has_select_for_update_skip_locked
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    result = PurgeResult()
    with transaction.atomic(using=using), connection.cursor() as cursor:
        cursor.execute(dialect.expired_ids_sql(batch_size, skip_locked), [app_name, now])
        ids = [row[0] for row in cursor.fetchall()]
        result.picked = len(ids)
        if ids:
            cursor.execute(dialect.delete_attributes_of_sessions_sql(len(ids)), ids)
            result.attributes = cursor.rowcount
            cursor.execute(dialect.delete_expired_sessions_sql(len(ids)), [*ids, now])
            result.sessions = cursor.rowcount
    return result


def purge_expired(
    using: str, app_name: str, batch_size: int = DEFAULT_BATCH_SIZE
) -> PurgeResult:
    """Purge batch after batch until no expired session of ``app_name`` is left."""
    total = PurgeResult()
    while True:
        batch = purge_batch(using, app_name, batch_size)
        total.sessions += batch.sessions
        total.attributes += batch.attributes
        if batch.picked == 0:
            return total
