"""Every phase on one database, in a process of its own (Django settings are per process).

    BENCH_DB=postgresql python -m bench.vendor --mode quick --output /tmp/pg.json

Writes ``{"skipped": reason}`` when the server cannot be reached. The benchmark database is
created first and dropped at the end, whatever happens.
"""

import argparse
import json
import os
import sys
import time

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")

import django  # noqa: E402

PHASES = ("store", "request_sql", "requests", "concurrency", "storage")


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def measure(vendor: str, mode: str, phases: list[str]) -> dict:
    from bench import concurrency, dbsetup, http_load, request_sql, storage, store
    from bench.profiles import PROFILES

    reason = dbsetup.unreachable(vendor)
    if reason:
        return {"skipped": reason}
    profile = PROFILES[mode]
    dbsetup.create(vendor)
    try:
        result: dict = {"server_version": dbsetup.server_version(vendor), "seconds": {}}
        runners = {
            "store": lambda: store.run(profile, log),
            "request_sql": request_sql.run,
            "requests": lambda: http_load.run(profile, log),
            "concurrency": lambda: concurrency.run(profile, log),
            "storage": lambda: storage.run(vendor, profile, log),
        }
        for phase in phases:
            started = time.monotonic()
            result[phase] = runners[phase]()
            result["seconds"][phase] = round(time.monotonic() - started, 1)
        return result
    finally:
        dbsetup.drop(vendor)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", default="quick")
    parser.add_argument("--output", required=True)
    parser.add_argument("--phases", default=",".join(PHASES))
    args = parser.parse_args()
    django.setup()
    from django.conf import settings

    vendor = settings.VENDOR
    log(f"{vendor}: {args.mode} mode")
    result = measure(vendor, args.mode, args.phases.split(","))
    with open(args.output, "w") as out:
        json.dump(result, out)


if __name__ == "__main__":
    main()
