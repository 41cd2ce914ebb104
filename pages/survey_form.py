"""Adoption survey: record an end-user interview (SUS, NPS, CSAT), save drafts, submit once."""

from datetime import UTC, date, datetime
from functools import partial
from zoneinfo import ZoneInfo

import pandas as pd
import streamlit as st

from data_access.actor import Actor
from data_access.scope import Scope
from data_access.survey_campaigns import (
    ANSWER_KEYS,
    COMMENTS_MAX_CHARS,
    campaigns_for_staff,
    create_campaign,
    customers_without_campaign,
    respondents,
    response_answers,
    save_draft,
    submit_response,
)
from data_access.survey_results import my_responses
from domain.roles import sees_all_customers
from domain.surveys import LIKERT_LABELS, SUS_ITEMS
from ui.auth import read_session, require_access
from ui.commands import run_command, show_notice
from ui.format import (
    DATE_COLUMN_FORMAT,
    date_text,
    local_time_text,
    to_zone,
)
from ui.tables import local_time_column

user = require_access(__file__)

CSAT_LABELS = {
    1: "Very dissatisfied",
    2: "Dissatisfied",
    3: "Neither satisfied nor dissatisfied",
    4: "Satisfied",
    5: "Very satisfied",
}
NPS_QUESTION = (
    "How likely is it that you would recommend the planning platform to a friend or colleague? "
    "(0 = not at all likely, 10 = extremely likely)"
)
CSAT_QUESTION = "Overall, how satisfied are you with the HyperCare service?"
LIKERT_SCALE_TEXT = " · ".join(f"{value} = {label}" for value, label in LIKERT_LABELS.items())


@st.cache_data(ttl=30, show_spinner=False)
def load_campaigns(today: date) -> pd.DataFrame:
    with read_session() as session:
        return campaigns_for_staff(session=session, today=today)


@st.cache_data(ttl=30, show_spinner=False)
def load_respondents(campaign_id: int) -> pd.DataFrame:
    with read_session() as session:
        return respondents(session=session, campaign_id=campaign_id)


@st.cache_data(ttl=30, show_spinner=False)
def load_my_responses(staff_id: int) -> pd.DataFrame:
    with read_session() as session:
        return my_responses(session=session, staff_id=staff_id)


@st.cache_data(ttl=30, show_spinner=False)
def load_customers_without_campaign(scope: Scope, today: date) -> pd.DataFrame:
    with read_session() as session:
        return customers_without_campaign(session=session, scope=scope, today=today)


def load_answers(campaign_id: int, end_user_id: int) -> dict:
    with read_session() as session:
        return response_answers(session=session, campaign_id=campaign_id, end_user_id=end_user_id)


def campaign_label_by_id(campaigns: pd.DataFrame) -> dict[int, str]:
    """Each campaign's picker label, built column-wise: a page of two thousand customers lists
    over a thousand open campaigns, and a per-option cell lookup cost more than the queries."""
    labels = (
        campaigns["customer"]
        + " · "
        + campaigns["title"]
        + " · "
        + campaigns["submitted"].astype(str)
        + " of "
        + campaigns["invited"].astype(str)
        + " done"
    )
    return dict(zip(campaigns["id"].tolist(), labels.tolist(), strict=True))


def respondent_label(row: pd.Series) -> str:
    if row["status"] == "not_started":
        return f"{row['name']} · not started"
    holder = "you" if row["staff_id"] == user.id else row["staff"]
    return f"{row['name']} · {row['status_label'].lower()} by {holder}"


def widget_key(campaign_id: int, end_user_id: int, answer: str) -> str:
    return f"survey_{campaign_id}_{end_user_id}_{answer}"


PENDING_KEY = "survey_pending"


def queue_answers(action: str, campaign_id: int, end_user_id: int, respondent: str) -> None:
    """Form-button callback: only notes the answers to store. Callbacks run before the script,
    so before `require_access`; the write itself waits for `store_pending_answers`."""
    answers = {
        answer: st.session_state.get(widget_key(campaign_id, end_user_id, answer))
        for answer in ANSWER_KEYS
    }
    session = (st.session_state.get("username"), st.session_state.get("session_version"))
    st.session_state[PENDING_KEY] = (
        session,
        (action, campaign_id, end_user_id, respondent, answers),
    )


def store_pending_answers() -> None:
    """Save or submit the answers a form button queued, in the script body after the guard
    re-read the user, so a submission is handled whatever this run shows. Answers queued in
    another session (signed out since, or another user) are dropped."""
    pending = st.session_state.pop(PENDING_KEY, None)
    if pending is not None and pending[0] == (user.username, user.session_version):
        store_answers(*pending[1])


def store_answers(
    action: str, campaign_id: int, end_user_id: int, respondent: str, answers: dict
) -> None:
    command = submit_response if action == "submit" else save_draft
    run_command(
        lambda session: command(
            session=session,
            actor=Actor.of(user),
            campaign_id=campaign_id,
            end_user_id=end_user_id,
            answers=answers,
        ),
        f"{respondent}'s response is submitted."
        if action == "submit"
        else f"Draft for {respondent} saved; you can resume it any time.",
    )


def open_campaign(customer_id: int, name: str) -> None:
    run_command(
        lambda session: create_campaign(
            session=session,
            actor=Actor.of(user),
            customer_id=customer_id,
            now=datetime.now(UTC),
        ),
        f"The adoption survey campaign for {name} is open.",
    )


def open_campaign_section() -> None:
    """Customers still without this year's campaign, and the button that opens one."""
    waiting = load_customers_without_campaign(Scope.for_user(user), today)
    if waiting.empty:
        st.caption("Every customer has its campaign for the current subscription year.")
    else:
        st.caption(
            "A campaign uses the customer's yearly adoption survey + end-user interview "
            "entitlement; customers whose tier has none, or who used it, are refused with "
            "the reason."
        )
        ids = waiting["id"].tolist()
        labels = {
            row.id: f"{row.name} · {row.tier_label} · year from {date_text(row.year_start)}"
            for row in waiting.itertuples()
        }
        chosen = st.selectbox("Customer", ids, format_func=labels.get, key="new_campaign")
        if st.button("Open campaign", icon=":material/campaign:"):
            open_campaign(int(chosen), labels[chosen].split(" · ")[0])


def option_index(options: list, value) -> int | None:
    return options.index(value) if value in options else None


def survey_form(campaign: pd.Series, respondent: pd.Series, saved: dict, local_today: date):
    campaign_id, end_user_id = int(campaign["id"]), int(respondent["end_user_id"])
    key = partial(widget_key, campaign_id, end_user_id)
    with st.form(f"survey_{campaign_id}_{end_user_id}", border=True):
        st.subheader("System Usability Scale")
        # The scale is spelt out once; each statement offers only the numbers, which fit on one
        # line at any width (five long labels side by side were cut off: "Neither agree nor disa…").
        st.caption(LIKERT_SCALE_TEXT)
        for number, statement in enumerate(SUS_ITEMS, start=1):
            options = list(LIKERT_LABELS)
            st.radio(
                f"{number}. {statement}",
                options,
                index=option_index(options, saved.get(f"sus_{number}")),
                horizontal=True,
                help=LIKERT_SCALE_TEXT,
                key=key(f"sus_{number}"),
            )
        st.subheader("Recommendation and satisfaction")
        nps_options = list(range(11))
        st.radio(
            NPS_QUESTION,
            nps_options,
            index=option_index(nps_options, saved.get("nps")),
            horizontal=True,
            key=key("nps"),
        )
        csat_options = list(CSAT_LABELS)
        st.radio(
            CSAT_QUESTION,
            csat_options,
            index=option_index(csat_options, saved.get("csat")),
            format_func=lambda value: f"{value} · {CSAT_LABELS[value]}",
            key=key("csat"),
        )
        st.text_area(
            "Comments",
            value=saved.get("comments") or "",
            max_chars=COMMENTS_MAX_CHARS,
            placeholder="What the respondent said, in their words (optional).",
            key=key("comments"),
        )
        st.date_input(
            "Interview date",
            value=saved.get("interview_date"),
            min_value=campaign["year_start"],
            max_value=local_today,
            format="DD/MM/YYYY",
            key=key("interview_date"),
        )
        args = (campaign_id, end_user_id, respondent["name"])
        buttons = st.columns([1, 1, 4])
        buttons[0].form_submit_button(
            "Save draft", icon=":material/save:", on_click=queue_answers, args=("draft", *args)
        )
        buttons[1].form_submit_button(
            "Submit",
            type="primary",
            icon=":material/send:",
            on_click=queue_answers,
            args=("submit", *args),
        )


st.title("Adoption survey")
st.caption(
    "One interview per respondent and campaign: the ten System Usability Scale statements, "
    "NPS and satisfaction with HyperCare. Save a draft any time; submitting needs every answer."
)
today = datetime.now(UTC).date()
local_today = datetime.now(ZoneInfo(user.timezone)).date()


# Opening a campaign spends the customer's yearly entitlement: a manager's (or admin's) decision.
# Survey staff run the interviews in campaigns that are already open. The customers still
# without a campaign (hundreds, across two thousand customers) are read only while the section
# is open: opening or closing it reruns the page.
if sees_all_customers(user.roles):
    with st.expander(
        "Open a campaign for this subscription year",
        icon=":material/add_circle:",
        key="open_campaign_section",
        on_change="rerun",
    ) as opening:
        if opening.open:
            open_campaign_section()

interview_tab, mine_tab = st.tabs(["Interview", "My submissions"])

with interview_tab:
    # After `require_access` at the top (the user was re-read and checked), and before anything
    # that might stop the page: a submission is stored whatever this run goes on to show. Its
    # refusal shows here, above the pickers; its confirmation after the rerun, below them.
    store_pending_answers()
    campaigns = load_campaigns(today)
    if campaigns.empty:
        st.info(
            "No survey campaign is open. A manager opens a customer's campaign for its "
            "subscription year."
        )
    else:
        picks = st.columns(2)
        campaign_labels = campaign_label_by_id(campaigns)
        by_campaign = campaigns.set_index("id")
        campaign_id = picks[0].selectbox(
            "Campaign",
            list(campaign_labels),
            format_func=campaign_labels.get,
            key="survey_campaign",
        )
        campaign = by_campaign.loc[campaign_id].copy()
        campaign["id"] = campaign_id
        people = load_respondents(int(campaign_id))
        labels = {row["end_user_id"]: respondent_label(row) for _, row in people.iterrows()}
        end_user_id = picks[1].selectbox(
            "Respondent",
            list(labels),
            index=None,
            format_func=labels.get,
            placeholder="Choose the person interviewed",
            key=f"survey_respondent_{campaign_id}",
        )
        st.caption(
            f"Open until {date_text(campaign['closes_on'])}, when the subscription year renews."
        )
        show_notice()
        if end_user_id is not None:
            respondent = people.set_index("end_user_id").loc[end_user_id].copy()
            respondent["end_user_id"] = end_user_id
            if respondent["status"] == "submitted":
                st.success(
                    f"{respondent['name']}'s response was submitted by "
                    f"{'you' if respondent['staff_id'] == user.id else respondent['staff']} on "
                    f"{local_time_text(respondent['submitted_at'], user.timezone)}; it cannot be "
                    "changed.",
                    icon=":material/task_alt:",
                )
            elif respondent["status"] == "draft" and respondent["staff_id"] != user.id:
                st.warning(
                    f"{respondent['staff']} has a draft for {respondent['name']} in progress; "
                    "only they can continue it."
                )
            else:
                saved = load_answers(int(campaign_id), int(end_user_id))
                if saved:
                    st.caption(
                        "Resuming your draft, last saved "
                        f"{local_time_text(respondent['updated_at'], user.timezone)}."
                    )
                survey_form(campaign, respondent, saved, local_today)

with mine_tab:
    mine = load_my_responses(user.id)
    if mine.empty:
        st.info("You have not saved or submitted any responses yet.")
    else:
        shown = mine.assign(
            submitted_at=to_zone(mine["submitted_at"], user.timezone),
            updated_at=to_zone(mine["updated_at"], user.timezone),
        )
        st.dataframe(
            shown,
            hide_index=True,
            key="my_submissions",
            column_order=[
                "customer",
                "campaign",
                "respondent",
                "status_label",
                "interview_date",
                "sus_score",
                "nps",
                "csat",
                "comments",
                "submitted_at",
                "updated_at",
            ],
            column_config={
                "customer": "Customer",
                "campaign": "Campaign",
                "respondent": "Respondent",
                "status_label": "Status",
                "interview_date": st.column_config.DateColumn(
                    "Interview", format=DATE_COLUMN_FORMAT
                ),
                "sus_score": st.column_config.NumberColumn("SUS", format="%.1f"),
                "nps": st.column_config.NumberColumn("NPS answer"),
                "csat": st.column_config.NumberColumn("CSAT answer"),
                "comments": st.column_config.TextColumn("Comments", width="large"),
                "submitted_at": local_time_column(user.timezone, "Submitted"),
                "updated_at": local_time_column(user.timezone, "Last saved"),
            },
        )
