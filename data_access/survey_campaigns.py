"""Adoption-survey campaigns and the responses survey staff type in (the survey form).

One adoption-survey entitlement unit covers a subscription year's "adoption survey + end-user
interview" (SPEC tier table). The year's campaign and the year's first feedback session share that
unit: whichever is opened first debits it, the other finds its partner and debits nothing (the
feedback side, and the checks both share, are in `feedback_sessions`). Results are in
`survey_results`.

A response belongs to one respondent in one campaign (unique in the database). A draft belongs to
the staff member who started it: nobody else saves over it or submits it, and a submitted response
is never changed.
"""

from __future__ import annotations

import math
import numbers
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import and_, func, or_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, select

from data_access.actor import Actor, authorise
from data_access.audit import CommandRefused, record_audit
from data_access.checks import required_text, utc_moment
from data_access.entitlement_ledger import debit_entitlement
from data_access.feedback_sessions import (
    check_tier_includes_surveys,
    feedback_sessions_in_year,
    unaware,
)
from data_access.locking import for_update
from data_access.models import (
    Customer,
    EndUser,
    Region,
    SurveyCampaign,
    SurveyResponse,
    TierPolicyRow,
    User,
    survey_tally,
    utc_now,
)
from data_access.scope import Scope
from domain.entitlements import Entitlement, as_days, subscription_year, subscription_year_ends
from domain.roles import Role
from domain.surveys import MISSING_LABELS, SUS_ITEMS, missing_items

SUS_KEYS: tuple[str, ...] = tuple(f"sus_{number}" for number in range(1, len(SUS_ITEMS) + 1))
ANSWER_RANGES: dict[str, tuple[int, int]] = {
    **dict.fromkeys(SUS_KEYS, (1, 5)),
    "nps": (0, 10),
    "csat": (1, 5),
}
ANSWER_KEYS: tuple[str, ...] = (*ANSWER_RANGES, "comments", "interview_date")
COMMENTS_MAX_CHARS = 4000
RESPONDENT_STATUS_LABELS: dict[str, str] = {
    "not_started": "Not started",
    "draft": "Draft",
    "submitted": "Submitted",
}
# The latest calendar date anywhere on earth is UTC+14: an interview dated "today" by someone in
# Kiribati is not in the future.
_EARLIEST_ZONE_AHEAD = timedelta(hours=14)
# Opening a campaign is a portfolio decision (managers and admins); responses are entered by
# survey staff (and managers and admins covering for them), each only into their own drafts.
CAMPAIGN_ROLES = (Role.MANAGER, Role.ADMIN)
RESPONSE_ROLES = (Role.SURVEY_STAFF, Role.MANAGER, Role.ADMIN)


# --- Campaigns ----------------------------------------------------------------------------


def create_campaign(
    *, session: Session, actor: Actor, customer_id: int, now: datetime
) -> SurveyCampaign:
    """Open the adoption-survey campaign of the customer's subscription year containing `now`.

    One per customer and year; every active end user is invited. It uses the year's adoption-survey
    entitlement unless this year's feedback session already did (they share one unit). A manager
    or an admin only.
    """
    customer = authorise(session, actor, roles=CAMPAIGN_ROLES, customer_id=customer_id)
    now = utc_moment(now, refusal=unaware("campaign's opening time"))
    if not customer.is_active:
        raise CommandRefused(f"{customer.name} is no longer an active customer.")
    check_tier_includes_surveys(session, customer)
    today = now.date()
    if today < customer.hypercare_start:
        raise CommandRefused(
            f"{customer.name}'s HyperCare starts on {customer.hypercare_start.isoformat()}; "
            "a campaign can be opened from then."
        )
    year = subscription_year(customer.hypercare_start, today)
    existing = session.exec(
        select(SurveyCampaign.id).where(
            SurveyCampaign.customer_id == customer_id, SurveyCampaign.year_start == year[0]
        )
    ).first()
    if existing is not None:
        raise CommandRefused(
            f"{customer.name} already has an adoption survey campaign for the subscription year "
            f"starting {year[0].isoformat()}; the next one can be opened from "
            f"{year[1].isoformat()}."
        )
    invited = session.exec(
        select(func.count())
        .select_from(EndUser)
        .where(EndUser.customer_id == customer_id, EndUser.is_active)
    ).one()
    if invited == 0:
        raise CommandRefused(
            f"{customer.name} has no active end users to survey; add end users first."
        )
    shared_with = feedback_sessions_in_year(session, customer_id, year)
    if not shared_with:
        debit_entitlement(
            session=session,
            customer_id=customer_id,
            kind=Entitlement.ADOPTION_SURVEY,
            actor=actor,
            reason=f"Adoption survey campaign for the year starting {year[0].isoformat()} opened",
            now=now,
        )
    campaign = SurveyCampaign(
        customer_id=customer_id,
        year_start=year[0],
        title=f"Adoption survey {year[0].year}/{year[1].year % 100:02d}",
        invited_count=invited,
        created_by_id=actor.user_id,
        created_at=now,
    )
    session.add(campaign)
    session.flush()
    record_audit(
        session=session,
        actor=actor.username,
        action="create_survey_campaign",
        entity="survey_campaign",
        entity_id=campaign.id,
        detail={
            "customer_id": customer_id,
            "year_start": year[0],
            "invited": invited,
            "entitlement": (
                f"shared with feedback session #{shared_with[0].id}" if shared_with else "debited"
            ),
        },
    )
    return campaign


def plain_frame(session: Session, statement) -> pd.DataFrame:
    """The rows of a statement of numbers and text, as `pd.read_sql` reads them (the same
    column types; no rows: object columns), from the driver's own tuples.

    Tricky edge: read_sql makes a SQLAlchemy Row of each of them, which outlives the young
    collections of Python's garbage collector; 13,732 rows of answers (read before the
    campaigns' sums were) and 8,189 comments on 2,000 customers made a full collection (0.1 s)
    every other run of the page. So no object is made per row that holds others. A date column
    comes as the driver gives it (text on SQLite), for the caller to parse."""
    result = session.connection().execute(statement)
    names = list(result.keys())
    rows = result.cursor.fetchall()
    result.close()
    if not rows:
        return pd.DataFrame(columns=names)

    table = np.array(rows, dtype=object)  # transposed without an iterator per row

    def column(values: np.ndarray) -> np.ndarray | list:
        if pd.api.types.infer_dtype(values, skipna=False) == "integer":
            return values.astype(np.int64)  # read_sql's int64, without its inference
        return values.tolist()

    return pd.DataFrame({name: column(table[:, i]) for i, name in enumerate(names)})


def campaign_frame(session: Session, where: list[ColumnElement[bool]]) -> pd.DataFrame:
    """Campaigns matching `where`, newest year first, with customer, counts and closing day.

    The submitted and draft counts are the campaign's `survey_tally` row (none yet: 0), not a
    count over every response ever stored."""
    statement = (
        select(
            SurveyCampaign.id,
            SurveyCampaign.customer_id,
            Customer.name.label("customer"),
            Customer.tier,
            Region.code.label("region"),
            Customer.hypercare_start,
            SurveyCampaign.title,
            SurveyCampaign.year_start,
            SurveyCampaign.invited_count.label("invited"),
            func.coalesce(survey_tally.c.responses, 0).label("submitted"),
            func.coalesce(survey_tally.c.drafts, 0).label("drafts"),
        )
        .join(Customer, Customer.id == SurveyCampaign.customer_id)
        .join(Region, Region.id == Customer.region_id)
        .outerjoin(survey_tally, survey_tally.c.campaign_id == SurveyCampaign.id)
        .where(*where)
        .order_by(SurveyCampaign.year_start.desc(), Customer.name)
    )
    frame = plain_frame(session, statement)
    # A thousand campaigns' days at once (`subscription_year` per row was 2 ms of 2,000
    # customers' read, and numpy's own conversion of date objects 3 ms a column).
    year_start = as_days(frame["year_start"].tolist())
    frame["year_start"] = year_start.tolist()
    frame["closes_on"] = subscription_year_ends(as_days(frame.pop("hypercare_start")), year_start)
    frame["year"] = year_start.astype("datetime64[Y]").astype(np.int64) + 1970
    return frame


def campaigns_for_staff(*, session: Session, today: date) -> pd.DataFrame:
    """Campaigns open for interviews on `today` (their subscription year has not renewed yet)."""
    frame = campaign_frame(session, [Customer.is_active, *_started_within_a_year(today)])
    is_open = (frame["year_start"] <= today) & (frame["closes_on"] > today)
    return frame[is_open.to_numpy(dtype=bool)].reset_index(drop=True)


def _started_within_a_year(today: date) -> list[ColumnElement[bool]]:
    """Campaigns whose year may contain `today`: a subscription year is at most 366 days long, so
    one that started longer ago has renewed. The exact test (`subscription_year`) follows in
    Python; this only keeps earlier years' campaigns out of the read."""
    return [
        SurveyCampaign.year_start <= today,
        SurveyCampaign.year_start > today - timedelta(days=366),
    ]


def customers_without_campaign(*, session: Session, scope: Scope, today: date) -> pd.DataFrame:
    """Active customers in scope with no campaign for their current subscription year yet."""
    statement = (
        select(
            Customer.id,
            Customer.name,
            Customer.tier,
            TierPolicyRow.label.label("tier_label"),
            Customer.hypercare_start,
        )
        .join(TierPolicyRow, TierPolicyRow.tier == Customer.tier)
        .where(Customer.is_active, Customer.hypercare_start <= today, scope.customer_filter())
        .order_by(Customer.name)
    )
    customers = pd.read_sql(statement, session.connection())
    customers["hypercare_start"] = pd.to_datetime(customers["hypercare_start"]).dt.date
    customers["year_start"] = [
        subscription_year(start, today)[0] for start in customers["hypercare_start"]
    ]
    existing = {
        (customer_id, year_start)
        for customer_id, year_start in session.exec(
            select(SurveyCampaign.customer_id, SurveyCampaign.year_start).where(
                *_started_within_a_year(today)
            )
        )
    }
    has_campaign = [
        (int(customer_id), year_start) in existing
        for customer_id, year_start in zip(customers["id"], customers["year_start"], strict=True)
    ]
    return customers[[not flag for flag in has_campaign]].reset_index(drop=True)


def _open_campaign(
    session: Session, campaign_id: int, today: date
) -> tuple[SurveyCampaign, Customer]:
    campaign = session.get(SurveyCampaign, campaign_id)
    if campaign is None:
        raise CommandRefused(f"There is no survey campaign with id {campaign_id}.")
    customer = session.get(Customer, campaign.customer_id)
    closes_on = subscription_year(customer.hypercare_start, campaign.year_start)[1]
    if today >= closes_on:
        raise CommandRefused(
            f"{campaign.title} for {customer.name} closed on {closes_on.isoformat()} when the "
            "subscription year renewed; responses can no longer be entered."
        )
    return campaign, customer


# --- Respondents and responses ------------------------------------------------------------


def respondents(*, session: Session, campaign_id: int) -> pd.DataFrame:
    """The campaign customer's end users with their response status, who holds it and when.

    Inactive end users are listed only when they already have a response.
    """
    campaign = session.get(SurveyCampaign, campaign_id)
    if campaign is None:
        raise CommandRefused(f"There is no survey campaign with id {campaign_id}.")
    statement = (
        select(
            EndUser.id.label("end_user_id"),
            EndUser.name,
            EndUser.email,
            EndUser.is_active,
            SurveyResponse.id.label("response_id"),
            func.coalesce(SurveyResponse.status, "not_started").label("status"),
            SurveyResponse.staff_id,
            User.name.label("staff"),
            SurveyResponse.updated_at,
            SurveyResponse.submitted_at,
        )
        .outerjoin(
            SurveyResponse,
            and_(
                SurveyResponse.end_user_id == EndUser.id,
                SurveyResponse.campaign_id == campaign_id,
            ),
        )
        .outerjoin(User, User.id == SurveyResponse.staff_id)
        .where(
            EndUser.customer_id == campaign.customer_id,
            or_(EndUser.is_active, SurveyResponse.id.is_not(None)),
        )
        .order_by(EndUser.name)
    )
    frame = pd.read_sql(statement, session.connection())
    for column in ("updated_at", "submitted_at"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    frame["status_label"] = frame["status"].map(RESPONDENT_STATUS_LABELS)
    return frame


def response_answers(*, session: Session, campaign_id: int, end_user_id: int) -> dict[str, Any]:
    """The stored answers of one respondent in one campaign (empty when not started)."""
    response = _existing_response(session, campaign_id, end_user_id, lock=False)
    if response is None:
        return {}
    return {
        "status": response.status,
        "staff_id": response.staff_id,
        **{key: getattr(response, key) for key in ANSWER_KEYS},
    }


def _clean_answers(answers: dict[str, Any], earliest: date, now: datetime) -> dict[str, Any]:
    """Validated answers; None means unanswered. Unknown keys and out-of-range values refuse."""
    unknown = sorted(set(answers) - set(ANSWER_KEYS))
    if unknown:
        raise CommandRefused(f"{unknown[0]!r} is not a question of the adoption survey.")
    cleaned: dict[str, Any] = {}
    for key, (low, high) in ANSWER_RANGES.items():
        if key not in answers:
            continue
        value = answers[key]
        if value is None or (isinstance(value, float) and math.isnan(value)):
            cleaned[key] = None
            continue
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise CommandRefused(
                f"{MISSING_LABELS[key]} must be a whole number from {low} to {high}."
            )
        if not low <= value <= high:
            raise CommandRefused(
                f"{MISSING_LABELS[key]} is {value}; answers run from {low} to {high}."
            )
        cleaned[key] = int(value)
    if "comments" in answers:
        cleaned["comments"] = required_text(
            answers["comments"], what="comment", limit=COMMENTS_MAX_CHARS, required=False
        )
    if "interview_date" in answers:
        interview = answers["interview_date"]
        if interview is not None:
            if isinstance(interview, datetime) or not isinstance(interview, date):
                raise CommandRefused("The interview date must be a calendar date.")
            if interview > (now + _EARLIEST_ZONE_AHEAD).date():
                raise CommandRefused("The interview date cannot be in the future.")
            if interview < earliest:
                raise CommandRefused(
                    f"The interview date must be on or after {earliest.isoformat()}, when this "
                    "campaign's subscription year began."
                )
        cleaned["interview_date"] = interview
    return cleaned


def _existing_response(
    session: Session, campaign_id: int, end_user_id: int, *, lock: bool
) -> SurveyResponse | None:
    statement = select(SurveyResponse).where(
        SurveyResponse.campaign_id == campaign_id, SurveyResponse.end_user_id == end_user_id
    )
    if lock:
        statement = for_update(statement)
    return session.exec(statement).first()


def _respondent(session: Session, customer: Customer, end_user_id: int) -> EndUser:
    end_user = session.get(EndUser, end_user_id)
    if end_user is None or end_user.customer_id != customer.id:
        raise CommandRefused(f"That respondent is not an end user of {customer.name}.")
    return end_user


def _interviewer(actor: Actor) -> int:
    """Responses are held by the person who interviewed: a signed-in user, never a shell job."""
    if actor.user_id is None:
        raise CommandRefused("Survey responses are entered by a signed-in staff member.")
    return actor.user_id


def _check_may_change(
    session: Session, existing: SurveyResponse | None, staff_id: int, end_user: EndUser
) -> None:
    if existing is None:
        if not end_user.is_active:
            raise CommandRefused(f"{end_user.name} is no longer an active end user.")
        return
    if existing.status == "submitted":
        raise CommandRefused(
            f"{end_user.name}'s response to this campaign was already submitted; "
            "nothing was changed."
        )
    if existing.staff_id != staff_id:
        owner = session.get(User, existing.staff_id)
        raise CommandRefused(
            f"{owner.name if owner else 'Another staff member'} has a draft for "
            f"{end_user.name} in progress; only they can continue it."
        )


def _write_response(
    session: Session,
    *,
    existing: SurveyResponse | None,
    campaign_id: int,
    end_user: EndUser,
    staff_id: int,
    values: dict[str, Any],
) -> SurveyResponse:
    """Insert or update the row; a concurrent insert for the same respondent refuses cleanly."""
    response = existing or SurveyResponse(
        campaign_id=campaign_id, end_user_id=end_user.id, staff_id=staff_id
    )
    for key, value in values.items():
        setattr(response, key, "" if key == "comments" and value is None else value)
    response.updated_at = utc_now()
    try:
        with session.begin_nested():
            session.add(response)
            session.flush()
    except IntegrityError as exc:
        raise CommandRefused(
            f"Someone else saved a response for {end_user.name} a moment ago; nothing was "
            "overwritten."
        ) from exc
    return response


def _checked_answers(
    session: Session,
    actor: Actor,
    campaign_id: int,
    end_user_id: int,
    answers: dict[str, Any],
    now: datetime | None,
    *,
    moment: str,
) -> tuple[int, datetime, EndUser, dict[str, Any], SurveyResponse | None]:
    """What every answering command checks, in this order, before it writes: the role, that a
    person interviews, an aware `now` (`moment` names it in the refusal), an open campaign, a
    respondent of its customer, the answers, and under the row lock that this staff member may
    change the stored response. Returns the interviewer, the time, the respondent, the cleaned
    answers and the stored response (None when there is none yet)."""
    authorise(session, actor, roles=RESPONSE_ROLES)
    staff_id = _interviewer(actor)
    at = utc_moment(now, refusal=unaware(moment))
    campaign, customer = _open_campaign(session, campaign_id, at.date())
    end_user = _respondent(session, customer, end_user_id)
    values = _clean_answers(answers, campaign.year_start, at)
    existing = _existing_response(session, campaign_id, end_user_id, lock=True)
    _check_may_change(session, existing, staff_id, end_user)
    return staff_id, at, end_user, values, existing


def save_draft(
    *,
    session: Session,
    actor: Actor,
    campaign_id: int,
    end_user_id: int,
    answers: dict[str, Any],
    now: datetime | None = None,
) -> SurveyResponse:
    """Save the answers given so far (any subset; keys not given keep their saved values).

    Survey staff, managers and admins; each writes only their own draft.
    """
    staff_id, now, end_user, values, existing = _checked_answers(
        session, actor, campaign_id, end_user_id, answers, now, moment="save time"
    )
    response = _write_response(
        session,
        existing=existing,
        campaign_id=campaign_id,
        end_user=end_user,
        staff_id=staff_id,
        values={**values, "status": "draft"},
    )
    record_audit(
        session=session,
        actor=actor.username,
        action="save_survey_draft",
        entity="survey_response",
        entity_id=response.id,
        detail={
            "campaign_id": campaign_id,
            "end_user_id": end_user_id,
            "answered": sorted(key for key, value in values.items() if value not in (None, "")),
        },
    )
    return response


def submit_response(
    *,
    session: Session,
    actor: Actor,
    campaign_id: int,
    end_user_id: int,
    answers: dict[str, Any],
    now: datetime | None = None,
) -> SurveyResponse:
    """Submit a complete response: the given answers over the staff member's own draft, if any.

    Refused when anything required is missing (naming each item), when the respondent has a
    submitted response already, or when another staff member holds the draft; nothing is
    overwritten in any of those cases. Survey staff, managers and admins; each submits only their
    own draft or a new response.
    """
    staff_id, now, end_user, values, existing = _checked_answers(
        session, actor, campaign_id, end_user_id, answers, now, moment="submission time"
    )
    saved = {key: getattr(existing, key) for key in ANSWER_KEYS} if existing else {}
    merged = {**saved, **values}
    missing = missing_items(merged)
    if missing:
        raise CommandRefused(f"Missing: {', '.join(missing)}.")
    response = _write_response(
        session,
        existing=existing,
        campaign_id=campaign_id,
        end_user=end_user,
        staff_id=staff_id,
        values={**merged, "status": "submitted", "submitted_at": now},
    )
    record_audit(
        session=session,
        actor=actor.username,
        action="submit_survey_response",
        entity="survey_response",
        entity_id=response.id,
        detail={"campaign_id": campaign_id, "end_user_id": end_user_id},
    )
    return response
