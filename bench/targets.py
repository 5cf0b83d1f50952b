"""The issue's targets, each a ratio against Django's ``db`` engine in the same run."""

from typing import Any

from bench import sections
from bench.engines import BASELINE, OURS


def _store(vendor: dict, engine: str, size: str, op: str) -> float:
    for row in vendor.get("store", []):
        if (row["engine"], row["size"], row["op"]) == (engine, size, op):
            return row["ops_per_s"]["median"]
    raise KeyError((engine, size, op))


def _ratio(vendor: dict, size: str, op: str) -> float:
    return _store(vendor, OURS, size, op) / _store(vendor, BASELINE, size, op)


def _cached_reads(vendor: dict) -> list[tuple[str, str, Any, bool]]:
    """A cache hit against Django's cached engines, and a miss against a database load."""
    checks = []
    pairs = (
        ("LocMem, vs Django's cached_db", "dbsessions_cached", "django_cached_db", 1.0),
        ("Redis, vs Django's cached_db", "dbsessions_cached_redis", "django_cached_db_redis", 1.0),
        ("Redis, vs Django's cache engine", "dbsessions_cached_redis", "django_cache_redis", 0.9),
    )
    for size in ("small", "large"):
        for label, ours, theirs, goal in pairs:
            ratio = _store(vendor, ours, size, "read") / _store(vendor, theirs, size, "read")
            checks.append(
                (f"cached read hit, {size}, {label}", f">= {goal}x", ratio, ratio >= goal)
            )
        for cache, ours in (("LocMem", "dbsessions_cached"), ("Redis", "dbsessions_cached_redis")):
            ratio = _store(vendor, ours, size, "read_after_save") / _store(
                vendor, OURS, size, "read"
            )
            target = f"first load after a save, {size}, {cache}, vs a dbsessions load"
            checks.append((target, ">= 1.0x", ratio, ratio >= 1.0))
    return checks


def _checks(vendor: dict) -> list[tuple[str, str, Any, bool]]:
    """(target, goal, value, met) for what this vendor's results hold."""
    checks = []
    if vendor.get("request_sql"):
        queries = max(
            row["statements"] + row["transaction"]
            for row in vendor["request_sql"]
            if row["engine"] == OURS and row["page"] == "read"
        )
        checks.append(("read-only request: SQL queries", "= 1", queries, queries == 1))
    if vendor.get("store"):
        small, large = _ratio(vendor, "small", "save"), _ratio(vendor, "large", "save")
        own = _store(vendor, OURS, "large", "save") / _store(vendor, OURS, "small", "save")
        loaded = "save_loaded"
        own_loaded = _store(vendor, OURS, "large", loaded) / _store(vendor, OURS, "small", loaded)
        cycle = _ratio(vendor, "small", "cycle_key")
        checks += [
            ("one-key save, small", ">= 1.0x", small, small >= 1.0),
            ("one-key save, large", ">= 5x", large, large >= 5.0),
            ("large save / own small save", ">= 0.75", own, own >= 0.75),
            ("same, session already loaded", ">= 0.75", own_loaded, own_loaded >= 0.75),
            ("cycle_key, small", ">= 2x", cycle, cycle >= 2.0),
        ]
    if vendor.get("store"):
        checks += _cached_reads(vendor)
    for row in vendor.get("concurrency", []):
        if row["engine"] == OURS:
            lost = row["distinct_keys"]["lost_updates"]
            errors = row["same_key"]["errors"] + row["distinct_keys"]["errors"]
            checks.append(("lost updates", "= 0", lost, lost == 0))
            checks.append(("errors under concurrent saves", "= 0", errors, errors == 0))
    lifetime = vendor.get("lifetime")
    if lifetime:
        for row in lifetime["writes"]:
            if row["engine"] == OURS and row["case"] == "touch_interval":
                value = row["writes_per_1000"]
                checks.append(
                    ("writes per 1,000 reads, TOUCH_INTERVAL=60", "<= 2", value, value <= 2)
                )
        for row in lifetime["rate"]:
            ratio = row["ratio"]
            target = f"read-only req/s, touches on / off ({row['engine']})"
            checks.append((target, ">= 0.95x", ratio, ratio >= 0.95))
    purge = vendor.get("purge")
    if purge:
        ours, ceiling = purge["purge_sessions"], purge["unbatched"]
        ratio = ours["sessions_per_s"] / ceiling["sessions_per_s"]
        stall = ours["max_stall_ms"]
        checks.append(("purge: sessions/s vs unbatched DELETEs", ">= 0.5x", ratio, ratio >= 0.5))
        checks.append(("purge: longest concurrent save, ms", "<= 100", stall, stall <= 100))
    sizes = {row["engine"]: row["bytes_per_session"] for row in vendor.get("storage", [])}
    if OURS in sizes and BASELINE in sizes:
        ratio = sizes[OURS] / sizes[BASELINE]
        checks.append(("storage per small session", "<= 1.5x", ratio, ratio <= 1.5))
    return checks


def evaluate(results: dict) -> list[dict[str, Any]]:
    rows = []
    for name, vendor in results["vendors"].items():
        checks = _checks(vendor)
        for phase in sections.PHASES:
            if vendor.get(phase):
                checks += sections.module(phase).checks(vendor)
        for target, goal, value, met in checks:
            rows.append(
                {"vendor": name, "target": target, "goal": goal, "value": value, "met": met}
            )
    return rows
