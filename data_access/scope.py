"""Which customers a signed-in person may see: a CSM their portfolio, managers and admins all.

A CSM also sees a customer while one of its open cases is assigned to them: an admin who moves
the customer to another CSM must not strand that case out of its assignee's sight.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from sqlalchemy import and_, or_, select, true
from sqlalchemy.sql.elements import ColumnElement

from data_access.models import Case, Customer
from domain.lifecycle import OPEN_STATUSES
from domain.roles import sees_all_customers

if TYPE_CHECKING:  # users imports actor, which reads its portfolio rule from here
    from data_access.authentication import SignedInUser


@dataclass(frozen=True)
class Scope:
    user_id: int
    all_customers: bool
    customer_id: int | None = None

    @classmethod
    def for_user(cls, user: SignedInUser) -> Scope:
        return cls(user_id=user.id, all_customers=sees_all_customers(user.roles))

    def narrowed_to(self, customer_id: int) -> Scope:
        """The same viewer, looking at one customer only (still only if in their portfolio)."""
        return replace(self, customer_id=customer_id)

    def customer_filter(self) -> ColumnElement[bool]:
        """A WHERE clause on `Customer` limiting rows to this scope."""
        visible = (
            true()
            if self.all_customers
            else or_(
                Customer.csm_id == self.user_id,
                Customer.hypercare_resource_id == self.user_id,
                Customer.id.in_(self._customers_with_open_cases_assigned()),
            )
        )
        if self.customer_id is None:
            return visible
        return and_(visible, Customer.id == self.customer_id)

    def _customers_with_open_cases_assigned(self):
        return select(Case.customer_id).where(
            Case.assignee_id == self.user_id, Case.status.in_(OPEN_STATUSES)
        )
