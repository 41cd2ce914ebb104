"""Saved views: a person's named filters for a page, kept as the page's URL query string.

Reads return the caller's own views; the commands save (or overwrite, by name) and delete them.
A view belongs to the person who saved it: nobody else sees it or can delete it.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

import pandas as pd
from sqlmodel import Session, select

from data_access.actor import Actor, authorise
from data_access.audit import CommandRefused, record_audit
from data_access.locking import for_update
from data_access.models import SavedView, utc_now
from domain.roles import Role

NAME_MAX_CHARS = 80
PARAMS_MAX_CHARS = 2000
VIEWS_PER_PAGE = 50
_ANY_ROLE = tuple(Role)


def saved_views(*, session: Session, user_id: int, page: str) -> pd.DataFrame:
    """The views `user_id` saved for `page`, by name: id, name, params, created_at."""
    statement = (
        select(SavedView.id, SavedView.name, SavedView.params, SavedView.created_at)
        .where(SavedView.user_id == user_id, SavedView.page == page)
        .order_by(SavedView.name)
    )
    frame = pd.read_sql(statement, session.connection())
    frame["created_at"] = pd.to_datetime(frame["created_at"], utc=True)
    return frame


def save_view(*, session: Session, actor: Actor, page: str, name: str, params: str) -> SavedView:
    """Save the filters `params` (a URL query string) as `name`; the same name overwrites.

    Edge case: two tabs saving the same new name at once meet the unique constraint on
    (user, page, name); the lock on the actor's row taken by `authorise` serialises them.
    """
    authorise(session, actor, roles=_ANY_ROLE)
    name = " ".join((name or "").split())
    if not name:
        raise CommandRefused("Give the view a name.")
    if len(name) > NAME_MAX_CHARS:
        raise CommandRefused(f"A view name can be at most {NAME_MAX_CHARS} characters.")
    if len(params) > PARAMS_MAX_CHARS:
        raise CommandRefused("These filters are too long to save as a view.")
    try:
        parse_qsl(params, strict_parsing=bool(params))
    except ValueError as exc:
        raise CommandRefused("These filters cannot be saved as a view.") from exc
    view = session.exec(
        for_update(
            select(SavedView).where(
                SavedView.user_id == actor.id, SavedView.page == page, SavedView.name == name
            )
        )
    ).first()
    if view is None:
        count = len(
            session.exec(
                select(SavedView.id).where(SavedView.user_id == actor.id, SavedView.page == page)
            ).all()
        )
        if count >= VIEWS_PER_PAGE:
            raise CommandRefused(
                f"You have {VIEWS_PER_PAGE} saved views here; delete one to save another."
            )
        view = SavedView(user_id=actor.id, page=page, name=name, params=params)
        action = "save_view"
    else:
        view.params = params
        view.created_at = utc_now()
        action = "update_view"
    session.add(view)
    session.flush()
    record_audit(
        session=session,
        actor=actor.username,
        action=action,
        entity="saved_view",
        entity_id=view.id,
        detail={"page": page, "name": name, "params": params},
    )
    return view


def delete_view(*, session: Session, actor: Actor, view_id: int) -> None:
    """Delete one of the actor's own saved views."""
    authorise(session, actor, roles=_ANY_ROLE)
    view = session.exec(for_update(select(SavedView).where(SavedView.id == view_id))).first()
    if view is None or view.user_id != actor.id:
        raise CommandRefused("That view no longer exists.")
    record_audit(
        session=session,
        actor=actor.username,
        action="delete_view",
        entity="saved_view",
        entity_id=view.id,
        detail={"page": view.page, "name": view.name},
    )
    session.delete(view)
    session.flush()
