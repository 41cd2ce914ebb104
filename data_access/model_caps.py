"""Model caps: which production models are in daily monitoring and the weekly report, and tier
changes, which may lower those caps.

Enrolling past a cap is refused with `EnrolmentRefused`, which names the cap and the models
already in; the refusal writes nothing, and `record_over_cap_attempt` keeps it visible to
managers in a transaction of its own. Every command locks the customer row first, so two people
enrolling the last free place are served one after the other.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import pandas as pd
from sqlmodel import Session, select

from data_access import locking
from data_access.actor import Actor, authorise, authorise_row
from data_access.audit import CommandRefused, record_audit
from data_access.entitlement_ledger import customer_allowance
from data_access.models import PlanningModel, TierChange, Workspace, utc_now
from data_access.policies import tier_labels, tier_policies
from domain.entitlements import (
    CapExceeded,
    Entitlement,
    allowance,
    check_enrolment,
    models_to_drop_on_downgrade,
)
from domain.roles import Role

ENROLMENTS: dict[str, tuple[Entitlement, str]] = {
    "monitoring": (Entitlement.MONITORED_MODELS, "in_monitoring"),
    "weekly_report": (Entitlement.WEEKLY_REPORT_MODELS, "in_weekly_report"),
}


ENROLMENT_LABELS = {"monitoring": "daily monitoring", "weekly_report": "the weekly report"}


ENROLMENT_ROLES = (Role.CSM, Role.MANAGER, Role.ADMIN)


TIER_CHANGE_ROLES = (Role.MANAGER, Role.ADMIN)


class EnrolmentRefused(CommandRefused):
    """Enrolling one more model would pass the tier's cap; carries what a manager should see."""

    def __init__(
        self, message: str, *, customer_id: int, model_id: int, which: str, cap: int, enrolled: int
    ) -> None:
        super().__init__(message)
        self.customer_id = customer_id
        self.model_id = model_id
        self.which = which
        self.cap = cap
        self.enrolled = enrolled


@dataclass(frozen=True)
class EnrolmentChanges:
    """What `set_enrolments` changed: model ids put in and taken out, per enrolment."""

    enrolled: dict[str, list[int]]
    unenrolled: dict[str, list[int]]

    def __bool__(self) -> bool:
        return any(self.enrolled.values()) or any(self.unenrolled.values())


def _model_labels(session: Session, customer_id: int) -> dict[int, str]:
    """Model names made unique with their workspace (two workspaces may hold 'Sales Plan')."""
    rows = session.exec(
        select(PlanningModel.id, PlanningModel.name, Workspace.name)
        .join(Workspace, Workspace.id == PlanningModel.workspace_id)
        .where(PlanningModel.customer_id == customer_id)
    ).all()
    labels = {model_id: f"{name} ({workspace})" for model_id, name, workspace in rows}
    taken = pd.Series(labels).value_counts()
    return {
        model_id: label if taken[label] == 1 else f"{label} #{model_id}"
        for model_id, label in labels.items()
    }


def set_enrolment(
    *,
    session: Session,
    model_id: int,
    which: str,
    enrolled: bool,
    actor: Actor,
) -> PlanningModel:
    """Enrol a production model in daily monitoring or the weekly report, or take it out.

    Enrolling past the tier's cap raises `EnrolmentRefused` naming the cap, the count and the
    enrolled models to choose from; a refused command writes nothing (record the attempt with
    `record_over_cap_attempt` in a transaction of its own). A CSM for their own customers'
    models, a manager or an admin for any.
    """
    authorise(session, actor, roles=ENROLMENT_ROLES)
    if which not in ENROLMENTS:
        raise CommandRefused("Choose daily monitoring or the weekly report.")
    kind, column = ENROLMENTS[which]
    model, customer = authorise_row(
        session,
        actor,
        PlanningModel,
        model_id,
        roles=ENROLMENT_ROLES,
        missing=f"There is no model with id {model_id}.",
    )
    customer_id = customer.id
    if bool(getattr(model, column)) == enrolled:
        return model
    if enrolled:
        cap = customer_allowance(session=session, customer=customer, kind=kind, on=utc_now().date())
        labels = _model_labels(session, customer_id)
        current = session.exec(
            select(PlanningModel.id)
            .where(PlanningModel.customer_id == customer_id, getattr(PlanningModel, column))
            .order_by(PlanningModel.name, PlanningModel.id)
        ).all()
        try:
            check_enrolment(
                cap,
                [labels[i] for i in current],
                labels[model_id],
                bool(model.is_production),
                place=ENROLMENT_LABELS[which],
            )
        except CapExceeded as exc:
            raise EnrolmentRefused(
                str(exc),
                customer_id=customer_id,
                model_id=model_id,
                which=which,
                cap=cap,
                enrolled=len(current),
            ) from None
        except ValueError as exc:
            raise CommandRefused(str(exc)) from None
    setattr(model, column, enrolled)
    session.add(model)
    record_audit(
        session=session,
        actor=actor.username,
        action="enrol_model" if enrolled else "unenrol_model",
        entity="planning_model",
        entity_id=model_id,
        detail={"customer_id": customer_id, "which": which, "model": model.name},
    )
    return model


def set_enrolments(
    *,
    session: Session,
    actor: Actor,
    customer_id: int,
    wanted: Mapping[str, Iterable[int]],
) -> EnrolmentChanges:
    """Make the customer's production models enrolled in each of `wanted`'s enrolments exactly
    the models it names ("monitoring" and/or "weekly_report"), in one transaction.

    Models are taken out before any is put in, so swapping one for another fits a full cap. Each
    change is `set_enrolment`'s, with its checks and audit row; one refused change (such as
    `EnrolmentRefused` past a cap) refuses the whole save. Models not in production cannot be
    enrolled and are left as they are. A CSM for their own customers, a manager or an admin.
    """
    customer = authorise(session, actor, roles=ENROLMENT_ROLES, customer_id=customer_id)
    if not set(wanted) <= set(ENROLMENTS):
        raise CommandRefused("Choose daily monitoring or the weekly report.")
    chosen = {which: {int(model_id) for model_id in ids} for which, ids in wanted.items()}
    models = session.exec(
        locking.for_update(select(PlanningModel).where(PlanningModel.customer_id == customer_id))
    ).all()
    if set().union(*chosen.values()) - {model.id for model in models}:
        raise CommandRefused(f"Choose models of {customer.name} only.")
    current = {
        which: {m.id for m in models if m.is_production and getattr(m, ENROLMENTS[which][1])}
        for which in chosen
    }
    changes = EnrolmentChanges(
        enrolled={which: sorted(chosen[which] - current[which]) for which in chosen},
        unenrolled={which: sorted(current[which] - chosen[which]) for which in chosen},
    )
    for enrolled, by_enrolment in ((False, changes.unenrolled), (True, changes.enrolled)):
        for which, model_ids in by_enrolment.items():
            for model_id in model_ids:
                set_enrolment(
                    session=session,
                    model_id=model_id,
                    which=which,
                    enrolled=enrolled,
                    actor=actor,
                )
    return changes


def record_over_cap_attempt(*, session: Session, actor: Actor, refusal: EnrolmentRefused) -> None:
    """Keep a refused over-cap enrolment visible to managers (its own small transaction); only by
    someone who may enrol that customer's models, so nobody can fill the list for others."""
    authorise(session, actor, roles=ENROLMENT_ROLES, customer_id=refusal.customer_id)
    record_audit(
        session=session,
        actor=actor.username,
        action="enrolment_refused",
        entity="planning_model",
        entity_id=refusal.model_id,
        detail={
            "customer_id": refusal.customer_id,
            "which": refusal.which,
            "cap": refusal.cap,
            "enrolled": refusal.enrolled,
            "message": str(refusal),
        },
    )


def apply_tier_change(
    *,
    session: Session,
    customer_id: int,
    new_tier: str,
    keep_model_ids: list[int] | None,
    actor: Actor,
) -> None:
    """Move a customer to another tier from today, for the rest of the subscription year.

    Nothing is dropped silently: when the new tier's cap is below what is enrolled in monitoring
    or the weekly report, `keep_model_ids` must name exactly as many of those models as the cap
    allows; the others are taken out. Used allowances still count; nothing delivered is undone.
    A manager or an admin only.
    """
    customer = authorise(session, actor, roles=TIER_CHANGE_ROLES, customer_id=customer_id)
    policies = tier_policies(session=session)
    labels = tier_labels(session=session)
    if new_tier not in policies:
        raise CommandRefused(f"There is no tier called {new_tier!r}.")
    if new_tier == customer.tier:
        raise CommandRefused(f"{customer.name} is already on {labels[new_tier]}.")
    models = session.exec(
        locking.for_update(select(PlanningModel).where(PlanningModel.customer_id == customer_id))
    ).all()
    keep = None if keep_model_ids is None else {int(i) for i in keep_model_ids}
    enrolled_ids = {m.id for m in models if m.in_monitoring or m.in_weekly_report}
    if keep is not None and not keep <= enrolled_ids:
        raise CommandRefused("The models to keep must be models this customer has enrolled.")
    dropped: dict[str, list[PlanningModel]] = {}
    for which, (kind, column) in ENROLMENTS.items():
        cap = allowance(policies[new_tier], kind)
        enrolled = [m for m in models if getattr(m, column)]
        excess = models_to_drop_on_downgrade(cap, [m.id for m in enrolled])
        if excess == 0:
            continue
        if keep is None:
            raise CommandRefused(
                f"{labels[new_tier]} allows {cap} models in {ENROLMENT_LABELS[which]} and "
                f"{len(enrolled)} are enrolled; choose the {cap} to keep ({excess} to drop)."
            )
        kept = [m for m in enrolled if m.id in keep]
        if len(kept) != cap:
            raise CommandRefused(
                f"Keep exactly {cap} of the {len(enrolled)} models in "
                f"{ENROLMENT_LABELS[which]}; {len(kept)} of them are chosen."
            )
        dropped[which] = [m for m in enrolled if m.id not in keep]
    now = utc_now()
    previous = customer.tier
    session.add(
        TierChange(
            customer_id=customer_id,
            effective_on=now.date(),
            from_tier=previous,
            to_tier=new_tier,
            actor_id=actor.user_id,
            at=now,
        )
    )
    for which, models_out in dropped.items():
        for model in models_out:
            setattr(model, ENROLMENTS[which][1], False)
            session.add(model)
    customer.tier = new_tier
    session.add(customer)
    record_audit(
        session=session,
        actor=actor.username,
        action="change_tier",
        entity="customer",
        entity_id=customer_id,
        detail={
            "from": previous,
            "to": new_tier,
            "effective_on": now.date(),
            "dropped": {which: [m.id for m in out] for which, out in dropped.items()},
        },
    )


def customer_models(*, session: Session, customer_id: int) -> pd.DataFrame:
    """The customer's models with production status and enrolment, for choosing what to enrol."""
    statement = (
        select(
            PlanningModel.id,
            PlanningModel.name,
            Workspace.name.label("workspace"),
            PlanningModel.is_production,
            PlanningModel.in_monitoring,
            PlanningModel.in_weekly_report,
        )
        .join(Workspace, Workspace.id == PlanningModel.workspace_id)
        .where(PlanningModel.customer_id == customer_id)
        .order_by(PlanningModel.is_production.desc(), PlanningModel.name, PlanningModel.id)
    )
    return pd.read_sql(statement, session.connection())
