"""Seeded fuzzing of the session cookie: forged, ended, foreign and damaged keys sent to the
demo site's pages, the admin and the "your sessions" views, under each engine.

The cases (``tests/fuzz_cookies.py``) go out as raw ``Cookie`` headers (``HTTP_COOKIE``), so
values that ``SimpleCookie`` would refuse reach the server as a browser or an attacker could
send them. Case ``n`` goes to page ``n % len(PAGES)``; half the rounds come from a logged-in
(staff) user whose own key is damaged, or sent next to the fuzz. Every case must hold:

- no response is a 5xx and the request raises nothing (``raise_request_exception=True``);
- no value the request sent is adopted: the rows that have the hash of a value it sent (the
  values as the client wrote them and as Django parsed them) are the same after the request as
  before it (none, but for another ``APP_NAME``'s session, which stays untouched); the response
  never sets the session cookie to a value the request sent, other than the live key it
  carried; the request is logged in only when Django read the user's own live key from the
  header; and the home page and the cart show a fresh session unless it did;
- no log record of the request, from any logger at DEBUG (SQL included: the connections log
  their queries during the run), holds a value it sent (those of at least 8 characters, less
  surrounding whitespace); and no log record of the run nor any response holds a key the
  engine issued during the run (every key ``_get_new_session_key()`` returned).

Environment variables:

- ``DBSESSIONS_FUZZ_SEED``: the seed (default ``DEFAULT_SEED``, 20240229); a failure message
  names it, with the case number and kind, so that the case can be run again;
- ``DBSESSIONS_FUZZ_CASES``: the number of cases per engine (default 1000, the least allowed).
"""

import logging
import os
import re
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from django.conf import settings
from django.db import connections
from django.http.cookie import parse_cookie
from django.test import Client
from django.urls import reverse

from dbsessions.backends.db import SessionStore
from dbsessions.conf import app_settings
from dbsessions.keys import hash_key
from dbsessions.models import Attribute
from tests import fuzz_cookies
from tests.fuzz_cookies import Case, redacted
from tests.utils import PASSWORD, override_dbsessions, saved_session, session_rows

# "__all__": with DBSESSIONS_SEPARATE_DB=1 the sessions live on the "sessions" alias. The
# cached_db parameter of ``session_engine`` adds transaction=True.
pytestmark = pytest.mark.django_db(databases="__all__")

DEFAULT_SEED = 20240229
MIN_CASES = 1000
SEED = int(os.environ.get("DBSESSIONS_FUZZ_SEED", DEFAULT_SEED))
CASES = int(os.environ.get("DBSESSIONS_FUZZ_CASES", MIN_CASES))
if CASES < MIN_CASES:
    raise ValueError(f"DBSESSIONS_FUZZ_CASES must be at least {MIN_CASES}, not {CASES}.")

#: Another site sharing the tables: its sessions must never be adopted.
OTHER_APP = "other"
#: What every real session of the cases holds: a page that shows it adopted one.
MARKER = {"visits": 1000, "cart": {"tea": 3}}
#: A run stops after this many failures.
MAX_FAILURES = 20


@dataclass(frozen=True)
class Page:
    label: str
    method: str
    url_name: str
    data: dict[str, str] | None = None


PAGES = (
    Page("home", "GET", "home"),
    Page("cart", "GET", "cart"),
    Page("cart: add", "POST", "cart", {"item": "apple", "action": "add"}),
    Page("admin index", "GET", "admin:index"),
    Page("admin login", "GET", "admin:login"),
    Page("admin sessions", "GET", "admin:dbsessions_session_changelist"),
    Page("your sessions", "GET", "dbsessions:user_sessions"),
    Page("your sessions: end one", "POST", "dbsessions:end_session", {"session": "1:forged"}),
    Page("your sessions: end others", "POST", "dbsessions:end_other_sessions"),
)
#: Each page gets at least this many cases.
MIN_CASES_PER_PAGE = 50

KEY_RUN = re.compile(f"[{re.escape(fuzz_cookies.KEY_CHARS)}]{{{fuzz_cookies.KEY_LENGTH},}}")


def keys_in(text: str, keys: set[str]) -> set[str]:
    """The keys of ``keys`` (all of the key alphabet and length) that ``text`` holds."""
    length = fuzz_cookies.KEY_LENGTH
    found: set[str] = set()
    for run in KEY_RUN.findall(text):
        found.update(run[i : i + length] for i in range(len(run) - length + 1))
    return found & keys


class RealKeys:
    """The cases' real keys (``fuzz_cookies.KeySource``), saved with the engine under test;
    each session holds ``MARKER``, and the user's are logged in as ``login()`` leaves them."""

    def __init__(self, user: Any) -> None:
        self.user = user
        self.user_id = str(user.pk)
        self._live: dict[bool, str] = {}

    def _saved(self, logged_in: bool) -> SessionStore:
        if not logged_in:
            return saved_session(**MARKER)
        return saved_session(
            self.user,
            _auth_user_backend="django.contrib.auth.backends.ModelBackend",
            _auth_user_hash=self.user.get_session_auth_hash(),
            **MARKER,
        )

    def live_key(self, logged_in: bool) -> str:
        key = self._live.get(logged_in)
        if key is None or not session_rows().filter(key_hash=hash_key(key)).exists():
            key = self._live[logged_in] = self._key(self._saved(logged_in))
        return key

    def ended_key(self, logged_in: bool) -> str:
        store = self._saved(logged_in)
        key = self._key(store)
        store.delete()
        return key

    def other_app_key(self, logged_in: bool) -> str:
        with override_dbsessions(APP_NAME=OTHER_APP):
            return self._key(self._saved(logged_in))

    @staticmethod
    def _key(store: SessionStore) -> str:
        assert store.session_key is not None
        return store.session_key


class Records(logging.Handler):
    """Keeps the text of every record: (case number, "logger LEVEL", text)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.case = -1
        self.texts: list[tuple[int, str, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.texts.append((self.case, f"{record.name} {record.levelname}", record_text(record)))


def record_text(record: logging.LogRecord) -> str:
    """A record's formatted message, its arguments, traceback and stack."""
    try:
        parts = [record.getMessage()]
    except Exception:  # a record whose arguments do not fit: its parts, then
        parts = [str(record.msg)]
    args = record.args
    if isinstance(args, dict):
        parts += [repr(args), *map(str, args.values())]
    elif args:
        parts += [repr(args), *map(str, args)]
    if record.exc_info and record.exc_info[0] is not None:
        parts.append("".join(traceback.format_exception(*record.exc_info)))
    parts += [text for text in (record.exc_text, record.stack_info) if text]
    return "\n".join(parts)


@contextmanager
def every_log_record() -> Iterator[Records]:
    """Every logger at DEBUG, its records kept by a ``Records`` (instead of the root's other
    handlers); the connections log their queries (as with DEBUG = True)."""
    handler = Records()
    root = logging.getLogger()
    loggers = [root]
    loggers += [one for one in root.manager.loggerDict.values() if isinstance(one, logging.Logger)]
    saved = [(logger, logger.level, logger.disabled) for logger in loggers]
    # Records of a logger that does not propagate never reach the root.
    holders = [root, *(logger for logger in loggers if not logger.propagate)]
    disabled = root.manager.disable
    debug_cursors = [
        (connection, connection.force_debug_cursor) for connection in connections.all()
    ]
    logging.disable(logging.NOTSET)
    for logger in loggers:
        logger.setLevel(logging.DEBUG)
        logger.disabled = False
    # The root's own handlers (pytest's among them) would keep thousands of SQL records.
    root_handlers, root.handlers = root.handlers, []
    for logger in holders:
        logger.addHandler(handler)
    for connection, _ in debug_cursors:
        connection.force_debug_cursor = True
    try:
        yield handler
    finally:
        for connection, force in debug_cursors:
            connection.force_debug_cursor = force
        for logger in holders:
            logger.removeHandler(handler)
        root.handlers = root_handlers
        for logger, level, was_disabled in saved:
            logger.setLevel(level)
            logger.disabled = was_disabled
        logging.disable(disabled)


@pytest.fixture
def issued_keys(monkeypatch: pytest.MonkeyPatch) -> set[str]:
    """Every key the engines issue during the test (both engines make them in
    ``SessionStore._get_new_session_key``)."""
    keys: set[str] = set()
    make = SessionStore._get_new_session_key

    def recorded(store: SessionStore) -> str:
        key = make(store)
        keys.add(key)
        return key

    monkeypatch.setattr(SessionStore, "_get_new_session_key", recorded)
    return keys


@pytest.fixture
def staff_user(django_user_model: Any) -> Any:
    return django_user_model.objects.create_superuser("fuzz", "fuzz@example.com", PASSWORD)


def row_state(key_hashes: list[str]) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """The session rows with these key hashes, and their attributes."""
    if not key_hashes:
        return [], []
    sessions = list(
        session_rows()
        .filter(key_hash__in=key_hashes)
        .order_by("pk")
        .values_list("pk", "app_name", "principal", "last_access", "expires_at")
    )
    attributes = [
        (session_id, name, bytes(value))
        for session_id, name, value in Attribute.objects.using(app_settings.DATABASE)
        .filter(session__key_hash__in=key_hashes)
        .order_by("session_id", "name")
        .values_list("session_id", "name", "value")
    ]
    return sessions, attributes


def send(client: Client, page: Page, url: str, case: Case) -> Any:
    """The test client's response (an HttpResponse with the client's attributes)."""
    request: Callable[..., Any] = client.post if page.method == "POST" else client.get
    return request(url, page.data, HTTP_COOKIE=case.environ_cookie)


class Run:
    """The checks of one engine's run; ``problems`` of each case become failure messages."""

    def __init__(self, records: Records, issued: set[str], name: str) -> None:
        self.records = records
        self.issued = issued
        self.name = name
        self.failures: list[str] = []
        self.client = Client(enforce_csrf_checks=False, raise_request_exception=True)
        self.stopped = False
        #: (page label, kind, visitor) -> cases sent; page label -> cases run logged in.
        self.sent: dict[tuple[str, str, str], int] = {}
        self.authenticated: dict[str, int] = {}

    def redact(self, text: str, case: Case) -> str:
        for secret in sorted({*self.issued, *case.secrets}, key=len, reverse=True):
            if len(secret) >= 8 and secret in text:
                text = text.replace(secret, f"<{redacted(secret)}>")
        return text

    def fail(self, case: Case, page: Page, url: str, problem: str) -> None:
        message = f"{case.describe()}, on {page.label} ({page.method} {url}): {problem}"
        self.failures.append(self.redact(message, case))
        if len(self.failures) >= MAX_FAILURES:
            self.stopped = True

    def check(self, case: Case, page: Page, url: str) -> None:
        tally = (page.label, case.kind, case.visitor)
        self.sent[tally] = self.sent.get(tally, 0) + 1
        server_header = case.environ_cookie.encode("iso-8859-1").decode("utf-8", "replace")
        parsed = parse_cookie(server_header).get(self.name)
        live = set(case.live_keys)
        allowed = {parsed} & live
        sent = {value for value in (*case.values, parsed) if value}
        unknown = sent - live
        not_to_return = (sent | live) - allowed
        key_hashes = [hash_key(value) for value in unknown]
        before = row_state(key_hashes)

        self.records.case = case.number
        first_record = len(self.records.texts)
        self.client.cookies.clear()
        try:
            response = send(self.client, page, url, case)
        except Exception as exc:
            trace = "".join(traceback.format_exception(exc))
            self.fail(case, page, url, f"the request raised {exc!r}\n{trace}")
            self.stopped = True  # the connection may be in no state to go on
            return
        finally:
            self.records.case = -1

        problems = []
        if response.wsgi_request.COOKIES.get(self.name) != parsed:  # what the checks rest on
            problems.append("Django read the session cookie otherwise than parse_cookie()")
        if response.status_code >= 500:
            problems.append(f"status {response.status_code}")
        morsel = response.cookies.get(self.name)
        returned = morsel.value if morsel is not None else ""
        if returned in not_to_return:
            problems.append("the response sets the session cookie to a value it was sent")
        elif returned:
            self.issued.add(returned)
        if row_state(key_hashes) != before:
            problems.append("the rows with the hash of a value sent changed")
        user = response.wsgi_request.user
        logged_in = parsed in case.user_keys
        if user.is_authenticated != logged_in:
            problems.append(f"user.is_authenticated is {user.is_authenticated}")
        if logged_in:
            self.authenticated[page.label] = self.authenticated.get(page.label, 0) + 1
        if not allowed and response.context is not None:
            if page.label == "home" and response.context["visits"] != 1:
                problems.append(f"the home page counts {response.context['visits']} visits")
            if page.label == "cart" and response.context["lines"] != []:
                problems.append("the cart shows another session's items")
        needles = {value.strip() for value in sent} - {""}
        needles = {value for value in needles if len(value) >= 8}
        for _, where, text in self.records.texts[first_record:]:
            if any(value in text for value in needles):
                problems.append(f"a record of {where} holds a value sent: {text[:300]!r}")
                break
        leaked = keys_in(response.content.decode("utf-8", "replace"), self.issued)
        if leaked:
            problems.append(f"the response holds {len(leaked)} issued key(s)")
        for problem in problems:
            self.fail(case, page, url, problem)

    def check_records(self) -> None:
        """No record of the whole run holds a key issued during it."""
        for number, where, text in self.records.texts:
            during = f"case {number}" if number >= 0 else "outside the cases"
            for key in sorted(keys_in(text, self.issued)):
                self.failures.append(
                    f"seed {SEED}, {during}: a record of {where} holds the issued key "
                    f"{redacted(key)}"
                )


def test_forged_cookies_are_never_adopted(
    session_engine: str, staff_user: Any, issued_keys: set[str]
) -> None:
    name = settings.SESSION_COOKIE_NAME
    urls = [reverse(page.url_name) for page in PAGES]
    keys = RealKeys(staff_user)
    with every_log_record() as records:
        run = Run(records, issued_keys, name)
        for case in fuzz_cookies.cases(SEED, CASES, len(PAGES), name, keys):
            at = case.number % len(PAGES)
            run.check(case, PAGES[at], urls[at])
            if run.stopped:
                break
    run.check_records()
    if run.failures:
        pytest.fail(f"{len(run.failures)} failure(s):\n" + "\n".join(run.failures), pytrace=False)

    # The run reached what it is for: every page got enough cases, every kind from both
    # visitors, and the pages behind a login ran logged in.
    for page in PAGES:
        sent = [count for (label, _, _), count in run.sent.items() if label == page.label]
        assert sum(sent) >= MIN_CASES_PER_PAGE, page.label
        kinds = {kind for (label, kind, _) in run.sent if label == page.label}
        assert kinds == set(fuzz_cookies.KINDS), page.label
        visitors = {visitor for (label, _, visitor) in run.sent if label == page.label}
        assert visitors == {"anonymous", "logged-in"}, page.label
        assert run.authenticated.get(page.label, 0) > 0, page.label
