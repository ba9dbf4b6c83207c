"""Custody statements keep the bank's signature, so an attestor outside the service host can
check each one against the bank keys it pinned (service/reserves/independent.py).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04 18:55:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # statements stored before this revision have none: the independent attestor counts them as
    # unsigned (nothing), until the bank sends its next statement
    with op.batch_alter_table("custody_statements") as batch:
        batch.add_column(sa.Column("signature", sa.String(length=128), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("custody_statements") as batch:
        batch.drop_column("signature")
