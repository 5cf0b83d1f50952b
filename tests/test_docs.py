"""The documentation names what the code has, and only that.

A setting, a system check or a command option added to the code without a word in the docs
fails here, and so does a page that still documents one the code no longer has. Links between
pages must name a heading of their target as GitHub spells its anchors, so that they work
both on the docs site and when the Markdown is read on GitHub.
"""

import re
from pathlib import Path

import pytest
from django.core.management import load_command_class
from django.core.management.base import BaseCommand

from dbsessions.conf import DEFAULTS

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
CHECKS_SOURCE = ROOT / "dbsessions" / "checks.py"
COMMANDS = (
    "install_session_schema",
    "purge_sessions",
    "session_stats",
    "clearsessions",
    "import_sessions",
)

HEADING = re.compile(r"^(#{1,6}) +(.+?) *#*$", re.MULTILINE)
FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)
LINK = re.compile(r"\]\(([^()\s]*?)(?:#([^()\s]+))?\)")


def page(name: str) -> str:
    return (DOCS / name).read_text()


def headings(text: str) -> list[str]:
    """The headings of a Markdown page, outside code blocks, as written (without the #s)."""
    return [match.group(2) for match in HEADING.finditer(FENCE.sub("", text))]


def github_anchors(text: str) -> set[str]:
    """The anchors GitHub (and MyST's default slugs) give the headings of a page."""
    anchors: set[str] = set()
    for heading in headings(text):
        slug = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        candidate, count = slug, 0
        while candidate in anchors:
            count += 1
            candidate = f"{slug}-{count}"
        anchors.add(candidate)
    return anchors


def code_headings(name: str) -> set[str]:
    """The headings of a page that are one code span, such as ``RETRIES``."""
    return {h[1:-1] for h in headings(page(name)) if re.fullmatch(r"`[^`]+`", h)}


def check_ids() -> set[str]:
    return set(re.findall(r'id="(dbsessions\.[EW]\d{3})"', CHECKS_SOURCE.read_text()))


def test_every_setting_has_its_heading():
    documented = code_headings("configuration.md")
    assert set(DEFAULTS) <= documented, set(DEFAULTS) - documented


def test_every_documented_dbsessions_setting_exists():
    text = page("configuration.md")
    section = text.split("## `DBSESSIONS` keys", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"^### `([A-Z_]+)`$", section, re.MULTILINE))
    assert documented == set(DEFAULTS)


def test_every_check_has_its_heading():
    assert check_ids() == code_headings("checks.md")


def test_no_page_names_a_check_the_code_lacks():
    known = check_ids()
    for path in [*DOCS.glob("*.md"), ROOT / "README.md"]:
        named = set(re.findall(r"dbsessions\.[EW]\d{3}", path.read_text()))
        assert named <= known, (path.name, named - known)


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_option_is_documented(command):
    own = options_of(command) - options_of_every_command()
    section = command_section(command)
    assert {option for option in own if f"`{option}" not in section} == set()


def test_no_page_names_an_option_a_command_lacks():
    for command in COMMANDS:
        named = set(re.findall(r"`(--[a-z][a-z-]*)", command_section(command)))
        assert named <= options_of(command), (command, named - options_of(command))


def test_links_name_files_and_headings_that_exist():
    sources = [*DOCS.glob("*.md"), ROOT / "README.md"]
    for source in sources:
        for target, anchor in LINK.findall(FENCE.sub("", source.read_text())):
            if re.match(r"[a-z]+:", target):
                continue
            path = (source.parent / target) if target else source
            assert path.exists(), (source.name, target)
            if anchor:
                assert anchor in github_anchors(path.read_text()), (source.name, target, anchor)


def options_of(command: str) -> set[str]:
    parser = load_command_class("dbsessions", command).create_parser("manage.py", command)
    return {option for action in parser._actions for option in action.option_strings}


def options_of_every_command() -> set[str]:
    """--verbosity, --settings, --help and the other options Django gives every command."""
    parser = BaseCommand().create_parser("manage.py", "command")
    return {option for action in parser._actions for option in action.option_strings}


def command_section(command: str) -> str:
    """The part of commands.md under the command's own heading."""
    return page("commands.md").split(f"## `{command}`", 1)[1].split("\n## ", 1)[0]
