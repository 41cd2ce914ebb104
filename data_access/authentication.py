"""Signing in: passwords, a lockout kept in the database, and sessions that can be ended.

Sign-in and the "current password" check share one attempt counter. An attempt is counted
(and the lock read) under the row lock in a short transaction, the slow bcrypt check runs
outside any transaction, and the outcome is recorded in a second short transaction that reads
the lock again: a lock in force is never cleared by a right password, at most
`MAX_FAILED_LOGINS` passwords are checked before an account locks, and SQLite's write lock is
never held through bcrypt. Attempts beyond that number wait for the counted ones to settle, so
the same user signing in from several tabs at once is not locked out by their own right password.

Each user has a `session_version`; a session (and its cookie) carries the version it signed in
with and is valid only while it still matches. A password change or reset, a deactivation, a
role change and "Sign out everywhere" raise it (`end_sessions`). The admin
commands on accounts are `data_access.users`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import cache

import bcrypt
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from data_access.actor import Actor
from data_access.audit import CommandRefused, record_audit
from data_access.db import session_scope
from data_access.locking import for_update
from data_access.models import User, utc_now
from domain.roles import parse_roles
from domain.security import (
    BCRYPT_ROUNDS,
    MAX_FAILED_LOGINS,
    after_failed_login,
    is_locked,
    locked_message,
    password_problem,
)

WRONG_CREDENTIALS = "The username or password is wrong."
WRONG_CURRENT_PASSWORD = "The current password is wrong."


@dataclass(frozen=True)
class SignedInUser:
    """What a page needs to know about the person using it."""

    id: int
    username: str
    name: str
    roles: tuple[str, ...]
    timezone: str
    session_version: int = 0


def hash_password(password: str) -> str:
    """A bcrypt hash at `BCRYPT_ROUNDS`; the caller has checked `password_problem` (≤ 72 bytes)."""
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=BCRYPT_ROUNDS)).decode()


def password_matches(password: str, password_hash: str) -> bool:
    """bcrypt's verdict; False (never an error) for an over-long password or a broken hash."""
    try:
        return bcrypt.checkpw(password.encode(), password_hash.encode())
    except ValueError:
        return False


@cache
def _dummy_hash() -> str:
    """A hash at the same cost as real ones, checked for unknown usernames so that the answer
    and its timing do not tell which accounts exist."""
    return hash_password("no account has this password 0")


def get_user(*, session: Session, username: str) -> User | None:
    return session.exec(select(User).where(User.username == username)).first()


def _signed_in(user: User) -> SignedInUser:
    return SignedInUser(
        id=user.id,
        username=user.username,
        name=user.name,
        roles=parse_roles(user.roles),
        timezone=user.timezone,
        session_version=user.session_version,
    )


def signed_in_user(*, session: Session, username: str) -> SignedInUser | None:
    """The active user behind a session, or None when unknown or deactivated."""
    user = get_user(session=session, username=username)
    if user is None or not user.is_active:
        return None
    return _signed_in(user)


def session_user(
    *, session: Session, username: str, session_version: object
) -> SignedInUser | None:
    """The user of a session signed in with `session_version`, or None when that session has
    ended: the account is unknown or deactivated, or its sessions were ended since."""
    user = signed_in_user(session=session, username=username)
    if user is None or type(session_version) is not int:
        return None
    return user if user.session_version == session_version else None


def lock_state(*, session: Session, username: str, now: datetime | None = None) -> datetime | None:
    """When the account is locked, the moment the lock ends; otherwise None."""
    user = get_user(session=session, username=username)
    if user is None:
        return None
    now = now or utc_now()
    return user.locked_until if is_locked(user.locked_until, now) else None


def _lock(session: Session, user: User, now: datetime) -> datetime:
    outcome = after_failed_login(MAX_FAILED_LOGINS - 1, now)
    user.failed_logins = outcome.failed_logins
    user.locked_until = outcome.locked_until
    session.add(user)
    record_audit(
        session=session,
        actor=user.username,
        action="account_locked",
        entity="user",
        entity_id=user.id,
        detail={"until": outcome.locked_until},
    )
    return outcome.locked_until


def record_failed_login(
    *, session: Session, username: str, now: datetime | None = None
) -> datetime | None:
    """Count a wrong password; returns the lock end when this failure locked the account.

    The row is locked while counting (FOR UPDATE on PostgreSQL; SQLite serialises writers),
    so failures arriving at once from several sessions are all counted.
    """
    now = now or utc_now()
    user = session.exec(for_update(select(User).where(User.username == username))).first()
    if user is None:
        return None
    outcome = after_failed_login(user.failed_logins, now)
    if outcome.locked_until is not None:
        return _lock(session, user, now)
    user.failed_logins = outcome.failed_logins
    session.add(user)
    return None


UNKNOWN_ACTOR = "(unknown user)"
"""The audit actor of a failed sign-in for a username no account has (the typed name is kept
in the row's detail, so repeated guessing shows in the audit view)."""


@dataclass(frozen=True)
class _Attempt:
    """A counted password attempt, to be checked outside any transaction and then settled."""

    user_id: int | None
    password_hash: str
    refusal: str | None = None
    username: str = ""


IN_FLIGHT_WAIT_S = 30.0
"""How long an attempt waits while `MAX_FAILED_LOGINS` others are counted and still being checked
(the same person signing in from several tabs at once, or a busy server) before those count as
failures and lock the account."""


def _begin_attempt(engine: Engine, username: str, now: datetime) -> _Attempt:
    """Under the row lock: refuse a locked account, else count the attempt as a failure until
    the password proves right.

    While `MAX_FAILED_LOGINS` attempts are counted and not yet settled, a further attempt is not
    checked: it waits (outside any transaction) for them to settle. A right password among them
    clears the count and the wait ends; wrong ones lock the account. Attempts still unsettled
    after `IN_FLIGHT_WAIT_S` (a process killed mid-check, or a flood of guesses) lock it too.
    """
    deadline = time.monotonic() + IN_FLIGHT_WAIT_S
    while True:
        with session_scope(engine) as session:
            user = session.exec(for_update(select(User).where(User.username == username))).first()
            if user is None or not user.password_sign_in:
                # Unknown, or signs in only through the identity provider (data_access.sso): the
                # same check and sentence as a wrong password, so nothing tells which is which.
                return _Attempt(user_id=None, password_hash=_dummy_hash(), username=username)
            if is_locked(user.locked_until, now):
                _audit_locked_attempt(session, user)
                return _Attempt(user.id, "", refusal=locked_message(user.locked_until))
            if user.failed_logins < MAX_FAILED_LOGINS:
                user.failed_logins += 1
                session.add(user)
                return _Attempt(user_id=user.id, password_hash=user.password_hash)
            if time.monotonic() >= deadline:
                _audit_locked_attempt(session, user)
                return _Attempt(user.id, "", refusal=locked_message(_lock(session, user, now)))
            user_id = user.id
        _wait_for_settled_attempts(engine, user_id, deadline)


def _wait_for_settled_attempts(engine: Engine, user_id: int, deadline: float) -> None:
    """Until the count drops below the limit, a lock appears or the deadline passes (plain reads,
    no lock held)."""
    while time.monotonic() < deadline:
        time.sleep(0.05)
        with Session(engine) as session:
            user = session.get(User, user_id)
            if user is None or is_locked(user.locked_until, utc_now()):
                return
            if user.failed_logins < MAX_FAILED_LOGINS:
                return


def _audit_locked_attempt(session: Session, user: User) -> None:
    """A password tried while the account is locked: not checked, but on the record."""
    record_audit(
        session=session,
        actor=user.username,
        action="sign_in_refused_locked",
        entity="user",
        entity_id=user.id,
    )


def _settle_attempt(
    engine: Engine,
    attempt: _Attempt,
    *,
    right: bool,
    now: datetime,
    failure_action: str,
    wrong: str,
    on_success: Callable[[Session, User], object],
):
    """Under the row lock again: a right password for an active, unlocked account clears the
    count and runs `on_success`; otherwise the failure (already counted) is audited and locks
    the account when it is the fifth. Returns `on_success`'s result; raises CommandRefused."""
    with session_scope(engine) as session:
        if attempt.user_id is None:
            # Unknown username: the same second transaction as for an account, then the same
            # sentence as a wrong password; the audit row is written when the block commits.
            session.exec(for_update(select(User.id).where(User.id == -1))).first()
            record_audit(
                session=session,
                actor=UNKNOWN_ACTOR,
                action=failure_action,
                entity="user",
                entity_id=None,
                detail={"username": attempt.username[:64]},
            )
            refusal = wrong
            user = None
        else:
            user = session.exec(for_update(select(User).where(User.id == attempt.user_id))).first()
            refusal = wrong
        if user is not None and is_locked(user.locked_until, now):
            # Another attempt locked the account meanwhile: even the right password waits.
            _audit_locked_attempt(session, user)
            refusal = locked_message(user.locked_until)
        elif user is not None and right and user.is_active:
            user.failed_logins = 0
            session.add(user)
            return on_success(session, user)
        elif user is not None:
            record_audit(
                session=session,
                actor=user.username,
                action=failure_action,
                entity="user",
                entity_id=user.id,
            )
            if user.failed_logins >= MAX_FAILED_LOGINS:
                refusal = locked_message(_lock(session, user, now))
    raise CommandRefused(refusal)


def sign_in(
    *, engine: Engine, username: str, password: str, now: datetime | None = None
) -> SignedInUser:
    """Check a sign-in and return the signed-in user; a refusal is one sentence.

    Unknown usernames get the same sentence as a wrong password after a check of the same
    cost. An over-long password is simply wrong. Runs its own two short transactions.
    """
    now = now or utc_now()
    username = username.strip().lower()
    if not username or not password:
        raise CommandRefused("Enter your username and password.")
    attempt = _begin_attempt(engine, username, now)
    if attempt.refusal is not None:
        raise CommandRefused(attempt.refusal)
    right = password_matches(password, attempt.password_hash)

    def signed_in(session: Session, user: User) -> SignedInUser:
        record_audit(
            session=session, actor=user.username, action="sign_in", entity="user", entity_id=None
        )
        return _signed_in(user)

    return _settle_attempt(
        engine,
        attempt,
        right=right,
        now=now,
        failure_action="sign_in_failed",
        wrong=WRONG_CREDENTIALS,
        on_success=signed_in,
    )


def end_sessions(user: User) -> int:
    """Every session signed in before ends at its next interaction; returns the new version."""
    user.session_version = (user.session_version or 0) + 1
    return user.session_version


def set_password(user: User, new_password: str) -> None:
    """A checked new password: the failure count and any lock are cleared and every session
    ends (the caller audits why)."""
    problem = password_problem(new_password)
    if problem:
        raise CommandRefused(problem)
    user.password_hash = hash_password(new_password)
    user.failed_logins = 0
    user.locked_until = None
    end_sessions(user)


def change_own_password(
    *,
    engine: Engine,
    actor: Actor,
    current_password: str,
    new_password: str,
    now: datetime | None = None,
) -> int:
    """Change the actor's password after checking the current one; returns the new session
    version (every other session ends).

    The check shares the sign-in counter and lockout, and a wrong current password is audited.
    Like `sign_in` it runs its own short transactions with bcrypt outside them.
    """
    now = now or utc_now()
    if new_password == current_password:
        raise CommandRefused("The new password must differ from the current one.")
    problem = password_problem(new_password)
    if problem:
        raise CommandRefused(problem)
    attempt = _begin_attempt(engine, actor.username, now)
    if attempt.refusal is not None:
        raise CommandRefused(attempt.refusal)
    right = password_matches(current_password, attempt.password_hash)
    new_hash = hash_password(new_password) if right else ""

    def change(session: Session, user: User) -> int:
        if user.id != actor.id:
            raise CommandRefused(WRONG_CURRENT_PASSWORD)
        user.password_hash = new_hash
        version = end_sessions(user)
        session.add(user)
        record_audit(
            session=session,
            actor=actor.username,
            action="change_password",
            entity="user",
            entity_id=user.id,
        )
        return version

    return _settle_attempt(
        engine,
        attempt,
        right=right,
        now=now,
        failure_action="wrong_current_password",
        wrong=WRONG_CURRENT_PASSWORD,
        on_success=change,
    )
