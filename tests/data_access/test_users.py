from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from data_access import users
from data_access.audit import CommandRefused
from data_access.models import AuditLog, User
from domain.security import LOCKOUT, MAX_FAILED_LOGINS


def make_user(session, username="alice", roles=("csm",), password="correct-horse-1"):
    user = users.create_user(
        session=session,
        actor="admin",
        user_create=users.UserCreate(
            username=username,
            name=username.title(),
            email=f"{username}@example.com",
            password=password,
            roles=tuple(roles),
        ),
    )
    session.commit()
    return user


def test_created_user_has_bcrypt_hash_and_audit_row(session):
    user = make_user(session)
    assert user.password_hash.startswith("$2")
    assert users.password_matches("correct-horse-1", user.password_hash)
    assert not users.password_matches("wrong", user.password_hash)
    audit = session.exec(select(AuditLog).where(AuditLog.action == "create_user")).one()
    assert audit.actor == "admin" and audit.entity_id == str(user.id)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("username", "A", "username must be"),
        ("email", "not-an-email", "is not an e-mail address"),
        ("password", "short1", "at least"),
        ("roles", ("wizard",), "Unknown role"),
        ("roles", (), "at least one role"),
        ("timezone", "Mars/Olympus", "not a known time zone"),
    ],
)
def test_invalid_user_is_refused_and_nothing_written(session, field, value, message):
    values = dict(
        username="bob",
        name="Bob",
        email="bob@example.com",
        password="long-enough-1",
        roles=("csm",),
    )
    values[field] = value
    with pytest.raises(CommandRefused, match=message):
        users.create_user(session=session, actor="admin", user_create=users.UserCreate(**values))
    session.rollback()
    assert session.exec(select(User)).all() == []
    assert session.exec(select(AuditLog)).all() == []


def test_duplicate_username_refused(session):
    make_user(session)
    with pytest.raises(CommandRefused, match="taken"):
        make_user(session)


def test_credentials_dict_holds_only_active_users_and_hashes(session):
    alice = make_user(session)
    make_user(session, "carol", roles=("manager", "admin"))
    users.set_active(session=session, actor="admin", user_id=alice.id, active=False)
    session.commit()
    creds = users.credentials(session=session)
    assert set(creds["usernames"]) == {"carol"}
    carol = creds["usernames"]["carol"]
    assert carol["roles"] == ["manager", "admin"]
    assert carol["password"].startswith("$2") and "correct-horse-1" not in str(creds)


def test_five_wrong_passwords_lock_for_fifteen_minutes(session):
    make_user(session)
    now = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
    for attempt in range(1, MAX_FAILED_LOGINS):
        assert users.record_failed_login(session=session, username="alice", now=now) is None
        session.commit()
        assert users.lock_state(session=session, username="alice", now=now) is None, attempt
    locked_until = users.record_failed_login(session=session, username="alice", now=now)
    session.commit()
    assert locked_until == now + LOCKOUT
    assert users.lock_state(session=session, username="alice", now=now + timedelta(minutes=14))
    assert users.lock_state(session=session, username="alice", now=now + LOCKOUT) is None


def test_successful_login_resets_the_count(session):
    make_user(session)
    for _ in range(MAX_FAILED_LOGINS - 1):
        users.record_failed_login(session=session, username="alice")
    users.record_successful_login(session=session, username="alice")
    session.commit()
    users.record_failed_login(session=session, username="alice")
    session.commit()
    assert users.lock_state(session=session, username="alice") is None
    assert users.get_user(session=session, username="alice").failed_logins == 1


def test_unknown_username_failure_is_harmless(session):
    assert users.record_failed_login(session=session, username="nobody") is None


def test_reset_password_unlocks(session):
    alice = make_user(session)
    for _ in range(MAX_FAILED_LOGINS):
        users.record_failed_login(session=session, username="alice")
    session.commit()
    assert users.lock_state(session=session, username="alice")
    users.reset_password(
        session=session, actor="admin", user_id=alice.id, new_password="brand-new-pass-2"
    )
    session.commit()
    assert users.lock_state(session=session, username="alice") is None


def test_signed_in_user_is_none_once_deactivated(session):
    alice = make_user(session)
    assert users.signed_in_user(session=session, username="alice").roles == ("csm",)
    users.set_active(session=session, actor="admin", user_id=alice.id, active=False)
    session.commit()
    assert users.signed_in_user(session=session, username="alice") is None


def test_admin_cannot_lock_themselves_out(session):
    admin = make_user(session, "root", roles=("admin",))
    with pytest.raises(CommandRefused, match="own admin role"):
        users.set_roles(session=session, actor="root", user_id=admin.id, roles=["csm"])
    session.rollback()
    with pytest.raises(CommandRefused, match="own account"):
        users.set_active(session=session, actor="root", user_id=admin.id, active=False)


def test_change_own_password_checks_the_current_one(session):
    make_user(session)
    with pytest.raises(CommandRefused, match="current password is wrong"):
        users.change_own_password(
            session=session,
            username="alice",
            current_password="nope",
            new_password="another-1-pass",
        )
    users.change_own_password(
        session=session,
        username="alice",
        current_password="correct-horse-1",
        new_password="another-1-pass",
    )
    session.commit()
    assert users.password_matches(
        "another-1-pass", users.get_user(session=session, username="alice").password_hash
    )
