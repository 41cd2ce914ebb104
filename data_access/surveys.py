"""Adoption surveys and feedback sessions: campaigns, responses, results and interview requests.

One adoption-survey entitlement unit covers a subscription year's "adoption survey + end-user
interview" (SPEC tier table). The year's campaign and the year's first feedback session share that
unit: whichever is opened first debits it, the other finds its partner and debits nothing. A second
feedback session in the same year debits a unit of its own (refused when none is left).

A response belongs to one respondent in one campaign (unique in the database). A draft belongs to
the staff member who started it: nobody else saves over it or submits it, and a submitted response
is never changed.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import and_, case, func, literal, or_, union_all
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, select

from data_access.actor import Actor, authorise
from data_access.audit import CommandRefused, record_audit
from data_access.case_commands import can_see_customer
from data_access.entitlements import debit_entitlement
from data_access.locking import for_update
from data_access.models import (
    Contact,
    Customer,
    EndUser,
    FeedbackSession,
    Region,
    SurveyCampaign,
    SurveyResponse,
    TierPolicyRow,
    User,
    utc_now,
)
from data_access.scope import Scope
from domain.entitlements import Entitlement, subscription_year
from domain.roles import Role, parse_roles
from domain.surveys import (
    MISSING_LABELS,
    SUS_ITEMS,
    csat_percent,
    mean_ci95,
    missing_items,
    nps,
    nps_split,
    sus_grade,
    sus_score,
)

SUS_KEYS: tuple[str, ...] = tuple(f"sus_{number}" for number in range(1, len(SUS_ITEMS) + 1))
ANSWER_RANGES: dict[str, tuple[int, int]] = {
    **dict.fromkeys(SUS_KEYS, (1, 5)),
    "nps": (0, 10),
    "csat": (1, 5),
}
ANSWER_KEYS: tuple[str, ...] = (*ANSWER_RANGES, "comments", "interview_date")
COMMENTS_MAX_CHARS = 4000
FEEDBACK_TEXT_MAX_CHARS = 10_000
RESPONDENT_STATUS_LABELS: dict[str, str] = {
    "not_started": "Not started",
    "draft": "Draft",
    "submitted": "Submitted",
}
FEEDBACK_STATE_LABELS: dict[str, str] = {
    "requested": "Requested",
    "scheduled": "Scheduled",
    "done": "Findings recorded",
    "cancelled": "Cancelled",
}
# The latest calendar date anywhere on earth is UTC+14: an interview dated "today" by someone in
# Kiribati is not in the future.
_EARLIEST_ZONE_AHEAD = timedelta(hours=14)
# Opening a campaign is a portfolio decision (managers and admins); responses are entered by
# survey staff (and managers and admins covering for them), each only into their own drafts;
# feedback sessions belong to the customer's CSM, managers and admins.
CAMPAIGN_ROLES = (Role.MANAGER, Role.ADMIN)
RESPONSE_ROLES = (Role.SURVEY_STAFF, Role.MANAGER, Role.ADMIN)
FEEDBACK_ROLES = (Role.CSM, Role.MANAGER, Role.ADMIN)


# --- Helpers ------------------------------------------------------------------------------


def _utc_start(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


def _require_aware(moment: datetime, what: str) -> datetime:
    if not isinstance(moment, datetime) or moment.tzinfo is None or moment.utcoffset() is None:
        raise CommandRefused(f"The {what} needs a date and time with a time zone.")
    return moment.astimezone(UTC)


def _clean_text(value: object, what: str, limit: int, required: bool) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise CommandRefused(f"The {what} must be text.")
    text = value.strip()
    if required and not text:
        raise CommandRefused(f"The {what} is required.")
    if len(text) > limit:
        raise CommandRefused(f"The {what} is {len(text)} characters long; the limit is {limit}.")
    return text


def _customer(session: Session, customer_id: int, *, lock: bool = False) -> Customer:
    statement = select(Customer).where(Customer.id == customer_id)
    if lock:
        statement = for_update(statement)
    customer = session.exec(statement).first()
    if customer is None:
        raise CommandRefused(f"There is no customer with id {customer_id}.")
    return customer


def _campaign_year(campaign: SurveyCampaign, customer: Customer) -> tuple[date, date]:
    return subscription_year(customer.hypercare_start, campaign.year_start)


def _check_tier_includes_surveys(session: Session, customer: Customer) -> None:
    """Refuse, naming the tier, when the customer's tier grants no adoption survey at all."""
    policy = session.get(TierPolicyRow, customer.tier)
    if policy is None:
        raise CommandRefused(f"There is no tier policy for {customer.tier!r}.")
    if policy.adoption_surveys_per_year < 1:
        raise CommandRefused(
            f"{customer.name} is on {policy.label}, which includes no adoption survey or "
            "end-user interview."
        )


# --- Campaigns ----------------------------------------------------------------------------


def _feedback_sessions_in_year(
    session: Session, customer_id: int, year: tuple[date, date]
) -> list[FeedbackSession]:
    return list(
        session.exec(
            select(FeedbackSession).where(
                FeedbackSession.customer_id == customer_id,
                FeedbackSession.state != "cancelled",
                FeedbackSession.requested_at >= _utc_start(year[0]),
                FeedbackSession.requested_at < _utc_start(year[1]),
            )
        ).all()
    )


def create_campaign(
    *, session: Session, actor: Actor, customer_id: int, now: datetime
) -> SurveyCampaign:
    """Open the adoption-survey campaign of the customer's subscription year containing `now`.

    One per customer and year; every active end user is invited. It uses the year's adoption-survey
    entitlement unless this year's feedback session already did (they share one unit). A manager
    or an admin only.
    """
    customer = authorise(session, actor, roles=CAMPAIGN_ROLES, customer_id=customer_id)
    now = _require_aware(now, "campaign's opening time")
    if not customer.is_active:
        raise CommandRefused(f"{customer.name} is no longer an active customer.")
    _check_tier_includes_surveys(session, customer)
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
    shared_with = _feedback_sessions_in_year(session, customer_id, year)
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


def _campaign_frame(session: Session, where: list[ColumnElement[bool]]) -> pd.DataFrame:
    submitted = func.sum(case((SurveyResponse.status == "submitted", 1), else_=0))
    drafts = func.sum(case((SurveyResponse.status == "draft", 1), else_=0))
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
            submitted.label("submitted"),
            drafts.label("drafts"),
        )
        .join(Customer, Customer.id == SurveyCampaign.customer_id)
        .join(Region, Region.id == Customer.region_id)
        .outerjoin(SurveyResponse, SurveyResponse.campaign_id == SurveyCampaign.id)
        .where(*where)
        .group_by(SurveyCampaign.id, Customer.id, Region.code)
        .order_by(SurveyCampaign.year_start.desc(), Customer.name)
    )
    frame = pd.read_sql(statement, session.connection())
    frame[["submitted", "drafts"]] = frame[["submitted", "drafts"]].fillna(0).astype(int)
    frame["year_start"] = pd.to_datetime(frame["year_start"]).dt.date
    frame["hypercare_start"] = pd.to_datetime(frame["hypercare_start"]).dt.date
    frame["closes_on"] = [
        subscription_year(start, year_start)[1]
        for start, year_start in zip(frame["hypercare_start"], frame["year_start"], strict=True)
    ]
    frame["year"] = [year_start.year for year_start in frame["year_start"]]
    return frame.drop(columns="hypercare_start")


def campaigns_for_staff(*, session: Session, today: date) -> pd.DataFrame:
    """Campaigns open for interviews on `today` (their subscription year has not renewed yet)."""
    frame = _campaign_frame(session, [Customer.is_active])
    is_open = [
        year_start <= today < closes
        for year_start, closes in zip(frame["year_start"], frame["closes_on"], strict=True)
    ]
    return frame[is_open].reset_index(drop=True)


def campaigns_in_scope(*, session: Session, scope: Scope) -> pd.DataFrame:
    """Every campaign of the customers this scope sees, newest year first."""
    return _campaign_frame(session, [scope.customer_filter()])


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
    existing = set(
        session.exec(select(SurveyCampaign.customer_id, SurveyCampaign.year_start)).all()
    )
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
    customer = _customer(session, campaign.customer_id)
    closes_on = _campaign_year(campaign, customer)[1]
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
        cleaned["comments"] = _clean_text(
            answers["comments"], "comment", COMMENTS_MAX_CHARS, required=False
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
    authorise(session, actor, roles=RESPONSE_ROLES)
    staff_id = _interviewer(actor)
    now = _require_aware(now or utc_now(), "save time")
    campaign, customer = _open_campaign(session, campaign_id, now.date())
    end_user = _respondent(session, customer, end_user_id)
    values = _clean_answers(answers, campaign.year_start, now)
    existing = _existing_response(session, campaign_id, end_user_id, lock=True)
    _check_may_change(session, existing, staff_id, end_user)
    if existing is None and not end_user.is_active:
        raise CommandRefused(f"{end_user.name} is no longer an active end user.")
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
    authorise(session, actor, roles=RESPONSE_ROLES)
    staff_id = _interviewer(actor)
    now = _require_aware(now or utc_now(), "submission time")
    campaign, customer = _open_campaign(session, campaign_id, now.date())
    end_user = _respondent(session, customer, end_user_id)
    values = _clean_answers(answers, campaign.year_start, now)
    existing = _existing_response(session, campaign_id, end_user_id, lock=True)
    _check_may_change(session, existing, staff_id, end_user)
    if existing is None and not end_user.is_active:
        raise CommandRefused(f"{end_user.name} is no longer an active end user.")
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


def _with_sus_scores(frame: pd.DataFrame) -> pd.DataFrame:
    """Adds `sus_score` for rows whose ten items are all answered (NaN otherwise)."""
    items = frame[list(SUS_KEYS)]
    complete = items.notna().all(axis=1)
    frame["sus_score"] = [
        sus_score([int(v) for v in row]) if ok else math.nan
        for row, ok in zip(items.itertuples(index=False), complete, strict=True)
    ]
    return frame


def my_responses(*, session: Session, staff_id: int) -> pd.DataFrame:
    """The drafts and submitted responses of one staff member, newest first."""
    statement = (
        select(
            SurveyResponse.id,
            SurveyResponse.campaign_id,
            SurveyResponse.end_user_id,
            Customer.name.label("customer"),
            SurveyCampaign.title.label("campaign"),
            EndUser.name.label("respondent"),
            SurveyResponse.status,
            SurveyResponse.interview_date,
            *(getattr(SurveyResponse, key) for key in SUS_KEYS),
            SurveyResponse.nps,
            SurveyResponse.csat,
            SurveyResponse.comments,
            SurveyResponse.submitted_at,
            SurveyResponse.updated_at,
        )
        .join(SurveyCampaign, SurveyCampaign.id == SurveyResponse.campaign_id)
        .join(Customer, Customer.id == SurveyCampaign.customer_id)
        .join(EndUser, EndUser.id == SurveyResponse.end_user_id)
        .where(SurveyResponse.staff_id == staff_id)
        .order_by(SurveyResponse.updated_at.desc())
    )
    frame = pd.read_sql(statement, session.connection())
    for column in ("submitted_at", "updated_at"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    frame["status_label"] = frame["status"].map(RESPONDENT_STATUS_LABELS)
    return _with_sus_scores(frame)


# --- Results ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ResultFilters:
    """Which campaigns the results cover; None means no restriction."""

    customer_id: int | None = None
    tier: str | None = None
    region: str | None = None
    campaign_id: int | None = None
    year: int | None = None

    def clauses(self, scope: Scope) -> list[ColumnElement[bool]]:
        """WHERE clauses on SurveyCampaign, Customer and Region."""
        clauses = [scope.customer_filter()]
        if self.customer_id is not None:
            clauses.append(Customer.id == self.customer_id)
        if self.tier is not None:
            clauses.append(Customer.tier == self.tier)
        if self.region is not None:
            clauses.append(Region.code == self.region)
        if self.campaign_id is not None:
            clauses.append(SurveyCampaign.id == self.campaign_id)
        if self.year is not None:
            clauses += [
                SurveyCampaign.year_start >= date(self.year, 1, 1),
                SurveyCampaign.year_start < date(self.year + 1, 1, 1),
            ]
        return clauses


@dataclass(frozen=True)
class SurveyResults:
    """Adoption-survey results over some campaigns (None where there are no responses)."""

    responses: int
    invited: int
    response_rate: float | None  # percent of invited
    sus_mean: float | None
    sus_ci: tuple[float, float] | None  # 95 % (low, high); NaN bounds with one response
    sus_grade: str | None
    nps: float | None
    nps_split: dict[str, int | float] | None
    csat_pct: float | None
    item_distribution: pd.DataFrame  # item (1–10), statement, answer (1–5), count
    comments: pd.DataFrame


def _with_campaign_joins(statement, filters: ResultFilters, scope: Scope):
    return (
        statement.join(Customer, Customer.id == SurveyCampaign.customer_id)
        .join(Region, Region.id == Customer.region_id)
        .where(*filters.clauses(scope))
    )


def _submitted_rows(session: Session, scope: Scope, filters: ResultFilters) -> pd.DataFrame:
    statement = _with_campaign_joins(
        select(
            SurveyResponse.id.label("response_id"),
            SurveyCampaign.id.label("campaign_id"),
            SurveyCampaign.title.label("campaign"),
            SurveyCampaign.year_start,
            Customer.id.label("customer_id"),
            Customer.name.label("customer"),
            Customer.tier,
            Region.code.label("region"),
            EndUser.name.label("respondent"),
            User.name.label("interviewer"),
            SurveyResponse.interview_date,
            *(getattr(SurveyResponse, key) for key in SUS_KEYS),
            SurveyResponse.nps,
            SurveyResponse.csat,
            SurveyResponse.comments,
            SurveyResponse.submitted_at,
        )
        .select_from(SurveyResponse)
        .join(SurveyCampaign, SurveyCampaign.id == SurveyResponse.campaign_id)
        .join(EndUser, EndUser.id == SurveyResponse.end_user_id)
        .join(User, User.id == SurveyResponse.staff_id),
        filters,
        scope,
    ).where(SurveyResponse.status == "submitted")
    frame = pd.read_sql(
        statement.order_by(SurveyResponse.submitted_at.desc()), session.connection()
    )
    frame["submitted_at"] = pd.to_datetime(frame["submitted_at"], utc=True)
    frame["year_start"] = pd.to_datetime(frame["year_start"]).dt.date
    frame["interview_date"] = pd.to_datetime(frame["interview_date"]).dt.date
    frame["year"] = [year_start.year for year_start in frame["year_start"]]
    return _with_sus_scores(frame)


def _invited(session: Session, scope: Scope, filters: ResultFilters) -> pd.DataFrame:
    """Invited end users per campaign (fixed when the campaign opened)."""
    statement = _with_campaign_joins(
        select(
            SurveyCampaign.id.label("campaign_id"),
            SurveyCampaign.year_start,
            SurveyCampaign.invited_count.label("invited"),
        ).select_from(SurveyCampaign),
        filters,
        scope,
    )
    frame = pd.read_sql(statement, session.connection())
    frame["year"] = pd.to_datetime(frame["year_start"]).dt.year
    return frame


def _item_distribution(session: Session, scope: Scope, filters: ResultFilters) -> pd.DataFrame:
    """Counts of each answer 1–5 to each SUS item, counted in the database; zeros filled in."""
    parts = []
    for number, key in enumerate(SUS_KEYS, start=1):
        column = getattr(SurveyResponse, key)
        parts.append(
            _with_campaign_joins(
                select(
                    literal(number).label("item"),
                    column.label("answer"),
                    func.count().label("count"),
                )
                .select_from(SurveyResponse)
                .join(SurveyCampaign, SurveyCampaign.id == SurveyResponse.campaign_id),
                filters,
                scope,
            )
            .where(SurveyResponse.status == "submitted", column.is_not(None))
            .group_by(column)
        )
    counted = pd.read_sql(union_all(*parts), session.connection())
    grid = pd.MultiIndex.from_product(
        [range(1, len(SUS_ITEMS) + 1), range(1, 6)], names=["item", "answer"]
    )
    frame = (
        counted.astype({"item": int, "answer": int, "count": int})
        .set_index(["item", "answer"])["count"]
        .reindex(grid, fill_value=0)
        .reset_index()
    )
    frame["statement"] = [SUS_ITEMS[item - 1] for item in frame["item"]]
    return frame[["item", "statement", "answer", "count"]]


def _summary(rows: pd.DataFrame, invited: int) -> dict[str, Any]:
    """The headline figures of some submitted responses, scored by the domain rules."""
    count = len(rows)
    summary: dict[str, Any] = {
        "responses": count,
        "invited": int(invited),
        "response_rate": 100 * count / invited if invited else None,
        "sus_mean": None,
        "sus_low": None,
        "sus_high": None,
        "sus_grade": None,
        "nps": None,
        "csat_pct": None,
    }
    if count == 0:
        return summary
    mean, low, high = mean_ci95([float(score) for score in rows["sus_score"]])
    summary.update(
        sus_mean=mean,
        sus_low=low,
        sus_high=high,
        sus_grade=sus_grade(mean),
        nps=nps(int(v) for v in rows["nps"]),
        csat_pct=csat_percent(int(v) for v in rows["csat"]),
    )
    return summary


def survey_results(
    *,
    session: Session,
    scope: Scope,
    customer_id: int | None = None,
    tier: str | None = None,
    region: str | None = None,
    campaign_id: int | None = None,
    year: int | None = None,
) -> SurveyResults:
    """Response rate, SUS mean with 95 % CI and grade, NPS and split, CSAT %, distributions."""
    filters = ResultFilters(customer_id, tier, region, campaign_id, year)
    rows = _submitted_rows(session, scope, filters)
    invited = int(_invited(session, scope, filters)["invited"].sum())
    summary = _summary(rows, invited)
    comments = rows.loc[
        rows["comments"].fillna("").str.strip() != "",
        ["customer", "campaign", "interview_date", "nps", "csat", "comments"],
    ].reset_index(drop=True)
    return SurveyResults(
        responses=summary["responses"],
        invited=summary["invited"],
        response_rate=summary["response_rate"],
        sus_mean=summary["sus_mean"],
        sus_ci=None if rows.empty else (summary["sus_low"], summary["sus_high"]),
        sus_grade=summary["sus_grade"],
        nps=summary["nps"],
        nps_split=nps_split(int(v) for v in rows["nps"]) if len(rows) else None,
        csat_pct=summary["csat_pct"],
        item_distribution=_item_distribution(session, scope, filters),
        comments=comments,
    )


_SUMMARY_COLUMNS = [
    "responses",
    "invited",
    "response_rate",
    "sus_mean",
    "sus_low",
    "sus_high",
    "sus_grade",
    "nps",
    "csat_pct",
]


def results_by_campaign(
    *,
    session: Session,
    scope: Scope,
    customer_id: int | None = None,
    tier: str | None = None,
    region: str | None = None,
    campaign_id: int | None = None,
    year: int | None = None,
) -> pd.DataFrame:
    """One row per campaign: customer, year and the headline figures."""
    filters = ResultFilters(customer_id, tier, region, campaign_id, year)
    campaigns = _campaign_frame(session, filters.clauses(scope))
    rows = _submitted_rows(session, scope, filters)
    figures = [
        _summary(rows[rows["campaign_id"] == campaign_id], invited)
        for campaign_id, invited in zip(campaigns["id"], campaigns["invited"], strict=True)
    ]
    summary = pd.DataFrame(figures, columns=_SUMMARY_COLUMNS)
    return pd.concat(
        [
            campaigns[["id", "customer", "tier", "region", "title", "year"]].reset_index(drop=True),
            summary,
        ],
        axis=1,
    )


def results_by_year(
    *,
    session: Session,
    scope: Scope,
    customer_id: int | None = None,
    tier: str | None = None,
    region: str | None = None,
    campaign_id: int | None = None,
    year: int | None = None,
) -> pd.DataFrame:
    """The trend: one row per campaign year (the year its subscription year starts in)."""
    filters = ResultFilters(customer_id, tier, region, campaign_id, year)
    invited = _invited(session, scope, filters)
    rows = _submitted_rows(session, scope, filters)
    per_year = invited.groupby("year").agg(
        campaigns=("campaign_id", "count"), invited=("invited", "sum")
    )
    records = [
        {
            "year": int(year),
            "campaigns": int(row.campaigns),
            **_summary(rows[rows["year"] == year], int(row.invited)),
        }
        for year, row in per_year.iterrows()
    ]
    return pd.DataFrame(records, columns=["year", "campaigns", *_SUMMARY_COLUMNS])


def responses_export(
    *,
    session: Session,
    scope: Scope,
    customer_id: int | None = None,
    tier: str | None = None,
    region: str | None = None,
    campaign_id: int | None = None,
    year: int | None = None,
) -> pd.DataFrame:
    """The submitted responses behind the results, one row each, for a CSV download.

    The text is as typed; the download (`domain.csv_safe.csv_bytes`) quotes formula-like cells.
    """
    filters = ResultFilters(customer_id, tier, region, campaign_id, year)
    rows = _submitted_rows(session, scope, filters)
    columns = [
        "customer",
        "tier",
        "region",
        "campaign",
        "year_start",
        "respondent",
        "interviewer",
        "interview_date",
        *SUS_KEYS,
        "sus_score",
        "nps",
        "csat",
        "comments",
        "submitted_at",
    ]
    return rows[columns].copy()


# --- Feedback sessions --------------------------------------------------------------------


def _feedback_session(
    session: Session, actor: Actor, feedback_session_id: int
) -> tuple[FeedbackSession, Customer]:
    """Authorise `actor` on the session's customer (locked), then lock the session, read fresh."""
    authorise(session, actor, roles=FEEDBACK_ROLES)
    customer_id = session.exec(
        select(FeedbackSession.customer_id).where(FeedbackSession.id == feedback_session_id)
    ).first()
    if customer_id is None:
        raise CommandRefused(f"There is no feedback session with id {feedback_session_id}.")
    customer = authorise(session, actor, roles=FEEDBACK_ROLES, customer_id=customer_id)
    row = session.exec(
        for_update(select(FeedbackSession).where(FeedbackSession.id == feedback_session_id))
    ).one()
    return row, customer


def request_feedback_session(
    *,
    session: Session,
    actor: Actor,
    customer_id: int,
    contact_id: int,
    requested_at: datetime,
    request_text: str,
    now: datetime | None = None,
) -> FeedbackSession:
    """Record a customer's written request for a feedback session (remote end-user interview).

    The first session of a subscription year shares the year's adoption-survey unit with the
    year's campaign (debiting it if no campaign has); any further session debits a unit of its own.
    The customer's CSM, a manager or an admin.
    """
    customer = authorise(session, actor, roles=FEEDBACK_ROLES, customer_id=customer_id)
    now = _require_aware(now or utc_now(), "current time")
    requested_at = _require_aware(requested_at, "request time")
    if not customer.is_active:
        raise CommandRefused(f"{customer.name} is no longer an active customer.")
    _check_tier_includes_surveys(session, customer)
    contact = session.get(Contact, contact_id)
    if contact is None or contact.customer_id != customer_id:
        raise CommandRefused(f"The person who asked must be a contact of {customer.name}.")
    text = _clean_text(request_text, "written request", FEEDBACK_TEXT_MAX_CHARS, required=True)
    if requested_at > now:
        raise CommandRefused("The request cannot be dated in the future.")
    if requested_at.date() < customer.hypercare_start:
        raise CommandRefused(
            f"The request is dated before {customer.name}'s HyperCare start on "
            f"{customer.hypercare_start.isoformat()}."
        )
    year = subscription_year(customer.hypercare_start, requested_at.date())
    campaign = session.exec(
        select(SurveyCampaign.id).where(
            SurveyCampaign.customer_id == customer_id, SurveyCampaign.year_start == year[0]
        )
    ).first()
    earlier = _feedback_sessions_in_year(session, customer_id, year)
    feedback = FeedbackSession(
        customer_id=customer_id,
        requested_by_contact_id=contact_id,
        requested_at=requested_at,
        request_text=text,
        state="requested",
    )
    session.add(feedback)
    session.flush()
    shares_campaign_unit = campaign is not None and not earlier
    if not shares_campaign_unit:
        debit_entitlement(
            session=session,
            customer_id=customer_id,
            kind=Entitlement.ADOPTION_SURVEY,
            actor=actor,
            reason=f"Feedback session #{feedback.id} requested by {contact.name}",
            now=requested_at,
        )
    record_audit(
        session=session,
        actor=actor.username,
        action="request_feedback_session",
        entity="feedback_session",
        entity_id=feedback.id,
        detail={
            "customer_id": customer_id,
            "contact_id": contact_id,
            "requested_at": requested_at,
            "entitlement": (
                f"shared with campaign #{campaign}" if shares_campaign_unit else "debited"
            ),
        },
    )
    return feedback


def schedule_feedback_session(
    *,
    session: Session,
    actor: Actor,
    feedback_session_id: int,
    scheduled_for: datetime,
    resource_id: int,
) -> FeedbackSession:
    """Set (or move) the date and the HyperCare resource running a requested session.

    The customer's CSM, a manager or an admin; the session is given only to an active CSM who
    can see that customer (so they can open it afterwards).
    """
    feedback, customer = _feedback_session(session, actor, feedback_session_id)
    if feedback.state not in {"requested", "scheduled"}:
        raise CommandRefused(
            f"This feedback session is {FEEDBACK_STATE_LABELS[feedback.state].lower()}; "
            "it can no longer be scheduled."
        )
    scheduled_for = _require_aware(scheduled_for, "session time")
    if scheduled_for < feedback.requested_at:
        raise CommandRefused("The session cannot take place before it was requested.")
    # Read fresh but not locked: locking a second user row after the customer's could deadlock
    # with that user's own command (which locks their row first, then the customer's).
    resource = session.exec(
        select(User).where(User.id == resource_id).execution_options(populate_existing=True)
    ).first()
    if resource is None or not resource.is_active or Role.CSM not in parse_roles(resource.roles):
        raise CommandRefused(
            "The person running the session must be an active HyperCare resource (csm role)."
        )
    if not can_see_customer(resource, customer):
        raise CommandRefused(
            f"{resource.name} cannot see {customer.name}; give the session to its CSM, its "
            "HyperCare resource or a manager."
        )
    before = (feedback.scheduled_for, feedback.resource_id)
    feedback.scheduled_for = scheduled_for
    feedback.resource_id = resource_id
    feedback.state = "scheduled"
    session.add(feedback)
    record_audit(
        session=session,
        actor=actor.username,
        action="schedule_feedback_session",
        entity="feedback_session",
        entity_id=feedback.id,
        detail={"from": before, "to": (scheduled_for, resource_id)},
    )
    return feedback


def record_feedback_findings(
    *,
    session: Session,
    actor: Actor,
    feedback_session_id: int,
    findings: str,
    recommendations: str,
    now: datetime | None = None,
) -> FeedbackSession:
    """Record what the session found and recommends; the session is then done (recorded once).

    The customer's CSM, a manager or an admin.
    """
    feedback, _customer_row = _feedback_session(session, actor, feedback_session_id)
    now = _require_aware(now or utc_now(), "current time")
    if feedback.state == "done":
        raise CommandRefused("Findings for this session are recorded already; nothing was changed.")
    if feedback.state != "scheduled" or feedback.scheduled_for is None:
        raise CommandRefused("Schedule the session before recording its findings.")
    if feedback.scheduled_for > now:
        raise CommandRefused(
            "The session has not taken place yet; record its findings after it has been held."
        )
    feedback.findings = _clean_text(findings, "findings", FEEDBACK_TEXT_MAX_CHARS, required=True)
    feedback.recommendations = _clean_text(
        recommendations, "recommendations", FEEDBACK_TEXT_MAX_CHARS, required=True
    )
    feedback.state = "done"
    session.add(feedback)
    record_audit(
        session=session,
        actor=actor.username,
        action="record_feedback_findings",
        entity="feedback_session",
        entity_id=feedback.id,
        detail={"customer_id": feedback.customer_id},
    )
    return feedback


def feedback_sessions(
    *, session: Session, scope: Scope, customer_id: int | None = None
) -> pd.DataFrame:
    """Feedback sessions of the customers in scope, newest request first, with their state."""
    statement = (
        select(
            FeedbackSession.id,
            FeedbackSession.customer_id,
            Customer.name.label("customer"),
            Contact.name.label("requested_by"),
            FeedbackSession.requested_at,
            FeedbackSession.request_text,
            FeedbackSession.state,
            FeedbackSession.scheduled_for,
            FeedbackSession.resource_id,
            User.name.label("resource"),
            FeedbackSession.findings,
            FeedbackSession.recommendations,
        )
        .join(Customer, Customer.id == FeedbackSession.customer_id)
        .join(Contact, Contact.id == FeedbackSession.requested_by_contact_id)
        .outerjoin(User, User.id == FeedbackSession.resource_id)
        .where(scope.customer_filter())
        .order_by(FeedbackSession.requested_at.desc())
    )
    if customer_id is not None:
        statement = statement.where(Customer.id == customer_id)
    frame = pd.read_sql(statement, session.connection())
    for column in ("requested_at", "scheduled_for"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    frame["state_label"] = frame["state"].map(FEEDBACK_STATE_LABELS)
    return frame
