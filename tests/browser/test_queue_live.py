"""The live case queue in a real browser: a case written elsewhere appears with a toast, without a
reload, and Download CSV keeps delivering its file while the page ticks."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

from playwright.sync_api import Page, expect
from sqlmodel import Session, select

from data_access.db import make_engine
from data_access.models import AuditLog, Case, CaseEvent, Customer
from tests.browser.test_browser import SLOW, sign_in, wait_settled
from tests.conftest import DEMO_PASSWORD

SHOTS = Path("/tmp/shots")
TICK_MS = 5_000  # the queue's fragments run every 5 s
COUNT = re.compile(r"([\d,]+) of ([\d,]+) open cases")


def open_queue(page: Page, base: str) -> None:
    page.set_viewport_size({"width": 1440, "height": 900})
    sign_in(page, base, "manager", DEMO_PASSWORD)
    page.goto(f"{base}/case_queue")
    expect(page.get_by_role("heading", name="Case queue").first).to_be_visible(timeout=SLOW)
    expect(page.get_by_text(COUNT)).to_be_visible(timeout=SLOW)
    expect(page.get_by_role("button", name=re.compile("Download CSV"))).to_be_visible(timeout=SLOW)
    wait_settled(page)


def open_count(page: Page, which: int = 1) -> int:
    """The shown open cases (1) or every open case in the viewer's scope (2)."""
    match = COUNT.search(page.get_by_text(COUNT).inner_text())
    return int(match.group(which).replace(",", ""))


def insert_case(database_url: str) -> tuple[int, str]:
    """A new unassigned severity 1 case, written straight into the server's database."""
    now = datetime.now(UTC)
    with Session(make_engine(database_url)) as session:
        customer = session.exec(
            select(Customer).where(Customer.is_active).order_by(Customer.id)
        ).first()
        case = Case(
            customer_id=customer.id,
            subject="Browser test: planning models will not open",
            severity=1,
            channel="phone",
            status="new",
            opened_at=now,
            updated_at=now,
        )
        session.add(case)
        session.flush()
        session.add(CaseEvent(case_id=case.id, at=now, kind="status", to_status="new"))
        session.commit()
        return case.id, customer.name


def test_a_new_case_appears_with_a_toast_without_a_reload(fresh_server, page: Page):
    open_queue(page, fresh_server.url)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "queue.png"))
    before_shown, before = open_count(page), open_count(page, which=2)
    url = page.url
    assert "assignee=none" in url  # the default view: my cases and unassigned ones

    case_id, customer = insert_case(fresh_server.database_url)

    toast = page.locator('[data-testid="stToast"]').filter(
        has_text=f"New Severity 1: #{case_id} {customer}"
    )
    expect(toast).to_be_visible(timeout=SLOW)
    # Read again without a reload: one more open case in the viewer's scope, and in the default
    # view too (the new case is unassigned), whose filters and link are kept.
    expect(page.get_by_text(COUNT)).to_contain_text(
        f"{before_shown + 1:,} of {before + 1:,} open cases", timeout=SLOW
    )
    assert page.url == url
    # A few more ticks: the view holds (a tick can send back a value the browser forgot).
    page.wait_for_timeout(2 * TICK_MS + 1_500)
    expect(page.get_by_text(COUNT)).to_contain_text(f"{before_shown + 1:,} of {before + 1:,}")
    assert page.url == url


def test_download_csv_works_while_the_page_ticks(fresh_server, page: Page):
    open_queue(page, fresh_server.url)
    for _ in range(2):
        page.wait_for_timeout(TICK_MS + 1_500)  # at least one tick of the live fragments
        with page.expect_download(timeout=SLOW) as download:
            page.get_by_role("button", name=re.compile("Download CSV")).click()
        body = Path(download.value.path()).read_text(encoding="utf-8-sig")
        header, *rows = body.splitlines()
        assert header.startswith("state,case_id,customer,severity_label,countdown")
        assert len(rows) == open_count(page)
        assert download.value.suggested_filename == "case-queue.csv"
    # The file is written when clicked (a deferred download), and its audit row with it.
    engine = make_engine(fresh_server.database_url)

    def exports() -> list[str]:
        with Session(engine) as session:
            query = select(AuditLog.entity_id).where(AuditLog.action == "export_csv")
            return list(session.exec(query).all())

    deadline = datetime.now(UTC).timestamp() + SLOW / 1000
    while len(exports()) < 2 and datetime.now(UTC).timestamp() < deadline:
        page.wait_for_timeout(200)
    assert exports() == ["case-queue.csv", "case-queue.csv"]
    engine.dispose()
