"""Sign-in, sign-out, the session cookie and the guard every page starts with.

The password check, its lockout and the user's `session_version` live in the database
(`data_access.users`). A signed-in session keeps the username and the session version it
signed in with in `st.session_state`; the browser keeps the same two in a signed cookie (a JWT,
HS256 only) so a reload stays signed in. Every run re-reads the user: a deactivated account or
a changed session version (password change or reset, role change, "Sign out everywhere")
signs the session out. A cookie that is malformed, forged, expired or stale means "signed out"
and is deleted. streamlit-authenticator is used only for its cookie component.

Layout: the cookie (`encode_session_token`/`decode_session_token`, `_restore_from_cookie`), the
password sign-in (`_attempt`, `sign_in_form`), the session checks (`start_session` for
`app.py`, `require_access` for pages), and `keep_session` for a page that ended the user's
other sessions.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta

import jwt
import streamlit as st
import streamlit_authenticator as stauth
from sqlalchemy.engine import Engine
from sqlmodel import Session

from data_access import authentication
from data_access.audit import CommandRefused, record_sign_out
from data_access.authentication import SignedInUser
from data_access.db import DatabaseUnavailable, connected_engine, session_scope
from data_access.migrate import upgrade
from ui import oidc
from ui.format import plain_markdown
from ui.navigation import PAGES, spec_for
from ui.presentation import presenting
from ui.secrets import MissingSecret, cookie_key

log = logging.getLogger(__name__)

COOKIE_NAME = "hypercare_desk_session"
COOKIE_EXPIRY_DAYS = 1
TOKEN_ALGORITHM = "HS256"
SESSION_VERSION_KEY = "session_version"
REFUSED_KEY = "refused_session_cookie"
REFUSED_DELETIONS_KEY = "refused_session_cookie_deletions"
REFUSED_DELETIONS = 3
SIGNED_OUT_KEY = "signed_out_by"
AUTH_KEYS = ("authentication_status", "username", "name", "roles", "email", SESSION_VERSION_KEY)
SESSION_ENDED = (
    "Your session has ended (your password or roles changed, or you signed out everywhere); "
    "please sign in again."
)
# The user `start_session` read from the database at the start of this script run, while
# `app.py` runs the page (`read_for_this_run`): the page's guard checks that one instead of
# reading the same row again a few milliseconds later (3 % of a run under load). Set
# and reset around the page in the run's own thread; a page opened without app.py reads.
_READ_THIS_RUN: ContextVar[SignedInUser | None] = ContextVar("hypercare_user_read_this_run")
NO_LONGER_ACTIVE = "Your account is no longer active; you have been signed out."


@st.cache_resource(show_spinner="Opening the database…")
def _engine_for(url: str | None) -> Engine:
    engine = connected_engine(url)
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


def _cookie_key() -> str:
    try:
        return cookie_key(embedded_default=not os.environ.get("DATABASE_URL"))
    except MissingSecret as exc:
        st.error(str(exc), icon=":material/key:")
        st.stop()


def _authenticator() -> stauth.Authenticate:
    """The library object, for its cookie component only (credentials stay in the database)."""
    return stauth.Authenticate(
        {"usernames": {}},
        cookie_name=COOKIE_NAME,
        cookie_key=_cookie_key(),
        cookie_expiry_days=COOKIE_EXPIRY_DAYS,
        auto_hash=False,
        login_sleep_time=0,
    )


# --- The cookie ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class SessionToken:
    username: str
    session_version: int
    expires: float  # POSIX seconds


def encode_session_token(
    username: str, session_version: int, key: str, *, now: float | None = None
) -> str:
    """The signed cookie value: username, session version and expiry (HS256)."""
    expires = (now if now is not None else time.time()) + COOKIE_EXPIRY_DAYS * 86_400
    payload = {"username": username, "sv": session_version, "exp_date": expires}
    return jwt.encode(payload, key, algorithm=TOKEN_ALGORITHM)


def decode_session_token(
    token: object, key: str, *, now: float | None = None
) -> SessionToken | None:
    """The session a cookie names, or None for anything else: a missing, malformed, forged
    (another algorithm, `alg: none`, a wrong signature) or expired token, or one without a
    session version. Never raises."""
    if not isinstance(token, str) or not token:
        return None
    try:
        payload = jwt.decode(token, key, algorithms=[TOKEN_ALGORITHM])
    except (jwt.PyJWTError, ValueError, TypeError, KeyError):
        return None
    if not isinstance(payload, dict):
        return None
    username, version, expires = (payload.get(k) for k in ("username", "sv", "exp_date"))
    if not isinstance(username, str) or not username or type(version) is not int:
        return None
    if isinstance(expires, bool) or not isinstance(expires, int | float):
        return None
    if expires <= (now if now is not None else time.time()):
        return None
    return SessionToken(username=username, session_version=version, expires=float(expires))


def cookie_token() -> str | None:
    """The raw session cookie this browser sent with the page request, if any."""
    try:
        return st.context.cookies.get(COOKIE_NAME)
    except Exception:
        log.debug("no request cookies in this context", exc_info=True)
        return None


def _delete_cookie(authenticator: stauth.Authenticate) -> None:
    authenticator.cookie_controller.delete_cookie()


def _set_cookie(authenticator: stauth.Authenticate) -> None:
    username = st.session_state.get("username")
    version = st.session_state.get(SESSION_VERSION_KEY)
    if not username or type(version) is not int:
        return
    token = encode_session_token(username, version, authenticator.secret_key)
    authenticator.cookie_controller.cookie_model.cookie_manager.set(
        COOKIE_NAME, token, expires_at=datetime.now() + timedelta(days=COOKIE_EXPIRY_DAYS)
    )


def _restore_from_cookie(authenticator: stauth.Authenticate) -> None:
    """Sign the session in from a valid cookie of a session that has not ended; any other
    cookie means "signed out" and is deleted."""
    raw = cookie_token()
    # The request's cookies stay the same for the whole browser session: a cookie refused
    # once is not read again. Its deletion is sent on the next few runs too, since a cookie
    # component rendered on a run that a rerun cuts short may never reach the browser.
    if raw is not None and raw == st.session_state.get(REFUSED_KEY):
        resent = st.session_state.get(REFUSED_DELETIONS_KEY, 0)
        if resent < REFUSED_DELETIONS:
            st.session_state[REFUSED_DELETIONS_KEY] = resent + 1
            _delete_cookie(authenticator)
        return
    if raw is None or st.session_state.get("logout"):
        return
    token = decode_session_token(raw, authenticator.secret_key)
    user = None
    if token is not None:
        with read_session() as session:
            user = authentication.session_user(
                session=session, username=token.username, session_version=token.session_version
            )
    if user is None:
        st.session_state[REFUSED_KEY] = raw
        st.session_state[REFUSED_DELETIONS_KEY] = 0
        _delete_cookie(authenticator)
        return
    _remember(user)


# --- Signing in and out -------------------------------------------------------------------------


def _remember(user: SignedInUser) -> None:
    st.session_state["authentication_status"] = True
    st.session_state["username"] = user.username
    st.session_state["name"] = user.name
    st.session_state["roles"] = list(user.roles)
    st.session_state[SESSION_VERSION_KEY] = user.session_version


def keep_session(session_version: int) -> None:
    """After this session ended the user's other sessions (new password, "Sign out
    everywhere"): this one carries the new version, and its cookie is rewritten."""
    st.session_state[SESSION_VERSION_KEY] = session_version
    st.session_state["cookie_to_set"] = True


def _clear_session() -> None:
    for name in AUTH_KEYS:
        st.session_state.pop(name, None)


def sign_out(authenticator: stauth.Authenticate | None = None) -> None:
    """Forget the session and its cookie (the cookie only where a browser is attached)."""
    if authenticator is not None:
        try:
            _delete_cookie(authenticator)
        except Exception:
            log.debug("cookie deletion failed; clearing state directly", exc_info=True)
    _clear_session()
    st.session_state["logout"] = True


def _attempt(username: str, password: str) -> str | None:
    """Check one sign-in; returns the sentence to show when it fails."""
    try:
        user = authentication.sign_in(engine=engine(), username=username, password=password)
    except CommandRefused as exc:
        return str(exc)
    st.session_state["logout"] = False
    _remember(user)
    # The cookie is written on the next, signed-in run: a component rendered just before
    # st.rerun() may never reach the browser.
    st.session_state["cookie_to_set"] = True
    return None


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
            problem = _attempt(username, password)
            if problem is None:
                st.rerun()
            st.error(problem)
        oidc.sign_in_options()  # "Sign in with <provider>" when [auth] is configured

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
    oidc.request_end_identity()  # and st.logout() from the provider, once the cookie is gone


def _sign_out_clicked() -> None:
    """The Sign out button: who left is kept for the next run to audit (callbacks never write)."""
    st.session_state[SIGNED_OUT_KEY] = st.session_state.get("username")
    _request_sign_out()


def _audit_sign_out() -> None:
    """The run after the Sign out button (app.py's or a page's, whichever runs) audits it once."""
    leaving = st.session_state.pop(SIGNED_OUT_KEY, None)
    if leaving:
        with write_session() as session:
            record_sign_out(session=session, username=leaving)


def start_session() -> SignedInUser:
    """For `app.py`: restore or ask for a sign-in, then return the active signed-in user."""
    engine()  # an unusable database stops here with its one sentence, before any sign-in form
    _audit_sign_out()
    authenticator = _authenticator()
    if st.session_state.pop("cookie_to_delete", False):
        _delete_cookie(authenticator)
    if not st.session_state.get("authentication_status"):
        _restore_from_cookie(authenticator)
    if not st.session_state.get("authentication_status"):
        sso = oidc.identity_sign_in(engine())  # back from the identity provider
        if sso is not None and sso.user is not None:
            st.session_state["logout"] = False
            _remember(sso.user)
            st.session_state["cookie_to_set"] = True
            st.rerun()  # as after a password: the cookie is written on the signed-in run
    if not st.session_state.get("authentication_status"):
        sign_in_form(authenticator)
    user, ended = _current_user()
    if user is None:
        sign_out(authenticator)
        sign_in_form(authenticator, ended)
    oidc.rewrite_cookie_after_sign_in()
    if st.session_state.pop("cookie_to_set", False):
        _set_cookie(authenticator)
    if not presenting():  # the meeting-room screen shows the presentation only
        with st.sidebar:
            st.caption(f"Signed in as **{plain_markdown(user.name)}** · {', '.join(user.roles)}")
            st.button(
                "Sign out", icon=":material/logout:", key="sign_out", on_click=_sign_out_clicked
            )
    return user


def _current_user() -> tuple[SignedInUser | None, str]:
    """The signed-in user re-read now, or None and the sentence saying why the session ended."""
    username = st.session_state.get("username")
    if not username:
        return None, NO_LONGER_ACTIVE
    with read_session() as session:
        user = authentication.session_user(
            session=session,
            username=username,
            session_version=st.session_state.get(SESSION_VERSION_KEY),
        )
        if user is not None:
            return user, ""
        active = authentication.signed_in_user(session=session, username=username) is not None
    return None, SESSION_ENDED if active else NO_LONGER_ACTIVE


@contextmanager
def read_for_this_run(user: SignedInUser) -> Iterator[None]:
    """For `app.py`, around the page's run: `user` was read from the database in this run."""
    token = _READ_THIS_RUN.set(user)
    try:
        yield
    finally:
        _READ_THIS_RUN.reset(token)


def require_access(page_file: str) -> SignedInUser:
    """The first line of every page: nothing renders (and nothing is written) unless signed in
    to a session that has not ended, with an allowed role, as read from the database in this
    run (by `start_session` when app.py runs the page, else here).

    A page file can be run directly (its URL opened on a fresh server before `app.py` ran),
    so this must not rely on anything `app.py` set up.
    """
    _audit_sign_out()
    if not st.session_state.get("authentication_status"):
        st.info("Please sign in to use HyperCare Desk.", icon=":material/lock:")
        st.link_button("Go to sign-in", "./", icon=":material/login:")
        st.stop()
    read = _READ_THIS_RUN.get(None)
    user, ended = (read, "") if read is not None else _current_user()
    if user is None:
        _request_sign_out()
        st.warning(ended)
        st.link_button("Go to sign-in", "./", icon=":material/login:")
        st.stop()
    if not spec_for(page_file).roles.intersection(user.roles):
        st.error("Your role does not give access to this page.", icon=":material/block:")
        st.stop()
    return user
