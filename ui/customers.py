"""Customer reads several pages share, cached briefly; every write clears them
(`ui.commands.run_command`): the viewer's customers, a customer's contacts, and who may be
assigned its work."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from data_access.cases import case_assignees
from data_access.customers import contacts_of, customers_in_scope
from data_access.scope import Scope
from ui.auth import read_session


@st.cache_data(ttl=30, show_spinner=False)
def load_customers(scope: Scope) -> pd.DataFrame:
    """The customers within `scope` (all of them for managers and admins)."""
    with read_session() as session:
        return customers_in_scope(session=session, scope=scope)


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
