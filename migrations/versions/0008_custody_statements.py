"""The banks' signed custody statements (service/reserves/custody.py).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 14:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "custody_statements",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("bank_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("statement_id", sa.String(length=64), nullable=False),
        sa.Column("balance_cents", sa.BigInteger(), nullable=False),
        sa.Column("as_of", sa.DateTime(timezone=True), nullable=False),
        sa.Column("account", sa.String(length=64), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["bank_id"], ["banks.id"], name=op.f("fk_custody_statements_bank_id_banks")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_custody_statements")),
        sa.UniqueConstraint("bank_id", "statement_id", name=op.f("uq_custody_statements_bank_id_statement_id")),
    )
    op.create_index("ix_custody_statements_bank_as_of", "custody_statements", ["bank_id", "as_of"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_custody_statements_bank_as_of", table_name="custody_statements")
    op.drop_table("custody_statements")
