"""Entitlements: one customer's allowances, optimisation requests, model enrolment and ledger.

Top to bottom, as on the screen: the customer; its subscription year and allowance cards; its
open optimisation requests; what can be done for it (log, move and deliver requests, enrol
models, and for managers an extra or a tier change); its ledger. The managers' view over every
customer is the Entitlement portfolio page.
"""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pandas as pd
import streamlit as st

from data_access.actor import Actor
from data_access.audit import CommandRefused
from data_access.customers import contacts_of
from data_access.entitlement_ledger import entitlement_balances, grant_extra, ledger_history
from data_access.model_caps import (
    EnrolmentRefused,
    apply_tier_change,
    customer_models,
    record_over_cap_attempt,
    set_enrolments,
)
from data_access.optimisation_requests import (
    advance_request,
    log_optimisation_request,
    optimisation_requests,
    requested_moment,
)
from data_access.policies import tier_labels
from data_access.scope import Scope
from domain.entitlements import (
    ENTITLEMENT_LABELS,
    OPEN_REQUEST_STATES,
    PER_YEAR_KINDS,
    TARGET_LEAD_TEXT,
    Entitlement,
    RequestState,
    earliest_target_completion,
    is_overdue,
    sentence_case,
)
from domain.roles import Role
from ui.auth import read_session, require_access, write_session
from ui.commands import run_command, show_notice
from ui.customers import load_customers
from ui.downloads import csv_download
from ui.format import (
    DATE_COLUMN_FORMAT,
    DATE_INPUT_FORMAT,
    contact_labels,
    date_text,
    plain_markdown,
    to_zone,
)
from ui.pickers import customer_picker
from ui.tables import local_time_column

user = require_access(__file__)

STATE_LABELS = {state.value: state.value.replace("_", " ").capitalize() for state in RequestState}
MOVES = {
    "Accept (uses one optimisation)": RequestState.ACCEPTED.value,
    "Start work": RequestState.IN_PROGRESS.value,
    "Cancel (gives it back if accepted)": RequestState.CANCELLED.value,
}
OVERDUE_STYLE = "color: #C62828; font-weight: 600"


def entitlements_screen() -> None:
    """The page, section by section in the order they appear."""
    scope = Scope.for_user(user)
    today = datetime.now(UTC).date()
    st.title("Entitlements")
    show_notice()
    customers = load_customers(scope)
    if customers.empty:
        st.info(
            "No customers are assigned to you yet. An administrator assigns CSMs on the Admin page."
        )
        return
    if not scope.all_customers:
        st.caption("Customers where you are CSM or HyperCare resource")
    customer_id = customer_picker(customers, key="customer_picker")
    customer = customers.set_index("id").loc[customer_id]
    data = load_customer(scope, customer_id, today)
    if data["balances"].empty:
        st.info("This customer's HyperCare subscription has not started yet.")
        return
    subscription_section(customer, data["balances"], today)
    open_requests = open_requests_section(data["requests"], today)
    actions_section(customer_id, customer, data, open_requests)
    ledger_section(customer_id, data["ledger"])


# --- The customer's subscription year and allowances -----------------------------------------


def subscription_section(customer: pd.Series, balances: pd.DataFrame, today: date) -> None:
    renews_on = balances["renews_on"].iloc[0]
    st.subheader(plain_markdown(str(customer["name"])))
    st.caption(
        f"{customer['tier_label']} · subscription year {date_text(balances['year_start'].iloc[0])} "
        f"to {date_text(renews_on - timedelta(days=1))} · renews on {date_text(renews_on)} "
        f"(in {(renews_on - today).days} days)"
    )
    counted = balances[balances["measure"] != "eligibility"]
    columns = st.columns(3)
    for position, (_, row) in enumerate(counted.iterrows()):
        with columns[position % 3]:
            entitlement_card(row)
    flags = balances[balances["measure"] == "eligibility"]
    for column, (_, row) in zip(st.columns(len(flags)), flags.iterrows(), strict=True):
        with column:
            entitlement_card(row)


def entitlement_card(row: pd.Series) -> None:
    with st.container(border=True):
        st.markdown(f"**{sentence_case(row['label'])}**")
        if row["measure"] == "eligibility":
            if row["allowance"]:
                st.markdown(":green[:material/check_circle: Eligible]")
            else:
                st.caption("Not included in this tier.")
            return
        available = row["allowance"] + row["extra"]
        if available == 0 and row["used"] == 0:
            st.caption("Not included in this tier.")
            return
        st.progress(min(row["used"] / available, 1.0) if available else 1.0, text=usage_text(row))
        if row["measure"] == "cap":
            st.caption("At a time; production models only.")
        else:
            st.caption(f"{row['remaining']} left this subscription year.")


def usage_text(row: pd.Series) -> str:
    if row["measure"] == "cap":
        return f"{row['used']} of {row['allowance']} enrolled"
    available = row["allowance"] + row["extra"]
    extra = f" (including {row['extra']} extra)" if row["extra"] else ""
    return f"{row['used']} of {available} used{extra}"


# --- Open optimisation requests ---------------------------------------------------------------


def open_requests_section(requests: pd.DataFrame, today: date) -> pd.DataFrame:
    """The open requests, overdue ones in red; returns them for the actions below."""
    open_requests = requests[requests["state"].isin(OPEN_REQUEST_STATES)]
    st.subheader("Open optimisation requests")
    if open_requests.empty:
        st.info("No open optimisation requests.")
        return open_requests
    overdue = [
        is_overdue(state, target, today)
        for target, state in zip(open_requests["target_date"], open_requests["state"], strict=True)
    ]
    table = open_requests.assign(
        status=open_requests["state"].map(STATE_LABELS),
        due=[
            due_text(target, state, today)
            for target, state in zip(
                open_requests["target_date"], open_requests["state"], strict=True
            )
        ],
        requested_local=to_zone(open_requests["requested_at"], user.timezone),
    )
    styled = table.style.apply(
        lambda column: [OVERDUE_STYLE if late else "" for late in overdue],
        subset=["target_date", "due"],
    )
    st.dataframe(
        styled,
        hide_index=True,
        key="open_requests",
        column_order=[
            "id",
            "requested_by",
            "requested_local",
            "model",
            "request_text",
            "status",
            "target_date",
            "due",
        ],
        column_config={
            "id": st.column_config.NumberColumn("Request", format="#%d"),
            "requested_by": "Asked by",
            "requested_local": local_time_column(user.timezone, "Asked"),
            "model": "Model",
            "request_text": st.column_config.TextColumn("Written request", width="large"),
            "status": "Status",
            "target_date": st.column_config.DateColumn("Target", format=DATE_COLUMN_FORMAT),
            "due": "Due",
        },
    )
    late = sum(overdue)
    if late:
        st.markdown(
            f":red[:material/schedule: {late} open request"
            f"{'s are' if late > 1 else ' is'} past the target date.]"
        )
    return open_requests


def due_text(target: date, state: str, today: date) -> str:
    if is_overdue(state, target, today):
        return f"overdue by {(today - target).days} d"
    days = (target - today).days
    return "due today" if days == 0 else f"due in {days} d"


# --- Act on this customer -----------------------------------------------------------------------


def actions_section(
    customer_id: int,
    customer: pd.Series,
    data: dict[str, pd.DataFrame],
    open_requests: pd.DataFrame,
) -> None:
    st.subheader("Act on this customer")
    can_grant = Role.MANAGER in user.roles
    can_change_tier = bool({Role.MANAGER, Role.ADMIN} & set(user.roles))
    names_of_tabs = ["Log a request", "Move a request", "Deliver", "Models"]
    names_of_tabs += ["Grant an extra"] if can_grant else []
    names_of_tabs += ["Change tier"] if can_change_tier else []
    tabs = dict(zip(names_of_tabs, st.tabs(names_of_tabs), strict=True))
    with tabs["Log a request"]:
        log_request_form(customer_id, data, str(customer["tier_label"]))
    with tabs["Move a request"]:
        move_request_form(open_requests)
    with tabs["Deliver"]:
        deliver_form(open_requests)
    with tabs["Models"]:
        enrolment_form(customer_id, data["models"], data["balances"])
    if can_grant:
        with tabs["Grant an extra"]:
            grant_form(customer_id)
    if can_change_tier:
        with tabs["Change tier"]:
            tier_form(customer_id, customer, data["models"])


def log_request_form(
    customer_id: int, data: dict[str, pd.DataFrame], customer_tier_label: str
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
    local_today = datetime.now(ZoneInfo(user.timezone)).date()
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
                requested_at=requested_moment(requested_on=requested_on, timezone=user.timezone),
                request_text=text,
                target_date=target,
                model_id=model_id,
                actor=Actor.of(user),
            ),
            "The request is logged.",
        )


def move_request_form(open_requests: pd.DataFrame) -> None:
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
                actor=Actor.of(user),
            ),
            f"Request #{request_id}: {MOVES[move].replace('_', ' ')}.",
        )


def deliver_form(open_requests: pd.DataFrame) -> None:
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
                actor=Actor.of(user),
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


def enrolment_form(customer_id: int, models: pd.DataFrame, balances: pd.DataFrame) -> None:
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
                actor=Actor.of(user),
                customer_id=customer_id,
                wanted={"monitoring": monitored, "weekly_report": weekly},
            ),
            "Model enrolment saved.",
            on_refused=record_over_cap,
        )
    other = models[~models["is_production"]]
    if not other.empty:
        st.caption(
            "Not in production, so they cannot be enrolled: "
            + ", ".join(model_label(row) for row in other.itertuples())
        )


def record_over_cap(refusal: CommandRefused) -> None:
    """Managers see refused enrolments: the refusal wrote nothing, so record it separately
    (the command checks again that this user may act on the customer)."""
    if isinstance(refusal, EnrolmentRefused):
        try:
            with write_session() as session:
                record_over_cap_attempt(session=session, actor=Actor.of(user), refusal=refusal)
        except CommandRefused:
            return  # the enrolment's own refusal is already on screen
        st.cache_data.clear()


def grant_form(customer_id: int) -> None:
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
                actor=Actor.of(user),
                reason=reason,
            ),
            f"Granted one extra of the {ENTITLEMENT_LABELS[kind]}.",
        )


def tier_form(customer_id: int, customer: pd.Series, models: pd.DataFrame) -> None:
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
                actor=Actor.of(user),
            ),
            f"{customer['name']} is now on {labels[tier]}.",
        )


def model_label(row) -> str:
    return f"{row.name} ({row.workspace})"


# --- Ledger -------------------------------------------------------------------------------------


def ledger_section(customer_id: int, ledger: pd.DataFrame) -> None:
    st.subheader("Ledger")
    if ledger.empty:
        st.info("Nothing has been debited or credited yet.")
        return
    ledger_table = ledger.assign(
        at_local=to_zone(ledger["at"], user.timezone),
        actor=ledger["actor"].fillna("system (import)"),
        what=ledger["label"].fillna(ledger["kind"]),
    )
    st.dataframe(
        ledger_table,
        hide_index=True,
        key="ledger",
        column_order=["at_local", "what", "delta", "reason", "actor", "request_id"],
        column_config={
            "at_local": local_time_column(user.timezone),
            "what": "Entitlement",
            "delta": st.column_config.NumberColumn("Change", format="%+d"),
            "reason": st.column_config.TextColumn("Why", width="large"),
            "actor": "Who",
            "request_id": st.column_config.NumberColumn("Request", format="#%d"),
        },
    )
    csv_download(
        ledger_table.drop(columns=["at_local"]),
        file_name=f"ledger-{customer_id}.csv",
        key="ledger_csv",
        user=user,
        label="Download the ledger (CSV)",
    )


# --- Reads (cached; every write clears them) ----------------------------------------------------


@st.cache_data(ttl=30, show_spinner="Loading entitlements…")
def load_customer(scope: Scope, customer_id: int, today: date) -> dict[str, pd.DataFrame]:
    with read_session() as session:
        return {
            "balances": entitlement_balances(session=session, customer_id=customer_id, on=today),
            "ledger": ledger_history(session=session, customer_id=customer_id),
            "requests": optimisation_requests(
                session=session, scope=scope, customer_id=customer_id
            ),
            "contacts": contacts_of(session=session, customer_id=customer_id),
            "models": customer_models(session=session, customer_id=customer_id),
        }


@st.cache_data(ttl=300, show_spinner=False)
def load_tier_labels() -> dict[str, str]:
    with read_session() as session:
        return tier_labels(session=session)


entitlements_screen()
