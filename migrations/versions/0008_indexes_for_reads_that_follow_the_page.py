"""Indexes so the monitoring inbox, the QBR's alerts, a CSM's scope, the CoE peers and the admin's
audit filters read what they show rather than the whole history of alerts, cases, snapshots and
audit entries (issue 15).

- `alert (state, customer_id)`: the open alerts, of every customer or of a CSM's;
- `alert (customer_id, opened_at)`: a customer's alerts of one quarter; it replaces
  `ix_alert_customer_id`, which it starts with;
- `support_case (assignee_id, status)`: a CSM's scope takes in the customers of the open cases
  assigned to them, read on every page they open; it replaces `ix_support_case_assignee_id`;
- `coe_snapshot (quarter)`: a CoE benchmark's peers are the quarter's snapshots (the table
  holds one per customer and quarter, and was read whole);
- `audit_log (actor, id)`, `(action, id)`, `(entity, id)`: the filter lists' distinct values one
  index seek each, and a filtered page newest first.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 15:40:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

AUDIT_COLUMNS = ("actor", "action", "entity")


def upgrade() -> None:
    # Plain index operations, no batch mode: nothing here needs SQLite to copy the table (and
    # audit_log's append-only triggers from 0006 stay as they are).
    op.create_index("ix_alert_state_customer", "alert", ["state", "customer_id"])
    op.create_index("ix_alert_customer_opened", "alert", ["customer_id", "opened_at"])
    op.drop_index("ix_alert_customer_id", table_name="alert")
    op.create_index("ix_case_assignee_status", "support_case", ["assignee_id", "status"])
    op.drop_index("ix_support_case_assignee_id", table_name="support_case")
    op.create_index("ix_coe_snapshot_quarter", "coe_snapshot", ["quarter"])
    for column in AUDIT_COLUMNS:
        op.create_index(f"ix_audit_log_{column}", "audit_log", [column, "id"])


def downgrade() -> None:
    for column in AUDIT_COLUMNS:
        op.drop_index(f"ix_audit_log_{column}", table_name="audit_log")
    op.drop_index("ix_coe_snapshot_quarter", table_name="coe_snapshot")
    op.create_index("ix_support_case_assignee_id", "support_case", ["assignee_id"])
    op.drop_index("ix_case_assignee_status", table_name="support_case")
    op.create_index("ix_alert_customer_id", "alert", ["customer_id"])
    op.drop_index("ix_alert_customer_opened", table_name="alert")
    op.drop_index("ix_alert_state_customer", table_name="alert")
