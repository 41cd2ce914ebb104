"""A server-like process for the crash tests: N threads, each writing case notes through the same
command and transaction the pages use, printing "ACK <note>" only after the commit returned (the
moment a page would show its success message). Bounded: each thread stops after --each writes."""

from __future__ import annotations

import argparse
import sys
import threading

from sqlalchemy import text

from data_access.actor import Actor
from data_access.case_commands import add_internal_note
from data_access.db import make_engine, session_scope


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
    actor = Actor(id=admin.id, username=admin.username, roles=("admin",))
    out = threading.Lock()

    def session_loop(number: int) -> None:
        case_id = cases[number % len(cases)]
        for index in range(args.each):
            note = f"crash-note {number}-{index}"
            with session_scope(engine) as session:
                add_internal_note(session=session, actor=actor, case_id=case_id, note=note)
            with out:
                sys.stdout.write(f"ACK {note}\n")
                sys.stdout.flush()

    threads = [threading.Thread(target=session_loop, args=(n,)) for n in range(args.threads)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
