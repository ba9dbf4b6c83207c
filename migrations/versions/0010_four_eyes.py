"""Four eyes: operators' roles and the approval requests (service/banks/approvals.py).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 19:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # "awaiting_approval" is 17 characters
    with op.batch_alter_table("deposits") as batch:
        batch.alter_column("status", existing_type=sa.String(length=16), type_=sa.String(length=32), existing_nullable=False)
    with op.batch_alter_table("operators") as batch:
        batch.add_column(sa.Column("role", sa.String(length=16), server_default="operator", nullable=False))
    op.create_table(
        "approvals",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("params", sa.Text(), nullable=False),
        sa.Column("requested_by", sa.String(length=80), nullable=False),
        sa.Column("requested_by_operator_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("deposit_seq", sa.BigInteger(), nullable=True),
        sa.Column("decided_by", sa.String(length=80), nullable=True),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["requested_by_operator_id"], ["operators.id"], name=op.f("fk_approvals_requested_by_operator_id_operators")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_approvals")),
        sa.UniqueConstraint("deposit_seq", name=op.f("uq_approvals_deposit_seq")),
    )
    op.create_index("ix_approvals_status_expires_at", "approvals", ["status", "expires_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_approvals_status_expires_at", table_name="approvals")
    op.drop_table("approvals")
    with op.batch_alter_table("operators") as batch:
        batch.drop_column("role")
    with op.batch_alter_table("deposits") as batch:
        batch.alter_column("status", existing_type=sa.String(length=32), type_=sa.String(length=16), existing_nullable=False)
