"""Case queue: open cases in queue order with live SLA countdowns; filters live in the URL."""

from ui.auth import require_access

user = require_access(__file__)

from datetime import UTC, datetime  # noqa: E402

import pandas as pd  # noqa: E402
import streamlit as st  # noqa: E402

from data_access.queue import (  # noqa: E402
    CLOCK_LABELS,
    assignees,
    clock_states,
    live_countdowns,
    local_due_text,
    queue_frame,
    sla_summary,
)
from data_access.scope import Scope  # noqa: E402
from domain.lifecycle import OPEN_STATUSES, SEVERITY_LABELS, STATUS_LABELS  # noqa: E402
from ui.auth import read_session  # noqa: E402
from ui.format import to_zone  # noqa: E402
from ui.navigation import PAGES_DIR  # noqa: E402

CLOCK_STATE_LABELS = {"at_risk": "At risk", "breached": "Breached", "paused": "Paused"}
UNASSIGNED = "none"
TABLE_COLUMNS = [
    "queue_position",
    "state",
    "case_id",
    "customer",
    "subject",
    "tier_label",
    "severity_label",
    "status_label",
    "clock_label",
    "countdown",
    "consumed",
    "due_viewer",
    "due_local",
    "assignee",
    "queue_reason",
]


@st.cache_data(ttl=30, show_spinner="Loading the queue…")
def load_queue(scope: Scope, timezone: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    now = datetime.now(UTC)
    with read_session() as session:
        queue = queue_frame(session=session, scope=scope, now=now)
        summary = sla_summary(session=session, scope=scope, now=now, timezone=timezone, queue=queue)
    return queue, summary


@st.cache_data(ttl=300, show_spinner=False)
def load_assignees() -> pd.DataFrame:
    with read_session() as session:
        return assignees(session=session)


def url_to_state(key: str, options: list[str]) -> None:
    """First run of the page in a session: the widget starts from the URL's values."""
    if f"filter_{key}" not in st.session_state:
        wanted = st.query_params.get_all(key)
        st.session_state[f"filter_{key}"] = [value for value in wanted if value in options]


def state_to_url(key: str) -> None:
    """Widget callback: the URL follows the filter, so the view can be shared as a link."""
    value = st.session_state[f"filter_{key}"]
    if value:
        st.query_params[key] = value
    else:
        st.query_params.pop(key, None)


def filter_select(column, key: str, label: str, options: list[str], names: dict) -> list[str]:
    url_to_state(key, options)
    return column.multiselect(
        label,
        options,
        format_func=lambda value: names.get(value, value),
        key=f"filter_{key}",
        on_change=state_to_url,
        args=(key,),
        placeholder="All",
    )


def matches_search(queue: pd.DataFrame, text: str) -> pd.Series:
    """Case number (with or without '#'), or words in the subject or customer name."""
    needle = text.strip().lower()
    number = needle.removeprefix("#")
    by_id = queue["case_id"].astype(str) == number if number.isdigit() else False
    haystack = queue["subject"].str.lower() + " " + queue["customer"].str.lower()
    return haystack.str.contains(needle, regex=False) | by_id


def sla_strip(summary: pd.DataFrame) -> None:
    st.caption(
        "All open cases in your view, whatever the filters. First response met: cases opened "
        f"since Monday 00:00 ({user.timezone}) whose first-response target has been reached or "
        "passed; severity 1 has no target."
    )
    for column, tier in zip(st.columns(len(summary)), summary.itertuples(), strict=True):
        with column, st.container(border=True):
            st.markdown(f"**{tier.tier_label}**")
            top, bottom = st.columns(2), st.columns(2)
            top[0].metric("Open", tier.open)
            top[1].metric("At risk", tier.at_risk)
            bottom[0].metric("Breached", tier.breached)
            met = "—" if pd.isna(tier.fr_met_percent) else f"{tier.fr_met_percent:.0f} %"
            bottom[1].metric(
                "First response met",
                met,
                help=f"{tier.fr_met} of {tier.fr_measured} cases this week",
            )


def table_frame(shown: pd.DataFrame) -> pd.DataFrame:
    """The columns that do not move between ticks, formatted once per run."""
    stopped = (shown["clock"] == "resolution") & shown["res_state"].isin(["paused", "excluded"])
    due = shown["due"].mask(stopped)
    return pd.DataFrame(
        {
            "queue_position": shown["queue_position"],
            "case_id": shown["case_id"],
            "customer": shown["customer"],
            "subject": shown["subject"],
            "tier_label": shown["tier_label"],
            "severity_label": shown["severity"].map(SEVERITY_LABELS),
            "status_label": shown["status"].map(STATUS_LABELS),
            "clock_label": shown["clock"].map(CLOCK_LABELS),
            "consumed": shown["consumed"],
            "due_viewer": to_zone(due, user.timezone),
            "due_local": (
                local_due_text(due, shown["region_timezone"]) + " " + shown["region"]
            ).where(due.notna(), ""),
            "assignee": shown["assignee"].fillna("Unassigned"),
            "queue_reason": shown["queue_reason"],
        },
        index=shown.index,
    )


@st.fragment(run_every="5s")
def live_table(shown: pd.DataFrame, table: pd.DataFrame) -> None:
    """Ticks every few seconds: only the countdowns move; nothing is read again."""
    table = table.join(live_countdowns(shown, datetime.now(UTC))[["countdown", "state"]])
    selection = st.dataframe(
        table,
        hide_index=True,
        on_select="rerun",
        selection_mode="single-row",
        key="queue_table",
        column_order=TABLE_COLUMNS,
        column_config={
            "queue_position": st.column_config.NumberColumn(
                "#", help="Position in the whole queue", pinned=True
            ),
            "state": st.column_config.TextColumn("State", pinned=True),
            "case_id": st.column_config.NumberColumn("Case", format="#%d", pinned=True),
            "customer": "Customer",
            "subject": "Subject",
            "tier_label": "Tier",
            "severity_label": "Severity",
            "status_label": "Status",
            "clock_label": st.column_config.TextColumn(
                "Clock",
                help="First response until the first public reply, then the resolution "
                "guideline (business days in the region's calendar; a guideline, not a "
                "commitment)",
            ),
            "countdown": st.column_config.TextColumn("Time left"),
            "consumed": st.column_config.ProgressColumn(
                "Target used", min_value=0.0, max_value=1.0, format="percent"
            ),
            "due_viewer": st.column_config.DatetimeColumn(
                f"Due ({user.timezone})", format="ddd D MMM HH:mm"
            ),
            "due_local": st.column_config.TextColumn("Due (region local)"),
            "assignee": "Assignee",
            "queue_reason": st.column_config.TextColumn("Why here", width="medium"),
        },
    )
    chosen = selection.selection.rows if selection else []
    if chosen:
        go_to_case(int(table.iloc[chosen[0]]["case_id"]))


def go_to_case(case_id: int) -> None:
    st.session_state["queue_url"] = {key: st.query_params.get_all(key) for key in st.query_params}
    st.switch_page(PAGES_DIR / "case.py", query_params={"id": str(case_id)})


scope = Scope.for_user(user)
st.title("Case queue")
st.caption(
    "Open cases in the order they should be picked up: severity 1 and outages first, then "
    "HyperCare by the earliest SLA deadline, then everyone else first come, first served."
)
queue, summary = load_queue(scope, user.timezone)

sla_strip(summary)

if queue.empty:
    st.info(
        "No open cases in your view: nothing is waiting."
        if scope.all_customers
        else "No open cases for your customers: nothing is waiting."
    )
    st.stop()

people = load_assignees()
assigned = queue[["assignee_id", "assignee"]].dropna().drop_duplicates()
assignee_names = dict(
    zip(
        pd.concat([people["id"], assigned["assignee_id"]]).astype(int).astype(str),
        pd.concat([people["name"], assigned["assignee"]]),
        strict=True,
    )
)
customer_rows = queue[["customer_id", "customer"]].drop_duplicates()
customers = dict(
    zip(customer_rows["customer_id"].astype(str), customer_rows["customer"], strict=True)
)
tier_rows = queue[["tier", "tier_label"]].drop_duplicates()
tiers = dict(zip(tier_rows["tier"], tier_rows["tier_label"], strict=True))

row_one = st.columns([3, 2, 2, 2], vertical_alignment="bottom")
row_two = st.columns([2, 2, 2, 2, 2], vertical_alignment="bottom")
if "filter_q" not in st.session_state:
    st.session_state["filter_q"] = st.query_params.get("q", "")
search = row_one[0].text_input(
    "Search",
    placeholder="Case number, subject or customer",
    key="filter_q",
    on_change=state_to_url,
    args=("q",),
)
chosen = {
    "customer": filter_select(
        row_one[1], "customer", "Customer", sorted(customers, key=customers.get), customers
    ),
    "tier": filter_select(row_one[2], "tier", "Tier", sorted(tiers, key=tiers.get), tiers),
    "clock": filter_select(
        row_one[3], "clock", "Clock state", list(CLOCK_STATE_LABELS), CLOCK_STATE_LABELS
    ),
    "severity": filter_select(
        row_two[0],
        "severity",
        "Severity",
        [str(level) for level in SEVERITY_LABELS],
        {str(level): label for level, label in SEVERITY_LABELS.items()},
    ),
    "status": filter_select(row_two[1], "status", "Status", list(OPEN_STATUSES), STATUS_LABELS),
    "assignee": filter_select(
        row_two[2],
        "assignee",
        "Assignee",
        [UNASSIGNED, *sorted(assignee_names, key=assignee_names.get)],
        {UNASSIGNED: "Unassigned", **assignee_names},
    ),
    "region": filter_select(row_two[3], "region", "Region", sorted(queue["region"].unique()), {}),
}

keep = pd.Series(True, index=queue.index)
if search.strip():
    keep &= matches_search(queue, search)
if chosen["customer"]:
    keep &= queue["customer_id"].astype(str).isin(chosen["customer"])
if chosen["tier"]:
    keep &= queue["tier"].isin(chosen["tier"])
if chosen["severity"]:
    keep &= queue["severity"].astype(str).isin(chosen["severity"])
if chosen["status"]:
    keep &= queue["status"].isin(chosen["status"])
if chosen["assignee"]:
    assignee_key = queue["assignee_id"].map(
        lambda value: UNASSIGNED if pd.isna(value) else str(int(value))
    )
    keep &= assignee_key.isin(chosen["assignee"])
if chosen["region"]:
    keep &= queue["region"].isin(chosen["region"])
if chosen["clock"]:
    keep &= clock_states(queue)[chosen["clock"]].any(axis=1)
shown = queue[keep]

with (
    row_two[4].popover("Open case #", icon=":material/open_in_new:", width="stretch"),
    st.form("open_case", border=False),
):
    number = st.text_input("Case number", placeholder="e.g. 1042")
    if st.form_submit_button("Open", type="primary"):
        digits = number.strip().removeprefix("#")
        if digits.isdigit():
            go_to_case(int(digits))
        st.error("Enter a case number, such as 1042.")

if shown.empty:
    st.info("No open case matches these filters.")
    st.stop()

st.caption(
    f"{len(shown):,} of {len(queue):,} open cases · select a row to open the case · "
    "resolution times are guidelines, not commitments."
)
live_table(shown, table_frame(shown))


def queue_csv() -> str:
    live = live_countdowns(shown, datetime.now(UTC))
    export = table_frame(shown).join(live).drop(columns=["consumed"])
    return export.assign(target_used_percent=(100 * shown["consumed"]).round(1)).to_csv(index=False)


st.download_button(
    "Download CSV",
    queue_csv,
    file_name="case-queue.csv",
    mime="text/csv",
    icon=":material/download:",
)
