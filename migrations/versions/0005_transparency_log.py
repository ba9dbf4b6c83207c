"""The transparency log: every audit entry a leaf of an RFC 9162 Merkle tree, and signed heads.

`audit_log` gains each entry's leaf (its public view and a salted commitment to the rest,
service/audit/leaves.py) and the salt; `audit_tree` stores the tree's complete subtrees;
`audit_head.frontier` the right edge an append combines with; `audit_tree_heads` the signed
tree heads and where they were anchored. The entries already logged get their leaves and tree
here, in seq order, with the leaf format of this revision (docs/transparency.md).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 09:00:00
"""

import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from service import merkle
from service.audit import leaves

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_CHUNK = 2000


def upgrade() -> None:
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.add_column(sa.Column("leaf", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("salt", sa.String(length=64), nullable=True))
    with op.batch_alter_table("audit_head", schema=None) as batch_op:
        batch_op.add_column(sa.Column("frontier", sa.Text(), nullable=False, server_default=""))
    tree = op.create_table(
        "audit_tree",
        sa.Column("level", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("idx", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("level", "idx", name=op.f("pk_audit_tree")),
    )
    op.create_table(
        "audit_tree_heads",
        sa.Column("tree_size", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("timestamp_ms", sa.BigInteger(), nullable=False),
        sa.Column("root", sa.String(length=64), nullable=False),
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("public_key", sa.String(length=64), nullable=False),
        sa.Column("signature", sa.String(length=128), nullable=False),
        sa.Column("anchor_tx", sa.String(length=66), nullable=True),
        sa.Column("anchor_block", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("tree_size", name=op.f("pk_audit_tree_heads")),
    )
    _build_tree(op.get_bind(), tree)
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.alter_column("leaf", existing_type=sa.Text(), nullable=False)
        batch_op.alter_column("salt", existing_type=sa.String(length=64), nullable=False)


def _build_tree(connection: sa.Connection, tree: sa.Table) -> None:
    log = sa.table(
        "audit_log",
        sa.column("seq", sa.BigInteger),
        sa.column("created_at", sa.String),
        sa.column("kind", sa.String),
        sa.column("actor", sa.String),
        sa.column("payload", sa.Text),
        sa.column("leaf", sa.Text),
        sa.column("salt", sa.String),
    )
    head = sa.table("audit_head", sa.column("id", sa.Integer), sa.column("frontier", sa.Text))
    frontier = merkle.Frontier(0, {})
    last = 0
    while True:
        rows = connection.execute(
            sa.select(log.c.seq, log.c.created_at, log.c.kind, log.c.actor, log.c.payload)
            .where(log.c.seq > last)
            .order_by(log.c.seq)
            .limit(_CHUNK)
        ).all()
        if not rows:
            break
        updates, nodes = [], []
        for seq, created_at, kind, actor, payload in rows:
            salt = leaves.new_salt()
            leaf = leaves.leaf_bytes(seq, created_at, kind, actor, json.loads(payload), salt)
            updates.append({"b_seq": seq, "leaf": leaf.decode("utf-8"), "salt": salt})
            nodes.extend(
                {"level": level, "idx": idx, "hash": h.hex()}
                for (level, idx), h in frontier.append(merkle.leaf_hash(leaf))
            )
        connection.execute(
            log.update()
            .where(log.c.seq == sa.bindparam("b_seq"))
            .values(leaf=sa.bindparam("leaf"), salt=sa.bindparam("salt")),
            updates,
        )
        connection.execute(tree.insert(), nodes)
        last = rows[-1][0]
    text = " ".join(h.hex() for _, h in frontier.nodes())
    connection.execute(head.update().where(head.c.id == 1).values(frontier=text))


def downgrade() -> None:
    op.drop_table("audit_tree_heads")
    op.drop_table("audit_tree")
    with op.batch_alter_table("audit_head", schema=None) as batch_op:
        batch_op.drop_column("frontier")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_column("salt")
        batch_op.drop_column("leaf")
