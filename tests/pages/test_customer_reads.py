"""ui/customers.py: a picker lists names only, and the chosen customer is read whole, within the
viewer's scope."""

from __future__ import annotations

from sqlmodel import Session, select
from streamlit.testing.v1 import AppTest

from data_access.models import Customer, User
from tests.pages.conftest import db_engine


def chosen_page(user_id: int, all_customers: bool, customer_id: int) -> None:
    import streamlit as st

    from data_access.scope import Scope
    from ui.customers import chosen_customer, load_customer_names

    scope = Scope(user_id=user_id, all_customers=all_customers)
    st.caption(f"{len(load_customer_names(scope))} listed")
    customer = chosen_customer(scope, customer_id)
    st.caption(f"{customer.name}: {customer['name']} ({customer['tier_label']})")


def ids():
    with Session(db_engine()) as session:
        csm = session.exec(select(User.id).where(User.username == "csm.emea")).one()
        own = session.exec(select(Customer).where(Customer.csm_id == csm)).first()
        other = session.exec(
            select(Customer).where(
                Customer.csm_id != csm,
                (Customer.hypercare_resource_id != csm) | Customer.hypercare_resource_id.is_(None),
            )
        ).first()
    return csm, own, other


def captions(at: AppTest) -> list[str]:
    return [caption.value for caption in at.caption]


def test_the_chosen_customer_is_read_whole_and_named_by_its_id():
    csm, own, _ = ids()
    at = AppTest.from_function(chosen_page, args=(csm, False, own.id), default_timeout=30).run()
    assert not at.exception, at.exception
    assert not at.warning
    assert captions(at)[1].startswith(f"{own.id}: {own.name} (")


def test_a_customer_outside_the_scope_stops_the_page_with_a_warning():
    csm, _, other = ids()
    at = AppTest.from_function(chosen_page, args=(csm, False, other.id), default_timeout=30).run()
    assert not at.exception, at.exception
    assert [w.value for w in at.warning] == [
        "That customer is no longer in your portfolio; choose another."
    ]
    assert len(captions(at)) == 1  # nothing of that customer is shown
    manager = AppTest.from_function(chosen_page, args=(csm, True, other.id), default_timeout=30)
    manager.run()
    assert not manager.warning and captions(manager)[1].startswith(f"{other.id}: ")
