"""Sessions under AppTest: the session cookie, ending sessions, and writes only after the guard."""

from __future__ import annotations

import time

import jwt
import pytest
import streamlit as st
from sqlalchemy import update
from sqlmodel import Session, select
from streamlit.testing.v1 import AppTest

from data_access.models import SurveyResponse, User
from tests.pages.conftest import APP, db_engine, page_path, session_version_of, signed_in
from tests.pages.test_survey_pages import (  # noqa: F401 (restore_survey_tables is autouse)
    answer,
    complete_answers,
    form_for,
    open_campaign_with_new_respondents,
    restore_survey_tables,
    stored,
)
from ui import auth

KEY = "test-only-cookie-key-" + "k" * 40  # the key tests/pages/conftest.py configures
ACCOUNT = page_path("account.py")


def bump_session_version(username: str) -> None:
    with db_engine().begin() as connection:
        connection.execute(
            update(User)
            .where(User.username == username)
            .values(session_version=User.session_version + 1)
        )


def shown(at: AppTest, kind: str) -> list[str]:
    return [str(element.value) for element in at.get(kind)]


def is_signed_out(at: AppTest) -> bool:
    return (
        not at.session_state["authentication_status"]
        if "authentication_status" in (at.session_state)
        else True
    )


# --- The cookie ---------------------------------------------------------------------------------


def _none_token(payload: dict) -> str:
    return jwt.encode(payload, None, algorithm="none")


def _valid_payload(username: str = "manager", version: int = 0) -> dict:
    return {"username": username, "sv": version, "exp_date": time.time() + 3600}


FORGED = {
    "alg none": lambda: _none_token(_valid_payload()),
    "HS512": lambda: jwt.encode(_valid_payload(), KEY, algorithm="HS512"),
    "wrong key": lambda: jwt.encode(_valid_payload(), "another-key-" + "x" * 40, algorithm="HS256"),
    "garbage": lambda: "not.a.jwt",
    "empty": lambda: "",
    "no version (old cookie)": lambda: jwt.encode(
        {"username": "manager", "exp_date": time.time() + 3600}, KEY, algorithm="HS256"
    ),
    "expired": lambda: jwt.encode(
        {**_valid_payload(), "exp_date": time.time() - 1}, KEY, algorithm="HS256"
    ),
    "version as text": lambda: jwt.encode({**_valid_payload(), "sv": "0"}, KEY, algorithm="HS256"),
    "not an object": lambda: jwt.api_jws.encode(b"[1, 2]", KEY, algorithm="HS256"),
}


@pytest.mark.parametrize("make", FORGED.values(), ids=FORGED.keys())
def test_a_malformed_or_forged_token_decodes_to_signed_out(make):
    assert auth.decode_session_token(make(), KEY) is None


def test_a_token_round_trips_with_its_session_version():
    token = auth.encode_session_token("manager", 3, KEY)
    decoded = auth.decode_session_token(token, KEY)
    assert (decoded.username, decoded.session_version) == ("manager", 3)
    assert auth.decode_session_token(token, KEY, now=decoded.expires) is None


@pytest.fixture
def cookie(monkeypatch):
    """Serve the app a given session cookie and record the cookie deletions it asks for."""
    served: dict[str, str | None] = {"token": None}
    deleted: list[bool] = []
    monkeypatch.setattr(auth, "cookie_token", lambda: served["token"])
    monkeypatch.setattr(auth, "_delete_cookie", lambda authenticator: deleted.append(True))

    def serve(token: str | None) -> list[bool]:
        served["token"] = token
        return deleted

    return serve


@pytest.mark.parametrize("make", FORGED.values(), ids=FORGED.keys())
def test_a_forged_cookie_shows_the_sign_in_form_and_is_deleted(cookie, make):
    deleted = cookie(make())
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    assert not at.exception, at.exception
    assert [t.label for t in at.text_input] == ["Username", "Password"]
    assert is_signed_out(at)
    assert deleted == [True]
    # The same request cookie on the next runs: not read again; the deletion is re-sent a few
    # times (a run cut short by a rerun may never deliver it), then no more.
    for _ in range(auth.REFUSED_DELETIONS + 2):
        at.run()
        assert [t.label for t in at.text_input] == ["Username", "Password"]
    assert deleted == [True] * (1 + auth.REFUSED_DELETIONS)


def test_a_valid_cookie_signs_in_and_a_stale_one_is_deleted(cookie):
    version = session_version_of("manager")
    deleted = cookie(auth.encode_session_token("manager", version, KEY))
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    assert not at.exception, at.exception
    assert at.session_state["username"] == "manager" and not deleted
    assert at.title[0].value == "Portfolio"

    cookie(auth.encode_session_token("manager", version - 1, KEY))
    stale = AppTest.from_file(APP, default_timeout=60)
    stale.run()
    assert is_signed_out(stale) and deleted == [True]


# --- Ending sessions ----------------------------------------------------------------------------


def test_a_session_ends_at_its_next_interaction_once_the_version_changes():
    at = signed_in("csm.apac")
    at.run()
    assert at.dataframe
    bump_session_version("csm.apac")
    at.run()
    assert not at.exception
    assert is_signed_out(at)
    assert any("Your session has ended" in w for w in shown(at, "warning"))
    assert not at.dataframe and not at.metric


def test_a_page_opened_directly_ends_the_session_too():
    at = signed_in("csm.apac", page_path("customer.py"))
    bump_session_version("csm.apac")
    at.run()
    assert any("Your session has ended" in w for w in shown(at, "warning"))
    assert not at.dataframe and not at.metric


def test_sign_out_everywhere_keeps_this_session_and_ends_the_others():
    other = signed_in("csm.emea")
    other.run()
    at = signed_in("csm.emea", ACCOUNT)
    at.run()
    before = session_version_of("csm.emea")
    next(b for b in at.button if b.label == "Sign out everywhere").click()
    at.run()
    assert not at.exception, at.exception
    assert session_version_of("csm.emea") == before + 1
    assert "Every other session of yours is signed out." in shown(at, "success")
    at.run()
    assert at.title[0].value == "My account"
    other.run()
    assert is_signed_out(other)


def test_changing_the_password_keeps_this_session_and_ends_the_others():
    from tests.conftest import DEMO_PASSWORD

    with Session(db_engine()) as session:
        old_hash = session.exec(select(User.password_hash).where(User.username == "csm.na2")).one()
    other = signed_in("csm.na2")
    other.run()
    at = signed_in("csm.na2", ACCOUNT)
    at.run()
    try:
        current, new, repeat = at.text_input
        current.input(DEMO_PASSWORD)
        new.input("a-Brand-new-pass-9")
        repeat.input("a-Brand-new-pass-9")
        next(b for b in at.button if b.label == "Change password").click()
        at.run()
        assert not at.exception, at.exception
        assert shown(at, "success") == ["Password changed; your other sessions are signed out."]
        at.run()
        assert at.title[0].value == "My account"
        other.run()
        assert is_signed_out(other)
    finally:
        with db_engine().begin() as connection:
            connection.execute(
                update(User).where(User.username == "csm.na2").values(password_hash=old_hash)
            )


# --- Writes run after the guard -----------------------------------------------------------------


@pytest.mark.parametrize(
    "change",
    [{"is_active": False}, {"roles": "csm"}, {"is_active": False, "roles": "csm"}],
    ids=["deactivated", "survey role removed", "both"],
)
def test_a_survey_submitted_after_the_user_lost_access_is_not_stored(change):
    campaign_id, (end_user_id,), _ = open_campaign_with_new_respondents()
    at = form_for("surveys", campaign_id, end_user_id)
    answer(at, campaign_id, end_user_id, **complete_answers())
    with Session(db_engine()) as session:
        before = session.exec(select(User).where(User.username == "surveys")).one()
    with db_engine().begin() as connection:
        connection.execute(update(User).where(User.username == "surveys").values(**change))
    try:
        next(b for b in at.button if b.label == "Submit").click()
        at.run()
        assert not at.exception, at.exception
        assert stored(campaign_id, end_user_id) is None
        with Session(db_engine()) as session:
            assert (
                session.exec(
                    select(SurveyResponse).where(SurveyResponse.end_user_id == end_user_id)
                ).first()
                is None
            )
    finally:
        with db_engine().begin() as connection:
            connection.execute(
                update(User)
                .where(User.username == "surveys")
                .values(is_active=before.is_active, roles=before.roles)
            )
        st.cache_data.clear()
