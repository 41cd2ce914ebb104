"""QBR notes per quarter with the meeting date, QBR actions, CoE snapshot fields (master planners,
maturity 0-3), event offers with their lifecycle, programme enrolment updates, saved views, and
an index for re-reading recently changed cases.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30 06:05:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_UTC = sqlmodel.sql.sqltypes.UTCDateTime
_TEXT = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    # Notes become one row per customer and quarter: keep the newest of any duplicates.
    op.execute(
        "DELETE FROM qbr_note WHERE id NOT IN "
        "(SELECT max(id) FROM qbr_note GROUP BY customer_id, quarter)"
    )
    with op.batch_alter_table("qbr_note", schema=None) as batch_op:
        batch_op.add_column(sa.Column("held_on", sa.Date(), nullable=True))
        batch_op.create_unique_constraint("uq_qbr_note_quarter", ["customer_id", "quarter"])

    op.create_table(
        "qbr_action",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("quarter", _TEXT(length=7), nullable=False),
        sa.Column("text", _TEXT(length=500), nullable=False),
        sa.Column("owner", _TEXT(length=120), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=True),
        sa.Column("done", sa.Boolean(), nullable=False),
        sa.Column("done_at", _UTC(), nullable=True),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", _UTC(), nullable=False),
        sa.Column("updated_at", _UTC(), nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customer.id"]),
        sa.ForeignKeyConstraint(["created_by_id"], ["app_user.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_qbr_action_customer_quarter", "qbr_action", ["customer_id", "quarter"])

    # Maturity was 1-5 (initial … optimised); the CoE scale is 0-3 (partners only … hybrid).
    with op.batch_alter_table("coe_snapshot", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("master_planners", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(sa.Column("recorded_by_id", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column(
                "updated_at", _UTC(), nullable=False, server_default="2026-01-01 00:00:00.000000"
            )
        )
        batch_op.create_foreign_key(
            "fk_coe_snapshot_recorded_by", "app_user", ["recorded_by_id"], ["id"]
        )
    op.execute(
        "UPDATE coe_snapshot SET maturity_stage = CASE WHEN maturity_stage <= 1 THEN 0 "
        "WHEN maturity_stage >= 4 THEN 3 ELSE maturity_stage - 1 END"
    )

    with op.batch_alter_table("event_offer", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("offers", _TEXT(length=200), nullable=False, server_default="ticket_discount")
        )
    op.execute(
        "UPDATE event_offer SET kind = 'conference' WHERE kind NOT IN ('conference', 'regional')"
    )

    with op.batch_alter_table("event_invitation", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "updated_at", _UTC(), nullable=False, server_default="2026-01-01 00:00:00.000000"
            )
        )
    op.execute("UPDATE event_invitation SET status = 'offered' WHERE status = 'invited'")

    with op.batch_alter_table("programme_enrolment", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "updated_at", _UTC(), nullable=False, server_default="2026-01-01 00:00:00.000000"
            )
        )

    op.create_table(
        "saved_view",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("page", _TEXT(length=64), nullable=False),
        sa.Column("name", _TEXT(length=80), nullable=False),
        sa.Column("params", _TEXT(), nullable=False),
        sa.Column("created_at", _UTC(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["app_user.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("user_id", "page", "name", name="uq_saved_view_name"),
    )
    op.create_index("ix_saved_view_user_id", "saved_view", ["user_id"])

    op.create_index("ix_case_updated_at", "support_case", ["updated_at"])


def downgrade() -> None:
    op.drop_index("ix_case_updated_at", table_name="support_case")
    op.drop_index("ix_saved_view_user_id", table_name="saved_view")
    op.drop_table("saved_view")
    with op.batch_alter_table("programme_enrolment", schema=None) as batch_op:
        batch_op.drop_column("updated_at")
    op.execute("UPDATE event_invitation SET status = 'invited' WHERE status = 'offered'")
    with op.batch_alter_table("event_invitation", schema=None) as batch_op:
        batch_op.drop_column("updated_at")
    with op.batch_alter_table("event_offer", schema=None) as batch_op:
        batch_op.drop_column("offers")
    op.execute("UPDATE coe_snapshot SET maturity_stage = maturity_stage + 1")
    with op.batch_alter_table("coe_snapshot", schema=None) as batch_op:
        batch_op.drop_constraint("fk_coe_snapshot_recorded_by", type_="foreignkey")
        batch_op.drop_column("updated_at")
        batch_op.drop_column("recorded_by_id")
        batch_op.drop_column("master_planners")
    op.drop_index("ix_qbr_action_customer_quarter", table_name="qbr_action")
    op.drop_table("qbr_action")
    with op.batch_alter_table("qbr_note", schema=None) as batch_op:
        batch_op.drop_constraint("uq_qbr_note_quarter", type_="unique")
        batch_op.drop_column("held_on")
