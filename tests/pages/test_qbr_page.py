"""The QBR page under AppTest: every section per role, access, the URL, the editors, and the
presentation mode (no navigation, no sidebar, no picker, nothing about another customer)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import streamlit as st
from sqlalchemy import delete
from sqlmodel import Session, select
from streamlit.testing.v1 import AppTest

from data_access.authentication import signed_in_user
from data_access.customers import customers_in_scope
from data_access.models import Customer, QbrAction, QbrNote
from data_access.qbr import qbr_report
from data_access.scope import Scope
from domain.quarters import Quarter
from tests.pages.conftest import db_engine, page_path, signed_in

PAGE = "qbr.py"


def open_page(username: str, **params: str) -> AppTest:
    st.cache_data.clear()  # AppTest shares this process's cache; tests write around the page
    at = signed_in(username)
    at.run()
    at.switch_page(page_path(PAGE))
    for name, value in params.items():
        at.query_params[name] = value
    at.run()
    assert not at.exception, at.exception
    return at


def button(at: AppTest, label: str):
    return next(b for b in at.button if b.label == label)


def _node_text(node) -> list[str]:
    parts = []
    proto = getattr(node, "proto", None)
    if proto is not None:
        parts.append(str(proto))
    value = getattr(node, "value", None)
    if hasattr(value, "to_csv"):
        parts.append(value.to_csv(index=False))
    for child in getattr(node, "children", {}).values():
        parts += _node_text(child)
    return parts


def tree_text(at: AppTest) -> str:
    """Every piece of text in the element tree: labels, values, options, table cells."""
    return "\n".join(_node_text(at._tree))


def portfolio(username: str) -> tuple[list[Customer], list[Customer]]:
    """The customers the user may see and every other one, oldest HyperCare start first."""
    with Session(db_engine()) as session:
        scope = Scope.for_user(signed_in_user(session=session, username=username))
        order = Customer.hypercare_start, Customer.id
        visible = session.exec(select(Customer).where(scope.customer_filter()).order_by(*order))
        visible = visible.all()
        everyone = session.exec(select(Customer).order_by(*order)).all()
    return visible, [c for c in everyone if c.id not in {v.id for v in visible}]


def shown_and_others(username: str) -> tuple[Customer, list[Customer]]:
    """The customer a test opens (the user's oldest) and every other customer."""
    visible, hidden = portfolio(username)
    return visible[0], visible[1:] + hidden


def expected_titles(username: str, customer_id: int) -> list[str]:
    with Session(db_engine()) as session:
        viewer = signed_in_user(session=session, username=username)
        scope = Scope.for_user(viewer)
        timezone = (
            customers_in_scope(session=session, scope=scope)
            .set_index("id")
            .loc[customer_id, "region_timezone"]
        )
        quarter = Quarter.containing(datetime.now(ZoneInfo(timezone)).date())
        report = qbr_report(session=session, customer_id=customer_id, quarter=quarter, scope=scope)
    return [section.title for section in report.sections]


@pytest.mark.parametrize("username", ["manager", "csm.emea"])
def test_every_section_renders_with_its_number(username):
    own, _ = portfolio(username)
    customer = own[0]
    at = open_page(username, customer=str(customer.id))
    titles = expected_titles(username, customer.id)
    assert len(titles) == 10
    assert [h.value for h in at.header] == [f"{n}. {t}" for n, t in enumerate(titles, start=1)]
    assert not at.error
    assert at.metric, "no figure was drawn"
    assert [b.label for b in at.button if b.label == "Prepare PDF"] == ["Prepare PDF"]


def test_survey_staff_cannot_open_the_page():
    at = signed_in("surveys")
    at.run()
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page(page_path(PAGE))
    direct = signed_in("surveys", page_path(PAGE))
    direct.run()
    assert [e.value for e in direct.error] == ["Your role does not give access to this page."]
    assert not direct.metric and not direct.selectbox


def test_csm_cannot_open_another_csms_customer_by_url():
    own, other = portfolio("csm.emea")
    at = open_page("csm.emea", customer=str(other[0].id))
    assert "not in your portfolio" in " ".join(w.value for w in at.warning)
    text = tree_text(at)
    assert own[0].name in text
    assert not [c.name for c in other if c.name in text]
    presenting = open_page("csm.emea", customer=str(other[0].id), present="1")
    assert [e.value for e in presenting.error] == [
        "That customer is not in your portfolio, so its QBR is not shown."
    ]
    assert not [c.name for c in other if c.name in tree_text(presenting)]


def test_the_quarter_comes_from_the_url_and_a_bad_one_falls_back_with_a_sentence():
    own, _ = portfolio("manager")
    customer = own[0]  # the oldest HyperCare start: it has past quarters
    at = open_page("manager", customer=str(customer.id), quarter="2026Q3")
    quarter_box = next(box for box in at.selectbox if box.label == "Quarter")
    assert quarter_box.value == Quarter(2026, 3)
    assert at.caption[0].value.startswith("Q3 2026 against Q2 2026")
    assert not at.warning
    bad = open_page("manager", customer=str(customer.id), quarter="2031Q9")
    assert [w.value for w in bad.warning] == [
        "The quarter in the link is not one this customer's QBR covers; showing "
        f"{quarter_box.options[0]}."
    ]
    assert quarter_box.options[0].endswith("(to date)")
    assert bad.query_params["quarter"] != "2031Q9"


def test_a_note_and_an_action_are_saved_from_the_page():
    own, _ = portfolio("csm.emea")
    customer = own[0]
    quarter = Quarter(2026, 3)
    with Session(db_engine()) as session:
        before = session.exec(
            select(QbrNote).where(
                QbrNote.customer_id == customer.id, QbrNote.quarter == quarter.key
            )
        ).first()
        original = None if before is None else before.text
    try:
        at = open_page("csm.emea", customer=str(customer.id), quarter=quarter.code)
        at.text_area[0].set_value("Agreed: **two** more builders.")
        button(at, "Save notes").click()
        at.run()
        assert not at.exception and not at.error
        inputs = {box.label: box for box in at.text_input}
        inputs["Action"].set_value("Send the ALM plan")
        inputs["Owner"].set_value("Ada Lovelace")
        button(at, "Add action").click()
        at.run()
        assert not at.exception and not at.error
        assert "Send the ALM plan" in tree_text(at)
        with Session(db_engine()) as session:
            note = session.exec(
                select(QbrNote).where(
                    QbrNote.customer_id == customer.id, QbrNote.quarter == quarter.key
                )
            ).one()
            action = session.exec(
                select(QbrAction).where(QbrAction.text == "Send the ALM plan")
            ).one()
        assert note.text == "Agreed: **two** more builders."
        assert (action.customer_id, action.quarter, action.owner) == (
            customer.id,
            quarter.key,
            "Ada Lovelace",
        )
    finally:
        engine = db_engine()
        with engine.begin() as connection:
            connection.execute(delete(QbrAction).where(QbrAction.text == "Send the ALM plan"))
            if original is None:
                connection.execute(
                    delete(QbrNote).where(
                        QbrNote.customer_id == customer.id, QbrNote.quarter == quarter.key
                    )
                )
            else:
                connection.execute(
                    QbrNote.__table__.update()
                    .where(QbrNote.customer_id == customer.id, QbrNote.quarter == quarter.key)
                    .values(text=original)
                )


# --- Presentation mode ----------------------------------------------------------------------


def assert_presenting_only(at: AppTest, customer: Customer, others: list[Customer]) -> None:
    assert not at.selectbox and not at.toggle and not at.text_area and not at.text_input
    assert [b.label for b in at.button] == ["Previous", "Next", "Exit presentation"]
    assert not at.header  # one section per screen, as a title
    text = tree_text(at)
    assert customer.name in text
    assert not [c.name for c in others if c.name in text]


def test_present_in_the_url_shows_one_section_at_a_time_and_nothing_of_other_customers():
    customer, other = shown_and_others("manager")
    titles = expected_titles("manager", customer.id)
    at = open_page("manager", customer=str(customer.id), present="1")
    assert_presenting_only(at, customer, other)
    assert [t.value for t in at.title] == [titles[0]]
    assert f"Section 1 of {len(titles)}" in [m.value for m in at.markdown]
    button(at, "Next").click()
    at.run()
    assert [t.value for t in at.title] == [titles[1]]
    assert at.query_params["slide"] == "2"
    assert_presenting_only(at, customer, other)
    button(at, "Previous").click()
    at.run()
    assert [t.value for t in at.title] == [titles[0]]
    button(at, "Exit presentation").click()
    at.run()
    assert "present" not in at.query_params
    assert [t.value for t in at.title] == ["QBR"]


def test_the_toggle_starts_the_presentation():
    customer, other = shown_and_others("csm.emea")
    at = open_page("csm.emea", customer=str(customer.id))
    at.toggle[0].set_value(True)
    at.run()
    assert at.query_params["present"] == "1"
    assert_presenting_only(at, customer, other)


def test_present_hides_the_navigation_and_the_sidebar(monkeypatch):
    positions: list[str] = []
    navigation = st.navigation

    def spy(pages, *, position="sidebar", expanded=False):
        positions.append(position)
        return navigation(pages, position=position, expanded=expanded)

    monkeypatch.setattr(st, "navigation", spy)
    at = signed_in("manager")
    at.run()
    assert [c.value for c in at.sidebar.caption], "the sidebar normally says who is signed in"
    presenting = signed_in("manager")
    presenting.query_params["present"] = "1"
    presenting.run()
    assert not presenting.exception
    assert not presenting.sidebar.caption and not presenting.sidebar.button
    assert positions == ["sidebar", "hidden"]


def test_last_slide_has_no_next_and_a_slide_out_of_range_shows_the_last():
    own, _ = portfolio("manager")
    titles = expected_titles("manager", own[0].id)
    at = open_page("manager", customer=str(own[0].id), present="1", slide="99")
    assert [t.value for t in at.title] == [titles[-1]]
    assert button(at, "Next").disabled and not button(at, "Previous").disabled


def test_the_pdf_is_drawn_only_when_asked_for():
    customer, _ = shown_and_others("manager")
    at = open_page("manager", customer=str(customer.id))
    downloads = [d.proto.label for d in at.get("download_button")]
    assert "Download QBR (PDF)" not in downloads and "Figures (CSV)" in downloads
    button(at, "Prepare PDF").click()
    at.run()
    assert not at.exception, at.exception
    assert "Download QBR (PDF)" in [d.proto.label for d in at.get("download_button")]


def test_a_missing_pdf_font_is_one_sentence_not_a_traceback(monkeypatch):
    import reports.qbr_document as document

    def no_font():
        raise document.DocumentFontMissing("The PDF font DejaVu Sans is not installed.")

    monkeypatch.setattr(document, "font_files", no_font)
    customer, _ = shown_and_others("manager")
    at = open_page("manager", customer=str(customer.id))
    button(at, "Prepare PDF").click()
    at.run()
    assert not at.exception, at.exception
    assert [e.value for e in at.error] == ["The PDF font DejaVu Sans is not installed."]
    assert "Download QBR (PDF)" not in [d.proto.label for d in at.get("download_button")]


def test_recording_a_basic_customers_qbr_as_held_is_refused_in_one_sentence():
    with Session(db_engine()) as session:
        basic = session.exec(
            select(Customer).where(Customer.tier == "basic").order_by(Customer.id)
        ).first()
    at = open_page("manager", customer=str(basic.id))
    button(at, "Record QBR held").click()
    at.run()
    assert not at.exception
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and errors[0].startswith("No QBR inputs left: 0 of 0"), errors
    with Session(db_engine()) as session:
        held = session.exec(
            select(QbrNote).where(QbrNote.customer_id == basic.id, QbrNote.held_on.is_not(None))
        ).all()
    assert held == []
