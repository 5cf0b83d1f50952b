"""Store-level benchmarks: each engine's SessionStore driven directly, no HTTP.

Every case (engine x size x operation) runs ``repeats`` timed rounds of ``ops`` operations,
engines interleaved within a round so that drift (autovacuum, checkpoints, a busy neighbour)
hits them alike, each under its own ``SESSION_CACHE_ALIAS`` (``STORE_ENGINES``). SQL is
captured in separate, untimed runs.

A cached engine's read is measured twice: ``read`` times a load that finds the session in
the cache (a load just before, untimed, put it there), ``read_after_save`` the first load
after a one-key save (untimed), which this engine must take from the database and Django's
``cached_db`` finds in the cache its save wrote.
"""

import statistics
import time
from collections.abc import Callable
from itertools import count
from typing import Any

from django.test.utils import override_settings

from bench.data import SIZES, changed_value, payload
from bench.engines import STORE_ENGINES, store_class
from bench.profiles import Profile
from bench.sqlcount import capture

OPERATIONS = ("create", "read", "read_after_save", "save", "save_loaded", "cycle_key")


class Case:
    """The sessions one engine works on for one size, and its operations.

    An operation is ``name(i, prepared)``, timed; ``prepare_<name>(i)``, where there is one,
    runs before it untimed and hands it what it needs.
    """

    def __init__(self, engine: str, size: str, pool_size: int) -> None:
        self.engine = engine
        self.size = size
        self.store = store_class(engine)
        self.payload = payload(size)
        self.counter = count()
        self.keys = [self._new_session() for _ in range(pool_size)]

    def _new_session(self) -> str:
        session = self.store()
        session.update(self.payload)
        session.save()
        return session.session_key

    def _key(self, i: int) -> str:
        return self.keys[i % len(self.keys)]

    def create(self, i: int, prepared: None) -> None:
        self._new_session()

    def prepare_read(self, i: int) -> str:
        """A load of the same session first: a cached engine then has it in its cache."""
        self.store(self._key(i))["k0"]
        return self._key(i)

    def read(self, i: int, key: str) -> None:
        self.store(key)["k0"]

    def prepare_read_after_save(self, i: int) -> str:
        self.save(i, None)
        return self._key(i)

    read_after_save = read

    def save(self, i: int, prepared: None) -> None:
        session = self.store(self._key(i))
        session["k1"] = changed_value(self.payload["k1"], next(self.counter))
        session.save()

    def prepare_save_loaded(self, i: int) -> Any:
        session = self.store(self._key(i))
        session["k0"]
        return session

    def save_loaded(self, i: int, session: Any) -> None:
        """Change one key and save a session loaded beforehand."""
        session["k1"] = changed_value(self.payload["k1"], next(self.counter))
        session.save()

    def cycle_key(self, i: int, prepared: None) -> None:
        session = self.store(self._key(i))
        session.cycle_key()
        self.keys[i % len(self.keys)] = session.session_key

    def operation(
        self, name: str
    ) -> tuple[Callable[[int], Any] | None, Callable[[int, Any], None]]:
        """(preparation or None, timed operation) of operation ``name``."""
        return getattr(self, f"prepare_{name}", None), getattr(self, name)

    def run(self, name: str, i: int) -> float:
        """Seconds that operation ``name`` took, its preparation left out."""
        prepare, operation = self.operation(name)
        prepared = prepare(i) if prepare is not None else None
        start = time.perf_counter()
        operation(i, prepared)
        return time.perf_counter() - start


def _rate(case: Case, name: str, ops: int) -> float:
    """Operations per second of operation ``name``, its preparations not counted; a failure
    names the engine, size and operation it happened in."""
    try:
        return ops / sum(case.run(name, i) for i in range(ops))
    except Exception as exc:
        raise RuntimeError(f"store {case.engine}, {case.size}, {name}: {exc!r}") from exc


def _sql(case: Case, name: str, i: int) -> dict:
    """The SQL of one operation, its preparation left out."""
    prepare, operation = case.operation(name)
    prepared = prepare(i) if prepare is not None else None
    return capture(lambda: operation(i, prepared))


def summarize(rates: list[float]) -> dict[str, Any]:
    ordered = sorted(rates)
    if len(ordered) >= 2:
        p25, _, p75 = statistics.quantiles(ordered, n=4, method="inclusive")
    else:
        p25 = p75 = ordered[0]
    return {
        "median": statistics.median(ordered),
        "p25": p25,
        "p75": p75,
        "runs": [round(r, 2) for r in rates],
    }


def _cache_of(engine: str) -> override_settings:
    """The engine's cache as ``SESSION_CACHE_ALIAS`` (the database engines ignore it)."""
    return override_settings(SESSION_CACHE_ALIAS=STORE_ENGINES[engine][1] or "default")


def run(profile: Profile, log: Callable[[str], None]) -> list[dict[str, Any]]:
    from django.core.cache import caches

    caches["redis"].clear()  # bench.settings' own Redis database
    results = []
    for size in SIZES:
        ops = profile.ops_small if size == "small" else profile.ops_large
        cases = {}
        for engine in STORE_ENGINES:
            with _cache_of(engine):
                cases[engine] = Case(engine, size, ops)
                for name in OPERATIONS:  # warm-up: connections, caches, code paths
                    _rate(cases[engine], name, 2)
        rates: dict[tuple[str, str], list[float]] = {}
        for repeat in range(profile.repeats):
            log(f"  store {size}: round {repeat + 1}/{profile.repeats}")
            for name in OPERATIONS:
                for engine, case in cases.items():
                    with _cache_of(engine):
                        rate = _rate(case, name, ops)
                    rates.setdefault((engine, name), []).append(rate)
        for (engine, name), measured in rates.items():
            sql = {}
            with _cache_of(engine):
                for i in range(profile.sql_samples):
                    sql = _sql(cases[engine], name, i)
            results.append(
                {
                    "engine": engine,
                    "size": size,
                    "op": name,
                    "ops_per_round": ops,
                    "ops_per_s": summarize(measured),
                    "sql": sql,
                }
            )
    return results
