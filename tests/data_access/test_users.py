"""Users, sign-in, lockout, ending sessions, the last admin and operator recovery (both engines)."""

import io
import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session, select

from data_access import authentication, users
from data_access.actor import Actor
from data_access.audit import CommandRefused
from data_access.db import session_scope
from data_access.models import AuditLog, User
from domain.security import LOCKOUT, MAX_FAILED_LOGINS, locked_message

PASSWORD = "correct-horse-1"


@pytest.fixture(autouse=True)
def cheap_hashes(monkeypatch):
    """New hashes at bcrypt's lowest cost keep these tests quick; checks work the same."""
    monkeypatch.setattr(authentication, "BCRYPT_ROUNDS", 4)


def add_user(session, username, roles=("csm",), password=PASSWORD, active=True) -> User:
    """A user written directly (no actor needed), committed."""
    user = User(
        username=username,
        name=username.title(),
        email=f"{username}@example.com",
        password_hash=authentication.hash_password(password),
        roles=",".join(roles),
        is_active=active,
    )
    session.add(user)
    session.commit()
    return user


def actor(user: User) -> Actor:
    return Actor(id=user.id, username=user.username, roles=tuple(user.roles.split(",")))


@pytest.fixture
def root(session) -> Actor:
    return actor(add_user(session, "root", roles=("admin",)))


def make_user(session, root: Actor, username="alice", roles=("csm",), password=PASSWORD) -> User:
    user = users.create_user(
        session=session,
        actor=root,
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


def fresh(engine, username) -> User:
    with Session(engine) as session:
        return session.exec(select(User).where(User.username == username)).one()


def actions(engine) -> list[str]:
    with Session(engine) as session:
        return list(session.exec(select(AuditLog.action).order_by(AuditLog.id)))


class CountingChecks:
    """Wraps `password_matches` to count the bcrypt checks made (thread-safe)."""

    def __init__(self, monkeypatch, wait_for=None):
        self.count = 0
        self.lock = threading.Lock()
        self.real = authentication.password_matches
        self.wait_for = wait_for
        monkeypatch.setattr(authentication, "password_matches", self)

    def __call__(self, password, password_hash):
        with self.lock:
            self.count += 1
        if self.wait_for is not None:
            assert self.wait_for.wait(timeout=60)
        return self.real(password, password_hash)


# --- Creating users -----------------------------------------------------------------------------


def test_created_user_has_bcrypt_hash_and_audit_row(session, root):
    user = make_user(session, root)
    assert user.password_hash.startswith(
        f"$2b${authentication.BCRYPT_ROUNDS:02d}$"
    )  # the chosen cost
    assert authentication.password_matches(PASSWORD, user.password_hash)
    assert not authentication.password_matches("wrong", user.password_hash)
    audit = session.exec(select(AuditLog).where(AuditLog.action == "create_user")).one()
    assert audit.actor == "root" and audit.entity_id == str(user.id)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("username", "A", "username must be"),
        ("email", "not-an-email", "is not an e-mail address"),
        ("password", "short1", "at least"),
        ("password", "é" * 36 + "-1", "at most 72 bytes"),
        ("roles", ("wizard",), "Unknown role"),
        ("roles", (), "at least one role"),
        ("timezone", "Mars/Olympus", "not a known time zone"),
    ],
)
def test_invalid_user_is_refused_and_nothing_written(session, root, field, value, message):
    values = dict(
        username="bob",
        name="Bob",
        email="bob@example.com",
        password="long-enough-1",
        roles=("csm",),
    )
    values[field] = value
    with pytest.raises(CommandRefused, match=message):
        users.create_user(session=session, actor=root, user_create=users.UserCreate(**values))
    session.rollback()
    assert [u.username for u in session.exec(select(User)).all()] == ["root"]
    assert session.exec(select(AuditLog)).all() == []


def test_only_an_admin_may_create_users(session, root):
    csm = actor(add_user(session, "carl"))
    with pytest.raises(CommandRefused, match="administrator may do that"):
        make_user(session, csm)


def test_duplicate_username_refused(session, root):
    make_user(session, root)
    with pytest.raises(CommandRefused, match="taken"):
        make_user(session, root)


# --- Sign-in and lockout ------------------------------------------------------------------------


def test_five_wrong_passwords_lock_for_fifteen_minutes(session):
    add_user(session, "alice")
    now = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
    for attempt in range(1, MAX_FAILED_LOGINS):
        assert (
            authentication.record_failed_login(session=session, username="alice", now=now) is None
        )
        session.commit()
        assert authentication.lock_state(session=session, username="alice", now=now) is None, (
            attempt
        )
    locked_until = authentication.record_failed_login(session=session, username="alice", now=now)
    session.commit()
    assert locked_until == now + LOCKOUT
    assert authentication.lock_state(
        session=session, username="alice", now=now + timedelta(minutes=14)
    )
    assert authentication.lock_state(session=session, username="alice", now=now + LOCKOUT) is None


def test_sign_in_with_the_right_password_returns_the_user_and_audits(engine, session):
    add_user(session, "alice")
    user = authentication.sign_in(engine=engine, username=" Alice ", password=PASSWORD)
    assert (user.username, user.session_version) == ("alice", 0)
    assert actions(engine) == ["sign_in"]


def test_four_wrong_then_the_right_password_signs_in_and_resets_the_count(engine, session):
    add_user(session, "alice")
    for _ in range(MAX_FAILED_LOGINS - 1):
        with pytest.raises(CommandRefused, match="username or password is wrong"):
            authentication.sign_in(engine=engine, username="alice", password="wrong-guess-1")
    assert fresh(engine, "alice").failed_logins == MAX_FAILED_LOGINS - 1
    authentication.sign_in(engine=engine, username="alice", password=PASSWORD)
    assert fresh(engine, "alice").failed_logins == 0
    assert actions(engine) == ["sign_in_failed"] * (MAX_FAILED_LOGINS - 1) + ["sign_in"]


def test_the_fifth_wrong_password_locks_and_the_right_one_cannot_clear_the_lock(
    engine, session, monkeypatch
):
    add_user(session, "alice")
    now = datetime.now(UTC)
    for attempt in range(1, MAX_FAILED_LOGINS + 1):
        with pytest.raises(CommandRefused) as refused:
            authentication.sign_in(
                engine=engine, username="alice", password="wrong-guess-1", now=now
            )
        if attempt < MAX_FAILED_LOGINS:
            assert str(refused.value) == authentication.WRONG_CREDENTIALS
    assert str(refused.value) == locked_message(now + LOCKOUT)
    checks = CountingChecks(monkeypatch)
    with pytest.raises(CommandRefused, match="locked after five wrong passwords"):
        authentication.sign_in(engine=engine, username="alice", password=PASSWORD)
    assert checks.count == 0  # a locked account's password is not even checked
    account = fresh(engine, "alice")
    assert account.locked_until is not None and account.locked_until > datetime.now(UTC)
    assert "sign_in" not in actions(engine)
    # Once the lock has run out the right password works again.
    authentication.sign_in(engine=engine, username="alice", password=PASSWORD, now=now + LOCKOUT)


def test_a_lock_set_while_the_right_password_was_checked_is_not_cleared(
    engine, session, monkeypatch
):
    """The outcome is recorded after re-reading the lock: a lock that another session set
    during the bcrypt check stays, and the right password is refused. That other session can
    write at all because no transaction is open during the check (on SQLite a sign-in holding
    its write lock through bcrypt made it wait out the busy timeout: "database is locked")."""
    add_user(session, "alice")
    real = authentication.password_matches

    def lock_meanwhile(password, password_hash):
        with session_scope(engine) as other:
            account = other.exec(select(User).where(User.username == "alice")).one()
            account.locked_until = datetime.now(UTC) + LOCKOUT
            other.add(account)
        return real(password, password_hash)

    monkeypatch.setattr(authentication, "password_matches", lock_meanwhile)
    with pytest.raises(CommandRefused, match="locked after five wrong passwords"):
        authentication.sign_in(engine=engine, username="alice", password=PASSWORD)
    assert fresh(engine, "alice").locked_until > datetime.now(UTC)
    assert "sign_in" not in actions(engine)


def test_twelve_sign_ins_at_once_check_at_most_five_passwords_and_the_right_one_waits(
    engine, session, monkeypatch
):
    """Eleven wrong passwords and one right one, all at once: the attempts are counted under
    the row lock before any bcrypt check ends, so only five are checked; the others wait for
    them to settle, and as none does in time (the checks are held until every attempt has
    begun), they count as failures and lock the account; the right password cannot clear that
    lock."""
    monkeypatch.setattr(authentication, "IN_FLIGHT_WAIT_S", 0.5)
    add_user(session, "alice")
    attempts = 12
    begun = threading.Semaphore(0)
    all_begun = threading.Event()
    real_begin = authentication._begin_attempt

    def counted_begin(*args, **kwargs):
        try:
            return real_begin(*args, **kwargs)
        finally:
            begun.release()

    def wait_for_all():
        for _ in range(attempts):
            assert begun.acquire(timeout=60)
        all_begun.set()

    monkeypatch.setattr(authentication, "_begin_attempt", counted_begin)
    checks = CountingChecks(monkeypatch, wait_for=all_begun)
    start = threading.Barrier(attempts)
    outcomes: list[str] = []

    def attempt(password):
        start.wait(timeout=60)
        try:
            authentication.sign_in(engine=engine, username="alice", password=password)
            outcomes.append("signed in")
        except CommandRefused as exc:
            outcomes.append(str(exc))

    passwords = ["wrong-guess-1"] * (attempts - 1) + [PASSWORD]
    threads = [threading.Thread(target=attempt, args=(p,)) for p in passwords]
    watcher = threading.Thread(target=wait_for_all)
    watcher.start()
    for thread in threads:
        thread.start()
    for thread in [*threads, watcher]:
        thread.join(timeout=120)
    assert len(outcomes) == attempts
    assert "signed in" not in outcomes
    assert checks.count <= MAX_FAILED_LOGINS
    assert all("locked after five wrong passwords" in o for o in outcomes), outcomes
    account = fresh(engine, "alice")
    assert account.locked_until is not None and account.locked_until > datetime.now(UTC)
    assert "sign_in" not in actions(engine)


def test_unknown_username_is_checked_like_a_wrong_password_and_gets_the_same_answer(
    engine, session, monkeypatch
):
    add_user(session, "alice")
    checks = CountingChecks(monkeypatch)
    with pytest.raises(CommandRefused) as unknown:
        authentication.sign_in(engine=engine, username="nobody", password="wrong-guess-1")
    assert checks.count == 1  # a dummy bcrypt check of the same cost
    with pytest.raises(CommandRefused) as wrong:
        authentication.sign_in(engine=engine, username="alice", password="wrong-guess-1")
    assert str(unknown.value) == str(wrong.value) == authentication.WRONG_CREDENTIALS


def test_deactivated_user_cannot_sign_in_even_with_the_right_password(engine, session):
    add_user(session, "alice", active=False)
    with pytest.raises(CommandRefused, match="username or password is wrong"):
        authentication.sign_in(engine=engine, username="alice", password=PASSWORD)


def test_over_long_password_at_sign_in_is_just_wrong(engine, session):
    add_user(session, "alice")
    with pytest.raises(CommandRefused, match="username or password is wrong"):
        authentication.sign_in(engine=engine, username="alice", password=PASSWORD + "x" * 80)


def test_unknown_username_failure_is_harmless(session):
    assert authentication.record_failed_login(session=session, username="nobody") is None


def test_reset_password_unlocks_and_ends_sessions(session, root):
    alice = make_user(session, root)
    for _ in range(MAX_FAILED_LOGINS):
        authentication.record_failed_login(session=session, username="alice")
    session.commit()
    assert authentication.lock_state(session=session, username="alice")
    users.reset_password(session=session, actor=root, user_id=alice.id, new_password="brand-new-2")
    session.commit()
    assert authentication.lock_state(session=session, username="alice") is None
    assert authentication.session_user(session=session, username="alice", session_version=0) is None
    assert authentication.session_user(session=session, username="alice", session_version=1)


# --- Ending sessions ----------------------------------------------------------------------------


def test_session_user_needs_an_active_user_and_the_current_version(session):
    add_user(session, "alice")
    assert authentication.session_user(
        session=session, username="alice", session_version=0
    ).roles == ("csm",)
    for stale in (1, None, "0", True):
        assert (
            authentication.session_user(session=session, username="alice", session_version=stale)
            is None
        )
    assert (
        authentication.session_user(session=session, username="nobody", session_version=0) is None
    )


@pytest.mark.parametrize(
    "change",
    [
        lambda s, root, alice: users.set_roles(
            session=s, actor=root, user_id=alice.id, roles=["manager"]
        ),
        lambda s, root, alice: users.set_active(
            session=s, actor=root, user_id=alice.id, active=False
        ),
        lambda s, root, alice: users.reset_password(
            session=s, actor=root, user_id=alice.id, new_password="brand-new-2"
        ),
        lambda s, root, alice: users.end_other_sessions(session=s, actor=actor(alice)),
    ],
    ids=["role change", "deactivation", "password reset", "sign out everywhere"],
)
def test_account_changes_end_open_sessions(session, root, change):
    alice = make_user(session, root)
    assert authentication.session_user(session=session, username="alice", session_version=0)
    change(session, root, alice)
    session.commit()
    assert authentication.session_user(session=session, username="alice", session_version=0) is None


def test_sign_out_everywhere_returns_the_version_this_session_keeps(session, root):
    alice = make_user(session, root)
    version = users.end_other_sessions(session=session, actor=actor(alice))
    session.commit()
    assert authentication.session_user(session=session, username="alice", session_version=version)
    audit = session.exec(select(AuditLog).where(AuditLog.action == "sign_out_everywhere")).one()
    assert audit.actor == "alice"


def test_an_admin_adding_a_role_to_themselves_keeps_their_session(session, root):
    account = session.get(User, root.id)
    users.set_roles(session=session, actor=root, user_id=root.id, roles=["admin", "manager"])
    session.commit()
    assert authentication.session_user(session=session, username="root", session_version=0)
    assert account.roles == "admin,manager"


# --- My account: password change ----------------------------------------------------------------


def test_change_own_password_checks_the_current_one_and_ends_other_sessions(engine, session, root):
    alice = actor(make_user(session, root))
    with pytest.raises(CommandRefused, match="current password is wrong"):
        authentication.change_own_password(
            engine=engine, actor=alice, current_password="nope", new_password="another-1-pass"
        )
    version = authentication.change_own_password(
        engine=engine, actor=alice, current_password=PASSWORD, new_password="another-1-pass"
    )
    account = fresh(engine, "alice")
    assert authentication.password_matches("another-1-pass", account.password_hash)
    assert (account.session_version, version, account.failed_logins) == (1, 1, 0)
    assert actions(engine)[-2:] == ["wrong_current_password", "change_password"]


def test_wrong_current_passwords_share_the_sign_in_lockout(engine, session, root, monkeypatch):
    alice = actor(make_user(session, root))
    for _ in range(MAX_FAILED_LOGINS - 1):
        with pytest.raises(CommandRefused, match="username or password is wrong"):
            authentication.sign_in(engine=engine, username="alice", password="wrong-guess-1")
    with pytest.raises(CommandRefused, match="locked after five wrong passwords"):
        authentication.change_own_password(
            engine=engine, actor=alice, current_password="nope-1", new_password="another-1-pass"
        )
    checks = CountingChecks(monkeypatch)
    with pytest.raises(CommandRefused, match="locked after five wrong passwords"):
        authentication.change_own_password(
            engine=engine, actor=alice, current_password=PASSWORD, new_password="another-1-pass"
        )
    assert checks.count == 0
    assert authentication.password_matches(PASSWORD, fresh(engine, "alice").password_hash)
    assert actions(engine).count("wrong_current_password") == 1
    assert "account_locked" in actions(engine)


def test_new_password_over_72_bytes_is_refused_with_a_sentence(engine, session, root):
    alice = actor(make_user(session, root))
    with pytest.raises(CommandRefused, match="at most 72 bytes"):
        authentication.change_own_password(
            engine=engine, actor=alice, current_password=PASSWORD, new_password="a1" * 40
        )
    with pytest.raises(CommandRefused, match="at most 72 bytes"):
        users.reset_password(session=session, actor=root, user_id=alice.id, new_password="a1" * 40)


# --- The last admin -----------------------------------------------------------------------------


def test_admin_cannot_lock_themselves_out(session, root):
    with pytest.raises(CommandRefused, match="own admin role"):
        users.set_roles(session=session, actor=root, user_id=root.id, roles=["csm"])
    session.rollback()
    with pytest.raises(CommandRefused, match="own account"):
        users.set_active(session=session, actor=root, user_id=root.id, active=False)


def test_the_last_active_admin_keeps_the_role(session, root):
    """An admin account that lost its admin role in the meantime cannot demote the last one."""
    other = add_user(session, "ops", roles=("admin",))
    users.set_roles(session=session, actor=root, user_id=other.id, roles=["manager"])
    session.commit()
    with pytest.raises(CommandRefused, match="administrator may do that"):
        users.set_roles(session=session, actor=actor(other), user_id=root.id, roles=["csm"])


def _at_once(engine, commands) -> list[str]:
    """Run each command in its own thread and transaction, all at once; the outcomes."""
    start = threading.Barrier(len(commands))
    outcomes: dict[int, str] = {}

    def run(index, command):
        start.wait(timeout=60)
        try:
            with session_scope(engine) as session:
                command(session)
            outcomes[index] = "done"
        except CommandRefused as exc:
            outcomes[index] = str(exc)

    threads = [threading.Thread(target=run, args=item) for item in enumerate(commands)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return [outcomes[i] for i in range(len(commands))]


def active_admins(engine) -> list[str]:
    with Session(engine) as session:
        rows = session.exec(select(User).where(User.is_active)).all()
    return [u.username for u in rows if "admin" in u.roles.split(",")]


@pytest.mark.parametrize("second_action", ["demote", "deactivate"])
def test_two_admins_removing_each_other_at_once_leave_one_admin(
    engine, session, root, second_action
):
    ops = actor(add_user(session, "ops", roles=("admin",)))

    def demote_ops(s):
        users.set_roles(session=s, actor=root, user_id=ops.id, roles=["manager"])

    def remove_root(s):
        if second_action == "demote":
            users.set_roles(session=s, actor=ops, user_id=root.id, roles=["manager"])
        else:
            users.set_active(session=s, actor=ops, user_id=root.id, active=False)

    outcomes = _at_once(engine, [demote_ops, remove_root])
    assert sorted(o == "done" for o in outcomes) == [False, True], outcomes
    assert len(active_admins(engine)) == 1


# --- Operator recovery --------------------------------------------------------------------------


def test_command_line_unlock(engine, session, capsys):
    add_user(session, "alice")
    for _ in range(MAX_FAILED_LOGINS):
        authentication.record_failed_login(session=session, username="alice")
    session.commit()
    assert users.main(["unlock", "Alice"], engine=engine) == 0
    assert "alice is unlocked" in capsys.readouterr().out
    account = fresh(engine, "alice")
    assert (account.locked_until, account.failed_logins) == (None, 0)
    with Session(engine) as s:
        audit = s.exec(select(AuditLog).where(AuditLog.action == "unlock")).one()
    assert audit.actor.startswith("operator:")


def test_command_line_reset_password(engine, session, capsys):
    add_user(session, "alice")
    for _ in range(MAX_FAILED_LOGINS):
        authentication.record_failed_login(session=session, username="alice")
    session.commit()
    status = users.main(
        ["reset-password", "alice"], engine=engine, stdin=io.StringIO("fresh-Start-42\n")
    )
    assert status == 0, capsys.readouterr().err
    account = fresh(engine, "alice")
    assert authentication.password_matches("fresh-Start-42", account.password_hash)
    assert (account.locked_until, account.session_version) == (None, 1)
    authentication.sign_in(engine=engine, username="alice", password="fresh-Start-42")


def test_command_line_refusals_are_one_sentence_and_exit_1(engine, session, capsys):
    add_user(session, "alice")
    assert users.main(["unlock", "nobody"], engine=engine) == 1
    assert capsys.readouterr().err.strip() == "There is no user 'nobody'."
    stdin = io.StringIO("short\n")
    assert users.main(["reset-password", "alice"], engine=engine, stdin=stdin) == 1
    assert "at least" in capsys.readouterr().err
    assert authentication.password_matches(PASSWORD, fresh(engine, "alice").password_hash)


def test_every_failed_sign_in_is_audited_unknown_names_and_locked_accounts_too(engine, session):
    add_user(session, "alice")
    now = datetime.now(UTC)
    with pytest.raises(CommandRefused):
        authentication.sign_in(engine=engine, username="nobody", password="wrong-guess-1", now=now)
    for _ in range(MAX_FAILED_LOGINS):
        with pytest.raises(CommandRefused):
            authentication.sign_in(
                engine=engine, username="alice", password="wrong-guess-1", now=now
            )
    with pytest.raises(CommandRefused, match="locked"):
        authentication.sign_in(engine=engine, username="alice", password=PASSWORD, now=now)
    with Session(engine) as check:
        rows = check.exec(select(AuditLog).order_by(AuditLog.id)).all()
    assert [(row.actor, row.action) for row in rows] == [
        (authentication.UNKNOWN_ACTOR, "sign_in_failed"),
        *[("alice", "sign_in_failed")] * MAX_FAILED_LOGINS,
        ("alice", "account_locked"),
        ("alice", "sign_in_refused_locked"),
    ]
    assert '"username": "nobody"' in rows[0].detail


def test_ten_right_sign_ins_at_once_all_succeed_and_nothing_locks(engine, session):
    """The same person in ten tabs at once (or ten sessions of a load test): attempts beyond
    the five being checked wait for them to settle instead of locking the account."""
    add_user(session, "alice")
    start = threading.Barrier(10)
    outcomes: list[str] = []

    def attempt():
        start.wait(timeout=60)
        try:
            authentication.sign_in(engine=engine, username="alice", password=PASSWORD)
            outcomes.append("signed in")
        except CommandRefused as exc:
            outcomes.append(str(exc))

    threads = [threading.Thread(target=attempt) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert outcomes == ["signed in"] * 10
    account = fresh(engine, "alice")
    assert account.locked_until is None and account.failed_logins == 0
