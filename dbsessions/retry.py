"""Bounded retries of an operation that lost a deadlock or a serialization conflict.

The lock order of saves, ends and purges keeps them from deadlocking each other, but a
database can still pick one of them as a victim (a project's own transaction, another index, a
serialization failure under REPEATABLE READ or SERIALIZABLE). The database has then rolled the
transaction back, so running the operation again is safe, and it usually succeeds at once.

Only an operation that owns its transaction is retried. Inside a caller's ``atomic()`` block
the rollback undid the caller's earlier work too, which only the caller can redo: the error
propagates, and the caller's block fails as it would without dbsessions.

MySQL's lock wait timeout (1205) is not retried: it means a lock was held for
``innodb_lock_wait_timeout`` (50 s by default), by something no retry waits out sooner; and
without ``innodb_rollback_on_timeout`` the transaction is not even rolled back.

On a Galera cluster, a certification failure is a deadlock (1213) and is retried. What a node
that leaves the cluster answers is not: 1047 ("WSREP has not yet prepared node for
application use", a node outside the primary component, or one shutting down) and 1180 (its
COMMIT could not be replicated) wrote nothing, but the connection stays on that node, so a
retry on it fails the same way until the node rejoins; 1205 there is a read that waited
``wsrep_sync_wait`` out; and a lost connection (2013, 2006) leaves unknown whether the
statement in flight committed, so running the operation again could repeat or undo it. Each
fails the request, as any database outage does; the next request gets a new connection, which
the load balancer sends to a node that works (if its health check sees the node's state).
"""

import functools
import logging
import random
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from django.db import DatabaseError, connections
from django.views.decorators.debug import sensitive_variables

from dbsessions.conf import app_settings
from dbsessions.dialects import DIALECTS, Dialect
from dbsessions.signals import operation_retried

logger = logging.getLogger("dbsessions")

T = TypeVar("T")

#: Seconds before the first retry; each further retry waits twice as long, at most MAX_DELAY.
BASE_DELAY = 0.02
MAX_DELAY = 1.0


class _Retrying(threading.local):
    """The aliases on which this thread is inside ``run``."""

    def __init__(self) -> None:
        self.aliases: set[str] = set()


_retrying = _Retrying()


def is_conflict(exc: BaseException, vendor: str) -> bool:
    """Whether ``exc`` (a Django database error) is a deadlock or serialization failure.

    Django wraps the driver's exception; the codes are on the original, its ``__cause__``,
    and the vendor's dialect reads them.
    """
    return DIALECTS.get(vendor, Dialect).is_conflict(exc.__cause__ or exc)


def delay(attempt: int) -> float:
    """Jittered exponential backoff before retry ``attempt`` (1, 2, ...): between half and all
    of the doubling delay, so that the two sides of a deadlock do not collide again."""
    ceiling = min(MAX_DELAY, BASE_DELAY * 2.0 ** (attempt - 1))
    return ceiling / 2 + random.uniform(0, ceiling / 2)


@sensitive_variables("operation")
def run(operation: Callable[[], T], using: str, what: str) -> T:
    """Run ``operation`` on database ``using``, again after a deadlock, up to RETRIES times.

    An operation that runs inside another retried one (a save inside ``cycle_key()``) is not
    retried by itself: the outer one retries the whole.
    """
    connection = connections[using]
    active = _retrying.aliases
    if connection.in_atomic_block or using in active:
        return operation()
    retries = app_settings.RETRIES
    active.add(using)
    try:
        for attempt in range(1, retries + 1):
            try:
                return operation()
            except DatabaseError as exc:
                if not is_conflict(exc, connection.vendor):
                    raise
                pause = delay(attempt)
                logger.warning(
                    "Session %s on database %r lost a deadlock or serialization conflict; "
                    "retry %d of %d in %.0f ms.",
                    what,
                    using,
                    attempt,
                    retries,
                    pause * 1000,
                )
                operation_retried.send_robust(
                    sender=None, using=using, operation=what, attempt=attempt
                )
                time.sleep(pause)
        return operation()
    finally:
        active.discard(using)


def retried(what: str) -> Callable[[Callable[..., T]], Callable[..., T]]:
    """Decorate a session engine method (on the ``DBSESSIONS["DATABASE"]`` alias) with ``run``.

    The arguments may hold a session key: error reports show them as stars.
    """

    def decorator(method: Callable[..., T]) -> Callable[..., T]:
        @functools.wraps(method)
        @sensitive_variables("args", "kwargs", "operation")
        def wrapper(*args: Any, **kwargs: Any) -> T:
            operation = functools.partial(method, *args, **kwargs)
            return run(operation, app_settings.DATABASE, what)

        return wrapper

    return decorator
