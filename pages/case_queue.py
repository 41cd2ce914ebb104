"""Case queue: open cases in queue order with live SLA countdowns; filters live in the URL."""

from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import pandas as pd
import streamlit as st

from data_access.actor import Actor
from data_access.calendars import region_calendars
from data_access.queue import (
    assignees,
    cases_changed_since,
    queue_frame,
    search_closed_cases,
    sla_summary,
)
from data_access.queue_commands import BULK_ACTIONS, bulk_case_action
from data_access.saved_views import delete_view, save_view, saved_views
from data_access.scope import Scope
from domain.lifecycle import (
    ACTION_LABELS,
    OPEN_STATUSES,
    SEVERITY_LABELS,
    STATUS_LABELS,
)
from domain.queue import queue_changes, search_matches
from domain.queue_view import clock_states, live_countdowns
from ui.auth import read_session, require_access
from ui.commands import run_command, show_notice
from ui.downloads import csv_download
from ui.format import plain_markdown
from ui.navigation import PAGES_DIR
from ui.queue_table import (
    TABLE_COLUMNS,
    closed_cases_table,
    open_cases_table,
    summary_table,
    table_frame,
)
from ui.url_filters import (
    apply_query,
    current_query,
    filter_select,
    same_query,
    set_query,
    start_values,
    state_to_url,
    widget_default,
)

user = require_access(__file__)

PAGE = "case_queue"
CLOCK_STATE_LABELS = {"at_risk": "At risk", "breached": "Breached", "paused": "Paused"}
UNASSIGNED = "none"
FILTER_KEYS = ("q", "customer", "tier", "clock", "severity", "status", "assignee", "region")
MINE, EVERYTHING = "mine", "all"
POLL_OVERLAP = timedelta(minutes=2)  # a write committed late carries an earlier updated_at
actor = Actor.of(user)


@st.cache_data(ttl=30, show_spinner="Loading the queue…")
def load_queue(
    scope: Scope, timezone: str
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, datetime]:
    """The queue, its summary, and the cases written just before it was read (for the poll)."""
    now = datetime.now(UTC)
    with read_session() as session:
        recent = cases_changed_since(session=session, scope=scope, since=now - POLL_OVERLAP)
        queue = queue_frame(session=session, scope=scope, now=now)
        summary = sla_summary(session=session, scope=scope, now=now, timezone=timezone, queue=queue)
    return queue, summary, recent, now


@st.cache_data(ttl=300, show_spinner=False)
def load_calendars(today) -> dict:
    with read_session() as session:
        return region_calendars(session=session, today=today)


@st.cache_data(ttl=300, show_spinner=False)
def load_assignees() -> pd.DataFrame:
    with read_session() as session:
        return assignees(session=session)


@st.cache_data(ttl=300, show_spinner=False)
def load_views(user_id: int) -> pd.DataFrame:
    with read_session() as session:
        return saved_views(session=session, user_id=user_id, page=PAGE)


@st.cache_data(ttl=60, show_spinner=False)
def load_closed_matches(scope: Scope, text: str) -> pd.DataFrame:
    with read_session() as session:
        return search_closed_cases(session=session, scope=scope, text=text)


# --- views and filters in the URL -----------------------------------------------------------------


def view_queries(views: pd.DataFrame) -> dict[str, tuple[str, str]]:
    """Every view this person can pick: label and query string, by option key."""
    return {
        MINE: ("My cases and unassigned", urlencode([("assignee", user.id), ("assignee", "none")])),
        EVERYTHING: ("All open cases", ""),
        **{f"saved:{row.id}": (row.name, row.params) for row in views.itertuples()},
    }


def view_changed(queries: dict[str, tuple[str, str]]) -> None:
    """Selectbox callback: the chosen view's filters replace the URL's."""
    chosen = st.session_state["queue_view"]
    if chosen in queries:
        apply_query(queries[chosen][1], FILTER_KEYS)


def matching_view(queries: dict[str, tuple[str, str]]) -> str | None:
    """The view whose filters the URL holds exactly (a shared link, or the way back from a case),
    else None: filters of one's own."""
    current = current_query(FILTER_KEYS)
    return next(
        (key for key, (_, query) in queries.items() if query and same_query(current, query)), None
    )


def chosen_query(queries: dict[str, tuple[str, str]]) -> str | None:
    """The chosen view's query string (None for filters of one's own). While a view is chosen it,
    not the run's URL, says what the filters are: a rerun started by the poll fragment carries
    the query string of the tick that started it, which can be older than the view."""
    chosen = st.session_state.get("queue_view")
    return queries[chosen][1] if chosen in queries else None


def queue_filter(column, key: str, label: str, options: list[str], names: dict) -> list[str]:
    """A filter kept in the URL; changing it leaves the chosen view for filters of one's own."""
    return filter_select(
        column, key, label, options, names, view_key="queue_view", start=view_query
    )


# --- live: poll for new and changed cases ---------------------------------------------------------


def prime_poll(recent: pd.DataFrame, read_at: datetime) -> None:
    """After each read of the queue, the poll starts from what that read already contained."""
    if st.session_state.get("queue_read_at") != read_at:
        st.session_state["queue_read_at"] = read_at
        st.session_state["queue_seen"] = dict(
            zip(recent["case_id"].astype(int), recent["updated_at"], strict=True)
        )


@st.fragment(run_every="5s")
def watch_for_changes(queued: frozenset[int]) -> None:
    """Every tick: read the cases written since the last read (an indexed, tiny query); a new
    case gets a toast, and any change to the queue reads it again."""
    seen = st.session_state.get("queue_seen", {})
    since = max([st.session_state["queue_read_at"], *seen.values()]) - POLL_OVERLAP
    with read_session() as session:
        changed = cases_changed_since(session=session, scope=scope, since=since)
    changes = queue_changes(seen, changed, queued, OPEN_STATUSES)
    st.session_state["queue_seen"] = changes.seen
    if changes.reload:
        st.session_state.setdefault("queue_toasts", []).extend(changes.toasts)
        load_queue.clear()
        new_table()
        st.rerun()


def new_table() -> None:
    """Rows move when the queue is read again: a new table, so no selection points elsewhere."""
    st.session_state["queue_table_generation"] = table_generation() + 1


def table_generation() -> int:
    return st.session_state.get("queue_table_generation", 0)


def table_key() -> str:
    generation = table_generation()
    return f"queue_table_{generation}" if generation else "queue_table"


def show_toasts() -> None:
    for sentence in st.session_state.pop("queue_toasts", []):
        st.toast(plain_markdown(sentence), icon=":material/notification_important:")


# --- the table ------------------------------------------------------------------------------------


@st.fragment(run_every="5s")
def live_table(shown: pd.DataFrame, table: pd.DataFrame, calendars: dict) -> None:
    """Ticks every few seconds: only the countdowns and states move; nothing is read again."""
    live = live_countdowns(shown, datetime.now(UTC), calendars)
    table = table.join(live[["countdown", "state"]])
    selection = open_cases_table(table, key=table_key(), timezone=user.timezone)
    rows = selection.selection.rows if selection else []
    chosen = [int(table.iloc[row]["case_id"]) for row in rows]
    if chosen:
        bulk_bar(chosen)
    else:
        st.session_state.pop("bulk_refusal", None)


def bulk_bar(chosen: list[int]) -> None:
    """Actions on the selected rows: open one, or assign / change the status of all of them."""
    count = f"{len(chosen)} case" + ("" if len(chosen) == 1 else "s")
    st.caption("Selected: " + ", ".join(f"#{case_id}" for case_id in chosen))
    columns = st.columns([1.2, 3, 3], vertical_alignment="bottom")
    if len(chosen) == 1 and columns[0].button(f"Open case #{chosen[0]}", type="primary"):
        go_to_case(chosen[0])
    with columns[1].form("bulk_assign", border=False):
        left, right = st.columns([2, 1], vertical_alignment="bottom")
        assignee = left.selectbox(
            f"Assign {count} to",
            list(people_names),
            format_func=people_names.get,
            index=None,
            placeholder="Choose a person",
        )
        assign = right.form_submit_button("Assign", width="stretch")
    with columns[2].form("bulk_status", border=False):
        left, right = st.columns([2, 1], vertical_alignment="bottom")
        action = left.selectbox(
            f"Change status of {count}",
            [name for name in BULK_ACTIONS if name != "assign"],
            format_func=ACTION_LABELS.get,
            index=None,
            placeholder="Choose an action",
        )
        apply = right.form_submit_button("Apply", width="stretch")
    if assign or apply:
        if assign and assignee is None:
            st.error("Choose who to assign the cases to.")
            return
        if apply and action is None:
            st.error("Choose the status change.")
            return

        def start_afresh(_) -> None:
            st.session_state.pop("bulk_refusal", None)
            new_table()

        run_command(
            lambda session: bulk_case_action(
                session=session,
                actor=actor,
                case_ids=chosen,
                action="assign" if assign else action,
                assignee_id=int(assignee) if assign else None,
            ),
            f"Assigned {count}." if assign else f"{ACTION_LABELS[action]}: {count} done.",
            on_refused=lambda exc: st.session_state.__setitem__("bulk_refusal", str(exc)),
            on_success=start_afresh,
        )
    elif st.session_state.get("bulk_refusal"):
        st.error(st.session_state["bulk_refusal"])


def go_to_case(case_id: int) -> None:
    st.session_state["queue_url"] = {key: st.query_params.get_all(key) for key in st.query_params}
    st.switch_page(PAGES_DIR / "case.py", query_params={"id": str(case_id)})


# --- the page -------------------------------------------------------------------------------------

scope = Scope.for_user(user)
st.title("Case queue")
show_notice()
show_toasts()
queue, summary, recent, read_at = load_queue(scope, user.timezone)
prime_poll(recent, read_at)
watch_for_changes(frozenset(queue["case_id"].astype(int)))

views = load_views(user.id)
queries = view_queries(views)
if "queue_view" not in st.session_state or st.session_state["queue_view"] not in [
    None,
    *queries,
]:
    if any(key in st.query_params for key in FILTER_KEYS):
        st.session_state["queue_view"] = matching_view(queries)
    else:
        st.session_state["queue_view"] = MINE
        apply_query(queries[MINE][1], FILTER_KEYS)
view_query = chosen_query(queries)
if view_query is not None and not same_query(current_query(FILTER_KEYS), view_query):
    set_query(view_query, FILTER_KEYS)  # this run's URL predates the view: the link shows it

people = load_assignees()
people_names = {str(row.id): row.name for row in people.itertuples()}
assigned = queue[["assignee_id", "assignee"]].dropna().drop_duplicates()
assignee_names = {
    **people_names,
    **dict(zip(assigned["assignee_id"].astype(int).astype(str), assigned["assignee"], strict=True)),
    str(user.id): "Me",
}
customer_rows = queue[["customer_id", "customer"]].drop_duplicates()
customers = dict(
    zip(customer_rows["customer_id"].astype(str), customer_rows["customer"], strict=True)
)
tier_rows = queue[["tier", "tier_label"]].drop_duplicates()
tiers = dict(zip(tier_rows["tier"], tier_rows["tier_label"], strict=True))

top = st.columns([2, 2.6, 1.2, 1.2], vertical_alignment="bottom")
top[0].selectbox(
    "View",
    list(queries),
    format_func=lambda key: queries[key][0],
    key="queue_view",
    index=None,
    placeholder="Filters of your own",
    on_change=view_changed,
    args=(queries,),
)
fresh_search = "filter_q" not in st.session_state
if fresh_search:
    st.session_state["filter_q"] = next(iter(start_values("q", view_query)), "")
search = top[1].text_input(
    "Search",
    value=widget_default("q", fresh_search) or "",
    placeholder="Case number, subject or customer",
    help="Finds open cases in the table, and solved or closed cases in a list below it.",
    key="filter_q",
    on_change=state_to_url,
    args=("q", "queue_view"),
)
with (
    top[2].popover("Save view", icon=":material/bookmark_add:", width="stretch"),
    st.form("save_view", border=False),
):
    name = st.text_input("Name of the view", max_chars=80)
    if st.form_submit_button("Save", type="primary"):
        run_command(
            lambda session: save_view(
                session=session,
                actor=actor,
                page=PAGE,
                name=name,
                params=current_query(FILTER_KEYS),
            ),
            "View saved.",
        )
chosen_view = st.session_state.get("queue_view") or ""
if chosen_view.startswith("saved:"):
    if top[3].button("Delete view", icon=":material/delete:", width="stretch"):
        run_command(
            lambda session: delete_view(
                session=session, actor=actor, view_id=int(chosen_view.removeprefix("saved:"))
            ),
            "View deleted.",
            on_success=lambda _: st.session_state.pop("queue_view"),
        )
else:
    with (
        top[3].popover("Open case #", icon=":material/open_in_new:", width="stretch"),
        st.form("open_case", border=False),
    ):
        number = st.text_input("Case number", placeholder="e.g. 1042")
        if st.form_submit_button("Open", type="primary"):
            digits = number.strip().removeprefix("#")
            if digits.isdigit():
                go_to_case(int(digits))
            st.error("Enter a case number, such as 1042.")

row = st.columns([1.2, 1, 1, 1.8, 1], vertical_alignment="bottom")
chosen = {
    "customer": queue_filter(
        row[0], "customer", "Customer", sorted(customers, key=customers.get), customers
    ),
    "severity": queue_filter(
        row[1],
        "severity",
        "Severity",
        [str(level) for level in SEVERITY_LABELS],
        {str(level): label for level, label in SEVERITY_LABELS.items()},
    ),
    "clock": queue_filter(row[2], "clock", "State", list(CLOCK_STATE_LABELS), CLOCK_STATE_LABELS),
    "assignee": queue_filter(
        row[3],
        "assignee",
        "Assignee",
        [
            str(user.id),
            UNASSIGNED,
            *sorted(set(assignee_names) - {str(user.id)}, key=assignee_names.get),
        ],
        {UNASSIGNED: "Unassigned", **assignee_names},
    ),
}
with row[4].popover("More filters", icon=":material/filter_list:", width="stretch"):
    chosen["tier"] = queue_filter(st, "tier", "Tier", sorted(tiers, key=tiers.get), tiers)
    chosen["status"] = queue_filter(st, "status", "Status", list(OPEN_STATUSES), STATUS_LABELS)
    chosen["region"] = queue_filter(st, "region", "Region", sorted(queue["region"].unique()), {})

keep = pd.Series(True, index=queue.index)
if search.strip():
    keep &= search_matches(queue, search)
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

calendars = load_calendars(datetime.now(UTC).date())
if queue.empty:
    st.info(
        "No open cases in your view: nothing is waiting."
        if scope.all_customers
        else "No open cases for your customers: nothing is waiting."
    )
elif shown.empty:
    st.info("No open case matches these filters.")
else:
    table = table_frame(shown, user.timezone)
    live_table(shown, table, calendars)
    st.caption(
        f"{len(shown):,} of {len(queue):,} open cases · select rows to open, assign or change "
        "them · resolution times are guidelines, not commitments."
    )

    def export(shown: pd.DataFrame = shown, table: pd.DataFrame = table) -> pd.DataFrame:
        """The table as shown, with the countdowns as of the click."""
        live = live_countdowns(shown, datetime.now(UTC), calendars)
        return table.join(live[["state", "countdown"]])[TABLE_COLUMNS].assign(
            target_used_percent=(100 * shown["consumed"]).round(1)
        )

    csv_download(export, file_name="case-queue.csv", key="queue_csv", user=user)

if search.strip():
    closed = load_closed_matches(scope, search.strip())
    st.subheader("Solved and closed cases")
    if closed.empty:
        st.caption("No solved or closed case matches this search.")
    else:
        found = closed_cases_table(closed, user.timezone)
        if found and found.selection.rows:
            go_to_case(int(closed.iloc[found.selection.rows[0]]["case_id"]))

st.subheader("SLA summary")
summary_table(summary, user.timezone)
