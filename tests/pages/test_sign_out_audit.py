"""Signing out with the button appends a `sign_out` audit row, written in the script body."""

from __future__ import annotations

from sqlalchemy import text

from tests.pages.conftest import db_engine, signed_in


def sign_outs(username: str) -> int:
    engine = db_engine()
    try:
        with engine.connect() as connection:
            return connection.execute(
                text("SELECT count(*) FROM audit_log WHERE action = 'sign_out' AND actor = :u"),
                {"u": username},
            ).scalar_one()
    finally:
        engine.dispose()


def test_the_sign_out_button_is_audited_once():
    before = sign_outs("csm.na2")
    at = signed_in("csm.na2").run()
    assert not at.exception, at.exception
    assert sign_outs("csm.na2") == before
    at.sidebar.button(key="sign_out").click().run()
    assert not at.exception, at.exception
    assert "Please sign in to use HyperCare Desk." in [i.value for i in at.info]
    assert sign_outs("csm.na2") == before + 1
    at.run()  # a later run does not record it again
    assert sign_outs("csm.na2") == before + 1
