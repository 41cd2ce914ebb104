"""QBR: one customer's quarter against the previous one, the notes and agreed actions, the PDF, and
a presentation mode for the meeting-room screen (one section per slide, nothing else)."""

from collections.abc import Callable
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pandas as pd
import streamlit as st
from sqlmodel import Session

from data_access import qbr_notes
from data_access.actor import Actor
from data_access.audit import CommandRefused
from data_access.qbr import qbr_report
from data_access.scope import Scope
from domain.qbr import Figure, QbrReport, Section
from domain.qbr_actions import (
    NOTE_MAX_CHARS,
    OWNER_MAX_CHARS,
    TEXT_MAX_CHARS,
    ActionEdit,
    action_edits,
)
from domain.quarters import BadQuarter, Quarter, quarters_between
from reports.qbr_charts import build_chart
from reports.qbr_document import DocumentFontMissing, qbr_pdf
from ui.auth import read_session, require_access
from ui.charts import show_chart
from ui.commands import run_command, show_notice
from ui.customers import chosen_customer, load_customer_names
from ui.downloads import csv_download
from ui.format import (
    DATE_COLUMN_FORMAT,
    DATE_INPUT_FORMAT,
    date_text,
    local_time_text,
    plain_markdown,
    sentence_markdown,
)
from ui.pickers import customer_picker
from ui.presentation import (
    current_slide,
    go_to_slide,
    presenting,
    start_presenting,
    stop_presenting,
)

user = require_access(__file__)

FIGURES_PER_ROW = 4
# Long figure texts ("HyperCare Enterprise", a date range) wrap instead of being cut off.
FIGURE_STYLE = """
<style>
[data-testid="stMetricValue"] [data-testid="stMarkdownContainer"],
[data-testid="stMetricValue"] [data-testid="stMarkdownContainer"] p {
  white-space: normal; overflow: visible; text-overflow: clip; line-height: 1.15;
}
</style>
"""
# The sidebar's frame stays on screen after the toggle turns presentation on (its content is
# gone, see app.py and ui.auth); the meeting-room screen shows none of it.
PRESENTATION_STYLE = """
<style>
[data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"],
[data-testid="stExpandSidebarButton"] { display: none; }
[data-testid="stMarkdownContainer"] p { font-size: 1.4rem; }
[data-testid="stMetricLabel"] [data-testid="stMarkdownContainer"] p { font-size: 1.5rem; }
[data-testid="stMetricValue"] [data-testid="stMarkdownContainer"] p { font-size: 3.2rem; }
[data-testid="stMetricDelta"] [data-testid="stMarkdownContainer"] p { font-size: 1.3rem; }
[data-testid="stTable"] th, [data-testid="stTable"] td { font-size: 1.3rem; }
</style>
"""
scope = Scope.for_user(user)
actor = Actor.of(user)
present = presenting()


@st.cache_data(ttl=120, show_spinner="Computing the QBR…")
def load_report(scope: Scope, customer_id: int, quarter_code: str) -> QbrReport:
    """Cached per viewer scope, customer and quarter; every write clears it (run_command)."""
    with read_session() as session:
        return qbr_report(
            session=session,
            customer_id=customer_id,
            quarter=Quarter.parse(quarter_code),
            scope=scope,
        )


@st.cache_data(ttl=60, show_spinner=False)
def load_notes(customer_id: int, quarter_code: str, timezone: str) -> dict:
    quarter = Quarter.parse(quarter_code)
    with read_session() as session:
        note = qbr_notes.qbr_note(session=session, customer_id=customer_id, quarter=quarter)
        actions = qbr_notes.qbr_actions(
            session=session, customer_id=customer_id, quarter=quarter, timezone=timezone
        )
    return {
        "text": "" if note is None else note.text,
        "held_on": None if note is None else note.held_on,
        "actions": actions,
    }


def quarter_label(quarter: Quarter, current: Quarter) -> str:
    return f"{quarter.label} (to date)" if quarter == current else quarter.label


def quarter_from_url(choices: list[Quarter], current: Quarter) -> Quarter:
    """The quarter in the URL (`?quarter=2026Q3`) when the customer's QBR covers it, else the
    current one with one sentence saying so."""
    requested = st.query_params.get("quarter")
    if requested is None:
        return current
    try:
        quarter = Quarter.parse(requested)
    except BadQuarter:
        quarter = None
    if quarter not in choices:
        st.warning(
            "The quarter in the link is not one this customer's QBR covers; "
            f"showing {quarter_label(current, current)}."
        )
        return current
    return quarter


def quarter_picker(choices: list[Quarter], current: Quarter, customer_id: int) -> Quarter:
    """Calendar quarters from the HyperCare start to now, newest first, kept in the URL."""
    chosen = quarter_from_url(choices, current)
    newest_first = list(reversed(choices))
    choice = st.selectbox(
        "Quarter",
        newest_first,
        index=newest_first.index(chosen),
        format_func=lambda quarter: quarter_label(quarter, current),
        key=f"qbr_quarter_{customer_id}",
    )
    if st.query_params.get("quarter") != choice.code:
        st.query_params["quarter"] = choice.code
    return choice


def delta_arrow(change: str) -> str:
    """Change texts carry their sign: "+3 …" up, "−2 …" down, "no change" no arrow."""
    if change.startswith("+"):
        return "up"
    if change.startswith(("\u2212", "-")):
        return "down"
    return "off"


def figure_metric(figure: Figure) -> None:
    # Whether up is good differs per figure (more cases, fewer breaches), so changes stay grey.
    st.metric(
        figure.label,
        figure.text,
        delta=figure.change or None,
        delta_color="off",
        delta_arrow=delta_arrow(figure.change),
        help=figure.help or None,
    )


def literal_cells(frame: pd.DataFrame) -> pd.DataFrame:
    """Text cells escaped, for st.table, which reads Markdown in cells."""
    return frame.map(lambda value: plain_markdown(value) if isinstance(value, str) else value)


def section_body(section: Section, *, large: bool = False) -> None:
    """A section's figures, notes, tables and charts; its one sentence when it has no data.
    In large type (presentation) tables are static, so the CSS can size their text."""
    if section.is_empty:
        st.info(section.empty, icon=":material/info:")
        return
    for first in range(0, len(section.figures), FIGURES_PER_ROW):
        row = section.figures[first : first + FIGURES_PER_ROW]
        for column, figure in zip(st.columns(FIGURES_PER_ROW), row, strict=False):
            with column:
                figure_metric(figure)
    for sentence in section.notes:
        st.markdown(plain_markdown(sentence))
    for table in section.tables:
        st.markdown(f"**{plain_markdown(table.title)}**")
        if large:
            st.table(literal_cells(table.frame), hide_index=True)
        else:
            st.dataframe(table.frame, hide_index=True, width="stretch")
    for chart in section.charts:
        show_chart(build_chart, chart)


def figures_frame(report: QbrReport) -> pd.DataFrame:
    """Every figure of the report, one row each, as shown on screen."""
    rows = [
        {
            "section": section.title,
            "figure": figure.label,
            report.quarter.label: figure.text,
            "change": figure.change,
        }
        for section in report.sections
        for figure in section.figures
    ]
    return pd.DataFrame(rows, columns=["section", "figure", report.quarter.label, "change"])


def held_sentence(held_on: date | None) -> str:
    if held_on is None:
        return "Not yet recorded as held. Recording it uses one QBR input."
    return f"Held on {date_text(held_on)}. Changing the day uses nothing more."


def note_editor(customer_id: int, quarter: Quarter, saved: dict) -> None:
    with st.form(f"qbr_note_{customer_id}_{quarter.code}"):
        text = st.text_area(
            "Notes",
            value=saved["text"],
            max_chars=NOTE_MAX_CHARS,
            height=160,
            placeholder="What was discussed, decisions, risks.",
        )
        submitted = st.form_submit_button("Save notes", icon=":material/save:")
    if submitted:
        run_command(
            lambda session: qbr_notes.save_qbr_note(
                session=session, actor=actor, customer_id=customer_id, quarter=quarter, text=text
            ),
            f"Notes for {quarter.label} saved.",
        )


def held_editor(customer_id: int, quarter: Quarter, saved: dict, today: date, start: date) -> None:
    earliest, latest = max(quarter.first_day, start), min(quarter.last_day, today)
    with st.form(f"qbr_held_{customer_id}_{quarter.code}"):
        st.caption(held_sentence(saved["held_on"]))
        held_on = st.date_input(
            "QBR held on",
            value=saved["held_on"] or latest,
            min_value=earliest,
            max_value=latest,
            format="DD/MM/YYYY",
        )
        submitted = st.form_submit_button("Record QBR held", icon=":material/event_available:")
    if submitted:
        run_command(
            lambda session: qbr_notes.record_qbr_held(
                session=session,
                actor=actor,
                customer_id=customer_id,
                quarter=quarter,
                held_on=held_on,
            ),
            f"{quarter.label} QBR recorded as held on {date_text(held_on)}.",
        )


def action_records(frame: pd.DataFrame) -> list[dict]:
    """The editor's rows as plain values (a cleared date is None, not NaT)."""
    return [
        {
            "id": int(row.id),
            "text": row.text,
            "owner": row.owner,
            "due_on": None if pd.isna(row.due_on) else pd.Timestamp(row.due_on).date(),
            "done": bool(row.done),
        }
        for row in frame.itertuples()
    ]


def edit_command(edit: ActionEdit) -> Callable[[Session], object]:
    if edit.done is not None:
        return lambda session: qbr_notes.set_qbr_action_done(
            session=session, actor=actor, action_id=edit.action_id, done=edit.done
        )
    return lambda session: qbr_notes.edit_qbr_action(
        session=session,
        actor=actor,
        action_id=edit.action_id,
        text=edit.text,
        owner=edit.owner,
        due_on=edit.due_on,
    )


def actions_editor(customer_id: int, quarter: Quarter, saved: dict) -> None:
    actions: pd.DataFrame = saved["actions"]
    if actions.empty:
        return
    with st.form(f"qbr_actions_{customer_id}_{quarter.code}"):
        edited = st.data_editor(
            actions,
            hide_index=True,
            width="stretch",
            column_order=["agreed", "text", "owner", "due_on", "done"],
            column_config={
                "agreed": st.column_config.TextColumn("Agreed in", disabled=True),
                "text": st.column_config.TextColumn(
                    "Action", max_chars=TEXT_MAX_CHARS, required=True
                ),
                "owner": st.column_config.TextColumn(
                    "Owner", max_chars=OWNER_MAX_CHARS, required=True
                ),
                "due_on": st.column_config.DateColumn("Due", format=DATE_COLUMN_FORMAT),
                "done": st.column_config.CheckboxColumn("Done"),
            },
            num_rows="fixed",
            key=f"qbr_actions_editor_{customer_id}_{quarter.code}",
        )
        submitted = st.form_submit_button("Save actions", icon=":material/save:")
    if not submitted:
        return
    commands = [
        edit_command(edit) for edit in action_edits(action_records(actions), action_records(edited))
    ]
    if not commands:
        st.info("Nothing changed in the actions.")
        return
    run_command(
        lambda session: [command(session) for command in commands],
        "Actions saved.",
    )


def new_action_form(customer_id: int, quarter: Quarter) -> None:
    with st.form(f"qbr_new_action_{customer_id}_{quarter.code}", clear_on_submit=True):
        what, who, when = st.columns([3, 2, 1])
        text = what.text_input("Action", max_chars=TEXT_MAX_CHARS)
        owner = who.text_input("Owner", max_chars=OWNER_MAX_CHARS)
        due_on = when.date_input(
            "Due", value=None, min_value=quarter.first_day, format=DATE_INPUT_FORMAT
        )
        submitted = st.form_submit_button("Add action", icon=":material/add_task:")
    if submitted:
        run_command(
            lambda session: qbr_notes.add_qbr_action(
                session=session,
                actor=actor,
                customer_id=customer_id,
                quarter=quarter,
                text=text,
                owner=owner,
                due_on=due_on,
            ),
            "Action added.",
        )


def notes_editors(
    customer_id: int, quarter: Quarter, timezone: str, today: date, start: date
) -> None:
    """Editing the notes section: the note, the meeting day, the actions and a new action."""
    saved = load_notes(customer_id, quarter.code, timezone)
    with st.expander("Edit notes and actions", icon=":material/edit:"):
        notes, held = st.columns([3, 2])
        with notes:
            note_editor(customer_id, quarter, saved)
        with held:
            held_editor(customer_id, quarter, saved, today, start)
        actions_editor(customer_id, quarter, saved)
        new_action_form(customer_id, quarter)


def pdf_download(report: QbrReport) -> None:
    """The PDF is drawn only when asked for (charts take a moment), then offered for download."""
    key = (report.customer_id, report.quarter.code, report.generated_at)
    prepared = st.session_state.get("qbr_pdf")
    if prepared is None or prepared[0] != key:
        if st.button("Prepare PDF", icon=":material/picture_as_pdf:", key="qbr_prepare_pdf"):
            try:
                with st.spinner("Drawing the QBR document…"):
                    st.session_state["qbr_pdf"] = (key, qbr_pdf(report))
            except DocumentFontMissing as exc:
                st.error(str(exc), icon=":material/font_download_off:")
                return
            st.rerun()
        return
    st.download_button(
        "Download QBR (PDF)",
        prepared[1],
        file_name=f"qbr-{report.customer_id}-{report.quarter.code}.pdf",
        mime="application/pdf",
        icon=":material/download:",
        key="qbr_pdf_download",
        on_click="ignore",
    )


def presentation(report: QbrReport) -> None:
    """One section per screen in large type, with only Previous, Next and Exit."""
    st.html(FIGURE_STYLE + PRESENTATION_STYLE)
    sections = report.sections
    index = current_slide(len(sections))
    section = sections[index]
    back, position, forward, leave = st.columns([1, 2, 1, 1], vertical_alignment="center")
    back.button(
        "Previous",
        icon=":material/arrow_back:",
        disabled=index == 0,
        on_click=go_to_slide,
        args=(index - 1,),
        width="stretch",
    )
    position.markdown(f"Section {index + 1} of {len(sections)}")
    forward.button(
        "Next",
        icon=":material/arrow_forward:",
        disabled=index == len(sections) - 1,
        on_click=go_to_slide,
        args=(index + 1,),
        type="primary",
        width="stretch",
    )
    leave.button(
        "Exit presentation", icon=":material/close:", on_click=stop_presenting, width="stretch"
    )
    st.markdown(plain_markdown(report.title))
    st.title(section.title, anchor=False)
    section_body(section, large=True)


# --- The page -----------------------------------------------------------------------------

customers = load_customer_names(scope)
if customers.empty:
    st.title("QBR")
    st.info("No customers are in your portfolio yet.")
    st.stop()

if present:
    requested = st.query_params.get("customer")
    visible = {str(customer_id) for customer_id in customers["id"]}
    if requested is not None and requested not in visible:
        st.error("That customer is not in your portfolio, so its QBR is not shown.")
        st.button("Exit presentation", icon=":material/close:", on_click=stop_presenting)
        st.stop()
    customer_id = int(requested) if requested is not None else int(customers["id"].iloc[0])
else:
    show_notice()
    st.title("QBR")
    pick_customer, pick_quarter, mode = st.columns([3, 2, 1], vertical_alignment="bottom")
    with pick_customer:
        customer_id = customer_picker(customers, key="qbr_customer")

customer = chosen_customer(scope, customer_id)
timezone = str(customer["region_timezone"])
today = datetime.now(ZoneInfo(timezone)).date()
current = Quarter.containing(today)
start = pd.Timestamp(customer["hypercare_start"]).date()
choices = quarters_between(Quarter.containing(start), current)
if not choices:
    st.info(f"HyperCare starts on {date_text(start)}; the first QBR covers that quarter.")
    st.stop()

if present:
    quarter = quarter_from_url(choices, current)
else:
    with pick_quarter:
        quarter = quarter_picker(choices, current, customer_id)
    with mode:
        st.toggle("Presentation mode", key="qbr_present_toggle", on_change=start_presenting)

try:
    report = load_report(scope, customer_id, quarter.code)
except CommandRefused as refusal:
    st.error(sentence_markdown(str(refusal)))
    st.stop()

if present:
    presentation(report)
    st.stop()

st.caption(
    f"{quarter_label(quarter, current)} against {quarter.previous().label}, counted in "
    f"{timezone} time. Generated {local_time_text(report.generated_at, user.timezone)}."
)
exports = st.columns([1, 1, 3])
with exports[0]:
    pdf_download(report)
with exports[1]:
    csv_download(
        lambda: figures_frame(report),
        file_name=f"qbr-{customer_id}-{quarter.code}-figures.csv",
        key="qbr_figures_csv",
        user=user,
        label="Figures (CSV)",
    )

st.html(FIGURE_STYLE)
for number, section in enumerate(report.sections, start=1):
    st.header(f"{number}. {section.title}", divider="gray")
    section_body(section)
    if section.key == qbr_notes.SECTION_KEY:
        notes_editors(customer_id, quarter, timezone, today, start)
