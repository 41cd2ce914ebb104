"""The session cookie in a real browser: a forged cookie means signed out and is deleted, and a
session ended elsewhere (its session version raised) is signed out on reload, cookie and all."""

from __future__ import annotations

import time

import jwt
from playwright.sync_api import Page, expect
from sqlalchemy import text

from data_access.db import make_engine
from tests.browser.test_browser import SLOW, session_cookie, sign_in, wait_for, wait_settled
from tests.conftest import DEMO_PASSWORD
from ui.auth import COOKIE_NAME


def test_a_forged_cookie_shows_the_sign_in_form_and_is_deleted(fresh_server, page: Page):
    forged = jwt.encode(
        {"username": "admin", "sv": 0, "exp_date": time.time() + 3600}, None, algorithm="none"
    )
    page.context.add_cookies([{"name": COOKIE_NAME, "value": forged, "url": fresh_server.url}])
    page.goto(fresh_server.url)
    wait_settled(page)
    expect(page.get_by_role("button", name="Sign in")).to_be_visible(timeout=SLOW)
    expect(page.locator('[data-testid="stException"]')).to_have_count(0)
    expect(page.get_by_role("button", name="Sign out")).to_have_count(0)
    wait_for(lambda: session_cookie(page) is None)


def test_a_session_ended_elsewhere_is_signed_out_on_reload(fresh_server, page: Page):
    sign_in(page, fresh_server.url, "manager", DEMO_PASSWORD)
    wait_for(lambda: session_cookie(page) is not None)
    with make_engine(fresh_server.database_url).begin() as connection:
        connection.execute(
            text(
                "UPDATE app_user SET session_version = session_version + 1 "
                "WHERE username = 'manager'"
            )
        )
    page.reload()
    expect(page.get_by_role("button", name="Sign in")).to_be_visible(timeout=SLOW)
    expect(page.locator('[data-testid="stDataFrame"]')).to_have_count(0)
    wait_for(lambda: session_cookie(page) is None)
