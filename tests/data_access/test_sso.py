"""Enterprise sign-in: a provider identity matches an account by verified e-mail only, and
password sign-in can be switched off per user (both engines)."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session, select

from data_access import authentication, sso, users
from data_access.actor import Actor
from data_access.audit import CommandRefused
from data_access.db import session_scope
from data_access.models import AuditLog, User

PASSWORD = "correct-horse-1"


@pytest.fixture(autouse=True)
def cheap_hashes(monkeypatch):
    monkeypatch.setattr(authentication, "BCRYPT_ROUNDS", 4)


def add_user(session, username, *, email=None, roles=("csm",), active=True) -> User:
    user = User(
        username=username,
        name=username.title(),
        email=email or f"{username}@example.com",
        password_hash=authentication.hash_password(PASSWORD),
        roles=",".join(roles),
        is_active=active,
    )
    session.add(user)
    session.commit()
    return user


def actor(user: User) -> Actor:
    return Actor(id=user.id, username=user.username, roles=tuple(user.roles.split(",")))


def sign_in(engine, email, verified=True) -> sso.SsoOutcome:
    with session_scope(engine) as session:
        return sso.sso_sign_in(
            session=session, email=email, email_verified=verified, provider="acme"
        )


def audit(engine) -> list[tuple[str, str]]:
    with Session(engine) as session:
        return [
            (row.actor, row.action) for row in session.exec(select(AuditLog).order_by(AuditLog.id))
        ]


def test_a_verified_email_signs_in_its_account_ignoring_case_with_roles_from_the_database(
    engine, session
):
    add_user(session, "alice", email="Alice.Smith@Example.com", roles=("manager", "admin"))
    add_user(session, "bob")

    outcome = sign_in(engine, "  alice.smith@EXAMPLE.com ")

    assert outcome.refusal is None
    assert outcome.user.username == "alice"
    assert outcome.user.roles == ("manager", "admin")
    assert audit(engine) == [("alice", "sso_sign_in")]


@pytest.mark.parametrize("claim", [False, None, "false", "", 1, "yes"])
def test_an_unverified_email_is_refused_even_when_an_account_uses_it(engine, session, claim):
    add_user(session, "alice")

    outcome = sign_in(engine, "alice@example.com", verified=claim)

    assert outcome.user is None
    assert outcome.refusal == sso.UNVERIFIED
    assert audit(engine) == [("sso:alice@example.com", "sso_sign_in_refused")]


def test_the_string_true_counts_as_verified(engine, session):
    add_user(session, "alice")
    assert sign_in(engine, "alice@example.com", verified="true").user.username == "alice"


@pytest.mark.parametrize("email", ["nobody@example.com", "", None, "alice@example.co"])
def test_an_unknown_email_is_refused_with_one_sentence(engine, session, email):
    add_user(session, "alice")

    outcome = sign_in(engine, email)

    assert outcome.user is None
    assert outcome.refusal == "No HyperCare Desk account uses that e-mail; ask an administrator."
    assert [action for _, action in audit(engine)] == ["sso_sign_in_refused"]


def test_an_inactive_account_is_refused_like_an_unknown_one(engine, session):
    add_user(session, "alice", active=False)

    outcome = sign_in(engine, "alice@example.com")

    assert outcome.user is None
    assert outcome.refusal == sso.NO_ACCOUNT


def test_an_inactive_account_sharing_the_email_does_not_block_the_active_one(engine, session):
    add_user(session, "old.alice", email="alice@example.com", active=False)
    add_user(session, "alice")

    assert sign_in(engine, "alice@example.com").user.username == "alice"


def test_two_active_accounts_with_one_email_are_refused(engine, session):
    add_user(session, "alice")
    add_user(session, "alice2", email="ALICE@example.com")

    outcome = sign_in(engine, "alice@example.com")

    assert outcome.user is None
    assert outcome.refusal == sso.AMBIGUOUS


def test_sso_sign_in_works_while_password_sign_in_is_off(engine, session):
    root = add_user(session, "root", roles=("admin",))
    alice = add_user(session, "alice")
    with session_scope(engine) as s:
        sso.set_password_sign_in(session=s, actor=actor(root), user_id=alice.id, allowed=False)

    assert sign_in(engine, "alice@example.com").user.username == "alice"


def test_password_sign_in_switched_off_refuses_the_right_password_like_a_wrong_one(engine, session):
    root = add_user(session, "root", roles=("admin",))
    alice = add_user(session, "alice")
    add_user(session, "bob")
    assert (
        authentication.sign_in(engine=engine, username="alice", password=PASSWORD).username
        == "alice"
    )

    with session_scope(engine) as s:
        sso.set_password_sign_in(session=s, actor=actor(root), user_id=alice.id, allowed=False)

    with pytest.raises(CommandRefused) as right:
        authentication.sign_in(engine=engine, username="alice", password=PASSWORD)
    with pytest.raises(CommandRefused) as wrong:
        authentication.sign_in(engine=engine, username="bob", password="not-the-password")
    with pytest.raises(CommandRefused) as unknown:
        authentication.sign_in(engine=engine, username="nobody", password=PASSWORD)
    assert (
        str(right.value)
        == str(wrong.value)
        == str(unknown.value)
        == authentication.WRONG_CREDENTIALS
    )
    with Session(engine) as s:
        assert s.get(User, alice.id).failed_logins == 0  # refused attempts lock nobody out
        assert sso.password_sign_in_allowed(session=s, user_id=alice.id) is False

    with session_scope(engine) as s:
        sso.set_password_sign_in(session=s, actor=actor(root), user_id=alice.id, allowed=True)
    assert (
        authentication.sign_in(engine=engine, username="alice", password=PASSWORD).username
        == "alice"
    )
    assert ("root", "set_password_sign_in") in audit(engine)


def test_new_users_may_sign_in_with_a_password(engine, session):
    alice = add_user(session, "alice")
    assert sso.password_sign_in_allowed(session=session, user_id=alice.id) is True


def test_only_an_admin_switches_password_sign_in_and_never_their_own(engine, session):
    root = add_user(session, "root", roles=("admin",))
    manager = add_user(session, "boss", roles=("manager",))
    alice = add_user(session, "alice")

    with pytest.raises(CommandRefused, match="administrator"), session_scope(engine) as s:
        sso.set_password_sign_in(session=s, actor=actor(manager), user_id=alice.id, allowed=False)
    with pytest.raises(CommandRefused, match="your own"), session_scope(engine) as s:
        sso.set_password_sign_in(session=s, actor=actor(root), user_id=root.id, allowed=False)
    with pytest.raises(CommandRefused, match="no user"), session_scope(engine) as s:
        sso.set_password_sign_in(session=s, actor=actor(root), user_id=9999, allowed=False)

    with Session(engine) as s:
        assert sso.password_sign_in_allowed(session=s, user_id=alice.id) is True
        assert sso.password_sign_in_allowed(session=s, user_id=root.id) is True
    assert "set_password_sign_in" not in [action for _, action in audit(engine)]


NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("issued_at", "fresh"),
    [
        (NOW.timestamp(), True),
        ((NOW - timedelta(minutes=9)).timestamp(), True),
        (int((NOW - sso.MAX_IDENTITY_AGE).timestamp()), True),
        ((NOW - sso.MAX_IDENTITY_AGE - timedelta(seconds=1)).timestamp(), False),
        ((NOW + timedelta(hours=1)).timestamp(), False),
        (None, False),
        ("1764504000", False),
        (True, False),
    ],
)
def test_an_identity_signs_in_only_shortly_after_the_provider_issued_it(issued_at, fresh):
    assert sso.is_fresh(issued_at, now=NOW) is fresh


@pytest.mark.parametrize(
    "end_sessions",
    [
        lambda s, root, alice: users.end_other_sessions(session=s, actor=actor(alice)),
        lambda s, root, alice: users.reset_password(
            session=s, actor=actor(root), user_id=alice.id, new_password="another-Passw0rd!"
        ),
        lambda s, root, alice: users.set_roles(
            session=s, actor=actor(root), user_id=alice.id, roles=["manager"]
        ),
    ],
    ids=["sign out everywhere", "password reset", "role change"],
)
def test_an_identity_issued_before_the_sessions_were_ended_is_not_used(
    engine, session, end_sessions
):
    root = add_user(session, "root", roles=("admin",))
    alice = add_user(session, "alice")
    issued = sso.issue_time(int(datetime.now(UTC).timestamp()) - 60)

    with session_scope(engine) as s:
        end_sessions(s, root, alice)
    with session_scope(engine) as s:
        stale = sso.sso_sign_in(
            session=s,
            email="alice@example.com",
            email_verified=True,
            provider="acme",
            issued_at=issued,
        )
        later = sso.sso_sign_in(
            session=s,
            email="alice@example.com",
            email_verified=True,
            provider="acme",
            issued_at=sso.issue_time(datetime.now(UTC).timestamp() + 1),
        )

    assert stale == sso.SsoOutcome(user=None, refusal=None)
    assert later.user is not None and later.user.username == "alice"
    assert "sso_sign_in_refused" not in [action for _, action in audit(engine)]


def test_issue_time_reads_the_iat_claim():
    assert sso.issue_time(1_764_504_000) == datetime(2025, 11, 30, 12, 0, tzinfo=UTC)
    assert sso.issue_time("1764504000") is None
    assert sso.issue_time(True) is None
    assert sso.issue_time(None) is None
    assert sso.issue_time(1e20) is None


def test_an_operator_password_reset_switches_password_sign_in_back_on(engine, session):
    root = add_user(session, "root", roles=("admin",))
    alice = add_user(session, "alice", roles=("admin",))
    with session_scope(engine) as s:
        sso.set_password_sign_in(session=s, actor=actor(root), user_id=alice.id, allowed=False)

    with session_scope(engine) as s:
        users.operator_reset_password(
            session=s, operator="ops", username="alice", new_password="another-Passw0rd!"
        )

    assert authentication.sign_in(engine=engine, username="alice", password="another-Passw0rd!")
