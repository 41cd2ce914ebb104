"""Events and programmes: VIP event offers and product programmes, and their uptake."""

from datetime import UTC, date, datetime
from functools import cache
from zoneinfo import ZoneInfo

import altair as alt
import pandas as pd
import streamlit as st

from data_access import event_commands as cmd
from data_access.actor import Actor
from data_access.events import (
    eligibility_in_scope,
    enrolments,
    events_overview,
    invitations,
    programmes_overview,
    uptake_by_tier,
)
from data_access.scope import Scope
from domain.events import (
    ENROLMENT_LABELS,
    ENROLMENT_MOVES,
    EVENT_KIND_LABELS,
    INVITATION_LABELS,
    INVITATION_MOVES,
    OFFER_LABELS,
    EnrolmentStatus,
    event_to_open,
    offers_text,
)
from domain.roles import Role
from ui.auth import read_session, require_access
from ui.charts import show_chart
from ui.commands import run_command, show_notice
from ui.downloads import csv_download
from ui.format import (
    DATE_COLUMN_FORMAT,
    DATE_INPUT_FORMAT,
    date_text,
    to_zone,
)
from ui.tables import local_time_column

user = require_access(__file__)

MEASURES = {"offered": "Offered", "accepted": "Accepted", "attended": "Attended"}


@st.cache_data(ttl=30, show_spinner="Loading events…")
def load(scope: Scope) -> dict[str, pd.DataFrame]:
    with read_session() as session:
        return {
            "events": events_overview(session=session, scope=scope),
            "tiers": uptake_by_tier(session=session, scope=scope),
            "programmes": programmes_overview(session=session, scope=scope),
            "enrolments": enrolments(session=session, scope=scope),
            "eligibility": eligibility_in_scope(session=session, scope=scope),
        }


@st.cache_data(ttl=30, show_spinner=False)
def load_invitations(scope: Scope, event_id: int) -> pd.DataFrame:
    """One event's invitations: the page lists an event at a time, not every invitation of
    every event (they grow with the customers and the years)."""
    with read_session() as session:
        return invitations(session=session, scope=scope, event_id=event_id)


def offers_labels(offers: pd.Series) -> pd.Series:
    """Each row's offers as shown; every invitation of an event repeats the event's list, so
    each distinct list is spelt out once."""
    return offers.map(cache(offers_text))


def rate_column(label: str = "Acceptance") -> st.column_config.NumberColumn:
    return st.column_config.NumberColumn(label, format="percent", help="Accepted over offered.")


def uptake_table(events: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "Event": events["event"],
            "Kind": events["kind"].map(EVENT_KIND_LABELS),
            "Date": events["starts_on"],
            "Offers": offers_labels(events["offers"]),
            "Offered": events["offered"],
            "Accepted": events["accepted"],
            "Declined": events["declined"],
            "Attended": events["attended"],
            "Acceptance": events["acceptance_rate"],
        }
    )


def uptake_chart(events: pd.DataFrame) -> alt.Chart:
    offered = events[events["offered"] > 0]
    long = offered.melt(
        id_vars=["event", "starts_on"],
        value_vars=list(MEASURES),
        var_name="measure",
        value_name="customers",
    )
    long["measure"] = long["measure"].map(MEASURES)
    order = list(offered.sort_values("starts_on")["event"])
    return (
        alt.Chart(long)
        .mark_bar()
        .encode(
            x=alt.X("event:N", sort=order, title=None, axis=alt.Axis(labelAngle=-20)),
            xOffset=alt.XOffset("measure:N", sort=list(MEASURES.values())),
            y=alt.Y("customers:Q", title="Customers"),
            color=alt.Color("measure:N", sort=list(MEASURES.values()), title=None),
            tooltip=["event:N", "measure:N", "customers:Q"],
        )
        .properties(height=280)
    )


def show_uptake(data: dict[str, pd.DataFrame]) -> None:
    events = data["events"]
    if int(events["offered"].sum() if not events.empty else 0) == 0:
        st.info("No event has been offered to customers you can see yet.")
        return
    show_chart(uptake_chart, events)
    table = uptake_table(events)
    st.dataframe(
        table,
        hide_index=True,
        width="stretch",
        column_config={
            "Date": st.column_config.DateColumn("Date", format=DATE_COLUMN_FORMAT),
            "Acceptance": rate_column(),
        },
    )
    csv_download(table, file_name="event-uptake.csv", key="uptake_csv", user=user)
    st.subheader("Uptake per tier")
    tiers = data["tiers"].rename(
        columns={
            "tier": "Tier",
            "offered": "Offered",
            "accepted": "Accepted",
            "declined": "Declined",
            "attended": "Attended",
            "acceptance_rate": "Acceptance",
        }
    )
    st.dataframe(
        tiers, hide_index=True, column_config={"Acceptance": rate_column()}, width="stretch"
    )


def not_eligible_table(eligibility: pd.DataFrame, flag: str) -> None:
    excluded = eligibility[~eligibility[flag]]
    if excluded.empty:
        return
    st.caption("Not eligible")
    st.dataframe(
        excluded[["customer", "tier_label", "reason"]].rename(
            columns={"customer": "Customer", "tier_label": "Tier", "reason": "Reason"}
        ),
        hide_index=True,
        width="stretch",
    )


def create_event_form(actor: Actor) -> None:
    with st.form("create_event", clear_on_submit=True):
        st.markdown("**New event**")
        name = st.text_input("Name", max_chars=200, placeholder="CPX 2027")
        left, right = st.columns(2)
        kind = left.selectbox("Kind", list(EVENT_KIND_LABELS), format_func=EVENT_KIND_LABELS.get)
        starts_on = right.date_input("Starts on", format=DATE_INPUT_FORMAT)
        offers = st.multiselect(
            "Offers", list(OFFER_LABELS), default=["ticket_discount"], format_func=OFFER_LABELS.get
        )
        description = st.text_area("Description", max_chars=2000)
        submitted = st.form_submit_button("Create event")
    if submitted:
        run_command(
            lambda session: cmd.create_event(
                session=session,
                actor=actor,
                name=name,
                kind=kind,
                starts_on=starts_on,
                offers=offers,
                description=description,
            ),
            "Event created.",
        )


def offer_form(actor: Actor, data: dict[str, pd.DataFrame], today: date) -> None:
    events = data["events"]
    upcoming = events[events["starts_on"] >= today].sort_values("starts_on")
    st.markdown("**Offer an event**")
    if upcoming.empty:
        st.info("No upcoming event to offer; create one first.")
        return
    labels = {
        int(row.event_id): f"{row.event} · {date_text(row.starts_on)}"
        for row in upcoming.itertuples()
    }
    event_id = st.selectbox("Event", list(labels), format_func=labels.get, key="offer_event")
    eligibility = data["eligibility"]
    invited = set(load_invitations(scope, event_id)["customer_id"])
    eligible = eligibility[eligibility["vip_events"] & ~eligibility["customer_id"].isin(invited)]
    names = dict(zip(eligible["customer_id"], eligible["customer"], strict=True))
    if invited:
        st.caption(f"Already offered to {len(invited)} customer(s).")
    with st.form("offer_event_form"):
        chosen = st.multiselect(
            "Eligible customers", list(names), format_func=names.get, key="offer_customers"
        )
        submitted = st.form_submit_button("Offer to the chosen customers", disabled=not names)
    if not names:
        st.caption("Every eligible customer already has this offer.")
    not_eligible_table(eligibility, "vip_events")
    if submitted:
        run_command(
            lambda session: cmd.offer_event(
                session=session, actor=actor, event_id=event_id, customer_ids=chosen
            ),
            "Offer recorded.",
        )


def invitations_table(frame: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "Customer": frame["customer"],
            "Event": frame["event"],
            "Date": frame["starts_on"],
            "Offers": offers_labels(frame["offers"]),
            "Status": frame["status"].map(INVITATION_LABELS),
            "Offered at": to_zone(frame["invited_at"], user.timezone),
            "Updated": to_zone(frame["updated_at"], user.timezone),
        }
    )


def show_invitations(actor: Actor, data: dict[str, pd.DataFrame], manages: bool) -> None:
    if not manages:
        not_eligible_table(data["eligibility"], "vip_events")
    events = data["events"]
    offered = events[events["offered"] > 0] if not events.empty else events
    if offered.empty:
        st.info("No event has been offered to customers you can see yet.")
        return
    labels = {
        int(row.event_id): f"{row.event} · {date_text(row.starts_on)} · {int(row.offered)} offered"
        for row in offered.itertuples()
    }
    event_id = st.selectbox(
        "Invitations to",
        list(labels),
        index=event_to_open(list(offered["starts_on"]), today),
        format_func=labels.get,
        key="invitation_event",
        help="One event at a time, newest first; the soonest upcoming one is chosen first.",
    )
    frame = load_invitations(scope, event_id)
    if frame.empty:  # its invitations were withdrawn since the counts were read
        st.info("This event has no invitation for customers you can see.")
        return
    customers = ["All customers", *sorted(frame["customer"].unique())]
    which = st.selectbox("Customer", customers, key="invitation_customer")
    shown = frame if which == customers[0] else frame[frame["customer"] == which]
    st.dataframe(
        invitations_table(shown),
        hide_index=True,
        width="stretch",
        column_config={
            "Date": st.column_config.DateColumn("Date", format=DATE_COLUMN_FORMAT),
            "Offered at": local_time_column(user.timezone, "Offered at"),
            "Updated": local_time_column(user.timezone, "Updated"),
        },
    )
    answerable = [str(status) for status, moves in INVITATION_MOVES.items() if moves]
    open_ones = shown[shown["status"].isin(answerable)]
    st.markdown("**Record the customer's answer**")
    if open_ones.empty:
        st.caption("Every invitation shown is final (attended).")
        return
    texts = (
        open_ones["customer"].astype(str)
        + " · "
        + open_ones["event"].astype(str)
        + " · "
        + open_ones["status"].astype(str).map(INVITATION_LABELS)
    )
    labels = dict(zip(open_ones["invitation_id"].astype(int).tolist(), texts, strict=True))
    invitation_id = st.selectbox(
        "Invitation", list(labels), format_func=labels.get, key="answer_invitation"
    )
    current = open_ones.set_index("invitation_id").loc[invitation_id, "status"]
    moves = sorted(INVITATION_MOVES[current])
    status = st.radio(
        "New status", moves, format_func=INVITATION_LABELS.get, horizontal=True, key="answer"
    )
    if st.button("Record", key="record_answer"):
        run_command(
            lambda session: cmd.set_invitation_status(
                session=session, actor=actor, invitation_id=invitation_id, status=status
            ),
            "Answer recorded.",
        )


def create_programme_form(actor: Actor) -> None:
    with st.form("create_programme", clear_on_submit=True):
        st.markdown("**New programme**")
        name = st.text_input("Name", max_chars=200, placeholder="Early access: …")
        description = st.text_area("Description", max_chars=2000)
        is_open = st.checkbox("Open to new customers", value=True)
        submitted = st.form_submit_button("Create programme")
    if submitted:
        run_command(
            lambda session: cmd.create_programme(
                session=session, actor=actor, name=name, description=description, is_open=is_open
            ),
            "Programme created.",
        )


def enrolment_form(actor: Actor, data: dict[str, pd.DataFrame]) -> None:
    programmes = data["programmes"]
    eligibility = data["eligibility"]
    st.markdown("**Nominate, enrol or withdraw a customer**")
    eligible = eligibility[eligibility["product_programmes"]]
    if eligible.empty:
        st.caption("None of your customers is eligible for product programmes.")
        not_eligible_table(eligibility, "product_programmes")
        return
    programme_names = dict(zip(programmes["programme_id"], programmes["programme"], strict=True))
    customer_names = dict(zip(eligible["customer_id"], eligible["customer"], strict=True))
    left, right = st.columns(2)
    programme_id = left.selectbox(
        "Programme", list(programme_names), format_func=programme_names.get, key="enrol_prog"
    )
    customer_id = right.selectbox(
        "Customer", list(customer_names), format_func=customer_names.get, key="enrol_customer"
    )
    existing = data["enrolments"]
    match = existing[
        (existing["programme_id"] == programme_id) & (existing["customer_id"] == customer_id)
    ]
    current = None if match.empty else str(match["status"].iloc[0])
    choices = (
        [EnrolmentStatus.NOMINATED.value, EnrolmentStatus.ENROLLED.value]
        if current is None
        else sorted(ENROLMENT_MOVES[current])
    )
    st.caption(
        "Not in the programme yet."
        if current is None
        else f"Currently {ENROLMENT_LABELS[current].lower()}."
    )
    status = st.radio(
        "New status", choices, format_func=ENROLMENT_LABELS.get, horizontal=True, key="enrol"
    )
    if st.button("Save enrolment", key="save_enrolment"):
        run_command(
            lambda session: cmd.set_programme_enrolment(
                session=session,
                actor=actor,
                programme_id=programme_id,
                customer_id=customer_id,
                status=status,
            ),
            "Enrolment saved.",
        )
    not_eligible_table(eligibility, "product_programmes")


def show_programmes(actor: Actor, data: dict[str, pd.DataFrame], manages: bool) -> None:
    programmes = data["programmes"]
    if programmes.empty:
        st.info("No product programme yet.")
    else:
        st.dataframe(
            pd.DataFrame(
                {
                    "Programme": programmes["programme"],
                    "Description": programmes["description"],
                    "Open": programmes["is_open"],
                    "Nominated": programmes["nominated"],
                    "Enrolled": programmes["enrolled"],
                    "Withdrawn": programmes["withdrawn"],
                }
            ),
            hide_index=True,
            width="stretch",
        )
        listed = data["enrolments"]
        if listed.empty:
            st.caption("No customer you can see is in a programme yet.")
        else:
            st.dataframe(
                pd.DataFrame(
                    {
                        "Programme": listed["programme"],
                        "Customer": listed["customer"],
                        "Tier": listed["tier"],
                        "Status": listed["status"].map(ENROLMENT_LABELS),
                        "Since": to_zone(listed["enrolled_at"], user.timezone),
                    }
                ),
                hide_index=True,
                width="stretch",
                column_config={"Since": local_time_column(user.timezone, "Since")},
            )
        enrolment_form(actor, data)
    if manages:
        create_programme_form(actor)


actor = Actor.of(user)
scope = Scope.for_user(user)
manages = bool({Role.MANAGER, Role.ADMIN} & set(user.roles))
today = datetime.now(UTC).astimezone(ZoneInfo(user.timezone)).date()

st.title("Events and programmes")
show_notice()
st.caption(
    "VIP event offers (ticket discounts, keynote seating, other VIP access) and product "
    "programmes are benefits of the tiers whose policy includes them."
    + ("" if manages else " Managers create events and make the offers; you record the answers.")
)
data = load(scope)

uptake_tab, invitations_tab, programmes_tab = st.tabs(
    ["Uptake", "Invitations", "Programmes"] if not manages else ["Uptake", "Events", "Programmes"]
)
with uptake_tab:
    show_uptake(data)
with invitations_tab:
    if manages:
        offer_form(actor, data, today)
        st.divider()
        create_event_form(actor)
        st.divider()
    show_invitations(actor, data, manages)
with programmes_tab:
    show_programmes(actor, data, manages)
