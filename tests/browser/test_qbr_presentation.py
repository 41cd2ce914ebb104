"""The QBR in presentation mode on a real screen: no sidebar, no other customer, Next moves on."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect
from sqlalchemy import text

from data_access.db import make_engine
from tests.browser.test_browser import SLOW, customer_names, sign_in, wait_settled
from tests.conftest import DEMO_PASSWORD


def oldest_customer(database_url: str) -> tuple[int, str]:
    with make_engine(database_url).connect() as connection:
        return connection.execute(
            text("SELECT id, name FROM customer ORDER BY hypercare_start, id LIMIT 1")
        ).one()


def test_presentation_shows_one_customer_one_section_and_no_sidebar(fresh_server, page: Page):
    customer_id, name = oldest_customer(fresh_server.database_url)
    others = [other for other in customer_names(fresh_server.database_url) if other != name]
    page.set_viewport_size({"width": 1600, "height": 1000})
    sign_in(page, fresh_server.url, "manager", DEMO_PASSWORD)
    expect(page.locator('[data-testid="stSidebar"]')).to_be_visible(timeout=SLOW)

    page.goto(f"{fresh_server.url}/qbr?customer={customer_id}&present=1")
    wait_settled(page)
    expect(page.get_by_text(re.compile(r"^Section 1 of \d+$"))).to_be_visible(timeout=SLOW)
    expect(page.locator('[data-testid="stSidebar"]')).to_have_count(0)
    expect(page.locator('[data-testid="stSidebarCollapsedControl"]')).to_have_count(0)
    expect(page.get_by_role("button", name="Sign out")).to_have_count(0)
    expect(page.locator('[data-testid="stSelectbox"]')).to_have_count(0)
    body = page.locator("body").inner_text()
    assert name in body
    assert not [other for other in others if other in body]
    first_title = page.locator("h1").first.inner_text()

    page.get_by_role("button", name="Next").click()
    expect(page.get_by_text(re.compile(r"^Section 2 of \d+$"))).to_be_visible(timeout=SLOW)
    wait_settled(page)
    assert page.locator("h1").first.inner_text() != first_title
    assert "slide=2" in page.url
    body = page.locator("body").inner_text()
    assert not [other for other in others if other in body]

    page.get_by_role("button", name="Exit presentation").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible(timeout=SLOW)
    expect(page.locator('[data-testid="stSelectbox"]').first).to_be_visible(timeout=SLOW)

    page.get_by_text("Presentation mode").click()
    expect(page.get_by_text(re.compile(r"^Section 1 of \d+$"))).to_be_visible(timeout=SLOW)
    expect(page.locator('[data-testid="stSidebar"]')).to_be_hidden()
    expect(page.get_by_role("button", name="Sign out")).to_have_count(0)
    assert "present=1" in page.url
