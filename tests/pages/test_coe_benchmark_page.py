"""The CoE benchmark page under AppTest: who may open it, the form and the CSV upload."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import pytest
import streamlit as st
from sqlalchemy import delete, func, insert
from sqlmodel import Session, select
from streamlit.testing.v1 import AppTest

from data_access.models import AuditLog, CoeSnapshot, Customer, EntitlementEntry, Region, User
from domain.quarters import Quarter
from tests.pages.conftest import db_engine, page_path, signed_in

PAGE = "coe_benchmark.py"
TABLES = (CoeSnapshot, EntitlementEntry, AuditLog)


def open_page(username: str, customer_id: int | None = None, quarter: str | None = None) -> AppTest:
    st.cache_data.clear()  # AppTest shares this process's cache; tests write around the page
    at = signed_in(username, page_path(PAGE))
    if customer_id is not None:
        at.query_params["customer"] = str(customer_id)
    if quarter is not None:
        at.query_params["quarter"] = quarter
    at.run()
    assert not at.exception, at.exception
    return at


@contextmanager
def restoring_rows(removed: tuple = ()) -> Iterator[None]:
    """Let a test write through the page, then remove exactly the rows it added and put back the
    seeded rows it removed first (`removed`: (table, where-clause) pairs)."""
    engine = db_engine()
    with Session(engine) as session:
        marks = {t: session.exec(select(func.max(t.id))).one() or 0 for t in TABLES}
    saved = []
    with engine.begin() as connection:
        for table, where in removed:
            saved += [
                (table, dict(r._mapping)) for r in connection.execute(select(table).where(where))
            ]
            connection.execute(delete(table).where(where))
    try:
        yield
    finally:
        with engine.begin() as connection:
            for table in TABLES:
                connection.execute(delete(table).where(table.id > marks[table]))
            for table, values in saved:
                connection.execute(insert(table).values(**values))


def frame_with(at: AppTest, column: str):
    """The first table on the page with `column` (AppTest does not expose dataframe keys)."""
    return next(f.value for f in at.dataframe if column in f.value.columns)


def customer_of(username: str) -> Customer:
    """The user's first customer on a HyperCare tier."""
    with Session(db_engine()) as session:
        me = session.exec(select(User.id).where(User.username == username)).one()
        return next(
            c
            for c in session.exec(select(Customer).order_by(Customer.id)).all()
            if c.tier != "basic" and me in (c.csm_id, c.hypercare_resource_id)
        )


def current_quarter(customer: Customer) -> Quarter:
    with Session(db_engine()) as session:
        zone = session.exec(select(Region.timezone).where(Region.id == customer.region_id)).one()
    return Quarter.of_instant(datetime.now(UTC), zone)


def snapshot(customer_id: int, quarter: Quarter) -> CoeSnapshot | None:
    with Session(db_engine()) as session:
        return session.exec(
            select(CoeSnapshot).where(
                CoeSnapshot.customer_id == customer_id, CoeSnapshot.quarter == quarter.key
            )
        ).first()


def coe_debits(customer_id: int) -> int:
    with Session(db_engine()) as session:
        return session.exec(
            select(func.count())
            .select_from(EntitlementEntry)
            .where(
                EntitlementEntry.customer_id == customer_id,
                EntitlementEntry.kind == "coe_benchmark",
            )
        ).one()


@pytest.mark.parametrize("username", ["manager", "admin", "csm.emea"])
def test_allowed_roles_open_the_page(username):
    at = open_page(username)
    assert at.title[0].value == "CoE benchmark"
    assert not at.error


def test_a_hypercare_customer_with_a_benchmark_shows_the_comparison_and_history():
    customer = customer_of("csm.emea")
    at = open_page("manager", customer.id)
    headings = [s.value for s in at.subheader]
    assert "History" in headings
    assert any(h.startswith("Against peers") for h in headings)
    assert frame_with(at, "taken_on").shape[0] >= 1
    charts = at.get("arrow_vega_lite_chart") + at.get("vega_lite_chart")
    assert charts, "the percentile bars and the history trend"
    table = frame_with(at, "Percentile")
    assert table["Measure"].tolist()[:2] == [
        "Certified model builders",
        "Certified solution architects",
    ]


def test_survey_staff_cannot_open_the_page():
    at = signed_in("surveys")
    at.run()
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page(page_path(PAGE))
    direct = signed_in("surveys", page_path(PAGE))
    direct.run()
    assert [e.value for e in direct.error] == ["Your role does not give access to this page."]
    assert not direct.title and not direct.dataframe


def test_a_basic_customer_gets_one_sentence_and_no_form():
    with Session(db_engine()) as session:
        basic = session.exec(select(Customer).where(Customer.tier == "basic")).first()
    at = open_page("manager", basic.id)
    assert [i.value for i in at.info] == [
        "The CoE benchmark is not part of Basic; it comes with the HyperCare tiers."
    ]
    assert not at.button and not at.number_input


def test_a_form_submission_records_the_quarter_and_debits_once():
    customer = customer_of("csm.emea")
    quarter = current_quarter(customer)
    seeded_rows = (
        (
            CoeSnapshot,
            (CoeSnapshot.customer_id == customer.id) & (CoeSnapshot.quarter == quarter.key),
        ),
        (  # the seed's debit for that snapshot goes with it
            EntitlementEntry,
            (EntitlementEntry.customer_id == customer.id)
            & (EntitlementEntry.reason == f"CoE benchmark {quarter.label}"),
        ),
    )
    seeded = snapshot(customer.id, quarter)
    with restoring_rows(seeded_rows):
        assert snapshot(customer.id, quarter) is None
        debits = coe_debits(customer.id)
        at = open_page("csm.emea", customer.id, quarter.code)
        suffix = f"{customer.id}_{quarter.code}"
        at.number_input(key=f"coe_certified_builders_{suffix}").set_value(6)
        at.number_input(key=f"coe_production_models_{suffix}").set_value(18)
        at.number_input(key=f"coe_licensed_users_{suffix}").set_value(500)
        at.number_input(key=f"coe_active_users_{suffix}").set_value(320)
        next(b for b in at.button if b.label == "Record the snapshot").click()
        at.run()
        assert not at.exception, at.exception
        assert not at.error, [e.value for e in at.error]
        stored = snapshot(customer.id, quarter)
        assert stored is not None
        assert (stored.certified_builders, stored.production_models) == (6, 18)
        assert (stored.licensed_users, stored.active_users) == (500, 320)
        assert coe_debits(customer.id) == debits + 1
    restored = snapshot(customer.id, quarter)
    assert (restored and restored.model_dump()) == (seeded and seeded.model_dump())


def test_a_refused_form_shows_the_sentence_and_writes_nothing():
    customer = customer_of("csm.emea")
    quarter = current_quarter(customer)
    before = snapshot(customer.id, quarter)
    with restoring_rows():
        at = open_page("csm.emea", customer.id, quarter.code)
        suffix = f"{customer.id}_{quarter.code}"
        at.number_input(key=f"coe_licensed_users_{suffix}").set_value(10)
        at.number_input(key=f"coe_active_users_{suffix}").set_value(11)
        label = "Correct the snapshot" if before is not None else "Record the snapshot"
        next(b for b in at.button if b.label == label).click()
        at.run()
        assert not at.exception, at.exception
        assert [e.value for e in at.error] == [
            "Active users (11) cannot exceed licensed users (10)."
        ]
        after = snapshot(customer.id, quarter)
        assert (after is None) == (before is None)
        if before is not None:
            assert after.active_users == before.active_users


def test_a_wrong_csv_upload_lists_problems_with_line_numbers():
    customer = customer_of("csm.emea")
    header = (
        "customer_id,quarter,certified_builders,certified_architects,master_planners,"
        "production_models,workspaces,workspace_size_gb,workspace_allowance_gb,licensed_users,"
        "active_users,alm_in_use,data_hub,maturity_stage"
    )
    content = "\n".join(
        [
            header,
            f"{customer.id},2026Q1,3,1,0,9,2,50,200,400,300,yes,no,2",
            f"{customer.id},2026Q2,-3,1,0,9,2,50,200,400,300,yes,no,7",
        ]
    )
    before = (coe_debits(customer.id), snapshot(customer.id, Quarter(2026, 1)))
    with restoring_rows():
        at = open_page("csm.emea", customer.id)
        at.file_uploader(key="coe_file").set_value(("coe.csv", content.encode(), "text/csv"))
        at.run()
        next(b for b in at.button if b.label == "Check and record").click()
        at.run()
        assert not at.exception, at.exception
        assert [e.value for e in at.error] == [
            "The file was refused and nothing was recorded: 2 problems on 1 line, "
            "the first on line 3."
        ]
        problems = frame_with(at, "problem")
        assert problems["line"].tolist() == [3, 3]
        assert "negative" in problems["problem"].iloc[0]
        assert "maturity stage" in problems["problem"].iloc[1]
        after = (coe_debits(customer.id), snapshot(customer.id, Quarter(2026, 1)))
        assert after[0] == before[0]
        assert (after[1] is None) == (before[1] is None)
