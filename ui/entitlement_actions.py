"""The Entitlements page's actions on one customer, one tab each: log, move and deliver
optimisation requests, enrol models, and for managers an extra or a tier change."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pandas as pd
import streamlit as st

from data_access.actor import Actor
from data_access.audit import CommandRefused
from data_access.authentication import SignedInUser
from data_access.entitlement_ledger import grant_extra
from data_access.model_caps import (
    EnrolmentRefused,
    apply_tier_change,
    record_over_cap_attempt,
    set_enrolments,
)
from data_access.optimisation_requests import (
    advance_request,
    log_optimisation_request,
    requested_moment,
)
from data_access.policies import tier_labels
from domain.entitlements import (
    ENTITLEMENT_LABELS,
    PER_YEAR_KINDS,
    TARGET_LEAD_TEXT,
    Entitlement,
    RequestState,
    earliest_target_completion,
    sentence_case,
)
from domain.roles import Role
from ui.auth import read_session, write_session
from ui.commands import run_command
from ui.format import DATE_INPUT_FORMAT, contact_labels, date_text, plain_markdown

STATE_LABELS = {state.value: state.value.replace("_", " ").capitalize() for state in RequestState}
MOVES = {
    "Accept (uses one optimisation)": RequestState.ACCEPTED.value,
    "Start work": RequestState.IN_PROGRESS.value,
    "Cancel (gives it back if accepted)": RequestState.CANCELLED.value,
}


def actions_section(
    user: SignedInUser,
    customer_id: int,
    customer: pd.Series,
    data: dict[str, pd.DataFrame],
    open_requests: pd.DataFrame,
) -> None:
    """Log, move and deliver requests and enrol models; managers also grant an extra, and
    managers and admins change the tier."""
    st.subheader("Act on this customer")
    actor = Actor.of(user)
    can_grant = Role.MANAGER in user.roles
    can_change_tier = bool({Role.MANAGER, Role.ADMIN} & set(user.roles))
    names_of_tabs = ["Log a request", "Move a request", "Deliver", "Models"]
    names_of_tabs += ["Grant an extra"] if can_grant else []
    names_of_tabs += ["Change tier"] if can_change_tier else []
    tabs = dict(zip(names_of_tabs, st.tabs(names_of_tabs), strict=True))
    with tabs["Log a request"]:
        log_request_form(actor, user.timezone, customer_id, data, str(customer["tier_label"]))
    with tabs["Move a request"]:
        move_request_form(actor, open_requests)
    with tabs["Deliver"]:
        deliver_form(actor, open_requests)
    with tabs["Models"]:
        enrolment_form(actor, customer_id, data["models"], data["balances"])
    if can_grant:
        with tabs["Grant an extra"]:
            grant_form(actor, customer_id)
    if can_change_tier:
        with tabs["Change tier"]:
            tier_form(actor, customer_id, customer, data["models"])


def log_request_form(
    actor: Actor,
    timezone: str,
    customer_id: int,
    data: dict[str, pd.DataFrame],
    customer_tier_label: str,
) -> None:
    contacts = data["contacts"]
    if contacts.empty:
        st.info("Add a contact for this customer on the Admin page before logging a request.")
        return
    balances = data["balances"].set_index("kind")
    optimisation = Entitlement.MODEL_OPTIMISATION.value
    if (
        optimisation in balances.index
        and balances.loc[optimisation, "allowance"] == 0
        and balances.loc[optimisation, "remaining"] <= 0
    ):
        # The command refuses it too; saying so here spares typing a request that cannot be logged.
        st.info(
            f"Model optimisations are not part of {plain_markdown(str(customer_tier_label))}.",
            icon=":material/block:",
        )
        return
    contact_names = contact_labels(contacts)
    model_names = {int(row.id): model_label(row) for row in data["models"].itertuples()}
    local_today = datetime.now(ZoneInfo(timezone)).date()
    with st.form("log_request", clear_on_submit=False):
        st.caption(
            "Log the customer's written request. The target completion date must be at least "
            f"{TARGET_LEAD_TEXT} after the request; accepting it later uses one optimisation."
        )
        left, right = st.columns(2)
        contact_id = left.selectbox(
            "Asked by", list(contact_names), format_func=contact_names.get, key="log_contact"
        )
        model_id = right.selectbox(
            "Model",
            [None, *model_names],
            format_func=lambda i: "Not about one model" if i is None else model_names[i],
            key="log_model",
        )
        requested_on = left.date_input(
            "Requested on",
            value=local_today,
            max_value=local_today,
            key="log_requested_on",
            format=DATE_INPUT_FORMAT,
        )
        target = right.date_input(
            "Target completion",
            value=earliest_target_completion(local_today),
            key="log_target",
            help=f"At least {TARGET_LEAD_TEXT} after the request.",
            format=DATE_INPUT_FORMAT,
        )
        text = st.text_area(
            "Written request",
            placeholder="Paste the request or give the e-mail reference (sender, date, subject).",
            key="log_text",
        )
        submitted = st.form_submit_button("Log the request", type="primary")
    if submitted:
        run_command(
            lambda session: log_optimisation_request(
                session=session,
                customer_id=customer_id,
                contact_id=int(contact_id),
                requested_at=requested_moment(requested_on=requested_on, timezone=timezone),
                request_text=text,
                target_date=target,
                model_id=model_id,
                actor=actor,
            ),
            "The request is logged.",
        )


def move_request_form(actor: Actor, open_requests: pd.DataFrame) -> None:
    if open_requests.empty:
        st.info("No open request to move.")
        return
    choices = request_choice(open_requests)
    with st.form("move_request"):
        request_id = st.selectbox(
            "Request", list(choices), format_func=choices.get, key="move_request_id"
        )
        move = st.radio("Action", list(MOVES), horizontal=True, key="move_action")
        submitted = st.form_submit_button("Apply", type="primary")
    if submitted:
        run_command(
            lambda session: advance_request(
                session=session,
                request_id=int(request_id),
                to_state=MOVES[move],
                actor=actor,
            ),
            f"Request #{request_id}: {MOVES[move].replace('_', ' ')}.",
        )


def deliver_form(actor: Actor, open_requests: pd.DataFrame) -> None:
    working = open_requests[open_requests["state"] == RequestState.IN_PROGRESS]
    if working.empty:
        st.info("No request is in progress; start work on an accepted request first.")
        return
    choices = request_choice(working)
    with st.form("deliver_request"):
        request_id = st.selectbox(
            "Request", list(choices), format_func=choices.get, key="deliver_request_id"
        )
        findings = st.text_area(
            "Findings",
            placeholder="Formulas or structures that hurt performance, and the recommendations.",
            key="deliver_findings",
        )
        left, right = st.columns(2)
        before = left.number_input(
            "Model open time before (s)", min_value=0.0, value=None, key="deliver_before"
        )
        after = right.number_input(
            "Model open time after (s)", min_value=0.0, value=None, key="deliver_after"
        )
        submitted = st.form_submit_button("Mark delivered", type="primary")
    if submitted:
        run_command(
            lambda session: advance_request(
                session=session,
                request_id=int(request_id),
                to_state=RequestState.DELIVERED.value,
                actor=actor,
                findings=findings,
                open_time_before_s=before,
                open_time_after_s=after,
            ),
            f"Request #{request_id} is delivered.",
        )


def request_choice(requests: pd.DataFrame) -> dict[int, str]:
    return {
        int(row.id): f"#{row.id} · {STATE_LABELS[row.state]} · {row.requested_by} · "
        f"due {date_text(row.target_date)}"
        for row in requests.itertuples()
    }


def enrolment_form(
    actor: Actor, customer_id: int, models: pd.DataFrame, balances: pd.DataFrame
) -> None:
    production = models[models["is_production"]]
    if production.empty:
        st.info("This customer has no production models; only production models can be enrolled.")
        return
    caps = balances.set_index("kind")
    labels = {int(row.id): model_label(row) for row in production.itertuples()}
    with st.form("enrolment"):
        st.caption(
            f"Caps: {usage_text(caps.loc['monitored_models'])} in daily monitoring, "
            f"{usage_text(caps.loc['weekly_report_models'])} in the weekly report. "
            "Only production models are listed."
        )
        monitored = st.multiselect(
            "In daily monitoring",
            list(labels),
            default=[int(i) for i in production.loc[production["in_monitoring"], "id"]],
            format_func=labels.get,
            key="enrol_monitoring",
        )
        weekly = st.multiselect(
            "In the weekly report",
            list(labels),
            default=[int(i) for i in production.loc[production["in_weekly_report"], "id"]],
            format_func=labels.get,
            key="enrol_weekly",
        )
        submitted = st.form_submit_button("Save enrolment", type="primary")
    if submitted:
        run_command(
            lambda session: set_enrolments(
                session=session,
                actor=actor,
                customer_id=customer_id,
                wanted={"monitoring": monitored, "weekly_report": weekly},
            ),
            "Model enrolment saved.",
            on_refused=lambda refusal: record_over_cap(refusal, actor),
        )
    other = models[~models["is_production"]]
    if not other.empty:
        st.caption(
            "Not in production, so they cannot be enrolled: "
            + ", ".join(model_label(row) for row in other.itertuples())
        )


def record_over_cap(refusal: CommandRefused, actor: Actor) -> None:
    """Managers see refused enrolments: the refusal wrote nothing, so record it separately
    (the command checks again that this user may act on the customer)."""
    if isinstance(refusal, EnrolmentRefused):
        try:
            with write_session() as session:
                record_over_cap_attempt(session=session, actor=actor, refusal=refusal)
        except CommandRefused:
            return  # the enrolment's own refusal is already on screen
        st.cache_data.clear()


def grant_form(actor: Actor, customer_id: int) -> None:
    kinds = sorted(PER_YEAR_KINDS, key=lambda k: ENTITLEMENT_LABELS[k])
    with st.form("grant_extra"):
        st.caption("Grant one extra for this subscription year; it shows in the ledger with why.")
        kind = st.selectbox(
            "Entitlement",
            kinds,
            format_func=lambda k: sentence_case(ENTITLEMENT_LABELS[k]),
            key="grant_kind",
        )
        reason = st.text_input("Reason", key="grant_reason")
        submitted = st.form_submit_button("Grant one extra", type="primary")
    if submitted:
        run_command(
            lambda session: grant_extra(
                session=session,
                customer_id=customer_id,
                kind=kind,
                actor=actor,
                reason=reason,
            ),
            f"Granted one extra of the {ENTITLEMENT_LABELS[kind]}.",
        )


def tier_form(actor: Actor, customer_id: int, customer: pd.Series, models: pd.DataFrame) -> None:
    labels = load_tier_labels()
    enrolled = models[models["in_monitoring"] | models["in_weekly_report"]]
    enrolled_labels = {int(row.id): model_label(row) for row in enrolled.itertuples()}
    with st.form("change_tier"):
        st.caption(
            "From today the new tier's allowances apply to the rest of the subscription year; "
            "what was used still counts and nothing delivered is taken back."
        )
        tier = st.selectbox(
            "New tier",
            [t for t in labels if t != customer["tier"]],
            format_func=labels.get,
            key="tier_new",
        )
        keep = st.multiselect(
            "Models to keep enrolled (needed when the new cap is lower)",
            list(enrolled_labels),
            format_func=enrolled_labels.get,
            key="tier_keep",
        )
        confirm = st.checkbox(
            "Take every enrolled model not chosen above out of monitoring and the weekly report",
            key="tier_confirm_drop",
        )
        submitted = st.form_submit_button("Change tier", type="primary")
    if submitted:
        run_command(
            lambda session: apply_tier_change(
                session=session,
                customer_id=customer_id,
                new_tier=tier,
                keep_model_ids=[int(i) for i in keep] if keep or confirm else None,
                actor=actor,
            ),
            f"{customer['name']} is now on {labels[tier]}.",
        )


def model_label(row) -> str:
    return f"{row.name} ({row.workspace})"


def usage_text(row: pd.Series) -> str:
    if row["measure"] == "cap":
        return f"{row['used']} of {row['allowance']} enrolled"
    available = row["allowance"] + row["extra"]
    extra = f" (including {row['extra']} extra)" if row["extra"] else ""
    return f"{row['used']} of {available} used{extra}"


@st.cache_data(ttl=300, show_spinner=False)
def load_tier_labels() -> dict[str, str]:
    with read_session() as session:
        return tier_labels(session=session)
