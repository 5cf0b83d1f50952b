"""What operators' metrics cost: our engines' one-key save and read with ``dbsessions.prometheus``
fed by every operation, against the same with nothing listening.

Small sessions; ``cached_db`` reads are cache hits (LocMem). Each round times both sides, each
first in turn, and a ratio is the median of the rounds' ratios (with metrics / without).
"""

import time
from collections.abc import Callable
from typing import Any

from bench.engines import OURS, OURS_CACHED, StoredSessions
from bench.profiles import Profile
from bench.store import summarize
from bench.vendors import vendor_label

ENGINES = (OURS, OURS_CACHED)
OPERATIONS = ("read", "save")
OP_LABELS = {"read": "load + read one key", "save": "load + change one key + save"}


class Sessions(StoredSessions):
    def read(self, key: str) -> None:
        self.store(key)["k0"]

    def rate(self, name: str, ops: int) -> float:
        operation = getattr(self, name)
        for key in self.keys[:ops]:  # a cached engine then reads from its cache
            self.read(key)
        start = time.perf_counter()
        for i in range(ops):
            operation(self.keys[i % len(self.keys)])
        return ops / (time.perf_counter() - start)


def run(vendor: str, profile: Profile, log: Callable[[str], None]) -> dict[str, Any]:
    from prometheus_client import CollectorRegistry

    from dbsessions import prometheus

    registry = CollectorRegistry()
    ops = profile.ops_small
    rows = []
    for engine in ENGINES:
        sessions = Sessions(engine, ops)
        for name in OPERATIONS:
            rates: dict[bool, list[float]] = {False: [], True: []}
            for repeat in range(profile.repeats + 1):  # the first round warms up
                for on in (False, True) if repeat % 2 else (True, False):
                    if on:
                        prometheus.register(registry)
                    try:
                        rate = sessions.rate(name, ops)
                    finally:
                        prometheus.unregister(registry)
                    if repeat:
                        rates[on].append(rate)
            ratios = [on / off for on, off in zip(rates[True], rates[False], strict=True)]
            rows.append(
                {
                    "engine": engine,
                    "op": name,
                    "ops_per_round": ops,
                    "without": summarize(rates[False]),
                    "with": summarize(rates[True]),
                    "ratio": summarize(ratios),
                }
            )
            log(f"  metrics {engine} {name}: {rows[-1]['ratio']['median']:.3f}x")
    return {"rows": rows}


def checks(vendor_results: dict) -> list[tuple[str, str, float, bool]]:
    """Reported, not a target of the issue: the slowest ratio, for the summary."""
    return []


def markdown(results: dict) -> list[str]:
    measured = {n: v for n, v in results["vendors"].items() if v.get("metrics")}
    lines = [
        "## Metrics",
        "",
        "Our engines' operations on small sessions with `dbsessions.prometheus` counting every "
        "one (a fresh registry), against nothing listening; `cached_db` reads are hits on "
        "LocMem. Each round runs both sides; the ratio is the median of the rounds' ratios.",
        "",
        "| database | engine | operation | without, ops/s | with, ops/s | with / without (p25-p75) |",
        "|---|---|---|---|---|---|",
    ]
    for name, vendor in measured.items():
        for row in vendor["metrics"]["rows"]:
            ratio = row["ratio"]
            lines.append(
                f"| {vendor_label(name, vendor)} | {row['engine']} | {OP_LABELS[row['op']]} "
                f"| {row['without']['median']:,.0f} | {row['with']['median']:,.0f} "
                f"| {ratio['median']:.2f}x ({ratio['p25']:.2f}-{ratio['p75']:.2f}) |"
            )
    return lines


def charts(results: dict, directory: Any) -> list[str]:
    """No chart: the table says it."""
    return []
