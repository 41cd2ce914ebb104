"""Enterprise sign-in in a real browser: a local OIDC provider (oidc-provider-mock) started by the
test, the app configured for it through a temporary secrets file, and Chromium going through
the provider's form and back."""

from __future__ import annotations

import json
import os
import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import oidc_provider_mock
import pytest
import werkzeug.serving
from playwright.sync_api import Page, expect
from sqlalchemy import text

from data_access.db import make_engine
from data_access.sso import NO_ACCOUNT, UNVERIFIED
from tests.browser.conftest import Server, _free_port, start_server, stop_server
from tests.browser.test_browser import SLOW, session_cookie, wait_settled

PROVIDER_LABEL = "Acme SSO"
# Identities the provider offers as one-click buttons on its form (named by `sub`).
IDENTITIES = (
    # A seeded survey_staff user, e-mail in another case than in our database.
    oidc_provider_mock.User(
        sub="noor", claims={"email": "Surveys@HyperCare.example", "email_verified": True}
    ),
    oidc_provider_mock.User(
        sub="stranger", claims={"email": "stranger@elsewhere.example", "email_verified": True}
    ),
    # A seeded user's e-mail, but the provider has not verified it.
    oidc_provider_mock.User(
        sub="unverified", claims={"email": "csm.na@hypercare.example", "email_verified": False}
    ),
)


@dataclass
class Provider:
    url: str


@pytest.fixture(scope="module")
def provider() -> Iterator[Provider]:
    """oidc-provider-mock on a free 127.0.0.1 port, in a thread of the test process."""
    previous = os.environ.get("AUTHLIB_INSECURE_TRANSPORT")
    os.environ["AUTHLIB_INSECURE_TRANSPORT"] = "1"  # plain http on 127.0.0.1
    server = werkzeug.serving.make_server(
        "127.0.0.1", 0, oidc_provider_mock.app(user_claims=IDENTITIES), threaded=True
    )
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1})
    thread.start()
    try:
        yield Provider(url=f"http://127.0.0.1:{server.server_port}")
    finally:
        server.shutdown()
        thread.join(5)
        server.server_close()
        if previous is None:
            os.environ.pop("AUTHLIB_INSECURE_TRANSPORT", None)
        else:
            os.environ["AUTHLIB_INSECURE_TRANSPORT"] = previous


@pytest.fixture
def sso_server(seeded_database, provider, tmp_path) -> Iterator[Server]:
    """The app with `[auth]` in a temporary secrets file (never the repository's own)."""
    port = _free_port()
    secrets_file = Path(tmp_path) / "secrets.toml"
    settings = {
        "redirect_uri": f"http://127.0.0.1:{port}/oauth2callback",
        "cookie_secret": secrets.token_urlsafe(32),
    }
    provider_settings = {
        "label": PROVIDER_LABEL,
        "client_id": "hypercare-desk",
        "client_secret": secrets.token_urlsafe(16),
        "server_metadata_url": f"{provider.url}/.well-known/openid-configuration",
    }
    lines = ["[auth]", *(f"{k} = {json.dumps(v)}" for k, v in settings.items()), "[auth.acme]"]
    lines += [f"{k} = {json.dumps(v)}" for k, v in provider_settings.items()]
    secrets_file.write_text("\n".join(lines) + "\n")
    server = start_server(
        seeded_database, port=port, extra_args=("--secrets.files", str(secrets_file))
    )
    yield server
    stop_server(server)


def sign_in_at_provider(page: Page, base: str, sub: str) -> None:
    page.goto(base)
    wait_settled(page)
    page.get_by_role("button", name=f"Sign in with {PROVIDER_LABEL}").click(timeout=SLOW)
    # The provider's own page: its one-click button for that identity.
    page.get_by_role("button", name=sub, exact=True).click(timeout=SLOW)
    page.wait_for_url(f"{base}/**", timeout=SLOW)


def audit_rows(database_url: str, action: str) -> list[str]:
    with make_engine(database_url).connect() as connection:
        return list(
            connection.execute(
                text("SELECT actor FROM audit_log WHERE action = :a ORDER BY id"), {"a": action}
            ).scalars()
        )


def nav_links(page: Page) -> list[str]:
    return page.locator('[data-testid="stSidebarNav"] a').all_inner_texts()


def test_a_verified_email_signs_in_its_account_with_its_roles_and_sign_out_ends_both(
    sso_server, page: Page
):
    before = audit_rows(sso_server.database_url, "sso_sign_in")

    sign_in_at_provider(page, sso_server.url, "noor")

    expect(page.get_by_role("button", name="Sign out")).to_be_visible(timeout=SLOW)
    expect(page.get_by_text("Signed in as Noor Haddad")).to_be_visible()
    links = " ".join(nav_links(page))
    assert "Adoption survey" in links
    assert "Portfolio" not in links and "Administration" not in links and "Admin" not in links
    assert audit_rows(sso_server.database_url, "sso_sign_in") == [*before, "surveys"]
    wait_settled(page)
    assert session_cookie(page)  # a reload stays signed in like a password sign-in

    page.reload()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible(timeout=SLOW)
    wait_settled(page)

    page.get_by_role("button", name="Sign out").click()
    # Our cookie goes first, then st.logout() sends the browser to the provider's sign-out.
    page.get_by_role("button", name="End session").click(timeout=SLOW)
    page.wait_for_url(f"{sso_server.url}/**", timeout=SLOW)
    expect(page.get_by_role("button", name=f"Sign in with {PROVIDER_LABEL}")).to_be_visible(
        timeout=SLOW
    )
    wait_settled(page)
    assert session_cookie(page) is None
    assert not [c for c in page.context.cookies() if c["name"].startswith("_streamlit_user")]
    page.reload()
    wait_settled(page)
    expect(page.get_by_role("textbox", name="Username")).to_be_visible()
    expect(page.get_by_role("button", name="Sign out")).to_have_count(0)


def test_an_email_without_an_account_is_refused_with_one_sentence(sso_server, page: Page):
    sign_in_at_provider(page, sso_server.url, "stranger")

    expect(page.get_by_text(NO_ACCOUNT)).to_be_visible(timeout=SLOW)
    expect(page.get_by_role("button", name="Sign out")).to_have_count(0)
    assert nav_links(page) == []
    assert session_cookie(page) is None
    assert "sso:stranger@elsewhere.example" in audit_rows(
        sso_server.database_url, "sso_sign_in_refused"
    )

    # The refused identity can be left for another one: st.logout() at the provider.
    page.get_by_role("button", name="Use another account").click()
    page.get_by_role("button", name="End session").click(timeout=SLOW)
    page.wait_for_url(f"{sso_server.url}/**", timeout=SLOW)
    wait_settled(page)
    expect(page.get_by_role("textbox", name="Username")).to_be_visible(timeout=SLOW)
    expect(page.get_by_text(NO_ACCOUNT)).to_have_count(0)


def test_an_unverified_email_is_refused_even_though_an_account_uses_it(sso_server, page: Page):
    sign_in_at_provider(page, sso_server.url, "unverified")

    expect(page.get_by_text(UNVERIFIED)).to_be_visible(timeout=SLOW)
    expect(page.get_by_role("button", name="Sign out")).to_have_count(0)
    assert session_cookie(page) is None
