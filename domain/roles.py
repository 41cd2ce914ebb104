"""Staff roles and what each may see (SPEC: "Who uses it")."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    CSM = "csm"
    MANAGER = "manager"
    SURVEY_STAFF = "survey_staff"
    ADMIN = "admin"


ROLE_LABELS: dict[str, str] = {
    Role.CSM: "Customer-success manager",
    Role.MANAGER: "Manager",
    Role.SURVEY_STAFF: "Survey staff",
    Role.ADMIN: "Administrator",
}

ALL_CUSTOMER_ROLES = frozenset({Role.MANAGER, Role.ADMIN})


def parse_roles(text: str) -> tuple[str, ...]:
    """Roles stored as comma-separated text; unknown names are dropped, order is kept."""
    known = {role.value for role in Role}
    seen: list[str] = []
    for part in (text or "").split(","):
        name = part.strip()
        if name in known and name not in seen:
            seen.append(name)
    return tuple(seen)


def sees_all_customers(roles: tuple[str, ...] | list[str]) -> bool:
    """Managers and admins see every customer; a CSM sees only their own portfolio."""
    return any(role in ALL_CUSTOMER_ROLES for role in roles)
