"""Same-key concurrency: what ``atomic_update`` and ``SAME_KEY_WRITES = "detect"`` cost, and
what they keep.

- ``cost``: a one-key save of a small session (load, change one key, save) under
  ``"last_wins"`` and under ``"detect"``, and ``atomic_update`` of that key (load, update), for
  both our engines. The three run in every round, each first in turn; a ratio is the median of
  the rounds' ratios to the plain save.
- ``contention``: threads on connections of their own append to one list in one session, by
  plain read-modify-write saves under ``"last_wins"`` and under ``"detect"``, and by
  ``atomic_update``. Counts, not times: appends kept, conflicts raised, appends lost silently.
"""

import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.test.utils import override_settings

from bench.engines import OURS, OURS_CACHED, StoredSessions, store_class
from bench.profiles import Profile
from bench.store import summarize
from bench.vendors import vendor_label
from dbsessions import SessionConflict

ENGINES = (OURS, OURS_CACHED)
OPERATIONS = ("save", "save_detect", "atomic_update")
OP_LABELS = {
    "save": "one-key save",
    "save_detect": 'one-key save, "detect"',
    "atomic_update": "atomic_update of that key",
}
MODES = ("last_wins", "detect", "atomic_update")
#: Most a save under "detect" may cost over a plain one (as a rate ratio: at least 0.95).
DETECT_TARGET = 0.95


def _same_key_writes(mode: str) -> override_settings:
    return override_settings(
        DBSESSIONS={**getattr(settings, "DBSESSIONS", {}), "SAME_KEY_WRITES": mode}
    )


class Cost(StoredSessions):
    """Small sessions of one engine and the three timed operations on them."""

    save_detect = StoredSessions.save  # run under "detect" by ``rate``

    def atomic_update(self, key: str) -> None:
        value = self.changed_value()
        self.store(key).atomic_update(self.CHANGED_KEY, lambda old: value)

    def rate(self, name: str, ops: int) -> float:
        operation = getattr(self, name)
        with _same_key_writes("detect" if name == "save_detect" else "last_wins"):
            start = time.perf_counter()
            for i in range(ops):
                operation(self.keys[i % len(self.keys)])
            return ops / (time.perf_counter() - start)


def _cost(profile: Profile, log: Callable[[str], None]) -> list[dict[str, Any]]:
    ops = profile.ops_small
    rows = []
    for engine in ENGINES:
        case = Cost(engine, ops)
        for name in OPERATIONS:  # warm-up
            case.rate(name, 2)
        rates: dict[str, list[float]] = {name: [] for name in OPERATIONS}
        for repeat in range(profile.repeats):
            log(f"  same_key {engine}: round {repeat + 1}/{profile.repeats}")
            shift = repeat % len(OPERATIONS)
            for name in OPERATIONS[shift:] + OPERATIONS[:shift]:
                rates[name].append(case.rate(name, ops))
        for name in OPERATIONS:
            ratios = [mine / plain for mine, plain in zip(rates[name], rates["save"], strict=True)]
            rows.append(
                {
                    "engine": engine,
                    "op": name,
                    "ops_per_round": ops,
                    "ops_per_s": summarize(rates[name]),
                    "ratio": summarize(ratios),
                }
            )
    return rows


def _contention(engine: str, mode: str, threads: int, writes: int) -> dict[str, Any]:
    """``threads`` x ``writes`` appends to one list of one session in ``mode``."""
    from tests.utils import run_threads  # imports the engine: Django must be set up first

    store = store_class(engine)
    session = store()
    session["cart"] = []
    session.save()
    key = session.session_key
    landed, conflicts = [], []

    def appender(index: int) -> None:
        for write in range(writes):
            item = [index, write]
            if mode == "atomic_update":
                store(key).atomic_update("cart", lambda cart, item=item: [*cart, item], default=[])
                landed.append(item)
                continue
            request = store(key)
            request["cart"].append(item)
            request.modified = True
            try:
                request.save()
            except SessionConflict:
                conflicts.append(item)
            else:
                landed.append(item)

    with _same_key_writes("detect" if mode == "detect" else "last_wins"):
        errors = run_threads(appender, threads)
    kept = store(key)["cart"]
    return {
        "engine": engine,
        "mode": mode,
        "writes": threads * writes,
        "saved": len(landed),
        "kept": len(kept),
        "conflicts": len(conflicts),
        "lost": len(landed) - len(kept),
        "errors": sorted({type(exc).__name__ for exc in errors}),
    }


def run(vendor: str, profile: Profile, log: Callable[[str], None]) -> dict[str, Any]:
    cost = _cost(profile, log)
    contention = [
        _contention(engine, mode, profile.threads, profile.writes_per_thread)
        for engine in ENGINES
        for mode in MODES
    ]
    for row in contention:
        log(
            f"  same_key contention {row['engine']} {row['mode']}: kept {row['kept']} of "
            f"{row['writes']}, {row['conflicts']} conflicts, {row['lost']} lost"
        )
    return {"cost": cost, "contention": contention}


def _row(results: dict, engine: str, op: str) -> dict[str, Any]:
    return next(r for r in results["cost"] if r["engine"] == engine and r["op"] == op)


def checks(vendor_results: dict) -> list[tuple[str, str, float, bool]]:
    """The overhead of "detect" on our engine's saves, and nothing lost silently by either
    tool."""
    same_key = vendor_results["same_key"]
    ratio = _row(same_key, OURS, "save_detect")["ratio"]["median"]
    out = [
        ("detect overhead on one-key saves", f">= {DETECT_TARGET}x", ratio, ratio >= DETECT_TARGET)
    ]
    for mode in ("detect", "atomic_update"):
        lost = sum(r["lost"] for r in same_key["contention"] if r["mode"] == mode)
        out.append((f"appends lost silently, {mode}", "0", float(lost), lost == 0))
    return out


def _n(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:,.1f}"


def markdown(results: dict) -> list[str]:
    measured = {n: v for n, v in results["vendors"].items() if v.get("same_key")}
    lines = [
        "## Same-key concurrency",
        "",
        "Small sessions: a one-key save (load, change, save) under `SAME_KEY_WRITES` "
        '`"last_wins"` and `"detect"`, and `atomic_update()` of that key (load, update); the '
        "three interleaved in every round, the ratio the median of the rounds' ratios to the "
        "plain save.",
        "",
        "| database | engine | operation | ops/s (p25-p75) | / plain save (p25-p75) |",
        "|---|---|---|---|---|",
    ]
    for name, vendor in measured.items():
        for row in vendor["same_key"]["cost"]:
            rate, ratio = row["ops_per_s"], row["ratio"]
            lines.append(
                f"| {vendor_label(name, vendor)} | {row['engine']} | {OP_LABELS[row['op']]} "
                f"| {_n(rate['median'])} ({_n(rate['p25'])}-{_n(rate['p75'])}) "
                f"| {ratio['median']:.2f}x ({ratio['p25']:.2f}-{ratio['p75']:.2f}) |"
            )
    lines += [
        "",
        "Threads on connections of their own append to one list in one session: plain "
        "read-modify-write saves (`session['cart'].append(...)`, `modified = True`) under each "
        "setting, and `atomic_update()`.",
        "",
        "| database | engine | writes | how | kept | conflicts raised | lost silently |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, vendor in measured.items():
        for row in vendor["same_key"]["contention"]:
            errors = f" (errors: {', '.join(row['errors'])})" if row["errors"] else ""
            lines.append(
                f"| {vendor_label(name, vendor)} | {row['engine']} | {row['writes']} "
                f"| {row['mode']} | {row['kept']} | {row['conflicts']} | {row['lost']}{errors} |"
            )
    return lines


def charts(results: dict, directory: Any) -> list[str]:
    """No chart: the two tables say it."""
    return []
