"""The signed-in person a command acts for, and the one check every write command starts with.

A page's idea of who may do what can be stale (a cached read, a tab drawn before an admin changed
the roles), so commands decide for themselves: `authorise` re-reads the actor from the database in
the command's own transaction, checks the role, and locks and checks the customer against the
actor's scope. A refusal is one sentence (`CommandRefused`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TypeVar

from sqlmodel import Session, select

from data_access.audit import CommandRefused
from data_access.locking import for_update
from data_access.models import Customer, User
from data_access.scope import Scope
from domain.roles import ROLE_LABELS, Role, parse_roles, sees_all_customers

Row = TypeVar("Row")


@dataclass(frozen=True)
class Actor:
    """Who is acting: the signed-in user's id, username and roles as the page knew them."""

    id: int
    username: str
    roles: tuple[str, ...]
    is_system: bool = False

    @classmethod
    def of(cls, user) -> Actor:
        """From a `SignedInUser` (or anything with id, username and roles)."""
        return cls(id=int(user.id), username=str(user.username), roles=tuple(user.roles))

    @property
    def user_id(self) -> int | None:
        """The user row to store as who did it (a system actor has none)."""
        return None if self.is_system else self.id

    @classmethod
    def system(cls, name: str) -> Actor:
        """The operator's shell jobs (metric loader CLI, monitor job, seed): not a signed-in user.

        Shell only: anyone who can run a command on the server already owns the database, so the
        system actor holds the admin role without a user row and sees every customer. Refused
        inside a Streamlit script run, so no page can act as the system (pages use `Actor.of`).
        """
        from streamlit.runtime.scriptrunner import get_script_run_ctx

        if get_script_run_ctx(suppress_warning=True) is not None:
            raise RuntimeError("Actor.system() is for shell jobs; a page acts as Actor.of(user).")
        text = name.strip()
        if not text:
            raise ValueError("A system actor needs a name for the audit log.")
        return cls(id=0, username=text, roles=(Role.ADMIN.value,), is_system=True)


def _role_names(roles: Iterable[str]) -> str:
    """The roles that may, in words: "a manager or administrator", "an administrator"."""
    names = [ROLE_LABELS.get(role, role).lower() for role in roles]
    words = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]
    return ("an " if words[:1] in "aeiou" else "a ") + words


def authorise(
    session: Session,
    actor: Actor,
    *,
    roles: Iterable[str],
    customer_id: int | None = None,
) -> Customer | None:
    """Check, in the caller's transaction, that `actor` is active, holds one of `roles` now, and
    (with `customer_id`) may act on that customer; returns the customer, locked and read fresh.

    The roles and portfolio are read from the database, never from the page: an admin who
    removed a role or moved a customer a second ago has the last word.
    """
    allowed = tuple(roles)
    if actor.is_system:
        held = actor.roles  # a shell job: its role is checked like anyone's; it sees every customer
    else:
        account = session.exec(for_update(select(User).where(User.id == actor.id))).first()
        if account is None or not account.is_active:
            raise CommandRefused("Your account is no longer active; sign in again.")
        held = parse_roles(account.roles)
    if not set(held) & set(allowed):
        raise CommandRefused(f"Only {_role_names(allowed)} may do that.")
    if customer_id is None:
        return None
    customer = session.exec(for_update(select(Customer).where(Customer.id == customer_id))).first()
    if customer is None:
        raise CommandRefused(f"There is no customer #{customer_id}.")
    if actor.is_system or sees_all_customers(held):
        return customer
    if not _in_portfolio(session, actor.id, customer):
        raise CommandRefused(f"{customer.name} is not in your portfolio.")
    return customer


def authorise_row(
    session: Session,
    actor: Actor,
    table: type[Row],
    row_id: int,
    *,
    roles: Iterable[str],
    missing: str,
) -> tuple[Row, Customer]:
    """Row `row_id` of `table` (a table with a `customer_id`), locked and read fresh, and its
    customer, once `authorise` lets `actor` act on that customer; `missing` when there is no row.

    Locks are taken user, customer, then the row, in the same order as every other command.
    """
    customer_id = session.exec(select(table.customer_id).where(table.id == row_id)).first()
    if customer_id is None:
        raise CommandRefused(missing)
    customer = authorise(session, actor, roles=roles, customer_id=customer_id)
    row = session.exec(for_update(select(table).where(table.id == row_id))).one()
    return row, customer


def _in_portfolio(session: Session, user_id: int, customer: Customer) -> bool:
    """The same rule as the reads (`Scope`): their own customers, and a customer while one of
    its open cases is assigned to them (so a reassignment never strands that case)."""
    if user_id in (customer.csm_id, customer.hypercare_resource_id):
        return True
    scope = Scope(user_id=user_id, all_customers=False, customer_id=customer.id)
    return session.exec(select(Customer.id).where(scope.customer_filter())).first() is not None
