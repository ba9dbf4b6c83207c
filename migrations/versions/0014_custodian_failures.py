"""Custodian failures: a bank marked failed by an operator (service/reserves/failures.py).

`failed_at` is set while the bank is marked failed (NULL otherwise), `failed_cause` holds the
operator's cause of the latest mark. Existing banks are not failed.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-04 18:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("banks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("failed_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("failed_cause", sa.String(length=500), nullable=True))


def downgrade() -> None:
    # ALTER TABLE ... DROP COLUMN (SQLite 3.35+ and PostgreSQL) rather than a batch rebuild: on
    # SQLite that would drop and recreate `banks`, which deposits, keys and statements reference
    for column in ("failed_cause", "failed_at"):
        op.execute(f"ALTER TABLE banks DROP COLUMN {column}")
