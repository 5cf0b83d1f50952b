"""Prometheus metrics of the session engines, from dbsessions' signals.

``DBSESSIONS["PROMETHEUS"] = True`` registers them on ``prometheus_client``'s default registry
when the app is ready (``prometheus_client`` must be installed: check ``dbsessions.E013``);
``register(registry)`` does it on another registry. Expose the registry as usual (a
``prometheus_client`` WSGI app, django-prometheus, or ``metrics_view`` below, behind
whatever keeps the endpoint internal). The metrics count what this process did; a scraper adds
up the processes. No label holds a session key, its hash or a row id.
"""

import weakref
from collections.abc import Callable
from typing import Any

from django.dispatch import Signal
from django.http import HttpRequest, HttpResponse
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from dbsessions.signals import (
    operation_retried,
    session_created,
    session_operation,
    sessions_ended,
    sessions_purged,
)

#: Seconds: a cache hit takes tens of microseconds, a save a millisecond or a few.
BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)

#: Keyed by the registry itself, not its ``id()``: a registry that is gone takes its metrics and
#: their receivers with it, and a new one at its address gets its own.
_registered: "weakref.WeakKeyDictionary[CollectorRegistry, Metrics]" = weakref.WeakKeyDictionary()


class Metrics:
    """The collectors on one registry, and the receivers that feed them."""

    def __init__(self, registry: CollectorRegistry) -> None:
        #: (operation, outcome) -> the two children an operation updates: ``labels()``
        #: looks them up under a lock each time.
        self._children: dict[tuple[str, str], tuple[Any, Any]] = {}
        self._cache_children: dict[str, Any] = {}
        self.operations = Counter(
            "dbsessions_operations",
            "Session operations, by operation and outcome (ok, conflict, ended, error).",
            ["operation", "outcome"],
            registry=registry,
        )
        self.seconds = Histogram(
            "dbsessions_operation_seconds",
            "Duration of session operations, retries included.",
            ["operation"],
            buckets=BUCKETS,
            registry=registry,
        )
        self.cache = Counter(
            "dbsessions_cache_loads",
            "cached_db loads by how they used the cache (hit, miss, bypass).",
            ["result"],
            registry=registry,
        )
        self.touches = Counter(
            "dbsessions_touches", "Saves that only moved an expiry.", registry=registry
        )
        self.retries = Counter(
            "dbsessions_retries",
            "Operations run again after a deadlock or serialization conflict.",
            ["operation"],
            registry=registry,
        )
        self.created = Counter(
            "dbsessions_sessions_created", "Sessions stored.", registry=registry
        )
        self.ended = Counter(
            "dbsessions_sessions_ended",
            "Sessions ended other than by a purge, by reason.",
            ["reason"],
            registry=registry,
        )
        self.purged = Counter(
            "dbsessions_sessions_purged",
            "Expired sessions purged, by why they ended (idle, absolute).",
            ["reason"],
            registry=registry,
        )

    def on_operation(
        self,
        operation: str,
        seconds: float,
        outcome: str,
        cache: str | None,
        touch: bool,
        **kwargs: Any,
    ) -> None:
        children = self._children.get((operation, outcome))
        if children is None:
            children = self._children[operation, outcome] = (
                self.operations.labels(operation, outcome),
                self.seconds.labels(operation),
            )
        children[0].inc()
        children[1].observe(seconds)
        if cache is not None:
            child = self._cache_children.get(cache)
            if child is None:
                child = self._cache_children[cache] = self.cache.labels(cache)
            child.inc()
        if touch:
            self.touches.inc()

    def on_retry(self, operation: str, **kwargs: Any) -> None:
        self.retries.labels(operation).inc()

    def on_created(self, **kwargs: Any) -> None:
        self.created.inc()

    def on_ended(self, session_ids: list[int], reason: str, **kwargs: Any) -> None:
        self.ended.labels(reason).inc(len(session_ids))

    def on_purged(self, reasons: dict[str, int], **kwargs: Any) -> None:
        for reason, count in reasons.items():
            if count:
                self.purged.labels(reason).inc(count)

    def _receivers(self) -> list[tuple[Signal, Callable[..., None]]]:
        return [
            (session_operation, self.on_operation),
            (operation_retried, self.on_retry),
            (session_created, self.on_created),
            (sessions_ended, self.on_ended),
            (sessions_purged, self.on_purged),
        ]

    def connect(self) -> None:
        """Feed the metrics from the signals; connecting twice connects once. The signals hold
        the receivers weakly, so they go when these metrics do."""
        for signal, receiver in self._receivers():
            signal.connect(receiver)

    def disconnect(self) -> None:
        for signal, receiver in self._receivers():
            signal.disconnect(receiver)


def register(registry: CollectorRegistry | None = None) -> Metrics:
    """Register dbsessions' metrics on ``registry`` (the default one if None), once, and feed
    them from the signals; the same metrics each time it is called for a registry."""
    registry = REGISTRY if registry is None else registry
    metrics = _registered.get(registry)
    if metrics is None:
        metrics = _registered[registry] = Metrics(registry)
    metrics.connect()
    return metrics


def unregister(registry: CollectorRegistry | None = None) -> None:
    """Stop feeding ``registry``'s metrics: they stay registered, at their last values, until
    ``register`` feeds them again."""
    registry = REGISTRY if registry is None else registry
    metrics = _registered.get(registry)
    if metrics is not None:
        metrics.disconnect()


def metrics_view(request: HttpRequest) -> HttpResponse:
    """The default registry in Prometheus' text format, for a URL that only the scraper can
    reach (it has no access check of its own)."""
    return HttpResponse(generate_latest(REGISTRY), content_type=CONTENT_TYPE_LATEST)
