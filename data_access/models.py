"""The complete HyperCare Desk data model (SQLModel tables).

Datetimes are `datetime` fields, which sqlmodel stores as UTC and refuses when naive. Enumerated
values are short strings checked by the command functions; their vocabularies live in `domain`.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time

from sqlalchemy import BigInteger, Column, ForeignKey, Index, Integer, Table, UniqueConstraint, true
from sqlmodel import Field, SQLModel


def utc_now() -> datetime:
    return datetime.now(UTC)


# --- Regions and business calendars -------------------------------------------------------


class Region(SQLModel, table=True):
    __tablename__ = "region"
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(unique=True, max_length=16)  # APAC, EMEA, NA
    name: str = Field(max_length=64)
    timezone: str = Field(max_length=64)
    holiday_country: str = Field(max_length=8)
    holiday_subdivision: str | None = Field(default=None, max_length=16)


class BusinessHours(SQLModel, table=True):
    """One working period of a region's week, in the region's local time."""

    __tablename__ = "business_hours"
    id: int | None = Field(default=None, primary_key=True)
    region_id: int = Field(foreign_key="region.id", index=True)
    weekday: int  # 0 = Monday … 6 = Sunday
    opens: time
    closes: time


class RegionClosure(SQLModel, table=True):
    """An extra closed day (or a public holiday the region works on, when `is_open`)."""

    __tablename__ = "region_closure"
    __table_args__ = (UniqueConstraint("region_id", "day"),)
    id: int | None = Field(default=None, primary_key=True)
    region_id: int = Field(foreign_key="region.id", index=True)
    day: date
    reason: str = Field(max_length=200)
    is_open: bool = False


# --- Tier policy -----------------------------------------------------------------------------


class TierPolicyRow(SQLModel, table=True):
    """Editable commitments and allowances of one tier (seeded from domain.tiers)."""

    __tablename__ = "tier_policy"
    tier: str = Field(primary_key=True, max_length=32)
    label: str = Field(max_length=64)
    first_response_minutes: int
    resolution_business_days: float
    priority_queueing: bool
    hypercare_resource: str = Field(max_length=16)
    model_optimisations_per_year: int
    monitored_models_cap: int
    weekly_report_models_cap: int
    qbr_inputs_per_year: int
    adoption_surveys_per_year: int
    coe_benchmarks_per_year: int
    vip_events: bool
    product_programmes: bool
    sev1_goal_minutes: int = 15
    updated_at: datetime = Field(default_factory=utc_now)


# --- Staff ------------------------------------------------------------------------------------


class User(SQLModel, table=True):
    __tablename__ = "app_user"
    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(unique=True, max_length=64)
    name: str = Field(max_length=120)
    email: str = Field(max_length=200)
    password_hash: str = Field(max_length=200)
    roles: str = Field(max_length=200)  # comma-separated: csm,manager,survey_staff,admin
    timezone: str = Field(default="UTC", max_length=64)
    region_id: int | None = Field(default=None, foreign_key="region.id")
    is_active: bool = True
    failed_logins: int = 0
    locked_until: datetime | None = None
    created_at: datetime = Field(default_factory=utc_now)
    # Raised to end every session signed in before (see data_access.users).
    session_version: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    # False: the user signs in only through the identity provider (see data_access.sso).
    password_sign_in: bool = Field(default=True, sa_column_kwargs={"server_default": true()})


# --- Customers --------------------------------------------------------------------------------


class Customer(SQLModel, table=True):
    __tablename__ = "customer"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True, max_length=200)
    tier: str = Field(foreign_key="tier_policy.tier", max_length=32, index=True)
    region_id: int = Field(foreign_key="region.id", index=True)
    csm_id: int | None = Field(default=None, foreign_key="app_user.id", index=True)
    hypercare_resource_id: int | None = Field(default=None, foreign_key="app_user.id", index=True)
    hypercare_start: date
    industry: str | None = Field(default=None, max_length=64)
    size_band: str = Field(default="medium", max_length=16)  # small, medium, large (CoE peers)
    licensed_users: int = 0
    is_active: bool = True
    created_at: datetime = Field(default_factory=utc_now)


class TierChange(SQLModel, table=True):
    """A customer's tier history; entitlements apply the tier in force on each day."""

    __tablename__ = "tier_change"
    id: int | None = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="customer.id", index=True)
    effective_on: date
    from_tier: str | None = Field(default=None, max_length=32)
    to_tier: str = Field(max_length=32)
    actor_id: int | None = Field(default=None, foreign_key="app_user.id")
    at: datetime = Field(default_factory=utc_now)


class Contact(SQLModel, table=True):
    """A named person at the customer we contact (alerts, requests, scheduling)."""

    __tablename__ = "contact"
    id: int | None = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="customer.id", index=True)
    name: str = Field(max_length=120)
    title: str | None = Field(default=None, max_length=120)
    email: str | None = Field(default=None, max_length=200)
    phone: str | None = Field(default=None, max_length=40)
    chat_handle: str | None = Field(default=None, max_length=120)
    preferred_channel: str = Field(default="email", max_length=16)  # email, phone, chat
    is_primary: bool = False


class EndUser(SQLModel, table=True):
    """A user of the customer's models: weekly-report 'User' granularity, survey respondents."""

    __tablename__ = "end_user"
    __table_args__ = (UniqueConstraint("customer_id", "email"),)
    id: int | None = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="customer.id", index=True)
    name: str = Field(max_length=120)
    email: str = Field(max_length=200)
    is_active: bool = True


# --- Cases ------------------------------------------------------------------------------------


class Case(SQLModel, table=True):
    """A support case. Status and clock timestamps mirror the event history for fast reads."""

    __tablename__ = "support_case"
    __table_args__ = (
        Index("ix_case_status_open", "status", "opened_at"),
        Index("ix_case_customer_status", "customer_id", "status"),
        Index("ix_case_updated_at", "updated_at"),
        # A CSM's scope includes customers with an open case assigned to them
        # (`Scope.customer_filter`): their open cases, not every case they ever had.
        Index("ix_case_assignee_status", "assignee_id", "status"),
    )
    id: int | None = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="customer.id")
    subject: str = Field(max_length=300)
    description: str = ""
    severity: int  # 1 (critical) … 4 (low)
    is_outage: bool = False
    channel: str = Field(max_length=16)  # email, phone, chat, portal
    status: str = Field(max_length=32)
    assignee_id: int | None = Field(default=None, foreign_key="app_user.id")
    opened_at: datetime
    first_response_at: datetime | None = None
    solved_at: datetime | None = None
    closed_at: datetime | None = None
    escalated_to: str | None = Field(default=None, max_length=4)  # L2 or L3 once transferred
    version: int = 1
    updated_at: datetime = Field(default_factory=utc_now)


class CaseEvent(SQLModel, table=True):
    """Append-only history of a case: every status change, reply and assignment."""

    __tablename__ = "case_event"
    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="support_case.id", index=True)
    at: datetime
    actor_id: int | None = Field(default=None, foreign_key="app_user.id")
    kind: str = Field(max_length=32)  # status, public_reply, internal_note, assign
    from_status: str | None = Field(default=None, max_length=32)
    to_status: str | None = Field(default=None, max_length=32)
    note: str = ""


# --- Entitlements -----------------------------------------------------------------------------


class EntitlementEntry(SQLModel, table=True):
    """Append-only ledger of debits (-) and credits (+) against a customer's allowances."""

    __tablename__ = "entitlement_ledger"
    __table_args__ = (Index("ix_ledger_customer_kind", "customer_id", "kind", "at"),)
    id: int | None = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="customer.id")
    kind: str = Field(max_length=32)
    at: datetime
    delta: int
    reason: str = Field(max_length=500)
    actor_id: int | None = Field(default=None, foreign_key="app_user.id")
    request_id: int | None = Field(default=None, foreign_key="optimisation_request.id")


class OptimisationRequest(SQLModel, table=True):
    __tablename__ = "optimisation_request"
    id: int | None = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="customer.id", index=True)
    model_id: int | None = Field(default=None, foreign_key="planning_model.id")
    requested_by_contact_id: int = Field(foreign_key="contact.id")
    requested_at: datetime
    request_text: str  # the written request, or a reference to the e-mail
    target_date: date
    state: str = Field(default="requested", max_length=16)
    findings: str | None = None
    open_time_before_s: float | None = None
    open_time_after_s: float | None = None
    delivered_at: datetime | None = None
    created_by_id: int | None = Field(default=None, foreign_key="app_user.id")
    updated_at: datetime = Field(default_factory=utc_now)


# --- Workspaces, models, dashboards, usage ----------------------------------------------------


class Workspace(SQLModel, table=True):
    __tablename__ = "workspace"
    id: int | None = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="customer.id", index=True)
    name: str = Field(max_length=200)
    size_gb: float = 0
    allowance_gb: float = 0


class PlanningModel(SQLModel, table=True):
    __tablename__ = "planning_model"
    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int = Field(foreign_key="workspace.id", index=True)
    customer_id: int = Field(foreign_key="customer.id", index=True)
    name: str = Field(max_length=200)
    is_production: bool = False
    in_monitoring: bool = False
    in_weekly_report: bool = False


class Dashboard(SQLModel, table=True):
    __tablename__ = "dashboard"
    id: int | None = Field(default=None, primary_key=True)
    model_id: int = Field(foreign_key="planning_model.id", index=True)
    name: str = Field(max_length=200)


class ModelMetricDaily(SQLModel, table=True):
    """The seven daily performance figures of one model (durations in seconds)."""

    __tablename__ = "model_metric_daily"
    model_id: int = Field(foreign_key="planning_model.id", primary_key=True)
    day: date = Field(primary_key=True)
    open_time_s: float | None = None
    import_s: float | None = None
    export_s: float | None = None
    processing_s: float | None = None
    times_accessed: int | None = None
    users: int | None = None
    changes: int | None = None


class ModelMetricBand(SQLModel, table=True):
    """The band the daily job judged each metric of a model by on one day (`data_access.monitor`).

    One row per model and scored day, like `model_metric_daily`, with each metric's baseline,
    lower and upper edge (empty where the detector had no band yet). A re-run of the day replaces
    the row, so it is always the band of the latest verdict on that day.
    """

    __tablename__ = "model_metric_band"
    model_id: int = Field(foreign_key="planning_model.id", primary_key=True)
    day: date = Field(primary_key=True)
    open_time_s_baseline: float | None = None
    open_time_s_lower: float | None = None
    open_time_s_upper: float | None = None
    import_s_baseline: float | None = None
    import_s_lower: float | None = None
    import_s_upper: float | None = None
    export_s_baseline: float | None = None
    export_s_lower: float | None = None
    export_s_upper: float | None = None
    processing_s_baseline: float | None = None
    processing_s_lower: float | None = None
    processing_s_upper: float | None = None
    times_accessed_baseline: float | None = None
    times_accessed_lower: float | None = None
    times_accessed_upper: float | None = None
    users_baseline: float | None = None
    users_lower: float | None = None
    users_upper: float | None = None
    changes_baseline: float | None = None
    changes_lower: float | None = None
    changes_upper: float | None = None


class DashboardActivityDaily(SQLModel, table=True):
    __tablename__ = "dashboard_activity_daily"
    dashboard_id: int = Field(foreign_key="dashboard.id", primary_key=True)
    day: date = Field(primary_key=True)
    times_accessed: int = 0
    users: int = 0
    changes: int = 0
    open_time_s: float | None = None


class UserActivityDaily(SQLModel, table=True):
    __tablename__ = "user_activity_daily"
    __table_args__ = (Index("ix_user_activity_model_day", "model_id", "day"),)
    end_user_id: int = Field(foreign_key="end_user.id", primary_key=True)
    model_id: int = Field(foreign_key="planning_model.id", primary_key=True)
    day: date = Field(primary_key=True)
    times_accessed: int = 0
    changes: int = 0


# --- Monitoring alerts ------------------------------------------------------------------------


class Alert(SQLModel, table=True):
    __tablename__ = "alert"
    __table_args__ = (
        Index("ix_alert_model_metric", "model_id", "metric", "direction", "state"),
        # The inbox reads the open alerts (of the viewer's customers), the QBR a customer's
        # alerts of one quarter: neither walks the closed alerts of past years.
        Index("ix_alert_state_customer", "state", "customer_id"),
        Index("ix_alert_customer_opened", "customer_id", "opened_at"),
        # Replicas running the daily job at once cannot open the same alert twice.
        UniqueConstraint("model_id", "metric", "direction", "opened_on", name="uq_alert_opening"),
    )
    id: int | None = Field(default=None, primary_key=True)
    model_id: int = Field(foreign_key="planning_model.id")
    customer_id: int = Field(foreign_key="customer.id")
    metric: str = Field(max_length=32)
    direction: str = Field(max_length=8)  # above, below
    opened_on: date
    opened_at: datetime = Field(default_factory=utc_now)
    value: float
    baseline: float
    lower: float
    upper: float
    state: str = Field(default="new", max_length=16)  # new, contacted, resolved, dismissed
    back_in_band_on: date | None = None
    closed_at: datetime | None = None
    close_reason: str | None = Field(default=None, max_length=500)
    contact_id: int | None = Field(default=None, foreign_key="contact.id")
    channel: str | None = Field(default=None, max_length=16)


class AlertContactLog(SQLModel, table=True):
    __tablename__ = "alert_contact_log"
    id: int | None = Field(default=None, primary_key=True)
    alert_id: int = Field(foreign_key="alert.id", index=True)
    at: datetime
    channel: str = Field(max_length=16)
    contact_id: int | None = Field(default=None, foreign_key="contact.id")
    contact_name: str = Field(max_length=120)
    by_user_id: int = Field(foreign_key="app_user.id")
    outcome: str


# --- Surveys and feedback sessions ------------------------------------------------------------


class SurveyCampaign(SQLModel, table=True):
    __tablename__ = "survey_campaign"
    __table_args__ = (UniqueConstraint("customer_id", "year_start"),)
    id: int | None = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="customer.id", index=True)
    year_start: date
    title: str = Field(max_length=200)
    invited_count: int = 0
    created_by_id: int | None = Field(default=None, foreign_key="app_user.id")
    created_at: datetime = Field(default_factory=utc_now)


class SurveyResponse(SQLModel, table=True):
    __tablename__ = "survey_response"
    __table_args__ = (UniqueConstraint("campaign_id", "end_user_id"),)
    id: int | None = Field(default=None, primary_key=True)
    campaign_id: int = Field(foreign_key="survey_campaign.id", index=True)
    end_user_id: int = Field(foreign_key="end_user.id")
    staff_id: int = Field(foreign_key="app_user.id", index=True)
    status: str = Field(default="draft", max_length=16)  # draft, submitted
    sus_1: int | None = None
    sus_2: int | None = None
    sus_3: int | None = None
    sus_4: int | None = None
    sus_5: int | None = None
    sus_6: int | None = None
    sus_7: int | None = None
    sus_8: int | None = None
    sus_9: int | None = None
    sus_10: int | None = None
    nps: int | None = None
    csat: int | None = None
    comments: str = ""
    interview_date: date | None = None
    submitted_at: datetime | None = None
    updated_at: datetime = Field(default_factory=utc_now)


SURVEY_TALLY_COUNTS: tuple[str, ...] = (
    "drafts",
    "responses",
    "sus_points",
    "sus_squares",
    "promoters",
    "passives",
    "detractors",
    "satisfied",
    "csat_answers",
    "comments",
    *(f"sus_{item}_{answer}" for item in range(1, 11) for answer in range(1, 6)),
)
"""The running counts of `survey_tally`, per campaign: its drafts, its submitted responses and
what the survey figures are counted from (`domain.surveys.SUM_COLUMNS`, the CSAT answers, the
comments that are not blank, and `sus_3_5`, the submitted responses that answered 5 to SUS
item 3)."""

survey_tally = Table(
    "survey_tally",
    SQLModel.metadata,
    Column(
        "campaign_id",
        Integer,
        ForeignKey("survey_campaign.id", ondelete="CASCADE"),
        primary_key=True,
        autoincrement=False,
    ),
    *(Column(name, BigInteger, nullable=False, server_default="0") for name in SURVEY_TALLY_COUNTS),
)
"""Each campaign's survey counts, kept by database triggers on `survey_response` (migration
0009): every insert, change and deletion of a response, by a command, the seed or anything
else, adds its contribution or takes it back in the same transaction. The responses stay the
record; this is their sum, so the results page reads a row per campaign instead of summing
every answer ever given (`data_access.survey_results.recounted_tallies` sums them again).

Tricky edge: `TRUNCATE` fires no row trigger; emptying `survey_response` that way (the tests'
reset does) must empty this table too, as `TRUNCATE … CASCADE` of both does."""


class FeedbackSession(SQLModel, table=True):
    __tablename__ = "feedback_session"
    id: int | None = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="customer.id", index=True)
    requested_by_contact_id: int = Field(foreign_key="contact.id")
    requested_at: datetime
    request_text: str
    state: str = Field(default="requested", max_length=16)  # requested, scheduled, done, cancelled
    scheduled_for: datetime | None = None
    resource_id: int | None = Field(default=None, foreign_key="app_user.id")
    findings: str | None = None
    recommendations: str | None = None


# --- QBR, Centre of Excellence, events and programmes ----------------------------------------


class QbrNote(SQLModel, table=True):
    """The QBR's free-text notes for one customer and quarter (one row, edited in place, audited).

    `held_on` is the day the QBR meeting took place: recording it uses one QBR input.
    """

    __tablename__ = "qbr_note"
    __table_args__ = (UniqueConstraint("customer_id", "quarter", name="uq_qbr_note_quarter"),)
    id: int | None = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="customer.id", index=True)
    quarter: str = Field(max_length=7)  # 2026-Q3
    author_id: int = Field(foreign_key="app_user.id")
    at: datetime
    text: str
    held_on: date | None = None


class QbrAction(SQLModel, table=True):
    """An action agreed in a QBR: owner, due date, done. Open ones carry forward to later quarters."""

    __tablename__ = "qbr_action"
    __table_args__ = (Index("ix_qbr_action_customer_quarter", "customer_id", "quarter"),)
    id: int | None = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="customer.id")
    quarter: str = Field(max_length=7)  # the quarter whose QBR agreed it
    text: str = Field(max_length=500)
    owner: str = Field(max_length=120)
    due_on: date | None = None
    done: bool = False
    done_at: datetime | None = None
    created_by_id: int | None = Field(default=None, foreign_key="app_user.id")
    created_at: datetime = Field(default_factory=utc_now)
    updated_at: datetime = Field(default_factory=utc_now)


class CoeSnapshot(SQLModel, table=True):
    """A quarter's CoE footprint. `maturity_stage`: 0 partners only, 1 emerging, 2 in-house, 3 hybrid."""

    __tablename__ = "coe_snapshot"
    __table_args__ = (
        UniqueConstraint("customer_id", "quarter"),
        # The peers of a benchmark are the quarter's snapshots, not every quarter's.
        Index("ix_coe_snapshot_quarter", "quarter"),
    )
    id: int | None = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="customer.id", index=True)
    quarter: str = Field(max_length=7)
    taken_on: date
    certified_builders: int = 0
    certified_architects: int = 0
    master_planners: int = 0
    production_models: int = 0
    workspaces: int = 0
    workspace_size_gb: float = 0
    workspace_allowance_gb: float = 0
    licensed_users: int = 0
    active_users: int = 0
    alm_in_use: bool = False
    data_hub: bool = False
    maturity_stage: int = 0
    recorded_by_id: int | None = Field(default=None, foreign_key="app_user.id")
    updated_at: datetime = Field(default_factory=utc_now)


class EventOffer(SQLModel, table=True):
    """A VIP event (a conference or a regional event) and the offers eligible customers get.

    `offers` is a comma-separated list: ticket_discount, vip_keynote_seating, other_vip_access.
    """

    __tablename__ = "event_offer"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200)
    kind: str = Field(max_length=16)  # conference, regional
    starts_on: date
    description: str = ""
    offers: str = Field(default="ticket_discount", max_length=200)


class EventInvitation(SQLModel, table=True):
    """One customer's line for one event: offered, then accepted or declined, then attended."""

    __tablename__ = "event_invitation"
    __table_args__ = (UniqueConstraint("event_id", "customer_id"),)
    id: int | None = Field(default=None, primary_key=True)
    event_id: int = Field(foreign_key="event_offer.id")
    customer_id: int = Field(foreign_key="customer.id", index=True)
    invited_at: datetime
    status: str = Field(default="offered", max_length=16)  # offered, accepted, declined, attended
    updated_at: datetime = Field(default_factory=utc_now)


class ProductProgramme(SQLModel, table=True):
    __tablename__ = "product_programme"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True, max_length=200)
    description: str = ""
    is_open: bool = True


class ProgrammeEnrolment(SQLModel, table=True):
    __tablename__ = "programme_enrolment"
    __table_args__ = (UniqueConstraint("programme_id", "customer_id"),)
    id: int | None = Field(default=None, primary_key=True)
    programme_id: int = Field(foreign_key="product_programme.id")
    customer_id: int = Field(foreign_key="customer.id", index=True)
    enrolled_at: datetime
    status: str = Field(default="nominated", max_length=16)  # nominated, enrolled, withdrawn
    updated_at: datetime = Field(default_factory=utc_now)


class SavedView(SQLModel, table=True):
    """A user's named set of filters for a page (the query string it restores)."""

    __tablename__ = "saved_view"
    __table_args__ = (UniqueConstraint("user_id", "page", "name", name="uq_saved_view_name"),)
    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="app_user.id", index=True)
    page: str = Field(max_length=64)
    name: str = Field(max_length=80)
    params: str = ""  # the URL query string, e.g. "severity=1&state=at_risk"
    created_at: datetime = Field(default_factory=utc_now)


# --- Audit ------------------------------------------------------------------------------------


class AuditLog(SQLModel, table=True):
    """Who changed what, when: one row per write command."""

    __tablename__ = "audit_log"
    __table_args__ = (
        # The admin's filter lists walk these distinct values one index seek each
        # (`data_access.audit.audit_choices`), and a filtered page reads newest-first along them.
        Index("ix_audit_log_actor", "actor", "id"),
        Index("ix_audit_log_action", "action", "id"),
        Index("ix_audit_log_entity", "entity", "id"),
    )
    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utc_now, index=True)
    actor: str = Field(max_length=64)
    action: str = Field(max_length=64)
    entity: str = Field(max_length=64)
    entity_id: str | None = Field(default=None, max_length=64)
    detail: str = ""
