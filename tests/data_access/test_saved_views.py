"""Saved views: named filters per person and page; save overwrites by name; own views only."""

from __future__ import annotations

import pytest
from sqlmodel import select

from data_access.actor import Actor
from data_access.audit import CommandRefused
from data_access.models import AuditLog, User
from data_access.saved_views import delete_view, save_view, saved_views


def actor(session, username: str) -> Actor:
    user = session.exec(select(User).where(User.username == username)).one()
    return Actor(id=user.id, username=user.username, roles=tuple(user.roles.split(",")))


def test_save_list_overwrite_and_delete(seeded, session):
    me = actor(session, "csm.emea")
    save_view(
        session=session, actor=me, page="case_queue", name="  Sev 1  now ", params="severity=1"
    )
    save_view(session=session, actor=me, page="case_queue", name="Mine", params="assignee=none")
    save_view(session=session, actor=me, page="portfolio", name="Other page", params="")
    session.commit()
    views = saved_views(session=session, user_id=me.id, page="case_queue")
    assert list(views["name"]) == ["Mine", "Sev 1 now"]
    assert list(views["params"]) == ["assignee=none", "severity=1"]

    save_view(
        session=session,
        actor=me,
        page="case_queue",
        name="Sev 1 now",
        params="severity=1&status=new",
    )
    session.commit()
    views = saved_views(session=session, user_id=me.id, page="case_queue")
    assert dict(zip(views["name"], views["params"], strict=True))["Sev 1 now"] == (
        "severity=1&status=new"
    )
    assert len(views) == 2

    other = actor(session, "csm.na")
    assert saved_views(session=session, user_id=other.id, page="case_queue").empty
    view_id = int(views["id"].iloc[0])
    with pytest.raises(CommandRefused, match="no longer exists"):
        delete_view(session=session, actor=other, view_id=view_id)
    session.rollback()
    delete_view(session=session, actor=me, view_id=view_id)
    session.commit()
    assert list(saved_views(session=session, user_id=me.id, page="case_queue")["name"]) == [
        "Sev 1 now"
    ]
    actions = session.exec(select(AuditLog.action).where(AuditLog.entity == "saved_view")).all()
    assert sorted(actions) == ["delete_view", "save_view", "save_view", "save_view", "update_view"]


@pytest.mark.parametrize(
    ("name", "params", "message"),
    [
        ("   ", "severity=1", "Give the view a name."),
        ("x" * 81, "severity=1", "at most 80 characters"),
        ("Long", "q=" + "x" * 2000, "too long"),
    ],
)
def test_bad_views_are_refused(seeded, session, name, params, message):
    with pytest.raises(CommandRefused, match=message):
        save_view(
            session=session, actor=actor(session, "csm.emea"), page="q", name=name, params=params
        )
