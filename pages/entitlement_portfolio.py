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
from ui.auth import read_session, require_access
from ui.downloads import csv_download
from ui.format import DATE_COLUMN_FORMAT, to_zone
from ui.tables import local_time_column

user = require_access(__file__)

STATE_LABELS = {state.value: state.value.replace("_", " ").capitalize() for state in RequestState}


def portfolio_screen() -> None:
    """The page, section by section in the order they appear."""
    scope = Scope.for_user(user)
    today = datetime.now(UTC).date()
    st.title("Entitlement portfolio")
    within = st.slider("Renewing within (days)", 15, 180, 60, step=15, key="watch_days")
    page = st.session_state.get(page_key(within), 0)
    watchlist, renewing = load_watchlist(scope, today, within, page)
    watchlist_section(watchlist, renewing, scope, today, within)
    overdue_section(scope, today)
    attempts_section(load_attempts(scope))


def page_key(within: int) -> str:
    """A window of its own page choice: a new window starts at its first page."""
    return f"watch_page_{within}"


def watchlist_section(
    watchlist: pd.DataFrame, renewing: int, scope: Scope, today: date, within: int
) -> None:
    st.subheader("Unused entitlements nearing renewal")
    nothing = f"No customer renewing within {within} days has unused entitlements."
    if renewing == 0:
        st.info(nothing)
        return
    size = entitlement_portfolio.WATCHLIST_PAGE
    pages = -(-renewing // size)
    if pages > 1:
        st.selectbox(
            "Customers",
            range(pages),
            format_func=lambda p: f"{p * size + 1:,}–{min((p + 1) * size, renewing):,}",
            key=page_key(within),
            help="Customers renewing within the window, soonest first, a page at a time.",
        )
    elif watchlist.empty:
        st.info(nothing)
        return
    page = min(st.session_state.get(page_key(within), 0), pages - 1)
    first, last = page * size + 1, min((page + 1) * size, renewing)
    st.caption(
        f"Customers renewing within {within} days: {renewing:,}"
        + (f"; these are {first:,}–{last:,}, soonest first" if pages > 1 else "")
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
    page = st.session_state.get(OVERDUE_PAGE_KEY, 0)
    overdue, total = load_overdue(scope, today, page)
    if total == 0:
        st.info("No optimisation request is past its target date.")
        return
    pages = -(-total // size)
    if page >= pages:  # some were delivered since the page was chosen: show the last one
        page = st.session_state[OVERDUE_PAGE_KEY] = pages - 1
        overdue, total = load_overdue(scope, today, page)
    if pages > 1:
        st.selectbox(
            "Requests",
            range(pages),
            format_func=lambda p: f"{p * size + 1:,}–{min((p + 1) * size, total):,}",
            key=OVERDUE_PAGE_KEY,
            help="Overdue requests, most overdue first, a page at a time.",
        )
    first, last = page * size + 1, min((page + 1) * size, total)
    st.caption(
        f"Requests past their target date: {total:,}"
        + (f"; these are {first:,}–{last:,}, most overdue first" if pages > 1 else "")
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
