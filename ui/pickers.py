"""Shared pickers whose choice lives in the URL, so a view can be shared as a link."""

from __future__ import annotations

import pandas as pd
import streamlit as st


def customer_picker(customers: pd.DataFrame, *, key: str, label_visibility: str = "visible") -> int:
    """The customer named in the URL (`?customer=ID`) when the viewer may see it, else the first.

    `customers` is the viewer's scope, so an ID from someone else's portfolio typed into the URL
    only gets a warning: nothing of that customer is shown.
    """
    names = dict(zip(customers["id"], customers["name"], strict=True))
    ids = list(names)
    requested = st.query_params.get("customer")
    try:
        current = int(requested) if requested is not None else ids[0]
    except ValueError:
        current = None
    if current not in names:
        st.warning("That customer is not in your portfolio; choose one below.")
        current = ids[0]
    choice = st.selectbox(
        "Customer",
        ids,
        index=ids.index(current),
        format_func=names.get,
        key=key,
        label_visibility=label_visibility,
    )
    if choice != current or requested is None:
        st.query_params["customer"] = str(choice)
    return int(choice)
