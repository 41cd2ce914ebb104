"""Staff accounts: the admin commands (create, roles, active, password reset), a user's own
time zone and "Sign out everywhere", the staff lists, and operator recovery from a shell.

Signing in, the lockout and sessions are `data_access.authentication`; a command here that
changes who may act (roles, deactivation, a reset) ends the account's sessions through it.

Operator recovery from a shell (no admin account needed):
    python -m data_access.users unlock USERNAME
    python -m data_access.users reset-password USERNAME
"""

from __future__ import annotations

import argparse
import getpass
import re
import sys
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pandas as pd
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from data_access.actor import Actor, authorise
from data_access.audit import CommandRefused, record_audit
from data_access.authentication import end_sessions, get_user, hash_password, set_password
from data_access.db import session_scope
from data_access.locking import for_update
from data_access.models import User
from domain.contacts import EMAIL_PATTERN
from domain.roles import Role, parse_roles
from domain.security import (
    password_problem,
)

USERNAME_PATTERN = re.compile(r"^[a-z][a-z0-9_.-]{2,31}$")


@dataclass(frozen=True)
class UserCreate:
    username: str
    name: str
    email: str
    password: str
    roles: tuple[str, ...]
    timezone: str = "UTC"


def _check_timezone(name: str) -> None:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise CommandRefused(f"{name!r} is not a known time zone (try Europe/London).") from exc


def _check_roles(roles: tuple[str, ...] | list[str]) -> str:
    known = {role.value for role in Role}
    unknown = [role for role in roles if role not in known]
    if unknown:
        raise CommandRefused(
            f"Unknown role {unknown[0]!r}; choose from {', '.join(sorted(known))}."
        )
    if not roles:
        raise CommandRefused("A user needs at least one role.")
    return ",".join(dict.fromkeys(roles))


def create_user(*, session: Session, actor: Actor, user_create: UserCreate) -> User:
    authorise(session, actor, roles=[Role.ADMIN])
    username = user_create.username.strip().lower()
    if not USERNAME_PATTERN.match(username):
        raise CommandRefused(
            "The username must be 3–32 characters: lower-case letters, digits, '.', '_' or '-', "
            "starting with a letter."
        )
    if get_user(session=session, username=username) is not None:
        raise CommandRefused(f"The username {username!r} is taken.")
    if not user_create.name.strip():
        raise CommandRefused("The user's name is required.")
    if not EMAIL_PATTERN.match(user_create.email.strip()):
        raise CommandRefused(f"{user_create.email!r} is not an e-mail address.")
    problem = password_problem(user_create.password)
    if problem:
        raise CommandRefused(problem)
    _check_timezone(user_create.timezone)
    user = User(
        username=username,
        name=user_create.name.strip(),
        email=user_create.email.strip(),
        password_hash=hash_password(user_create.password),
        roles=_check_roles(user_create.roles),
        timezone=user_create.timezone,
    )
    session.add(user)
    session.flush()
    record_audit(
        session=session,
        actor=actor.username,
        action="create_user",
        entity="user",
        entity_id=user.id,
        detail={"username": username, "roles": user.roles},
    )
    return user


def _existing(session: Session, user_id: int) -> User:
    user = session.exec(for_update(select(User).where(User.id == user_id))).first()
    if user is None:
        raise CommandRefused(f"There is no user with id {user_id}.")
    return user


def _lock_active_admins(session: Session) -> list[User]:
    """The active administrators, locked in id order. The admin commands that could leave no
    active admin take these locks first (before `authorise`), so two admins demoting or
    deactivating each other at once run one after the other and the second sees the first's
    change (PostgreSQL re-checks a locked row that changed meanwhile; SQLite has one writer)."""
    candidates = session.exec(
        for_update(
            select(User)
            .where(User.is_active, User.roles.contains(Role.ADMIN.value))
            .order_by(User.id)
        )
    )
    return [user for user in candidates if Role.ADMIN in parse_roles(user.roles)]


def _keep_an_admin(admins: list[User], user: User) -> None:
    if [admin.id for admin in admins] == [user.id]:
        raise CommandRefused(
            f"{user.username} is the last active administrator; make another user an "
            "administrator first."
        )


def set_roles(*, session: Session, actor: Actor, user_id: int, roles: list[str]) -> User:
    """Change a user's roles; their other sessions end (unless they changed their own). The
    last active administrator keeps the admin role."""
    admins = _lock_active_admins(session)
    authorise(session, actor, roles=[Role.ADMIN])
    user = _existing(session, user_id)
    before = user.roles
    after = _check_roles(roles)
    if Role.ADMIN in parse_roles(before) and Role.ADMIN not in parse_roles(after):
        if user.id == actor.id:
            raise CommandRefused("You cannot remove your own admin role.")
        if user.is_active:
            _keep_an_admin(admins, user)
    user.roles = after
    if after != before and user.id != actor.id:
        end_sessions(user)
    session.add(user)
    record_audit(
        session=session,
        actor=actor.username,
        action="set_roles",
        entity="user",
        entity_id=user_id,
        detail={"from": before, "to": user.roles},
    )
    return user


def set_active(*, session: Session, actor: Actor, user_id: int, active: bool) -> User:
    """(De)activate a user; a deactivation ends their sessions. The last active administrator
    cannot be deactivated."""
    admins = _lock_active_admins(session)
    authorise(session, actor, roles=[Role.ADMIN])
    user = _existing(session, user_id)
    if not active:
        if user.id == actor.id:
            raise CommandRefused("You cannot deactivate your own account.")
        if user.is_active:
            _keep_an_admin(admins, user)
        end_sessions(user)
    user.is_active = active
    session.add(user)
    record_audit(
        session=session,
        actor=actor.username,
        action="activate_user" if active else "deactivate_user",
        entity="user",
        entity_id=user_id,
    )
    return user


def reset_password(*, session: Session, actor: Actor, user_id: int, new_password: str) -> User:
    """Set a user's password, unlock the account and end all its sessions."""
    authorise(session, actor, roles=[Role.ADMIN])
    user = _existing(session, user_id)
    set_password(user, new_password)
    session.add(user)
    record_audit(
        session=session,
        actor=actor.username,
        action="reset_password",
        entity="user",
        entity_id=user_id,
    )
    return user


def set_timezone(*, session: Session, actor: Actor, timezone: str) -> User:
    """The actor's own time zone, used for every time they are shown."""
    _check_timezone(timezone)
    authorise(session, actor, roles=[role.value for role in Role])
    user = _existing(session, actor.id)
    user.timezone = timezone
    session.add(user)
    record_audit(
        session=session,
        actor=actor.username,
        action="set_timezone",
        entity="user",
        entity_id=user.id,
        detail={"timezone": timezone},
    )
    return user


def end_other_sessions(*, session: Session, actor: Actor) -> int:
    """ "Sign out everywhere": every session of the actor ends at its next interaction; returns
    the new session version, for the session asking to keep."""
    authorise(session, actor, roles=[role.value for role in Role])
    user = _existing(session, actor.id)
    version = end_sessions(user)
    session.add(user)
    record_audit(
        session=session,
        actor=actor.username,
        action="sign_out_everywhere",
        entity="user",
        entity_id=user.id,
    )
    return version


def list_users(*, session: Session) -> pd.DataFrame:
    statement = select(
        User.id,
        User.username,
        User.name,
        User.email,
        User.roles,
        User.timezone,
        User.is_active,
        User.locked_until,
    ).order_by(User.username)
    return pd.read_sql(statement, session.connection())


def staff_with_role(*, session: Session, role: str) -> pd.DataFrame:
    """Active users holding `role` (id, name), e.g. to pick a CSM or HyperCare resource."""
    users = list_users(session=session)
    has_role = users["roles"].map(lambda text: role in parse_roles(text))
    return users.loc[has_role & users["is_active"], ["id", "name", "username"]]


# --- Operator recovery from a shell -------------------------------------------------------------


def operator_unlock(*, session: Session, operator: str, username: str) -> User:
    """Clear a lock and the failure count (for the operator with shell access)."""
    user = session.exec(for_update(select(User).where(User.username == username))).first()
    if user is None:
        raise CommandRefused(f"There is no user {username!r}.")
    user.failed_logins = 0
    user.locked_until = None
    session.add(user)
    record_audit(session=session, actor=operator, action="unlock", entity="user", entity_id=user.id)
    return user


def operator_reset_password(
    *, session: Session, operator: str, username: str, new_password: str
) -> User:
    """Set a password, unlock and end every session (for the operator with shell access).
    Password sign-in is switched back on: the way in when the identity provider is down."""
    user = session.exec(for_update(select(User).where(User.username == username))).first()
    if user is None:
        raise CommandRefused(f"There is no user {username!r}.")
    set_password(user, new_password)
    user.password_sign_in = True
    session.add(user)
    record_audit(
        session=session, actor=operator, action="reset_password", entity="user", entity_id=user.id
    )
    return user


def _readset_password(stdin) -> str:
    if not stdin.isatty():
        return stdin.readline().rstrip("\n")
    first = getpass.getpass("New password: ")
    if getpass.getpass("New password again: ") != first:
        raise CommandRefused("The two passwords differ.")
    return first


def main(argv: list[str] | None = None, *, engine: Engine | None = None, stdin=None) -> int:
    """`python -m data_access.users unlock|reset-password USERNAME`; returns the exit status.

    The new password is asked twice on a terminal, or read as one line from standard input.
    Uses `DATABASE_URL` (else the embedded SQLite file), like the app.
    """
    from data_access.db import make_engine

    parser = argparse.ArgumentParser(
        prog="python -m data_access.users",
        description="Recover access to HyperCare Desk from a shell.",
    )
    parser.add_argument("command", choices=["unlock", "reset-password"])
    parser.add_argument("username")
    args = parser.parse_args(argv)
    username = args.username.strip().lower()
    operator = f"operator:{getpass.getuser()}"
    engine = engine or make_engine()
    try:
        if args.command == "unlock":
            with session_scope(engine) as session:
                operator_unlock(session=session, operator=operator, username=username)
            print(f"{username} is unlocked.")
        else:
            password = _readset_password(stdin or sys.stdin)
            with session_scope(engine) as session:
                operator_reset_password(
                    session=session, operator=operator, username=username, new_password=password
                )
            print(f"{username}'s password is reset; the account is unlocked and signed out.")
    except CommandRefused as exc:
        print(str(exc), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
