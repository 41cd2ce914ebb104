"""Customer reads several pages share, cached briefly; every write clears them
(`ui.commands.run_command`): the names of the viewer's customers for a picker and the chosen
one's whole row, a customer's contacts, and who may be assigned its work."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from data_access.cases import case_assignees
from data_access.customers import contacts_of, customer_names_in_scope, customers_in_scope
from data_access.scope import Scope
from ui.auth import read_session


@st.cache_data(ttl=30, show_spinner=False)
def load_customer_names(scope: Scope) -> pd.DataFrame:
    """Id and name of the customers within `scope`, for a picker (`customer_picker`)."""
    with read_session() as session:
        return customer_names_in_scope(session=session, scope=scope)


@st.cache_data(ttl=30, show_spinner=False)
def _load_customer_rows(scope: Scope, customer_id: int) -> pd.DataFrame:
    with read_session() as session:
        return customers_in_scope(session=session, scope=scope.narrowed_to(customer_id))


def chosen_customer(scope: Scope, customer_id: int) -> pd.Series:
    """The picked customer's row of `customers_in_scope` (indexed by id, so its `.name` is the
    id), read alone; a customer that has left the viewer's scope since the picker's list was read
    stops the page with a warning."""
    rows = _load_customer_rows(scope, customer_id)
    if rows.empty:
        st.warning("That customer is no longer in your portfolio; choose another.")
        st.stop()
    return rows.set_index("id").loc[customer_id]


@st.cache_data(ttl=30, show_spinner=False)
def load_contacts(customer_id: int) -> pd.DataFrame:
    """The customer's contacts (`data_access.customers.contacts_of`)."""
    with read_session() as session:
        return contacts_of(session=session, customer_id=customer_id)


@st.cache_data(ttl=60, show_spinner=False)
def load_assignees(customer_id: int) -> pd.DataFrame:
    """Active CSMs who can see the customer: who may take its cases or run its feedback
    sessions (the commands check it again)."""
    with read_session() as session:
        return case_assignees(session=session, customer_id=customer_id)
