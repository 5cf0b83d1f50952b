"""End sessions through the admin and the "your sessions" page, in a real headless Chromium.

Debian's ``chromium`` drives the demo site served by pytest-django's ``live_server``; no
browser is ever downloaded. Screenshots land in ``artifacts/browser/`` (not committed).
"""

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connections

from dbsessions.conf import app_settings
from dbsessions.keys import hash_key
from dbsessions.models import Session

pytestmark = [pytest.mark.browser, pytest.mark.django_db(databases="__all__", transaction=True)]

ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts" / "browser"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PASSWORD = "correct-horse-battery"


def chromium_path() -> str:
    path = os.environ.get("DBSESSIONS_CHROMIUM") or shutil.which("chromium") or ""
    if not path:
        message = "no Chromium: install Debian's chromium (scripts/test.sh does as root)"
        if os.environ.get("CI") in ("true", "1"):
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture
def browser(monkeypatch) -> Iterator:
    playwright_api = pytest.importorskip("playwright.sync_api")
    # Playwright's sync API runs an event loop in this thread; the ORM calls the test makes
    # between browser steps are still plain synchronous code.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium_path(), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()
            # While Playwright's loop runs, asgiref gives the ORM context-local connections
            # of their own; close them here, or they keep the test database in use.
            connections.close_all()


@pytest.fixture
def carol(django_user_model):
    return django_user_model.objects.create_user("carol", password=PASSWORD)


@pytest.fixture
def boss(django_user_model):
    return django_user_model.objects.create_superuser("boss", "boss@example.com", PASSWORD)


def log_in(
    browser, base_url: str, username: str, path: str = "/accounts/login/", width: int = 960
):
    """A fresh browser context (its own cookie jar) logged in as ``username``."""
    context = browser.new_context(viewport={"width": width, "height": 640})
    page = context.new_page()
    page.goto(f"{base_url}{path}")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("form [type=submit]")
    page.wait_for_load_state()
    return page


def session_row(page) -> Session:
    cookie = next(c for c in page.context.cookies() if c["name"] == settings.SESSION_COOKIE_NAME)
    return Session.objects.using(app_settings.DATABASE).get(key_hash=hash_key(cookie["value"]))


def logged_in_as(page, base_url: str) -> str | None:
    """Load the home page and return the username shown in the nav, or None."""
    page.goto(f"{base_url}/")
    if page.locator("nav a", has_text="Log in").count():
        return None
    return page.locator("nav span:not(.spacer)").inner_text().strip()


def shoot(page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


def test_admin_ends_one_of_two_sessions(browser, live_server, carol, boss):
    base = live_server.url
    first = log_in(browser, base, "carol")
    second = log_in(browser, base, "carol")
    assert logged_in_as(first, base) == logged_in_as(second, base) == "carol"
    first_row, second_row = session_row(first), session_row(second)

    admin = log_in(browser, base, "boss", "/admin/login/?next=/admin/", width=1500)
    admin.goto(f"{base}/admin/auth/user/{carol.pk}/change/")
    assert "2 active sessions" in admin.locator("#dbsessions-user-sessions").inner_text()
    shoot(admin, "admin-user-page")
    admin.goto(f"{base}/admin/dbsessions/session/?q=carol")
    listed = admin.locator("#result_list tbody tr")
    assert listed.count() == 2
    assert admin.locator("#result_list").inner_text().count("carol") == 2
    assert admin.locator(".dbsessions-dashboard svg rect").count() == 24
    shoot(admin, "admin-changelist")

    admin.check(f"input[name=_selected_action][value='{first_row.pk}']")
    admin.select_option("select[name=action]", "end_selected_sessions")
    admin.click("button[name=index]")
    admin.wait_for_selector("#dbsessions-to-end")
    assert f"#{first_row.pk}" in admin.locator("#dbsessions-to-end").inner_text()
    shoot(admin, "admin-confirm")
    admin.click("input[value='Yes, end 1 session']")
    admin.wait_for_selector(".messagelist")
    assert "Ended 1 session." in admin.locator(".messagelist").inner_text()
    assert admin.locator("#result_list tbody tr").count() == 1

    assert logged_in_as(first, base) is None
    assert logged_in_as(second, base) == "carol"
    assert not Session.objects.using(app_settings.DATABASE).filter(pk=first_row.pk).exists()
    assert Session.objects.using(app_settings.DATABASE).filter(pk=second_row.pk).exists()


def test_user_ends_another_device_from_your_sessions(browser, live_server, carol):
    base = live_server.url
    laptop = log_in(browser, base, "carol")
    phone = log_in(browser, base, "carol")
    laptop_row = session_row(laptop)

    phone.goto(f"{base}/")
    phone.click("nav a:text('Your sessions')")
    rows = phone.locator("#dbsessions-sessions tbody tr")
    assert rows.count() == 2
    assert "This device" in rows.nth(0).inner_text()
    shoot(phone, "your-sessions")

    rows.nth(1).locator("button", has_text="End").click()
    phone.wait_for_load_state()
    assert phone.locator("#dbsessions-sessions tbody tr").count() == 1
    assert "You are not logged in anywhere else." in phone.content()

    assert logged_in_as(laptop, base) is None
    assert logged_in_as(phone, base) == "carol"
    assert not Session.objects.using(app_settings.DATABASE).filter(pk=laptop_row.pk).exists()


def test_user_logs_out_everywhere_else(browser, live_server, carol):
    base = live_server.url
    others = [log_in(browser, base, "carol") for _ in range(2)]
    here = log_in(browser, base, "carol")

    here.goto(f"{base}/accounts/sessions/")
    here.click("#dbsessions-end-others")
    here.wait_for_load_state()
    assert "Ended 2 other sessions." in here.content()

    assert [logged_in_as(page, base) for page in others] == [None, None]
    assert logged_in_as(here, base) == "carol"


def test_admin_finds_a_session_by_its_cookie_key_without_putting_it_in_a_url(
    browser, live_server, carol, boss
):
    base = live_server.url
    laptop = log_in(browser, base, "carol")
    key = next(
        c["value"] for c in laptop.context.cookies() if c["name"] == settings.SESSION_COOKIE_NAME
    )
    admin = log_in(browser, base, "boss", "/admin/login/?next=/admin/", width=1500)
    urls: list[str] = []
    admin.on("request", lambda request: urls.append(request.url))
    admin.goto(f"{base}/admin/dbsessions/session/")

    admin.fill("#dbsessions-find-key", key)
    admin.click(".dbsessions-find-key [type=submit]")
    admin.wait_for_load_state()

    assert admin.url.endswith(f"?q=%23{session_row(laptop).pk}")
    assert admin.locator("#result_list tbody tr").count() == 1
    assert "carol" in admin.locator("#result_list").inner_text()
    assert not [url for url in urls if key in url]
    assert key not in admin.content()
