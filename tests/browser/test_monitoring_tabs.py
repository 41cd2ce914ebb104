"""The monitoring page's charts tab runs only while open (a tab switch reruns the page); the
inbox is drawn on every run, so a contact outcome typed there and not yet logged survives a
look at the charts and back."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect
from sqlmodel import Session, select

from data_access.db import make_engine
from data_access.models import Customer
from tests.browser.conftest import Server, start_server, stop_server
from tests.browser.test_browser import SLOW, sign_in, wait_idle, wait_settled
from tests.conftest import DEMO_PASSWORD
from tests.pages.test_monitoring_pages import monitored_model, plant

OUTCOME = "Spoke to Dana; she will send the job logs on Monday."


@pytest.fixture
def server_with_an_alert(seeded_database) -> Iterator[Server]:
    """A fresh server on the browser tests' database with one open alert in it."""
    engine = make_engine(seeded_database)
    with Session(engine) as session:
        customers = session.exec(select(Customer.id).order_by(Customer.id)).all()
        plant(session, monitored_model(session, list(customers)), "processing_s", "above")
        session.commit()
    engine.dispose()
    server = start_server(seeded_database)
    yield server
    stop_server(server)


def test_a_half_typed_contact_survives_a_look_at_the_charts(server_with_an_alert, page: Page):
    server = server_with_an_alert
    sign_in(page, server.url, "manager", DEMO_PASSWORD)
    page.goto(f"{server.url}/monitoring")
    expect(page.get_by_role("heading", name="Monitoring")).to_be_visible(timeout=SLOW)
    wait_settled(page)
    outcome = page.get_by_role("textbox", name="Outcome")
    outcome.fill(OUTCOME)
    expect(page.get_by_role("combobox", name="Metric")).to_have_count(0)  # the closed tab: not run

    page.get_by_role("tab", name="Model charts").click()
    expect(page.get_by_role("heading", name="All seven metrics")).to_be_visible(timeout=SLOW)
    wait_idle(page)
    page.get_by_role("tab", name="Alert inbox").click()
    wait_idle(page)
    expect(page.get_by_role("textbox", name="Outcome")).to_have_value(OUTCOME, timeout=SLOW)
