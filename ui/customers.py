"""The viewer's customers, read once for every page that picks one."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from data_access.customers import customers_in_scope
from data_access.scope import Scope
from ui.auth import read_session


@st.cache_data(ttl=30, show_spinner=False)
def load_customers(scope: Scope) -> pd.DataFrame:
    """The customers within `scope` (all of them for managers and admins), cached briefly;
    every write clears the cache (`ui.commands.run_command`)."""
    with read_session() as session:
        return customers_in_scope(session=session, scope=scope)
