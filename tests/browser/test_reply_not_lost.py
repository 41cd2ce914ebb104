"""A public reply sent while the case page ticks is recorded, never silently dropped.

The case page refreshes its clocks every five seconds (`st.fragment(run_every=...)`). First
replies are sent on new cases in a fresh tab as soon as the box shows (while the page is still
settling), then replies on one case: some while a tick is running, some just before the next
tick is due, some right after one, the rest at varying pauses. Every reply must end in the
database, once, in the order sent, and each one is confirmed beside the reply box.
"""

from __future__ import annotations

import time

from playwright.sync_api import Page, WebSocket, expect
from sqlalchemy import text
from sqlmodel import Session, select
from streamlit.proto.BackMsg_pb2 import BackMsg

from data_access.actor import Actor
from data_access.case_commands import open_case
from data_access.db import make_engine
from data_access.models import Customer, User
from tests.browser.test_browser import SLOW, sign_in, wait_idle
from tests.conftest import DEMO_PASSWORD

FIRST_REPLIES = 4
REPLIES = 46
TICK_MS = 5_000


def new_cases(database_url: str, username: str, count: int) -> list[int]:
    """`count` new cases of a customer `username` is CSM for, opened just now."""
    engine = make_engine(database_url)
    with Session(engine) as session:
        user = session.exec(select(User).where(User.username == username)).one()
        customer = session.exec(select(Customer).where(Customer.csm_id == user.id)).first()
        actor = Actor(id=user.id, username=username, roles=("csm",))
        ids = [
            open_case(
                session=session,
                actor=actor,
                customer_id=customer.id,
                subject=f"Reply test {number}",
                severity=2,
                channel="email",
            ).id
            for number in range(count)
        ]
        session.commit()
    engine.dispose()
    return ids


def recorded_replies(database_url: str, case_ids: list[int]) -> list[str]:
    engine = make_engine(database_url)
    with engine.connect() as connection:
        notes = connection.execute(
            text(
                "SELECT note FROM case_event WHERE kind = 'public_reply' "
                f"AND case_id IN ({', '.join(str(int(c)) for c in case_ids)}) ORDER BY id"
            )
        ).scalars()
        replies = list(notes)
    engine.dispose()
    return replies


def reply_box(page: Page):
    return page.get_by_role("textbox", name="reply", exact=False).first


def send(page: Page, message: str) -> bool:
    """Click send, wait for the outcome the user sees; True if a confirmation is shown."""
    page.get_by_role("button", name="Send", exact=False).first.click()
    # Recorded: the box starts empty for the next reply; refused: the sentence shows beside it.
    page.wait_for_function(
        """() => {
          const box = [...document.querySelectorAll('textarea')]
            .find(t => (t.getAttribute('aria-label') || '').toLowerCase().includes('reply'));
          return (box && box.value === '') ||
            document.querySelector('[data-testid="stAlertContentError"]');
        }""",
        polling=50,
        timeout=15_000,
    )
    wait_idle(page)
    return page.get_by_text("Reply sent.").count() > 0


class Ticks:
    """The clock fragment's ticks, as the page sends them: each is a rerun request the page marks
    automatic (`BackMsg.rerun_script.is_auto_rerun`). Counted from the frames the browser sends,
    they cannot be missed; watching the DOM's run state could miss a tick whose run was over
    before the browser drew it (its messages then arrive together and render once), which failed
    CI once. Start watching before the page opens its websocket (before `goto`)."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.times: list[float] = []
        page.on("websocket", self._watch)

    def _watch(self, websocket: WebSocket) -> None:
        websocket.on("framesent", self._sent)

    def _sent(self, payload: str | bytes) -> None:
        if isinstance(payload, str):
            return
        message = BackMsg.FromString(payload)
        if message.WhichOneof("type") == "rerun_script" and message.rerun_script.is_auto_rerun:
            self.times.append(time.monotonic())

    def since_last_ms(self) -> float:
        return (time.monotonic() - self.times[-1]) * 1_000

    def wait_for_next(self, ticks: int = 1) -> None:
        """Until the page sends its next tick. `ticks` > 1 allows for a tick lost to a busy machine
        (one falling inside an action's own run is folded into it); a page that stopped ticking
        still fails."""
        seen = len(self.times)
        waited = ticks * TICK_MS + 3_000
        deadline = time.monotonic() + waited / 1_000
        while len(self.times) <= seen:
            assert time.monotonic() < deadline, f"the page sent no tick in {waited / 1_000:.0f} s"
            self.page.wait_for_timeout(20)


def time_the_click(ticks: Ticks, number: int) -> None:
    """Spread the clicks over the tick: during one, just before the next, and in between."""
    phase = number % 5
    if phase == 0:
        ticks.wait_for_next(ticks=2)
    elif phase == 1:
        ticks.page.wait_for_timeout(max(0, (TICK_MS - 150 - ticks.since_last_ms()) % TICK_MS))
    else:
        ticks.page.wait_for_timeout((phase - 2) * 150)


def test_replies_sent_around_ticks_are_all_recorded(fresh_server, page: Page):
    database = fresh_server.database_url
    first_cases = new_cases(database, "csm.na", FIRST_REPLIES)
    sign_in(page, fresh_server.url, "csm.na", DEMO_PASSWORD)
    sent: list[str] = []
    unconfirmed: list[str] = []
    for case_id in first_cases:
        tab = page.context.new_page()
        tab.goto(f"{fresh_server.url}/case?id={case_id}")
        message = f"First reply on case {case_id}."
        reply_box(tab).fill(message)
        sent.append(message)
        if not send(tab, message):
            unconfirmed.append(message)
        tab.close()

    case_id = first_cases[0]
    ticks = Ticks(page)
    page.goto(f"{fresh_server.url}/case?id={case_id}")
    expect(page.get_by_role("heading", name=f"#{case_id}").first).to_be_visible(timeout=SLOW)
    ticks.wait_for_next()
    for number in range(REPLIES):
        message = f"Reply number {number} to the customer."
        reply_box(page).fill(message)
        time_the_click(ticks, number)
        sent.append(message)
        if not send(page, message):
            unconfirmed.append(message)

    deadline = time.monotonic() + 10
    while len(recorded_replies(database, first_cases)) < len(sent) < 1_000:
        if time.monotonic() > deadline:
            break
        time.sleep(0.5)
    recorded = recorded_replies(database, first_cases)
    missing = [message for message in sent if message not in recorded]
    assert not missing, f"{len(missing)} of {len(sent)} replies were dropped: {missing}"
    assert sorted(recorded) == sorted(sent) and len(recorded) == len(set(recorded))
    assert not unconfirmed, f"no confirmation beside the box for {unconfirmed}"
