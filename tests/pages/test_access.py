"""Sign-in gating and role-based navigation under AppTest."""

from __future__ import annotations

import pytest
from sqlalchemy import update
from sqlmodel import Session, select
from streamlit.testing.v1 import AppTest

from data_access.models import Customer, User
from tests.conftest import DEMO_PASSWORD
from tests.pages.conftest import APP, db_engine, page_path, signed_in
from ui.navigation import PAGES

EXPECTED_PAGES = {
    "csm.emea": {
        "portfolio.py",
        "customer.py",
        "case_queue.py",
        "case.py",
        "new_case.py",
        "entitlements.py",
        "monitoring.py",
        "weekly_report.py",
        "account.py",
        "survey_results.py",
        "feedback_sessions.py",
        "qbr.py",
        "coe_benchmark.py",
        "events.py",
    },
    "manager": {
        "portfolio.py",
        "customer.py",
        "case_queue.py",
        "case.py",
        "new_case.py",
        "entitlements.py",
        "entitlement_portfolio.py",
        "monitoring.py",
        "weekly_report.py",
        "account.py",
        "survey_form.py",
        "survey_results.py",
        "feedback_sessions.py",
        "qbr.py",
        "coe_benchmark.py",
        "events.py",
    },
    "admin": {
        "portfolio.py",
        "customer.py",
        "case_queue.py",
        "case.py",
        "new_case.py",
        "admin.py",
        "calendars.py",
        "metric_upload.py",
        "entitlements.py",
        "entitlement_portfolio.py",
        "monitoring.py",
        "weekly_report.py",
        "account.py",
        "survey_form.py",
        "survey_results.py",
        "feedback_sessions.py",
        "qbr.py",
        "coe_benchmark.py",
        "events.py",
    },
    "surveys": {"account.py", "survey_form.py"},
}


def visible_text(at: AppTest) -> str:
    parts = [
        e.value
        for kind in ("markdown", "title", "caption", "header", "subheader")
        for e in at.get(kind)
    ]
    return " ".join(str(p) for p in parts)


@pytest.mark.parametrize("spec", PAGES, ids=lambda spec: spec.file)
def test_signed_out_page_opened_directly_shows_only_the_sign_in_prompt(spec):
    at = AppTest.from_file(page_path(spec.file), default_timeout=60)
    at.run()
    assert not at.exception
    assert [i.value for i in at.info] == ["Please sign in to use HyperCare Desk."]
    assert not at.dataframe and not at.title and not at.metric and not at.text_input
    assert not at.get("arrow_data_frame") and not at.table


def test_signed_out_app_shows_the_sign_in_form_only():
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    assert not at.exception
    assert [t.label for t in at.text_input] == ["Username", "Password"]
    assert not at.dataframe and not at.metric


@pytest.mark.parametrize("username", sorted(EXPECTED_PAGES))
def test_each_role_sees_exactly_its_pages(username):
    for spec in PAGES:
        # A fresh session each time: the registry checked is the one st.navigation built.
        at = signed_in(username)
        at.run()
        assert not at.exception
        if spec.file in EXPECTED_PAGES[username]:
            at.switch_page(page_path(spec.file))
            at.run()
            assert not at.exception, (username, spec.file)
            assert not at.error, (username, spec.file, [e.value for e in at.error])
        else:
            with pytest.raises(ValueError, match="Could not find a navigation page"):
                at.switch_page(page_path(spec.file))


@pytest.mark.parametrize("page", ["admin.py", "portfolio.py", "customer.py"])
def test_page_run_directly_refuses_a_role_without_access(page):
    at = signed_in("surveys", page_path(page))
    at.run()
    assert [e.value for e in at.error] == ["Your role does not give access to this page."]
    assert not at.dataframe and not at.title


def own_and_other_customers(username):
    with Session(db_engine()) as session:
        me = session.exec(select(User.id).where(User.username == username)).one()
        customers = session.exec(select(Customer)).all()
    own = {c.name for c in customers if me in (c.csm_id, c.hypercare_resource_id)}
    other = [c for c in customers if me not in (c.csm_id, c.hypercare_resource_id)]
    return own, other


def test_csm_portfolio_lists_only_own_customers():
    own, other = own_and_other_customers("csm.emea")
    at = signed_in("csm.emea")
    at.run()
    shown = set(at.dataframe[0].value["name"])
    assert shown == own
    assert not shown & {c.name for c in other}


def test_csm_cannot_open_another_csms_customer_by_url():
    own, other = own_and_other_customers("csm.emea")
    at = signed_in("csm.emea")
    at.query_params["customer"] = str(other[0].id)
    at.run()
    at.switch_page(page_path("customer.py"))
    at.query_params["customer"] = str(other[0].id)
    at.run()
    assert not at.exception
    assert "not in your portfolio" in " ".join(w.value for w in at.warning)
    assert other[0].name not in visible_text(at)
    assert at.title[0].value in own


def test_manager_sees_every_customer():
    with Session(db_engine()) as session:
        everyone = {c.name for c in session.exec(select(Customer)).all()}
    at = signed_in("manager")
    at.run()
    assert set(at.dataframe[0].value["name"]) == everyone


def set_active(username: str, active: bool) -> None:
    engine = db_engine()
    with engine.begin() as connection:
        connection.execute(update(User).where(User.username == username).values(is_active=active))


def signed_out(at: AppTest) -> bool:
    return (
        not at.session_state["authentication_status"]
        if "authentication_status" in at.session_state
        else True
    )


def test_deactivated_user_is_signed_out_at_next_interaction():
    at = signed_in("csm.na")
    at.run()
    assert at.dataframe
    set_active("csm.na", False)
    try:
        at.run()
        assert signed_out(at)
        assert "no longer active" in " ".join(w.value for w in at.warning)
        assert not at.dataframe and not at.metric
    finally:
        set_active("csm.na", True)


def sign_in(at: AppTest, username: str, password: str) -> None:
    at.text_input[0].input(username)
    at.text_input[1].input(password)
    at.button[0].click()
    at.run()


def test_sign_in_form_accepts_the_right_password():
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    sign_in(at, "manager", DEMO_PASSWORD)
    assert not at.exception
    assert at.session_state["authentication_status"] is True
    assert at.title[0].value == "Portfolio"


def test_wrong_passwords_lock_the_account():
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    try:
        for _ in range(4):
            sign_in(at, "resource.apac", "not-the-password")
            assert [e.value for e in at.error] == ["The username or password is wrong."]
        sign_in(at, "resource.apac", "not-the-password")
        assert "locked" in at.error[0].value
        sign_in(at, "resource.apac", DEMO_PASSWORD)
        assert "locked" in at.error[0].value
        assert signed_out(at)
    finally:
        engine = db_engine()
        with engine.begin() as connection:
            connection.execute(
                update(User)
                .where(User.username == "resource.apac")
                .values(locked_until=None, failed_logins=0)
            )


def test_sign_out_forgets_the_session():
    at = signed_in("manager")
    at.run()
    at.sidebar.button[0].click()
    at.run()
    assert signed_out(at)
    assert not at.dataframe and not at.metric
    assert [i.value for i in at.info] == ["Please sign in to use HyperCare Desk."]


def test_page_urls_are_file_stems():
    # Before app.py has run, Streamlit serves pages/x.py at /x; the registry must agree.
    assert [spec.url_path for spec in PAGES] == [spec.file.removesuffix(".py") for spec in PAGES]


def test_a_run_reads_the_signed_in_user_once_and_a_page_alone_reads_it_itself(monkeypatch):
    from data_access import authentication

    reads = []
    real = authentication.session_user

    def counted(**kwargs):
        reads.append(kwargs["username"])
        return real(**kwargs)

    monkeypatch.setattr(authentication, "session_user", counted)
    at = signed_in("csm.emea")
    at.run()
    at.switch_page(page_path("case_queue.py"))
    reads.clear()
    at.run()
    assert not at.exception and at.title[0].value == "Case queue"
    assert reads == ["csm.emea"]  # app.py's start_session; the page's guard reuses that read

    page = AppTest.from_file(str(page_path("case_queue.py")), default_timeout=60)
    page.session_state["authentication_status"] = True
    page.session_state["username"] = "csm.emea"
    reads.clear()
    page.run()
    assert reads == ["csm.emea"]  # opened without app.py: the guard reads for itself
