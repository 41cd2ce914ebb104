"""The Entitlements page under AppTest, per role, with its forms."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, time, timedelta

import pytest
import streamlit as st
from sqlalchemy import delete, func
from sqlmodel import Session, select
from streamlit.testing.v1 import AppTest

from data_access import entitlement_ledger, entitlement_portfolio, optimisation_requests
from data_access.actor import Actor
from data_access.db import session_scope
from data_access.models import (
    AuditLog,
    Contact,
    Customer,
    EntitlementEntry,
    OptimisationRequest,
    PlanningModel,
    User,
)
from data_access.scope import Scope
from tests.pages.conftest import db_engine, page_path, signed_in
from tests.pages.test_csv_export_audit import click_download, deferred  # noqa: F401

PAGE = "entitlements.py"
PORTFOLIO = "entitlement_portfolio.py"


def open_page(username: str, customer_id: int | None = None, page: str = PAGE) -> AppTest:
    st.cache_data.clear()  # AppTest shares this process's cache; tests write around the page
    at = signed_in(username)
    if customer_id is not None:
        at.query_params["customer"] = str(customer_id)
    at.run()
    at.switch_page(page_path(page))
    if customer_id is not None:
        at.query_params["customer"] = str(customer_id)
    at.run()
    assert not at.exception, at.exception
    return at


def visible_text(at: AppTest) -> str:
    parts = [
        str(e.value)
        for kind in ("markdown", "title", "caption", "header", "subheader", "info", "error")
        for e in at.get(kind)
    ]
    parts += [p.proto.text for p in at.get("progress")]
    for frame in at.dataframe:
        parts.append(frame.value.to_csv(index=False))
    for box in at.selectbox:
        parts += [str(option) for option in box.options]
    return " ".join(parts)


def user_id(session: Session, username: str) -> int:
    return session.exec(select(User.id).where(User.username == username)).one()


def customers_of(username: str) -> tuple[list[Customer], list[Customer]]:
    with Session(db_engine()) as session:
        me = user_id(session, username)
        everyone = session.exec(select(Customer).order_by(Customer.name)).all()
    own = [c for c in everyone if me in (c.csm_id, c.hypercare_resource_id)]
    other = [c for c in everyone if me not in (c.csm_id, c.hypercare_resource_id)]
    return own, other


def hypercare_customer(tier: str = "enterprise") -> Customer:
    with Session(db_engine()) as session:
        return session.exec(
            select(Customer).where(Customer.tier == tier).order_by(Customer.id)
        ).first()


def row_counts() -> tuple[int, int, int]:
    with Session(db_engine()) as session:
        return tuple(
            session.exec(select(func.count()).select_from(table)).one()
            for table in (OptimisationRequest, EntitlementEntry, AuditLog)
        )


@contextmanager
def restoring_rows() -> Iterator[None]:
    """Let a test write through the page, then remove exactly the rows it added."""
    with Session(db_engine()) as session:
        marks = {
            table: session.exec(select(func.max(table.id))).one() or 0
            for table in (OptimisationRequest, EntitlementEntry, AuditLog)
        }
        enrolment = {
            m.id: (m.in_monitoring, m.in_weekly_report)
            for m in session.exec(select(PlanningModel)).all()
        }
    try:
        yield
    finally:
        engine = db_engine()
        with engine.begin() as connection:
            for table in (EntitlementEntry, OptimisationRequest, AuditLog):
                connection.execute(delete(table).where(table.id > marks[table]))
        with Session(engine) as session:
            for model in session.exec(select(PlanningModel)).all():
                model.in_monitoring, model.in_weekly_report = enrolment[model.id]
                session.add(model)
            session.commit()


def submit(at: AppTest, label: str) -> None:
    next(button for button in at.button if button.label == label).click()
    at.run()
    assert not at.exception, at.exception


def balances(customer_id: int) -> dict[str, dict]:
    with Session(db_engine()) as session:
        frame = entitlement_ledger.entitlement_balances(
            session=session, customer_id=customer_id, on=datetime.now(UTC).date()
        )
    return frame.set_index("kind").to_dict("index")


# --- who can see what ------------------------------------------------------------------------


@pytest.mark.parametrize("username", ["manager", "admin", "csm.emea", "resource.na"])
def test_each_allowed_role_opens_the_page(username):
    at = open_page(username)
    assert at.title[0].value == "Entitlements"
    assert not at.error
    assert at.get("progress") or at.info


def test_survey_staff_cannot_open_the_page():
    at = signed_in("surveys", page_path(PAGE))
    at.run()
    assert [e.value for e in at.error] == ["Your role does not give access to this page."]
    assert not at.title and not at.get("progress") and not at.dataframe


def test_a_csm_sees_only_own_customers_and_no_manager_tools():
    own, other = customers_of("csm.emea")
    at = open_page("csm.emea")
    assert set(at.selectbox(key="customer_picker").options) == {c.name for c in own}
    assert [t.label for t in at.tabs] == ["Log a request", "Move a request", "Deliver", "Models"]
    assert "Grant one extra" not in [b.label for b in at.button]
    assert not {c.name for c in other} & set(at.selectbox(key="customer_picker").options)


def test_a_csm_opening_another_csms_customer_sees_nothing_of_it():
    own, other = customers_of("csm.emea")
    stranger = other[0]
    at = open_page("csm.emea", stranger.id)
    assert [w.value for w in at.warning] == [
        "That customer is not in your portfolio; choose one below."
    ]
    text = visible_text(at)
    assert stranger.name not in text
    assert at.subheader[0].value == own[0].name
    with Session(db_engine()) as session:
        their_requests = session.exec(
            select(OptimisationRequest.request_text).where(
                OptimisationRequest.customer_id == stranger.id
            )
        ).all()
    assert not [t for t in their_requests if t in text]


def test_the_manager_sees_every_customer_and_the_portfolio_view():
    with Session(db_engine()) as session:
        everyone = {c.name for c in session.exec(select(Customer)).all()}
    at = open_page("manager")
    assert set(at.selectbox(key="customer_picker").options) == everyone
    labels = [t.label for t in at.tabs]
    assert "Customer" not in labels and "Portfolio" not in labels  # its own page now
    assert "Grant an extra" in labels and "Change tier" in labels
    portfolio = open_page("manager", page=PORTFOLIO)
    headings = [s.value for s in portfolio.subheader]
    assert {"Unused entitlements nearing renewal", "Overdue deliveries"} <= set(headings)


# --- the entitlement portfolio page ----------------------------------------------------------


@pytest.mark.parametrize("username", ["manager", "admin"])
def test_the_portfolio_page_renders_for_managers_and_admins(username):
    at = open_page(username, page=PORTFOLIO)
    assert at.title[0].value == "Entitlement portfolio"
    assert not at.error
    assert [s.value for s in at.subheader] == [
        "Unused entitlements nearing renewal",
        "Overdue deliveries",
        "Over-cap attempts (last 90 days)",
    ]
    assert at.slider(key="watch_days").value == 60


@pytest.mark.parametrize("username", ["csm.emea", "surveys"])
def test_the_portfolio_page_is_not_in_the_navigation_of_csms_or_survey_staff(username):
    at = signed_in(username)
    at.run()
    assert not at.exception
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page(page_path(PORTFOLIO))


@pytest.mark.parametrize("username", ["csm.emea", "surveys"])
def test_the_portfolio_page_run_directly_refuses_csms_and_survey_staff(username):
    at = signed_in(username, page_path(PORTFOLIO))
    at.run()
    assert [e.value for e in at.error] == ["Your role does not give access to this page."]
    assert not at.title and not at.dataframe


# --- what the customer view shows ------------------------------------------------------------


def test_progress_bars_say_used_of_allowance():
    customer = hypercare_customer()
    at = open_page("manager", customer.id)
    expected = balances(customer.id)
    texts = [p.proto.text for p in at.get("progress")]
    optimisation = expected["model_optimisation"]
    available = optimisation["allowance"] + optimisation["extra"]
    assert any(t.startswith(f"{optimisation['used']} of {available} used") for t in texts)
    monitored = expected["monitored_models"]
    assert f"{monitored['used']} of {monitored['allowance']} enrolled" in texts
    renews = optimisation["renews_on"]
    assert f"renews on {renews:%d %b %Y}" in " ".join(c.value for c in at.caption)


def test_overdue_requests_are_flagged():
    customer = hypercare_customer()
    with Session(db_engine()) as session:
        contact_id = session.exec(
            select(func.min(Contact.id)).where(Contact.customer_id == customer.id)
        ).one()
    asked = datetime.now(UTC).date() - timedelta(days=40)
    with restoring_rows():
        with session_scope(db_engine()) as session:
            late = optimisation_requests.log_optimisation_request(
                session=session,
                customer_id=customer.id,
                contact_id=contact_id,
                requested_at=datetime.combine(asked, time(12), tzinfo=UTC),
                request_text="Late one: e-mail of forty days ago.",
                target_date=asked + timedelta(weeks=4),
                model_id=None,
                actor=Actor.of(session.exec(select(User).where(User.username == "manager")).one()),
            )
        at = open_page("manager", customer.id)
        table = next(d.value for d in at.dataframe if "due" in d.value.columns)
        row = table[table["id"] == late.id].iloc[0]
        assert row["due"] == "overdue by 12 d"
        assert any("past the target date.]" in m.value for m in at.markdown)
        assert not at.error
        portfolio = open_page("manager", page=PORTFOLIO)
        overdue = next(d.value for d in portfolio.dataframe if "days_overdue" in d.value.columns)
        assert late.id in set(overdue["id"])


# --- forms -----------------------------------------------------------------------------------


def test_a_target_under_four_weeks_is_refused_in_one_sentence_and_nothing_is_written():
    own, _ = customers_of("csm.emea")
    customer = next(c for c in own if c.tier != "basic")
    at = open_page("csm.emea", customer.id)
    requested = at.date_input(key="log_requested_on").value
    at.date_input(key="log_target").set_value(requested + timedelta(days=27))
    at.text_area(key="log_text").input("E-mail from the CFO: the Sales model is slow.")
    before = row_counts()
    submit(at, "Log the request")
    errors = [e.value for e in at.error]
    assert len(errors) == 1
    assert errors[0].endswith(
        f"the earliest allowed is {(requested + timedelta(days=28)).isoformat()}."
    )
    assert errors[0].startswith("The target completion date")
    assert row_counts() == before


def test_a_request_is_logged_accepted_and_shown_in_the_ledger():
    customer = hypercare_customer()
    before = balances(customer.id)["model_optimisation"]
    with restoring_rows():
        at = open_page("manager", customer.id)
        at.text_area(key="log_text").input("Ref: e-mail 'Slow Finance model' from the CoE lead.")
        submit(at, "Log the request")
        assert [s.value for s in at.success] == ["The request is logged."]
        with Session(db_engine()) as session:
            request = session.exec(
                select(OptimisationRequest).order_by(OptimisationRequest.id.desc())
            ).first()
        assert request.customer_id == customer.id and request.state == "requested"
        at.selectbox(key="move_request_id").set_value(request.id)
        at.radio(key="move_action").set_value("Accept (uses one optimisation)")
        submit(at, "Apply")
        if before["remaining"] < 1:
            assert "No model optimisations left" in at.error[0].value
            return
        assert not at.error
        after = balances(customer.id)["model_optimisation"]
        assert after["used"] == before["used"] + 1
        ledger = next(d.value for d in at.dataframe if "reason" in d.value.columns)
        assert f"Request #{request.id} accepted" in set(ledger["reason"])
        with Session(db_engine()) as session:
            actions = session.exec(
                select(AuditLog.action).where(AuditLog.entity_id == str(request.id))
            ).all()
        assert {"log_optimisation_request", "advance_optimisation_request"} <= set(actions)


def test_a_manager_grants_an_extra_with_a_reason():
    customer = hypercare_customer("professional")
    before = balances(customer.id)["model_optimisation"]
    with restoring_rows():
        at = open_page("manager", customer.id)
        counts = row_counts()
        submit(at, "Grant one extra")
        assert [e.value for e in at.error] == ["A reason is required for every ledger entry."]
        assert row_counts() == counts
        at.selectbox(key="grant_kind").set_value("model_optimisation")
        at.text_input(key="grant_reason").input("Goodwill after the May outage")
        submit(at, "Grant one extra")
        after = balances(customer.id)["model_optimisation"]
        assert after["remaining"] == before["remaining"] + 1
        ledger = next(d.value for d in at.dataframe if "reason" in d.value.columns)
        top = ledger.iloc[0]
        assert top["reason"] == "Extra granted: Goodwill after the May outage"
        assert top["actor"] != "system (import)"


def test_an_over_cap_enrolment_is_refused_and_shown_to_managers():
    customer = hypercare_customer("basic")
    with Session(db_engine()) as session:
        model = session.exec(
            select(PlanningModel).where(
                PlanningModel.customer_id == customer.id, PlanningModel.is_production
            )
        ).first()
    with restoring_rows():
        at = open_page("manager", customer.id)
        at.multiselect(key="enrol_monitoring").select(model.id)
        submit(at, "Save enrolment")
        errors = [e.value for e in at.error]
        assert len(errors) == 1
        assert errors[0].startswith(f"Cannot enrol '{model.name}")
        assert "in daily monitoring: the cap is 0 models and 0 are already enrolled." in errors[0]
        with Session(db_engine()) as session:
            assert not session.get(PlanningModel, model.id).in_monitoring
            attempts = entitlement_portfolio.over_cap_attempts(
                session=session,
                scope=Scope(user_id=user_id(session, "manager"), all_customers=True),
            )
        assert customer.name in set(attempts["customer"])
        again = open_page("manager", page=PORTFOLIO)
        shown = next(d.value for d in again.dataframe if "which" in d.value.columns)
        assert customer.name in set(shown["customer"])


def test_a_downgrade_below_the_enrolment_asks_which_models_to_keep():
    customer = hypercare_customer("enterprise")
    with Session(db_engine()) as session:
        enrolled = session.exec(
            select(PlanningModel.id).where(
                PlanningModel.customer_id == customer.id, PlanningModel.in_monitoring
            )
        ).all()
    if not enrolled:
        pytest.skip("the seed enrolled no model for this customer")
    at = open_page("manager", customer.id)
    at.selectbox(key="tier_new").set_value("basic")
    before = row_counts()
    submit(at, "Change tier")
    errors = [e.value for e in at.error]
    assert len(errors) == 1
    assert errors[0].endswith(
        f"allows 0 models in daily monitoring and {len(enrolled)} are enrolled; "
        f"choose the 0 to keep ({len(enrolled)} to drop)."
    )
    assert row_counts() == before
    with Session(db_engine()) as session:
        assert session.get(Customer, customer.id).tier == "enterprise"


def test_a_basic_customer_is_told_at_once_that_optimisations_are_not_included():
    with Session(db_engine()) as session:
        basic = session.exec(
            select(Customer).where(Customer.tier == "basic").order_by(Customer.id)
        ).first()
    at = open_page("manager", basic.id)
    assert "Model optimisations are not part of Basic." in [i.value for i in at.info]
    assert not [b for b in at.button if b.label == "Log the request"]


@pytest.mark.usefixtures("deferred")  # records the download's callable, to run it as a click
def test_the_watchlist_shows_a_page_of_customers_and_downloads_them_all(monkeypatch):
    monkeypatch.setattr(entitlement_portfolio, "WATCHLIST_PAGE", 1)
    at = open_page("manager", page=PORTFOLIO)
    at.slider(key="watch_days").set_value(180).run()
    today = datetime.now(UTC).date()
    with Session(db_engine()) as session:
        manager = Scope(user_id=user_id(session, "manager"), all_customers=True)
        renewing = entitlement_portfolio.renewing_customers(
            session=session, scope=manager, today=today, within_days=180
        )
        whole = entitlement_portfolio.renewal_watchlist(
            session=session, scope=manager, today=today, within_days=180
        )
    assert len(renewing) >= 2, "the page test's seed renews at least two customers in 180 days"
    picker = at.selectbox(key="watch_page_180")
    assert len(picker.options) == len(renewing)
    shown = [c.value for c in at.caption if c.value.startswith("Customers renewing")]
    assert shown[0].startswith(
        f"Customers renewing within 180 days: {len(renewing)}; these are 1–1"
    )
    picker.set_value(1).run()
    assert not at.exception
    shown = [c.value for c in at.caption if c.value.startswith("Customers renewing")]
    assert "; these are 2–2, soonest first" in shown[0]
    second = whole[whole["customer_id"] == renewing[1].id]
    tables = [d.value for d in at.dataframe if "summary" in d.value.columns]
    if second.empty:
        assert not tables
        assert "None of customers 2–2 has unused entitlements." in [i.value for i in at.info]
    else:
        assert list(tables[0]["summary"]) == list(second["summary"])
    body = click_download(at, "watchlist_csv").decode("utf-8-sig")
    assert len(body.splitlines()) - 1 == len(whole)  # the whole watchlist, not the page


def log_late_requests(customer: Customer, days_late: list[int]) -> list[int]:
    """Requests past their target by each of `days_late` days, logged by the manager."""
    with Session(db_engine()) as session:
        contact_id = session.exec(
            select(func.min(Contact.id)).where(Contact.customer_id == customer.id)
        ).one()
    today = datetime.now(UTC).date()
    ids = []
    with session_scope(db_engine()) as session:
        manager = Actor.of(session.exec(select(User).where(User.username == "manager")).one())
        for late in days_late:
            target = today - timedelta(days=late)
            ids.append(
                optimisation_requests.log_optimisation_request(
                    session=session,
                    customer_id=customer.id,
                    contact_id=contact_id,
                    requested_at=datetime.combine(target - timedelta(weeks=4), time(12), UTC),
                    request_text=f"Late by {late} days.",
                    target_date=target,
                    model_id=None,
                    actor=manager,
                ).id
            )
    return ids


@pytest.mark.usefixtures("deferred")  # records the download's callable, to run it as a click
def test_the_overdue_deliveries_show_a_page_most_overdue_first_and_download_them_all(
    monkeypatch,
):
    monkeypatch.setattr(entitlement_portfolio, "OVERDUE_PAGE", 1)
    today = datetime.now(UTC).date()
    with restoring_rows():
        ids = log_late_requests(hypercare_customer(), [60, 200, 130])
        with Session(db_engine()) as session:
            manager = Scope(user_id=user_id(session, "manager"), all_customers=True)
            whole = entitlement_portfolio.overdue_deliveries(
                session=session, scope=manager, today=today
            )
        listed = list(whole["id"])
        assert list(whole["days_overdue"]) == sorted(whole["days_overdue"], reverse=True)
        mine = sorted(listed.index(i) for i in ids)
        assert [listed[i] for i in mine] == [ids[1], ids[2], ids[0]]  # 200, 130, 60 days late
        at = open_page("manager", page=PORTFOLIO)
        picker = at.selectbox(key="overdue_page")
        assert len(picker.options) == len(whole)
        caption = next(c.value for c in at.caption if c.value.startswith("Requests past"))
        assert caption.startswith(f"Requests past their target date: {len(whole)}; these are 1–1")
        table = next(d.value for d in at.dataframe if "days_overdue" in d.value.columns)
        assert list(table["id"]) == listed[:1]
        picker.set_value(mine[0]).run()
        table = next(d.value for d in at.dataframe if "days_overdue" in d.value.columns)
        assert list(table["id"]) == [ids[1]] and list(table["days_overdue"]) == [200]
        body = click_download(at, "overdue_csv").decode("utf-8-sig")
        assert len(body.splitlines()) - 1 == len(whole)  # every overdue request, not the page
        cells = {cell for line in body.splitlines()[1:] for cell in line.split(",")}
        assert {str(i) for i in ids} <= cells

        # Delivered meanwhile: the page chosen is past the end, so the last page shows.
        at.selectbox(key="overdue_page").set_value(len(whole) - 1).run()
        with session_scope(db_engine()) as session:
            for request in session.exec(
                select(OptimisationRequest).where(OptimisationRequest.id.in_(ids[1:]))
            ):
                request.state = "delivered"
                session.add(request)
        st.cache_data.clear()
        at.run()
        assert not at.exception
        assert at.selectbox(key="overdue_page").value == len(whole) - 3
        caption = next(c.value for c in at.caption if c.value.startswith("Requests past"))
        assert f"these are {len(whole) - 2:,}–{len(whole) - 2:,}" in caption
