"""Sign in, navigate and sign out in a real browser; direct page URLs stay closed; lockout."""

from __future__ import annotations

import re
import time

from playwright.sync_api import Page, expect
from sqlalchemy import text

from data_access.db import make_engine
from tests.conftest import DEMO_PASSWORD
from ui.auth import COOKIE_NAME
from ui.navigation import PAGES

IDLE = '[data-testid="stApp"][data-test-script-state="notRunning"]'


def wait_idle(page: Page) -> None:
    page.wait_for_selector(IDLE, timeout=30_000)


def wait_settled(page: Page) -> None:
    """Idle, and still idle after the cookie component's round trip (which triggers a rerun)."""
    wait_idle(page)
    page.wait_for_timeout(1_500)
    wait_idle(page)


def customer_names(database_url: str) -> list[str]:
    with make_engine(database_url).connect() as connection:
        return [row[0] for row in connection.execute(text("SELECT name FROM customer"))]


SLOW = 30_000  # ms: a first page run on a shared CI machine can take seconds


def sign_in(page: Page, base: str, username: str, password: str) -> None:
    page.goto(base)
    wait_settled(page)
    page.get_by_role("textbox", name="Username").fill(username)
    page.get_by_role("textbox", name="Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible(timeout=SLOW)
    # The cookie component writes the session cookie after the signed-in run; a test that opens
    # another URL next (a new session) must not get there first.
    wait_for(lambda: session_cookie(page) is not None)


def failed_logins(database_url: str, username: str) -> tuple[int, object]:
    with make_engine(database_url).connect() as connection:
        return connection.execute(
            text("SELECT failed_logins, locked_until FROM app_user WHERE username = :u"),
            {"u": username},
        ).one()


def session_cookie(page: Page) -> str | None:
    return next((c["value"] for c in page.context.cookies() if c["name"] == COOKIE_NAME), None)


def wait_for(condition, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.2)


def test_direct_page_urls_on_a_fresh_server_show_no_customer_data(fresh_server, page: Page):
    names = customer_names(fresh_server.database_url)
    for spec in PAGES:
        page.goto(f"{fresh_server.url}/{spec.url_path}")
        wait_idle(page)
        expect(page.get_by_text("Please sign in to use HyperCare Desk.")).to_be_visible()
        body = page.locator("body").inner_text()
        assert not [name for name in names if name in body], spec.url_path
        assert page.locator('[data-testid="stDataFrame"]').count() == 0


def test_sign_in_navigate_and_sign_out(fresh_server, page: Page):
    sign_in(page, fresh_server.url, "admin", DEMO_PASSWORD)
    expect(page.get_by_role("heading", name="Portfolio").first).to_be_visible(timeout=SLOW)
    expect(page.locator('[data-testid="stDataFrame"]')).to_be_visible(timeout=SLOW)
    wait_for(lambda: session_cookie(page) is not None)
    page.reload()
    expect(page.get_by_role("heading", name="Portfolio").first).to_be_visible(timeout=SLOW)
    # The reloaded page reruns once more when the cookie component reports back. A click on Admin
    # made before that was lost (no Administration page) in a fresh-clone CI run and in 1 of 9
    # local runs, so wait for the page to settle, as `sign_in` does.
    wait_settled(page)
    more = page.get_by_text(re.compile(r"^View \d+ more$"))
    if more.count():
        more.click()
    page.get_by_role("link", name="Admin", exact=True).click()
    expect(page.get_by_role("heading", name="Administration").first).to_be_visible(timeout=SLOW)
    assert re.search(r"/admin$", page.url)
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("button", name="Sign in")).to_be_visible(timeout=SLOW)
    expect(page.get_by_role("link", name="Admin", exact=True)).to_have_count(0)
    wait_for(lambda: session_cookie(page) is None)
    page.reload()
    expect(page.get_by_role("button", name="Sign in")).to_be_visible(timeout=SLOW)
    expect(page.locator('[data-testid="stDataFrame"]')).to_have_count(0)


def test_survey_staff_navigation_has_no_customer_pages(fresh_server, page: Page):
    sign_in(page, fresh_server.url, "surveys", DEMO_PASSWORD)
    expect(page.get_by_role("link", name="My account")).to_be_visible(timeout=SLOW)
    nav = page.locator('[data-testid="stSidebarNav"]').inner_text()
    assert "Adoption survey" in nav
    assert not {"Portfolio", "Admin", "Case queue", "Survey results"} & set(nav.splitlines())
    page.goto(f"{fresh_server.url}/portfolio")
    wait_idle(page)
    time.sleep(1)
    body = page.locator("body").inner_text()
    assert not [name for name in customer_names(fresh_server.database_url) if name in body]


def test_five_wrong_passwords_lock_the_account(fresh_server, page: Page):
    page.goto(fresh_server.url)
    wait_settled(page)
    for attempt in range(1, 6):
        page.get_by_role("textbox", name="Username").fill("csm.na2")
        page.get_by_role("textbox", name="Password").fill(f"wrong-password-{attempt}")
        page.get_by_role("button", name="Sign in").click()
        if attempt < 5:
            wait_for(lambda a=attempt: failed_logins(fresh_server.database_url, "csm.na2")[0] == a)
    wait_for(lambda: failed_logins(fresh_server.database_url, "csm.na2")[1] is not None)
    locked = page.get_by_text(re.compile("locked after five wrong passwords"))
    expect(locked).to_be_visible(timeout=SLOW)
    page.get_by_role("textbox", name="Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    time.sleep(2)
    expect(locked).to_be_visible(timeout=SLOW)
    expect(page.get_by_role("button", name="Sign out")).to_have_count(0)
    expect(page.locator('[data-testid="stDataFrame"]')).to_have_count(0)
