"""The Admin page under AppTest: password sign-in switched off and on per user."""

from __future__ import annotations

import streamlit as st
from sqlalchemy import update
from sqlmodel import Session, select
from streamlit.testing.v1 import AppTest

from data_access.models import AuditLog, User
from tests.pages.conftest import db_engine, page_path, signed_in


def open_admin() -> AppTest:
    st.cache_data.clear()
    at = signed_in("admin", page_path("admin.py"))
    at.run()
    assert not at.exception, at.exception
    return at


def user_id(username: str) -> int:
    with Session(db_engine()) as session:
        return session.exec(select(User.id).where(User.username == username)).one()


def password_allowed(username: str) -> bool:
    with Session(db_engine()) as session:
        return session.exec(select(User.password_sign_in).where(User.username == username)).one()


def choose(at: AppTest, username: str) -> AppTest:
    next(s for s in at.selectbox if s.label == "User").set_value(user_id(username)).run()
    assert not at.exception, at.exception
    return at


def save(at: AppTest, allowed: bool) -> AppTest:
    box = next(c for c in at.checkbox if c.label == "May sign in with a password")
    box.set_value(allowed)
    return next(b for b in at.button if b.label == "Save sign-in method").click().run()


def test_an_admin_switches_a_users_password_sign_in_off_and_on():
    try:
        at = choose(open_admin(), "surveys2")
        box = next(c for c in at.checkbox if c.label == "May sign in with a password")
        assert box.value is True

        save(at, False)
        assert "Sign-in method saved." in [s.value for s in at.success]
        assert password_allowed("surveys2") is False
        box = next(c for c in at.checkbox if c.label == "May sign in with a password")
        assert box.value is False

        save(at, True)
        assert password_allowed("surveys2") is True
        with Session(db_engine()) as session:
            audited = session.exec(
                select(AuditLog.actor).where(AuditLog.action == "set_password_sign_in")
            ).all()
        assert audited.count("admin") >= 2
    finally:
        with db_engine().begin() as connection:
            connection.execute(
                update(User).where(User.username == "surveys2").values(password_sign_in=True)
            )


def test_an_admin_cannot_switch_off_their_own_password_sign_in():
    at = choose(open_admin(), "admin")
    save(at, False)
    assert [e.value for e in at.error] == ["You cannot switch off your own password sign-in."]
    assert password_allowed("admin") is True
