"""Survey form, survey results and feedback sessions under AppTest, per role."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import streamlit as st
from sqlalchemy import delete, func
from sqlmodel import Session, select
from streamlit.testing.v1 import AppTest

from data_access.models import (
    AuditLog,
    Customer,
    EntitlementEntry,
    FeedbackSession,
    SurveyCampaign,
    SurveyResponse,
    User,
)
from data_access.survey_campaigns import campaigns_for_staff, respondents
from domain.surveys import SUS_ITEMS
from tests.pages.conftest import db_engine, page_path, signed_in

FORM = page_path("survey_form.py")
RESULTS = page_path("survey_results.py")
FEEDBACK = page_path("feedback_sessions.py")
TABLES = (SurveyResponse, FeedbackSession, SurveyCampaign, EntitlementEntry, AuditLog)


@pytest.fixture(autouse=True)
def restore_survey_tables():
    """Rows these tests add to the shared app database are removed afterwards."""
    engine = db_engine()
    with Session(engine) as session:
        before = {table: session.exec(select(func.max(table.id))).one() or 0 for table in TABLES}
    yield
    with engine.begin() as connection:
        for table in TABLES:
            connection.execute(delete(table).where(table.id > before[table]))
    engine.dispose()
    st.cache_data.clear()


def user_id(username: str) -> int:
    with Session(db_engine()) as session:
        return session.exec(select(User.id).where(User.username == username)).one()


def open_campaign_with_new_respondents(count: int = 1) -> tuple[int, list[int], list[str]]:
    """An open campaign and `count` active respondents who have not been interviewed yet."""
    with Session(db_engine()) as session:
        campaigns = campaigns_for_staff(session=session, today=datetime.now(UTC).date())
        for campaign_id in campaigns["id"]:
            people = respondents(session=session, campaign_id=int(campaign_id))
            fresh = people[(people["status"] == "not_started") & people["is_active"]]
            if len(fresh) >= count:
                chosen = fresh.head(count)
                return (
                    int(campaign_id),
                    [int(i) for i in chosen["end_user_id"]],
                    list(chosen["name"]),
                )
    pytest.fail("the seeded app database has no open campaign with uninterviewed end users")


def key(campaign_id: int, end_user_id: int, answer: str) -> str:
    return f"survey_{campaign_id}_{end_user_id}_{answer}"


def form_for(username: str, campaign_id: int, end_user_id: int) -> AppTest:
    at = signed_in(username, FORM)
    at.run()
    at.selectbox(key="survey_campaign").set_value(campaign_id)
    at.run()
    at.selectbox(key=f"survey_respondent_{campaign_id}").set_value(end_user_id)
    at.run()
    assert not at.exception
    return at


def answer(at: AppTest, campaign_id: int, end_user_id: int, **answers) -> None:
    for name, value in answers.items():
        widget_key = key(campaign_id, end_user_id, name)
        if name == "comments":
            at.text_area(key=widget_key).input(value)
        elif name == "interview_date":
            at.date_input(key=widget_key).set_value(value)
        else:
            at.radio(key=widget_key).set_value(value)


def complete_answers(**changes) -> dict:
    return {
        **{f"sus_{n}": 4 if n % 2 else 2 for n in range(1, len(SUS_ITEMS) + 1)},
        "nps": 9,
        "csat": 5,
        "interview_date": datetime.now(UTC).date(),
        **changes,
    }


def click(at: AppTest, label: str) -> None:
    next(button for button in at.button if button.label == label).click()
    at.run()
    assert not at.exception


def stored(campaign_id: int, end_user_id: int) -> SurveyResponse | None:
    with Session(db_engine()) as session:
        return session.exec(
            select(SurveyResponse).where(
                SurveyResponse.campaign_id == campaign_id,
                SurveyResponse.end_user_id == end_user_id,
            )
        ).first()


def table(at: AppTest, *columns: str):
    """The first data frame shown that has all of `columns` (data frames carry no key in AppTest)."""
    for element in at.dataframe:
        if set(columns) <= set(element.value.columns):
            return element.value
    raise AssertionError(f"no data frame with columns {columns}")


def texts(at: AppTest, kind: str) -> list[str]:
    return [str(element.value) for element in at.get(kind)]


# --- Access ---------------------------------------------------------------------------------


def test_survey_staff_sees_the_form_and_only_own_submissions():
    at = signed_in("surveys", FORM)
    at.run()
    assert not at.exception and not at.error
    assert at.title[0].value == "Adoption survey"
    assert [tab.label for tab in at.tabs] == ["Interview", "My submissions"]
    assert not at.expander  # opening campaigns (which uses an entitlement) is for managers
    mine = table(at, "respondent", "status_label")
    with Session(db_engine()) as session:
        own = set(
            session.exec(
                select(SurveyResponse.id).where(SurveyResponse.staff_id == user_id("surveys"))
            ).all()
        )
        others = session.exec(
            select(func.count())
            .select_from(SurveyResponse)
            .where(SurveyResponse.staff_id != user_id("surveys"))
        ).one()
    assert own and others
    assert set(mine["id"]) == own


@pytest.mark.parametrize("page", ["survey_results.py", "feedback_sessions.py", "portfolio.py"])
def test_survey_staff_cannot_open_results_feedback_or_customer_pages(page):
    at = signed_in("surveys", page_path(page))
    at.run()
    assert [e.value for e in at.error] == ["Your role does not give access to this page."]
    assert not at.dataframe and not at.metric and not at.get("arrow_vega_lite_chart")


def test_csm_cannot_open_the_survey_form():
    at = signed_in("csm.emea", FORM)
    at.run()
    assert [e.value for e in at.error] == ["Your role does not give access to this page."]


# --- The form -------------------------------------------------------------------------------


def test_submitting_with_missing_items_names_them_in_one_error():
    campaign_id, (end_user_id,), _ = open_campaign_with_new_respondents()
    at = form_for("surveys", campaign_id, end_user_id)
    answers = complete_answers()
    del answers["sus_2"], answers["nps"]
    answer(at, campaign_id, end_user_id, **answers)
    click(at, "Submit")
    assert texts(at, "error") == ["Missing: SUS item 2, NPS."]
    assert stored(campaign_id, end_user_id) is None
    # The answers given are still on the form.
    assert at.radio(key=key(campaign_id, end_user_id, "sus_1")).value == 4


def test_a_draft_is_saved_and_resumed_prefilled_in_a_new_session():
    campaign_id, (end_user_id,), (name,) = open_campaign_with_new_respondents()
    at = form_for("surveys", campaign_id, end_user_id)
    answer(at, campaign_id, end_user_id, sus_1=5, sus_4=1, nps=0, comments="Half way through")
    click(at, "Save draft")
    assert texts(at, "success") == [f"Draft for {name} saved; you can resume it any time."]
    row = stored(campaign_id, end_user_id)
    assert (row.status, row.sus_1, row.sus_4, row.nps, row.sus_2) == ("draft", 5, 1, 0, None)

    later = form_for("surveys", campaign_id, end_user_id)
    assert later.radio(key=key(campaign_id, end_user_id, "sus_1")).value == 5
    assert later.radio(key=key(campaign_id, end_user_id, "sus_4")).value == 1
    assert later.radio(key=key(campaign_id, end_user_id, "nps")).value == 0
    assert later.radio(key=key(campaign_id, end_user_id, "sus_2")).value is None
    assert (
        later.text_area(key=key(campaign_id, end_user_id, "comments")).value == "Half way through"
    )
    assert "draft" in later.selectbox(key=f"survey_respondent_{campaign_id}").format_func(
        end_user_id
    )

    other = form_for("surveys2", campaign_id, end_user_id)
    assert any("only they can continue it" in w for w in texts(other, "warning"))
    assert not other.get("form")

    rest = complete_answers()
    del rest["sus_1"], rest["sus_4"], rest["nps"]
    answer(later, campaign_id, end_user_id, **rest)
    click(later, "Submit")
    assert texts(later, "success")[0] == f"{name}'s response is submitted."
    row = stored(campaign_id, end_user_id)
    assert (row.status, row.sus_1, row.nps, row.comments) == ("submitted", 5, 0, "Half way through")


def test_a_second_submission_for_the_same_respondent_is_refused():
    campaign_id, (end_user_id,), (name,) = open_campaign_with_new_respondents()
    first = form_for("surveys", campaign_id, end_user_id)
    second = form_for("surveys2", campaign_id, end_user_id)
    answer(first, campaign_id, end_user_id, **complete_answers(nps=10))
    answer(second, campaign_id, end_user_id, **complete_answers(nps=3))
    click(first, "Submit")
    assert texts(first, "success")[0] == f"{name}'s response is submitted."
    click(second, "Submit")
    assert texts(second, "error") == [
        f"{name}'s response to this campaign was already submitted; nothing was changed."
    ]
    row = stored(campaign_id, end_user_id)
    assert row.nps == 10 and row.staff_id == user_id("surveys")


def test_manager_sees_why_a_campaign_cannot_be_opened_for_a_basic_customer():
    with Session(db_engine()) as session:
        basic = session.exec(select(Customer).where(Customer.tier == "basic")).first()
    at = signed_in("manager", FORM)
    at.run()
    # Closed, the section reads and draws nothing; opening it (a click reruns) shows the picker.
    assert [e.label for e in at.expander] == ["Open a campaign for this subscription year"]
    assert "new_campaign" not in [box.key for box in at.selectbox]
    at.session_state["open_campaign_section"] = True  # what a click on the expander sends
    at.run()
    at.selectbox(key="new_campaign").set_value(basic.id)
    at.run()
    click(at, "Open campaign")
    assert texts(at, "error") == [
        f"{basic.name} is on Basic, which includes no adoption survey or end-user interview."
    ]


# --- Results --------------------------------------------------------------------------------


def test_results_page_shows_metrics_and_charts_for_a_manager():
    at = signed_in("manager", RESULTS)
    at.run()
    assert not at.exception and not at.error
    assert [m.label for m in at.metric] == ["Response rate", "SUS mean", "NPS", "CSAT"]
    assert "grade" in at.metric[1].value
    charts = at.get("arrow_vega_lite_chart") or at.get("vega_lite_chart")
    assert len(charts) == 3  # per-item distribution, NPS split, trend
    assert table(at, "title", "sus_grade")["responses"].sum() > 0
    assert at.get("download_button")


def test_results_filter_lists_only_the_csms_customers():
    me = user_id("csm.emea")
    with Session(db_engine()) as session:
        customers = session.exec(select(Customer)).all()
    own = {c.id for c in customers if me in (c.csm_id, c.hypercare_resource_id)}
    at = signed_in("csm.emea", RESULTS)
    at.run()
    assert not at.exception
    listed = set(at.selectbox[0].options)
    names = {c.name for c in customers if c.id in own}
    assert listed and listed <= names
    assert not listed & {c.name for c in customers if c.id not in own}
    assert set(table(at, "title", "sus_grade")["customer"]) <= names


def test_comments_are_shown_literally_never_as_markdown():
    campaign_id, (end_user_id,), _ = open_campaign_with_new_respondents()
    comment = "<script>alert(1)</script> **bold** [x](javascript:alert(2))"
    at = form_for("surveys", campaign_id, end_user_id)
    answer(at, campaign_id, end_user_id, **complete_answers(comments=comment))
    click(at, "Submit")
    assert stored(campaign_id, end_user_id).comments == comment
    mine = table(at, "respondent", "status_label")
    assert comment in set(mine["comments"])

    results = signed_in("manager", RESULTS)
    results.run()
    results.text_input[0].input("alert(1)")
    results.run()
    shown = table(results, "campaign", "comments")
    assert list(shown["comments"]) == [comment]
    rendered = " ".join(texts(results, "markdown") + texts(results, "caption"))
    assert "alert" not in rendered and "bold" not in rendered
    assert not results.get("html")


def test_comments_are_shown_a_page_at_a_time_newest_first(monkeypatch):
    """The demo database's comments, two to a page: a picker of pages, a caption saying which
    are shown of how many, and the next page holding the next two."""
    from data_access import survey_results

    monkeypatch.setattr(survey_results, "COMMENTS_PAGE", 2)
    at = signed_in("manager", RESULTS)
    at.run()
    assert not at.exception
    with Session(db_engine()) as session:
        total = session.exec(
            select(func.count())
            .select_from(SurveyResponse)
            .where(SurveyResponse.status == "submitted", SurveyResponse.comments != "")
        ).one()
    assert total > 4
    picker = next(box for box in at.selectbox if box.label == "Comments shown")
    assert len(picker.options) == -(-total // 2)
    assert picker.options[:2] == ["1–2", "3–4"]
    assert f"{total:,} comments; these are 1–2, newest first." in texts(at, "caption")
    first = list(table(at, "campaign", "comments")["comments"])
    picker.select_index(1)
    at.run()
    assert not at.exception
    assert f"{total:,} comments; these are 3–4, newest first." in texts(at, "caption")
    second = list(table(at, "campaign", "comments")["comments"])
    assert len(first) == len(second) == 2
    with Session(db_engine()) as session:
        newest = session.exec(
            select(SurveyResponse.comments)
            .where(SurveyResponse.status == "submitted", SurveyResponse.comments != "")
            .order_by(SurveyResponse.submitted_at.desc(), SurveyResponse.id.desc())
            .limit(4)
        ).all()
    assert first + second == list(newest)
    at.text_input[0].input("no comment says this")
    at.run()
    assert "No comments match." in texts(at, "info")
    assert not [box for box in at.selectbox if box.label == "Comments shown"]


# --- Feedback sessions ----------------------------------------------------------------------


def test_csm_records_and_schedules_a_feedback_session_for_own_customer():
    me = user_id("csm.emea")
    with Session(db_engine()) as session:
        customer = session.exec(
            select(Customer).where(
                Customer.tier != "basic",
                (Customer.csm_id == me) | (Customer.hypercare_resource_id == me),
            )
        ).first()
    at = signed_in("csm.emea", FEEDBACK)
    at.run()
    assert not at.exception and not at.error
    at.selectbox[0].set_value(customer.id)
    at.run()
    at.text_area[0].input("E-mail from the customer: <b>please</b> interview our planners.")
    click(at, "Record request")
    assert not at.error
    assert [m for m in texts(at, "success") if m.startswith("Request from ")]
    with Session(db_engine()) as session:
        created = session.exec(
            select(FeedbackSession).where(FeedbackSession.customer_id == customer.id)
        ).all()
    assert len(created) == 1 and created[0].state == "requested"
    listed = table(at, "request_text", "state_label")
    assert list(listed["request_text"]) == [created[0].request_text]

    at.selectbox(key="schedule_session").set_value(created[0].id)
    at.run()
    click(at, "Schedule")
    assert not at.error, [e.value for e in at.error]
    with Session(db_engine()) as session:
        scheduled = session.get(FeedbackSession, created[0].id)
    assert scheduled.state == "scheduled" and scheduled.resource_id is not None


def test_survey_staff_lands_on_the_form_and_cannot_navigate_to_results():
    at = signed_in("surveys")
    at.run()
    assert not at.exception
    assert at.title[0].value == "Adoption survey"
    for page in ("survey_results.py", "feedback_sessions.py", "portfolio.py"):
        with pytest.raises(ValueError, match="Could not find a navigation page"):
            at.switch_page(page_path(page))


def test_no_answer_label_is_long_enough_to_be_cut_off_side_by_side():
    """Horizontal choices share one line: only short labels there; long ones stacked."""
    campaign_id, (end_user_id,), _ = open_campaign_with_new_respondents()
    at = form_for("surveys", campaign_id, end_user_id)
    radios = [r for r in at.radio if r.key and r.key.startswith(f"survey_{campaign_id}_")]
    assert radios
    for radio in radios:
        if radio.proto.horizontal:
            assert max(len(option) for option in radio.options) <= 3, (radio.key, radio.options)
    csat = at.radio(key=key(campaign_id, end_user_id, "csat"))
    assert "3 · Neither satisfied nor dissatisfied" in csat.options
    assert any("3 = Neither agree nor disagree" in c.value for c in at.caption)
