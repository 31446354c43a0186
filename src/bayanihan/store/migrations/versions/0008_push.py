"""push: per-peer push state and the push outbox

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_ROW = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "peer_push",
        sa.Column("peer_row", sa.Integer(), nullable=False),
        sa.Column("cursor", sa.BigInteger(), nullable=False),
        sa.Column("collection_id", sa.Text()),
        sa.Column("last_attempt", sa.BigInteger()),
        sa.Column("last_success", sa.BigInteger()),
        sa.Column("last_error", sa.Text()),
        sa.Column("pushed", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["peer_row"],
            ["peers.row_id"],
            name=op.f("fk_peer_push_peer_row_peers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("peer_row", name=op.f("pk_peer_push")),
    )
    op.create_table(
        "peer_outbox",
        sa.Column("row_id", _ROW, autoincrement=True, nullable=False),
        sa.Column("peer_row", sa.Integer(), nullable=False),
        sa.Column("date_added", sa.BigInteger(), nullable=False),
        sa.Column("object_id", sa.Text(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("created", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt", sa.BigInteger(), nullable=False),
        sa.Column("last_error", sa.Text()),
        sa.Column("status_id", sa.Text()),
        sa.Column("finished", sa.BigInteger()),
        sa.ForeignKeyConstraint(
            ["peer_row"],
            ["peers.row_id"],
            name=op.f("fk_peer_outbox_peer_row_peers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("row_id", name=op.f("pk_peer_outbox")),
        sa.UniqueConstraint(
            "peer_row", "date_added", name=op.f("uq_peer_outbox_peer_row_date_added")
        ),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_peer_outbox_due", "peer_outbox", ["peer_row", "state", "next_attempt"])


def downgrade() -> None:
    op.drop_index("ix_peer_outbox_due", table_name="peer_outbox")
    op.drop_table("peer_outbox")
    op.drop_table("peer_push")
