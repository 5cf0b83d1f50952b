"""Phases whose modules also report themselves.

Each module named here has ``run(vendor, profile, log)`` (its results, under the phase's name
in each vendor's results), ``checks(vendor_results)`` (the issue's targets it measures, as
``(target, goal, value, met)``), ``markdown(results)`` (its section of the report, as lines)
and ``charts(results, directory)`` (the PNG files it wrote, by name).
"""

from importlib import import_module
from types import ModuleType

PHASES = {
    "driver": "bench.driver",
    "load": "bench.load",
    "growth": "bench.growth",
    "same_key": "bench.same_key",
    "metrics": "bench.metrics",
}


def module(phase: str) -> ModuleType:
    return import_module(PHASES[phase])


def modules() -> list[ModuleType]:
    return [module(phase) for phase in PHASES]
