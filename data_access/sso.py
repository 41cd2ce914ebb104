"""Enterprise sign-in through the company's identity provider (OIDC, Streamlit's `st.login`).

The provider only proves who the person is; HyperCare Desk decides whether they get in. A
provider identity signs in the one active account whose e-mail equals the identity's e-mail
(ignoring case), and only when the provider says it verified that e-mail: no account, no
access. Roles and scope come from our database exactly as for a password sign-in.

An identity is accepted only for `MAX_IDENTITY_AGE` after the provider issued it, and never
when the account's sessions were ended after that (password change or reset, role change,
deactivation, "Sign out everywhere", as the audit log records): Streamlit keeps the identity in
a cookie of its own, and it must not sign a browser back in that was signed out that way. Our
own session cookie, with its session version, keeps a sign-in across reloads instead.

Per user, `password_sign_in` switches the password form off for people who should sign in only
through the provider; `data_access.authentication.sign_in` then refuses them with the same sentence as a
wrong password.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func
from sqlmodel import Session, select

from data_access.actor import Actor, authorise
from data_access.audit import CommandRefused, record_audit
from data_access.authentication import SignedInUser, signed_in_user
from data_access.locking import for_update
from data_access.models import AuditLog, User, utc_now
from domain.roles import Role

NO_ACCOUNT = "No HyperCare Desk account uses that e-mail; ask an administrator."
UNVERIFIED = (
    "Your identity provider has not confirmed that e-mail address as verified, so it cannot be "
    "used to sign in; ask an administrator."
)
AMBIGUOUS = "More than one HyperCare Desk account uses that e-mail; ask an administrator."
MAX_IDENTITY_AGE = timedelta(minutes=10)
# Audited actions (data_access.users) after which an account's earlier sessions have ended.
SESSION_ENDING_ACTIONS = (
    "change_password",
    "reset_password",
    "set_roles",
    "deactivate_user",
    "sign_out_everywhere",
)


@dataclass(frozen=True)
class SsoOutcome:
    """A provider identity's result: the signed-in user, the one sentence refusing it, or
    neither (an identity from before the account's sessions were ended: simply not used)."""

    user: SignedInUser | None
    refusal: str | None = None


def is_verified(claim: object) -> bool:
    """Only an explicit "verified" counts (JSON true; some providers send the string "true")."""
    return claim is True or (isinstance(claim, str) and claim.strip().lower() == "true")


def issue_time(claim: object) -> datetime | None:
    """The ID token's `iat` claim (POSIX seconds) as a UTC datetime, or None if malformed."""
    if isinstance(claim, bool) or not isinstance(claim, int | float):
        return None
    try:
        return datetime.fromtimestamp(claim, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


def is_fresh(issued_at: object, *, now: datetime | None = None) -> bool:
    """Whether an identity issued at `issued_at` (POSIX seconds, the ID token's `iat`) may still
    sign in: issued at most `MAX_IDENTITY_AGE` ago (and not more than a minute ahead)."""
    if isinstance(issued_at, bool) or not isinstance(issued_at, int | float):
        return False
    now = now or utc_now()
    age = now.timestamp() - float(issued_at)
    return -60 <= age <= MAX_IDENTITY_AGE.total_seconds()


def _refuse(session: Session, *, email: str, provider: str, reason: str, text: str) -> SsoOutcome:
    record_audit(
        session=session,
        actor=f"sso:{email[:180]}",
        action="sso_sign_in_refused",
        entity="user",
        entity_id=None,
        detail={"provider": provider, "reason": reason},
    )
    return SsoOutcome(user=None, refusal=text)


def _sessions_ended_since(session: Session, user: User, issued_at: datetime) -> bool:
    """Whether the account's sessions were ended at or after `issued_at` (whole seconds, as
    the ID token's `iat`); reads only the audit rows since then (`at` is indexed)."""
    statement = select(AuditLog.id).where(
        AuditLog.at >= issued_at.replace(microsecond=0),
        AuditLog.entity == "user",
        AuditLog.entity_id == str(user.id),
        AuditLog.action.in_(SESSION_ENDING_ACTIONS),
    )
    return session.exec(statement.limit(1)).first() is not None


def sso_sign_in(
    *,
    session: Session,
    email: object,
    email_verified: object,
    provider: str,
    issued_at: datetime | None = None,
) -> SsoOutcome:
    """Sign in the one active account whose e-mail (ignoring case and surrounding spaces) is
    the identity's verified e-mail, unless its sessions were ended after the identity was
    issued (`issued_at`); signing in and refusals are audited in the caller's transaction."""
    address = email.strip() if isinstance(email, str) else ""
    if not address:
        return _refuse(session, email="", provider=provider, reason="no e-mail", text=NO_ACCOUNT)
    if not is_verified(email_verified):
        return _refuse(
            session, email=address, provider=provider, reason="unverified", text=UNVERIFIED
        )
    matches = session.exec(
        select(User).where(User.is_active, func.lower(User.email) == address.lower())
    ).all()
    if not matches:
        return _refuse(
            session, email=address, provider=provider, reason="no account", text=NO_ACCOUNT
        )
    if len(matches) > 1:
        return _refuse(
            session, email=address, provider=provider, reason="ambiguous", text=AMBIGUOUS
        )
    (user,) = matches
    if issued_at is not None and _sessions_ended_since(session, user, issued_at):
        return SsoOutcome(user=None)
    record_audit(
        session=session,
        actor=user.username,
        action="sso_sign_in",
        entity="user",
        entity_id=user.id,
        detail={"provider": provider},
    )
    return SsoOutcome(user=signed_in_user(session=session, username=user.username))


def password_sign_in_allowed(*, session: Session, user_id: int) -> bool:
    """Whether the user may sign in with a password (False: only through the provider)."""
    allowed = session.exec(select(User.password_sign_in).where(User.id == user_id)).first()
    return bool(allowed) if allowed is not None else False


def set_password_sign_in(*, session: Session, actor: Actor, user_id: int, allowed: bool) -> User:
    """Switch a user's password sign-in on or off (admins only); an admin cannot switch off
    their own, so that a missing provider never locks the last way in."""
    authorise(session, actor, roles=[Role.ADMIN])
    user = session.exec(for_update(select(User).where(User.id == user_id))).first()
    if user is None:
        raise CommandRefused(f"There is no user with id {user_id}.")
    if not allowed and user.id == actor.id:
        raise CommandRefused("You cannot switch off your own password sign-in.")
    before = user.password_sign_in
    user.password_sign_in = bool(allowed)
    session.add(user)
    record_audit(
        session=session,
        actor=actor.username,
        action="set_password_sign_in",
        entity="user",
        entity_id=user.id,
        detail={"from": before, "to": user.password_sign_in},
    )
    return user
