"""Actors for data-access tests: the typed `Actor` of a user in the test database."""

from __future__ import annotations

from sqlmodel import Session, select

from data_access.actor import Actor
from data_access.models import User
from domain.roles import parse_roles


def actor_of(session: Session, username: str) -> Actor:
    """The existing user `username` as the actor of a command."""
    user = session.exec(select(User).where(User.username == username)).one()
    return Actor(id=user.id, username=user.username, roles=parse_roles(user.roles))


def ensure_actor(session: Session, username: str, roles: str) -> Actor:
    """`username` with `roles` (created and flushed when missing) as the actor of a command."""
    user = session.exec(select(User).where(User.username == username)).first()
    if user is None:
        user = User(
            username=username,
            name=username.replace(".", " ").title(),
            email=f"{username}@actors.example",
            password_hash="x",
            roles=roles,
        )
        session.add(user)
        session.flush()
    return Actor(id=user.id, username=user.username, roles=parse_roles(user.roles))


def admin(session: Session) -> Actor:
    """An administrator (created when the database has none called 'admin')."""
    return ensure_actor(session, "admin", "admin")
