"""A server-like process for the crash tests: N threads writing through the same commands and
transactions the pages use (half add internal case notes, half submit survey responses), each
printing "ACK <what>" only after the commit returned (the moment a page would show its success
message). Bounded: each thread stops after --each writes."""

from __future__ import annotations

import argparse
import sys
import threading
from datetime import date, timedelta

from sqlalchemy import text

from data_access.actor import Actor
from data_access.audit import CommandRefused
from data_access.case_commands import add_internal_note
from data_access.db import make_engine, session_scope
from data_access.survey_campaigns import SUS_KEYS, submit_response


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--threads", type=int, default=20)
    parser.add_argument("--each", type=int, default=200)
    args = parser.parse_args()
    engine = make_engine(args.url)
    with engine.connect() as connection:
        admin = connection.execute(
            text("SELECT id, username FROM app_user WHERE username = 'admin'")
        ).one()
        cases = (
            connection.execute(
                text("SELECT id FROM support_case WHERE status <> 'closed' ORDER BY id LIMIT 20")
            )
            .scalars()
            .all()
        )
        staff = connection.execute(
            text("SELECT id, username FROM app_user WHERE username = 'surveys'")
        ).one()
        # Respondents with no response yet in campaigns whose year has started.
        pending = connection.execute(
            text(
                "SELECT c.id, c.year_start, e.id FROM survey_campaign c "
                "JOIN end_user e ON e.customer_id = c.customer_id "
                "WHERE NOT EXISTS (SELECT 1 FROM survey_response r "
                "WHERE r.campaign_id = c.id AND r.end_user_id = e.id) ORDER BY c.id, e.id"
            )
        ).all()
    actor = Actor(id=admin.id, username=admin.username, roles=("admin",))
    surveyor = Actor(id=staff.id, username=staff.username, roles=("survey_staff",))
    out = threading.Lock()
    half = args.threads // 2

    def ack(what: str) -> None:
        with out:
            sys.stdout.write(f"ACK {what}\n")
            sys.stdout.flush()

    def survey_loop(number: int) -> None:
        mine = pending[number - half :: max(1, args.threads - half)][: args.each]
        for campaign_id, year_start, end_user_id in mine:
            if isinstance(year_start, str):
                year_start = date.fromisoformat(year_start)
            answers = {key: 3 for key in SUS_KEYS} | {
                "nps": 8,
                "csat": 4,
                "comments": "",
                "interview_date": min(year_start + timedelta(days=20), date.today()),
            }
            try:
                with session_scope(engine) as session:
                    submit_response(
                        session=session,
                        actor=surveyor,
                        campaign_id=campaign_id,
                        end_user_id=end_user_id,
                        answers=answers,
                    )
            except CommandRefused as refused:
                with out:
                    sys.stdout.write(f"REFUSED {refused}\n")
                continue
            ack(f"survey {campaign_id}-{end_user_id}")

    def session_loop(number: int) -> None:
        if number >= half:
            survey_loop(number)
            return
        case_id = cases[number % len(cases)]
        for index in range(args.each):
            note = f"crash-note {number}-{index}"
            with session_scope(engine) as session:
                add_internal_note(session=session, actor=actor, case_id=case_id, note=note)
            ack(note)

    threads = [threading.Thread(target=session_loop, args=(n,)) for n in range(args.threads)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
