"""Staff users: credentials for sign-in, lockout kept in the database, and admin commands."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import bcrypt
import pandas as pd
from sqlalchemy import update
from sqlmodel import Session, select

from data_access.audit import CommandRefused, record_audit
from data_access.locking import for_update
from data_access.models import User, utc_now
from domain.roles import Role, parse_roles
from domain.security import after_failed_login, is_locked, password_problem

USERNAME_PATTERN = re.compile(r"^[a-z][a-z0-9_.-]{2,31}$")
EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True)
class UserCreate:
    username: str
    name: str
    email: str
    password: str
    roles: tuple[str, ...]
    timezone: str = "UTC"


@dataclass(frozen=True)
class SignedInUser:
    """What a page needs to know about the person using it."""

    id: int
    username: str
    name: str
    roles: tuple[str, ...]
    timezone: str


def hash_password(password: str) -> str:
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=12)).decode()


def password_matches(password: str, password_hash: str) -> bool:
    try:
        return bcrypt.checkpw(password.encode(), password_hash.encode())
    except ValueError:
        return False


def credentials(*, session: Session) -> dict:
    """Active users in the shape streamlit-authenticator takes (bcrypt hashes, never plaintext)."""
    rows = session.exec(select(User).where(User.is_active)).all()
    return {
        "usernames": {
            user.username: {
                "name": user.name,
                "email": user.email,
                "password": user.password_hash,
                "roles": list(parse_roles(user.roles)),
            }
            for user in rows
        }
    }


def get_user(*, session: Session, username: str) -> User | None:
    return session.exec(select(User).where(User.username == username)).first()


def signed_in_user(*, session: Session, username: str) -> SignedInUser | None:
    """The active user behind a session, or None when unknown or deactivated."""
    user = get_user(session=session, username=username)
    if user is None or not user.is_active:
        return None
    return SignedInUser(
        id=user.id,
        username=user.username,
        name=user.name,
        roles=parse_roles(user.roles),
        timezone=user.timezone,
    )


def lock_state(*, session: Session, username: str, now: datetime | None = None) -> datetime | None:
    """When the account is locked, the moment the lock ends; otherwise None."""
    user = get_user(session=session, username=username)
    if user is None:
        return None
    now = now or utc_now()
    return user.locked_until if is_locked(user.locked_until, now) else None


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
    user.failed_logins = outcome.failed_logins
    if outcome.locked_until is not None:
        user.locked_until = outcome.locked_until
        record_audit(
            session=session,
            actor=username,
            action="account_locked",
            entity="user",
            entity_id=user.id,
            detail={"until": outcome.locked_until},
        )
    session.add(user)
    return outcome.locked_until


def record_successful_login(*, session: Session, username: str) -> None:
    session.execute(
        update(User)
        .where(User.username == username)
        .values(failed_logins=0, locked_until=None)
        .execution_options(synchronize_session=False)
    )
    record_audit(session=session, actor=username, action="sign_in", entity="user", entity_id=None)


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


def create_user(*, session: Session, actor: str, user_create: UserCreate) -> User:
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
        actor=actor,
        action="create_user",
        entity="user",
        entity_id=user.id,
        detail={"username": username, "roles": user.roles},
    )
    return user


def _existing(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise CommandRefused(f"There is no user with id {user_id}.")
    return user


def set_roles(*, session: Session, actor: str, user_id: int, roles: list[str]) -> User:
    user = _existing(session, user_id)
    before = user.roles
    user.roles = _check_roles(roles)
    if user.username == actor and Role.ADMIN not in parse_roles(user.roles):
        raise CommandRefused("You cannot remove your own admin role.")
    session.add(user)
    record_audit(
        session=session,
        actor=actor,
        action="set_roles",
        entity="user",
        entity_id=user_id,
        detail={"from": before, "to": user.roles},
    )
    return user


def set_active(*, session: Session, actor: str, user_id: int, active: bool) -> User:
    user = _existing(session, user_id)
    if user.username == actor and not active:
        raise CommandRefused("You cannot deactivate your own account.")
    user.is_active = active
    session.add(user)
    record_audit(
        session=session,
        actor=actor,
        action="activate_user" if active else "deactivate_user",
        entity="user",
        entity_id=user_id,
    )
    return user


def reset_password(*, session: Session, actor: str, user_id: int, new_password: str) -> User:
    user = _existing(session, user_id)
    problem = password_problem(new_password)
    if problem:
        raise CommandRefused(problem)
    user.password_hash = hash_password(new_password)
    user.failed_logins = 0
    user.locked_until = None
    session.add(user)
    record_audit(
        session=session, actor=actor, action="reset_password", entity="user", entity_id=user_id
    )
    return user


def set_timezone(*, session: Session, actor: str, user_id: int, timezone: str) -> User:
    _check_timezone(timezone)
    user = _existing(session, user_id)
    user.timezone = timezone
    session.add(user)
    record_audit(
        session=session,
        actor=actor,
        action="set_timezone",
        entity="user",
        entity_id=user_id,
        detail={"timezone": timezone},
    )
    return user


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


def change_own_password(
    *, session: Session, username: str, current_password: str, new_password: str
) -> User:
    user = get_user(session=session, username=username)
    if user is None or not password_matches(current_password, user.password_hash):
        raise CommandRefused("The current password is wrong.")
    if new_password == current_password:
        raise CommandRefused("The new password must differ from the current one.")
    problem = password_problem(new_password)
    if problem:
        raise CommandRefused(problem)
    user.password_hash = hash_password(new_password)
    session.add(user)
    record_audit(
        session=session, actor=username, action="change_password", entity="user", entity_id=user.id
    )
    return user
