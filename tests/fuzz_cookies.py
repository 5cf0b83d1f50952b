"""The cases of ``tests/test_fuzz_cookies.py``: ``Cookie`` headers whose session cookie is forged,
ended, foreign or damaged.

``cases()`` yields them one at a time, each made just before it is sent, so that the real keys
it carries are live (or ended) when the request runs. Case ``n`` goes to page ``n % pages``,
is of kind ``KINDS[n // pages % len(KINDS)]`` and comes from a logged-in visitor on every
other round of all pages and kinds: from ``2 * pages * len(KINDS)`` cases on, every page gets
every kind from both visitors. What a case does within its kind (which character it changes,
which value it forges) comes from ``random.Random(f"{seed}:{n}")``: the same seed gives the
same cases in every run, but for the real keys, which are new each time.

Most kinds damage a *base*: the logged-in user's live key for a logged-in visitor, otherwise a
forged key or an anonymous visitor's live key. The kinds:

- ``forged_key``: 32 characters of the key alphabet, no such session;
- ``forged_length``: the key alphabet at lengths from 8 to 1,000;
- ``ended_key``: the key of a session created, then deleted;
- ``live_key_changed``: a live key with one character changed, added or removed, two swapped,
  or cut short;
- ``other_app_key``: the key of a live session of another ``APP_NAME``;
- ``empty``: no value, an empty quoted value, a name without ``=``, an empty header;
- ``whitespace``: whitespace alone, inside the base or around it (ASCII and Unicode spaces);
- ``very_long``: 10 KB values;
- ``control``: C0 and C1 control characters and DEL in or instead of the base;
- ``nul``: NUL characters in or instead of the base;
- ``non_ascii``: non-ASCII characters (accents, dotless i, Kelvin sign, CJK, emoji, zero-width
  characters, look-alike Cyrillic) and bytes that are not UTF-8;
- ``percent_encoded``: the base percent-encoded in whole or in part, double-encoded, with
  ``%00`` or ``%3B``;
- ``quoted``: the base in double or single quotes, unbalanced, with octal or backslash escapes;
- ``cookie_syntax``: semicolons, commas and equals signs in the value, and names that are
  almost the cookie's;
- ``sql_injection``: SQL-injection-looking strings, alone or around the base;
- ``signed_value``: values of Django's signing module (a session the ``signed_cookies`` engine
  would accept, the base signed as ``set_signed_cookie()`` signs it, ``signing.dumps``) and
  look-alikes;
- ``key_hash``: a key's hash (64 hex digits, as the ``key_hash`` column holds it) sent as the
  key;
- ``duplicated``: the cookie's name two or three times in one header, forged values with or
  without the base;
- ``other_cookies``: the base (the user's own live key, for a logged-in visitor) next to other
  cookies holding fuzz.

A failure message shows a case with ``Case.describe()``: real keys, and values made from them,
appear only as their first four characters and a description of the change.
"""

import random
import string
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

from django.contrib.sessions.backends.base import VALID_KEY_CHARS
from django.contrib.sessions.serializers import JSONSerializer
from django.core import signing

from dbsessions.keys import hash_key

#: The alphabet of the keys Django's engines (and this one) issue.
KEY_CHARS: str = VALID_KEY_CHARS
KEY_LENGTH = 32
#: The length of the ``very_long`` values.
LONG = 10 * 1024


class KeySource(Protocol):
    """Real session keys for the cases, made with the engine under test."""

    #: The primary key of the logged-in user, as the session holds it.
    user_id: str

    def live_key(self, logged_in: bool) -> str:
        """A live key of this ``APP_NAME``: the logged-in user's, or an anonymous visitor's."""
        ...

    def ended_key(self, logged_in: bool) -> str:
        """The key of a session (the user's, or anonymous) that was saved, then deleted."""
        ...

    def other_app_key(self, logged_in: bool) -> str:
        """The key of a live session of another ``APP_NAME``."""
        ...


def redacted(key: str) -> str:
    """A real key as a failure message may show it."""
    return repr(key[:4] + "...")


def abbreviated(text: str) -> str:
    """``repr(text)``, cut short past 120 characters."""
    if len(text) <= 120:
        return repr(text)
    return f"{text[:60]!r}...({len(text):,} characters)"


@dataclass(frozen=True)
class Part:
    """A piece of a ``Cookie`` header; ``shown`` is how a failure message shows it."""

    text: str
    shown: str
    #: Whether the text is, or is made from, a real key.
    secret: bool = False


def plain(text: str) -> Part:
    return Part(text, abbreviated(text))


def derive(base: Part, text: str, how: str) -> Part:
    """``text`` made from ``base``: shown as it is, or, made from a real key, as ``how``."""
    if base.secret:
        return Part(text, f"{base.shown} {how}", secret=True)
    return plain(text)


@dataclass(frozen=True)
class Case:
    seed: int
    number: int
    kind: str
    #: "logged-in" when the case carries, or damaged, one of the logged-in user's keys.
    visitor: str
    header: tuple[Part, ...]
    #: Every value the header gives the session cookie, or a cookie named almost like it.
    values: tuple[str, ...]
    #: This app's live keys the header holds as they are or damaged.
    live_keys: tuple[str, ...]
    #: Those of them that are the logged-in user's.
    user_keys: tuple[str, ...]
    #: Values made from real keys: a failure message never shows them.
    secrets: tuple[str, ...] = field(default=())

    @property
    def cookie(self) -> str:
        """The header as the client meant it (surrogate escapes stand for bytes not UTF-8)."""
        return "".join(part.text for part in self.header)

    @property
    def environ_cookie(self) -> str:
        """``HTTP_COOKIE`` as a WSGI server sets it: the header's bytes, read as ISO-8859-1."""
        return self.cookie.encode("utf-8", "surrogateescape").decode("iso-8859-1")

    def describe(self) -> str:
        shown = " + ".join(part.shown for part in self.header) or "''"
        return (
            f"seed {self.seed}, case {self.number} ({self.kind}, {self.visitor}), cookie {shown}"
        )


def random_key(rng: random.Random, length: int = KEY_LENGTH) -> str:
    return "".join(rng.choice(KEY_CHARS) for _ in range(length))


class Builder:
    """Builds one case's header."""

    def __init__(self, rng: random.Random, name: str, keys: KeySource, logged_in: bool) -> None:
        self.rng = rng
        self.name = name
        self.keys = keys
        self.logged_in = logged_in
        self.header: list[Part] = []
        self.values: list[str] = []
        self.secrets: list[str] = []
        self.live: list[str] = []
        self.user: list[str] = []
        self.visitor = "anonymous"

    # Keys ---------------------------------------------------------------------------

    def _uses_user(self) -> str:
        if self.logged_in:
            self.visitor = "logged-in"
            return "the user's"
        return "a visitor's"

    def live_key(self) -> Part:
        key = self.keys.live_key(self.logged_in)
        self.live.append(key)
        if self.logged_in:
            self.user.append(key)
        return Part(key, f"<{self._uses_user()} live key {redacted(key)}>", secret=True)

    def ended_key(self) -> Part:
        key = self.keys.ended_key(self.logged_in)
        return Part(key, f"<{self._uses_user()} ended key {redacted(key)}>", secret=True)

    def other_app_key(self) -> Part:
        key = self.keys.other_app_key(self.logged_in)
        return Part(key, f"<{self._uses_user()} other app's key {redacted(key)}>", secret=True)

    def forged_key(self) -> Part:
        return plain(random_key(self.rng))

    def base(self) -> Part:
        """The key a kind damages: the user's live key, or a forged or anonymous live key."""
        if self.logged_in or self.rng.random() < 0.4:
            return self.live_key()
        return self.forged_key()

    # Header -------------------------------------------------------------------------

    def add(self, *parts: Part | str) -> None:
        self.header.extend(plain(part) if isinstance(part, str) else part for part in parts)

    def value(self, part: Part) -> Part:
        """``part``, noted as a value sent for the session cookie."""
        self.values.append(part.text)
        if part.secret:
            self.secrets.append(part.text)
        return part

    def cookie(self, part: Part, name: str | None = None, separator: str = "; ") -> None:
        """Append ``name=part`` (the session cookie's name by default)."""
        if self.header:
            self.add(separator)
        self.add(f"{self.name if name is None else name}=", self.value(part))

    def choice(self, options: dict[str, Callable[[], None]]) -> None:
        options[self.rng.choice(sorted(options))]()

    def case(self, seed: int, number: int, kind: str) -> Case:
        return Case(
            seed=seed,
            number=number,
            kind=kind,
            visitor=self.visitor,
            header=tuple(self.header),
            values=tuple(self.values),
            live_keys=tuple(self.live),
            user_keys=tuple(self.user),
            secrets=tuple(self.secrets),
        )


# Kinds ------------------------------------------------------------------------------


def forged_key(b: Builder) -> None:
    b.cookie(b.forged_key())


def forged_length(b: Builder) -> None:
    length = b.rng.choice((8, 9, 16, 31, 33, 40, 63, 64, 65, 128, 255, 256, 257, 1000))
    b.cookie(plain(random_key(b.rng, length)))


def ended_key(b: Builder) -> None:
    b.cookie(b.ended_key())


def live_key_changed(b: Builder) -> None:
    base = b.live_key()
    key = base.text
    rng = b.rng
    at = rng.randrange(len(key))

    def other_char(than: str) -> str:
        return rng.choice([char for char in KEY_CHARS if char != than])

    def substitute() -> tuple[str, str]:
        char = other_char(key[at])
        return key[:at] + char + key[at + 1 :], f"with character {at} made {char!r}"

    def upper() -> tuple[str, str]:
        letters = [i for i, char in enumerate(key) if char.isalpha()]
        if not letters:
            return substitute()
        i = rng.choice(letters)
        return key[:i] + key[i].upper() + key[i + 1 :], f"with character {i} in upper case"

    def delete() -> tuple[str, str]:
        return key[:at] + key[at + 1 :], f"without character {at}"

    def insert() -> tuple[str, str]:
        char = rng.choice(KEY_CHARS)
        return key[:at] + char + key[at:], f"with {char!r} inserted at {at}"

    def swap() -> tuple[str, str]:
        pairs = [i for i in range(len(key) - 1) if key[i] != key[i + 1]]
        i = rng.choice(pairs)
        swapped = key[:i] + key[i + 1] + key[i] + key[i + 2 :]
        return swapped, f"with characters {i} and {i + 1} swapped"

    def cut() -> tuple[str, str]:
        length = rng.randrange(8, len(key))
        return key[:length], f"cut to {length} characters"

    def extend() -> tuple[str, str]:
        char = rng.choice(KEY_CHARS)
        return key + char, f"followed by {char!r}"

    change = rng.choice((substitute, upper, delete, insert, swap, cut, extend))
    text, how = change()
    assert text != key
    b.cookie(derive(base, text, how))


def other_app_key(b: Builder) -> None:
    b.cookie(b.other_app_key())


def empty(b: Builder) -> None:
    name = b.name
    header = b.rng.choice(
        (
            f"{name}=",
            f"{name}=;",
            f"{name}",
            f"{name}= ",
            f'{name}=""',
            f"{name}=; {name}=",
            f"{name}=;;;",
            "=",
            ";",
            "",
            " ",
            f"{name}=''",
        )
    )
    if header:
        b.add(header)
    b.values.append(header.partition("=")[2].split(";")[0])


WHITESPACE = (
    " ",
    "\t",
    "  ",
    " \t ",
    "\x0b",
    "\x0c",
    "\r",
    "\n",
    "\u00a0",
    "\u2003",
    "\u3000",
    "\u2028",
    "\u200b",
    "\ufeff",
)


def whitespace(b: Builder) -> None:
    rng = b.rng
    space = rng.choice(WHITESPACE)
    if rng.random() < 0.2:
        b.cookie(plain(space * rng.randint(1, 40)))
        return
    base = b.base()
    at = rng.randrange(1, len(base.text))
    place = rng.choice(("inside", "before", "after", "around"))
    text = {
        "inside": base.text[:at] + space + base.text[at:],
        "before": space + base.text,
        "after": base.text + space,
        "around": space + base.text + space,
    }[place]
    how = f"with {space!r} inserted at {at}" if place == "inside" else f"with {space!r} {place}"
    b.cookie(derive(base, text, how))


def very_long(b: Builder) -> None:
    rng = b.rng
    printable = [c for c in string.printable if c not in ";\r\n\x0b\x0c"]

    def repeated() -> None:
        base = b.base()
        times = LONG // len(base.text) + 1
        b.cookie(derive(base, (base.text * times)[:LONG], f"repeated to {LONG} characters"))

    def padded() -> None:
        base = b.base()
        pad = rng.choice("a0=-_.")
        text = base.text + pad * (LONG - len(base.text))
        b.cookie(derive(base, text, f"padded with {pad!r} to {LONG} characters"))

    def alphabet() -> None:
        b.cookie(plain(random_key(b.rng, LONG)))

    def any_printable() -> None:
        b.cookie(plain("".join(rng.choice(printable) for _ in range(LONG))))

    def quoted() -> None:
        b.cookie(plain('"' + random_key(b.rng, LONG - 2) + '"'))

    def many_cookies() -> None:
        # The session cookie last in a 10 KB header of other cookies.
        b.add("; ".join(f"c{i}={random_key(b.rng)}" for i in range(LONG // 40)))
        b.cookie(b.base())

    b.choice(
        {
            "repeated": repeated,
            "padded": padded,
            "alphabet": alphabet,
            "printable": any_printable,
            "quoted": quoted,
            "many cookies": many_cookies,
        }
    )


CONTROL = [chr(code) for code in (*range(1, 32), *range(0x7F, 0xA0))]


def _damaged(b: Builder, chars: list[str], what: str) -> None:
    """The base with one of ``chars`` inserted, replacing a character, before or after it; or
    a run of them alone."""
    rng = b.rng
    char = rng.choice(chars)
    if rng.random() < 0.2:
        b.cookie(plain("".join(rng.choice(chars) for _ in range(rng.randint(8, 32)))))
        return
    base = b.base()
    key = base.text
    at = rng.randrange(len(key))
    place = rng.choice(("inserted", "replacing", "before", "after"))
    text = {
        "inserted": key[:at] + char + key[at:],
        "replacing": key[:at] + char + key[at + 1 :],
        "before": char + key,
        "after": key + char,
    }[place]
    at_text = f" {at}" if place in ("inserted", "replacing") else ""
    b.cookie(derive(base, text, f"with {what} {char!r} {place}{at_text}"))


def control(b: Builder) -> None:
    _damaged(b, CONTROL, "control character")


def nul(b: Builder) -> None:
    _damaged(b, ["\x00"], "NUL")


NON_ASCII = [
    "é",
    "ß",
    "ı",
    "İ",
    "\u212a",  # KELVIN SIGN, which lower-cases to "k"
    "ﬁ",
    "中",
    "🍪",
    "\u200b",
    "\u0301",  # COMBINING ACUTE ACCENT
    "０",
    "а",  # CYRILLIC SMALL LETTER A
    "ﬀ",
    "\ufffd",
]
#: Bytes that are not UTF-8, as surrogate escapes: a lone 0xFF, a lead byte without its
#: continuation, an overlong "/", an encoded surrogate.
NOT_UTF8 = ["\udcff", "\udcfe", "\udcc3", "\udcc0\udcaf", "\udced\udca0\udc80"]


def non_ascii(b: Builder) -> None:
    if b.rng.random() < 0.3:
        _damaged(b, NOT_UTF8, "bytes not UTF-8")
    else:
        _damaged(b, NON_ASCII, "non-ASCII character")


def percent_encoded(b: Builder) -> None:
    rng = b.rng
    base = b.base()
    key = base.text
    at = rng.randrange(len(key))
    options = {
        "whole": ("".join(f"%{ord(c):02X}" for c in key), "percent-encoded"),
        "lower": ("".join(f"%{ord(c):02x}" for c in key), "percent-encoded in lower case"),
        "one": (
            key[:at] + f"%{ord(key[at]):02X}" + key[at + 1 :],
            f"with character {at} percent-encoded",
        ),
        "double": ("".join(f"%25{ord(c):02X}" for c in key), "percent-encoded twice"),
        "nul": (key + "%00", "followed by '%00'"),
        "semicolon": (key[:at] + "%3B" + key[at:], f"with '%3B' inserted at {at}"),
        "space": (key[:at] + "%20" + key[at:], f"with '%20' inserted at {at}"),
    }
    text, how = options[rng.choice(sorted(options))]
    b.cookie(derive(base, text, how))


def quoted(b: Builder) -> None:
    rng = b.rng
    base = b.base()
    key = base.text
    options = {
        "double": (f'"{key}"', "in double quotes"),
        "single": (f"'{key}'", "in single quotes"),
        "open": (f'"{key}', "after an unbalanced double quote"),
        "close": (f'{key}"', "before an unbalanced double quote"),
        "octal": ('"' + "".join(f"\\{ord(c):03o}" for c in key) + '"', "quoted in octal escapes"),
        "backslashes": ('"' + "".join(f"\\{c}" for c in key) + '"', "quoted, each backslashed"),
        "escaped quote": (f'"{key}\\""', 'quoted, followed by \\"'),
        "twice": (f'""{key}""', "in two pairs of double quotes"),
        "inner": (f'{key[:8]}"{key[8:]}', "with a double quote at 8"),
    }
    text, how = options[rng.choice(sorted(options))]
    b.cookie(derive(base, text, how))


def cookie_syntax(b: Builder) -> None:
    rng = b.rng
    name = b.name
    base = b.base()
    key = base.text
    at = rng.randrange(1, len(key))

    def inserted(char: str) -> Callable[[], None]:
        def insert() -> None:
            b.cookie(derive(base, key[:at] + char + key[at:], f"with {char!r} inserted at {at}"))

        return insert

    def followed(suffix: str) -> Callable[[], None]:
        return lambda: b.cookie(derive(base, key + suffix, f"followed by {suffix!r}"))

    def named(other: str) -> Callable[[], None]:
        return lambda: b.cookie(base, name=other)

    def comma_before() -> None:
        b.add("theme=dark, ", f"{name}=", b.value(base))

    def leading_separators() -> None:
        b.add(";; ; ", f"{name}=", b.value(base))

    def equals_first() -> None:
        b.add(f"{name}=", b.value(derive(base, "=" + key, "after '='")))

    def nameless() -> None:
        b.add("=", b.value(base))

    def bare() -> None:
        b.add(b.value(base))

    b.choice(
        {
            "semicolon": inserted(";"),
            "comma": inserted(","),
            "equals": inserted("="),
            "colon": inserted(":"),
            "trailing semicolons": followed(";;;"),
            "comma cookie": followed(", other=1"),
            "semicolon cookie": followed("; =; ;=x"),
            "upper-case name": named(name.upper()),
            "spaced name": named(f" {name} "),
            "tab in name": named(f"{name}\t"),
            "name with space inside": named(f"{name[:3]} {name[3:]}"),
            "array name": named(f"{name}[]"),
            "quoted name": named(f'"{name}"'),
            "prefixed name": named(f"__Host-{name}"),
            "comma first": comma_before,
            "leading separators": leading_separators,
            "double equals": equals_first,
            "no name": nameless,
            "no name nor equals": bare,
        }
    )


SQL = (
    "' OR '1'='1",
    "' OR 1=1 --",
    '" OR ""="',
    "'; DROP TABLE dbsessions_session; --",
    "x' UNION SELECT key_hash, app_name FROM dbsessions_session --",
    "1; DELETE FROM dbsessions_attribute",
    "%' OR key_hash LIKE '%",
    "') OR ('a'='a",
    "1' AND SLEEP(1) #",
    "'||(SELECT pg_sleep(1))||'",
    "admin'/*",
    "$$; SELECT 1; $$",
    "\\'; SELECT 1; --",
    "' OR key_hash IS NOT NULL OR '",
)


def sql_injection(b: Builder) -> None:
    rng = b.rng
    sql = rng.choice(SQL)
    place = rng.choice(("alone", "after", "before"))
    if place == "alone":
        b.cookie(plain(sql))
        return
    base = b.base()
    text = base.text + sql if place == "after" else sql + base.text
    b.cookie(derive(base, text, f"with {sql!r} {place}"))


def signed_value(b: Builder) -> None:
    rng = b.rng

    def signed_session() -> None:
        # What the signed_cookies engine would take for the user's session, logged in.
        data = {
            "_auth_user_id": b.keys.user_id,
            "_auth_user_backend": "django.contrib.auth.backends.ModelBackend",
            "visits": 1000,
        }
        salt = "django.contrib.sessions.backends.signed_cookies"
        b.cookie(plain(signing.dumps(data, salt=salt, serializer=JSONSerializer, compress=True)))

    def cookie_signer() -> None:  # as HttpResponse.set_signed_cookie() signs
        base = b.base()
        text = signing.get_cookie_signer(salt=b.name).sign(base.text)
        b.cookie(derive(base, text, "signed as set_signed_cookie() signs"))

    def timestamp_signer() -> None:
        base = b.base()
        b.cookie(derive(base, signing.TimestampSigner().sign(base.text), "timestamp-signed"))

    def dumps() -> None:
        base = b.base()
        b.cookie(derive(base, signing.dumps(base.text), "in signing.dumps()"))

    def look_alike() -> None:
        alphabet = string.ascii_letters + string.digits + "-_"

        def chunk(length: int) -> str:
            return "".join(rng.choice(alphabet) for _ in range(length))

        b.cookie(plain(f"eyJ{chunk(rng.randint(10, 60))}:{chunk(6)}:{chunk(43)}"))

    b.choice(
        {
            "signed_cookies session": signed_session,
            "cookie signer": cookie_signer,
            "timestamp signer": timestamp_signer,
            "dumps": dumps,
            "look-alike": look_alike,
        }
    )


def key_hash(b: Builder) -> None:
    rng = b.rng
    source = rng.choice(("live", "ended", "forged"))
    key = {"live": b.live_key, "ended": b.ended_key, "forged": b.forged_key}[source]()
    digest = hash_key(key.text)
    if rng.random() < 0.3:
        b.cookie(derive(key, digest.upper(), "hashed, in upper case"))
    else:
        b.cookie(derive(key, digest, "hashed"))


def duplicated(b: Builder) -> None:
    rng = b.rng
    values = [b.forged_key() for _ in range(rng.randint(1, 2))]
    if rng.random() < 0.6:
        values.insert(rng.randrange(len(values) + 1), b.base())
    if len(values) == 1:
        values.append(b.forged_key())
    separator = rng.choice(("; ", ";", " ; ", ", "))
    for value in values:
        b.cookie(value, separator=separator)


NEIGHBOUR_VALUES = (
    "",
    '"',
    "\x00",
    "=",
    "é" * 10,
    "x" * 4096,
    "%00",
    "\\",
    "' OR '1'='1",
    "\x7f\x1b[0m",
)


def other_cookies(b: Builder) -> None:
    rng = b.rng
    name = b.name
    neighbours = ["csrftoken", "messages", "django_language", f"{name}_old", f"x{name}"]
    neighbours += [f"{name}2", name.upper(), f"__Secure-{name}", f"{name}[]"]
    rng.shuffle(neighbours)
    cookies: list[tuple[str, Part]] = []
    for neighbour in neighbours[: rng.randint(1, 5)]:
        if name in neighbour or name.upper() in neighbour:  # a look-alike of the cookie
            cookies.append((neighbour, b.value(b.forged_key())))
        else:
            cookies.append((neighbour, plain(rng.choice(NEIGHBOUR_VALUES))))
    if b.logged_in or rng.random() < 0.8:
        # The logged-in visitor's cookie is their own key as it is: the pages run logged in.
        cookies.insert(rng.randrange(len(cookies) + 1), (name, b.value(b.base())))
    for cookie_name, part in cookies:
        if b.header:
            b.add("; ")
        b.add(f"{cookie_name}=", part)


KINDS: dict[str, Callable[[Builder], None]] = {
    kind.__name__: kind
    for kind in (
        forged_key,
        forged_length,
        ended_key,
        live_key_changed,
        other_app_key,
        empty,
        whitespace,
        very_long,
        control,
        nul,
        non_ascii,
        percent_encoded,
        quoted,
        cookie_syntax,
        sql_injection,
        signed_value,
        key_hash,
        duplicated,
        other_cookies,
    )
}


def cases(seed: int, count: int, pages: int, cookie_name: str, keys: KeySource) -> Iterator[Case]:
    """``count`` cases for ``pages`` pages (case ``n`` is for page ``n % pages``)."""
    kinds = list(KINDS)
    for number in range(count):
        kind = kinds[number // pages % len(kinds)]
        logged_in = number // (pages * len(kinds)) % 2 == 1
        builder = Builder(random.Random(f"{seed}:{number}"), cookie_name, keys, logged_in)
        KINDS[kind](builder)
        yield builder.case(seed, number, kind)
