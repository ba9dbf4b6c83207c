"""Minting halts: what a resume acknowledged, measured by a fresh reconciliation.

`acknowledged_units` is what later reconciliations add to the supply the ledger explains (it
was `difference_units`, the last difference measured while halted); `resume_block` and
`resume_evidence` record the reconciliation that the resume ran first. Halts resumed before
this revision keep what they acknowledged then.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 07:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("minting_halts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("acknowledged_units", sa.BigInteger(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("resume_block", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("resume_evidence", sa.Text(), nullable=True))
    op.execute("UPDATE minting_halts SET acknowledged_units = difference_units WHERE active IS NULL")
    with op.batch_alter_table("minting_halts", schema=None) as batch_op:
        batch_op.alter_column("acknowledged_units", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("minting_halts", schema=None) as batch_op:
        batch_op.drop_column("resume_evidence")
        batch_op.drop_column("resume_block")
        batch_op.drop_column("acknowledged_units")
