"""Calendars: each region's time zone, weekly hours, public holidays and closures, with a preview."""

from datetime import UTC, date, datetime

import pandas as pd
import streamlit as st

from data_access import calendar_commands as calendars
from data_access.actor import Actor
from data_access.audit import CommandRefused
from data_access.customers import regions
from data_access.policies import tier_labels, tier_policies
from domain.dates import day_text
from domain.durations import duration_text
from ui.auth import read_session, require_access
from ui.commands import run_command, show_notice
from ui.format import DATE_INPUT_FORMAT, local_time_text, time_zone_names

user = require_access(__file__)


@st.cache_data(ttl=300)
def region_rows() -> pd.DataFrame:
    with read_session() as session:
        return regions(session=session)


@st.cache_data(ttl=300)
def hours_rows(region_id: int) -> pd.DataFrame:
    with read_session() as session:
        return calendars.weekly_hours_frame(session=session, region_id=region_id)


@st.cache_data(ttl=300)
def closure_rows(region_id: int) -> pd.DataFrame:
    with read_session() as session:
        return calendars.closures_frame(session=session, region_id=region_id)


@st.cache_data(ttl=300)
def policy_rows() -> tuple[dict, dict]:
    with read_session() as session:
        return tier_policies(session=session), tier_labels(session=session)


def next_revision(_saved: object) -> None:
    """After a write the editors start afresh: a new key drops the edits just saved."""
    st.session_state["calendar_revision"] = revision + 1


def both_zones(moment: datetime, region_zone: str) -> str:
    """'3 Mar 2026 09:00 Europe/London · 3 Mar 2026 10:00 your time'."""
    text = f"{local_time_text(moment, region_zone)} {region_zone}"
    if user.timezone != region_zone:
        text += f" · {local_time_text(moment, user.timezone)} your time"
    return text


revision = st.session_state.setdefault("calendar_revision", 0)

st.title("Calendars")
show_notice()
st.caption(
    "Resolution guidelines count business time on the customer's region calendar; first "
    "responses count calendar minutes (support is 24/7). Changes apply to every clock, "
    "including cases already open."
)

all_regions = region_rows()
if all_regions.empty:
    st.info("There are no regions yet.")
    st.stop()
region_id = st.selectbox(
    "Region",
    all_regions["id"].tolist(),
    format_func=dict(
        zip(all_regions["id"], all_regions["code"] + " — " + all_regions["name"], strict=True)
    ).get,
)
region = all_regions[all_regions["id"] == region_id].iloc[0]
key = f"{region['code']}_{revision}"
closures = closure_rows(int(region_id))

settings, preview = st.columns([3, 2], gap="large")

with settings:
    with st.container(border=True):
        st.subheader("Time zone and public holidays")
        zones = time_zone_names()
        timezone = st.selectbox(
            "Time zone",
            zones,
            index=zones.index(region["timezone"]) if region["timezone"] in zones else None,
            key=f"timezone_{key}",
        )
        countries = calendars.holiday_countries()
        codes = list(countries)
        country = st.selectbox(
            "Public holidays of",
            codes,
            index=codes.index(region["holiday_country"])
            if region["holiday_country"] in codes
            else None,
            format_func=lambda code: f"{countries[code]} ({code})",
            key=f"country_{key}",
        )
        subdivisions = [None, *calendars.holiday_subdivisions(country or "")]
        current_subdivision = region["holiday_subdivision"]
        subdivision = st.selectbox(
            "Subdivision",
            subdivisions,
            index=subdivisions.index(current_subdivision)
            if current_subdivision in subdivisions
            else 0,
            format_func=lambda code: "Whole country" if code is None else code,
            key=f"subdivision_{key}_{country}",
        )
        if st.button("Save time zone and holidays", key="save_settings"):

            def save_settings(session):
                calendars.set_timezone(
                    session=session,
                    actor=Actor.of(user),
                    region_id=int(region_id),
                    timezone=timezone or "",
                )
                calendars.set_holiday_country(
                    session=session,
                    actor=Actor.of(user),
                    region_id=int(region_id),
                    country=country or "",
                    subdivision=subdivision,
                )

            run_command(
                save_settings,
                f"{region['code']} time zone and holidays saved.",
                on_success=next_revision,
            )

    with st.container(border=True):
        st.subheader("Weekly hours")
        st.caption(
            f"Local times in {timezone or region['timezone']}. Several rows on one day make a "
            "split day (a lunch break); a period closing at 00:00 runs to midnight."
        )
        edited_hours = st.data_editor(
            hours_rows(int(region_id)),
            num_rows="dynamic",
            hide_index=True,
            key=f"hours_{key}",
            column_config={
                "weekday": st.column_config.SelectboxColumn(
                    "Weekday", options=list(calendars.WEEKDAYS), required=True
                ),
                "opens": st.column_config.TimeColumn("Opens", format="HH:mm", required=True),
                "closes": st.column_config.TimeColumn("Closes", format="HH:mm", required=True),
            },
        )
        if st.button("Save weekly hours", type="primary", key="save_hours"):
            run_command(
                lambda session: calendars.set_weekly_hours(
                    session=session,
                    actor=Actor.of(user),
                    region_id=int(region_id),
                    hours=calendars.hours_from_rows(edited_hours),
                ),
                f"{region['code']} weekly hours saved.",
                on_success=next_revision,
            )

    with st.container(border=True):
        st.subheader("Extra closures and worked holidays")
        if closures.empty:
            st.info("No extra closures; the region follows its weekly hours and public holidays.")
        else:
            st.dataframe(
                closures,
                hide_index=True,
                column_config={
                    "day": st.column_config.DateColumn("Day", format="ddd D MMM YYYY"),
                    "reason": "Reason",
                    "is_open": st.column_config.CheckboxColumn("Worked public holiday"),
                },
            )
        with st.form(f"add_closure_{key}", clear_on_submit=True):
            cols = st.columns([1, 2])
            day = cols[0].date_input("Day", value=None, format=DATE_INPUT_FORMAT)
            reason = cols[1].text_input("Reason", max_chars=calendars.REASON_MAX_CHARS)
            is_open = st.checkbox(
                "Worked public holiday (the region works on this public holiday)",
            )
            if st.form_submit_button("Add"):
                run_command(
                    lambda session: calendars.add_closure(
                        session=session,
                        actor=Actor.of(user),
                        region_id=int(region_id),
                        day=day,
                        reason=reason,
                        is_open=is_open,
                    ),
                    "Calendar entry added.",
                    on_success=next_revision,
                )
        if not closures.empty:
            cols = st.columns([2, 1], vertical_alignment="bottom")
            to_remove = cols[0].selectbox(
                "Remove the entry on",
                closures["day"].tolist(),
                format_func=day_text,
                key=f"remove_day_{key}",
            )
            if cols[1].button("Remove", key="remove_closure"):
                run_command(
                    lambda session: calendars.remove_closure(
                        session=session,
                        actor=Actor.of(user),
                        region_id=int(region_id),
                        day=to_remove,
                    ),
                    "Calendar entry removed.",
                    on_success=next_revision,
                )

with preview:
    now = datetime.now(UTC)
    with st.container(border=True):
        st.subheader("Live preview")
        st.caption("Uses the settings on this page as they are now, saved or not.")
        try:
            calendar = calendars.preview_calendar(
                timezone=timezone or "",
                country=country or "",
                subdivision=subdivision,
                hours=calendars.hours_from_rows(edited_hours),
                closures=closures,
                today=now.date(),
            )
        except CommandRefused as exc:
            st.warning(f"No preview until this is fixed: {exc}")
        else:
            policies, labels = policy_rows()
            due = calendars.due_preview(
                calendar=calendar, policies=policies, labels=labels, now=now
            )
            st.markdown(f"A case opened now ({both_zones(now, calendar.timezone)}) would be due:")
            for row in due.itertuples():
                st.markdown(
                    f"**{row.tier_label}**  \n"
                    f"First response ({duration_text(row.first_response_minutes)}): "
                    f"{both_zones(row.first_response_due, calendar.timezone)}  \n"
                    f"Resolution guideline ({row.resolution_business_days:g} business days): "
                    f"{both_zones(row.resolution_due, calendar.timezone)}"
                )
            st.caption(
                f"A business day here is {duration_text(calendar.working_minutes_per_day)} of "
                "working time. Resolution times are guidelines, not commitments."
            )

    with st.container(border=True):
        st.subheader("Coming public holidays")
        if country:
            coming = calendars.coming_holidays(
                country=country, subdivision=subdivision, closures=closures, today=date.today()
            )
            if coming.empty:
                st.info("No public holidays in the coming year.")
            else:
                st.dataframe(
                    coming,
                    hide_index=True,
                    column_config={
                        "day": st.column_config.DateColumn("Day", format="ddd D MMM YYYY"),
                        "name": "Holiday",
                        "worked": st.column_config.CheckboxColumn("Worked"),
                    },
                )
        else:
            st.info("Choose a holiday country to see its public holidays.")
