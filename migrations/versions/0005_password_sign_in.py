"""A per-user switch for password sign-in: off for users who sign in only through the company's
identity provider (OIDC, `st.login`).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 06:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A plain ADD COLUMN (no table copy): SQLite cannot drop app_user while rows refer to it.
    op.add_column(
        "app_user",
        sa.Column("password_sign_in", sa.Boolean(), nullable=False, server_default=sa.true()),
    )


def downgrade() -> None:
    with op.batch_alter_table("app_user", schema=None) as batch_op:
        batch_op.drop_column("password_sign_in")
