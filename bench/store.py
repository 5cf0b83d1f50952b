"""Store-level benchmarks: each engine's SessionStore driven directly, no HTTP.

Every case (engine x size x operation) runs ``repeats`` timed rounds of ``ops`` operations,
engines interleaved within a round so that drift (autovacuum, checkpoints, a busy neighbour)
hits them alike. SQL is captured in separate, untimed runs.
"""

import statistics
import time
from collections.abc import Callable
from itertools import count
from typing import Any

from bench.data import SIZES, changed_value, payload
from bench.engines import ENGINES, store_class
from bench.profiles import Profile
from bench.sqlcount import capture

OPERATIONS = ("create", "read", "save", "save_loaded", "cycle_key")


class Case:
    """The sessions one engine works on for one size, and its operations."""

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

    def create(self, i: int) -> None:
        self._new_session()

    def read(self, i: int) -> None:
        self.store(self.keys[i % len(self.keys)])["k0"]

    def save(self, i: int) -> None:
        session = self.store(self.keys[i % len(self.keys)])
        session["k1"] = changed_value(self.payload["k1"], next(self.counter))
        session.save()

    def save_loaded(self, i: int) -> float:
        """Change one key and save a session loaded beforehand; only the save is timed."""
        session = self.store(self.keys[i % len(self.keys)])
        session["k0"]
        start = time.perf_counter()
        session["k1"] = changed_value(self.payload["k1"], next(self.counter))
        session.save()
        return time.perf_counter() - start

    def cycle_key(self, i: int) -> None:
        slot = i % len(self.keys)
        session = self.store(self.keys[slot])
        session.cycle_key()
        self.keys[slot] = session.session_key

    def operation(self, name: str) -> Callable[[int], float | None]:
        return getattr(self, name)


def _rate(operation: Callable[[int], float | None], ops: int) -> float:
    """Operations per second; an operation that times itself returns its own duration."""
    start = time.perf_counter()
    timed = [operation(i) for i in range(ops)]
    if timed[0] is not None:
        return ops / sum(timed)
    return ops / (time.perf_counter() - start)


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


def run(profile: Profile, log: Callable[[str], None]) -> list[dict[str, Any]]:
    results = []
    for size in SIZES:
        ops = profile.ops_small if size == "small" else profile.ops_large
        cases = {engine: Case(engine, size, ops) for engine in ENGINES}
        rates: dict[tuple[str, str], list[float]] = {}
        for case in cases.values():  # warm-up: connections, caches, code paths
            for name in OPERATIONS:
                _rate(case.operation(name), 2)
        for repeat in range(profile.repeats):
            log(f"  store {size}: round {repeat + 1}/{profile.repeats}")
            for name in OPERATIONS:
                for engine, case in cases.items():
                    rates.setdefault((engine, name), []).append(_rate(case.operation(name), ops))
        for (engine, name), measured in rates.items():
            case = cases[engine]
            operation = case.operation(name)
            sql = {}
            for i in range(profile.sql_samples):
                sql = capture(lambda operation=operation, i=i: operation(i))
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
