"""The Calendars admin page under AppTest: access, saving hours, refusals and the live preview.

Edits to the weekly-hours editor are seeded through its session-state key before a run, the way
AppTest drives `st.data_editor`. Every test leaves the shared app database as it found it.
"""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest
from sqlalchemy import func
from sqlmodel import Session, select
from streamlit.testing.v1 import AppTest

from data_access import calendar_commands as calendars
from data_access.models import AuditLog, Region
from data_access.policies import tier_labels, tier_policies
from tests.data_access.actors import actor_of
from tests.pages.conftest import db_engine, page_path, signed_in
from ui.format import local_time_text


def open_calendars(region_code: str | None = None) -> AppTest:
    at = signed_in("admin")
    at.run()
    at.switch_page(page_path("calendars.py"))
    at.run()
    if region_code is not None:
        region_box = next(box for box in at.selectbox if box.label == "Region")
        region_box.set_value(region_of(region_code).id)
        at.run()
    return at


def region_of(code: str) -> Region:
    with Session(db_engine()) as session:
        return session.exec(select(Region).where(Region.code == code)).one()


def stored_hours(code: str) -> dict:
    with Session(db_engine()) as session:
        return calendars.weekly_hours_of(session=session, region_id=region_of(code).id)


def audit_rows() -> int:
    with Session(db_engine()) as session:
        return session.exec(select(func.count()).select_from(AuditLog)).one()


def seed_edits(at: AppTest, code: str, edited=None, added=None) -> None:
    at.session_state[f"hours_{code}_0"] = {
        "edited_rows": edited or {},
        "added_rows": added or [],
        "deleted_rows": [],
    }


@pytest.fixture
def emea_hours():
    """The EMEA hours before the test, put back afterwards."""
    before = stored_hours("EMEA")
    yield before
    with Session(db_engine()) as session:
        calendars.set_weekly_hours(
            session=session,
            actor=actor_of(session, "admin"),
            region_id=region_of("EMEA").id,
            hours=before,
        )
        session.commit()


def test_admin_sees_the_page_with_a_preview():
    at = open_calendars()
    assert not at.exception and not at.error
    assert at.title[0].value == "Calendars"
    editor = at.data_editor[0].value
    assert list(editor.columns) == ["weekday", "opens", "closes"]
    text = " ".join(m.value for m in at.markdown)
    assert "A case opened now" in text and "would be due" in text
    with Session(db_engine()) as session:
        labels = tier_labels(session=session)
    for label in labels.values():
        assert f"**{label}**" in text
    assert text.count("Resolution guideline") == len(labels)
    assert at.get("arrow_data_frame") or at.dataframe  # coming public holidays


def test_other_roles_cannot_open_it():
    at = signed_in("manager", page_path("calendars.py"))
    at.run()
    assert [e.value for e in at.error] == ["Your role does not give access to this page."]
    assert not at.data_editor


def test_admin_saves_valid_hours(emea_hours):
    before_audits = audit_rows()
    at = open_calendars("EMEA")
    seed_edits(at, "EMEA", edited={0: {"closes": "18:00"}})
    at.run()
    at.button(key="save_hours").click()
    at.run()
    assert not at.exception and not at.error
    saved = stored_hours("EMEA")
    assert [(o.hour, c.hour) for o, c in saved[0]] == [(9, 18)]
    assert saved[1] == emea_hours[1]
    assert audit_rows() == before_audits + 1
    # The editor starts afresh from the saved rows.
    assert at.data_editor[0].value.iloc[0]["closes"] == time(18)


def test_invalid_hours_give_one_sentence_and_write_nothing(emea_hours):
    before_audits = audit_rows()
    at = open_calendars("EMEA")
    seed_edits(at, "EMEA", added=[{"weekday": "Monday", "opens": "12:00", "closes": "13:00"}])
    at.run()
    at.button(key="save_hours").click()
    at.run()
    assert not at.exception
    assert [e.value for e in at.error] == ["Monday: working periods overlap."]
    assert stored_hours("EMEA") == emea_hours
    assert audit_rows() == before_audits
    assert "No preview until this is fixed" in at.warning[0].value


def expected_due(code: str, hours: dict, moments: list[datetime]) -> dict[str, set[str]]:
    """Per tier label, the resolution due texts (region time) for a case opened at `moments`."""
    region = region_of(code)
    with Session(db_engine()) as session:
        policies = tier_policies(session=session)
        labels = tier_labels(session=session)
        closures = calendars.closures_frame(session=session, region_id=region.id)
    calendar = calendars.preview_calendar(
        timezone=region.timezone,
        country=region.holiday_country,
        subdivision=region.holiday_subdivision,
        hours=hours,
        closures=closures,
        today=moments[0].date(),
    )
    texts: dict[str, set[str]] = {}
    for moment in moments:
        due = calendars.due_preview(calendar=calendar, policies=policies, labels=labels, now=moment)
        for row in due.itertuples():
            texts.setdefault(row.tier_label, set()).add(
                local_time_text(row.resolution_due, region.timezone)
            )
    return texts


def test_preview_follows_unsaved_edits(emea_hours):
    at = open_calendars("EMEA")
    # Round the clock, every day of the week, instead of the saved office hours.
    seed_edits(
        at,
        "EMEA",
        edited={row: {"opens": "00:00", "closes": "00:00"} for row in range(5)},
        added=[
            {"weekday": "Saturday", "opens": "00:00", "closes": "00:00"},
            {"weekday": "Sunday", "opens": "00:00", "closes": "00:00"},
        ],
    )
    started = datetime.now(UTC)
    at.run()
    finished = datetime.now(UTC)
    assert not at.exception and not at.error
    assert stored_hours("EMEA") == emea_hours
    round_the_clock = {weekday: [(time(0), time(0))] for weekday in range(7)}
    edited = expected_due("EMEA", round_the_clock, [started, finished])
    saved = expected_due("EMEA", emea_hours, [started, finished])
    shown = {m.value.split("**")[1]: m.value for m in at.markdown if m.value.startswith("**")}
    assert set(shown) == set(edited)
    for label, texts in edited.items():
        assert any(text in shown[label] for text in texts), shown[label]
        assert not any(text in shown[label] for text in saved[label] - texts)
    # Inside office hours a short target falls due at the same moment on both calendars; the
    # longer ones always differ, so the preview shows the edit and not the saved hours.
    assert any(edited[label] != saved[label] for label in edited)
