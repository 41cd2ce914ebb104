"""The band the daily monitoring job judged each model's metrics by, per model and day, so the
monitoring chart shows that band rather than one recomputed over a later window.

One row per model and scored day (as `model_metric_daily`), each metric's baseline, lower and
upper edge in its own column: a seventh of the rows of one row per metric, written by the job
as one bulk insert per chunk of models.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 13:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The monitored metrics when this revision was written (domain.monitoring.METRICS).
METRICS = (
    "open_time_s",
    "import_s",
    "export_s",
    "processing_s",
    "times_accessed",
    "users",
    "changes",
)


def upgrade() -> None:
    op.create_table(
        "model_metric_band",
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        *(
            sa.Column(f"{metric}_{edge}", sa.Float(), nullable=True)
            for metric in METRICS
            for edge in ("baseline", "lower", "upper")
        ),
        sa.ForeignKeyConstraint(["model_id"], ["planning_model.id"]),
        sa.PrimaryKeyConstraint("model_id", "day"),
    )


def downgrade() -> None:
    op.drop_table("model_metric_band")
