"""One alert per model, metric, direction and opening day; user activity read by model.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 06:35:52.717737
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("alert", schema=None) as batch_op:
        batch_op.create_unique_constraint(
            "uq_alert_opening", ["model_id", "metric", "direction", "opened_on"]
        )

    with op.batch_alter_table("user_activity_daily", schema=None) as batch_op:
        batch_op.create_index("ix_user_activity_model_day", ["model_id", "day"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("user_activity_daily", schema=None) as batch_op:
        batch_op.drop_index("ix_user_activity_model_day")

    with op.batch_alter_table("alert", schema=None) as batch_op:
        batch_op.drop_constraint("uq_alert_opening", type_="unique")
