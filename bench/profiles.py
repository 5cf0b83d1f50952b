"""How long each mode runs: repeat counts and sizes, recorded with the results."""

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Profile:
    name: str
    #: Timed rounds per store-level case; medians and quartiles are over these.
    repeats: int
    #: Operations per round, by session size.
    ops_small: int
    ops_large: int
    #: Operations whose SQL is captured per case (the last one is reported).
    sql_samples: int
    #: Concurrency: threads x writes per thread on one session.
    threads: int
    writes_per_thread: int
    #: Small sessions inserted for the storage measurement.
    storage_sessions: int
    #: Expired sessions the purge deletes (beside 10% live ones), per engine.
    purge_sessions: int
    #: Lifetime: read-only requests whose writes are counted (10 a second of simulated time,
    #: so 600 per minute), requests per timed round of the touch-overhead rate, and touches
    #: per timed round of the touch cost.
    lifetime_requests: int
    lifetime_rate_requests: int
    touch_ops: int

    def as_dict(self) -> dict:
        return asdict(self)


PROFILES = {
    "quick": Profile("quick", 5, 40, 12, 3, 8, 25, 20_000, 200_000, 6_000, 2_000, 200),
    "full": Profile("full", 11, 150, 40, 5, 8, 25, 20_000, 1_000_000, 12_000, 5_000, 500),
    # For the test suite: proves the harness runs, measures nothing worth quoting. 610
    # lifetime requests span one touch interval of 60 s, so one touch is due.
    "smoke": Profile("smoke", 2, 3, 3, 1, 2, 3, 30, 300, 610, 10, 3),
}
