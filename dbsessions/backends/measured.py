"""``session_operation``: each public operation of a store, timed and sent to receivers.

Only the outermost operation of a store is sent: a ``cycle_key()`` that saves sends one
``cycle_key``, not a ``save`` too. With no receiver connected, the wrapper only checks that
and calls the method: metrics cost nothing unless someone listens.
"""

import functools
import time
from collections.abc import Callable
from typing import Any, Protocol, TypeVar, cast

from django.contrib.sessions.backends.base import UpdateError
from django.views.decorators.debug import sensitive_variables

from dbsessions.exceptions import SessionConflict
from dbsessions.signals import session_operation

F = TypeVar("F", bound=Callable[..., Any])


class Measured(Protocol):
    """What a measured store keeps between an operation and its report."""

    #: Whether an operation of this store is being measured (the nested ones are not).
    _measuring: bool
    #: How the last load used the cache (``"hit"``, ``"miss"``, ``"bypass"``), or None.
    _cache_use: str | None
    #: Whether the last save wrote only a touch.
    _only_touched: bool


def outcome_of(exc: BaseException | None) -> str:
    if exc is None:
        return "ok"
    if isinstance(exc, SessionConflict):
        return "conflict"
    if isinstance(exc, UpdateError):
        return "ended"
    return "error"


def measured(operation: str) -> Callable[[F], F]:
    """Send ``session_operation`` after each outermost call of the decorated store method.

    Its arguments may hold a session key: error reports show them as stars.
    """

    def decorator(method: F) -> F:
        @functools.wraps(method)
        @sensitive_variables("args", "kwargs")
        def wrapper(store: Measured, *args: Any, **kwargs: Any) -> Any:
            if store._measuring or not session_operation.receivers:
                return method(store, *args, **kwargs)
            store._measuring = True
            store._cache_use = None
            failure: BaseException | None = None
            started = time.perf_counter()
            try:
                return method(store, *args, **kwargs)
            except BaseException as exc:
                failure = exc
                raise
            finally:
                seconds = time.perf_counter() - started
                store._measuring = False
                session_operation.send_robust(
                    sender=type(store),
                    operation=operation,
                    seconds=seconds,
                    outcome=outcome_of(failure),
                    cache=store._cache_use if operation == "load" else None,
                    touch=operation == "save" and failure is None and store._only_touched,
                )

        return cast(F, wrapper)

    return decorator
