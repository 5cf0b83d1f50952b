"""A bounded load of virtual users on the demo site, for the Galera fault tests.

Each virtual user is one Django test ``Client`` (its own cookie) driven by one thread, and
knows what its session must hold: its visits (the home page), its cart and whether it is
logged in. It mostly reads pages (the cart, "Your sessions", the login form), and sometimes
writes one key (a home page visit, a cart change), logs in or logs out. A page that shows a
count (home, cart) must show what the user last saved: a stale read is a violation.

A request fails when it raises or answers with an unexpected status. A read that fails
changed nothing, and the user goes on. A write that fails is ambiguous (it may have committed
before the connection broke): the user is retired with both outcomes accepted, and its thread
goes on with a new user. ``Load.sessions()`` lists every user, retired or not, with the states
its session may be in, for the checks against each node.

The test client runs the app in the calling thread, but it does not do what a WSGI server
does between requests: ``ClientHandler`` disconnects ``close_old_connections`` from
``request_started`` and ``request_finished`` around its own signals. A connection that a
failed query broke would then be used again by the thread's next request, and fail it too. So
every request here is wrapped in ``close_old_connections()`` as a server's signals do (with
``CONN_MAX_AGE = 0``, a new connection through HAProxy per request). The client's own
exception capture (``got_request_exception`` with a receiver per request) hears every thread's
exceptions, so the clients run with ``raise_request_exception=False`` and the exception of a
failed request is recorded per thread by :func:`_record_exception`.
"""

from __future__ import annotations

import logging
import random
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any

from django.conf import settings
from django.core.signals import got_request_exception
from django.db import close_old_connections
from django.test import Client

from testproject.views import CATALOGUE

ITEMS = sorted(CATALOGUE)
#: Seconds a virtual user waits between two requests (uniformly, up to twice this).
THINK_TIME = 0.03


@dataclass(frozen=True)
class State:
    """What a session holds, as far as the load cares."""

    visits: int = 0
    cart: tuple[tuple[str, int], ...] = ()
    user: str | None = None

    @classmethod
    def of(cls, data: dict[str, Any]) -> State:
        cart = data.get("cart") or {}
        return cls(data.get("visits", 0), tuple(sorted(cart.items())), data.get("_auth_user_id"))

    def with_cart(self, item: str, change: int) -> State:
        cart = dict(self.cart)
        cart[item] = cart.get(item, 0) + change
        if cart[item] <= 0:
            del cart[item]
        return replace(self, cart=tuple(sorted(cart.items())))

    @property
    def total(self) -> int:
        return sum(quantity for _, quantity in self.cart)


EMPTY = State()


@dataclass(frozen=True)
class Result:
    """One request: when it started and ended (monotonic seconds), and how it went."""

    action: str
    started: float
    ended: float
    ok: bool
    #: "ok", or the failure: "OperationalError 2013", "HTTP 400", "stale page", ...
    kind: str
    #: The failure's message, and where in the request it was raised.
    detail: str = ""


@dataclass
class Account:
    """The Django user a thread's virtual users log in as."""

    username: str
    password: str
    pk: int


class _Exceptions(threading.local):
    def __init__(self) -> None:
        self.last: BaseException | None = None


_exceptions = _Exceptions()


def _record_exception(**kwargs: Any) -> None:
    import sys

    _exceptions.last = sys.exc_info()[1]


got_request_exception.connect(_record_exception, dispatch_uid="dbsessions-galera-load")


def failure_kind(exc: BaseException) -> str:
    """``exc``'s class and, for a driver error, its code: "OperationalError 2013"."""
    cause = exc.__cause__ or exc
    args = getattr(cause, "args", ())
    code = f" {args[0]}" if args and isinstance(args[0], int) else ""
    return f"{type(exc).__name__}{code}"


def describe(exc: BaseException) -> str:
    """The message and the innermost frames of dbsessions or Django that raised ``exc``."""
    import traceback

    frames = [
        f"{frame.name}"
        for frame in traceback.extract_tb(exc.__traceback__)
        if "/dbsessions/" in frame.filename or "/django/contrib/" in frame.filename
    ]
    return f"{str(exc)[:100]} at {' > '.join(frames[-4:])}"


READS = ("cart", "account page")
WRITES = ("home", "add", "remove", "login", "logout")


class VirtualUser:
    """One browser: a test client with its cookie, and the state its session must be in."""

    def __init__(self, account: Account) -> None:
        self.account = account
        self.client = Client(raise_request_exception=False)
        self.state = EMPTY
        #: States the session may be in after a failed write: the old one and the new one.
        self.candidates: tuple[State, ...] | None = None

    @property
    def key(self) -> str | None:
        morsel = self.client.cookies.get(settings.SESSION_COOKIE_NAME)
        return morsel.value if morsel is not None and morsel.value else None

    def pick(self, rng: random.Random) -> str:
        roll = rng.random()
        if roll < 0.40:
            return "cart"
        if roll < 0.60:
            return "account page"
        if roll < 0.72:
            return "home"
        if roll < 0.88:
            return "remove" if self.state.cart and rng.random() < 0.3 else "add"
        return "logout" if self.state.user else "login"

    def perform(self, action: str, rng: random.Random) -> tuple[Result, State]:
        """Run ``action``; its result and the state the session is in if it succeeded."""
        state = self.state
        expected_status = 200
        check: re.Pattern[str] | None = None
        new = state
        if action == "cart":
            request = lambda: self.client.get("/cart/")  # noqa: E731
            check = (
                re.compile(rf"\b{state.total} items? in your cart")
                if state.cart
                else re.compile("Your cart is empty")
            )
        elif action == "account page":
            if state.user:
                request = lambda: self.client.get("/accounts/sessions/")  # noqa: E731
                check = re.compile(re.escape(self.account.username))
            else:
                request = lambda: self.client.get("/accounts/login/")  # noqa: E731
        elif action == "home":
            new = replace(state, visits=state.visits + 1)
            request = lambda: self.client.get("/")  # noqa: E731
            check = re.compile(rf"visited this page <strong>{new.visits}</strong>")
        elif action in ("add", "remove"):
            item = rng.choice([name for name, _ in state.cart] if action == "remove" else ITEMS)
            new = state.with_cart(item, 1 if action == "add" else -1)
            data = {"item": item, "action": action}
            request = lambda: self.client.post("/cart/", data)  # noqa: E731
            expected_status = 302
        elif action == "login":
            new = replace(state, user=str(self.account.pk))
            credentials = {"username": self.account.username, "password": self.account.password}
            request = lambda: self.client.post("/accounts/login/", credentials)  # noqa: E731
            expected_status = 302
        elif action == "logout":
            new = EMPTY
            request = lambda: self.client.post("/accounts/logout/")  # noqa: E731
            expected_status = 302
        else:
            raise ValueError(action)

        _exceptions.last = None
        detail = ""
        started = time.monotonic()
        # What a WSGI server's request_started and request_finished signals do.
        close_old_connections()
        try:
            response = request()
        except Exception as exc:  # counted by kind, and the test asserts on the counts
            kind, detail = failure_kind(exc), describe(exc)
        else:
            if response.status_code != expected_status:
                raised = _exceptions.last
                kind = (
                    failure_kind(raised) if raised is not None else f"HTTP {response.status_code}"
                )
                detail = "" if raised is None else describe(raised)
            elif check is not None and not check.search(response.content.decode()):
                kind = "stale page"
            else:
                kind = "ok"
        finally:
            close_old_connections()
        ended = time.monotonic()
        return Result(action, started, ended, kind == "ok", kind, detail), new


@dataclass
class Load:
    """``users`` threads, each driving virtual users until ``stop()``."""

    accounts: list[Account]
    seed: int = 1
    results: list[Result] = field(default_factory=list)
    #: (session key, states the session may be in) of every retired virtual user.
    retired: list[tuple[str | None, tuple[State, ...]]] = field(default_factory=list)
    current: list[VirtualUser] = field(default_factory=list)
    crashes: list[BaseException] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._run, args=(index,), daemon=True)
            for index in range(len(self.accounts))
        ]

    def start(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def stop(self, timeout: float = 60.0) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout)
        stuck = [thread.name for thread in self._threads if thread.is_alive()]
        if stuck:
            raise RuntimeError(f"load threads still running after {timeout:.0f} s: {stuck}")

    def _run(self, index: int) -> None:
        from django.db import connections

        rng = random.Random(self.seed * 1000 + index)
        account = self.accounts[index]
        user = VirtualUser(account)
        try:
            while not self._stop.is_set():
                action = user.pick(rng)
                result, new = user.perform(action, rng)
                with self._lock:
                    self.results.append(result)
                if result.ok:
                    user.state = new
                elif action in WRITES:
                    # A login that committed moved the data to a key the client never got.
                    outcome = EMPTY if action == "login" else new
                    with self._lock:
                        self.retired.append((user.key, (user.state, outcome)))
                    user = VirtualUser(account)
                time.sleep(rng.uniform(0, 2 * THINK_TIME))
        except BaseException as exc:  # reported by the test
            with self._lock:
                self.crashes.append(exc)
        finally:
            with self._lock:
                self.current.append(user)
            connections.close_all()

    def sessions(self) -> list[tuple[str | None, tuple[State, ...]]]:
        """Every virtual user's session key and the states its session may be in."""
        return [*self.retired, *((user.key, (user.state,)) for user in self.current)]


@dataclass
class Figures:
    """What a scenario's load did around a fault at ``fault`` (monotonic seconds)."""

    requests: int
    failures: Counter[str]
    #: Seconds from the fault to the last failure, and to the first success after it.
    last_failure: float | None
    first_success_after: float | None
    #: The longest time (seconds) without a request ending well, from the fault on.
    longest_gap: float
    slowest: float

    @classmethod
    def of(
        cls,
        results: list[Result],
        fault: float,
        until: float | None = None,
        *,
        in_flight: bool = True,
    ) -> Figures:
        """The requests started before ``until`` that ended after ``fault`` (``in_flight``) or
        started after it."""
        chosen = [
            r
            for r in results
            if (r.ended if in_flight else r.started) >= fault
            and (until is None or r.started < until)
        ]
        failures = Counter(r.kind for r in chosen if not r.ok)
        last = max((r.ended for r in chosen if not r.ok), default=None)
        # Successes after the window count too: the first one after its last failure.
        successes = sorted(r.ended for r in results if r.ok and r.ended >= fault)
        after = next((t for t in successes if last is None or t > last), None)
        gap, previous = 0.0, fault
        for moment in successes:
            gap, previous = max(gap, moment - previous), moment
        return cls(
            requests=len(chosen),
            failures=failures,
            last_failure=None if last is None else last - fault,
            first_success_after=None if after is None else after - fault,
            longest_gap=gap,
            slowest=max((r.ended - r.started for r in chosen), default=0.0),
        )

    def line(self) -> str:
        kinds = ", ".join(f"{kind}: {count}" for kind, count in self.failures.most_common())
        last = "-" if self.last_failure is None else f"{self.last_failure:.1f} s"
        first = "-" if self.first_success_after is None else f"{self.first_success_after:.1f} s"
        return (
            f"{self.requests} requests, {sum(self.failures.values())} failed"
            f" ({kinds or 'none'}); last failure {last} after the fault, first success after"
            f" it {first}; longest time without a success {self.longest_gap:.1f} s;"
            f" slowest request {self.slowest:.1f} s"
        )


class RetryCounter(logging.Handler):
    """Counts dbsessions' retry warnings while attached."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.retries = 0

    def emit(self, record: logging.LogRecord) -> None:
        if "retry" in record.getMessage():
            self.retries += 1
