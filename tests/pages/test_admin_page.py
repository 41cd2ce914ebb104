"""The Admin page under AppTest: forms keep what was typed after a refusal."""

from __future__ import annotations

import streamlit as st
from sqlalchemy import delete
from sqlmodel import Session, select
from streamlit.testing.v1 import AppTest

from data_access.models import User
from tests.pages.conftest import db_engine, page_path, signed_in

NEW_USERNAME = "csm.apptest"


def open_admin() -> AppTest:
    st.cache_data.clear()
    at = signed_in("admin", page_path("admin.py"))
    at.run()
    assert not at.exception, at.exception
    return at


def field(widgets, name: str):
    return next(
        w
        for w in widgets
        if w.key and w.key.startswith("create_user_") and w.key.endswith(f"_{name}")
    )


def fill(at: AppTest, password: str) -> None:
    field(at.text_input, "username").input(NEW_USERNAME)
    field(at.text_input, "name").input("Casey Apptest")
    field(at.text_input, "email").input("casey@apptest.example")
    field(at.text_input, "timezone").input("Europe/Berlin")
    field(at.multiselect, "roles").set_value(["csm"])
    field(at.text_input, "password").input(password)


def submit(at: AppTest) -> AppTest:
    return next(b for b in at.button if b.label == "Create user").click().run()


def test_a_refused_new_user_keeps_every_field_and_a_created_one_empties_the_form():
    at = open_admin()
    fill(at, password="short")
    submit(at)
    assert len(at.error) == 1, [e.value for e in at.error]
    assert field(at.text_input, "username").value == NEW_USERNAME
    assert field(at.text_input, "name").value == "Casey Apptest"
    assert field(at.text_input, "email").value == "casey@apptest.example"
    assert field(at.text_input, "timezone").value == "Europe/Berlin"
    assert field(at.multiselect, "roles").value == ["csm"]
    try:
        field(at.text_input, "password").input("a-Much-Longer-Passw0rd!")
        submit(at)
        assert not at.error, [e.value for e in at.error]
        assert f"User {NEW_USERNAME} created." in [s.value for s in at.success]
        assert field(at.text_input, "username").value == ""
        with Session(db_engine()) as session:
            created = session.exec(select(User).where(User.username == NEW_USERNAME)).one()
        assert created.timezone == "Europe/Berlin"
    finally:
        with db_engine().begin() as connection:
            connection.execute(delete(User).where(User.username == NEW_USERNAME))
