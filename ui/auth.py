"""Sign-in, sign-out and the guard every page starts with.

streamlit-authenticator signs and reads the session cookie; this module keeps the rest in the
database: the credentials (bcrypt hashes), the lockout after five wrong passwords, and whether
an account is still active. Roles are only data until a guard checks them.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager

import streamlit as st
import streamlit_authenticator as stauth
from sqlalchemy.engine import Engine
from sqlmodel import Session

from data_access import users
from data_access.db import DatabaseUnavailable, check_connection, make_engine, session_scope
from data_access.migrate import upgrade
from data_access.users import SignedInUser
from ui.format import local_time_text
from ui.navigation import PAGES, spec_for
from ui.presentation import presenting
from ui.secrets import MissingSecret, cookie_key

log = logging.getLogger(__name__)

COOKIE_NAME = "hypercare_desk_session"
AUTH_KEYS = ("authentication_status", "username", "name", "roles", "email")


@st.cache_resource(show_spinner="Opening the database…")
def _engine_for(url: str | None) -> Engine:
    engine = make_engine(url)
    check_connection(engine)
    upgrade(engine)
    return engine


def engine() -> Engine:
    """The app's engine (cached per process); stops the page with one sentence if unusable."""
    try:
        return _engine_for(os.environ.get("DATABASE_URL") or None)
    except DatabaseUnavailable as exc:
        st.error(str(exc), icon=":material/database:")
        st.stop()
    except Exception:
        log.exception("database start-up failed")
        st.error(
            "The database could not be prepared; the server log has the details.",
            icon=":material/database:",
        )
        st.stop()


@contextmanager
def read_session() -> Iterator[Session]:
    with Session(engine()) as session:
        yield session


def write_session():
    """A transaction: commits when the block ends, rolls back on any error."""
    return session_scope(engine())


def _authenticator() -> stauth.Authenticate:
    try:
        key = cookie_key(embedded_default=not os.environ.get("DATABASE_URL"))
    except MissingSecret as exc:
        st.error(str(exc), icon=":material/key:")
        st.stop()
    with read_session() as session:
        credentials = users.credentials(session=session)
    return stauth.Authenticate(
        credentials,
        cookie_name=COOKIE_NAME,
        cookie_key=key,
        cookie_expiry_days=1,
        auto_hash=False,
        login_sleep_time=0,
    )


def _clear_session() -> None:
    for name in AUTH_KEYS:
        st.session_state.pop(name, None)


def sign_out(authenticator: stauth.Authenticate | None = None) -> None:
    """Forget the session and its cookie (the cookie only where a browser is attached)."""
    if authenticator is not None:
        try:
            authenticator.logout(location="unrendered")
        except Exception:
            log.debug("authenticator logout failed; clearing state directly", exc_info=True)
    _clear_session()
    st.session_state["logout"] = True


def _restore_from_cookie(authenticator: stauth.Authenticate) -> None:
    try:
        authenticator.login(location="unrendered")
    except stauth.LoginError:
        # A signed cookie for a user who is no longer active: drop it.
        sign_out(authenticator)


def _attempt(authenticator: stauth.Authenticate, username: str, password: str) -> str | None:
    """Check one sign-in; returns the sentence to show when it fails."""
    username = username.strip().lower()
    if not username or not password:
        return "Enter your username and password."
    with write_session() as session:
        locked_until = users.lock_state(session=session, username=username)
        if locked_until is not None:
            return _locked_message(locked_until)
        account = users.get_user(session=session, username=username)
        if (
            account is not None
            and account.is_active
            and users.password_matches(password, account.password_hash)
        ):
            users.record_successful_login(session=session, username=username)
        else:
            locked_until = users.record_failed_login(session=session, username=username)
            if locked_until is not None:
                return _locked_message(locked_until)
            return "The username or password is wrong."
    st.session_state["logout"] = False
    authenticator.authentication_controller.login(token={"username": username})
    # The cookie is written on the next, signed-in run: a component rendered just before
    # st.rerun() may never reach the browser.
    st.session_state["cookie_to_set"] = True
    return None


def _locked_message(until) -> str:
    return (
        "This account is locked after five wrong passwords; try again after "
        f"{local_time_text(until, 'UTC')} UTC or ask an administrator to reset it."
    )


def sign_in_form(authenticator: stauth.Authenticate, notice: str | None = None) -> None:
    """The sign-in prompt as the only page (so no navigation shows); stops the run."""

    def sign_in_page() -> None:
        st.title("HyperCare Desk")
        st.caption("Premium support, customer success and HyperCare programme management.")
        if notice:
            st.warning(notice)
        with st.form("sign_in", clear_on_submit=False):
            username = st.text_input("Username", autocomplete="username")
            password = st.text_input("Password", type="password", autocomplete="current-password")
            submitted = st.form_submit_button("Sign in", type="primary")
        if submitted:
            problem = _attempt(authenticator, username, password)
            if problem is None:
                st.rerun()
            st.error(problem)

    # Every page's URL shows the sign-in form (no "page not found"), and after signing in
    # the same URL opens the page itself: deep links survive the sign-in.
    entry = [st.Page(sign_in_page, title="Sign in", default=True)]
    entry += [st.Page(sign_in_page, title="Sign in", url_path=spec.url_path) for spec in PAGES]
    st.navigation(entry, position="hidden").run()
    st.stop()


def _request_sign_out() -> None:
    """Button callback: runs before the next script run, whichever script that is."""
    _clear_session()
    st.session_state["logout"] = True
    st.session_state["cookie_to_delete"] = True


def start_session() -> SignedInUser:
    """For `app.py`: restore or ask for a sign-in, then return the active signed-in user."""
    authenticator = _authenticator()
    if st.session_state.pop("cookie_to_delete", False):
        authenticator.cookie_controller.delete_cookie()
    if not st.session_state.get("authentication_status"):
        _restore_from_cookie(authenticator)
    if not st.session_state.get("authentication_status"):
        sign_in_form(authenticator)
    user = _active_user()
    if user is None:
        sign_out(authenticator)
        sign_in_form(authenticator, "Your account is no longer active; you have been signed out.")
    if st.session_state.pop("cookie_to_set", False):
        authenticator.cookie_controller.set_cookie()
    if not presenting():  # the meeting-room screen shows the presentation only
        with st.sidebar:
            st.caption(f"Signed in as **{user.name}** · {', '.join(user.roles)}")
            st.button(
                "Sign out", icon=":material/logout:", key="sign_out", on_click=_request_sign_out
            )
    return user


def _active_user() -> SignedInUser | None:
    username = st.session_state.get("username")
    if not username:
        return None
    with read_session() as session:
        return users.signed_in_user(session=session, username=username)


def require_access(page_file: str) -> SignedInUser:
    """The first line of every page: nothing renders unless signed in with an allowed role.

    A page file can be run directly (its URL opened on a fresh server before `app.py` ran),
    so this must not rely on anything `app.py` set up.
    """
    if not st.session_state.get("authentication_status"):
        st.info("Please sign in to use HyperCare Desk.", icon=":material/lock:")
        st.link_button("Go to sign-in", "./", icon=":material/login:")
        st.stop()
    user = _active_user()
    if user is None:
        _request_sign_out()
        st.warning("Your account is no longer active; you have been signed out.")
        st.link_button("Go to sign-in", "./", icon=":material/login:")
        st.stop()
    if not spec_for(page_file).roles.intersection(user.roles):
        st.error("Your role does not give access to this page.", icon=":material/block:")
        st.stop()
    return user
