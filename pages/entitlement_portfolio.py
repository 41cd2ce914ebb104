"""Entitlement portfolio (managers and admins): over every customer, the allowances still unused as
renewal nears, the optimisation requests past their target date, and refused over-cap enrolments.

Top to bottom, as on the screen: the renewal window; the watchlist, a page of customers at a
time, soonest renewal first (its CSV holds all of them); the overdue deliveries, a page at a time,
most overdue first (its CSV holds all of them); the over-cap attempts of the last
`OVER_CAP_WINDOW`.
"""

from datetime import UTC, date, datetime

import pandas as pd
import streamlit as st

from data_access import entitlement_portfolio
from data_access.entitlement_portfolio import (
    over_cap_attempts,
    overdue_deliveries,
    overdue_deliveries_page,
    renewal_watchlist,
    renewal_watchlist_page,
)
from data_access.scope import Scope
from domain.entitlements import OVER_CAP_WINDOW, RequestState
from domain.paging import span
from ui.auth import read_session, require_access
from ui.downloads import csv_download
from ui.format import DATE_COLUMN_FORMAT, to_zone
from ui.paging import page_picker
from ui.tables import local_time_column

user = require_access(__file__)

STATE_LABELS = {state.value: state.value.replace("_", " ").capitalize() for state in RequestState}


def portfolio_screen() -> None:
    """The page, section by section in the order they appear."""
    scope = Scope.for_user(user)
    today = datetime.now(UTC).date()
    st.title("Entitlement portfolio")
    within = st.slider("Renewing within (days)", 15, 180, 60, step=15, key="watch_days")
    watchlist_section(scope, today, within)
    overdue_section(scope, today)
    attempts_section(load_attempts(scope))


def page_key(within: int) -> str:
    """A window of its own page choice: a new window starts at its first page."""
    return f"watch_page_{within}"


def watchlist_section(scope: Scope, today: date, within: int) -> None:
    st.subheader("Unused entitlements nearing renewal")
    size = entitlement_portfolio.WATCHLIST_PAGE
    asked = st.session_state.get(page_key(within), 0)
    watchlist, renewing = load_watchlist(scope, today, within, asked)
    nothing = f"No customer renewing within {within} days has unused entitlements."
    if renewing == 0:
        st.info(nothing)
        return
    page = page_picker(
        "Customers",
        renewing,
        size,
        page_key(within),
        "Customers renewing within the window, soonest first, a page at a time.",
    )
    if page != asked:  # fewer renew now than when that page was chosen
        watchlist, renewing = load_watchlist(scope, today, within, page)
    if renewing <= size and watchlist.empty:
        st.info(nothing)
        return
    first, last = span(page, size, renewing)
    st.caption(
        f"Customers renewing within {within} days: {renewing:,}"
        + (f"; these are {first:,}–{last:,}, soonest first" if renewing > size else "")
        + ". Those with nothing unused are left out; the download holds the whole watchlist."
    )
    if watchlist.empty:
        st.info(f"None of customers {first:,}–{last:,} has unused entitlements.")
    else:
        watchlist_table(watchlist)

    def whole_watchlist() -> pd.DataFrame:
        """Read when the download is clicked: every customer in the window, not just the page."""
        with read_session() as session:
            return renewal_watchlist(session=session, scope=scope, today=today, within_days=within)

    csv_download(
        whole_watchlist,
        file_name="renewal-watchlist.csv",
        key="watchlist_csv",
        user=user,
        label="Download the watchlist (CSV)",
    )


def watchlist_table(watchlist: pd.DataFrame) -> None:
    st.dataframe(
        watchlist,
        hide_index=True,
        key="watchlist",
        column_order=["customer", "tier_label", "summary", "renews_on"],
        column_config={
            "customer": "Customer",
            "tier_label": "Tier",
            "summary": st.column_config.TextColumn("Unused", width="large"),
            "renews_on": st.column_config.DateColumn("Renews on", format=DATE_COLUMN_FORMAT),
        },
    )


OVERDUE_PAGE_KEY = "overdue_page"


def overdue_section(scope: Scope, today: date) -> None:
    st.subheader("Overdue deliveries")
    size = entitlement_portfolio.OVERDUE_PAGE
    asked = st.session_state.get(OVERDUE_PAGE_KEY, 0)
    overdue, total = load_overdue(scope, today, asked)
    if total == 0:
        st.info("No optimisation request is past its target date.")
        return
    page = page_picker(
        "Requests",
        total,
        size,
        OVERDUE_PAGE_KEY,
        "Overdue requests, most overdue first, a page at a time.",
    )
    if page != asked:  # some were delivered since that page was chosen
        overdue, total = load_overdue(scope, today, page)
    first, last = span(page, size, total)
    st.caption(
        f"Requests past their target date: {total:,}"
        + (f"; these are {first:,}–{last:,}, most overdue first" if total > size else "")
        + ". The download holds all of them."
    )
    st.dataframe(
        overdue.assign(status=overdue["state"].map(STATE_LABELS)),
        hide_index=True,
        key="overdue",
        column_order=["customer", "id", "requested_by", "status", "target_date", "days_overdue"],
        column_config={
            "customer": "Customer",
            "id": st.column_config.NumberColumn("Request", format="#%d"),
            "requested_by": "Asked by",
            "status": "Status",
            "target_date": st.column_config.DateColumn("Target", format=DATE_COLUMN_FORMAT),
            "days_overdue": st.column_config.NumberColumn("Days overdue"),
        },
    )

    def all_overdue() -> pd.DataFrame:
        """Read when the download is clicked: every overdue request, not just the page."""
        with read_session() as session:
            whole = overdue_deliveries(session=session, scope=scope, today=today)
        return whole.assign(status=whole["state"].map(STATE_LABELS))[
            ["customer", "id", "requested_by", "model", "status", "target_date", "days_overdue"]
        ]

    csv_download(
        all_overdue,
        file_name="overdue-deliveries.csv",
        key="overdue_csv",
        user=user,
        label="Download the overdue deliveries (CSV)",
    )


def attempts_section(attempts: pd.DataFrame) -> None:
    st.subheader(f"Over-cap attempts (last {OVER_CAP_WINDOW.days} days)")
    if attempts.empty:
        st.info(
            f"Nobody tried to enrol a model past a cap in the last {OVER_CAP_WINDOW.days} days."
        )
        return
    st.dataframe(
        attempts.assign(at_local=to_zone(attempts["at"], user.timezone)),
        hide_index=True,
        key="attempts",
        column_order=["at_local", "customer", "model", "which", "cap", "enrolled", "actor"],
        column_config={
            "at_local": local_time_column(user.timezone),
            "customer": "Customer",
            "model": "Model",
            "which": "Enrolment",
            "cap": st.column_config.NumberColumn("Cap"),
            "enrolled": st.column_config.NumberColumn("Enrolled"),
            "actor": "Who tried",
        },
    )


@st.cache_data(ttl=60, show_spinner="Loading the watchlist…")
def load_watchlist(scope: Scope, today: date, within_days: int, page: int) -> tuple:
    with read_session() as session:
        return renewal_watchlist_page(
            session=session, scope=scope, today=today, within_days=within_days, page=page
        )


@st.cache_data(ttl=60, show_spinner="Loading the overdue deliveries…")
def load_overdue(scope: Scope, today: date, page: int) -> tuple:
    with read_session() as session:
        return overdue_deliveries_page(session=session, scope=scope, today=today, page=page)


@st.cache_data(ttl=60, show_spinner=False)
def load_attempts(scope: Scope) -> pd.DataFrame:
    with read_session() as session:
        return over_cap_attempts(
            session=session, scope=scope, since=datetime.now(UTC) - OVER_CAP_WINDOW
        )


portfolio_screen()
