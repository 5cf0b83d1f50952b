"""Profile one store-level case of our engine with pyinstrument (``bench`` extra).

    BENCH_DB=postgresql python -m bench.profile --size large --op save --ops 300

Creates and drops its own benchmark database, like ``bench.vendor``.
"""

import argparse
import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")

import django  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", default="dbsessions")
    parser.add_argument("--size", choices=("small", "large"), default="large")
    parser.add_argument(
        "--op", choices=("create", "read", "save", "save_loaded", "cycle_key"), default="save"
    )
    parser.add_argument("--ops", type=int, default=200)
    parser.add_argument("--interval", type=float, default=0.0005)
    args = parser.parse_args()
    django.setup()
    from django.conf import settings
    from pyinstrument import Profiler

    from bench import dbsetup
    from bench.store import Case

    dbsetup.create(settings.VENDOR)
    try:
        case = Case(args.engine, args.size, pool_size=20)
        operation = case.operation(args.op)
        for i in range(5):
            operation(i)
        profiler = Profiler(interval=args.interval)
        with profiler:
            for i in range(args.ops):
                operation(i)
        print(profiler.output_text(unicode=False, color=False, show_all=False))
    finally:
        dbsetup.drop(settings.VENDOR)


if __name__ == "__main__":
    main()
