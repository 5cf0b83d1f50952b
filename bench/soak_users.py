"""Virtual users of the soak (``bench.soak``), run as a process of their own.

    python -m bench.soak_users --port 8000 --users 16 --accounts 32 --password P \\
        --start EPOCH --seconds 600

Each user has its own keep-alive connection and cookies (session and CSRF) and the state it
expects the server to keep: its visit count, its cart, and whether it is logged in and as whom.
From ``--start`` (a ``time.time()``) for ``--seconds`` each user picks an action after another
(``ACTIONS``): mostly the read-only cart page, the home page's counter (a one-key write), cart
updates, the "Your sessions" page, and logins (through the login form, with its CSRF token) or
logouts. Every page served is checked against what the user expects; at the end each user
reads its home page, its cart and, logged in, its sessions page once more: the final check.

A request that failed (a server error, a dropped connection) leaves it open whether its change
was made: the user then expects either state, and the next page it sees tells which. A failed
login may also have lost the session (the key was rotated, but the response with the new
cookie never came), so an empty session is one of the states it then expects.

Prints one JSON object: every request (start time relative to ``--start``, latency in ms,
status, kind) and each user's outcome. No cookie value is ever printed.
"""

import argparse
import json
import random
import re
import socket
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from bench.loadgen import User

#: The demo's catalogue (``testproject.views.CATALOGUE``): item -> label.
CATALOGUE = {
    "apple": "Apple",
    "bread": "Bread",
    "cheese": "Cheese",
    "coffee": "Coffee",
    "tea": "Tea",
}
ITEMS = tuple(CATALOGUE)
LABELS = {label: item for item, label in CATALOGUE.items()}
#: What a user does, and how often (relative weights). "auth" logs in when the user is
#: anonymous, else out.
ACTIONS = {"cart": 40, "home": 25, "cart_post": 15, "sessions": 12, "auth": 8}
#: Request kinds, by their index in the records.
KINDS = ("home", "cart", "cart_post", "sessions", "login_page", "login", "logout", "final")
SESSION_COOKIE = "sessionid"
CSRF_COOKIE = "csrftoken"
#: Attempts of each final-check page that fails (a server error, a dropped connection).
FINAL_ATTEMPTS = 5

VISITS = re.compile(r"visited this page <strong>(\d+)</strong>")
LOGGED_IN_AS = re.compile(r"Logged in as (\S+?)\. ")
NAV_USER = re.compile(r'<span>([^<]+)</span>\s*<form method="post" action="/accounts/logout/">')
NAV_ANONYMOUS = '<a href="/accounts/login/">Log in</a>'
CART_LINE = re.compile(r"<tr>\s*<td>([^<]+)</td>\s*<td>(\d+)</td>")
CART_EMPTY = "Your cart is empty."
CSRF_FIELD = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
THIS_DEVICE = "<strong>This device</strong>"


@dataclass(frozen=True)
class State:
    """What a user expects its session to hold. ``note`` says how a state became possible
    (not compared)."""

    visits: int = 0
    cart: tuple[tuple[str, int], ...] = ()
    user: str | None = None
    note: str = field(default="", compare=False)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["cart"] = dict(self.cart)
        del data["note"]
        return data


EMPTY = State()


def cart_change(cart: tuple[tuple[str, int], ...], item: str, action: str) -> tuple:
    """The cart after the demo's cart view adds or removes one ``item``."""
    items = dict(cart)
    if action == "add":
        items[item] = items.get(item, 0) + 1
    elif item in items:
        items[item] -= 1
        if items[item] <= 0:
            del items[item]
    return tuple(sorted(items.items()))


class Expectation:
    """The states a user's session may be in: one, or several after a failed request."""

    def __init__(self) -> None:
        self.states: list[State] = [EMPTY]
        self.mismatches: list[dict[str, Any]] = []
        self.mismatch_count = 0
        self.last_mismatch: dict[str, Any] = {}
        #: Observations that narrowed down which state a failed request left.
        self.resolved = 0
        #: Of those, how many found the session lost by a failed login (``note``).
        self.lost_by_failed_login = 0

    @property
    def certain(self) -> bool:
        return len(self.states) == 1

    @property
    def user(self) -> str | None:
        """The user the session is logged in as, when every possible state agrees."""
        users = {state.user for state in self.states}
        return users.pop() if len(users) == 1 else None

    @property
    def uncertain_user(self) -> bool:
        return len({state.user for state in self.states}) > 1

    def observe(self, served: dict[str, Any], when: float, kind: str) -> bool:
        """Keep the states consistent with what a page showed (``served``: some of State's
        fields, as they were before the request's own change); none: a mismatch, recorded,
        and the user goes on from what it was served. Whether it matched."""
        matching = [s for s in self.states if all(getattr(s, k) == v for k, v in served.items())]
        if matching:
            if len(matching) < len(self.states):
                self.resolved += 1
                if all(s.note == "lost by a failed login" for s in matching):
                    self.lost_by_failed_login += 1
            self.states = matching
            return True
        self.mismatch_count += 1
        self.last_mismatch = {
            "t": round(when, 3),
            "kind": kind,
            "expected": [s.as_dict() for s in self.states],
            "served": _plain(served),
        }
        if len(self.mismatches) < 20:
            self.mismatches.append(self.last_mismatch)
        self.states = [replace(self.states[0], **served)]
        return False

    def apply(self, change: Callable[[State], State]) -> None:
        """A request that made its change."""
        self.states = _unique(change(s) for s in self.states)

    def failed(self, change: Callable[[State], State], *extra: State) -> None:
        """A request that failed: its change may or may not have been made."""
        self.states = _unique([*self.states, *(change(s) for s in self.states), *extra])


def _plain(served: dict[str, Any]) -> dict[str, Any]:
    return {k: dict(v) if k == "cart" else v for k, v in served.items()}


def _unique(states: Any) -> list[State]:
    unique: list[State] = []
    for state in states:
        if state not in unique:
            unique.append(state)
    return unique


def parse_home(body: str) -> dict[str, Any] | None:
    """What the home page shows: the visits before this one, and the user (None: anonymous)."""
    visits = VISITS.search(body)
    if visits is None:
        return None
    user = LOGGED_IN_AS.search(body)
    if user is None and "Not logged in." not in body:
        return None
    return {"visits": int(visits.group(1)) - 1, "user": user.group(1) if user else None}


def parse_nav_user(body: str) -> tuple[bool, str | None]:
    """(found, user) from the navigation bar of any of the demo's pages."""
    user = NAV_USER.search(body)
    if user is not None:
        return True, user.group(1)
    return NAV_ANONYMOUS in body, None


def parse_cart(body: str) -> dict[str, Any] | None:
    """The cart page's items and user."""
    found, user = parse_nav_user(body)
    lines = CART_LINE.findall(body)
    if not found or (not lines and CART_EMPTY not in body):
        return None
    cart = tuple(sorted((LABELS.get(label, label), int(n)) for label, n in lines))
    return {"cart": cart, "user": user}


def csrf_token(body: str) -> str | None:
    match = CSRF_FIELD.search(body)
    return match.group(1) if match else None


@dataclass
class Response:
    status: int
    body: str = ""
    location: str = ""


class Client(User):
    """``bench.loadgen``'s socket-level client, with every cookie, POST and the body."""

    def __init__(self, host: str, port: int) -> None:
        super().__init__(host, port)
        self.cookies: dict[str, str] = {}
        self.body = b""
        self.location = ""

    def request(self, method: str, path: str, form: dict[str, str] | None = None) -> Response:
        """The response; status 0 when the connection failed (the next request reconnects)."""
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host.decode()}"]
        if self.cookies:
            lines.append("Cookie: " + "; ".join(f"{k}={v}" for k, v in self.cookies.items()))
        body = urllib.parse.urlencode(form).encode() if form is not None else b""
        if form is not None:
            lines.append("Content-Type: application/x-www-form-urlencoded")
            lines.append(f"Content-Length: {len(body)}")
        message = ("\r\n".join(lines) + "\r\n\r\n").encode() + body
        self.body, self.location = b"", ""
        try:
            if self.sock is None:
                self.sock = socket.create_connection(self.address, timeout=60)
                self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.sock.sendall(message)
            status, close = self._response()
        except (OSError, ValueError, IndexError):
            self.close()
            return Response(0)
        if close:
            self.close()
        return Response(status, self.body.decode(errors="replace"), self.location)

    keeps_body = True

    def _header(self, name: bytes, value: bytes) -> None:
        if name == b"location":
            self.location = value.strip().decode()
        elif name == b"set-cookie":
            key, _, morsel = value.split(b";", 1)[0].strip().partition(b"=")
            cookie = morsel.strip(b'"').decode()
            if cookie:
                self.cookies[key.decode()] = cookie
            else:  # deleted
                self.cookies.pop(key.decode(), None)


class VirtualUser:
    """One user: a client, what it expects, and its requests' records."""

    def __init__(self, index: int, port: int, accounts: list[str], password: str, seed: int):
        self.index = index
        self.client = Client("127.0.0.1", port)
        self.accounts = accounts
        self.password = password
        self.rng = random.Random(seed * 100_003 + index)
        self.expect = Expectation()
        self.records: list[tuple[float, float, int, int]] = []
        self.origin = 0.0
        self.token: str | None = None
        self.token_secret: str | None = None
        self.counts = {"logins": 0, "logouts": 0, "failed": 0, "unexpected": 0}
        #: What the last page checked showed (None: not served).
        self.last_served: dict[str, Any] | None = None

    # One request -------------------------------------------------------------------

    def send(self, kind: str, method: str, path: str, form: dict[str, str] | None = None):
        started, clock = time.time(), time.perf_counter()
        response = self.client.request(method, path, form)
        latency = (time.perf_counter() - clock) * 1000
        self.records.append(
            (
                round(started - self.origin, 4),
                round(latency, 2),
                response.status,
                KINDS.index(kind),
            )
        )
        token = csrf_token(response.body) if response.status == 200 else None
        if token is not None:
            self.token, self.token_secret = token, self.client.cookies.get(CSRF_COOKIE)
        return response, started - self.origin

    def fresh_token(self) -> str | None:
        """The form token of the last page, if the CSRF cookie did not change since."""
        if self.token and self.token_secret == self.client.cookies.get(CSRF_COOKIE):
            return self.token
        return None

    def outcome(self, response: Response, expected: int, kind: str) -> bool:
        if response.status == expected:
            return True
        self.counts["failed"] += 1
        if response.status and response.status < 500:
            self.counts["unexpected"] += 1
        return False

    # Actions -----------------------------------------------------------------------

    def home(self, kind: str = "home") -> bool:
        response, when = self.send(kind, "GET", "/")
        visit = _visited
        if not self.outcome(response, 200, kind):
            self.expect.failed(visit)
            return False
        served = parse_home(response.body)
        if served is None:
            self.counts["unexpected"] += 1
            self.expect.failed(visit)
            return False
        self.last_served = served
        matched = self.expect.observe(served, when, kind)
        self.expect.apply(visit)
        return matched

    def cart(self, kind: str = "cart") -> bool:
        response, when = self.send(kind, "GET", "/cart/")
        if not self.outcome(response, 200, kind):
            return False
        served = parse_cart(response.body)
        if served is None:
            self.counts["unexpected"] += 1
            return False
        self.last_served = served
        return self.expect.observe(served, when, kind)

    def cart_post(self) -> None:
        token = self.fresh_token()
        if token is None:
            self.cart()
            token = self.fresh_token()
            if token is None:
                return
        cart = self.expect.states[0].cart
        if cart and self.rng.random() < 0.4:
            item, action = self.rng.choice(cart)[0], "remove"
        else:
            item, action = self.rng.choice(ITEMS), "add"
        form = {"csrfmiddlewaretoken": token, "item": item, "action": action}
        response, _ = self.send("cart_post", "POST", "/cart/", form)

        def change(state: State) -> State:
            return replace(state, cart=cart_change(state.cart, item, action))

        if self.outcome(response, 302, "cart_post") and response.location == "/cart/":
            self.expect.apply(change)
        else:
            self.expect.failed(change)

    def sessions(self, kind: str = "sessions") -> bool:
        response, when = self.send(kind, "GET", "/accounts/sessions/")
        if response.status == 302 and response.location.startswith("/accounts/login/"):
            self.last_served = {"user": None}
            return self.expect.observe(self.last_served, when, kind)
        if not self.outcome(response, 200, kind):
            return False
        found, user = parse_nav_user(response.body)
        if not found or user is None:
            self.counts["unexpected"] += 1
            return False
        # The page must list the session it is served in.
        shown = user if THIS_DEVICE in response.body else f"{user} (without 'This device')"
        self.last_served = {"user": shown}
        return self.expect.observe(self.last_served, when, kind)

    def auth(self) -> None:
        if self.expect.uncertain_user:
            self.sessions()  # settle it first
            return
        if self.expect.user is None:
            self.login()
        else:
            self.logout()

    def login(self) -> None:
        response, _ = self.send("login_page", "GET", "/accounts/login/")
        token = self.fresh_token()
        if not self.outcome(response, 200, "login_page") or token is None:
            return
        account = self.rng.choice(self.accounts)
        form = {
            "csrfmiddlewaretoken": token,
            "username": account,
            "password": self.password,
            "next": "",
        }
        response, _ = self.send("login", "POST", "/accounts/login/", form)
        self.counts["logins"] += 1

        def logged_in(state: State) -> State:
            return replace(state, user=account)

        if self.outcome(response, 302, "login") and response.location == "/":
            self.expect.apply(logged_in)
        else:
            self.expect.failed(logged_in, replace(EMPTY, note="lost by a failed login"))

    def logout(self) -> None:
        token = self.fresh_token()
        if token is None:
            self.cart()
            token = self.fresh_token()
            if token is None:
                return
        response, _ = self.send(
            "logout", "POST", "/accounts/logout/", {"csrfmiddlewaretoken": token}
        )
        self.counts["logouts"] += 1
        if self.outcome(response, 302, "logout"):
            self.expect.apply(lambda state: EMPTY)
        else:
            self.expect.failed(lambda state: EMPTY)

    # The run -----------------------------------------------------------------------

    def run(self, start: float, end: float) -> None:
        self.origin = start
        actions, weights = list(ACTIONS), list(ACTIONS.values())
        time.sleep(max(0.0, start - time.time()))
        while time.time() < end:
            getattr(self, self.rng.choices(actions, weights)[0])()

    def final_check(self) -> dict[str, Any]:
        """The home page, the cart and (logged in) the sessions page, each tried until it
        is served; then the verdict: matched, lost (an empty session served instead of the
        expected one), changed, or unanswered."""
        attempts, mismatched, served = 0, [], {}
        checks = [lambda: self.home("final"), lambda: self.cart("final")]
        if self.expect.user is not None or self.expect.uncertain_user:
            checks.append(lambda: self.sessions("final"))
        for check in checks:
            for _ in range(FINAL_ATTEMPTS):
                attempts += 1
                states, count = self.expect.states, self.expect.mismatch_count
                self.last_served = None
                matched = check()
                if self.last_served is not None:
                    served.update(self.last_served)
                    if not matched:
                        mismatched.append(self.expect.last_mismatch)
                    break
                self.expect.states = states  # not served: try again from the same states
                assert self.expect.mismatch_count == count
                time.sleep(0.5)
            else:
                return self._verdict("unanswered", attempts, mismatched, served)
        if not mismatched:
            return self._verdict("matched", attempts, mismatched, served)
        empty = served.get("visits") == 0 and not served.get("cart") and served.get("user") is None
        return self._verdict("lost" if empty else "changed", attempts, mismatched, served)

    def _verdict(
        self, verdict: str, attempts: int, mismatched: list[dict[str, Any]], served: dict
    ) -> dict[str, Any]:
        return {
            "verdict": verdict,
            "attempts": attempts,
            "expected": [s.as_dict() for s in self.expect.states],
            "served": _plain(served),
            "mismatches": mismatched,
        }

    def report(self, final: dict[str, Any]) -> dict[str, Any]:
        return {
            "index": self.index,
            **self.counts,
            "requests": len(self.records),
            "mismatches": self.expect.mismatch_count - len(final["mismatches"]),
            "mismatch_examples": self.expect.mismatches[:10],
            "resolved_after_failure": self.expect.resolved,
            "lost_by_failed_login": self.expect.lost_by_failed_login,
            "final": final,
        }


def _visited(state: State) -> State:
    return replace(state, visits=state.visits + 1)


def run(
    port: int,
    users: int,
    first: int,
    accounts: list[str],
    password: str,
    start: float,
    seconds: float,
    seed: int,
) -> dict[str, Any]:
    """Every user's run, then every user's final check (after all of them stopped)."""
    crowd = [VirtualUser(first + n, port, accounts, password, seed) for n in range(users)]
    end = start + seconds
    errors: list[BaseException] = []

    def each(target: Callable[[VirtualUser], Any]) -> list[Any]:
        results: list[Any] = [None] * users

        def body(n: int) -> None:
            try:
                results[n] = target(crowd[n])
            except BaseException as exc:  # reported below, with the user that raised it
                errors.append(exc)

        threads = [threading.Thread(target=body, args=(n,)) for n in range(users)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if errors:
            raise errors[0]
        return results

    each(lambda user: user.run(start, end))
    finals = each(VirtualUser.final_check)
    return {
        "records": [record for user in crowd for record in user.records],
        "users": [user.report(final) for user, final in zip(crowd, finals, strict=True)],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--users", type=int, required=True)
    parser.add_argument("--first", type=int, default=0, help="index of the first user")
    parser.add_argument("--accounts", required=True, help="comma-separated usernames")
    parser.add_argument("--password", required=True)
    parser.add_argument("--start", type=float, required=True, help="time.time() to start at")
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    result = run(
        args.port,
        args.users,
        args.first,
        args.accounts.split(","),
        args.password,
        args.start,
        args.seconds,
        args.seed,
    )
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
