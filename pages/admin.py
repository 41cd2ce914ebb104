"""Admin: users and roles, customers and contacts, tier policies, and the audit log."""

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pandas as pd
import streamlit as st

from data_access import customers as customer_commands
from data_access import policies as policy_commands
from data_access import sso
from data_access import users as user_commands
from data_access.actor import Actor
from data_access.audit import AuditFilters, audit_choices, audit_page
from data_access.customers import ContactFields, CustomerFields
from data_access.scope import Scope
from domain.contacts import CONTACT_CHANNELS
from domain.roles import ROLE_LABELS, Role, parse_roles
from domain.tiers import HYPERCARE_RESOURCES
from ui.auth import read_session, require_access
from ui.commands import run_command, show_notice
from ui.format import (
    DATE_COLUMN_FORMAT,
    DATE_INPUT_FORMAT,
    plain_markdown,
    to_zone,
    value_text,
)
from ui.tables import local_time_column

user = require_access(__file__)

ROLES = [role.value for role in Role]


def form_key(form: str) -> str:
    """The form's key for this round: a form keeps what was typed after a refusal, and starts
    empty again after a success (`next_round`), instead of clearing on every submit."""
    return f"{form}_{st.session_state.get(f'{form}_round', 0)}"


def next_round(form: str) -> None:
    st.session_state[f"{form}_round"] = st.session_state.get(f"{form}_round", 0) + 1


st.title("Administration")
show_notice()
users_tab, customers_tab, contacts_tab, policies_tab, audit_tab = st.tabs(
    ["Users", "Customers", "Contacts", "Tier policies", "Audit log"]
)

with read_session() as session:
    staff = user_commands.list_users(session=session)
    everyone = customer_commands.customers_in_scope(
        session=session, scope=Scope(user_id=user.id, all_customers=True)
    )
    region_rows = customer_commands.regions(session=session)
    tier_labels = policy_commands.tier_labels(session=session)
    csm_rows = user_commands.staff_with_role(session=session, role=Role.CSM)

with users_tab:
    st.dataframe(
        staff.assign(locked_until=to_zone(staff["locked_until"], user.timezone)),
        hide_index=True,
        column_config={
            "id": None,
            "is_active": st.column_config.CheckboxColumn("Active"),
            "locked_until": local_time_column(user.timezone, "Locked until"),
        },
    )
    create_key = form_key("create_user")
    with st.form(create_key), st.container():
        st.subheader("Create a user")
        cols = st.columns(2)
        username = cols[0].text_input("Username", key=f"{create_key}_username")
        name = cols[1].text_input("Full name", key=f"{create_key}_name")
        email = cols[0].text_input("E-mail", key=f"{create_key}_email")
        timezone = cols[1].text_input("Time zone", value="UTC", key=f"{create_key}_timezone")
        roles = st.multiselect(
            "Roles", ROLES, format_func=ROLE_LABELS.get, key=f"{create_key}_roles"
        )
        password = st.text_input("Initial password", type="password", key=f"{create_key}_password")
        if st.form_submit_button("Create user", type="primary"):
            created = user_commands.UserCreate(
                username=username,
                name=name,
                email=email,
                password=password,
                roles=tuple(roles),
                timezone=timezone.strip(),
            )
            run_command(
                lambda s: user_commands.create_user(
                    session=s, actor=Actor.of(user), user_create=created
                ),
                f"User {username} created.",
                on_success=lambda _: next_round("create_user"),
            )

    st.subheader("Change a user")
    chosen = st.selectbox(
        "User",
        staff["id"].tolist(),
        format_func=dict(
            zip(staff["id"], staff["username"] + " — " + staff["name"], strict=True)
        ).get,
    )
    if chosen is not None:
        target = staff[staff["id"] == chosen].iloc[0]
        with st.form("user_roles"):
            new_roles = st.multiselect(
                "Roles",
                ROLES,
                default=list(parse_roles(target["roles"])),
                format_func=ROLE_LABELS.get,
            )
            if st.form_submit_button("Save roles"):
                run_command(
                    lambda s: user_commands.set_roles(
                        session=s, actor=Actor.of(user), user_id=int(chosen), roles=new_roles
                    ),
                    "Roles saved.",
                )
        with read_session() as session:
            password_allowed = sso.password_sign_in_allowed(session=session, user_id=int(chosen))
        with st.form(f"password_sign_in_{chosen}"):
            allow_password = st.checkbox(
                "May sign in with a password",
                value=password_allowed,
                help="Switch off for people who sign in only through the company's identity "
                "provider; a password sign-in is then refused like a wrong password.",
            )
            if st.form_submit_button("Save sign-in method"):
                run_command(
                    lambda s: sso.set_password_sign_in(
                        session=s, actor=Actor.of(user), user_id=int(chosen), allowed=allow_password
                    ),
                    "Sign-in method saved.",
                )
        cols = st.columns(2)
        with cols[0].form("reset_password", clear_on_submit=True):
            new_password = st.text_input("New password", type="password")
            if st.form_submit_button("Reset password and unlock"):
                run_command(
                    lambda s: user_commands.reset_password(
                        session=s,
                        actor=Actor.of(user),
                        user_id=int(chosen),
                        new_password=new_password,
                    ),
                    "Password reset; the account is unlocked.",
                )
        with cols[1]:
            active = bool(target["is_active"])
            label = "Deactivate user" if active else "Reactivate user"
            if st.button(label, type="secondary"):
                run_command(
                    lambda s: user_commands.set_active(
                        session=s, actor=Actor.of(user), user_id=int(chosen), active=not active
                    ),
                    f"{target['username']} {'deactivated' if active else 'reactivated'}.",
                )


def customer_form(key: str, current: pd.Series | None) -> CustomerFields | None:
    """The customer fields as a form; returns the entered values when submitted."""
    region_ids = region_rows["id"].tolist()
    region_names = dict(zip(region_rows["id"], region_rows["code"], strict=True))
    csm_ids = [None, *csm_rows["id"].tolist()]
    csm_names = {None: "—", **dict(zip(csm_rows["id"], csm_rows["name"], strict=True))}
    tiers = list(tier_labels)

    def pick(options, value):
        return options.index(value) if value in options else 0

    with st.form(key):
        cols = st.columns(2)
        name = cols[0].text_input("Name", value="" if current is None else current["name"])
        tier = cols[1].selectbox(
            "Tier",
            tiers,
            index=pick(tiers, None if current is None else current["tier"]),
            format_func=tier_labels.get,
        )
        region = cols[0].selectbox(
            "Region",
            region_ids,
            index=pick(region_ids, None if current is None else current["region_id"]),
            format_func=region_names.get,
        )
        start = cols[1].date_input(
            "HyperCare start",
            value=date.today() if current is None else current["hypercare_start"],
            max_value=date.today(),
            format=DATE_INPUT_FORMAT,
        )
        csm = cols[0].selectbox(
            "CSM",
            csm_ids,
            index=pick(csm_ids, None if current is None else current["csm_id"]),
            format_func=csm_names.get,
        )
        resource_value = None if current is None else current["hypercare_resource_id"]
        resource = cols[1].selectbox(
            "HyperCare resource",
            csm_ids,
            index=pick(csm_ids, None if pd.isna(resource_value) else int(resource_value)),
            format_func=csm_names.get,
        )
        size_band = cols[0].selectbox(
            "Size",
            ["small", "medium", "large"],
            index=pick(
                ["small", "medium", "large"], "medium" if current is None else current["size_band"]
            ),
        )
        licensed = cols[1].number_input(
            "Licensed users",
            min_value=0,
            step=10,
            value=0 if current is None else int(current["licensed_users"]),
        )
        industry = st.text_input(
            "Industry", value="" if current is None else (current["industry"] or "")
        )
        if not st.form_submit_button("Save customer", type="primary"):
            return None
    return CustomerFields(
        name=name,
        tier=tier,
        region_id=int(region),
        csm_id=None if csm is None else int(csm),
        hypercare_resource_id=None if resource is None else int(resource),
        hypercare_start=start,
        industry=industry.strip() or None,
        size_band=size_band,
        licensed_users=int(licensed),
    )


def held_elsewhere_text(held: pd.DataFrame, csm_id: int | None) -> str | None:
    """A sentence naming who, other than the customer's CSM, holds its open cases."""
    others = held[held["assignee_id"].isna() | (held["assignee_id"] != csm_id)]
    if others.empty:
        return None
    parts = [
        f"{int(row.open_cases)} with {value_text(row.assignee, 'nobody yet')}"
        for row in others.itertuples()
    ]
    return (
        f"Open cases not held by this customer's CSM: {', '.join(parts)}. Their assignees keep "
        "seeing the customer until those cases are solved; move them on the Case page if the "
        "new CSM should take them over."
    )


with customers_tab:
    st.dataframe(
        everyone.assign(
            csm=everyone["csm"].map(value_text),
            hypercare_resource=everyone["hypercare_resource"].map(value_text),
        ),
        hide_index=True,
        column_order=[
            "name",
            "tier_label",
            "region",
            "csm",
            "hypercare_resource",
            "hypercare_start",
        ],
        column_config={
            "name": "Customer",
            "tier_label": "Tier",
            "region": "Region",
            "csm": "CSM",
            "hypercare_resource": "HyperCare resource",
            "hypercare_start": st.column_config.DateColumn(
                "HyperCare start", format=DATE_COLUMN_FORMAT
            ),
        },
    )
    mode = st.segmented_control(
        "Action", ["Edit a customer", "Add a customer"], default="Edit a customer"
    )
    if mode == "Add a customer":
        fields = customer_form(form_key("add_customer"), None)
        if fields:
            run_command(
                lambda s: customer_commands.create_customer(
                    session=s, actor=Actor.of(user), fields=fields
                ),
                f"Customer {fields.name} added.",
                on_success=lambda _: next_round("add_customer"),
            )
    elif not everyone.empty:
        customer_id = st.selectbox(
            "Customer",
            everyone["id"].tolist(),
            format_func=dict(zip(everyone["id"], everyone["name"], strict=True)).get,
        )
        current = everyone[everyone["id"] == customer_id].iloc[0]
        with read_session() as session:
            held = customer_commands.open_cases_by_assignee(
                session=session, customer_id=int(customer_id)
            )
        csm_now = None if pd.isna(current["csm_id"]) else int(current["csm_id"])
        note = held_elsewhere_text(held, csm_now)
        if note:
            st.info(plain_markdown(note), icon=":material/assignment_ind:")
        fields = customer_form(f"edit_customer_{customer_id}", current)
        if fields:
            run_command(
                lambda s: customer_commands.update_customer(
                    session=s,
                    actor=Actor.of(user),
                    customer_id=int(customer_id),
                    fields=fields,
                ),
                "Customer saved.",
            )

with contacts_tab:
    if everyone.empty:
        st.info("Add a customer first.")
    else:
        customer_id = st.selectbox(
            "Customer",
            everyone["id"].tolist(),
            key="contacts_customer",
            format_func=dict(zip(everyone["id"], everyone["name"], strict=True)).get,
        )
        with read_session() as session:
            contacts = customer_commands.contacts_of(session=session, customer_id=int(customer_id))
        st.dataframe(
            contacts.assign(
                **{
                    column: contacts[column].map(value_text)
                    for column in ("title", "email", "phone", "chat_handle")
                }
            ),
            hide_index=True,
            column_config={"id": None},
        )
        with st.form(form_key("add_contact")):
            st.subheader("Add a contact")
            cols = st.columns(3)
            contact_name = cols[0].text_input("Name")
            title = cols[1].text_input("Title")
            channel = cols[2].selectbox("Preferred channel", list(CONTACT_CHANNELS))
            contact_email = cols[0].text_input("E-mail")
            phone = cols[1].text_input("Phone")
            chat = cols[2].text_input("Chat handle")
            primary = st.checkbox("Primary contact")
            if st.form_submit_button("Add contact", type="primary"):
                contact = ContactFields(
                    name=contact_name,
                    preferred_channel=channel,
                    email=contact_email.strip() or None,
                    phone=phone.strip() or None,
                    chat_handle=chat.strip() or None,
                    title=title.strip() or None,
                    is_primary=primary,
                )
                run_command(
                    lambda s: customer_commands.add_contact(
                        session=s,
                        actor=Actor.of(user),
                        customer_id=int(customer_id),
                        fields=contact,
                    ),
                    f"Contact {contact_name} added.",
                    on_success=lambda _: next_round("add_contact"),
                )

with policies_tab:
    st.caption(
        "Every tier number in the product comes from these rows. Resolution times are "
        "guidelines, not commitments."
    )
    with read_session() as session:
        policy_frame = policy_commands.policies_frame(session=session)
    edited = st.data_editor(
        policy_frame,
        hide_index=True,
        disabled=["tier", "updated_at"],
        key="policy_editor",
        column_config={
            "hypercare_resource": st.column_config.SelectboxColumn(
                "HyperCare resource", options=list(HYPERCARE_RESOURCES)
            ),
            "updated_at": None,
        },
    )
    if st.button("Save tier policies", type="primary"):
        run_command(
            lambda session: policy_commands.set_tier_policies(
                session=session, actor=Actor.of(user), desired=edited.to_dict("records")
            ),
            "Tier policies saved.",
        )

AUDIT_PAGE_SIZE = 50
ANY = "Any"


def day_start(day: date | None) -> datetime | None:
    """Midnight at the start of `day` in the viewer's time zone (an aware time), or None."""
    return None if day is None else datetime.combine(day, time(), ZoneInfo(user.timezone))


with audit_tab:
    with read_session() as session:
        choices = audit_choices(session=session)
    who, what, on = st.columns(3)
    actor = who.selectbox("Who", [ANY, *choices["actor"]], key="audit_actor")
    action = what.selectbox("Action", [ANY, *choices["action"]], key="audit_action")
    entity = on.selectbox("On", [ANY, *choices["entity"]], key="audit_entity")
    since_column, until_column, search_column = st.columns(3)
    since = since_column.date_input("From", value=None, key="audit_since", format=DATE_INPUT_FORMAT)
    until = until_column.date_input("To", value=None, key="audit_until", format=DATE_INPUT_FORMAT)
    search = search_column.text_input("Detail contains", key="audit_search")
    filters = AuditFilters(
        actor=None if actor == ANY else actor,
        action=None if action == ANY else action,
        entity=None if entity == ANY else entity,
        since=day_start(since),
        until=day_start(until + timedelta(days=1) if until else None),
        search=search,
    )
    requested = int(st.session_state.get("audit_page", 1))
    with read_session() as session:
        audit = audit_page(
            session=session, filters=filters, page=requested, page_size=AUDIT_PAGE_SIZE
        )
    if audit.total == 0:
        st.info("No audit entry matches these filters.")
    else:
        st.dataframe(
            audit.rows.drop(columns=["id"]).assign(at=to_zone(audit.rows["at"], user.timezone)),
            hide_index=True,
            key="audit_rows",
            column_config={"at": local_time_column(user.timezone)},
        )
        position, pager = st.columns([3, 1], vertical_alignment="center")
        position.caption(
            f"Entries {audit.first_row:,}–{audit.last_row:,} of {audit.total:,}, newest first."
        )
        if requested != audit.page:  # the filters left fewer pages than the one asked for
            st.session_state["audit_page"] = audit.page
        pager.number_input(
            f"Page (of {audit.pages:,})",
            min_value=1,
            max_value=audit.pages,
            step=1,
            key="audit_page",
        )
