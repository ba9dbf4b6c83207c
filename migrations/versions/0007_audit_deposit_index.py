"""The transparency log's lookup index: audit_log.deposit_id, the public `deposit_id` of each
entry's leaf, filled for the entries already written from their leaves.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 13:40:00
"""

import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 5000


def upgrade() -> None:
    with op.batch_alter_table("audit_log") as batch:
        batch.add_column(sa.Column("deposit_id", sa.String(length=66), nullable=True))
    connection = op.get_bind()
    log = sa.table("audit_log", sa.column("seq", sa.BigInteger()), sa.column("leaf", sa.Text()))
    update = sa.text("UPDATE audit_log SET deposit_id = :deposit_id WHERE seq = :seq")
    after = 0
    while True:
        rows = connection.execute(
            sa.select(log.c.seq, log.c.leaf)
            .where(log.c.seq > after, log.c.leaf.contains('"deposit_id":'))
            .order_by(log.c.seq)
            .limit(BATCH)
        ).all()
        if not rows:
            break
        values = []
        for seq, leaf in rows:
            deposit_id = json.loads(leaf).get("public", {}).get("deposit_id")
            if isinstance(deposit_id, str):
                values.append({"seq": seq, "deposit_id": deposit_id.lower()})
        if values:
            connection.execute(update, values)
        after = rows[-1][0]
    op.create_index(op.f("ix_audit_log_deposit_id"), "audit_log", ["deposit_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_audit_log_deposit_id"), table_name="audit_log")
    with op.batch_alter_table("audit_log") as batch:
        batch.drop_column("deposit_id")
