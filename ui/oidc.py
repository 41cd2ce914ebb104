"""Enterprise sign-in through the company's identity provider with Streamlit's `st.login`.

Configured in `.streamlit/secrets.toml` under `[auth]` (see README, Configuration); without an
`[auth]` section nothing here shows. The sign-in page offers "Sign in with <provider>" next to
the password form. After the provider sends the browser back, `st.user` holds the identity;
`identity_sign_in` turns it, once per session, into one of our sign-ins through
`data_access.sso.sso_sign_in` (active account with that verified e-mail; roles and scope from our
database) or into the sentence saying why not. The provider proves who someone is; our
database decides what they may do.

Signing out of HyperCare Desk also ends the provider identity (`st.logout()`), one run after our
own session cookie was deleted, so that the browser leaves for the provider's sign-out only once
nothing of our sign-in is left behind.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass

import streamlit as st
from sqlalchemy.engine import Engine

from data_access.db import session_scope
from data_access.sso import SsoOutcome, is_fresh, issue_time, sso_sign_in
from ui.format import plain_markdown

log = logging.getLogger(__name__)

DEFAULT_LABEL = "your identity provider"
USED_KEY = "oidc_identity_used"  # the identity this session has already turned into an answer
REFUSAL_KEY = "oidc_refusal"  # its refusal, shown on the sign-in page while it stays
END_KEY = "oidc_end_identity"  # 1: end the identity after the cookie deletion run; 2: now
COOKIE_RUNS_KEY = "oidc_cookie_runs"  # signed-in runs left that (re)write our session cookie
COOKIE_RUNS = 3
# Without any secrets file Streamlit parses again on every `st.secrets` read, under one
# process-wide lock: every run of every session queued on it (50 sessions: seconds per run).
# "No secrets file" is remembered this long; a file added to a running server counts after it.
NO_SECRETS_RECHECK_S = 10.0
_no_secrets_until = 0.0


@dataclass(frozen=True)
class Provider:
    """One configured provider: the name `st.login` takes (None: the default) and its label."""

    key: str | None
    label: str


def _auth_section() -> Mapping | None:
    global _no_secrets_until
    if time.monotonic() < _no_secrets_until:
        return None
    try:
        section = st.secrets.get("auth")
    except (FileNotFoundError, st.errors.StreamlitSecretNotFoundError):
        _no_secrets_until = time.monotonic() + NO_SECRETS_RECHECK_S
        return None
    except KeyError:
        return None
    return section if isinstance(section, Mapping) else None


def providers() -> list[Provider]:
    """The providers in `[auth]`: every `[auth.<name>]` section with a `server_metadata_url`,
    else the single provider configured directly in `[auth]`. Each may set a `label`."""
    section = _auth_section()
    if not section:
        return []
    named = [
        Provider(key=str(key), label=str(value.get("label") or str(key).replace("_", " ").title()))
        for key, value in section.items()
        if isinstance(value, Mapping) and value.get("server_metadata_url")
    ]
    if named:
        return named
    if section.get("server_metadata_url"):
        return [Provider(key=None, label=str(section.get("label") or DEFAULT_LABEL))]
    return []


def _identity() -> dict | None:
    """The provider identity Streamlit holds for this browser, or None."""
    if not providers():
        return None
    try:
        info = dict(st.user.to_dict())
    except Exception:
        log.debug("no st.user in this context", exc_info=True)
        return None
    return info if info.get("is_logged_in") else None


def _marker(identity: dict) -> str:
    """Tells one sign-in at the provider from the next (a new one has a new `iat`/`nonce`)."""
    fields = ("provider", "iss", "sub", "iat", "nonce")
    return json.dumps([str(identity.get(name)) for name in fields])


def identity_sign_in(engine: Engine) -> SsoOutcome | None:
    """For a signed-out session: the provider identity's sign-in, checked once per identity
    and session; None when there is no identity to use (none, already used, or too old)."""
    if st.session_state.get(END_KEY):
        return None  # signing out: the identity is about to end
    identity = _identity()
    if identity is None:
        st.session_state.pop(REFUSAL_KEY, None)
        return None
    marker = _marker(identity)
    if st.session_state.get(USED_KEY) == marker:
        return None
    st.session_state[USED_KEY] = marker
    st.session_state.pop(REFUSAL_KEY, None)
    if not is_fresh(identity.get("iat")):
        return None  # an old identity cookie: sign in at the provider again
    with session_scope(engine) as session:
        outcome = sso_sign_in(
            session=session,
            email=identity.get("email"),
            email_verified=identity.get("email_verified"),
            provider=str(identity.get("provider") or "default"),
            issued_at=issue_time(identity.get("iat")),
        )
    if outcome.refusal is not None:
        st.session_state[REFUSAL_KEY] = outcome.refusal
    if outcome.user is not None:
        st.session_state[COOKIE_RUNS_KEY] = COOKIE_RUNS
    return outcome


def rewrite_cookie_after_sign_in() -> None:
    """Each signed-in run: a session signed in from an identity is new (the provider's redirect
    starts one), so the cookie component's own first round trips can cut short the run that
    writes our session cookie; the first `COOKIE_RUNS` signed-in runs write it again."""
    left = st.session_state.get(COOKIE_RUNS_KEY, 0)
    if left:
        st.session_state[COOKIE_RUNS_KEY] = left - 1
        st.session_state["cookie_to_set"] = True


def sign_in_options() -> None:
    """On the sign-in page: a refused identity's sentence, and a button per provider."""
    found = providers()
    if not found:
        return
    end_identity_when_due()
    refusal = st.session_state.get(REFUSAL_KEY)
    if refusal and _identity() is not None:
        st.error(refusal, icon=":material/person_off:")
        if st.button("Use another account", key="oidc_other_account"):
            st.session_state.pop(REFUSAL_KEY, None)
            st.logout()
    st.caption("Or sign in through your company:")
    for provider in found:
        if st.button(
            f"Sign in with {plain_markdown(provider.label)}",
            key=f"oidc_sign_in_{provider.key or 'default'}",
            icon=":material/badge:",
        ):
            if provider.key is None:
                st.login()
            else:
                st.login(provider.key)


def request_end_identity() -> None:
    """Sign-out (a button callback): end the provider identity too, after our cookie is gone."""
    if _identity() is not None:
        st.session_state[END_KEY] = 1


def end_identity_when_due() -> None:
    """Each run of a signed-out session: the run that deleted our cookie moves the request on;
    the run after it (the cookie component reports the deletion) calls `st.logout()`."""
    step = st.session_state.get(END_KEY)
    if step == 1:
        st.session_state[END_KEY] = 2
    elif step == 2:
        st.session_state.pop(END_KEY, None)
        st.session_state.pop(USED_KEY, None)
        st.logout()
