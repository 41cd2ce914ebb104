"""Survey campaigns, responses, results and feedback sessions on SQLite and PostgreSQL."""

from __future__ import annotations

import math
import threading
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import case, func, null
from sqlmodel import Session, select

from data_access import feedback_sessions, survey_campaigns, survey_results
from data_access.actor import Actor
from data_access.audit import CommandRefused
from data_access.customers import CustomerFields, create_customer
from data_access.db import session_scope
from data_access.models import (
    SURVEY_TALLY_COUNTS,
    AuditLog,
    Contact,
    EndUser,
    EntitlementEntry,
    FeedbackSession,
    Region,
    SurveyCampaign,
    SurveyResponse,
    User,
    survey_tally,
)
from data_access.policies import seed_default_policies
from data_access.scope import Scope
from data_access.survey_campaigns import SUS_KEYS
from domain.csv_safe import csv_bytes
from domain.surveys import SUM_COLUMNS, SUS_ITEMS, sums_by_group, sus_score
from domain.tiers import Tier

START = date(2024, 3, 15)
NOW = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)
YEAR_START = date(2026, 3, 15)
RENEWS_ON = date(2027, 3, 15)
NEUTRAL = {f"sus_{n}": 3 for n in range(1, 11)}  # SUS 50


def complete(**changes):
    return {
        **NEUTRAL,
        "nps": 8,
        "csat": 4,
        "comments": "",
        "interview_date": date(2026, 10, 30),
        **changes,
    }


@dataclass
class World:
    manager: int
    staff: int
    staff2: int
    csm: int
    other_csm: int
    pro: int
    basic: int
    region: str
    contact: int
    users: list[int]
    basic_user: int


def act(user_id: int, username: str) -> Actor:
    """The signed-in person; commands re-read their roles from the database."""
    return Actor(id=user_id, username=username, roles=())


def staff_actor(world, staff: int) -> Actor:
    return act(staff, "surveys2" if staff == world.staff2 else "surveys")


def add_user(session, username, roles):
    user = User(
        username=username,
        name=username.replace(".", " ").title(),
        email=f"{username}@example.com",
        password_hash="x",
        roles=roles,
    )
    session.add(user)
    session.flush()
    return user.id


def add_end_users(session, customer_id, count, prefix="user", active=True):
    rows = [
        EndUser(
            customer_id=customer_id,
            name=f"{prefix.title()} {n:03d}",
            email=f"{prefix}{n}@customer.example",
            is_active=active,
        )
        for n in range(count)
    ]
    session.add_all(rows)
    session.flush()
    return [row.id for row in rows]


@pytest.fixture
def world(engine) -> World:
    with session_scope(engine) as session:
        seed_default_policies(session=session)
        admin = add_user(session, "admin", "admin")
        region = Region(code="EMEA", name="EMEA", timezone="Europe/London", holiday_country="GB")
        session.add(region)
        session.flush()
        manager = add_user(session, "manager", "manager")
        staff = add_user(session, "surveys", "survey_staff")
        staff2 = add_user(session, "surveys2", "survey_staff")
        csm = add_user(session, "csm.emea", "csm")
        other_csm = add_user(session, "csm.na", "csm")
        pro = create_customer(
            session=session,
            actor=act(admin, "admin"),
            fields=CustomerFields(
                name="Acme Planning",
                tier=Tier.PROFESSIONAL,
                region_id=region.id,
                csm_id=csm,
                hypercare_resource_id=None,
                hypercare_start=START,
            ),
        ).id
        basic = create_customer(
            session=session,
            actor=act(admin, "admin"),
            fields=CustomerFields(
                name="Basic Co",
                tier=Tier.BASIC,
                region_id=region.id,
                csm_id=other_csm,
                hypercare_resource_id=None,
                hypercare_start=START,
            ),
        ).id
        contact = Contact(customer_id=pro, name="Dana Buyer", email="dana@acme.example")
        session.add(contact)
        session.flush()
        users = add_end_users(session, pro, 6)
        add_end_users(session, pro, 1, prefix="gone", active=False)
        basic_user = add_end_users(session, basic, 1, prefix="basic")[0]
        return World(
            manager=manager,
            staff=staff,
            staff2=staff2,
            csm=csm,
            other_csm=other_csm,
            pro=pro,
            basic=basic,
            region="EMEA",
            contact=contact.id,
            users=users,
            basic_user=basic_user,
        )


def open_campaign(engine, world, now=NOW) -> int:
    with session_scope(engine) as session:
        return survey_campaigns.create_campaign(
            session=session, actor=act(world.manager, "manager"), customer_id=world.pro, now=now
        ).id


def ledger(engine, customer_id):
    with Session(engine) as session:
        return session.exec(
            select(EntitlementEntry).where(
                EntitlementEntry.customer_id == customer_id,
                EntitlementEntry.kind == "adoption_survey",
            )
        ).all()


def submit(engine, world, campaign, end_user, staff=None, **answers):
    with session_scope(engine) as session:
        return survey_campaigns.submit_response(
            session=session,
            actor=staff_actor(world, staff or world.staff),
            campaign_id=campaign,
            end_user_id=end_user,
            answers=complete(**answers),
            now=NOW,
        )


def draft(engine, world, campaign, end_user, answers, staff=None):
    with session_scope(engine) as session:
        return survey_campaigns.save_draft(
            session=session,
            actor=staff_actor(world, staff or world.staff),
            campaign_id=campaign,
            end_user_id=end_user,
            answers=answers,
            now=NOW,
        )


def stored(engine, campaign, end_user) -> SurveyResponse | None:
    with Session(engine) as session:
        return session.exec(
            select(SurveyResponse).where(
                SurveyResponse.campaign_id == campaign, SurveyResponse.end_user_id == end_user
            )
        ).first()


# --- Campaigns and the annual entitlement -------------------------------------------------


def test_campaign_covers_the_subscription_year_and_invites_active_end_users(engine, world):
    campaign_id = open_campaign(engine, world)
    with Session(engine) as session:
        campaign = session.get(SurveyCampaign, campaign_id)
        audit = session.exec(
            select(AuditLog).where(AuditLog.action == "create_survey_campaign")
        ).one()
    assert campaign.year_start == YEAR_START
    assert campaign.invited_count == len(world.users)  # the inactive end user is not invited
    assert campaign.title == "Adoption survey 2026/27"
    assert audit.entity_id == str(campaign_id) and audit.actor == "manager"
    assert [entry.delta for entry in ledger(engine, world.pro)] == [-1]


def test_a_second_campaign_in_the_same_year_is_refused_and_the_next_year_allowed(engine, world):
    open_campaign(engine, world)
    with pytest.raises(CommandRefused, match="already has an adoption survey campaign"):
        open_campaign(engine, world, now=NOW + timedelta(days=100))
    assert len(ledger(engine, world.pro)) == 1
    next_year = datetime(2027, 3, 15, 9, tzinfo=UTC)
    open_campaign(engine, world, now=next_year)
    with Session(engine) as session:
        starts = sorted(session.exec(select(SurveyCampaign.year_start)).all())
    assert starts == [YEAR_START, RENEWS_ON]
    assert len(ledger(engine, world.pro)) == 2


def test_a_tier_without_surveys_is_refused_with_the_reason(engine, world):
    with (
        pytest.raises(CommandRefused, match="Basic Co is on Basic, which includes no adoption"),
        session_scope(engine) as session,
    ):
        survey_campaigns.create_campaign(
            session=session,
            actor=act(world.manager, "manager"),
            customer_id=world.basic,
            now=NOW,
        )
    with Session(engine) as session:
        assert session.exec(select(func.count()).select_from(SurveyCampaign)).one() == 0


def test_no_campaign_when_the_years_entitlement_is_used_up(engine, world):
    with session_scope(engine) as session:
        session.add(
            EntitlementEntry(
                customer_id=world.pro,
                kind="adoption_survey",
                at=NOW - timedelta(days=30),
                delta=-1,
                reason="Used earlier this year",
            )
        )
    with pytest.raises(CommandRefused, match=RENEWS_ON.isoformat()):
        open_campaign(engine, world)
    with Session(engine) as session:
        assert session.exec(select(func.count()).select_from(SurveyCampaign)).one() == 0
    assert len(ledger(engine, world.pro)) == 1


def request(engine, world, requested_at=NOW - timedelta(days=3), who=None, text="E-mail"):
    with session_scope(engine) as session:
        return feedback_sessions.request_feedback_session(
            session=session,
            actor=who or act(world.manager, "manager"),
            customer_id=world.pro,
            contact_id=world.contact,
            requested_at=requested_at,
            request_text=text,
            now=NOW,
        ).id


def test_campaign_and_first_feedback_session_share_one_unit(engine, world):
    open_campaign(engine, world)
    request(engine, world)
    assert [entry.delta for entry in ledger(engine, world.pro)] == [-1]
    with pytest.raises(CommandRefused, match=RENEWS_ON.isoformat()):
        request(engine, world)
    with Session(engine) as session:
        assert session.exec(select(func.count()).select_from(FeedbackSession)).one() == 1


def test_a_feedback_session_first_debits_and_the_campaign_then_shares(engine, world):
    request(engine, world)
    assert len(ledger(engine, world.pro)) == 1
    open_campaign(engine, world)
    assert len(ledger(engine, world.pro)) == 1
    # A request from last subscription year uses last year's unit, not this one.
    request(engine, world, requested_at=datetime(2026, 1, 10, tzinfo=UTC))
    assert len(ledger(engine, world.pro)) == 2


def test_feedback_session_for_a_basic_customer_is_refused(engine, world):
    with (
        pytest.raises(CommandRefused, match="includes no adoption survey"),
        session_scope(engine) as session,
    ):
        contact = Contact(customer_id=world.basic, name="Bo")
        session.add(contact)
        session.flush()
        feedback_sessions.request_feedback_session(
            session=session,
            actor=act(world.manager, "manager"),
            customer_id=world.basic,
            contact_id=contact.id,
            requested_at=NOW,
            request_text="Please",
            now=NOW,
        )


# --- Drafts, submissions, duplicates -------------------------------------------------------


def test_respondents_show_each_status_and_who_holds_it(engine, world):
    campaign = open_campaign(engine, world)
    draft(engine, world, campaign, world.users[0], {"sus_1": 4})
    submit(engine, world, campaign, world.users[1], staff=world.staff2)
    with Session(engine) as session:
        frame = survey_campaigns.respondents(session=session, campaign_id=campaign).set_index(
            "end_user_id"
        )
    assert len(frame) == len(world.users)
    assert frame.loc[world.users[0], "status"] == "draft"
    assert frame.loc[world.users[0], "staff"] == "Surveys"
    assert frame.loc[world.users[1], "status"] == "submitted"
    assert frame.loc[world.users[1], "staff"] == "Surveys2"
    assert set(frame.loc[world.users[2:], "status"]) == {"not_started"}


def test_a_draft_saves_partial_answers_and_resumes(engine, world):
    campaign = open_campaign(engine, world)
    draft(engine, world, campaign, world.users[0], {"sus_1": 4, "nps": 0, "comments": "So far"})
    draft(engine, world, campaign, world.users[0], {"sus_2": 2, "comments": "More"})
    with Session(engine) as session:
        answers = survey_campaigns.response_answers(
            session=session, campaign_id=campaign, end_user_id=world.users[0]
        )
    assert answers["status"] == "draft"
    assert (answers["sus_1"], answers["sus_2"], answers["nps"]) == (4, 2, 0)
    assert answers["sus_3"] is None and answers["comments"] == "More"
    with Session(engine) as session:
        drafts = session.exec(select(func.count()).select_from(SurveyResponse)).one()
    assert drafts == 1


@pytest.mark.parametrize(
    ("answers", "message"),
    [
        ({"sus_1": 6}, "SUS item 1 is 6; answers run from 1 to 5"),
        ({"sus_10": 0}, "SUS item 10 is 0"),
        ({"nps": 11}, "NPS is 11; answers run from 0 to 10"),
        ({"csat": True}, "Satisfaction with HyperCare must be a whole number"),
        ({"csat": 4.5}, "must be a whole number from 1 to 5"),
        ({"favourite": 3}, "'favourite' is not a question"),
        ({"interview_date": date(2027, 1, 1)}, "cannot be in the future"),
        ({"interview_date": date(2026, 3, 1)}, "on or after 2026-03-15"),
        ({"comments": "x" * 4001}, "the limit is 4000"),
    ],
)
def test_out_of_range_answers_are_refused_and_nothing_saved(engine, world, answers, message):
    campaign = open_campaign(engine, world)
    with pytest.raises(CommandRefused, match=message):
        draft(engine, world, campaign, world.users[0], answers)
    assert stored(engine, campaign, world.users[0]) is None


def test_submitting_with_missing_items_names_them_and_changes_nothing(engine, world):
    campaign = open_campaign(engine, world)
    draft(engine, world, campaign, world.users[0], {"sus_1": 4})
    answers = complete(sus_3=None, nps=None)
    with (
        pytest.raises(CommandRefused) as refused,
        session_scope(engine) as session,
    ):
        survey_campaigns.submit_response(
            session=session,
            actor=act(world.staff, "surveys"),
            campaign_id=campaign,
            end_user_id=world.users[0],
            answers=answers,
            now=NOW,
        )
    assert str(refused.value) == "Missing: SUS item 3, NPS."
    row = stored(engine, campaign, world.users[0])
    assert row.status == "draft" and row.sus_2 is None


def test_submit_completes_the_staff_members_own_draft(engine, world):
    campaign = open_campaign(engine, world)
    draft(engine, world, campaign, world.users[0], {**NEUTRAL, "nps": 0})
    with session_scope(engine) as session:
        survey_campaigns.submit_response(
            session=session,
            actor=act(world.staff, "surveys"),
            campaign_id=campaign,
            end_user_id=world.users[0],
            answers={"csat": 5, "interview_date": date(2026, 11, 1)},
            now=NOW,
        )
    row = stored(engine, campaign, world.users[0])
    assert row.status == "submitted" and row.nps == 0 and row.csat == 5
    assert row.submitted_at == NOW


def test_a_second_submission_is_refused_and_nothing_is_overwritten(engine, world):
    campaign = open_campaign(engine, world)
    submit(engine, world, campaign, world.users[0], nps=10)
    for staff in (world.staff, world.staff2):
        with pytest.raises(CommandRefused, match="already submitted; nothing was changed"):
            submit(engine, world, campaign, world.users[0], staff=staff, nps=0)
        with pytest.raises(CommandRefused, match="already submitted"):
            draft(engine, world, campaign, world.users[0], {"nps": 1}, staff=staff)
    row = stored(engine, campaign, world.users[0])
    assert row.nps == 10 and row.staff_id == world.staff


def test_another_staff_members_draft_is_not_taken_over(engine, world):
    campaign = open_campaign(engine, world)
    draft(engine, world, campaign, world.users[0], {"sus_1": 2})
    with pytest.raises(CommandRefused, match="Surveys has a draft for User 000 in progress"):
        draft(engine, world, campaign, world.users[0], {"sus_1": 5}, staff=world.staff2)
    with pytest.raises(CommandRefused, match="only they can continue it"):
        submit(engine, world, campaign, world.users[0], staff=world.staff2)
    row = stored(engine, campaign, world.users[0])
    assert row.sus_1 == 2 and row.staff_id == world.staff and row.status == "draft"


def test_respondent_must_be_an_active_end_user_of_the_campaign_customer(engine, world):
    campaign = open_campaign(engine, world)
    with pytest.raises(CommandRefused, match="not an end user of Acme Planning"):
        submit(engine, world, campaign, world.basic_user)
    with Session(engine) as session:
        gone = session.exec(select(EndUser.id).where(EndUser.is_active.is_(False))).first()
    with pytest.raises(CommandRefused, match="no longer an active end user"):
        submit(engine, world, campaign, gone)


def test_a_campaign_closes_when_the_subscription_year_renews(engine, world):
    campaign = open_campaign(engine, world)
    with (
        pytest.raises(CommandRefused, match="closed on 2027-03-15"),
        session_scope(engine) as session,
    ):
        survey_campaigns.submit_response(
            session=session,
            actor=act(world.staff, "surveys"),
            campaign_id=campaign,
            end_user_id=world.users[0],
            answers=complete(),
            now=datetime(2027, 3, 15, 0, 5, tzinfo=UTC),
        )
    with Session(engine) as session:
        open_now = survey_campaigns.campaigns_for_staff(session=session, today=NOW.date())
        open_later = survey_campaigns.campaigns_for_staff(session=session, today=RENEWS_ON)
    assert list(open_now["id"]) == [campaign] and open_later.empty


def test_free_text_is_stored_verbatim(engine, world):
    campaign = open_campaign(engine, world)
    text = "<script>alert(1)</script> **bold** & [link](javascript:alert(2))"
    submit(engine, world, campaign, world.users[0], comments=text)
    assert stored(engine, campaign, world.users[0]).comments == text


def test_my_responses_lists_only_the_staff_members_own(engine, world):
    campaign = open_campaign(engine, world)
    submit(engine, world, campaign, world.users[0])
    draft(engine, world, campaign, world.users[1], {"sus_1": 1})
    submit(engine, world, campaign, world.users[2], staff=world.staff2)
    with Session(engine) as session:
        mine = survey_results.my_responses(session=session, staff_id=world.staff)
    assert set(mine["end_user_id"]) == {world.users[0], world.users[1]}
    by_user = mine.set_index("end_user_id")
    assert by_user.loc[world.users[0], "sus_score"] == 50
    assert math.isnan(by_user.loc[world.users[1], "sus_score"])


# --- Concurrency ----------------------------------------------------------------------------


def run_at_once(count, work):
    barrier = threading.Barrier(count)
    outcomes: list[object] = [None] * count

    def runner(index):
        barrier.wait()
        try:
            outcomes[index] = work(index)
        except Exception as exc:  # collected and asserted on below
            outcomes[index] = exc

    threads = [threading.Thread(target=runner, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return outcomes


def test_fifty_staff_submitting_at_once_all_land(engine, world):
    with session_scope(engine) as session:
        crowd = add_end_users(session, world.pro, 50, prefix="crowd")
    campaign = open_campaign(engine, world)

    def work(index):
        with session_scope(engine) as session:
            return survey_campaigns.submit_response(
                session=session,
                actor=staff_actor(world, world.staff if index % 2 else world.staff2),
                campaign_id=campaign,
                end_user_id=crowd[index],
                answers=complete(nps=index % 11),
                now=NOW,
            ).id

    outcomes = run_at_once(50, work)
    assert all(isinstance(outcome, int) for outcome in outcomes), outcomes
    with Session(engine) as session:
        rows = session.exec(
            select(SurveyResponse.end_user_id, SurveyResponse.nps).where(
                SurveyResponse.status == "submitted"
            )
        ).all()
    assert sorted(rows) == sorted((crowd[i], i % 11) for i in range(50))


def test_simultaneous_submissions_for_one_respondent_land_once(engine, world):
    campaign = open_campaign(engine, world)

    def work(index):
        return submit(engine, world, campaign, world.users[0], nps=index).id

    outcomes = run_at_once(8, work)
    landed = [o for o in outcomes if isinstance(o, int)]
    refused = [o for o in outcomes if isinstance(o, CommandRefused)]
    assert len(landed) == 1 and len(refused) == 7, outcomes
    row = stored(engine, campaign, world.users[0])
    assert row.status == "submitted" and row.nps == outcomes.index(landed[0])


# --- Results ------------------------------------------------------------------------------


BEST = {f"sus_{n}": 5 if n % 2 else 1 for n in range(1, 11)}  # SUS 100
WORST = {f"sus_{n}": 1 if n % 2 else 5 for n in range(1, 11)}  # SUS 0


def three_responses(engine, world) -> int:
    campaign = open_campaign(engine, world)
    submit(engine, world, campaign, world.users[0], nps=10, csat=5, comments="Great <b>tool</b>")
    submit(engine, world, campaign, world.users[1], **BEST, nps=9, csat=4)
    submit(engine, world, campaign, world.users[2], **WORST, nps=0, csat=2, comments="=1+2")
    draft(engine, world, campaign, world.users[3], {**BEST, "nps": 0})
    return campaign


def test_results_worked_example(engine, world):
    three_responses(engine, world)
    with Session(engine) as session:
        results = survey_results.survey_results(
            session=session, scope=Scope(user_id=world.manager, all_customers=True)
        )
    assert (results.responses, results.invited) == (3, 6)
    assert results.response_rate == pytest.approx(50.0)
    assert results.sus_mean == pytest.approx(50.0)
    # sd 50, n 3: 50 ± 4.3027 × 50 / √3
    assert results.sus_ci == pytest.approx((50 - 124.208, 50 + 124.208), abs=1e-3)
    assert results.sus_grade == "F"
    assert results.nps == pytest.approx(100 / 3)
    assert results.nps_split["promoters"] == 2 and results.nps_split["detractors"] == 1
    assert results.csat_pct == pytest.approx(200 / 3)
    distribution = results.item_distribution.set_index(["item", "answer"])["count"]
    assert len(distribution) == len(SUS_ITEMS) * 5
    assert distribution.sum() == 3 * len(SUS_ITEMS)
    assert (distribution.loc[1, 1], distribution.loc[1, 3], distribution.loc[1, 5]) == (1, 1, 1)
    assert (distribution.loc[2, 1], distribution.loc[2, 2]) == (1, 0)
    assert sorted(results.comments["comments"]) == ["=1+2", "Great <b>tool</b>"]


def test_comments_are_read_a_page_at_a_time_newest_first_and_searched_literally(engine, world):
    """`comment_page`: the comments `survey_results` lists, a page at a time, with their count;
    a search matches comment or customer name ignoring case, and % or _ only as themselves; a
    page past the end gives the last one."""
    campaign = open_campaign(engine, world)
    written = ["All 100% good", "Menu under_score bug", "", "PLAIN text", "plain again"]
    for end_user, comment in zip(world.users, written, strict=False):
        submit(engine, world, campaign, end_user, comments=comment)
    draft(engine, world, campaign, world.users[5], {"comments": "a draft: not counted"})
    scope = Scope(world.manager, True)
    everything = survey_results.ResultFilters()

    def page(search="", number=0, size=2):
        with Session(engine) as session:
            return survey_results.comment_page(
                session=session,
                scope=scope,
                filters=everything,
                search=search,
                page=number,
                page_size=size,
            )

    with Session(engine) as session:
        listed = survey_results.survey_results(session=session, scope=scope).comments
    newest_first = [text for text in reversed(written) if text]
    assert list(listed["comments"]) == newest_first
    first, second = page(), page(number=1)
    assert (first.total, first.pages, first.page, first.first, first.last) == (4, 2, 0, 1, 2)
    assert list(first.rows["comments"]) + list(second.rows["comments"]) == newest_first
    assert list(first.rows.columns) == list(listed.columns)
    assert (second.first, second.last) == (3, 4)
    assert [first.span(number) for number in range(2)] == [(1, 2), (3, 4)]
    past_the_end = page(number=9)
    assert past_the_end.page == 1 and past_the_end.rows.equals(second.rows)
    assert [list(page(search, size=10).rows["comments"]) for search in ("%", "_", "plain")] == [
        ["All 100% good"],
        ["Menu under_score bug"],
        ["plain again", "PLAIN text"],
    ]
    assert page("acme", size=10).total == 4  # the customer's name
    nothing = page("no such words")
    assert (nothing.total, nothing.pages, nothing.first, nothing.last, len(nothing.rows)) == (
        0,
        1,
        0,
        0,
        0,
    )
    with Session(engine) as session:
        overview = survey_results.survey_overview(
            session=session, scope=scope, filters=everything, comments=False
        )
    assert overview.results.comments.empty and overview.results.responses == 5
    assert list(overview.results.comments.columns) == list(listed.columns)
    assert overview.results.comments.dtypes.equals(nothing.rows.dtypes)
    assert nothing.span(0) == (0, 0)


def test_results_respect_scope_and_filters(engine, world):
    campaign = three_responses(engine, world)
    with Session(engine) as session:
        own = survey_results.survey_results(session=session, scope=Scope(world.csm, False))
        other = survey_results.survey_results(session=session, scope=Scope(world.other_csm, False))
        everyone = Scope(world.manager, True)
        basic_only = survey_results.survey_results(session=session, scope=everyone, tier="basic")
        elsewhere = survey_results.survey_results(session=session, scope=everyone, region="APAC")
        by_campaign = survey_results.survey_results(
            session=session, scope=everyone, campaign_id=campaign
        )
        last_year = survey_results.survey_results(session=session, scope=everyone, year=2025)
    assert own.responses == 3
    with Session(engine) as session:
        outsider = Scope(world.other_csm, False)
        assert survey_results.campaigns_in_scope(session=session, scope=outsider).empty
        assert survey_results.results_by_campaign(session=session, scope=outsider).empty
        assert survey_results.results_by_year(session=session, scope=outsider).empty
        assert survey_results.responses_export(session=session, scope=outsider).empty
    assert (other.responses, other.invited, other.sus_mean, other.nps) == (0, 0, None, None)
    assert other.comments.empty and other.item_distribution["count"].sum() == 0
    assert basic_only.responses == elsewhere.responses == last_year.responses == 0
    assert by_campaign.responses == 3
    with Session(engine) as session:
        matching = survey_results.survey_results(
            session=session,
            scope=Scope(world.manager, True),
            customer_id=world.pro,
            tier="professional",
            region="EMEA",
            year=2026,
        )
    assert (matching.responses, matching.invited) == (3, 6)


def test_the_databases_sums_are_those_of_the_responses_read_one_by_one(engine, world):
    """The results are counted from sums the database makes per campaign; they are the sums
    `domain.surveys.sums_by_group` makes of the submitted responses read one by one, drafts
    left out, and so are the answer counts of the distribution."""
    campaign = three_responses(engine, world)
    submit(engine, world, campaign, world.users[3], sus_4=2, sus_7=5, nps=7, csat=1)
    next_year_response(
        engine, world, complete(**WORST, nps=6, csat=3, interview_date=date(2027, 4, 1))
    )
    scope = Scope(world.manager, True)
    with Session(engine) as session:
        sums = survey_results._campaign_sums(session, scope, survey_results.ResultFilters())
        submitted = session.exec(
            select(SurveyResponse).where(SurveyResponse.status == "submitted")
        ).all()
    expected = sums_by_group(
        np.array([row.campaign_id for row in submitted]),
        np.array([sus_score([getattr(row, key) for key in SUS_KEYS]) for row in submitted]),
        np.array([row.nps for row in submitted]),
        np.array([row.csat for row in submitted]),
    )
    assert len(submitted) == 5 and sorted(sums.index) == sorted(expected.index)
    assert sums.loc[expected.index, list(SUM_COLUMNS)].to_numpy().tolist() == (
        expected.to_numpy().tolist()
    )
    with Session(engine) as session:
        answer_counts = {
            campaign_id: survey_results._answer_counts(
                session, scope, survey_results.ResultFilters(campaign_id=int(campaign_id))
            )
            for campaign_id in expected.index
        }
        everything = survey_results._answer_counts(session, scope, survey_results.ResultFilters())
    columns = list(survey_results.ANSWER_COUNT_COLUMNS)
    for campaign_id in expected.index:
        counted = [
            sum(
                1 for row in submitted if row.campaign_id == campaign_id
                and getattr(row, key) == answer
            )
            for key in SUS_KEYS
            for answer in range(1, 6)
        ]  # fmt: skip
        assert dict(zip(columns, answer_counts[campaign_id].tolist(), strict=True)) == dict(
            zip(columns, counted, strict=True)
        ), campaign_id
    assert everything.tolist() == sum(answer_counts.values()).tolist()


@pytest.mark.parametrize("answer, value", [("sus_4", 7), ("sus_9", None), ("csat", 0)])
def test_a_submitted_answer_out_of_range_is_refused_not_left_out(engine, world, answer, value):
    """An answer the commands would refuse (out of range or missing), written behind their
    back, is counted in no bucket of the database's sums; the results say so rather than count
    the response short."""
    campaign = three_responses(engine, world)
    with session_scope(engine) as session:
        response = session.exec(
            select(SurveyResponse).where(SurveyResponse.status == "submitted")
        ).first()
        setattr(response, answer, value)
        session.add(response)
    with Session(engine) as session, pytest.raises(ValueError) as refused:
        survey_results.survey_results(session=session, scope=Scope(world.manager, True))
    assert str(refused.value) == (
        f"Campaign {campaign} has a submitted response with an answer missing or out of range."
    )


def tally(engine) -> pd.DataFrame:
    """The `survey_tally` rows holding any count, as `recounted_tallies` gives them."""
    with Session(engine) as session:
        kept = pd.read_sql(
            select(survey_tally).order_by(survey_tally.c.campaign_id), session.connection()
        ).set_index("campaign_id")
    kept = kept[list(SURVEY_TALLY_COUNTS)].astype(np.int64)
    return kept[kept.to_numpy().any(axis=1)]


def recounted(engine) -> pd.DataFrame:
    with Session(engine) as session:
        counted = survey_results.recounted_tallies(session=session)
    return counted[counted.to_numpy().any(axis=1)]


def test_the_tally_follows_every_write_of_a_response(engine, world):
    """The triggers keep `survey_tally` equal to the responses summed again
    (`recounted_tallies`) through the commands and through writes behind their back: an answer
    changed, a submitted response turned back into a draft, an answer emptied, a response moved
    to another campaign, rows inserted and deleted."""
    campaign = three_responses(engine, world)
    pd.testing.assert_frame_equal(tally(engine), recounted(engine))
    first = tally(engine).loc[campaign]
    assert (first["responses"], first["drafts"]) == (3, 1)
    assert first["sus_points"] == (50 + 100 + 0) / 2.5 and first["promoters"] == 2
    assert first["sus_1_3"] == 1 and first["sus_1_5"] == 1 and first["sus_1_1"] == 1

    submit(engine, world, campaign, world.users[3], sus_4=2, sus_7=5, nps=7, csat=1)
    next_year_response(
        engine, world, complete(**WORST, nps=6, csat=3, interview_date=date(2027, 4, 1))
    )
    with Session(engine) as session:
        next_year = session.exec(
            select(SurveyCampaign.id).where(SurveyCampaign.id != campaign)
        ).one()
    pd.testing.assert_frame_equal(tally(engine), recounted(engine))

    def behind_their_back(change) -> None:
        with session_scope(engine) as session:
            rows = session.exec(select(SurveyResponse).order_by(SurveyResponse.id)).all()
            change(session, rows)
        pd.testing.assert_frame_equal(tally(engine), recounted(engine))

    def answer_changed(session, rows):
        rows[0].sus_3, rows[0].nps, rows[0].csat = 1, 3, 5
        rows[0].comments = "   "  # blank: no comment
        rows[1].comments = "Said later"
        session.add_all(rows[:2])

    def back_to_draft(session, rows):
        rows[1].status = "draft"
        session.add(rows[1])

    def answer_emptied(session, rows):
        rows[2].sus_9 = None
        session.add(rows[2])

    def moved(session, rows):
        rows[3].campaign_id = next_year
        session.add(rows[3])

    def deleted(session, rows):
        session.delete(rows[0])

    def inserted(session, rows):
        session.add(
            SurveyResponse(
                campaign_id=next_year,
                end_user_id=world.users[4],
                staff_id=world.staff,
                status="submitted",
                **BEST,
                nps=10,
                csat=5,
                comments="Fine",
                submitted_at=NOW,
            )
        )

    for change in (answer_changed, back_to_draft, answer_emptied, moved, deleted, inserted):
        behind_their_back(change)
    final = tally(engine)
    assert final["responses"].sum() == 4 and final["drafts"].sum() == 1
    assert final.loc[next_year, "responses"] == 3
    # Comments of submitted responses: "=1+2" (u2) and "Fine" (u4); "Said later" is u1's, a
    # draft now.
    assert final["comments"].sum() == 2
    with Session(engine) as session:
        shown = survey_results.comment_page(
            session=session,
            scope=Scope(world.manager, True),
            filters=survey_results.ResultFilters(),
        )
    assert shown.total == 2 and sorted(shown.rows["comments"]) == ["=1+2", "Fine"]


def next_year_response(engine, world, answers: dict) -> None:
    """A campaign for the 2027 subscription year, with one submitted response."""
    next_year = open_campaign(engine, world, now=datetime(2027, 4, 1, tzinfo=UTC))
    with session_scope(engine) as session:
        survey_campaigns.submit_response(
            session=session,
            actor=act(world.staff, "surveys"),
            campaign_id=next_year,
            end_user_id=world.users[0],
            answers=answers,
            now=datetime(2027, 4, 2, tzinfo=UTC),
        )


def test_trend_and_per_campaign_results(engine, world):
    three_responses(engine, world)
    next_year_response(
        engine, world, complete(**BEST, nps=10, csat=5, interview_date=date(2027, 4, 1))
    )
    scope = Scope(world.manager, True)
    with Session(engine) as session:
        trend = survey_results.results_by_year(session=session, scope=scope).set_index("year")
        campaigns = survey_results.results_by_campaign(session=session, scope=scope)
    assert list(trend.index) == [2026, 2027]
    assert trend.loc[2026, "responses"] == 3 and trend.loc[2026, "sus_mean"] == 50
    assert trend.loc[2027, "responses"] == 1 and trend.loc[2027, "sus_mean"] == 100
    assert trend.loc[2027, "sus_grade"] == "A+" and math.isnan(trend.loc[2027, "sus_low"])
    assert trend.loc[2027, "response_rate"] == pytest.approx(100 / 6)
    assert list(campaigns["year"]) == [2027, 2026]
    assert list(campaigns["responses"]) == [1, 3]


def test_the_pages_overview_counts_what_each_result_counts_alone(engine, world):
    """`survey_overview` reads the responses once and narrows them to the campaign and year
    chosen; its figures are those of `survey_results`, `results_by_campaign` and the trend of
    `results_by_year` under the customer, tier and region filters, whether it reads them or is
    given them (the page caches them per customer, tier and region, counted against the
    campaigns it lists: the scope's, narrowed rather than read again)."""
    campaign = three_responses(engine, world)
    next_year_response(
        engine, world, complete(**WORST, nps=6, csat=3, interview_date=date(2027, 4, 1))
    )
    scope = Scope(world.manager, True)
    choices = [
        survey_results.ResultFilters(),
        survey_results.ResultFilters(year=2027),
        survey_results.ResultFilters(campaign_id=campaign),
        survey_results.ResultFilters(customer_id=world.pro, year=2026),
        survey_results.ResultFilters(tier="basic"),
    ]
    with Session(engine) as session:
        for filters in choices:
            alone = dict(session=session, scope=scope, **asdict(filters))
            across_years = dict(session=session, scope=scope, **asdict(filters.across_years()))
            read_here = survey_results.scored_responses(
                session=session, scope=scope, filters=filters.across_years()
            )
            narrowed_here = survey_results.scored_responses(
                session=session,
                scope=scope,
                filters=filters.across_years(),
                campaigns=survey_results.campaigns_in_scope(session=session, scope=scope),
            )
            for overview in (
                survey_results.survey_overview(session=session, scope=scope, filters=filters),
                *(
                    survey_results.survey_overview(
                        session=session, scope=scope, filters=filters, scored=given
                    )
                    for given in (read_here, narrowed_here)
                ),
            ):
                expected = survey_results.survey_results(**alone)
                for name in ("responses", "invited", "sus_mean", "sus_ci", "nps", "csat_pct"):
                    assert getattr(overview.results, name) == getattr(expected, name), name
                assert overview.results.nps_split == expected.nps_split
                assert overview.results.item_distribution.equals(expected.item_distribution)
                assert overview.results.comments.equals(expected.comments)
                per_campaign = survey_results.results_by_campaign(**alone)
                assert list(overview.per_campaign["id"]) == list(per_campaign["id"])
                assert overview.per_campaign[["responses", "sus_mean", "nps"]].equals(
                    per_campaign[["responses", "sus_mean", "nps"]]
                )
                trend = survey_results.results_by_year(**across_years)
                assert overview.trend.equals(trend), filters
    assert list(trend["year"]) == []  # the last choice: no Basic customer has a campaign
    with Session(engine) as session:
        everything = survey_results.survey_overview(
            session=session, scope=scope, filters=survey_results.ResultFilters(year=2027)
        )
    assert (everything.results.responses, everything.results.nps) == (1, -100)
    assert list(everything.per_campaign["year"]) == [2027]
    assert list(everything.trend["year"]) == [2026, 2027]


def test_rows_read_from_the_driver_are_the_frame_read_sql_makes(engine, world):
    """The scored rows and comments are built from the driver's tuples (no Row per response):
    the same columns and types as pd.read_sql, with NULLs, text, drafts and no rows at all."""
    three_responses(engine, world)
    statement = select(
        SurveyResponse.id,
        SurveyResponse.status,
        SurveyResponse.nps,
        case((SurveyResponse.csat >= 4, SurveyResponse.csat), else_=null()).label("satisfied"),
        SurveyResponse.sus_1,
        SurveyResponse.comments,
    ).order_by(SurveyResponse.id)
    with Session(engine) as session:
        for chosen in (statement, statement.where(SurveyResponse.id < 0)):
            expected = pd.read_sql(chosen, session.connection())
            found = survey_campaigns.plain_frame(session, chosen)
            pd.testing.assert_frame_equal(found, expected, check_exact=True)
    assert len(expected) == 0 and len(found.columns) == 6


def test_export_has_one_row_per_response_and_quotes_formulas(engine, world):
    three_responses(engine, world)
    with Session(engine) as session:
        export = survey_results.responses_export(session=session, scope=Scope(world.manager, True))
    assert len(export) == 3
    assert set(export["comments"]) == {"", "Great <b>tool</b>", "=1+2"}
    assert ",'=1+2," in csv_bytes(export).decode("utf-8-sig")
    assert sorted(export["sus_score"]) == [0, 50, 100]
    assert set(export["interviewer"]) == {"Surveys"}


# --- Feedback sessions ----------------------------------------------------------------------


def test_feedback_session_life_cycle(engine, world):
    session_id = request(engine, world, text="E-mail of 30 Oct: please interview our planners.")
    scope = Scope(world.csm, False)
    with session_scope(engine) as session:
        with pytest.raises(CommandRefused, match="Schedule the session before"):
            feedback_sessions.record_feedback_findings(
                session=session,
                actor=act(world.csm, "csm.emea"),
                feedback_session_id=session_id,
                findings="x",
                recommendations="y",
                now=NOW,
            )
        with pytest.raises(CommandRefused, match="active HyperCare resource"):
            feedback_sessions.schedule_feedback_session(
                session=session,
                actor=act(world.csm, "csm.emea"),
                feedback_session_id=session_id,
                scheduled_for=NOW + timedelta(days=7),
                resource_id=world.staff,
            )
        feedback_sessions.schedule_feedback_session(
            session=session,
            actor=act(world.csm, "csm.emea"),
            feedback_session_id=session_id,
            scheduled_for=NOW + timedelta(days=7),
            resource_id=world.csm,
        )
    record = dict(
        actor=act(world.csm, "csm.emea"),
        feedback_session_id=session_id,
        findings="Planners export to Excel to filter.",
        recommendations="Train on saved views.",
    )
    with pytest.raises(CommandRefused, match="has not taken place yet"), Session(engine) as s:
        feedback_sessions.record_feedback_findings(session=s, now=NOW, **record)
    with pytest.raises(CommandRefused, match="recommendations is required"), Session(engine) as s:
        feedback_sessions.record_feedback_findings(
            session=s, now=NOW + timedelta(days=8), **{**record, "recommendations": "  "}
        )
    with session_scope(engine) as session:
        feedback_sessions.record_feedback_findings(
            session=session, now=NOW + timedelta(days=8), **record
        )
    with pytest.raises(CommandRefused, match="recorded already"), Session(engine) as s:
        feedback_sessions.record_feedback_findings(session=s, now=NOW + timedelta(days=9), **record)
    with Session(engine) as session:
        listed = feedback_sessions.feedback_sessions(
            session=session, scope=scope, customer_id=world.pro
        )
        actions = session.exec(
            select(AuditLog.action).where(AuditLog.entity == "feedback_session")
        ).all()
    assert len(listed) == 1
    row = listed.iloc[0]
    assert (row["state"], row["resource"], row["requested_by"]) == (
        "done",
        "Csm Emea",
        "Dana Buyer",
    )
    assert row["findings"] == "Planners export to Excel to filter."
    assert row["scheduled_for"] == NOW + timedelta(days=7)
    assert sorted(actions) == [
        "record_feedback_findings",
        "request_feedback_session",
        "schedule_feedback_session",
    ]


def test_feedback_sessions_stay_within_the_csms_portfolio(engine, world):
    outsider = Scope(world.other_csm, False)
    with pytest.raises(CommandRefused, match="not in your portfolio"):
        request(engine, world, who=act(world.other_csm, "csm.na"))
    session_id = request(engine, world)
    with Session(engine) as session:
        assert feedback_sessions.feedback_sessions(session=session, scope=outsider).empty
        with pytest.raises(CommandRefused, match="not in your portfolio"):
            feedback_sessions.schedule_feedback_session(
                session=session,
                actor=act(world.other_csm, "csm.na"),
                feedback_session_id=session_id,
                scheduled_for=NOW,
                resource_id=world.other_csm,
            )


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"request_text": "   "}, "written request is required"),
        ({"requested_at": NOW + timedelta(hours=1)}, "cannot be dated in the future"),
        ({"requested_at": datetime(2024, 1, 1, tzinfo=UTC)}, "before Acme Planning's HyperCare"),
        ({"requested_at": datetime(2026, 11, 1)}, "needs a date and time with a time zone"),
    ],
)
def test_invalid_feedback_requests_are_refused(engine, world, changes, message):
    values = dict(
        actor=act(world.manager, "manager"),
        customer_id=world.pro,
        contact_id=world.contact,
        requested_at=NOW,
        request_text="E-mail",
        now=NOW,
    )
    with pytest.raises(CommandRefused, match=message), Session(engine) as session:
        feedback_sessions.request_feedback_session(session=session, **{**values, **changes})
    assert ledger(engine, world.pro) == []
