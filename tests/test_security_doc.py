"""The security page names tests, settings and requirements that exist.

Each guarantee of docs/security.md and SECURITY.md points at the tests that check it: a test
renamed or removed fails here until the page follows. So does a setting the pages name that
the code lacks, and an ASVS row that is missing, doubled or given a verdict of another form.
"""

import ast
import re
from functools import cache
from pathlib import Path

from django.conf import global_settings

from dbsessions.conf import DEFAULTS
from tests.test_docs import FENCE, LINK, check_ids, github_anchors

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "security.md"
POLICY = ROOT / "SECURITY.md"
PAGES = (PAGE, POLICY)

#: Anything that starts like a path into tests/: each must be a file or folder that exists,
#: or ``file.py::test_name``.
REFERENCE = re.compile(r"(?<![\w/.-])tests/[^\s`'\")|,;]*")
TEST_REFERENCE = re.compile(r"tests/(?:[\w-]+/)*[\w-]+\.py::(test_\w+)")
CODE_SPAN = re.compile(r"`([^`\n]+)`")
#: A code span that is a name in capitals, as settings are.
CAPITALS = re.compile(r"[A-Z][A-Z0-9_]*[A-Z0-9]")

#: Django settings the pages name; each is checked against Django's own list.
DJANGO_SETTINGS = frozenset(
    {
        "CSRF_COOKIE_SECURE",
        "DEBUG",
        "MIDDLEWARE",
        "SECRET_KEY",
        "SECRET_KEY_FALLBACKS",
        "SECURE_HSTS_SECONDS",
        "SECURE_PROXY_SSL_HEADER",
        "SESSION_COOKIE_AGE",
        "SESSION_COOKIE_DOMAIN",
        "SESSION_COOKIE_HTTPONLY",
        "SESSION_COOKIE_NAME",
        "SESSION_COOKIE_PATH",
        "SESSION_COOKIE_SAMESITE",
        "SESSION_COOKIE_SECURE",
        "SESSION_SERIALIZER",
    }
)
#: Names in capitals the pages use that are no setting of Django's or of ``DBSESSIONS``: the
#: setting ``DBSESSIONS`` itself, SQL privileges, a request header, an Oracle parameter.
OTHER_NAMES = frozenset(
    {"DBSESSIONS", "SELECT", "INSERT", "UPDATE", "DELETE", "REMOTE_ADDR", "NLS_COMP"}
)
#: ``SESSION_*``: the family of Django's settings a page may name as a whole.
FAMILIES = frozenset({"SESSION_*"})

#: The requirements of chapter V7 (Session Management) of ASVS 5.0.0, with their levels.
ASVS_V7 = {
    "7.1.1": "2",
    "7.1.2": "2",
    "7.1.3": "2",
    "7.2.1": "1",
    "7.2.2": "1",
    "7.2.3": "1",
    "7.2.4": "1",
    "7.3.1": "2",
    "7.3.2": "2",
    "7.4.1": "1",
    "7.4.2": "1",
    "7.4.3": "2",
    "7.4.4": "2",
    "7.4.5": "2",
    "7.5.1": "2",
    "7.5.2": "2",
    "7.5.3": "3",
    "7.6.1": "2",
    "7.6.2": "2",
}
VERDICTS = ("met by dbsessions (test ", "met by Django", "the deployer's job", "not applicable")
ASVS_ROW = re.compile(r"^\| (7\.\d\.\d) \| (\d) \| [^|]+ \| ([^|]+) \| [^|]+ \|$", re.MULTILINE)
INCLUDE = re.compile(
    r"^```\{include\} \.\./SECURITY\.md\n:start-after: (.+)\n:end-before: (.+)\n```$",
    re.MULTILINE,
)


def text(path: Path) -> str:
    return path.read_text()


def references(page: str) -> list[str]:
    """Every path into tests/ that ``page`` gives, without a sentence's closing stop."""
    return [match.group().rstrip(".:") for match in REFERENCE.finditer(page)]


@cache
def functions_of(module: Path) -> frozenset[str]:
    """The names of the functions a test module defines, at any depth."""
    tree = ast.parse(module.read_text(), filename=str(module))
    return frozenset(
        node.name
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    )


def broken_references(page: str) -> list[tuple[str, str]]:
    """(reference, what is wrong) for each reference of ``page`` that names nothing."""
    broken = []
    for reference in references(page):
        path, _, name = reference.partition("::")
        target = ROOT / path
        if not target.exists():
            broken.append((reference, "no such file or folder"))
        elif name and not TEST_REFERENCE.fullmatch(reference):
            broken.append((reference, "not of the form tests/file.py::test_name"))
        elif name and name not in functions_of(target):
            broken.append((reference, f"{path} defines no {name}"))
    return broken


def test_the_page_names_tests():
    named = [reference for reference in references(text(PAGE)) if "::" in reference]
    # Far fewer would mean the pattern no longer finds them, and the next test checks nothing.
    assert len(named) >= 80, named


def test_every_test_reference_names_a_test_that_exists():
    assert {path.name: broken_references(text(path)) for path in PAGES} == {
        path.name: [] for path in PAGES
    }


def test_a_renamed_or_removed_test_is_reported():
    page = (
        "See `tests/test_storage.py::test_the_session_key_is_never_stored` and "
        "tests/test_storage.py::test_the_key_is_never_kept. Also `tests/test_gone.py`, "
        "`tests/galera`, `tests/test_same_key.py::test_threads_on_a_server[postgresql]`."
    )
    assert broken_references(page) == [
        (
            "tests/test_storage.py::test_the_key_is_never_kept",
            "tests/test_storage.py defines no test_the_key_is_never_kept",
        ),
        ("tests/test_gone.py", "no such file or folder"),
        (
            "tests/test_same_key.py::test_threads_on_a_server[postgresql]",
            "not of the form tests/file.py::test_name",
        ),
    ]


def test_every_setting_named_exists():
    assert DJANGO_SETTINGS - set(dir(global_settings)) == set()
    known = set(DEFAULTS) | DJANGO_SETTINGS | OTHER_NAMES | FAMILIES
    unknown = []
    for path in PAGES:
        page = text(path)
        for span in CODE_SPAN.findall(page):
            name = span.split(" = ")[0].split("=")[0].strip()
            if (CAPITALS.fullmatch(name) or name in FAMILIES) and name not in known:
                unknown.append((path.name, name))
        for key in re.findall(r'DBSESSIONS\["([^"]+)"\]', page):
            if key not in DEFAULTS:
                unknown.append((path.name, f'DBSESSIONS["{key}"]'))
    assert unknown == []


def test_every_check_named_exists():
    known = check_ids()
    for path in PAGES:
        named = set(re.findall(r"dbsessions\.[EW]\d{3}", text(path)))
        assert named <= known, (path.name, named - known)


def test_asvs_rows_are_the_chapter_s_requirements_each_with_a_verdict():
    rows = ASVS_ROW.findall(text(PAGE))
    assert [number for number, _, _ in rows] == list(ASVS_V7)
    assert {number: level for number, level, _ in rows} == ASVS_V7
    for number, _, verdict in rows:
        assert verdict.strip().startswith(VERDICTS), (number, verdict)
        if verdict.startswith("met by dbsessions"):
            assert TEST_REFERENCE.search(verdict), (number, verdict)


def test_security_md_links_to_the_docs_page():
    policy = FENCE.sub("", text(POLICY))
    targets = [target for target, _ in LINK.findall(policy)]
    assert "docs/security.md" in targets


def test_links_of_security_md_name_files_and_headings_that_exist():
    for target, anchor in LINK.findall(FENCE.sub("", text(POLICY))):
        if re.match(r"[a-z]+:", target):
            continue
        path = (ROOT / target) if target else POLICY
        assert path.exists(), target
        if anchor:
            assert anchor in github_anchors(path.read_text()), (target, anchor)


def test_the_docs_page_includes_the_reporting_policy_of_security_md():
    (start, end), *others = INCLUDE.findall(text(PAGE))
    assert others == []
    policy = text(POLICY)
    assert policy.count(start) == 1 and policy.count(end) == 1
    included = policy.split(start, 1)[1].split(end, 1)[0]
    assert "## Reporting a vulnerability" in included
    assert "## Supported versions" in included
    # The included part is read from docs/ by Sphinx and from the root on GitHub: a relative
    # link would break in one of the two.
    assert [t for t, _ in LINK.findall(included) if not re.match(r"[a-z]+:", t)] == []


def test_the_docs_page_is_in_the_using_dbsessions_toctree():
    index = text(ROOT / "docs" / "index.md")
    toctree = index.split(":caption: Using dbsessions", 1)[1].split("```", 1)[0]
    assert "security" in toctree.split()
