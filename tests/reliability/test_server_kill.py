"""Kill the app server while 20 real sessions are writing through its pages.

Twenty websocket sessions (tests/reliability/ws_client.py: the protocol a browser tab speaks) are
signed in to one `streamlit run` server: ten add internal notes on the case page, ten submit
adoption surveys on the survey form. Once both kinds of write have been confirmed on screen a
number of times, the server gets SIGKILL while the sessions keep writing. Every write whose
success message reached its session must be in the database afterwards, and the database must be
sound (integrity check, foreign keys, ledger sums). Bounded: a deadline, and each session stops
after a fixed number of writes.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from data_access.db import make_engine
from tests.browser.conftest import start_server
from tests.conftest import DEMO_PASSWORD
from tests.reliability.helpers import REPO, fresh_database, integrity_problems
from tests.reliability.ws_client import Client, SessionBroken

WRITERS = 10  # sessions of each kind
EACH = 400  # writes per session at most (the kill comes long before)
NOTES_BEFORE_KILL = 25
SURVEYS_BEFORE_KILL = 8
DEADLINE_S = 240


@dataclass
class Confirmed:
    """The writes whose success message a session saw."""

    notes: list[str] = field(default_factory=list)
    surveys: list[str] = field(default_factory=list)  # respondents' names
    problems: list[str] = field(default_factory=list)
    server_gone: asyncio.Event = field(default_factory=asyncio.Event)


def _seed(url: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "seed", "--database-url", url, "--customers", "12"]
        + ["--cases", "300", "--days", "30", "--demo-password", DEMO_PASSWORD],
        cwd=REPO,
        check=True,
        capture_output=True,
        timeout=300,
    )


def _open_cases(url: str) -> list[int]:
    engine = make_engine(url)
    with engine.connect() as connection:
        ids = connection.execute(
            text(
                "SELECT id FROM support_case WHERE status NOT IN ('solved', 'closed') "
                f"ORDER BY id LIMIT {WRITERS}"
            )
        ).scalars()
        result = list(ids)
    engine.dispose()
    return result


async def _note_writer(base: str, number: int, case_id: int, done: Confirmed) -> None:
    client = Client(base)
    try:
        await client.sign_in("manager", DEMO_PASSWORD)
        await client.open("case", f"id={case_id}")
        for sequence in range(EACH):
            if done.server_gone.is_set():
                return
            note = f"kill-note {number}-{sequence}"
            run = await client.submit(
                [(client.find("text_area", "Internal note"), note)],
                client.find("button", "Add internal note"),
            )
            if run.exceptions or run.errors:
                done.problems.append(f"{note}: {run.exceptions or run.errors}")
            elif any("note added" in message.lower() for message in run.successes):
                done.notes.append(note)
    except (SessionBroken, OSError) as exc:
        if not done.server_gone.is_set():
            done.problems.append(f"note writer {number}: {exc!r}")
    finally:
        await client.close()


async def _choose(client: Client, label: str, starts: str) -> bool:
    """Pick the option of select box `label` that starts with `starts` (labels carry counts
    that other sessions change, so read them just before)."""
    options = [o for o in client.find("selectbox", label).options if o.startswith(starts)]
    if not options:
        return False
    await client.set(client.find("selectbox", label), options[0])
    return True


async def _survey_writer(base: str, number: int, done: Confirmed) -> None:
    client = Client(base)
    rng = random.Random(number)
    try:
        await client.sign_in("surveys" if number % 2 == 0 else "surveys2", DEMO_PASSWORD)
        await client.open("survey_form")
        customers = [o.split(" · ")[0] for o in client.find("selectbox", "Campaign").options]
        for _ in range(EACH):
            if done.server_gone.is_set():
                return
            customer = customers[number % len(customers)]
            if not await _choose(client, "Campaign", f"{customer} · "):
                continue
            # Respondents are shared out between the writers of a campaign by their position.
            waiting = [
                o.split(" · ")[0]
                for index, o in enumerate(client.find("selectbox", "Respondent").options)
                if o.endswith("· not started") and index % WRITERS == number
            ]
            if not waiting:
                customers = customers[1:] + customers[:1]
                continue
            respondent = waiting[0]
            if not await _choose(client, "Respondent", f"{respondent} · "):
                continue
            if not client.has("date_input", "Interview date"):
                # The campaign's label changed under the pick (another session's submission
                # changed its count), so another campaign opened: pick again.
                continue
            answers = [
                (widget, rng.choice(widget.options))
                for widget in client.widgets.values()
                if widget.kind == "radio"
            ]
            answers.append((client.find("date_input", "Interview date"), datetime.now(UTC).date()))
            run = await client.submit(answers, client.find("button", "Submit"))
            if run.exceptions:
                done.problems.append(f"survey {respondent}: {run.exceptions}")
            elif any(m.startswith(f"{respondent}'s response is submitted") for m in run.successes):
                done.surveys.append(respondent)
    except (SessionBroken, OSError, LookupError) as exc:
        if not done.server_gone.is_set():
            done.problems.append(f"survey writer {number}: {exc!r}")
    finally:
        await client.close()


async def _write_then_kill(base: str, process: subprocess.Popen, cases: list[int]) -> Confirmed:
    done = Confirmed()
    writers = [
        asyncio.create_task(_note_writer(base, n, case_id, done)) for n, case_id in enumerate(cases)
    ] + [asyncio.create_task(_survey_writer(base, n, done)) for n in range(WRITERS)]
    started = time.monotonic()
    while time.monotonic() - started < DEADLINE_S:
        if len(done.notes) >= NOTES_BEFORE_KILL and len(done.surveys) >= SURVEYS_BEFORE_KILL:
            break
        if all(task.done() for task in writers):
            break
        await asyncio.sleep(0.05)
    still_writing = sum(not task.done() for task in writers)
    finished = [n for n, task in enumerate(writers) if task.done()]
    done.server_gone.set()
    process.send_signal(signal.SIGKILL)
    await asyncio.wait(writers, timeout=60)
    for task in writers:
        task.cancel()
    if still_writing < 2 * WRITERS:
        done.problems.append(
            f"only {still_writing} of {2 * WRITERS} sessions were writing at the kill "
            f"(finished: {finished}; note writers are 0-{WRITERS - 1})"
        )
    return done


def _in_own_thread(coroutine) -> Confirmed:
    """Run the sessions' event loop in a thread of its own: after the browser tests, Playwright's
    sync API keeps an event loop running in the main thread, where asyncio.run() refuses."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result(timeout=DEADLINE_S + 240)


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_writes_confirmed_on_screen_survive_a_killed_server(kind, request, tmp_path):
    if kind == "postgresql":
        request.getfixturevalue("postgres_database")  # skips without TEST_DATABASE_URL
    with fresh_database(kind, tmp_path, "killed") as url:
        _seed(url)
        cases = _open_cases(url)
        assert len(cases) == WRITERS
        server = start_server(url)
        try:
            done = _in_own_thread(_write_then_kill(server.url, server.process, cases))
            server.process.wait(timeout=30)
        finally:
            if server.process.poll() is None:
                server.process.kill()
                server.process.wait()
        assert server.process.returncode == -signal.SIGKILL
        assert done.problems == [], "\n".join(done.problems)
        assert len(done.notes) >= NOTES_BEFORE_KILL
        assert len(done.surveys) >= SURVEYS_BEFORE_KILL

        engine = make_engine(url)
        try:
            assert integrity_problems(engine) == []
            with engine.connect() as connection:
                notes = set(
                    connection.execute(
                        text("SELECT note FROM case_event WHERE note LIKE 'kill-note %'")
                    ).scalars()
                )
                # By name: a campaign's label carries counts that other sessions change, so a
                # session cannot be sure which campaign its pick landed in, only whom it asked.
                surveys = set(
                    connection.execute(
                        text(
                            "SELECT e.name FROM survey_response r "
                            "JOIN end_user e ON e.id = r.end_user_id "
                            "WHERE r.status = 'submitted'"
                        )
                    ).scalars()
                )
                audited = connection.execute(
                    text("SELECT COUNT(*) FROM audit_log WHERE action = 'case_internal_note'")
                ).scalar_one()
        finally:
            engine.dispose()
        print(
            f"{kind}: killed with 20 sessions writing; confirmed on screen {len(done.notes)} notes "
            f"and {len(done.surveys)} surveys; stored {len(notes)} notes (some written but not yet "
            "confirmed when the server died)"
        )
        lost_notes = set(done.notes) - notes
        lost_surveys = set(done.surveys) - surveys
        assert not lost_notes, f"confirmed on screen but lost: {sorted(lost_notes)[:5]}"
        assert not lost_surveys, f"confirmed on screen but lost: {sorted(lost_surveys)[:5]}"
        # Nothing half-written: every stored note has its audit row.
        assert audited >= len(notes)
