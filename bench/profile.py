"""Profile one store-level case with pyinstrument (``bench`` dependency group): ``python -m bench profile``.

Runs in a child process on its own benchmark database, like the benchmarks (``bench.child``).
"""


def run(engine: str, size: str, op: str, ops: int, interval: float) -> str:
    """Time ``ops`` operations of one case after a warm-up; the profile as text."""
    from pyinstrument import Profiler

    from bench.store import Case

    case = Case(engine, size, pool_size=20)
    for i in range(5):
        case.run(op, i)
    profiler = Profiler(interval=interval)
    with profiler:
        for i in range(ops):
            case.run(op, i)
    return profiler.output_text(unicode=False, color=False, show_all=False)
