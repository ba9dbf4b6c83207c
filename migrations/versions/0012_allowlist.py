"""The KYC allowlist: the banks' allowlist entries (service/allowlist/).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04 19:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "allowlist_entries",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("bank_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("address", sa.String(length=42), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("nonce", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tx_hash", sa.String(length=66), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("allowed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["bank_id"], ["banks.id"], name=op.f("fk_allowlist_entries_bank_id_banks")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_allowlist_entries")),
        sa.UniqueConstraint("bank_id", "address", name=op.f("uq_allowlist_entries_bank_id_address")),
        sa.UniqueConstraint("bank_id", "nonce", name=op.f("uq_allowlist_entries_bank_id_nonce")),
    )
    op.create_index("ix_allowlist_entries_status_id", "allowlist_entries", ["status", "id"], unique=False)
    op.create_index(op.f("ix_allowlist_entries_address"), "allowlist_entries", ["address"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_allowlist_entries_address"), table_name="allowlist_entries")
    op.drop_index("ix_allowlist_entries_status_id", table_name="allowlist_entries")
    op.drop_table("allowlist_entries")
