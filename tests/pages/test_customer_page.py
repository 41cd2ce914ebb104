"""The Customer page under AppTest: its open-case rows open the case."""

from __future__ import annotations

import streamlit as st
from sqlalchemy import func
from sqlmodel import Session, select

from data_access.models import Case, Customer, User
from domain.lifecycle import OPEN_STATUSES
from tests.pages.conftest import db_engine, page_path, signed_in


def test_each_open_case_row_links_to_its_case_page():
    with Session(db_engine()) as session:
        me = session.exec(select(User.id).where(User.username == "csm.emea")).one()
        customer_id, open_cases = session.exec(
            select(Customer.id, func.count(Case.id))
            .join(Case, Case.customer_id == Customer.id)
            .where(Customer.csm_id == me, Case.status.in_(OPEN_STATUSES))
            .group_by(Customer.id)
            .order_by(func.count(Case.id).desc())
        ).first()
        case_ids = set(
            session.exec(
                select(Case.id).where(
                    Case.customer_id == customer_id, Case.status.in_(OPEN_STATUSES)
                )
            ).all()
        )
    st.cache_data.clear()
    at = signed_in("csm.emea", page_path("customer.py"))
    at.query_params["customer"] = str(customer_id)
    at.run()
    assert not at.exception, at.exception
    table = next(d.value for d in at.dataframe if "subject" in d.value.columns)
    assert len(table) == open_cases
    assert set(table["case_link"]) == {f"case?id={case_id}" for case_id in case_ids}
